"""Plain arrays: NumPy ``.npy`` files and headerless ``.raw`` files.

Neither format stores geometry: volumes get 1 mm spacing, origin 0 and identity direction.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImageReadError, InvalidInputError
from ..volume import Volume
from ._common import first_line
from .names import raw_name_facts, split_extension

__all__ = ["read_npy", "read_raw"]

_DEFAULT_RAW_DTYPE = "<u2"


def _is_hu_name(stem: str) -> bool:
    return re.search(r"(?<![a-z])hu(?![a-z])", stem, re.IGNORECASE) is not None


def _subtract_offset(data: np.ndarray, offset: float | int) -> np.ndarray:
    """``data - offset`` in a signed dtype wide enough for the result (float stays float)."""
    if offset == 0:
        return data
    if data.dtype.kind in "iu" and float(offset).is_integer():
        lo = int(data.min()) - int(offset) if data.size else 0
        hi = int(data.max()) - int(offset) if data.size else 0
        for dt in (np.int16, np.int32, np.int64):
            info = np.iinfo(dt)
            if info.min <= lo and hi <= info.max:
                out = data.astype(dt)
                out -= dt(int(offset))
                return out
    out = data.astype(np.float32 if data.dtype.itemsize <= 4 else np.float64)
    out -= offset
    return out


def _volume(data: np.ndarray, path: Path, fmt: str, offset: float | int | None, extra: dict[str, Any]) -> Volume:
    if data.ndim not in (2, 3):
        raise ImageReadError(
            path, f"holds a {data.ndim}-D array of shape {data.shape}",
            "a .npy/.raw image must be 2-D (rows, columns) or 3-D (slices, rows, columns)",
        )
    if data.size == 0:
        raise ImageReadError(path, f"holds an empty array of shape {data.shape}", "save the image data again")
    stem, _ = split_extension(path)
    if offset:
        data = _subtract_offset(data, offset)
    hu = _is_hu_name(stem)
    meta = {"format": fmt, "value_offset": offset or 0, **extra}
    return Volume(
        data=data,
        modality="CT" if hu else "unknown",
        units="HU" if hu else "",
        meta=meta,
    )


def read_npy(path: Path, *, offset: float | int | None = None) -> Volume:
    """Read a 2-D or 3-D ``.npy`` array (array order, 1 mm, identity geometry).

    Parameters
    ----------
    offset
        Value the file adds to the true values; it is subtracted (e.g. 1024 for HU+1024).
    """
    with open(path, "rb") as fh:
        magic = fh.read(6)
    if magic != b"\x93NUMPY":
        raise ImageReadError(path, "is not a NumPy .npy file (it lacks the .npy signature)",
                             "save the array with numpy.save, or use the extension of the file's real format")
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise ImageReadError(path, f"is not a readable .npy array: {first_line(exc)}",
                             "save the array with numpy.save (object arrays are refused)") from exc
    if not isinstance(data, np.ndarray):
        raise ImageReadError(path, "holds several arrays (an .npz archive?)", "save one array with numpy.save")
    if data.dtype.kind not in "biuf":
        raise ImageReadError(path, f"holds {data.dtype} values", "save a numeric (integer or float) array")
    return _volume(np.ascontiguousarray(data), path, "npy", offset, {})


def read_raw(
    path: Path,
    *,
    shape: tuple[int, ...] | None = None,
    dtype: str | np.dtype | None = None,
    offset: float | int | None = None,
    header_bytes: int = 0,
) -> Volume:
    """Read a headerless ``.raw`` file.

    Parameters
    ----------
    shape
        Array shape in array order, ``(rows, columns)`` or ``(slices, rows, columns)``. Default:
        taken from the name (``_512x512``; ``WxH[xD]`` is width first and gets reversed).
    dtype
        NumPy dtype of the stored values (default: from the name, e.g. ``int16``, else
        little-endian ``uint16``). Plain names like ``"uint16"`` are read little-endian.
    offset
        Value the file adds to the true values; subtracted on read. Default: from the name
        (``hu+1024`` -> 1024, so such a file reads back in HU).
    header_bytes
        Bytes to skip at the start of the file.
    """
    facts = raw_name_facts(path)
    shp = tuple(int(s) for s in shape) if shape is not None else facts.shape
    if shp is None:
        raise ImageReadError(
            path, "is a .raw file without a shape",
            "pass shape=(rows, columns) or (slices, rows, columns), or put the size in the name like _512x512",
        )
    if len(shp) not in (2, 3) or any(s <= 0 for s in shp):
        raise InvalidInputError(f"raw shape must be 2 or 3 positive sizes, got {shp}")
    try:
        dt = np.dtype(dtype if dtype is not None else (facts.dtype or _DEFAULT_RAW_DTYPE))
    except TypeError as exc:
        raise InvalidInputError(f"dtype {dtype!r} is not a NumPy dtype; use e.g. 'uint16' or '<i2'") from exc
    if dt.byteorder == "=" and dt.itemsize > 1:
        dt = dt.newbyteorder("<")
    if dt.kind not in "iuf":
        raise InvalidInputError(f"dtype {dt} is not numeric; use e.g. 'uint16', 'int16' or 'float32'")
    if header_bytes < 0:
        raise InvalidInputError(f"header_bytes must be >= 0, got {header_bytes}")
    expected = int(np.prod(shp)) * dt.itemsize + header_bytes
    size = path.stat().st_size
    if size != expected:
        raise ImageReadError(
            path,
            f"has {size} bytes but shape {shp} of {dt.name} needs {expected}",
            "check the shape and dtype (and header_bytes for a file with a header)",
        )
    data = np.fromfile(path, dtype=dt, offset=header_bytes).reshape(shp)
    if not dt.isnative:
        data = data.astype(dt.newbyteorder("="))
    value_offset = offset if offset is not None else (facts.offset or 0)
    return _volume(data, path, "raw", value_offset, {"raw_dtype": dt.str, "raw_shape": shp})
