"""Nearest-surface distances by a walk over lattice offsets in increasing length (exact).

The nearest distance of each source voxel is found by walking lattice offsets in increasing order
of their length in mm: the first offset that lands on the other surface is the nearest one.
Coinciding surface voxels (the common case for a good segmentation, and for all voxels a brush
stroke did not touch) resolve at the first, zero-length offset. The voxels still unresolved when a
k-d tree over the other surface becomes cheaper than more offsets are answered by the tree
(:func:`.surface_grid.tree_nearest`), which gives the same values (one distance formula).

A percentile needs only the smallest distances: :func:`nearest_smallest` stops the walk as soon as
enough voxels are resolved and leaves the rest to the caller (see :mod:`.surface_select`).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np

from .surface_grid import MaskSurface, tree_nearest

__all__ = ["nearest_smallest", "nearest_surface_distances", "ring_pad"]

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


def nearest_surface_distances(src: np.ndarray, target: MaskSurface, *, want_nn: bool = False,
                              src_box: tuple[tuple[int, int], ...] | None = None) -> Any:
    """Distance in mm from each flat index in ``src`` to the nearest surface voxel of ``target``.

    ``target`` must be non-empty. Exact: offsets are visited in increasing length, so the first
    one that lands on the target surface gives the nearest distance; voxels still unresolved when
    a k-d tree over the target becomes cheaper than more offsets are answered by the tree
    (:func:`.surface_grid.tree_nearest`). With ``want_nn`` also returns, per voxel, the flat index
    of a target voxel at that distance.

    ``src_box``: a box known to hold every voxel of ``src`` (e.g. :attr:`MaskSurface.box`), which
    saves finding it.
    """
    out, nn, pts, todo = _walk(src, target, want_nn=want_nn, stop=src.size + 1, src_box=src_box)
    if pts.size:
        d, i = tree_nearest(pts, target)
        out[todo] = d
        if nn is not None:
            nn[todo] = i
    return (out, nn) if want_nn else out


def nearest_smallest(src: np.ndarray, target: MaskSurface, *, need: int,
                     src_box: tuple[tuple[int, int], ...] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The walk of :func:`nearest_surface_distances`, stopped once ``need`` voxels are resolved.

    Returns ``(out, todo, pts)``: ``out`` holds the distances of the resolved voxels; ``pts``
    (flat indices) are the voxels left, at positions ``todo`` of ``out``. Since offsets come in
    increasing length, every voxel left is at least as far as every resolved one. When at least
    ``need`` voxels are resolved, the voxels left get ``inf`` and ``pts`` is empty; otherwise the
    ``need`` smallest distances are the resolved ones and the smallest of the voxels left.
    """
    out, _, pts, todo = _walk(src, target, want_nn=False, stop=max(int(need), 0), src_box=src_box)
    if src.size - pts.size >= need:
        out[todo] = np.inf
        return out, todo[:0], pts[:0]
    return out, todo, pts


def _walk(src: np.ndarray, target: MaskSurface, *, want_nn: bool, stop: int,
          src_box: tuple[tuple[int, int], ...] | None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Walk the ring until every voxel, or ``stop`` of them, is resolved, or the tree is cheaper.

    Returns ``(out, nn, pts, todo)``: the distances (and nearest voxels) of the resolved voxels,
    and the unresolved flat indices ``pts`` with their positions ``todo`` in ``out``.
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
    tree_cost = 0.0 if target.has_tree else _COST_TREE_POINT * target.idx.size
    live = n  # unresolved voxels
    parked = 0  # resolved voxels still in ``pts``
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
                idx = np.flatnonzero(h.view(bool))  # 0/1 bytes: nonzero is faster on bool
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
    if pts.size != live:
        keep = pts != sentinel
        pts = np.compress(keep, pts)
        todo = np.compress(keep, todo)
    return out, nn, pts, todo


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
