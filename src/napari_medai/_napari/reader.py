"""npe2 reader hooks: NIfTI, NRRD, MetaImage, DICOM series folders, .npy.

Label maps are recognised by file name and integer values (see
:func:`napari_medai.core.io.is_label_name`). The user overrides that rule with napari's own
means: ``viewer.open(path, plugin="napari-medai", layer_type="labels")`` (or ``"image"``) in a
script, or the layer list's *Convert to Labels / Convert to Image* in the GUI (geometry is kept).
A file that cannot be read raises a one-line
:class:`~napari_medai.core.errors.ImageReadError` that napari shows as a notification.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from ..core.io import is_supported_path, read_volume
from .layers import volume_to_layer_data

PathLike = str | list[str]


def _single_path(path: PathLike) -> str | None:
    if isinstance(path, (list, tuple)):
        if len(path) != 1:
            return None
        path = path[0]
    return str(path)


def _make_reader(as_label: bool | None, *, any_folder: bool) -> Callable[[PathLike], Callable | None]:
    def get_reader(path: PathLike):
        p = _single_path(path)
        if p is None:
            return None
        if os.path.isdir(p):
            if not (any_folder or is_supported_path(p)):
                return None
        elif not is_supported_path(p):
            return None

        def read(path_arg: PathLike) -> list[tuple]:
            vol = read_volume(Path(_single_path(path_arg) or p), as_label=as_label)
            return volume_to_layer_data(vol)

        return read

    return get_reader


#: The npe2 reader hook: every supported file, and folders holding DICOM files.
get_reader_auto = _make_reader(None, any_folder=False)
