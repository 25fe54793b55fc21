"""Surface-distance metrics: HD95, average symmetric surface distance, normalised surface Dice.

Definitions (the same as MONAI's ``HausdorffDistanceMetric``, ``SurfaceDistanceMetric`` and
``SurfaceDiceMetric`` with ``use_subvoxels=False``, which is what these functions are tested
against):

* The **surface** of a mask is the set of its voxels that a binary erosion with the
  face-connected cross (6-neighbourhood in 3-D, 4 in 2-D) removes, i.e.
  ``mask & ~binary_erosion(mask)``; voxels on the image border count as surface because
  outside the image is background (``border_value=0``). This is MONAI's ``get_mask_edges``
  without sub-voxel areas. It is *not* the surfel-area definition of DeepMind's
  ``surface_distance`` package (used by the BraTS 2023 evaluation code), so values can differ
  from that package by a fraction of a voxel.
* The distance of a surface voxel is the exact Euclidean distance in mm (voxel centres,
  anisotropic spacing honoured) to the nearest surface voxel of the other mask.
* ``HD_p = max(P_p(d(pred -> gt)), P_p(d(gt -> pred)))`` where ``P_p`` is the *p*-th
  percentile with linear interpolation (``numpy.percentile`` default, ``torch.quantile``).
* ``ASSD`` is the mean over the distances of both directions pooled together
  (``(sum d_pg + sum d_gp) / (n_p + n_g)``).
* ``NSD`` at tolerance ``tau`` is ``(#{d_pg <= tau} + #{d_gp <= tau}) / (n_p + n_g)``.

How it is fast: both masks are cropped to the bounding box of their union (plus a small zero
margin) before anything else; surfaces come from six shifted ANDs on that crop; the nearest
distance of each surface voxel is found by walking lattice offsets in increasing order of their
length in mm (exact: the first offset that lands on the other surface is the nearest one), and
the few voxels still unresolved after a short radius are answered by a k-d tree over the other
surface. Coinciding surface voxels (the common case for a good segmentation, and for all voxels a
brush stroke did not touch) resolve at the first, zero-length offset.

Every distance is computed by one formula from the integer voxel offset ``o`` to the nearest voxel,
``sqrt(((o0 s0)^2 + (o1 s1)^2) + (o2 s2)^2)`` (the lattice walk's table), and it is the smallest
value of that formula over the other surface: the k-d tree's answers are re-evaluated with it
(near-ties included), so a voxel gets the same distance whichever path resolves it. That is what
lets a live update recompute only the voxels near an edit and still give, bit for bit, the values
of a computation from scratch.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ._arrays import as_mask, as_spacing, bounding_box, check_pair, crop_padded, union_box

__all__ = [
    "MaskSurface",
    "SurfaceDistances",
    "assd",
    "hausdorff95",
    "hausdorff_distance",
    "mask_surface",
    "nsd",
    "pair_hausdorff",
    "percentile_need",
    "surface_distances",
]

#: Upper bound on the number of lattice offsets walked before handing over to the k-d tree.
_MAX_OFFSETS = 2200
#: Offsets of the short ring whose margin :func:`ring_pad` gives (crops of the table and live states).
_SHORT_OFFSETS = 400
# Rough costs (seconds) used only to decide when the k-d tree is cheaper than more offsets.
_COST_ITER = 6e-6  # Python overhead of one offset step
_COST_GATHER = 2.5e-9  # one gather per voxel per offset
_COST_TREE_POINT = 1.2e-7  # building the tree, per target voxel
_COST_QUERY = 1e-6  # one k-d tree query
_BLOCK = 1 << 16  # voxels x offsets gathered at once to finish the walk
_BLOCK_FINISH = 1 << 20  # at most this many, the rest of the walk is one gather rather than the tree
_PARK = 4  # resolved voxels are dropped from the walk once they are more than 1/_PARK of it


def mask_surface(mask: np.ndarray) -> np.ndarray:
    """Surface voxels of a binary mask: those removed by one face-connected binary erosion.

    Parameters
    ----------
    mask
        2-D or 3-D boolean (or 0/1) array.

    Returns
    -------
    numpy.ndarray
        Boolean array of the same shape; equal to ``mask ^ scipy.ndimage.binary_erosion(mask)``
        (image border treated as background).
    """
    m = as_mask(mask, what="mask")
    return surface_voxels(m)


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
    sub_shape = sub.shape
    flat = np.zeros(idx.size, dtype=np.int64)
    rem = idx
    for ax in range(m.ndim):
        inner = math.prod(sub_shape[ax + 1 :])
        coord, rem = np.divmod(rem, inner) if ax < m.ndim - 1 else (rem, None)
        flat += (coord + sl[ax].start) * math.prod(m.shape[ax + 1 :])
    return flat


@functools.lru_cache(maxsize=64)
def _ring(spacing: tuple[float, ...]) -> tuple[np.ndarray, np.ndarray, float, tuple[int, ...], tuple[int, ...],
                                               np.ndarray]:
    """Lattice offsets sorted by length in mm, the radius, the half-widths, the tiers and their half-widths.

    The radius is the largest multiple (1 to 8) of the finest voxel size whose ball holds at most
    :data:`_MAX_OFFSETS` offsets (always at least the first multiple). Tier ``k`` ends after the
    offsets no longer than ``(k + 1)`` times the finest voxel size: the walk decides at each tier
    whether going on is cheaper than a k-d tree.
    """
    sp = np.asarray(spacing, dtype=float)
    smin = float(sp.min())
    chosen: tuple[np.ndarray, np.ndarray, float, tuple[int, ...]] | None = None
    for k in range(1, 9):
        radius = k * smin * (1 + 1e-9)
        half = tuple(int(math.floor(radius / s)) for s in spacing)
        grids = np.meshgrid(*[np.arange(-h, h + 1) for h in half], indexing="ij")
        offs = np.stack([g.ravel() for g in grids], axis=1)
        dist = np.sqrt(((offs * sp) ** 2).sum(axis=1))
        keep = dist <= radius
        if chosen is not None and int(keep.sum()) > _MAX_OFFSETS:
            break
        order = np.argsort(dist[keep], kind="stable")
        chosen = (offs[keep][order], dist[keep][order], radius, half)
    offs, dist, radius, half = chosen  # type: ignore[misc]
    n_tiers = int(round(radius / smin / (1 + 1e-9)))
    tiers = tuple(int(np.searchsorted(dist, (t + 1) * smin * (1 + 1e-9), side="right")) for t in range(n_tiers))
    halves = np.array([np.abs(offs[:t]).max(axis=0) for t in tiers], dtype=np.int64)
    return offs, dist, radius, half, tiers, halves


def _tier_halves(spacing: tuple[float, ...]) -> np.ndarray:
    """``(n_tiers, ndim)``: the largest ``|offset|`` per axis among the offsets of tiers ``0..t``."""
    return _ring(spacing)[5]


def _full_span(spacing: tuple[float, ...], shape: tuple[int, ...]) -> int:
    """The largest flat step of the whole ring on a crop of ``shape``."""
    strides = np.array([math.prod(shape[i + 1 :]) for i in range(len(shape))], dtype=np.int64)
    return int(np.abs(_ring(spacing)[0] @ strides).max())


def ring_pad(spacing: tuple[float, ...], *, full: bool = False) -> tuple[int, ...]:
    """Zero margin (voxels per axis) around the foreground of a crop for the offset walk.

    With this margin the walk can use its short ring (at most 400 offsets; the tiers beyond it are
    skipped and the k-d tree answers instead); ``full``: the whole ring (at most 2200 offsets), for
    pairs whose distances are mostly a few voxels (one HD95 on its own). Any margin gives exact
    distances: the walk only uses the tiers that stay inside the crop.
    """
    sp = tuple(float(s) for s in spacing)
    halves = _tier_halves(sp)
    if full:
        return tuple(int(h) + 1 for h in halves[-1])
    tiers = _ring(sp)[4]
    t = max(1, sum(1 for n in tiers if n <= _SHORT_OFFSETS))
    return tuple(int(h) + 1 for h in halves[t - 1])


def _usable_offsets(src: np.ndarray, shape: tuple[int, ...], spacing: tuple[float, ...],
                    box: tuple[tuple[int, int], ...] | None = None) -> int:
    """How many of the ring's offsets keep every voxel of ``src`` inside the crop (whole tiers).

    An offset that leaves the crop along one axis would wrap into another row of the flat array.
    ``box``: a half-open box known to hold every voxel of ``src`` (else it is found here).
    """
    if src.size == 0:
        return 0
    if box is not None:
        lo = np.array([b0 for b0, _ in box])
        hi = np.array([b1 - 1 for _, b1 in box])
    else:
        coords = np.unravel_index(src, shape)
        lo = np.array([int(c.min()) for c in coords])
        hi = np.array([int(c.max()) for c in coords])
    room = np.minimum(lo, np.asarray(shape) - 1 - hi)  # voxels between ``src`` and the crop's border
    fits = (_tier_halves(spacing) <= room).all(axis=1)
    n_fit = int(np.argmin(fits)) if not fits.all() else fits.size  # tiers fit from the first on
    return _ring(spacing)[4][n_fit - 1] if n_fit else 0


class MaskSurface:
    """Surface voxels of one zero-padded crop mask, plus what the distance search can reuse.

    The guarded flat copy of the surface and the k-d tree over it are built on first use and kept,
    so a reference mask that does not change (live editing of a prediction) is prepared once.

    Parameters
    ----------
    mask
        Boolean crop with a zero margin of at least :func:`ring_pad` voxels.
    spacing
        Voxel size in mm per axis.
    """

    def __init__(self, mask: np.ndarray, spacing: tuple[float, ...]) -> None:
        self.shape = tuple(mask.shape)
        self.spacing = tuple(float(s) for s in spacing)
        #: bounding box of the mask, hence of its surface (None when empty)
        self.box = bounding_box(mask)
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

    def tree(self) -> Any:
        """A k-d tree over the surface voxel centres in mm."""
        if self._tree is None:
            from scipy.spatial import cKDTree

            self._tree = cKDTree(_coords_mm(self.idx, self.shape, self.spacing), leafsize=32,
                                 balanced_tree=False, compact_nodes=False, copy_data=False)
        return self._tree


def nearest_surface_distances(src: np.ndarray, target: MaskSurface, *, want_nn: bool = False,
                              need: int | None = None, defer: bool = False,
                              src_box: tuple[tuple[int, int], ...] | None = None) -> Any:
    """Distance in mm from each flat index in ``src`` to the nearest surface voxel of ``target``.

    ``target`` must be non-empty. Exact: offsets are visited in increasing length, so the first
    one that lands on the target surface gives the nearest distance; voxels still unresolved when
    a k-d tree over the target becomes cheaper than more offsets are answered by the tree (see
    :func:`_tree_nearest`). With ``want_nn`` also returns, per voxel, the flat index of a target
    voxel at that distance.

    ``need``: only the ``need`` smallest distances are wanted (a percentile, see
    :func:`percentile_need`). The walk stops as soon as at least ``need`` voxels are resolved; since
    offsets come in increasing length, every voxel left has a distance at least as large as every
    resolved one, and it gets ``inf``. When many voxels are left to the k-d tree, only some are
    measured (:class:`_Selection`); with ``defer`` the measuring is then left to the caller (a
    :class:`_Pending` is returned). Either way the sorted array holds the true sorted distances at
    positions ``need - 3`` to ``need - 1``, where the percentile reads them.

    ``src_box``: a box known to hold every voxel of ``src`` (e.g. :attr:`MaskSurface.box`), which
    saves finding it.
    """
    spacing = target.spacing
    offsets, dists, _, _, tiers, _ = _ring(spacing)
    shape = target.shape
    usable = _usable_offsets(src, shape, spacing, src_box)
    offsets, dists = offsets[:usable], dists[:usable]
    tiers = tuple(t for t in tiers if t <= usable)
    strides = np.array([math.prod(shape[i + 1 :]) for i in range(len(shape))], dtype=np.int64)
    flat_offsets = offsets @ strides
    # the guard is sized for the whole ring, so that it is built once per target surface
    span = _full_span(spacing, shape)
    # the target between zero guards: a resolved voxel is parked at ``sentinel`` where no offset
    # can reach a True voxel, so it need not be removed from the arrays at every step
    tflat = target.guarded(span)
    sentinel = math.prod(shape) + span
    n = src.size
    out = np.empty(n, dtype=np.float64)
    nn = np.empty(n, dtype=np.int64) if want_nn else None
    todo = np.arange(n)
    pts = src.astype(np.int64, copy=True)
    n_off = flat_offsets.size
    tree_cost = 0.0 if target._tree is not None else _COST_TREE_POINT * target.idx.size
    live = n  # unresolved voxels
    parked = 0  # resolved voxels still in ``pts``
    stop = n + 1 if need is None else max(int(need), 0)  # resolved voxels that are enough
    tier_start_live = n
    j = 0
    for t_end in tiers:
        if live == 0 or n - live >= stop:
            break
        if j:
            # go on into the next tier only when walking it is cheaper than the tree for the voxels
            # left, and the last tier resolved a fair share of them (else they are likely far away)
            n_tier = t_end - j
            walk = n_tier * (_COST_ITER + _COST_GATHER * live)
            tree = tree_cost + _COST_QUERY * live
            gained = tier_start_live - live
            if stop > n and live * (n_off - j) <= _BLOCK_FINISH:
                # every distance wanted and few voxels left: the rest of the walk in one gather
                # costs less than any tree (a percentile stops the walk early instead)
                pts, todo = _finish_block(pts, todo, sentinel, parked, tflat[span:], flat_offsets[j:],
                                          dists[j:], out, nn)
                live, parked, j = pts.size, 0, n_off
                break
            if walk > tree or (4 * gained < tier_start_live and stop - (n - live) > gained):
                break
        tier_start_live = live
        while j < t_end:
            if live == 0 or n - live >= stop:
                break
            k = pts.size
            if live * (n_off - j) <= _BLOCK:
                # few voxels left: test all remaining offsets at once, first hit per voxel wins
                pts, todo = _finish_block(pts, todo, sentinel, parked, tflat[span:], flat_offsets[j:],
                                          dists[j:], out, nn)
                live, parked, j = pts.size, 0, n_off
                break
            off = int(flat_offsets[j])
            h = tflat[span + off :][pts]  # the target at pts + off (one gather, no addition)
            j += 1
            c = int(np.count_nonzero(h))
            if c:
                idx = np.flatnonzero(h)
                out[todo[idx]] = dists[j - 1]
                if nn is not None:
                    nn[todo[idx]] = pts[idx] + off
                pts[idx] = sentinel
                live -= c
                parked += c
                if live and _PARK * parked > k:
                    keep = pts != sentinel
                    pts = np.compress(keep, pts)
                    todo = np.compress(keep, todo)
                    parked = 0
    if live == 0:
        return (out, nn) if want_nn else out
    if live and pts.size != live:
        keep = pts != sentinel
        pts = np.compress(keep, pts)
        todo = np.compress(keep, todo)
    if n - live >= stop:
        # every voxel left is farther than the walk reached, which is farther than all resolved ones
        return _left_inf(out, nn, pts, todo, sentinel, want_nn)
    if pts.size:
        if nn is None and stop <= n and pts.size > _SELECT_MIN:
            sel = _Selection(pts, target, stop - (n - live))
            if defer:
                return _Pending(out, todo, sel)
            out[todo] = sel.finish()
            return out
        d, i = _tree_nearest(pts, target)
        out[todo] = d
        if nn is not None:
            nn[todo] = i
    return (out, nn) if want_nn else out


#: Fewest voxels left to the k-d tree for which a percentile measures only some of them.
_SELECT_MIN = 2048
#: Sides of the blocks (voxels per axis) whose representatives are measured, coarse to fine.
_SELECT_BLOCKS = (6, 3)
#: On the first pass, blocks whose upper bound is below the representatives' estimate of the
#: percentile minus this many median block radii keep their block bounds (no voxel-by-voxel bounds).
_SELECT_TAU = 0.5
_SELECT_BATCH = 256  # voxels measured at a time at the end (then the interval is narrowed again)


class _Selection:
    """Distances of ``pts`` whose sorted values are exact at positions ``want - 3`` to ``want - 1``.

    A percentile of many far voxels (surfaces far apart) needs the order statistics, not every
    distance. Coarse to fine (blocks of 6 then 3 voxels per axis), one voxel per block of the
    voxels still undecided (the one nearest to the block's centre) is measured with the k-d tree;
    distance is 1-Lipschitz, so each other voxel ``w`` of the block, with its representative ``v``
    and ``v``'s nearest target voxel ``t``, lies in ``[d(v) - |w - v|, |w - t|]`` (each voxel keeps
    the tightest bounds found); a block whose ``d(v)`` plus the distance from ``v`` to the block's
    farthest corner is below the interval is bounded as a whole, without a bound per voxel.
    The order statistics wanted lie between the ``a``-th smallest lower bound and the ``b``-th
    smallest upper bound ``hi``; only voxels whose bounds meet that interval stay undecided, and
    :meth:`finish` measures them (in batches that narrow the interval). Voxels surely below it get
    their upper bound (still below), voxels surely above get ``inf``: every sorted position from
    ``a`` to ``b`` keeps its true value.
    """

    def __init__(self, pts: np.ndarray, target: MaskSurface, want: int) -> None:
        self.pts, self.target = pts, target
        m = pts.size
        self.b = min(want, m) - 1
        self.a = max(self.b - 2, 0)
        self.coords = unravel_flat(pts, target.shape)
        self.xyz = self.coords * np.asarray(target.spacing, dtype=float)  # voxel centres in mm
        self.lb = np.zeros(m)
        self.ub = np.full(m, np.inf)
        self.exact = np.zeros(m, dtype=bool)
        self.cand = np.arange(m)  # voxels whose bounds still meet the interval
        self.sides = list(_SELECT_BLOCKS)
        #: the ``b``-th smallest upper bound: no order statistic wanted is larger
        self.hi = math.inf
        #: the ``a``-th smallest lower bound: no order statistic wanted is smaller
        self.lo = 0.0
        self.refine()  # the coarsest blocks

    def refine(self) -> bool:
        """Measure the representatives of the next finer blocks; False when there are none left
        (or the blocks would hold too few undecided voxels to spare measurements)."""
        cand, m = self.cand, self.pts.size
        if not self.sides or cand.size < _SELECT_MIN // 4:
            self.sides = []
            return False
        side = self.sides.pop(0)
        shape, sp = self.target.shape, np.asarray(self.target.spacing, dtype=float)
        lb, ub, exact, a, b = self.lb, self.ub, self.exact, self.a, self.b
        c = self.coords if cand.size == m else self.coords[cand]
        reps, inv = _block_representatives(c, side, shape)
        if 2 * reps.size > cand.size:
            self.sides = []
            return False
        d_rep, nn_rep = _tree_nearest(self.pts[cand[reps]], self.target)
        # bounds, widened by a relative 1e-9 against rounding (they only choose who is measured).
        # Block by block first: every voxel of a block lies within ``rho`` (the farthest corner
        # of the block from its representative) of the representative
        rc = c[reps]
        corner = rc - rc % side
        rho = np.sqrt((((np.maximum(rc - corner, corner + (side - 1) - rc)) * sp) ** 2).sum(axis=1))
        lo_b = (d_rep - rho) * (1 - 1e-9) - 1e-9
        hi_b = (d_rep + rho) * (1 + 1e-9) + 1e-9
        lo_c = lo_b[inv]
        hi_c = hi_b[inv]
        # voxel by voxel only in the blocks that may reach the order statistics: not those whose
        # upper bound is below the current lower end of the interval (they are surely below), nor,
        # on the first pass, those well below an estimate of it from the representatives
        tau = self.lo
        if tau <= 0 and _SELECT_TAU is not None:
            counts = np.bincount(inv, minlength=reps.size)
            order = np.argsort(d_rep)
            at = min(int(np.searchsorted(np.cumsum(counts[order]), b + 1)), order.size - 1)
            tau = float(d_rep[order[at]]) - _SELECT_TAU * float(np.median(rho))
        sub = np.flatnonzero(hi_b[inv] >= tau) if tau > 0 else None
        x = self.xyz if cand.size == m else self.xyz[cand]
        if sub is None:
            xs, ri = x, inv
        else:
            xs, ri = x[sub], inv[sub]
        lo_v = d_rep[ri] - _dist_rows(xs, x[reps][ri])
        lo_v *= 1 - 1e-9
        lo_v -= 1e-9
        hi_v = _dist_rows(xs, (unravel_flat(nn_rep, shape) * sp)[ri])
        hi_v *= 1 + 1e-9
        hi_v += 1e-9
        if sub is None:
            lo_c, hi_c = lo_v, hi_v
        else:
            lo_c[sub] = lo_v
            hi_c[sub] = hi_v
        np.maximum(lb[cand], lo_c, out=lo_c)
        np.minimum(ub[cand], hi_c, out=hi_c)
        lb[cand] = lo_c
        ub[cand] = hi_c
        r = cand[reps]
        lb[r] = ub[r] = d_rep
        exact[r] = True
        lo = self.lo = float(np.partition(lb, a)[a])
        self.hi = float(np.partition(ub, b)[b])
        self.cand = cand[(hi_c >= lo) & (lo_c <= self.hi) & ~exact[cand]]
        return True

    def finish(self, floor: float | None = None) -> np.ndarray:
        """The distances (see the class). With ``floor``: as soon as :attr:`hi` is below it, the
        upper bounds only (no order statistic wanted, hence no percentile read from them, can then
        reach ``floor``)."""
        while floor is not None and self.hi >= floor and self.refine():
            pass
        if floor is not None and self.hi < floor:
            return self.ub.copy()
        while self.refine():
            pass
        a, b, lb, ub, exact = self.a, self.b, self.lb, self.ub, self.exact
        pts, target = self.pts, self.target
        while True:
            lo = np.partition(lb, a)[a]
            hi = np.partition(ub, b)[b]
            measure = np.flatnonzero((ub >= lo) & (lb <= hi) & ~exact)
            if measure.size <= _SELECT_BATCH:
                break
            # measured in batches, the widest bounds first: each batch narrows the interval
            batch = measure[np.argpartition(lb[measure] - ub[measure], _SELECT_BATCH)[:_SELECT_BATCH]]
            lb[batch] = ub[batch] = _tree_nearest(pts[batch], target)[0]
            exact[batch] = True
        out = np.full(pts.size, np.inf)
        below = ub < lo
        out[below] = ub[below]
        out[exact] = lb[exact]
        if measure.size:
            out[measure] = _tree_nearest(pts[measure], target)[0]
        return out


@dataclass
class _Pending:
    """Distances of one direction whose farthest voxels are still to be measured:
    ``out[todo] = selection.finish(...)`` completes them."""

    out: np.ndarray
    todo: np.ndarray
    selection: _Selection

    def finish(self, floor: float | None = None) -> np.ndarray:
        self.out[self.todo] = self.selection.finish(floor)
        return self.out


def _block_representatives(coords: np.ndarray, side: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One voxel of each block of ``side`` voxels per axis that holds any of ``coords`` (its row),
    and for each row the position of its block's representative in that list (no sort).

    The representative is a voxel of the block nearest to the block's centre (its bounds are the
    tightest for the block); any voxel of the block would be correct.
    """
    nb = [(n + side - 1) // side for n in shape]
    q, r = np.divmod(coords, side)
    key = q[:, 0]
    for ax in range(1, len(nb)):
        key = key * nb[ax] + q[:, ax]
    centre = ((2 * np.arange(side) - (side - 1)) ** 2).astype(np.int16)  # squared, doubled
    score = centre[r].sum(axis=1, dtype=np.int16)
    best = np.full(math.prod(nb), np.iinfo(np.int16).max, dtype=np.int16)
    np.minimum.at(best, key, score)
    win = np.flatnonzero(score == best[key])
    rep_of = np.empty(best.size, dtype=np.int64)
    rep_of[key[win]] = win  # one of the nearest (whichever write lands)
    blocks = np.flatnonzero(best < np.iinfo(np.int16).max)
    pos = np.empty(best.size, dtype=np.int64)
    pos[blocks] = np.arange(blocks.size)
    return rep_of[blocks], pos[key]


def _dist_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean length of each row of ``x - y`` (``(n, ndim)`` float arrays, in mm)."""
    d = x - y
    d *= d
    out = d.sum(axis=1)
    return np.sqrt(out, out=out)


def _left_inf(out: np.ndarray, nn: np.ndarray | None, pts: np.ndarray, todo: np.ndarray, sentinel: int,
              want_nn: bool) -> Any:
    """Give the voxels still unresolved (not parked at ``sentinel``) the distance ``inf``."""
    left = todo[pts != sentinel]
    out[left] = np.inf
    if nn is not None:
        nn[left] = -1
    return (out, nn) if want_nn else out


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


def _tree_nearest(pts: np.ndarray, target: MaskSurface) -> tuple[np.ndarray, np.ndarray]:
    """Nearest target voxel of each flat index by the k-d tree, with the lattice formula's value.

    The tree measures in floating-point mm; its candidates (every voxel within a relative 1e-9
    of its nearest distance) are re-measured with :func:`lattice_distance` and the smallest value wins,
    so the answer equals the lattice walk's whenever both could answer.
    """
    shape, spacing = target.shape, target.spacing
    tree = target.tree()
    xyz = _coords_mm(pts, shape, spacing)
    coords = unravel_flat(pts, shape)
    if _exact_lattice(spacing, shape):
        i = tree.query(xyz, k=1)[1]
        nn = target.idx[i]
        return lattice_distance(coords - unravel_flat(nn, shape), spacing), nn
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


def _finish_block(
    pts: np.ndarray,
    todo: np.ndarray,
    sentinel: int,
    parked: int,
    tflat: np.ndarray,
    flat_offsets: np.ndarray,
    dists: np.ndarray,
    out: np.ndarray,
    nn: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Resolve the remaining voxels against all remaining offsets in one 2-D gather.

    Returns the voxels (and their output positions) that no offset reached.
    """
    if parked:
        keep = pts != sentinel
        pts = np.compress(keep, pts)
        todo = np.compress(keep, todo)
    if pts.size == 0 or flat_offsets.size == 0:
        return pts, todo
    hit = np.take(tflat, pts[:, None] + flat_offsets[None, :])
    first = hit.argmax(axis=1)
    found = hit[np.arange(pts.size), first].astype(bool)
    out[todo[found]] = dists[first[found]]
    if nn is not None:
        nn[todo[found]] = pts[found] + flat_offsets[first[found]]
    miss = ~found
    return pts[miss], todo[miss]


@dataclass(frozen=True)
class SurfaceDistances:
    """Distances (mm) from each surface voxel of one mask to the other mask's surface.

    Attributes
    ----------
    pred_to_gt
        One distance per prediction surface voxel (C order of the voxels).
    gt_to_pred
        One distance per ground-truth surface voxel.
    """

    pred_to_gt: np.ndarray
    gt_to_pred: np.ndarray

    @property
    def empty(self) -> str | None:
        """``"both"``, ``"pred"``, ``"gt"`` when a surface is empty, else None."""
        p, g = self.pred_to_gt.size == 0, self.gt_to_pred.size == 0
        if p and g:
            return "both"
        if p:
            return "pred"
        if g:
            return "gt"
        return None

    def hausdorff(self, *, percentile: float | None = 95.0) -> float:
        """Symmetric Hausdorff distance (``percentile=None``: maximum), NaN/inf when empty."""
        e = self.empty
        if e == "both":
            return math.nan
        if e is not None:
            return math.inf
        if percentile is None:
            return float(max(self.pred_to_gt.max(), self.gt_to_pred.max()))
        if not 0 <= percentile <= 100:
            raise_percentile(percentile)
        return float(
            max(np.percentile(self.pred_to_gt, percentile), np.percentile(self.gt_to_pred, percentile))
        )

    def average_symmetric(self) -> float:
        """Mean of all distances of both directions (ASSD); NaN/inf when empty."""
        e = self.empty
        if e == "both":
            return math.nan
        if e is not None:
            return math.inf
        total = float(self.pred_to_gt.sum() + self.gt_to_pred.sum())
        return total / (self.pred_to_gt.size + self.gt_to_pred.size)

    def surface_dice(self, *, tolerance_mm: float) -> float:
        """Fraction of both surfaces within ``tolerance_mm`` of the other (NSD); NaN if both empty."""
        n = self.pred_to_gt.size + self.gt_to_pred.size
        if n == 0:
            return math.nan
        ok = np.count_nonzero(self.pred_to_gt <= tolerance_mm) + np.count_nonzero(
            self.gt_to_pred <= tolerance_mm
        )
        return ok / n


def raise_percentile(percentile: Any) -> None:
    """Raise the error for a percentile outside ``[0, 100]``."""
    raise InvalidInputError(f"percentile must be between 0 and 100, got {percentile!r}")


def pair_distances(
    pm: np.ndarray | None,
    gm: np.ndarray | None,
    spacing: tuple[float, ...],
    *,
    pred_surface: MaskSurface | None = None,
    gt_surface: MaskSurface | None = None,
) -> SurfaceDistances:
    """Surface distances of two masks zero-padded by :func:`ring_pad` (internal).

    Precomputed :class:`MaskSurface` objects replace the corresponding mask.
    """
    ps = pred_surface if pred_surface is not None else MaskSurface(pm, spacing)  # type: ignore[arg-type]
    gs = gt_surface if gt_surface is not None else MaskSurface(gm, spacing)  # type: ignore[arg-type]
    if ps.empty or gs.empty:
        return SurfaceDistances(np.full(ps.idx.size, np.inf), np.full(gs.idx.size, np.inf))
    return SurfaceDistances(nearest_surface_distances(ps.idx, gs, src_box=ps.box),
                            nearest_surface_distances(gs.idx, ps, src_box=gs.box))


def pair_hausdorff(pm: np.ndarray, gm: np.ndarray, spacing: tuple[float, ...], *, percentile: float = 95.0) -> float:
    """Percentile Hausdorff distance of two masks zero-padded by :func:`ring_pad` (internal).

    Equal to ``pair_distances(pm, gm, spacing).hausdorff(percentile=percentile)``, but only the
    distances up to the percentile's order statistics are computed (see :func:`percentile_need`).
    """
    ps = MaskSurface(pm, spacing)
    gs = MaskSurface(gm, spacing)
    if ps.empty or gs.empty:
        return SurfaceDistances(np.full(ps.idx.size, np.inf), np.full(gs.idx.size, np.inf)).hausdorff(
            percentile=percentile)
    d_pg = nearest_surface_distances(ps.idx, gs, need=percentile_need(ps.idx.size, percentile), defer=True,
                                     src_box=ps.box)
    d_gp = nearest_surface_distances(gs.idx, ps, need=percentile_need(gs.idx.size, percentile), defer=True,
                                     src_box=gs.box)
    # far apart: the direction whose percentile may be the larger is measured first; the other one
    # only as far as needed to know that its percentile is not larger (the result is their maximum)
    pending = sorted((d for d in (d_pg, d_gp) if isinstance(d, _Pending)), key=lambda d: -d.selection.hi)
    if not pending:
        return SurfaceDistances(d_pg, d_gp).hausdorff(percentile=percentile)
    done = [d for d in (d_pg, d_gp) if not isinstance(d, _Pending)]
    floor = max((float(np.percentile(d, percentile)) for d in done), default=None)
    for d in pending:
        p = float(np.percentile(d.finish(floor), percentile))
        floor = p if floor is None else max(floor, p)
    return floor  # the larger percentile of the two directions, as SurfaceDistances.hausdorff


def surface_distances(pred: np.ndarray, gt: np.ndarray, *, spacing: object) -> SurfaceDistances:
    """Distances between the surfaces of a predicted and a reference mask.

    Parameters
    ----------
    pred, gt
        Binary masks (bool or 0/1) of the same 2-D or 3-D shape, on the same voxel grid.
    spacing
        Voxel size in mm per array axis (a single number means isotropic).

    Returns
    -------
    SurfaceDistances
        Per-voxel distances of both directions; a direction whose source surface is empty has no
        entries, and when the *other* surface is empty its entries are ``inf``.
    """
    p = as_mask(pred, what="pred")
    g = as_mask(gt, what="gt")
    check_pair(p, g)
    sp = as_spacing(spacing, p.ndim)
    box = union_box(bounding_box(p), bounding_box(g))
    if box is None:
        return SurfaceDistances(np.empty(0), np.empty(0))
    pad = ring_pad(sp)
    return pair_distances(crop_padded(p, box, pad), crop_padded(g, box, pad), sp)


def hausdorff_distance(
    pred: np.ndarray, gt: np.ndarray, *, spacing: object, percentile: float | None = None
) -> float:
    """Symmetric (percentile) Hausdorff distance in mm between the surfaces of two masks.

    Parameters
    ----------
    pred, gt
        Binary masks of the same shape.
    spacing
        Voxel size in mm per array axis.
    percentile
        ``None`` for the maximum; e.g. ``95`` for HD95 (linear interpolation, as numpy/MONAI).

    Returns
    -------
    float
        Distance in mm; ``inf`` when exactly one mask is empty and NaN when both are (the
        convention-aware table in :func:`~napari_medai.core.metrics.compute_table` replaces these
        by the rule of the chosen convention).
    """
    if percentile is not None and not 0 <= float(percentile) <= 100:
        raise_percentile(percentile)
    if percentile is None:
        return surface_distances(pred, gt, spacing=spacing).hausdorff(percentile=None)
    p = as_mask(pred, what="pred")
    g = as_mask(gt, what="gt")
    check_pair(p, g)
    sp = as_spacing(spacing, p.ndim)
    box_p, box_g = bounding_box(p), bounding_box(g)
    if box_p is None or box_g is None:
        return math.nan if box_p is None and box_g is None else math.inf
    pad = ring_pad(sp, full=True)
    box = union_box(box_p, box_g)
    # only the distances up to the percentile's two order statistics are computed (the rest is
    # ``inf``, which sorts after them), so the far tail of a pair costs nothing
    return pair_hausdorff(crop_padded(p, box, pad), crop_padded(g, box, pad), sp, percentile=float(percentile))


def percentile_need(n: int, percentile: float) -> int:
    """How many of the smallest of ``n`` values decide their ``percentile`` (linear interpolation).

    ``numpy.percentile`` reads the sorted values at ``floor(i)`` and ``floor(i) + 1`` where
    ``i = q (n - 1)``; one more is counted against rounding of ``i``.
    """
    return min(int(math.floor(percentile / 100.0 * (n - 1))) + 3, n)


def hausdorff95(pred: np.ndarray, gt: np.ndarray, *, spacing: object) -> float:
    """95th-percentile symmetric Hausdorff distance in mm (MONAI ``percentile=95``).

    See :func:`hausdorff_distance` for the empty-mask values.
    """
    return hausdorff_distance(pred, gt, spacing=spacing, percentile=95.0)


def assd(pred: np.ndarray, gt: np.ndarray, *, spacing: object) -> float:
    """Average symmetric surface distance in mm (MONAI ``SurfaceDistanceMetric(symmetric=True)``).

    ``inf`` when exactly one mask is empty, NaN when both are.
    """
    return surface_distances(pred, gt, spacing=spacing).average_symmetric()


def nsd(pred: np.ndarray, gt: np.ndarray, *, spacing: object, tolerance_mm: float) -> float:
    """Normalised surface Dice at ``tolerance_mm`` (MONAI ``SurfaceDiceMetric``, voxel surfaces).

    Parameters
    ----------
    pred, gt
        Binary masks of the same shape.
    spacing
        Voxel size in mm per array axis.
    tolerance_mm
        A surface voxel counts as agreeing when the other surface is at most this far (mm).

    Returns
    -------
    float
        In ``[0, 1]``; 0 when exactly one mask is empty, NaN when both are.
    """
    tol = check_tolerance(tolerance_mm)
    return surface_distances(pred, gt, spacing=spacing).surface_dice(tolerance_mm=tol)


def check_tolerance(tolerance_mm: object) -> float:
    try:
        tol = float(tolerance_mm)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"tolerance_mm must be a number of mm, got {tolerance_mm!r}") from exc
    if not (np.isfinite(tol) and tol >= 0):
        raise InvalidInputError(f"tolerance_mm must be finite and >= 0, got {tolerance_mm!r}")
    return tol
