"""Errors of the model engine (all :class:`~napari_medai.core.errors.MedaiError` subclasses)."""

from __future__ import annotations

from ..callbacks import Cancelled  # declared with the callbacks; re-exported here for old imports
from ..errors import InvalidInputError, MedaiError

__all__ = [
    "Cancelled",
    "MissingChannelError",
    "ModelDownloadError",
    "ModelLoadError",
    "ModelNotAvailableError",
    "UnknownModelError",
]


class UnknownModelError(InvalidInputError):
    """A model name is neither in the registry nor an existing file or folder."""


class ModelLoadError(MedaiError):
    """Weights or a model description could not be read, or do not match the declared network."""


class ModelDownloadError(ModelLoadError):
    """A model could not be downloaded (no network, or a checksum mismatch)."""


class ModelNotAvailableError(ModelLoadError):
    """A registry model has no weights on this machine (not trained or not installed yet)."""


class MissingChannelError(InvalidInputError):
    """A model needs input channels (MR sequences) that were not given."""
