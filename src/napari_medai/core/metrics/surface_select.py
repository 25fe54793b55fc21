"""The order statistics of many far distances, measuring only some of them (exact).

A percentile of the distances of many voxels far from the other surface (surfaces far apart)
needs two order statistics, not every distance: :class:`PercentileSelection` bounds the distances
coarse to fine from a few measured voxels (distance is 1-Lipschitz) and measures with the k-d tree
(:func:`.surface_grid.tree_nearest`) only the voxels whose bounds meet the interval where the order
statistics lie.
"""

from __future__ import annotations

import math

import numpy as np

from .surface_grid import MaskSurface, tree_nearest, unravel_flat

__all__ = ["PercentileSelection", "percentile_need"]

#: Fewest voxels left to the k-d tree for which a percentile measures only some of them.
_SELECT_MIN = 2048
#: Sides of the blocks (voxels per axis) whose representatives are measured, coarse to fine.
_SELECT_BLOCKS = (6, 3)
#: On the first pass, blocks whose upper bound is below the representatives' estimate of the
#: percentile minus this many median block radii keep their block bounds (no voxel-by-voxel bounds).
_SELECT_TAU = 0.5
_SELECT_BATCH = 256  # voxels measured at a time at the end (then the interval is narrowed again)


class PercentileSelection:
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
        if m <= _SELECT_MIN:  # few voxels: measuring them all costs less than bounding them
            self.lb[:] = self.ub[:] = tree_nearest(pts, target)[0]
            self.exact[:] = True
            self.cand = self.cand[:0]
            self.sides = []
            self.lo = float(np.partition(self.lb, self.a)[self.a])
            self.hi = float(np.partition(self.ub, self.b)[self.b])
            return
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
        d_rep, nn_rep = tree_nearest(self.pts[cand[reps]], self.target)
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
            lb[batch] = ub[batch] = tree_nearest(pts[batch], target)[0]
            exact[batch] = True
        out = np.full(pts.size, np.inf)
        below = ub < lo
        out[below] = ub[below]
        out[exact] = lb[exact]
        if measure.size:
            out[measure] = tree_nearest(pts[measure], target)[0]
        return out


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


def percentile_need(n: int, percentile: float) -> int:
    """How many of the smallest of ``n`` values decide their ``percentile`` (linear interpolation).

    ``numpy.percentile`` reads the sorted values at ``floor(i)`` and ``floor(i) + 1`` where
    ``i = q (n - 1)``; one more is counted against rounding of ``i``.
    """
    return min(int(math.floor(percentile / 100.0 * (n - 1))) + 3, n)
