"""``read_volume``: open any supported file or DICOM folder as a :class:`Volume`."""

from __future__ import annotations

import difflib
import os
from pathlib import Path

import numpy as np

from ..errors import ImageReadError, InvalidInputError
from ..volume import Volume
from ._common import check_no_nan, to_label_data, whole_number_mask_ok
from .names import (
    RASTER_EXTENSIONS,
    SUPPORTED_EXTENSIONS,
    format_of,
    is_label_name,
    split_extension,
)

__all__ = ["read_volume"]


def _missing_path_error(p: Path) -> ImageReadError:
    parent = p.parent
    if parent.is_dir():
        try:
            names = [e.name for e in parent.iterdir()]
        except OSError:
            names = []
        close = difflib.get_close_matches(p.name, names, n=3, cutoff=0.6)
        if close:
            return ImageReadError(p, "does not exist", "did you mean " + " or ".join(repr(str(parent / c)) for c in close) + "?")
        return ImageReadError(p, "does not exist", f"check the file name; the folder {parent} exists")
    return ImageReadError(p, "does not exist", "check the path (its folder does not exist either)")


def _auto_label(data: np.ndarray) -> tuple[bool, np.ndarray | None]:
    """Whether ``data`` is whole-valued, and ``np.rint(data)`` for float data that is."""
    kind = data.dtype.kind
    if kind in "biu":
        return True, None
    if kind == "f":
        ok, _, rounded = whole_number_mask_ok(data)
        return ok, rounded
    return False, None


def read_volume(
    path: str | os.PathLike[str],
    *,
    as_label: bool | None = None,
    series_uid: str | None = None,
    shape: tuple[int, ...] | None = None,
    dtype: str | np.dtype | None = None,
    offset: float | int | None = None,
    allow_nan: bool = False,
) -> Volume:
    """Open a medical image file, or a folder holding a DICOM series, as a :class:`Volume`.

    Formats (by extension, case-insensitive): NIfTI ``.nii``/``.nii.gz`` (nibabel), NRRD
    ``.nrrd``/``.nhdr`` and MetaImage ``.mha``/``.mhd`` (SimpleITK), DICOM ``.dcm`` files or any
    file with the DICOM marker, folders of DICOM files (:func:`read_dicom_series`), ``.npy``
    (2-D/3-D, 1 mm, identity), headerless ``.raw``, and 2-D grey pictures ``.png``/``.jpg``/``.jpeg``/
    ``.tif``/``.tiff`` (:func:`~napari_medai.core.io.radiograph.read_raster`: RGB files holding a grey
    image become one channel, colour is refused). A single-frame DICOM projection radiograph (CR, DX,
    MG, ...) opens as a 2-D image (:func:`~napari_medai.core.io.dicom.read_dicom_file`).

    Parameters
    ----------
    path
        File or folder.
    as_label
        ``True``: read as a label map (values must be whole numbers; the data becomes an integer
        dtype). ``False``: an intensity image. ``None`` (default): a label map when the name
        passes :func:`is_label_name` *and* the values are whole numbers.
    series_uid
        DICOM folders only: the SeriesInstanceUID to read when the folder holds several series.
    shape, dtype
        ``.raw`` only: array shape (array order) and stored dtype; default from the file name.
    offset
        ``.raw``/``.npy`` only: value the file adds to the true values, subtracted on read.
        Default for ``.raw``: from the name, ``hu+1024`` -> 1024 (so such files read in HU).
    allow_nan
        Read float images holding NaN instead of refusing them.

    Returns
    -------
    Volume
        With geometry from the file, ``source`` set to the absolute path, ``name`` the file stem
        and ``meta["format"]`` the reader used (``meta["nifti"]`` keeps NIfTI header facts).

    Raises
    ------
    ImageReadError
        When the path does not exist, its format is not supported, or the file cannot be read;
        the message names the file, what is wrong and how to fix it.
    InvalidInputError
        When an option does not apply to the format.
    """
    if as_label not in (None, True, False):
        raise InvalidInputError(f"as_label must be True, False or None, got {as_label!r}")
    p = Path(path).expanduser()
    if not p.exists():
        raise _missing_path_error(p)
    fmt = format_of(p)
    stem, ext = split_extension(p)
    if fmt is None:
        raise ImageReadError(
            p, f"has an unsupported extension {ext!r}" if ext else "has no extension and is not a DICOM file",
            "supported are " + ", ".join(SUPPORTED_EXTENSIONS + RASTER_EXTENSIONS) + " and folders of DICOM files",
        )
    if fmt != "raw" and (shape is not None or dtype is not None):
        raise InvalidInputError(f"shape= and dtype= apply to .raw files only, not to {p.name}")
    if fmt not in ("raw", "npy") and offset is not None:
        raise InvalidInputError(f"offset= applies to .raw and .npy files only, not to {p.name}")
    if fmt != "dicom-folder" and series_uid is not None:
        raise InvalidInputError(f"series_uid= applies to DICOM folders only, not to {p.name}")

    if fmt == "nifti":
        from .nifti import read_nifti

        vol = read_nifti(p)
    elif fmt == "itk":
        from .itk import read_itk

        vol = read_itk(p)
    elif fmt == "dicom":
        from .dicom import read_dicom_file
        from .dicom_seg import is_dicom_seg, read_dicom_seg

        vol = read_dicom_seg(p) if is_dicom_seg(p) else read_dicom_file(p)  # a SEG opens as labels
    elif fmt == "dicom-folder":
        from .dicom import read_dicom_series

        vol = read_dicom_series(p, series_uid=series_uid)
    elif fmt == "raster":
        from .radiograph import read_raster

        vol = read_raster(p)
    elif fmt == "npy":
        from .arrays import read_npy

        vol = read_npy(p, offset=offset)
    else:
        from .arrays import read_raw

        vol = read_raw(p, shape=shape, dtype=dtype, offset=offset)

    source = str(p.resolve())
    if fmt not in ("dicom", "dicom-folder"):
        vol.name = stem or p.name
    vol.source = source

    want_label, rounded = bool(as_label), None
    if as_label is None and fmt not in ("dicom", "dicom-folder") and is_label_name(p):
        want_label, rounded = _auto_label(vol.data)
    if want_label:
        data = to_label_data(vol.data, p, rounded=rounded)
        return vol.with_data(data, is_label=True, units="")
    if not allow_nan:
        check_no_nan(vol.data, p)
    return vol
