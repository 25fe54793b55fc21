"""``write_volume``: atomic, refuse-to-clobber writing of NIfTI, NRRD and MetaImage files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import ImageWriteError, InvalidInputError
from ..volume import Volume
from ._common import first_line, smallest_int_dtype, whole_number_mask_ok
from .atomic import atomic_path, same_file
from .names import WRITE_EXTENSIONS, split_extension

__all__ = ["same_file", "write_volume"]

_TWO_FILE = (".nhdr", ".mhd")  # header + detached data file


def _check_target(target: Path, volume: Volume, protect: list[str], *, overwrite: bool) -> None:
    if volume.source and same_file(target, volume.source):
        raise ImageWriteError(
            target, "is the file this volume was read from; refusing to overwrite an input",
            "write to another file name",
        )
    for q in protect:
        if same_file(target, q):
            raise ImageWriteError(target, "is a protected input file; refusing to overwrite it", "write to another file name")
    if target.is_dir():
        raise ImageWriteError(target, "is a folder", "give a file name ending in " + ", ".join(WRITE_EXTENSIONS))
    if target.exists() and not overwrite:
        raise ImageWriteError(target, "already exists", "pass overwrite=True to replace it, or choose another name")


def _label_ready(volume: Volume, target: Path) -> Volume:
    """A label volume with float data becomes integer (or is refused when not whole-valued)."""
    data = volume.data
    if not volume.is_label or data.dtype.kind in "iu":
        return volume
    if data.dtype.kind == "b":
        return volume.with_data(data.astype(np.uint8))
    if data.dtype.kind != "f":
        raise ImageWriteError(target, f"label map holds {data.dtype} values", "convert it to integers first")
    ok, n_bad, rounded = whole_number_mask_ok(data)
    if not ok or rounded is None:
        raise ImageWriteError(
            target, f"label map holds non-integer values in {n_bad} of {data.size} voxels",
            "round or threshold it into integer classes, or write it with is_label=False",
        )
    dt = smallest_int_dtype(float(rounded.min()), float(rounded.max())) if rounded.size else np.dtype(np.uint8)
    return volume.with_data(rounded.astype(dt))


def _write_one(volume: Volume, path: Path, ext: str, *, compress: bool) -> None:
    if ext in (".nii", ".nii.gz"):
        from .nifti import write_nifti

        write_nifti(volume, path)
    else:
        from .itk import write_itk

        write_itk(volume, path, compress=compress)


def write_volume(
    volume: Volume,
    path: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
    compress: bool = True,
) -> Path:
    """Write ``volume`` to ``path``; the format follows the extension.

    Supported: ``.nii.gz``, ``.nii`` (nibabel), ``.nrrd``, ``.nhdr``, ``.mha``, ``.mhd``
    (SimpleITK). The header holds the volume's spacing, origin and direction (a NIfTI file holds
    them as identical qform and sform).

    Writing is atomic: the image goes to a temporary file in the same folder and is renamed onto
    ``path`` only when complete, so a failure never leaves a half-written file. (For the two-file
    formats ``.nhdr``/``.mhd`` the data file is moved in place before its header.)

    Parameters
    ----------
    volume
        The image or label map. A label map with float data is written as integers (refused when
        the values are not whole numbers).
    path
        Target file; missing parent folders are created.
    overwrite
        Replace an existing file. Without it an existing file is refused.
    protect
        Paths that must never be written over (e.g. the inputs of a run). ``volume.source`` is
        always protected, even with ``overwrite=True``.
    compress
        Compress NRRD/MetaImage data (NIfTI compression follows ``.gz``).

    Returns
    -------
    Path
        The absolute path written.

    Raises
    ------
    ImageWriteError
        Unsupported extension, a protected or existing target, or a failed write.
    InvalidInputError
        When ``volume`` is not a :class:`Volume`.
    """
    if not isinstance(volume, Volume):
        raise InvalidInputError(f"write_volume needs a Volume, got {type(volume).__name__}; wrap arrays in Volume(data)")
    target = Path(path).expanduser().absolute()
    stem, ext = split_extension(target)
    if ext not in WRITE_EXTENSIONS or not stem:
        raise ImageWriteError(
            target, f"cannot write {ext or 'a file without extension'!r}",
            "end the name with one of " + ", ".join(WRITE_EXTENSIONS),
        )
    protected = [str(q) for q in protect]
    _check_target(target, volume, protected, overwrite=overwrite)
    volume = _label_ready(volume, target)
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ImageWriteError(target, f"its folder cannot be created: {first_line(exc)}", "choose a writable folder") from exc

    if ext in _TWO_FILE:
        _write_two_file(volume, target, ext, protected, overwrite=overwrite, compress=compress)
        return target

    try:
        with atomic_path(target, prefix=f".{stem}.", suffix=f".tmp{ext}") as tmp:
            _write_one(volume, tmp, ext, compress=compress)
    except OSError as exc:
        raise ImageWriteError(target, f"could not be written: {first_line(exc)}", "check the disk space and the folder permissions") from exc
    return target


def _write_two_file(
    volume: Volume, target: Path, ext: str, protected: list[str], *, overwrite: bool, compress: bool
) -> None:
    parent = target.parent
    try:
        tmpdir = Path(tempfile.mkdtemp(prefix=".medai-write-", dir=parent))
    except OSError as exc:
        raise ImageWriteError(target, f"could not be written: {first_line(exc)}", "check the folder permissions") from exc
    try:
        _write_one(volume, tmpdir / target.name, ext, compress=compress)
        written = sorted(tmpdir.iterdir(), key=lambda f: f.name == target.name)  # header last
        for f in written:
            dest = parent / f.name
            if f.name != target.name:
                _check_target(dest, volume, protected, overwrite=overwrite)
        for f in written:  # two files: moved in one by one from the temporary folder (atomic_path is for one)
            os.replace(f, parent / f.name)
    except OSError as exc:
        raise ImageWriteError(target, f"could not be written: {first_line(exc)}", "check the disk space and the folder permissions") from exc
    finally:
        shutil.rmtree(tmpdir, ignore_errors=True)
