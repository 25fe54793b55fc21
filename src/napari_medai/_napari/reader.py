"""npe2 reader hooks: NIfTI, NRRD, MetaImage, DICOM series folders, .npy.

Label maps are recognised by file name and integer values (see
:func:`napari_medai.core.io.is_label_name`). The user overrides that rule with napari's own
means: ``viewer.open(path, plugin="napari-medai", layer_type="labels")`` (or ``"image"``) in a
script, or the layer list's *Convert to Labels / Convert to Image* in the GUI (geometry is kept).
Opening an image also installs the display conventions on the viewer
(:mod:`napari_medai._napari.orientation`: R/L A/P S/I labels, superior up, window-preset shortcuts).
A file that cannot be read raises a one-line
:class:`~napari_medai.core.errors.ImageReadError` that napari shows as a notification.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..core.io import is_supported_path, read_volume
from .layers import volume_to_layer_data
from .orientation import install_on_current_viewer

PathLike = str | list[str]


def _single_path(path: PathLike) -> str | None:
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    return str(path)


#: Folders with files of these kinds belong to napari's other readers (image stacks, zarr, ...).
_OTHER_READERS_EXTENSIONS = {
    ".tif", ".tiff", ".png", ".jpg", ".jpeg", ".bmp", ".gif", ".zarr", ".zarray", ".zgroup",
    ".zattrs", ".csv", ".h5", ".hdf5", ".czi", ".lif", ".nd2", ".svs", ".ome",
}


def _claims_folder(folder: str) -> bool:
    """A folder is ours when it holds DICOM files, or when no other reader would take it (so that
    the user gets napari-medai's specific message, e.g. "no DICOM files in ...")."""
    if is_supported_path(folder):
        return True
    if folder.rstrip("/\\").lower().endswith(".zarr"):
        return False
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                if os.path.splitext(entry.name)[1].lower() in _OTHER_READERS_EXTENSIONS:
                    return False
    except OSError:
        return False
    return True


def get_reader_auto(path: PathLike) -> Callable[[PathLike], list[tuple]] | None:
    """The npe2 reader hook: every supported file, and folders holding DICOM files (or nothing
    another reader would open)."""
    p = _single_path(path)
    if p is None:
        return None
    if os.path.isdir(p):
        if not _claims_folder(p):
            return None
    elif not is_supported_path(p):
        return None

    def read(path_arg: PathLike) -> list[tuple]:
        vol = read_volume(Path(_single_path(path_arg) or p))
        layers = volume_to_layer_data(vol)
        install_on_current_viewer()  # orientation labels, superior up, window shortcuts
        return layers

    return read
