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

from .surface_grid import MaskSurface, tree_nearest, voxel_columns

__all__ = ["PercentileSelection", "block_representatives", "percentile_need"]

#: Fewest voxels left to the k-d tree for which a percentile measures only some of them.
_SELECT_MIN = 2048
#: Sides of the blocks (voxels per axis) whose representatives are measured, coarse to fine.
_SELECT_BLOCKS = (6, 3)
_SELECT_BATCH = 256  # voxels measured at a time at the end (then the interval is narrowed again)


class PercentileSelection:
    """Distances of ``pts`` whose sorted values are exact at positions ``want - 3`` to ``want - 1``.

    A percentile of many far voxels (surfaces far apart) needs the order statistics, not every
    distance. Coarse to fine (blocks of 6 then 3 voxels per axis), one voxel per block of the
    voxels still undecided (the one nearest to the block's centre) is measured with the k-d tree;
    distance is 1-Lipschitz, so each other voxel ``w`` of the block, with its representative ``v``
    and ``v``'s nearest target voxel ``t``, lies in ``[d(v) - |w - v|, |w - t|]`` (each voxel keeps
    the tightest bounds found). The order statistics wanted lie between the ``a``-th smallest lower
    bound :attr:`lo` and the ``b``-th smallest upper bound :attr:`hi`; a voxel whose upper bound is
    below that interval is *below* (it keeps its upper bound, still below), one whose lower bound is
    above it is *above* (``inf``), and only the voxels between (the candidates) are bounded further;
    :meth:`finish` measures the last of them (in batches that narrow the interval: first those whose
    bounds straddle :attr:`hi`, which is close to the order statistic because upper bounds are
    nearly exact). Every sorted position from ``a`` to ``b`` keeps its true value.

    Only the candidates are carried from pass to pass: the voxels below are counted (``a`` and
    ``b`` are ranks among the candidates once they are subtracted), the voxels above forgotten.
    Coordinates are kept one row per axis (contiguous columns), which numpy handles several times
    faster than ``(n, 3)`` rows.
    """

    def __init__(self, pts: np.ndarray, target: MaskSurface, want: int) -> None:
        self.pts, self.target = pts, target
        m = pts.size
        self.b = min(want, m) - 1
        self.a = max(self.b - 2, 0)
        #: the result: exact distances, upper bounds of the voxels below, ``inf`` above
        self.val = np.full(m, np.inf)
        self.n_below = 0  # voxels surely below the interval
        #: the ``a``-th smallest lower bound: no order statistic wanted is smaller
        self.lo = 0.0
        #: the ``b``-th smallest upper bound: no order statistic wanted is larger
        self.hi = math.inf
        if m <= _SELECT_MIN:  # few voxels: measuring them all costs less than bounding them
            d = tree_nearest(pts, target)[0]
            self.val = d
            self.cand = np.zeros(0, dtype=np.int64)  # no candidates: every value is exact
            self.clb = self.cub = np.zeros(0)
            self.cex = np.zeros(0, dtype=bool)
            self.sides: list[int] = []
            self.lo = float(np.partition(d, self.a)[self.a])
            self.hi = float(np.partition(d, self.b)[self.b])
            return
        self.grid = voxel_columns(pts, target.shape)  # (ndim, m) voxel coordinates
        self.mm = self.grid * np.asarray(target.spacing, dtype=float)[:, None]  # voxel centres in mm
        self.cand = np.arange(m)  # the candidates (positions in ``pts``), with their bounds
        self.clb = np.zeros(m)
        self.cub = np.full(m, np.inf)
        self.cex = np.zeros(m, dtype=bool)  # measured exactly
        self.sides = list(_SELECT_BLOCKS)
        self.refine()  # the coarsest blocks

    def refine(self) -> bool:
        """Measure the representatives of the next finer blocks; False when there are none left
        (or the blocks would hold too few undecided voxels to spare measurements)."""
        if not self.sides:
            return False
        open_ = np.flatnonzero(~self.cex)  # candidates not measured (positions in ``cand``)
        if open_.size < _SELECT_MIN // 4:
            self.sides = []
            return False
        side = self.sides.pop(0)
        first = open_.size == self.pts.size  # every voxel still open: no gathers needed
        sel = self.cand[open_]
        grid = self.grid if first else self.grid[:, sel]
        reps, inv = block_representatives(grid, side, self.target.shape)
        if 2 * reps.size > sel.size:
            self.sides = []
            return False
        at = sel[reps]
        d_rep, nn_rep = tree_nearest(self.pts[at], self.target)
        # bounds, widened by a relative 1e-9 against rounding (they only choose who is measured)
        x = self.mm if first else self.mm[:, sel]
        lo_v = _dist_columns(x, self.mm[:, at], inv)
        np.subtract(d_rep[inv], lo_v, out=lo_v)
        lo_v *= 1 - 1e-9
        lo_v -= 1e-9
        sp = np.asarray(self.target.spacing, dtype=float)[:, None]
        hi_v = _dist_columns(x, voxel_columns(nn_rep, self.target.shape) * sp, inv)
        hi_v *= 1 + 1e-9
        hi_v += 1e-9
        clb, cub = self.clb, self.cub
        if first:  # nothing was bounded before
            self.clb, self.cub = clb, cub = lo_v, hi_v
        else:
            clb[open_] = np.maximum(clb[open_], lo_v, out=lo_v)
            cub[open_] = np.minimum(cub[open_], hi_v, out=hi_v)
        r = open_[reps]
        clb[r] = cub[r] = d_rep
        self.cex[r] = True
        self._narrow()
        return True

    def _narrow(self) -> None:
        """Find the interval from the candidates' bounds; the voxels outside it leave the candidates."""
        clb, cub = self.clb, self.cub
        ka = self.a - self.n_below
        kb = self.b - self.n_below
        lo = self.lo = float(np.partition(clb, ka)[ka])
        hi = self.hi = float(np.partition(cub, kb)[kb])
        below = cub < lo
        keep = clb <= hi
        n = int(np.count_nonzero(below))
        if n:
            self.val[self.cand[below]] = cub[below]
            self.n_below += n
            keep &= ~below
        if not keep.all():
            self.cand, self.clb, self.cub, self.cex = self.cand[keep], clb[keep], cub[keep], self.cex[keep]

    def finish(self, floor: float | None = None) -> np.ndarray:
        """The distances (see the class). With ``floor``: as soon as :attr:`hi` is below it, upper
        bounds for the candidates (no order statistic wanted, hence no percentile read from them,
        can then reach ``floor``)."""
        while floor is not None and self.hi >= floor and self.refine():
            pass
        if floor is not None and self.hi < floor:
            out = self.val.copy()
            out[self.cand] = self.cub
            return out
        while self.refine():
            pass
        while self.cand.size:
            open_ = np.flatnonzero(~self.cex)
            if open_.size <= _SELECT_BATCH:
                if open_.size:
                    self.clb[open_] = self.cub[open_] = tree_nearest(self.pts[self.cand[open_]], self.target)[0]
                break
            # measured in batches: first the voxels whose bounds straddle :attr:`hi` (upper bounds are
            # nearly exact, so it is close to the order statistic: these are the voxels that keep
            # the interval open), else the widest bounds; each batch narrows the interval
            lb, ub = self.clb[open_], self.cub[open_]
            batch = open_[(lb <= self.hi) & (ub >= self.hi)]
            if batch.size == 0:
                batch = open_[np.argpartition(lb - ub, _SELECT_BATCH)[:_SELECT_BATCH]]
            self.clb[batch] = self.cub[batch] = tree_nearest(self.pts[self.cand[batch]], self.target)[0]
            self.cex[batch] = True
            self._narrow()
        self.val[self.cand] = self.clb
        return self.val


