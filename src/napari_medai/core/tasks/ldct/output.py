"""Write a CT result in the format its file name asks for, atomically, never over an input.

:func:`write_ct_image` extends :func:`napari_medai.core.io.write_volume` (NIfTI, NRRD, MetaImage)
to the two plain-array formats :func:`~napari_medai.core.io.read_volume` also reads:

* ``.npy`` -- the HU values as float32 (``numpy.save``);
* ``.raw`` -- headerless, in the dtype and value offset the name states, like the inputs of the
  ``ldct_L506`` folder: ``..._uint16_hu+1024_512x512.raw`` stores ``round(HU + 1024)`` as
  little-endian uint16. The name must give the size (``_COLUMNSxROWS`` or ``_COLUMNSxROWSxSLICES``,
  as the reader expects); without a dtype in the name, little-endian uint16 (the reader's default)
  is written, which then needs an offset such as ``hu+1024`` for negative HU.

Every format goes to a temporary file in the target folder first and is renamed when complete.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from ...errors import ImageWriteError
from ...io import write_volume
from ...io.atomic import FolderNotWritableError, atomic_path, same_file
from ...io.names import raw_name_facts, split_extension
from ...volume import Volume

__all__ = ["write_ct_image"]


def _atomic_bytes(target: Path, write: Callable[[str], None]) -> None:
    try:
        with atomic_path(target) as tmp:
            write(str(tmp))
    except FolderNotWritableError as exc:
        raise ImageWriteError(target, f"cannot write here ({exc.strerror or exc})", "choose a writable folder") from exc
    except OSError as exc:
        raise ImageWriteError(target, f"could not be written ({exc.strerror or exc})") from exc


def _raw_bytes(data: np.ndarray, target: Path) -> np.ndarray:
    facts = raw_name_facts(target)
    if facts.shape is None:
        size = "x".join(str(s) for s in reversed(data.shape))
        raise ImageWriteError(
            target, "a .raw file stores no size, and its name gives none",
            f"put the size in the name as the reader expects, e.g. _{size} (columns x rows[ x slices])",
        )
    if tuple(facts.shape) != tuple(data.shape):
        raise ImageWriteError(
            target, f"the name says shape {facts.shape} (rows, columns) but the image is {data.shape}",
            "name the file with the image's size",
        )
    dt = np.dtype(facts.dtype or "<u2")
    if dt.byteorder == "=" and dt.itemsize > 1:
        dt = dt.newbyteorder("<")
    offset = facts.offset or 0
    values = data.astype(np.float64) + offset
    if dt.kind in "iu":
        values = np.rint(values)
        info = np.iinfo(dt)
        lo, hi = float(values.min()), float(values.max())
        if lo < info.min or hi > info.max:
            raise ImageWriteError(
                target, f"values {lo - offset:.0f} to {hi - offset:.0f} HU do not fit {dt.name}"
                + (f" with offset {offset}" if offset else ""),
                "use a name with an offset such as _hu+1024_ for uint16, or a float32/.npy output",
            )
    return values.astype(dt)


def write_ct_image(
    image: Volume | np.ndarray,
    path: str | os.PathLike[str],
    *,
    like: Volume | None = None,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write a CT image (HU) to ``path``; the extension picks the format.

    Parameters
    ----------
    image
        A :class:`Volume`, or an array written on ``like``'s grid (or 1 mm when ``like`` is None).
    path
        ``.npy``, ``.raw`` (see the module docstring) or any extension of
        :func:`~napari_medai.core.io.write_volume` (``.nii.gz``, ``.nii``, ``.nrrd``, ``.nhdr``,
        ``.mha``, ``.mhd``).
    like
        Volume whose geometry an array result gets.
    overwrite
        Replace an existing file (inputs are never replaced).
    protect
        Input paths that must never be written over.

    Returns
    -------
    Path
        The absolute path written.

    Raises
    ------
    ImageWriteError
        A protected or existing target, an unsupported extension, or a failed write.
    """
    target = Path(path).expanduser().absolute()
    if isinstance(image, Volume):
        vol = image
    else:
        arr = np.asarray(image)
        vol = like.with_data(arr, source=None) if like is not None else Volume(data=arr, modality="CT", units="HU")
    protected = [str(p) for p in protect if p is not None]
    for q in protected:
        if same_file(target, q):
            raise ImageWriteError(target, "is an input file; refusing to overwrite it", "write to another file name")
    if vol.source and same_file(target, vol.source):
        raise ImageWriteError(target, "is the file this image was read from; refusing to overwrite an input",
                              "write to another file name")
    _, ext = split_extension(target)
    if ext not in (".npy", ".raw"):
        return write_volume(vol, target, overwrite=overwrite, protect=protected)
    if target.is_dir():
        raise ImageWriteError(target, "is a folder", "give a file name ending in .npy or .raw")
    if target.exists() and not overwrite:
        raise ImageWriteError(target, "already exists", "pass --overwrite to replace it, or choose another name")
    data = np.asarray(vol.data)
    if ext == ".npy":
        arr32 = np.ascontiguousarray(data, dtype=np.float32)

        def write(tmp: str) -> None:
            with open(tmp, "wb") as fh:
                np.save(fh, arr32, allow_pickle=False)
    else:
        raw = _raw_bytes(data, target)

        def write(tmp: str) -> None:
            raw.tofile(tmp)

    _atomic_bytes(target, write)
    return target
