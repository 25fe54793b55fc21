"""The model engine: what a model takes and gives, which models exist, and loading them.

* :mod:`.contract` -- :class:`ModelContract` (plain data, no torch).
* :mod:`.registry` -- known models by name (plain data, no torch).
* :mod:`.loading` -- :func:`load_model` for registry names, MONAI bundle folders/zips, TorchScript
  files and napari-medai model folders (imports torch when called).

Importing this package does not import torch; :func:`load_model` and :class:`LoadedModel` are
loaded on first use.
"""

from __future__ import annotations

from typing import Any

from .contract import (
    CHANNEL_ALIASES,
    ModelContract,
    NetworkSpec,
    canonical_channel,
    channel_aliases,
    guess_channel,
)
from .errors import (
    Cancelled,
    MissingChannelError,
    ModelDownloadError,
    ModelLoadError,
    ModelNotAvailableError,
    UnknownModelError,
)
from .registry import REGISTRY, RegistryEntry, cache_dir, get_entry, list_models

__all__ = [
    "CHANNEL_ALIASES",
    "REGISTRY",
    "Cancelled",
    "LoadedModel",
    "MissingChannelError",
    "ModelContract",
    "ModelDownloadError",
    "ModelLoadError",
    "ModelNotAvailableError",
    "NetworkSpec",
    "RegistryEntry",
    "UnknownModelError",
    "cache_dir",
    "canonical_channel",
    "guess_channel",
    "channel_aliases",
    "get_entry",
    "list_models",
    "load_model",
]


def __getattr__(name: str) -> Any:
    if name in ("load_model", "LoadedModel"):
        from . import loading

        return getattr(loading, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
