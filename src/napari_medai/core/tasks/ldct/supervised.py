"""Supervised LDCT denoising: the denoiser contract, model folders, training on pairs, inference.

Model folders
-------------
:func:`train_ldct` writes a napari-medai model folder, the layout of the model engine
(:func:`napari_medai.core.models.loading.save_model_folder`): ``model.pt`` (a plain state_dict,
best epoch), ``model.json`` (``format: napari-medai-model``; ``contract`` = a
:class:`DenoiserContract` with ``task: "ldct_denoising"``; ``training`` = data, recipe, per-epoch
history, seed, versions, wall time) and ``checkpoint.pt`` (resumable state, read with
``weights_only=True``). :func:`load_denoiser` opens such a folder -- or a bare RED-CNN
state_dict such as the shared ``redcnn_shared_L1_25.pt`` -- into the engine's
:class:`~napari_medai.core.models.loading.LoadedModel`, loading weights with
``weights_only=True`` and strict key checking.

The engine's segmentation contract (:class:`~napari_medai.core.models.ModelContract`) describes
label outputs only, so a denoiser carries its own small contract: the network
(:class:`~napari_medai.core.models.NetworkSpec`, one of :data:`DENOISER_NETWORKS`) and the input
scaling ``x = (HU - input_offset_hu) / input_scale_hu`` (output scaled back the same way).

Training recipe (:func:`train_ldct`)
------------------------------------
Pairs of (low dose, target) slices: a real low-dose scan with its full-dose scan as target, or a
low-dose scan simulated from the full-dose image with
:func:`napari_medai.core.simulation.simulate_low_dose_pair` -- whose target is then the noise-free
reconstruction of the same geometry, so the network learns to remove exactly the added noise.
RED-CNN (Chen 2017; ``filters`` channels), random ``patch`` x ``patch`` crops with flips and 90
degree rotations, mean-squared error, AdamW with cosine decay over ``max_epochs``; after every
epoch the held-out pairs (``val_fraction``) are denoised and scored by PSNR in the [-160, 240] HU
window; the best epoch is kept, training stops after ``patience`` epochs without improvement, at
``max_epochs``, before an epoch that would overrun ``time_limit_s``, or when ``should_stop()`` is
True. Epoch *e* draws its randomness from ``(seed, e)``, so a resumed run continues as an
uninterrupted one would; on the CPU the same seed gives the same weights.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import Cancelled, MetricsFn
from ...errors import InvalidInputError
from ...inference import register_image_runner
from ...models.contract import NetworkSpec
from ...models.errors import ModelLoadError
from ...recipes.base import Recipe, TrainState, Validation, split_cases
from ._common import (
    WINDOW_HU,
    ProgressFn,
    StopFn,
    as_image,
    check_int,
    check_real,
    check_stop,
    iter_slices,
    report,
)

__all__ = [
    "DENOISER_NETWORKS",
    "TASK",
    "DenoiserContract",
    "LdctPair",
    "LdctRecipe",
    "LdctTrainingResult",
    "apply_denoiser",
    "build_denoiser_network",
    "load_denoiser",
    "shared_redcnn_contract",
    "train_ldct",
]

#: ``task`` of every denoiser contract.
TASK = "ldct_denoising"
#: Networks a denoiser contract may name.
DENOISER_NETWORKS = ("REDCNN", "SharedREDCNN", "SmallUNet")
DENOISER_CONTRACT_VERSION = 1


# ---------------------------------------------------------------------------------------------
# contract
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# loading and inference
# ---------------------------------------------------------------------------------------------
def load_denoiser(source: str | os.PathLike[str] | Any) -> Any:
    """Open a denoiser: a model folder written by :func:`train_ldct`, or a RED-CNN state_dict file.

    Parameters
    ----------
    source
        A folder holding ``model.json`` + ``model.pt`` (task ``ldct_denoising``), that
        ``model.json`` itself, a ``.pt`` state_dict with the shared RED-CNN's keys (e.g.
        ``redcnn_shared_L1_25.pt``), or an already loaded model (returned unchanged).

    Returns
    -------
    napari_medai.core.models.LoadedModel
        With a :class:`DenoiserContract`, the network in eval mode on the CPU, and ``info``
        (``weights_md5``, ``weights_file``, ``training``).

    Raises
    ------
    ModelLoadError
        When the files are missing, unsafe to load, or the weights' keys/shapes do not match the
        contract's network (strict check).
    """
    from ...models.loading import LoadedModel, file_md5, read_model_json
    from ...models.redcnn import SHARED_KEYS, check_state_dict, read_state_dict

    if isinstance(source, LoadedModel):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidInputError(f"a denoiser is a model folder or a .pt file, got {type(source).__name__}")
    p = Path(source).expanduser()
    if p.name == "model.json" and p.is_file():
        p = p.parent
    if not p.exists():
        raise ModelLoadError(
            f"{p}: no such file or folder; give a model folder made by 'napari-medai train ldct' or a RED-CNN "
            "state_dict (.pt)"
        )
    if p.is_dir():
        if not (p / "model.json").is_file():
            raise ModelLoadError(f"{p}: not a model folder (no model.json); train one with 'napari-medai train ldct'")
        doc = read_model_json(p)
        try:
            contract = DenoiserContract.from_dict(doc.get("contract") or {})
        except InvalidInputError as exc:
            raise ModelLoadError(f"{p / 'model.json'}: {exc}") from exc
        wpath = p / "model.pt"
        if not wpath.is_file():
            raise ModelLoadError(f"{p}: model.json is there but no model.pt; was training cut off before the "
                                 "first epoch ended? Resume it or train again")
        net = build_denoiser_network(contract.network)
        check_state_dict(net, read_state_dict(wpath), where=str(wpath))
        info = {"source_kind": "napari-medai", "weights_md5": file_md5(wpath), "weights_file": str(wpath),
                "training": doc.get("training", {})}
        return LoadedModel(contract=contract, network=net, source=f"napari-medai denoiser {p}", path=p,
                           weights_format="state_dict", info=info,
                           notes=[] if contract.is_trained else [contract.training_status])
    sd = read_state_dict(p)
    if set(sd) != set(SHARED_KEYS):
        if (p.parent / "model.json").is_file():
            return load_denoiser(p.parent)
        raise ModelLoadError(
            f"{p}: a state_dict with keys {', '.join(sorted(sd)[:4])}...; only the shared RED-CNN's keys "
            f"({', '.join(SHARED_KEYS[::2])}) are recognised in a bare file; give the model folder written by "
            "'napari-medai train ldct' instead"
        )
    filters = int(sd["conv_first.weight"].shape[0])
    contract = shared_redcnn_contract(filters)
    net = build_denoiser_network(contract.network)
    check_state_dict(net, sd, where=str(p))
    info = {"source_kind": "file", "weights_md5": file_md5(p), "weights_file": str(p)}
    return LoadedModel(contract=contract, network=net, source=f"RED-CNN state_dict {p}", path=p,
                       weights_format="state_dict", info=info)


def _run_net(net: Any, sl: np.ndarray, contract: DenoiserContract, dev: str) -> np.ndarray:
    import torch

    from .nets import run_padded

    x = torch.from_numpy(((sl - contract.input_offset_hu) / contract.input_scale_hu).astype(np.float32))
    x = x[None, None].to(dev)
    if contract.network.name == "SmallUNet":
        y = run_padded(net, x)
    else:
        y = net(x)
    return (y[0, 0].cpu().numpy().astype(np.float64) * contract.input_scale_hu + contract.input_offset_hu).astype(
        np.float32)


def apply_denoiser(
    model: Any,
    image: np.ndarray,
    *,
    device: str = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> np.ndarray:
    """Run a loaded denoiser on a slice or stack (slice by slice).

    Parameters
    ----------
    model
        From :func:`load_denoiser`.
    image
        float32 2-D slice or 3-D stack in HU; slices at least 21 x 21 pixels for RED-CNN.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    progress, should_stop
        Per slice; cancelling raises :class:`~napari_medai.core.models.Cancelled`.

    Returns
    -------
    numpy.ndarray
        float32, the input's shape, in HU.
    """
    import torch

    from ...device import resolve_device
    from ...models.redcnn import MIN_SIDE

    c = model.contract
    if not isinstance(c, DenoiserContract):
        raise InvalidInputError(f"{model.source} is not a CT denoiser (its task is {getattr(c, 'task', '?')!r})")
    if c.network.name != "SmallUNet" and min(image.shape[-2:]) < MIN_SIDE:
        raise InvalidInputError(f"RED-CNN needs slices of at least {MIN_SIDE} x {MIN_SIDE} pixels, got {image.shape[-2:]}")
    dev = resolve_device(device)
    net = model.network.to(dev)
    net.eval()
    stack = image[None] if image.ndim == 2 else image
    out = np.empty(stack.shape, dtype=np.float32)
    try:
        with torch.no_grad():
            for k, sl in iter_slices(stack, label=c.name, progress=progress, should_stop=should_stop):
                out[k] = _run_net(net, sl, c, dev)
    finally:
        model.network.to("cpu")
    return out[0] if image.ndim == 2 else out


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
@dataclass
class LdctPair:
    """One training pair: a full-dose image and its low-dose scan (or ``None`` to simulate one).

    Attributes
    ----------
    full_dose
        2-D slice or 3-D stack in HU (array, :class:`Volume` or image path).
    low_dose
        The same slices at low dose on the same grid, or ``None`` (simulated).
    name
        Pair name (unique within a run; default ``pair<N>``).
    pixel_size_mm
        In-plane pixel size; default the Volume's spacing (needed to simulate).
    """

    full_dose: Any
    low_dose: Any = None
    name: str | None = None
    pixel_size_mm: float | None = None


@dataclass
class LdctTrainingResult:
    """What :func:`train_ldct` returns (see :class:`napari_medai.core.training.TrainingResult`)."""

    out_dir: Path
    contract: DenoiserContract
    best_epoch: int
    best_metric: float
    monitor: str
    history: list[dict[str, Any]]
    epochs_run: int
    stop_reason: str
    wall_time_s: float
    resumed_from: int
    train_pairs: list[str]
    val_pairs: list[str]
    baseline_val_psnr: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if self.monitor == "val_psnr":
            best = f"validation PSNR {self.best_metric:.2f} dB"
            if self.baseline_val_psnr is not None:
                best += f" (low-dose input {self.baseline_val_psnr:.2f} dB)"
        else:
            best = f"training loss {-self.best_metric:.5f}"
        return (f"trained {self.epochs_run} epochs ({self.stop_reason}) in {self.wall_time_s / 60:.1f} min; "
                f"best epoch {self.best_epoch}: {best}; model folder {self.out_dir}")


def _load_hu(x: Any, *, what: str) -> tuple[np.ndarray, float | None, str | None]:
    """(float32 stack, pixel size or None, source path or None) of an array, Volume or path."""
    if isinstance(x, (str, os.PathLike)):
        from ...io import read_volume

        vol = read_volume(x, as_label=False)
        arr, _ = as_image(vol, what=what)
        px = float(vol.spacing[-1]) if vol.meta.get("format") not in ("npy", "raw") else None
        return (arr[None] if arr.ndim == 2 else arr), px, str(x)
    arr, vol = as_image(x, what=what)
    px = float(vol.spacing[-1]) if vol is not None and vol.meta.get("format") not in ("npy", "raw") else None
    return (arr[None] if arr.ndim == 2 else arr), px, (vol.source if vol is not None else None)


def _prepare_pairs(
    pairs: Sequence[Any],
    *,
    simulate_dose: float | None,
    i0: float,
    seed: int,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[dict[str, Any]]]:
    from ...simulation import simulate_low_dose_pair

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    details: list[dict[str, Any]] = []
    for i, raw in enumerate(pairs):
        pair = raw if isinstance(raw, LdctPair) else LdctPair(*raw) if isinstance(raw, (tuple, list)) else None
        if pair is None:
            raise InvalidInputError(
                f"training pair {i + 1} must be an LdctPair or a (full_dose, low_dose_or_None) tuple, "
                f"got {type(raw).__name__}"
            )
        name = pair.name or f"pair{i + 1}"
        if name in out:
            raise InvalidInputError(f"training pair names repeat: {name!r}")
        check_stop(should_stop, "reading the training pairs")
        report(progress, 0.0, f"preparing pair {i + 1}/{len(pairs)}: {name}")
        full, px, src = _load_hu(pair.full_dose, what=f"{name} full dose")
        px = pair.pixel_size_mm if pair.pixel_size_mm is not None else px
        d: dict[str, Any] = {"name": name, "slices": int(full.shape[0]), "shape": list(full.shape[1:]),
                             "full_dose": src or "array"}
        if pair.low_dose is not None:
            low, _, lsrc = _load_hu(pair.low_dose, what=f"{name} low dose")
            if low.shape != full.shape:
                raise InvalidInputError(
                    f"{name}: low dose {low.shape} and full dose {full.shape} differ in shape; give the same "
                    "slices on the same grid"
                )
            target = full
            d.update({"low_dose": lsrc or "array", "kind": "real pair"})
        else:
            if simulate_dose is None:
                raise InvalidInputError(
                    f"{name} has no low-dose image; give one, or simulate it with simulate_dose=0.25 "
                    "(--simulate-dose 0.25)"
                )
            if px is None:
                raise InvalidInputError(
                    f"{name}: the pixel size is unknown (a .npy/.raw file or a plain array); give pixel_size_mm "
                    "(--pixel-size MM) so the simulated noise has the right level"
                )
            low, target = simulate_low_dose_pair(full, pixel_size_mm=float(px), dose_fraction=simulate_dose,
                                                 i0=i0, seed=int(seed) * 1000 + i)
            d.update({"kind": "simulated", "dose_fraction": simulate_dose, "i0": i0, "pixel_size_mm": px,
                      "target": "noise-free FBP of the full-dose image (same geometry)"})
        if min(full.shape[1:]) < 32:
            raise InvalidInputError(f"{name}: slices of {full.shape[1:]} pixels are too small to train on (>= 32)")
        out[name] = (np.ascontiguousarray(low, dtype=np.float32), np.ascontiguousarray(target, dtype=np.float32))
        details.append(d)
    return out, details


def train_ldct(
    pairs: Sequence[LdctPair | tuple[Any, Any]],
    *,
    out_dir: str | os.PathLike[str],
    simulate_dose: float | None = None,
    i0: float = 1e5,
    filters: int = 32,
    patch: int = 64,
    batch_size: int = 8,
    steps_per_epoch: int = 50,
    max_epochs: int = 30,
    patience: int = 8,
    val_fraction: float = 0.2,
    learning_rate: float = 5e-4,
    input_scale_hu: float = 500.0,
    seed: int = 0,
    device: str = "auto",
    time_limit_s: float | None = None,
    resume: bool = True,
    model_name: str | None = None,
    trained_on: str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_metrics: MetricsFn | None = None,
) -> LdctTrainingResult:
    """Train a RED-CNN denoiser on (low dose, full dose) pairs; write a model folder.

    Parameters
    ----------
    pairs
        :class:`LdctPair` items or ``(full_dose, low_dose_or_None)`` tuples (arrays, Volumes or
        image paths; 2-D slices or 3-D stacks, every slice is a sample).
    out_dir
        Model folder to write; a folder holding a run of the same settings is resumed
        (``resume=True``), any other non-empty folder is refused.
    simulate_dose
        Dose fraction used to simulate the low-dose image of pairs that have none.
    i0
        Full-dose photons per ray of the simulation (1e5 is clinical).
    filters
        RED-CNN channels (96 in the paper; 32 by default to train in minutes on a CPU).
    patch, batch_size, steps_per_epoch
        Training crop side (pixels), crops per step, steps per epoch.
    max_epochs, patience
        Epoch limit, and epochs without improvement before stopping early.
    val_fraction
        Fraction of pairs held out for validation (0: monitor the training loss).
    learning_rate
        AdamW's initial rate (cosine decay to 5 % over ``max_epochs``).
    input_scale_hu
        The network sees ``HU / input_scale_hu``.
    seed
        Seeds the split, the simulation, the weights and the crops.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    time_limit_s
        Wall-time budget of this call: no epoch starts that would end after it.
    resume
        Continue a run found in ``out_dir``.
    model_name, trained_on
        Name and one-line data description written into the contract.
    progress, should_stop
        ``progress(fraction, message)``; ``should_stop()`` polled every step (stops after saving
        what was done; :class:`~napari_medai.core.models.Cancelled` when no epoch had finished).
    on_metrics
        For live curves; must return quickly. Called after every step with ``{"kind": "step",
        "epoch": e, "step": s, "global_step": n, "loss": mse, "rmse_hu": ...}`` (``loss`` in network
        units, ``HU / input_scale_hu``; ``epoch`` counts from 1, ``global_step`` over the whole run)
        and after every finished epoch with ``{"kind": "epoch", "epoch": e, "global_step": n,
        "train_loss": mean mse, "train_rmse_hu": ..., "val_psnr": dB or None, "lr": ...,
        "best_epoch": ..., "improved": bool}``.

    Returns
    -------
    LdctTrainingResult
    """
    from ...device import resolve_device
    from ...training import EpochRecord, run_training

    t_start = time.perf_counter()
    if not isinstance(pairs, Sequence) or isinstance(pairs, (str, bytes)) or not pairs:
        raise InvalidInputError("give at least one training pair (full dose, low dose or None)")
    seed = check_int(seed, "seed", low=0)
    filters = check_int(filters, "filters", low=1, high=512)
    patch = check_int(patch, "patch", low=24, high=1024)
    batch_size = check_int(batch_size, "batch_size", low=1, high=4096)
    steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch", low=1)
    max_epochs = check_int(max_epochs, "max_epochs", low=1)
    patience = check_int(patience, "patience", low=1)
    learning_rate = check_real(learning_rate, "learning_rate", low=0.0, low_open=True, high=1.0)
    input_scale_hu = check_real(input_scale_hu, "input_scale_hu", low=0.0, low_open=True)
    i0 = check_real(i0, "i0", low=0.0, low_open=True)
    if simulate_dose is not None:
        simulate_dose = check_real(simulate_dose, "simulate_dose", low=0.0, low_open=True, high=1.0)
    if time_limit_s is not None:
        time_limit_s = check_real(time_limit_s, "time_limit_s", low=0.0, low_open=True)
    val_fraction = check_real(val_fraction, "val_fraction", low=0.0, high=0.99)
    dev = resolve_device(device)
    out = Path(out_dir).expanduser()

    names = [(p.name if isinstance(p, LdctPair) else None) or f"pair{i + 1}" for i, p in enumerate(pairs)]
    if len(pairs) < 2 and val_fraction > 0:
        val_fraction = 0.0  # one pair cannot be split; monitor the training loss
    train_names, val_names = split_cases(names, val_fraction=val_fraction, seed=seed)
    recipe = LdctRecipe(
        pairs, names=names, train_names=train_names, val_names=val_names, seed=seed, filters=filters, patch=patch,
        batch_size=batch_size, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs, patience=patience,
        val_fraction=val_fraction, learning_rate=learning_rate, input_scale_hu=input_scale_hu,
        simulate_dose=simulate_dose, i0=i0, time_limit_s=time_limit_s, device=dev,
        model_name=model_name or out.name or "ldct-redcnn", trained_on=trained_on,
    )

    def step_cb(epoch: int, step: int, steps: int, loss: float) -> None:
        on_metrics({"kind": "step", "epoch": epoch, "step": step, "global_step": (epoch - 1) * steps + step,
                    "loss": loss, "rmse_hu": math.sqrt(loss) * input_scale_hu})

    def epoch_cb(rec: EpochRecord) -> None:
        if rec.replayed:
            return
        e = int(rec.entry["epoch"])
        on_metrics({"kind": "epoch", "epoch": e, "global_step": e * rec.steps_per_epoch,
                    "train_loss": rec.train_loss, "train_rmse_hu": math.sqrt(rec.train_loss) * input_scale_hu,
                    "val_psnr": None if rec.validation is None else rec.validation.metric, "lr": rec.lr,
                    "best_epoch": rec.best_epoch, "improved": rec.improved})

    run = run_training(
        recipe, out_dir=out, seed=seed, max_epochs=max_epochs, patience=patience, steps_per_epoch=steps_per_epoch,
        device=dev, time_limit_s=time_limit_s, resume=resume, progress=progress, should_stop=should_stop,
        on_step=step_cb if on_metrics is not None else None, on_epoch=epoch_cb if on_metrics is not None else None,
        t_start=t_start,
    )
    st = run.state
    return LdctTrainingResult(
        out_dir=run.out_dir, contract=run.contract, best_epoch=st.best_epoch, best_metric=float(st.best_metric),
        monitor=run.monitor, history=st.history, epochs_run=st.epochs_done, stop_reason=run.stop_reason,
        wall_time_s=run.wall_time_s, resumed_from=run.resumed_from, train_pairs=train_names, val_pairs=val_names,
        baseline_val_psnr=recipe.baseline, info={"pairs": recipe.details},
    )


class LdctRecipe(Recipe):
    """The image-to-image recipe of :func:`train_ldct` (RED-CNN on low-dose / target pairs).

    Random ``patch`` x ``patch`` crops of the training slices with a random horizontal flip and a
    random 90 degree rotation, mean-squared error in units of ``HU / input_scale_hu``, AdamW
    (weight decay 1e-5) with cosine decay to 5 %; validation: mean PSNR in the scoring window of
    the held-out slices, denoised whole.
    """

    kind = "image-to-image"
    checkpoint_task = TASK
    resumable = frozenset({"max_epochs"})

    def __init__(self, pairs: Sequence[Any], *, names: list[str], train_names: list[str], val_names: list[str],
                 seed: int, filters: int, patch: int, batch_size: int, steps_per_epoch: int, max_epochs: int,
                 patience: int, val_fraction: float, learning_rate: float, input_scale_hu: float,
                 simulate_dose: float | None, i0: float, time_limit_s: float | None, device: str, model_name: str,
                 trained_on: str | None) -> None:
        self.pairs, self.names = pairs, names
        self.train_names, self.val_names = train_names, val_names
        self.seed, self.filters, self.patch, self.batch_size = seed, filters, patch, batch_size
        self.steps, self.max_epochs, self.patience, self.val_fraction = steps_per_epoch, max_epochs, patience, val_fraction
        self.lr0, self.scale, self.simulate_dose, self.i0 = learning_rate, input_scale_hu, simulate_dose, i0
        self.time_limit_s, self.device, self.model_name, self.trained_on = time_limit_s, device, model_name, trained_on
        self.monitor = "val_psnr" if val_names else "-train_loss"
        self.baseline: float | None = None
        self.details: list[dict[str, Any]] = []

    def config(self) -> dict[str, Any]:
        return {
            "task": TASK, "network": {"name": "REDCNN", "kwargs": {"filters": self.filters}}, "seed": self.seed,
            "patch": self.patch, "batch_size": self.batch_size, "steps_per_epoch": self.steps,
            "learning_rate": self.lr0, "input_scale_hu": self.scale, "simulate_dose": self.simulate_dose,
            "i0": self.i0, "train_pairs": self.train_names, "val_pairs": self.val_names, "max_epochs": self.max_epochs,
        }

    def prepare(self, progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        from ...metrics.image_quality import psnr

        self.data, self.details = _prepare_pairs(self.pairs, simulate_dose=self.simulate_dose, i0=self.i0,
                                                 seed=self.seed, progress=progress, should_stop=should_stop)
        for name in self.names:
            low, _ = self.data[name]
            if min(low.shape[1:]) < self.patch:
                raise InvalidInputError(f"{name}: slices of {low.shape[1:]} pixels are smaller than the {self.patch}-pixel "
                                        "training patch; lower patch")
        self.train_slices = [(n, k) for n in self.train_names for k in range(self.data[n][0].shape[0])]
        self.val_slices = [(n, k) for n in self.val_names for k in range(self.data[n][0].shape[0])]
        pixel_sizes = {d.get("pixel_size_mm") for d in self.details if d.get("pixel_size_mm")}
        px = float(next(iter(pixel_sizes))) if len(pixel_sizes) == 1 else None
        if self.val_slices:
            self.baseline = float(np.mean([psnr(self.data[n][0][k], self.data[n][1][k]) for n, k in self.val_slices]))
        kinds = sorted({d["kind"] for d in self.details})
        self.data_desc = self.trained_on or (
            f"{len(self.train_names)} pair(s) ({', '.join(kinds)}; {len(self.train_slices)} slice(s))"
            + (f" of dose fraction {self.simulate_dose:g} at I0 {self.i0:g}" if self.simulate_dose is not None else "")
            + (f", validated on {', '.join(self.val_names)}" if self.val_names else "")
        )
        self.base_contract = DenoiserContract(
            name=self.model_name, network=NetworkSpec("REDCNN", {"filters": self.filters}),
            input_offset_hu=0.0, input_scale_hu=self.scale, pixel_size_mm=px,
            description=f"RED-CNN (Chen 2017, {self.filters} filters) trained by napari-medai train ldct",
        )

    def build(self, device: str) -> tuple[Any, Any]:
        import torch

        from ...models.redcnn import build_redcnn

        net = build_redcnn("standard", filters=self.filters).to(device)
        return net, torch.optim.AdamW(net.parameters(), lr=self.lr0, weight_decay=1e-5)

    def learning_rate(self, epoch: int, max_epochs: int) -> float:
        return self.lr0 * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * epoch / max_epochs)))

    def batch(self, rng: np.random.Generator, device: str) -> tuple[Any, Any]:
        import torch

        patch = self.patch
        xs, ys = [], []
        for _ in range(self.batch_size):
            n, k = self.train_slices[int(rng.integers(len(self.train_slices)))]
            low, tgt = self.data[n][0][k], self.data[n][1][k]
            r = int(rng.integers(0, low.shape[0] - patch + 1))
            c = int(rng.integers(0, low.shape[1] - patch + 1))
            pair = np.stack([low[r : r + patch, c : c + patch], tgt[r : r + patch, c : c + patch]])
            if rng.random() < 0.5:
                pair = pair[:, :, ::-1]
            pair = np.rot90(pair, int(rng.integers(4)), axes=(1, 2))
            xs.append(pair[0])
            ys.append(pair[1])
        x = torch.from_numpy(np.ascontiguousarray(np.stack(xs)[:, None]) / self.scale).float().to(device)
        y = torch.from_numpy(np.ascontiguousarray(np.stack(ys)[:, None]) / self.scale).float().to(device)
        return x, y

    def loss(self, output: Any, target: Any) -> Any:
        import torch

        return torch.mean((output - target) ** 2)

    def validate(self, net: Any, device: str, should_stop: StopFn | None) -> Validation | None:
        import torch

        from ...metrics.image_quality import psnr

        if not self.val_slices:
            return None
        net.eval()
        vals = []
        with torch.no_grad():
            for n, k in self.val_slices:
                if should_stop is not None and should_stop():
                    raise Cancelled("training cancelled during validation")
                low, tgt = self.data[n][0][k], self.data[n][1][k]
                pred = net(torch.from_numpy(low / self.scale).float()[None, None].to(device))
                vals.append(float(psnr(pred[0, 0].cpu().numpy() * self.scale, tgt)))
        return Validation(float(np.mean(vals)))

    def history_entry(self, epoch: int, train_loss: float, val: Validation | None, lr: float,
                      seconds: float) -> dict[str, Any]:
        return {"epoch": epoch, "train_rmse_hu": round(math.sqrt(train_loss) * self.scale, 3),
                "val_psnr": None if val is None else round(val.metric, 4), "lr": lr, "seconds": round(seconds, 1)}

    def describe_loss(self, losses: Sequence[float]) -> str:
        return f"RMSE {math.sqrt(np.mean(losses)) * self.scale:.1f} HU"

    def describe_epoch(self, train_loss: float, val: Validation | None) -> str:
        vtxt = f", validation PSNR {val.metric:.2f} dB" if val is not None else ""
        return f"RMSE {math.sqrt(train_loss) * self.scale:.1f} HU{vtxt}"

    def trained_contract(self, state: TrainState) -> DenoiserContract:
        extra = f", validation PSNR {state.best_metric:.2f} dB" if self.monitor == "val_psnr" else ""
        return self.base_contract.with_changes(
            is_trained=True, trained_on=f"{self.data_desc}; {state.epochs_done} epoch(s), best epoch "
                                        f"{state.best_epoch}{extra}")

    def training_summary(self, state: TrainState, stop_reason: str | None, wall_s: float) -> dict[str, Any]:
        recipe = {k: self.config()[k] for k in ("patch", "batch_size", "steps_per_epoch", "learning_rate", "max_epochs")}
        recipe.update({"patience": self.patience, "val_fraction": self.val_fraction, "time_limit_s": self.time_limit_s,
                       "optimizer": "AdamW (weight decay 1e-5)", "loss": "MSE", "lr_schedule": "cosine to 5 %",
                       "augmentation": "random crops, flips, 90 degree rotations", "device": self.device})
        return {"trained_on": self.data_desc, "pairs": {"train": self.train_names, "validation": self.val_names,
                                                        "details": self.details},
                "seed": self.seed, "recipe": recipe, "monitor": self.monitor, "epochs_run": state.epochs_done,
                "best_epoch": state.best_epoch,
                "best_metric": None if not math.isfinite(state.best_metric) else state.best_metric,
                "baseline_val_psnr": self.baseline, "history": state.history, "stop_reason": stop_reason,
                "wall_time_s": round(wall_s, 1)}

    def contract_from_dict(self, d: Mapping[str, Any]) -> DenoiserContract:
        return DenoiserContract.from_dict(d)


register_image_runner(TASK, apply_denoiser)  # run_model(denoiser, image) denoises it
