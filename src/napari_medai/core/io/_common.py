"""Helpers shared by the readers and writers (label conversion, NaN checks, dtype choices)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import ImageReadError, InvalidInputError

#: Largest distance from a whole number that still counts as a whole number in a float label map
#: (float scaling in headers turns 1 into 0.99999997).
LABEL_TOLERANCE = 1e-3

_INT_CHOICES = (np.uint8, np.uint16, np.int16, np.int32, np.int64)


def smallest_int_dtype(lo: float, hi: float) -> np.dtype:
    """Smallest of uint8, uint16, int16, int32, int64 holding every integer in ``[lo, hi]``."""
    for dt in _INT_CHOICES:
        info = np.iinfo(dt)
        if info.min <= lo and hi <= info.max:
            return np.dtype(dt)
    raise InvalidInputError(f"values from {lo} to {hi} do not fit a 64-bit integer")


def whole_number_mask_ok(data: np.ndarray) -> tuple[bool, int, np.ndarray | None]:
    """Whether float ``data`` holds only (near-)whole numbers.

    Returns ``(ok, n_bad, rounded)`` where ``rounded`` is ``np.rint(data)`` (``None`` when not ok).
    NaN and infinite values count as not whole.
    """
    rounded = np.rint(data)
    diff = np.subtract(data, rounded)
    np.abs(diff, out=diff)
    with np.errstate(invalid="ignore"):
        worst = diff.max() if diff.size else 0.0
    if np.isfinite(worst) and worst <= LABEL_TOLERANCE:
        return True, 0, rounded
    with np.errstate(invalid="ignore"):
        n_bad = int(np.count_nonzero(~(diff <= LABEL_TOLERANCE)))
    return False, n_bad, None


def is_whole_valued(data: np.ndarray) -> bool:
    """True for integer/bool arrays, and for float arrays whose values are all whole numbers."""
    if data.dtype.kind in "biu":
        return True
    if data.dtype.kind != "f":
        return False
    return whole_number_mask_ok(data)[0]


def to_label_data(data: np.ndarray, path: str | Path, *, rounded: np.ndarray | None = None) -> np.ndarray:
    """Convert ``data`` to an integer label array, or raise :class:`ImageReadError`.

    Integer data is returned unchanged; bool becomes uint8; float data with whole values becomes
    the smallest integer dtype that holds them. ``rounded`` may pass ``np.rint(data)`` when the
    caller already checked that the values are whole.
    """
    kind = data.dtype.kind
    if kind in "iu":
        return data
    if kind == "b":
        return data.astype(np.uint8)
    if kind != "f":
        raise ImageReadError(
            path, f"holds {data.dtype} values, which cannot be a label map",
            "read it with as_label=False",
        )
    ok, n_bad = True, 0
    if rounded is None:
        ok, n_bad, rounded = whole_number_mask_ok(data)
    if not ok or rounded is None:
        n_nan = int(np.count_nonzero(np.isnan(data)))
        what = f"{n_nan} NaN voxels" if n_nan == n_bad else f"non-integer values in {n_bad} of {data.size} voxels"
        raise ImageReadError(
            path,
            f"was asked for as a label map but holds {what}",
            "read it with as_label=False to get an intensity image, or round/threshold it into integer classes and save it again",
        )
    if rounded.size == 0:
        return rounded.astype(np.uint8)
    dt = smallest_int_dtype(float(rounded.min()), float(rounded.max()))
    return rounded.astype(dt)


def check_no_nan(data: np.ndarray, path: str | Path) -> None:
    """Raise :class:`ImageReadError` when float ``data`` holds NaN (says how many voxels)."""
    if data.dtype.kind not in "fc" or data.size == 0:
        return
    # max() propagates NaN in a single pass without a temporary array.
    if not np.isnan(data.max()):
        return
    n_nan = int(np.count_nonzero(np.isnan(data)))
    if n_nan == 0:  # pragma: no cover - max() reported NaN, so there is one
        return
    if n_nan == data.size:
        raise ImageReadError(
            path,
            f"every voxel ({data.size}) is NaN, so the file holds no image",
            "the file was probably written from a failed computation; export the image again",
        )
    raise ImageReadError(
        path,
        f"{n_nan} of {data.size} voxels ({100.0 * n_nan / data.size:.3g}%) are NaN",
        "replace them (e.g. numpy.nan_to_num) and save again, or read with allow_nan=True to keep them",
    )


def first_line(exc: BaseException, *, limit: int = 240) -> str:
    """A short one-line description of a library exception for an error message."""
    text = " ".join(str(exc).split())
    if not text:
        text = type(exc).__name__
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    return text