def block_representatives(grid: np.ndarray, side: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """One voxel of each block of ``side`` voxels per axis that holds any of the voxels ``grid``
    (``(ndim, n)`` coordinates; its column), and for each voxel the position of its block's
    representative in that list (no sort).

    The representative is a voxel of the block nearest to the block's centre (its bounds are the
    tightest for the block); any voxel of the block would be correct.
    """
    nb = [(n + side - 1) // side for n in shape]
    centre = ((2 * np.arange(side) - (side - 1)) ** 2).astype(np.int16)  # squared, doubled
    key = score = None
    for ax in range(len(nb)):
        q = grid[ax] // side
        r = grid[ax] - q * side
        key = q if key is None else key * nb[ax] + q
        score = centre[r] if score is None else score + centre[r]
    best = np.full(math.prod(nb), np.iinfo(np.int16).max, dtype=np.int16)
    np.minimum.at(best, key, score)
    win = np.flatnonzero(score == best[key])
    rep_of = np.empty(best.size, dtype=np.int64)
    rep_of[key[win]] = win  # one of the nearest (whichever write lands)
    blocks = np.flatnonzero(best < np.iinfo(np.int16).max)
    pos = np.empty(best.size, dtype=np.int64)
    pos[blocks] = np.arange(blocks.size)
    return rep_of[blocks], pos[key]


def _dist_columns(x: np.ndarray, y: np.ndarray, inv: np.ndarray) -> np.ndarray:
    """Euclidean length of ``x[:, i] - y[:, inv[i]]`` for each column ``i`` (``(ndim, n)`` mm)."""
    out = None
    for ax in range(x.shape[0]):
        d = x[ax] - y[ax][inv]
        d *= d
        out = d if out is None else np.add(out, d, out=out)
    return np.sqrt(out, out=out)


def percentile_need(n: int, percentile: float) -> int:
    """How many of the smallest of ``n`` values decide their ``percentile`` (linear interpolation).

    ``numpy.percentile`` reads the sorted values at ``floor(i)`` and ``floor(i) + 1`` where
    ``i = q (n - 1)``; one more is counted against rounding of ``i``.
    """
    return min(int(math.floor(percentile / 100.0 * (n - 1))) + 3, n)
