"""Surface voxels of a mask on its crop, and the one distance formula every search shares.

The **surface** of a mask is the set of its voxels that a binary erosion with the face-connected
cross removes (``mask & ~binary_erosion(mask)``, image border as background): MONAI's
``get_mask_edges`` without sub-voxel areas. :class:`MaskSurface` holds one surface as sorted flat
indices into a zero-padded crop, with what the searches reuse (a guarded flat copy for the lattice
walk of :mod:`.surface_walk`, a k-d tree).

Every distance is computed by one formula from the integer voxel offset ``o`` to the nearest voxel,
``sqrt(((o0 s0)^2 + (o1 s1)^2) + (o2 s2)^2)`` (:func:`lattice_distance`), and it is the smallest
value of that formula over the other surface: the k-d tree's answers are re-evaluated with it
(near-ties included, :func:`tree_nearest`), so a voxel gets the same distance whichever path
resolves it.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._arrays import bounding_box

__all__ = [
    "MaskSurface",
    "lattice_distance",
    "surface_voxels",
    "tree_nearest",
    "unravel_flat",
    "voxel_columns",
]


def surface_voxels(m: np.ndarray, *, padded: bool = False) -> np.ndarray:
    """``m`` minus its face-connected erosion; ``padded``: the outer layer of ``m`` is all False."""
    nd = m.ndim
    if padded and all(n >= 3 for n in m.shape):
        # with a False outer layer, a neighbour along any axis is a fixed step in C order (no
        # voxel of the layer is True, so the steps that wrap around a row never matter)
        flat = np.ascontiguousarray(m).reshape(-1)
        interior = flat.copy()
        for ax in range(nd):
            step = math.prod(m.shape[ax + 1 :])
            interior[step:] &= flat[:-step]
            interior[:-step] &= flat[step:]
        interior ^= flat
        return interior.reshape(m.shape)
    interior = m.copy()
    for ax in range(nd):
        lo = [slice(None)] * nd
        hi = [slice(None)] * nd
        lo[ax] = slice(1, None)
        hi[ax] = slice(None, -1)
        interior[tuple(lo)] &= m[tuple(hi)]
        interior[tuple(hi)] &= m[tuple(lo)]
        if not padded:
            first = [slice(None)] * nd
            first[ax] = 0
            interior[tuple(first)] = False
            first[ax] = -1
            interior[tuple(first)] = False
    interior ^= m  # interior is a subset of m, so this leaves m minus interior
    return interior


def _surface_indices(m: np.ndarray, box: tuple[tuple[int, int], ...] | None | bool = True) -> np.ndarray:
    """Sorted flat indices of the surface voxels of a zero-padded mask.

    The work is done on the mask's own bounding box ``box`` (found here when True; None: the mask
    is empty) plus one zero voxel, which can be much smaller than the crop shared with the other mask.
    """
    if box is True:
        box = bounding_box(m)
    if box is None:
        return np.zeros(0, dtype=np.int64)
    sl = tuple(slice(max(b0 - 1, 0), min(b1 + 1, n)) for (b0, b1), n in zip(box, m.shape))
    sub = surface_voxels(m[sl], padded=all(s.start > 0 and s.stop < n for s, n in zip(sl, m.shape)))
    idx = np.flatnonzero(sub)
    # flat indices of the sub-box -> flat indices of the crop
    flat = np.zeros(idx.size, dtype=np.int64)
    for ax, coord in enumerate(voxel_columns(idx, sub.shape)):
        flat += (coord + sl[ax].start).astype(np.int64) * math.prod(m.shape[ax + 1 :])
    return flat


class MaskSurface:
    """Surface voxels of one zero-padded crop mask, plus what the distance search can reuse.

    The guarded flat copy of the surface and the k-d tree over it are built on first use and kept,
    so a reference mask that does not change (live editing of a prediction) is prepared once.

    Parameters
    ----------
    mask
        Boolean crop with a zero margin of at least :func:`.surface_walk.ring_pad` voxels.
    spacing
        Voxel size in mm per axis.
    box
        The half-open bounding box of ``mask`` when the caller knows it (None: empty), else found.
    """

    def __init__(self, mask: np.ndarray, spacing: tuple[float, ...], *,
                 box: tuple[tuple[int, int], ...] | None | bool = True) -> None:
        self.shape = tuple(mask.shape)
        self.spacing = tuple(float(s) for s in spacing)
        #: bounding box of the mask, hence of its surface (None when empty); ``box``: already known
        self.box = bounding_box(mask) if box is True else box  # type: ignore[assignment]
        self.idx = _surface_indices(mask, self.box)
        self._surface: np.ndarray | None = None
        self._guarded: np.ndarray | None = None
        self._tree: Any = None

    @classmethod
    def from_parts(cls, surface: np.ndarray, idx: np.ndarray, spacing: tuple[float, ...]) -> MaskSurface:
        """A surface already known: its boolean array and the sorted flat indices of its voxels."""
        obj = cls.__new__(cls)
        obj.shape = tuple(surface.shape)
        obj.spacing = tuple(float(s) for s in spacing)
        obj._surface = surface
        obj.idx = idx
        obj.box = None
        obj._guarded = None
        obj._tree = None
        return obj

    @classmethod
    def from_indices(cls, idx: np.ndarray, shape: tuple[int, ...], spacing: tuple[float, ...]) -> MaskSurface:
        """A surface given by the sorted flat indices of its voxels in a crop of ``shape``."""
        obj = cls.__new__(cls)
        obj.shape = tuple(shape)
        obj.spacing = tuple(float(s) for s in spacing)
        obj._surface = None
        obj.idx = idx
        obj.box = None
        obj._guarded = None
        obj._tree = None
        return obj

    def replace_region(self, box: tuple[tuple[int, int], ...], region: np.ndarray, idx: np.ndarray) -> None:
        """Follow a surface that changed inside ``box`` only: ``region`` is its boolean window
        there and ``idx`` all its sorted flat indices. What was built from the surface (its flat
        guarded copy) is brought up to date in the window only; the k-d tree and box are dropped."""
        self.idx = idx
        self.box = None
        self._tree = None
        if self._surface is not None:
            self._surface[tuple(slice(a, b) for a, b in box)] = region
        if self._guarded is not None:
            span = (self._guarded.size - 1 - math.prod(self.shape)) // 4
            strides = [math.prod(self.shape[i + 1 :]) for i in range(len(self.shape))]
            flat = np.zeros(region.shape, dtype=np.int64)
            for ax, (a, b) in enumerate(box):
                shape = [1] * region.ndim
                shape[ax] = b - a
                flat = flat + (np.arange(a, b, dtype=np.int64) * strides[ax]).reshape(shape)
            self._guarded[span + flat.ravel()] = region.ravel()

    @property
    def surface(self) -> np.ndarray:
        """Boolean crop-shaped array of the surface voxels (made from :attr:`idx` on first use)."""
        if self._surface is None:
            surf = np.zeros(math.prod(self.shape), dtype=bool)
            surf[self.idx] = True
            self._surface = surf.reshape(self.shape)
        return self._surface

    @property
    def empty(self) -> bool:
        return self.idx.size == 0

    def guarded(self, span: int) -> np.ndarray:
        """The surface as flat uint8 after ``span`` zeros and before ``3 span + 1`` zeros.

        Flat index ``i`` of the crop is at ``span + i``, so ``guarded[span + o:][idx]`` reads the
        surface at ``idx + o`` for any offset ``|o| <= span`` without an addition per voxel, and
        index ``size + span`` (where resolved voxels are parked) reads zero for every such offset.
        """
        size = math.prod(self.shape)
        if self._guarded is None or self._guarded.size != size + 4 * span + 1:
            g = np.zeros(size + 4 * span + 1, dtype=np.uint8)
            g[span + self.idx] = 1
            self._guarded = g
        return self._guarded

    @property
    def has_tree(self) -> bool:
        """Whether the k-d tree of :meth:`tree` is built already (then a query costs no build)."""
        return self._tree is not None

    def tree(self) -> Any:
        """A k-d tree over the surface voxel centres in mm."""
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(_coords_mm(self.idx, self.shape, self.spacing), leafsize=64,
                                 balanced_tree=False, compact_nodes=False, copy_data=False)
        return self._tree


_TREE_K = 8  # neighbours asked of the k-d tree before the near-tie check


def lattice_distance(offsets: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """``sqrt(sum((o * spacing) ** 2))`` over the last axis: the formula of the lattice walk."""
    return np.sqrt(((offsets * np.asarray(spacing, dtype=float)) ** 2).sum(axis=-1))


def _exact_lattice(spacing: tuple[float, ...], shape: tuple[int, ...]) -> bool:
    """Whether every lattice distance formula is evaluated without rounding before the root.

    True for spacings with few binary fraction digits (1, 0.5, 1.25, ...): then equal true
    distances give equal values, and the k-d tree's nearest voxel already has the smallest value.
    """
    for s, n in zip(spacing, shape):
        scaled = s * 1024.0
        if scaled != math.floor(scaled) or scaled * n >= 2.0**20:
            return False
    return True


def tree_nearest(pts: np.ndarray, target: MaskSurface) -> tuple[np.ndarray, np.ndarray]:
    """Nearest target voxel of each flat index by the k-d tree, with the lattice formula's value.

    The tree measures in floating-point mm; its candidates (every voxel within a relative 1e-9
    of its nearest distance) are re-measured with :func:`lattice_distance` and the smallest value wins,
    so the answer equals the lattice walk's whenever both could answer.
    """
    shape, spacing = target.shape, target.spacing
    tree = target.tree()
    grid = voxel_columns(pts, shape)
    xyz = np.empty((pts.size, len(shape)))
    for ax, s in enumerate(spacing):
        np.multiply(grid[ax], s, out=xyz[:, ax])
    if _exact_lattice(spacing, shape):
        i = tree.query(xyz, k=1)[1]
        nn = target.idx[i]
        near = voxel_columns(nn, shape)
        np.subtract(grid, near, out=near)
        return _lattice_length(near, spacing), nn
    coords = grid.T
    out = np.empty(pts.size)
    nn = np.empty(pts.size, dtype=np.int64)
    rows = np.arange(pts.size)
    # two neighbours first: most voxels have a single nearest one; the near-tied ask for more
    for k in (2, _TREE_K):
        k = min(k, target.idx.size)
        d, i = tree.query(xyz[rows], k=k)
        if k == 1:
            d, i = d[:, None], i[:, None]
        cand = target.idx[i]  # (n, k) flat indices
        val = lattice_distance(coords[rows][:, None, :] - unravel_flat(cand, shape), spacing)
        reach = d[:, :1] * (1 + 1e-9) + 1e-12
        val[d > reach] = np.inf  # not a near-tie of the nearest
        best = val.argmin(axis=1)
        at = np.arange(rows.size)
        out[rows] = val[at, best]
        nn[rows] = cand[at, best]
        more = d[:, -1] <= reach[:, 0]  # all k neighbours tied: there may be more
        if k == target.idx.size or not more.any():
            return out, nn
        rows = rows[more]
    # more near-ties than neighbours asked for: take all of them
    for r in rows:
        reach_r = tree.query(xyz[r], k=1)[0] * (1 + 1e-9) + 1e-12
        near = target.idx[np.asarray(tree.query_ball_point(xyz[r], reach_r), dtype=np.int64)]
        v = lattice_distance(coords[r] - unravel_flat(near, shape), spacing)
        b = int(v.argmin())
        out[r], nn[r] = v[b], near[b]
    return out, nn


def _lattice_length(offsets: np.ndarray, spacing: tuple[float, ...]) -> np.ndarray:
    """:func:`lattice_distance` of ``(ndim, n)`` offsets (one row per axis), the same sums in the same order."""
    out = None
    for ax, s in enumerate(spacing):
        o = offsets[ax] * s
        o *= o
        out = o if out is None else np.add(out, o, out=out)
    return np.sqrt(out, out=out)


def voxel_columns(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(ndim, n)`` integer coordinates (one contiguous row per axis) of flat indices into ``shape``.

    32-bit when the crop allows it: numpy divides 32-bit integers by a constant several times
    faster than 64-bit ones.
    """
    dtype = np.int32 if math.prod(shape) < 2**31 else np.int64
    out = np.empty((len(shape), flat.size), dtype=dtype)
    rem = flat.astype(dtype)
    for ax in range(len(shape) - 1):
        stride = math.prod(shape[ax + 1 :])
        np.floor_divide(rem, stride, out=out[ax])
        rem -= out[ax] * stride
    out[-1] = rem
    return out


def unravel_flat(flat: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """``(..., ndim)`` integer coordinates of flat indices into ``shape``."""
    return np.stack(np.unravel_index(flat, shape), axis=-1).astype(np.int64)


def _coords_mm(flat: np.ndarray, shape: tuple[int, ...], spacing: tuple[float, ...]) -> np.ndarray:
    """``(n, ndim)`` voxel-centre coordinates in mm of flat indices into ``shape``."""
    out = np.empty((flat.size, len(shape)), dtype=np.float64)
    rem = flat
    for ax in range(len(shape)):
        if ax < len(shape) - 1:
            coord, rem = np.divmod(rem, math.prod(shape[ax + 1 :]))
        else:
            coord = rem
        np.multiply(coord, spacing[ax], out=out[:, ax])
    return out
