"""Errors raised by the core, shown once at the edge (napari notification or CLI line)."""

from __future__ import annotations

from pathlib import Path


class MedaiError(Exception):
    """Base class of every error napari-medai raises on purpose.

    Its message is one line, meant for a user: what is wrong, with which file, and how to fix it.
    """


class MedaiWarning(UserWarning):
    """Warnings napari-medai issues itself (tests turn them into errors)."""


class _FileError(MedaiError):
    """An error about one file: ``"<path>: <problem> (<fix>)"``."""

    def __init__(self, path: str | Path, problem: str, fix: str | None = None) -> None:
        self.path = str(path)
        self.problem = problem
        self.fix = fix
        msg = f"{self.path}: {problem}"
        if fix:
            msg += f" ({fix})"
        super().__init__(msg)


class ImageReadError(_FileError):
    """A file or folder could not be read as a medical image."""


class ImageWriteError(_FileError):
    """An image could not be written (nothing half-written is left behind)."""


class GeometryMismatchError(MedaiError):
    """Two volumes that must share a voxel grid do not."""


class InvalidInputError(MedaiError):
    """An argument or array is not what a function needs (message says how to fix it)."""
