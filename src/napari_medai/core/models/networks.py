"""The networks napari-medai builds from JSON arguments, and a network ready to run with its contract.

:func:`build_network` instantiates an allow-listed MONAI class (:data:`ALLOWED_NETWORKS`) or a
napari-medai network (:data:`PROJECT_NETWORKS`) -- never an arbitrary class named in a file;
:class:`LoadedModel` is what :func:`napari_medai.core.models.loading.load_model` returns.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .contract import ModelContract, NetworkSpec
from .errors import ModelLoadError

__all__ = ["ALLOWED_NETWORKS", "PROJECT_NETWORKS", "LoadedModel", "build_network", "network_call"]

#: MONAI network classes a contract or bundle may name.
ALLOWED_NETWORKS: tuple[str, ...] = (
    "SegResNet", "SegResNetDS", "UNet", "BasicUNet", "BasicUNetPlusPlus", "DynUNet", "UNETR",
    "SwinUNETR", "AttentionUnet", "VNet", "HighResNet", "FlexibleUNet",
    # classifiers (contract kind "classification")
    "Classifier", "DenseNet", "DenseNet121", "ResNet",
)
#: Networks napari-medai defines itself (not in MONAI), built from JSON arguments like the MONAI ones:
#: name -> ``module:builder`` inside this package (``builder(**kwargs)`` returns the module).
PROJECT_NETWORKS: dict[str, str] = {"DeepMedic": "deepmedic:build_deepmedic",
                                    "LandmarkNet": "landmark_net:build_landmark_net"}


def build_network(spec: NetworkSpec) -> Any:
    """Instantiate ``monai.networks.nets.<spec.name>(**spec.kwargs)`` (allow-listed classes only), or a
    network of :data:`PROJECT_NETWORKS` (e.g. ``DeepMedic``) from the same JSON arguments."""
    if spec.name not in ALLOWED_NETWORKS and spec.name not in PROJECT_NETWORKS:
        raise ModelLoadError(
            f"network {spec.name!r} is not one napari-medai builds; allowed: "
            f"{', '.join((*ALLOWED_NETWORKS, *PROJECT_NETWORKS))} (or export the model to TorchScript)"
        )
    if spec.name in PROJECT_NETWORKS:
        module, builder = PROJECT_NETWORKS[spec.name].split(":")
        cls = getattr(importlib.import_module(f"{__package__}.{module}"), builder)
    else:
        import monai.networks.nets as nets

        cls = getattr(nets, spec.name, None)
    if cls is None:
        raise ModelLoadError(f"this MONAI ({_version('monai')}) has no network {spec.name!r}; upgrade MONAI")
    kwargs = {k: tuple(v) if isinstance(v, list) else v for k, v in spec.kwargs.items()}
    try:
        net = cls(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ModelLoadError(f"cannot build {network_call(spec)}: {exc}") from exc
    net.eval()
    return net


def network_call(spec: NetworkSpec) -> str:
    """The network as a call, for messages: ``UNet(spatial_dims=3, in_channels=4, ...)``."""
    return f"{spec.name}(" + ", ".join(f"{k}={v!r}" for k, v in spec.kwargs.items()) + ")"


def _version(pkg: str) -> str:
    import importlib.metadata as md

    try:
        return md.version(pkg)
    except md.PackageNotFoundError:
        return "not installed"


# ---------------------------------------------------------------------------------------------
# the loaded model
# ---------------------------------------------------------------------------------------------
@dataclass(eq=False)
class LoadedModel:
    """A network ready to run, with the contract that says how.

    Attributes
    ----------
    contract
        What the model takes and gives.
    network
        The ``torch.nn.Module`` (or TorchScript module) in eval mode, on the CPU until
        :func:`napari_medai.core.inference.segmentation.predict` moves it.
    source
        Where it came from, in words (registry name, path).
    path
        The folder or file loaded, if any.
    weights_format
        ``"state_dict"``, ``"torchscript"`` or ``"random"`` (freshly initialised, untrained).
    info
        Provenance: ``weights_md5``, bundle ``metadata`` or napari-medai ``training`` summary.
    notes
        Things a user should know (e.g. ignored bundle post-processing steps).
    """

    contract: ModelContract
    network: Any
    source: str
    path: Path | None = None
    weights_format: str = "state_dict"
    info: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.contract.name

    @property
    def is_trained(self) -> bool:
        return self.contract.is_trained

    def describe(self) -> str:
        """One paragraph: the contract summary and the source."""
        return f"{self.contract.summary()} [from {self.source}]"

    @classmethod
    def from_network(cls, network: Any, contract: ModelContract, *, source: str = "in-memory network",
                     weights_format: str = "state_dict") -> LoadedModel:
        """Wrap an existing ``torch.nn.Module`` (e.g. random weights for a benchmark)."""
        network.eval()
        return cls(contract=contract, network=network, source=source, weights_format=weights_format)

    @classmethod
    def random(cls, contract: ModelContract, *, seed: int = 0) -> LoadedModel:
        """The contract's network with random weights; the contract is marked untrained."""
        import torch

        torch.manual_seed(int(seed))
        net = build_network(contract.network)
        c = contract.with_changes(is_trained=False, trained_on="")
        return cls.from_network(net, c, source=f"random weights (seed {seed})", weights_format="random")

