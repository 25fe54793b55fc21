"""The CT denoiser's contract and networks.

The engine's segmentation contract (:class:`~napari_medai.core.models.ModelContract`) describes
label outputs only, so a denoiser carries its own small contract: the network
(:class:`~napari_medai.core.models.NetworkSpec`, one of :data:`DENOISER_NETWORKS`) and the input
scaling ``x = (HU - input_offset_hu) / input_scale_hu`` (output scaled back the same way).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import InvalidInputError
from ...models.contract import NetworkSpec
from ...models.errors import ModelLoadError
from ._common import WINDOW_HU, check_real

__all__ = [
    "DENOISER_CONTRACT_VERSION",
    "DENOISER_NETWORKS",
    "TASK",
    "DenoiserContract",
    "build_denoiser_network",
    "shared_redcnn_contract",
]

#: ``task`` of every denoiser contract.
TASK = "ldct_denoising"
#: Networks a denoiser contract may name.
DENOISER_NETWORKS = ("REDCNN", "SharedREDCNN", "SmallUNet")
#: Format version of :meth:`DenoiserContract.to_dict`.
DENOISER_CONTRACT_VERSION = 1


@dataclass(frozen=True)
class DenoiserContract:
    """What a CT denoising network takes and gives.

    Parameters
    ----------
    name
        Model name.
    network
        The network (:data:`DENOISER_NETWORKS`) and its keyword arguments (``filters``/``width``).
    input_offset_hu, input_scale_hu
        The network sees ``(HU - input_offset_hu) / input_scale_hu`` and its output is mapped back
        with the inverse; e.g. offset 24, scale 1 for the shared RED-CNN weights (HU - 24).
    window_hu
        Display/scoring window the model was validated in.
    pixel_size_mm
        In-plane pixel size of the training data (informative; ``None`` when unknown).
    trained_on
        One line saying what the weights learned from (empty when untrained).
    is_trained
        False for random weights.
    description
        Free text.
    """

    name: str
    network: NetworkSpec
    input_offset_hu: float = 0.0
    input_scale_hu: float = 500.0
    window_hu: tuple[float, float] = WINDOW_HU
    pixel_size_mm: float | None = None
    trained_on: str = ""
    is_trained: bool = False
    description: str = ""
    task: str = TASK
    spatial_dims: int = 2
    def __post_init__(self) -> None:
        s = object.__setattr__
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError("a denoiser contract needs a non-empty name")
        if not isinstance(self.network, NetworkSpec):
            s(self, "network", NetworkSpec.from_dict(self.network))  # type: ignore[arg-type]
        if self.network.name not in DENOISER_NETWORKS:
            raise InvalidInputError(
                f"denoiser {self.name!r}: network {self.network.name!r} is not one napari-medai builds for "
                f"denoising ({', '.join(DENOISER_NETWORKS)})"
            )
        if self.task != TASK:
            raise InvalidInputError(f"denoiser {self.name!r}: task must be {TASK!r}, got {self.task!r}")
        if self.spatial_dims != 2:
            raise InvalidInputError(f"denoiser {self.name!r}: only 2-D (slice-wise) denoisers exist, got {self.spatial_dims}")
        s(self, "input_offset_hu", check_real(self.input_offset_hu, "input_offset_hu"))
        s(self, "input_scale_hu", check_real(self.input_scale_hu, "input_scale_hu", low=0.0, low_open=True))
        lo, hi = (float(v) for v in self.window_hu)
        if not hi > lo:
            raise InvalidInputError(f"denoiser {self.name!r}: window_hu needs low < high, got {self.window_hu}")
        s(self, "window_hu", (lo, hi))
        if self.pixel_size_mm is not None:
            s(self, "pixel_size_mm", check_real(self.pixel_size_mm, "pixel_size_mm", low=0.0, low_open=True))
        if self.is_trained and not str(self.trained_on).strip():
            raise InvalidInputError(f"denoiser {self.name!r}: trained weights must say what they were trained on")
        s(self, "is_trained", bool(self.is_trained))
        s(self, "trained_on", str(self.trained_on))

    @property
    def kind(self) -> str:
        """The model kind (:data:`napari_medai.core.models.contract.MODEL_KINDS`): an image out for an image in."""
        return "image-to-image"

    @property
    def training_status(self) -> str:
        """``"trained on ..."`` or ``"NOT TRAINED ..."``."""
        if self.is_trained:
            return f"trained on {self.trained_on}"
        return "NOT TRAINED (random weights): its output means nothing"

    def summary(self) -> str:
        """One line for listings and logs."""
        kw = ", ".join(f"{k}={v}" for k, v in self.network.kwargs.items())
        return (f"{self.name} ({self.task}): {self.network.name}({kw}), input (HU - {self.input_offset_hu:g}) / "
                f"{self.input_scale_hu:g}, slice by slice; {self.training_status}")

    def with_changes(self, **changes: Any) -> DenoiserContract:
        """A validated copy with some fields replaced."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d.update(changes)
        return DenoiserContract(**d)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (inverse of :meth:`from_dict`)."""
        return {
            "format_version": DENOISER_CONTRACT_VERSION,
            "kind": self.kind,
            "name": self.name,
            "task": self.task,
            "spatial_dims": self.spatial_dims,
            "network": self.network.to_dict(),
            "input_offset_hu": self.input_offset_hu,
            "input_scale_hu": self.input_scale_hu,
            "window_hu": list(self.window_hu),
            "pixel_size_mm": self.pixel_size_mm,
            "trained_on": self.trained_on,
            "is_trained": self.is_trained,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DenoiserContract:
        """Build (and validate) a contract from :meth:`to_dict` output."""
        if not isinstance(d, Mapping):
            raise InvalidInputError("a denoiser contract must be a JSON object")
        if int(d.get("format_version", 1)) > DENOISER_CONTRACT_VERSION:
            raise InvalidInputError("this denoiser was written by a newer napari-medai; upgrade napari-medai")
        if d.get("kind", "image-to-image") not in ("image-to-image", "denoiser"):  # "denoiser": written before kinds
            raise InvalidInputError(f"the model is a {d.get('kind')} model, not a CT denoiser (an image-to-image model)")
        if d.get("task") != TASK:
            raise InvalidInputError(
                f"the model's task is {d.get('task')!r}, not {TASK!r}: it is not a CT denoiser "
                "(use it with the command of its task)"
            )
        missing = [k for k in ("name", "network") if k not in d]
        if missing:
            raise InvalidInputError(f"denoiser contract lacks {', '.join(missing)}")
        return cls(
            name=str(d["name"]),
            network=NetworkSpec.from_dict(d["network"]),
            input_offset_hu=float(d.get("input_offset_hu", 0.0)),
            input_scale_hu=float(d.get("input_scale_hu", 500.0)),
            window_hu=tuple(d.get("window_hu") or WINDOW_HU),  # type: ignore[arg-type]
            pixel_size_mm=None if d.get("pixel_size_mm") is None else float(d["pixel_size_mm"]),
            trained_on=str(d.get("trained_on", "")),
            is_trained=bool(d.get("is_trained", False)),
            description=str(d.get("description", "")),
        )


def shared_redcnn_contract(filters: int = 96) -> DenoiserContract:
    """Contract of the shared-weight RED-CNN state_dict (fed HU - 24, unnormalised)."""
    from ...models.redcnn import SHARED_INPUT_OFFSET_HU

    return DenoiserContract(
        name="redcnn-shared-L1",
        network=NetworkSpec("SharedREDCNN", {"filters": int(filters)}),
        input_offset_hu=SHARED_INPUT_OFFSET_HU,
        input_scale_hu=1.0,
        trained_on=("external weights (paper 'Image noise reduction based on a fixed wavelet frame and CNNs "
                    "applied to CT', IEEE TIP; L1 loss; another scanner kernel)"),
        is_trained=True,
        description="RED-CNN with weight sharing (conv x4, conv_t x4), 96 filters",
    )


def build_denoiser_network(spec: NetworkSpec) -> Any:
    """A fresh network for a denoiser contract's :class:`NetworkSpec`."""
    from ...models.redcnn import build_redcnn
    from .nets import build_small_unet

    kw = dict(spec.kwargs)
    try:
        if spec.name == "REDCNN":
            return build_redcnn("standard", **kw)
        if spec.name == "SharedREDCNN":
            return build_redcnn("shared", **kw)
        if spec.name == "SmallUNet":
            net = build_small_unet(**kw)
            net.eval()
            return net
    except TypeError as exc:
        raise ModelLoadError(f"cannot build {spec.name} with {kw}: {exc}") from exc
    raise ModelLoadError(f"network {spec.name!r} is not a denoiser napari-medai builds ({', '.join(DENOISER_NETWORKS)})")
