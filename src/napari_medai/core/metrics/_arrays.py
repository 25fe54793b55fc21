"""Input checks and cropping shared by the metric functions (private)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError


def as_mask(array: object, *, what: str) -> np.ndarray:
    """Return ``array`` as a 2-D or 3-D boolean mask, or raise :class:`InvalidInputError`.

    Boolean arrays pass through; integer or float arrays are accepted when they hold only 0 and 1
    (a label map with several classes must be split into one mask per class first).
    """
    arr = np.asarray(array)
    if arr.ndim not in (2, 3):
        raise InvalidInputError(
            f"{what} must be a 2-D or 3-D mask, got an array of shape {arr.shape}; "
            "squeeze channel axes or pick one channel first"
        )
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{what} must be boolean or numeric, got dtype {arr.dtype}")
    if arr.size and not np.isin(arr, (0, 1)).all():
        bad = np.unique(arr[~np.isin(arr, (0, 1))])[:5]
        raise InvalidInputError(
            f"{what} is not a binary mask: it holds values {bad.tolist()} besides 0 and 1; "
            "compare it with a label value first (e.g. labels == 1)"
        )
    return arr.astype(bool)


def check_pair(pred: np.ndarray, gt: np.ndarray) -> None:
    """Raise when the two arrays do not have the same shape."""
    if pred.shape != gt.shape:
        raise InvalidInputError(
            f"prediction and ground truth have different shapes {pred.shape} and {gt.shape}; "
            "resample the prediction onto the ground-truth grid first"
        )


def as_spacing(spacing: object, ndim: int) -> tuple[float, ...]:
    """Validate a voxel spacing (mm per array axis); a single number means isotropic."""
    if spacing is None:
        raise InvalidInputError("spacing is required: pass the voxel size in mm per array axis")
    if np.isscalar(spacing):
        values: Sequence[float] = (float(spacing),) * ndim  # type: ignore[arg-type]
    else:
        try:
            values = tuple(float(s) for s in spacing)  # type: ignore[union-attr]
        except (TypeError, ValueError) as exc:
            raise InvalidInputError(f"spacing must be numbers in mm, got {spacing!r}") from exc
    if len(values) != ndim:
        raise InvalidInputError(
            f"spacing {tuple(values)} has {len(values)} values for {ndim} array axes; "
            "give one voxel size per axis, in array order"
        )
    if not all(np.isfinite(v) and v > 0 for v in values):
        raise InvalidInputError(f"spacing must be positive and finite, got {tuple(values)}")
    return tuple(values)


def bounding_box(mask: np.ndarray) -> tuple[tuple[int, int], ...] | None:
    """Half-open ``(start, stop)`` per axis of the True voxels of ``mask``, or None if empty.

    Reads the mask once by rows (fast on C-ordered arrays) and then projects only the slab that
    holds foreground, so it costs about one pass over the bytes of the array.
    """
    m = np.asarray(mask)
    if m.ndim == 0 or m.size == 0:
        return None
    if not m.flags.c_contiguous and m.flags.f_contiguous:
        # e.g. an array straight from nibabel: read it in its own memory order
        box_t = bounding_box(m.T)
        return None if box_t is None else tuple(reversed(box_t))
    m = np.ascontiguousarray(m)
    if m.dtype != bool:
        m = m != 0
    rows = m.reshape(m.shape[0], -1).view(np.uint8).max(axis=1)
    nz = np.flatnonzero(rows)
    if nz.size == 0:
        return None
    z0, z1 = int(nz[0]), int(nz[-1]) + 1
    box = [(z0, z1)]
    if m.ndim > 1:
        proj = np.logical_or.reduce(m[z0:z1], axis=0)
        for ax in range(proj.ndim):
            others = tuple(i for i in range(proj.ndim) if i != ax)
            line = np.flatnonzero(proj.any(axis=others) if others else proj)
            box.append((int(line[0]), int(line[-1]) + 1))
    return tuple(box)


def changed_box(old: np.ndarray, new: np.ndarray) -> tuple[tuple[int, int], ...] | None:
    """Half-open box ``(start, stop)`` per axis of the voxels where two same-shape arrays differ.

    None when they are equal.
    """
    if old.shape != new.shape:
        raise InvalidInputError(f"cannot compare arrays of shapes {old.shape} and {new.shape}")
    return bounding_box(np.not_equal(old, new))


def merge_change(old: Any, new: Any) -> Any:
    """Two successive change notes as one: ``None`` (unchanged), a box, or ``True`` (anything)."""
    if new is None:
        return old
    if new is True or old is True:
        return True
    box = tuple((int(a), int(b)) for a, b in new)
    return box if old is None else union_box(old, box)


def union_box(
    a: tuple[tuple[int, int], ...] | None, b: tuple[tuple[int, int], ...] | None
) -> tuple[tuple[int, int], ...] | None:
    if a is None:
        return b
    if b is None:
        return a
    return tuple((min(x0, y0), max(x1, y1)) for (x0, x1), (y0, y1) in zip(a, b))


def crop_padded(array: np.ndarray, box: tuple[tuple[int, int], ...], pad: Sequence[int]) -> np.ndarray:
    """``array[box]`` with ``pad[i]`` voxels added on both sides of axis *i*.

    Voxels of the padded border that lie inside ``array`` are copied from it; those outside the
    array are zero (background), which is how the image border is treated everywhere here
    (the same as :func:`scipy.ndimage.binary_erosion` with ``border_value=0``).
    """
    shape = tuple(b1 - b0 + 2 * p for (b0, b1), p in zip(box, pad))
    out = np.zeros(shape, dtype=array.dtype)
    src, dst = [], []
    for (b0, b1), p, n in zip(box, pad, array.shape):
        s0, s1 = max(b0 - p, 0), min(b1 + p, n)
        src.append(slice(s0, s1))
        dst.append(slice(s0 - (b0 - p), s1 - (b0 - p)))
    out[tuple(dst)] = array[tuple(src)]
    return out


def fingerprint(*parts: Any) -> str:
    """Hash of arrays (shape, dtype and content) and other values, for caches."""
    h = hashlib.blake2b(digest_size=16)
    for p in parts:
        if isinstance(p, np.ndarray):
            h.update(f"{p.shape}{p.dtype}".encode())
            data = np.packbits(p, axis=None) if p.dtype == bool else np.ascontiguousarray(p)
            h.update(data.tobytes())
        else:
            h.update(repr(p).encode())
    return h.hexdigest()


class BoundedMemo(dict):
    """A dict that forgets its oldest entries beyond ``max_items`` (cache of reusable work)."""

    def __init__(self, max_items: int = 64) -> None:
        super().__init__()
        self.max_items = max_items

    def __setitem__(self, key: Any, value: Any) -> None:
        if key not in self and len(self) >= self.max_items:
            del self[next(iter(self))]
        super().__setitem__(key, value)
