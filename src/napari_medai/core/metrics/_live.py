"""State kept between live recomputations of one row of the agreement table (private).

A brush stroke changes a few hundred voxels of the prediction; everything a row of the table
needs from the prediction mask can then be brought up to date near the stroke only:

* :class:`Components` keeps the 26-connected components (8 in 2-D) of a mask. An edit is
  applied by labelling the edited box grown by one voxel and joining, through that small
  labelling, the old components it touches. A component that lost voxels stays one piece when
  its remaining voxels next to the edit are connected there (any old path through the edited box
  can be rerouted through that neighbourhood); a piece that does not reach the window's edge is a
  whole component and gets a new label; otherwise a window of 4, then 16 voxels around the edit
  is tried, and only then is the whole mask labelled again. Merged labels are rewritten in their
  boxes only.
* :class:`LesionCounts` keeps the counts behind the lesion-wise scores, moved with the labels
  and recounted in the window of the edit only.
* :class:`SurfaceState` keeps both surfaces and the distances of both directions (see
  :mod:`~napari_medai.core.metrics.surface`). The prediction's surface changes only within one
  voxel of the edit, so only its voxels there get new distances. A reference-surface voxel is
  asked again only when its nearest prediction-surface voxel was in that neighbourhood, or when
  that neighbourhood is closer to it than its current distance; every other distance is still
  exact.

Both compute distances with the same lattice formula and keep the voxels in C order, so the
table made from them equals the one computed from scratch bit for bit (the tests check this on
random strokes).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from scipy import ndimage as ndi

from ._arrays import bounding_box, changed_box, union_box
from .lesions import reference_lesions
from .surface import SurfaceDistances
from .surface_grid import MaskSurface, lattice_distance, surface_voxels, unravel_flat
from .surface_walk import nearest_surface_distances

Box = tuple[tuple[int, int], ...]
_BIG = np.iinfo(np.int64).max
#: How far (voxels) around an edit the mask is labelled again, tried in turn.
_WINDOWS = (1, 4, 16)


@functools.lru_cache(maxsize=4)
def _full(nd: int) -> np.ndarray:
    return np.ones((3,) * nd, dtype=bool)


def _grow(box: Box, by: int, shape: tuple[int, ...]) -> Box:
    return tuple((max(a - by, 0), min(b + by, n)) for (a, b), n in zip(box, shape))


def _slices(box: Box) -> tuple[slice, ...]:
    return tuple(slice(a, b) for a, b in box)


def _label(mask: np.ndarray) -> tuple[np.ndarray, int]:
    """26-connected components of ``mask``, labelled on its bounding box (int32, full shape)."""
    out = np.zeros(mask.shape, dtype=np.int32)
    box = bounding_box(mask)
    if box is None:
        return out, 0
    sl = _slices(box)
    n = ndi.label(mask[sl], structure=_full(mask.ndim), output=out[sl])
    return out, int(n)


class Components:
    """Connected components of a boolean mask on a fixed frame, kept up to date after edits.

    ``labels`` holds ``1..n`` (every value used, in no particular order) and 0 for background.
    With ``compact=False`` the labels are some of ``1..cap`` instead (``alive`` marks those in
    use, ``n`` counts them): a component that goes leaves its label free for a new one, and no
    other label is rewritten. ``blo``/``bhi`` hold a box (inclusive) around each label's voxels.
    With ``stats`` (compact labels only), also keeps per label (index = label) the voxel count ``sizes``, the sums of
    the voxel coordinates ``sums`` (exact: whole numbers in float64) and the flat index of the
    first voxel in C order ``first`` (what orders :func:`scipy.ndimage.label`'s numbering).
    """

    def __init__(self, mask: np.ndarray, *, stats: bool = False, compact: bool = True) -> None:
        if stats and not compact:
            raise ValueError("Components: stats are kept for compact labels only")
        self.compact = compact
        self.mask = np.array(mask, dtype=bool, copy=True)
        self.labels, self.n = _label(self.mask)
        self._relabelled_all()
        self.relabelled = 0  # how many updates had to label the whole mask again
        self.version = 0
        self.last: tuple[Box, np.ndarray, np.ndarray, np.ndarray | None] | None = None
        self.track = stats
        self.sizes = self.sums = self.first = None
        if stats:
            self._full_stats()

    def _full_stats(self) -> None:
        fg = np.flatnonzero(self.mask)
        which = self.labels.ravel()[fg]
        n = self.n
        self.sizes = np.bincount(which, minlength=n + 1)
        self.sums = np.stack([np.bincount(which, weights=c, minlength=n + 1)
                              for c in np.unravel_index(fg, self.mask.shape)], axis=1)
        self.first = np.full(n + 1, self.mask.size, dtype=np.int64)
        np.minimum.at(self.first, which, fg)

    def _window_stats(self, lab: np.ndarray, where: np.ndarray, near: Box, n: int) -> tuple:
        """Counts, coordinate sums and first flat index of the voxels ``where`` in the window."""
        local = np.flatnonzero(where)
        which = lab.ravel()[local]
        coords = np.unravel_index(local, where.shape)
        shape = self.mask.shape
        flat = np.zeros(local.size, dtype=np.int64)
        cols = []
        for ax, c in enumerate(coords):
            g = c + near[ax][0]
            cols.append(np.bincount(which, weights=g, minlength=n + 1))
            flat += g * math.prod(shape[ax + 1 :])
        first = np.full(n + 1, self.mask.size, dtype=np.int64)
        np.minimum.at(first, which, flat)
        return np.bincount(which, minlength=n + 1), np.stack(cols, axis=1), first

    def update(self, mask: np.ndarray, box: Box | None = None) -> None:
        """Follow ``mask`` (same shape), which differs from the last mask only inside ``box``."""
        if box is None:
            box = changed_box(self.mask, mask)
            if box is None:
                return
        elif any(a >= b for a, b in box):
            return  # nothing changed
        sl = _slices(_grow(box, 1, mask.shape))
        old = self.mask[sl].copy()
        self.mask[sl] = mask[sl]
        self._follow(box, old)

    def edit(self, windows: list[tuple[tuple[slice, ...], np.ndarray]]) -> Box | None:
        """Write the new values ``(slices, boolean window)`` into the held mask and follow them.

        Returns the box of the voxels that changed (None when none did). The held ``mask`` is
        then the edited mask itself (no copy of the whole frame is made).
        """
        box = None
        for sl, win in windows:
            diff = changed_box(self.mask[sl], win)
            if diff is not None:
                box = union_box(box, tuple((a + s.start, b + s.start) for (a, b), s in zip(diff, sl)))
        if box is None:
            return None
        old = self.mask[_slices(_grow(box, 1, self.mask.shape))].copy()
        for sl, win in windows:
            self.mask[sl] = win
        self._follow(box, old)
        return box

    def _follow(self, box: Box, old: np.ndarray) -> None:
        """Bring the labels up to the held mask, which changed inside ``box``; ``old`` is the
        previous mask on ``box`` grown by one voxel.

        The mask is labelled in a window around the edit (``box`` grown by 1, else 4, else 16
        voxels); a window serves when no component that lost voxels is left in two pieces that
        both reach the window's edge (a piece that does not reach it is a whole component). When
        none serves, the whole mask is labelled again. Sets ``last`` to ``(window, old mask there,
        old labels there, lut)`` with ``lut`` the new label of every old label (None when no label
        outside the window changed), or to None when the whole mask was labelled again;
        ``version`` counts the updates.
        """
        self.version += 1
        self.last = None
        shape = self.mask.shape
        near1 = _grow(box, 1, shape)
        full = tuple((0, n) for n in shape)
        for by in _WINDOWS:
            near = _grow(box, by, shape)
            if by == 1:
                old_w = old
            else:
                old_w = self.mask[_slices(near)].copy()
                old_w[tuple(slice(a - c, b - c) for (a, b), (c, _) in zip(near1, near))] = old
            if self._follow_in(near, old_w):
                return
            if near == full:
                break
        self.labels, self.n = _label(self.mask)
        self._relabelled_all()
        self.relabelled += 1
        if self.track:
            self._full_stats()

    def _follow_in(self, near: Box, old: np.ndarray) -> bool:
        """:meth:`_follow` in the window ``near`` (``old``: the previous mask there); False, with
        nothing changed, when the window does not serve."""
        mask = self.mask
        nd = mask.ndim
        sl = _slices(near)
        new = np.ascontiguousarray(mask[sl])
        lab = self.labels[sl]
        n = self.cap  # labels are 1..cap (all live when compact)
        local, n_local = ndi.label(new, structure=_full(nd))
        # local components that reach no edge of the window (but the frame's) are whole components
        enclosed = np.ones(n_local + 1, dtype=bool)
        enclosed[0] = False
        for ax, (a, b) in enumerate(near):
            if a > 0:
                enclosed[np.unique(local.take(0, axis=ax))] = False
            if b < mask.shape[ax]:
                enclosed[np.unique(local.take(-1, axis=ax))] = False
        kept = old & new
        k_old = lab[kept].astype(np.int64)
        k_loc = local[kept].astype(np.int64)
        if k_old.size:
            pairs = np.unique(k_loc * (n + 1) + k_old)
            p_loc, p_old = pairs // (n + 1), pairs % (n + 1)
            reach = ~enclosed[p_loc]
            p_loc, p_old = p_loc[reach], p_old[reach]
        else:
            p_loc = p_old = np.zeros(0, dtype=np.int64)
        lost = np.unique(lab[old & ~new])
        # a component that lost voxels must not be left in two pieces that reach the window's edge
        for k in lost:
            if np.unique(p_loc[p_old == k]).size > 1:
                return False
        old_lab = lab.copy()
        olds_in = np.unique(old_lab[old])
        if self.track:
            # take the window's old voxels out of the statistics (put back below, relabelled)
            o_size, o_sums, _ = self._window_stats(lab, old, near, n)
            # labels whose first voxel lies in the window: found again from the window's new
            # voxels when all their voxels are there, else from all voxels (rare)
            hit = np.zeros(n + 1, dtype=bool)
            hit[1:] = _in_box(self.first[1:], near, self.mask.shape)
            recount = bool((hit & (o_size < self.sizes)).any())
        # join the old components that one local component touches
        parent: dict[int, int] = {}

        def find(a: int) -> int:
            while parent.get(a, a) != a:
                a = parent[a]
            return a

        order = np.argsort(p_loc, kind="stable")
        p_loc, p_old = p_loc[order], p_old[order]
        starts = np.searchsorted(p_loc, np.arange(1, n_local + 2))
        to_label = np.zeros(n_local + 1, dtype=np.int64)
        fresh = []
        for c in range(1, n_local + 1):
            olds = p_old[starts[c - 1] : starts[c]]
            if olds.size == 0:  # a whole component in the window: a new label
                fresh.append(c)
                continue
            root = find(int(olds[0]))
            for o in olds[1:]:
                r = find(int(o))
                if r != root:
                    # the label with the smaller box joins the other: its voxels are relabelled
                    keep, join = (root, r) if self._box_size(root) >= self._box_size(r) else (r, root)
                    parent[join] = keep
                    root = keep
            to_label[c] = root
        for c in range(1, n_local + 1):
            if to_label[c]:
                to_label[c] = find(int(to_label[c]))
        # new components take free labels first (not compact: labels of components gone earlier)
        free_slots = [] if self.compact else (np.flatnonzero(~self.alive[1:]) + 1).tolist()
        n_all = n
        for i, c in enumerate(fresh):
            if i < len(free_slots):
                to_label[c] = free_slots[i]
            else:
                n_all += 1
                to_label[c] = n_all
        lab[...] = to_label[local]
        fresh_labels = to_label[fresh] if fresh else np.zeros(0, dtype=np.int64)
        merged = [a for a in parent if parent[a] != a]
        if self.track:
            sizes = np.zeros(n_all + 1, dtype=np.int64)
            sizes[: n + 1] = self.sizes - o_size
            sums = np.zeros((n_all + 1, nd))
            sums[: n + 1] = self.sums - o_sums
            first = np.full(n_all + 1, self.mask.size, dtype=np.int64)
            first[: n + 1] = np.where(hit, self.mask.size, self.first)
            for a in merged:
                r = find(a)
                sizes[r] += sizes[a]
                sums[r] += sums[a]
                first[r] = min(first[r], first[a])
                sizes[a] = 0
                sums[a] = 0
                first[a] = self.mask.size
            a_size, a_sums, a_first = self._window_stats(lab, new, near, n_all)
            sizes += a_size
            sums += a_sums
            np.minimum(first, a_first, out=first)
        # old labels of the window that no component reaching its edge carries on: all their
        # voxels were in the window, now in whole components with new labels (or erased)
        roots = {int(to_label[c]) for c in range(1, n_local + 1) if not enclosed[c]}
        gone = set(merged) | {int(k) for k in olds_in if k and int(k) not in parent and int(k) not in roots}
        # boxes: fresh labels start empty; every label in the window now holds (a superset of) it
        if n_all > n:
            self.blo = np.concatenate([self.blo, np.full((n_all - n, nd), _BIG, dtype=np.int64)])
            self.bhi = np.concatenate([self.bhi, np.full((n_all - n, nd), -1, dtype=np.int64)])
            self.alive = np.concatenate([self.alive, np.zeros(n_all - n, dtype=bool)])
        self.blo[fresh_labels] = _BIG
        self.bhi[fresh_labels] = -1
        self.alive[fresh_labels] = True
        in_win = np.unique(lab[new])
        win_lo = np.array([a for a, _ in near], dtype=np.int64)
        win_hi = np.array([b - 1 for _, b in near], dtype=np.int64)
        self.blo[in_win] = np.minimum(self.blo[in_win], win_lo)
        self.bhi[in_win] = np.maximum(self.bhi[in_win], win_hi)
        if not gone:
            self.cap = n_all
            self.n = int(np.count_nonzero(self.alive))
            self.last = (near, old, old_lab, None)
            if self.track:
                self.sizes, self.sums, self.first = sizes, sums, first
                if recount:
                    self._full_stats()
            return True
        # merged or vanished labels leave gaps. Compact: the labels above the new count move into
        # them; not compact: the gaps stay (free for new components). Only the voxels of merged and
        # moved labels are relabelled (found in their boxes)
        root_of = np.arange(n_all + 1, dtype=np.int64)
        for a in merged:
            root_of[a] = find(a)
            r = root_of[a]
            self.blo[r] = np.minimum(self.blo[r], self.blo[a])
            self.bhi[r] = np.maximum(self.bhi[r], self.bhi[a])
        if not self.compact:
            lut = root_of
            lut[[k for k in gone if k not in parent]] = 0  # vanished
            for x in merged:
                box = tuple(slice(int(a), int(b) + 1) for a, b in zip(self.blo[x], self.bhi[x]))
                sub = self.labels[box]
                sub[sub == x] = lut[x]  # ``sub`` is a view of the labels; roots are never merged
            gone_l = list(gone)
            self.alive[gone_l] = False
            self.blo[gone_l] = _BIG
            self.bhi[gone_l] = -1
            self.cap = n_all
            self.n = int(np.count_nonzero(self.alive))
            self.last = (near, old, old_lab, lut[: n + 1])
            return True
        alive = np.ones(n_all + 1, dtype=bool)
        alive[0] = False
        alive[list(gone)] = False
        n_new = int(alive.sum())
        free = np.flatnonzero(~alive[1 : n_new + 1]) + 1
        movers = np.flatnonzero(alive[n_new + 1 :]) + n_new + 1
        dest = np.arange(n_all + 1, dtype=np.int64)
        dest[~alive] = 0
        dest[movers] = free
        lut = dest[root_of]
        # every voxel to relabel is found before any is written (a slot may still hold a merged label)
        writes = []
        for x in list(merged) + movers.tolist():
            if lut[x] == x:
                continue
            box = tuple(slice(int(a), int(b) + 1) for a, b in zip(self.blo[x], self.bhi[x]))
            if any(sl.start >= sl.stop for sl in box):
                continue
            sub = self.labels[box]
            writes.append((sub, np.nonzero(sub == x), int(lut[x])))
        for sub, where, value in writes:
            sub[where] = value  # ``sub`` is a view of the labels
        blo = np.full((n_new + 1, nd), _BIG, dtype=np.int64)
        bhi = np.full((n_new + 1, nd), -1, dtype=np.int64)
        keep = np.flatnonzero(alive)
        blo[dest[keep]] = self.blo[keep]
        bhi[dest[keep]] = self.bhi[keep]
        self.blo, self.bhi = blo, bhi
        self.last = (near, old, old_lab, lut[: n + 1])
        self.n = self.cap = n_new
        self.alive = np.ones(n_new + 1, dtype=bool)
        self.alive[0] = False
        if self.track:
            self.sizes = np.zeros(n_new + 1, dtype=np.int64)
            self.sizes[dest[keep]] = sizes[keep]
            self.sums = np.zeros((n_new + 1, nd))
            self.sums[dest[keep]] = sums[keep]
            self.first = np.full(n_new + 1, self.mask.size, dtype=np.int64)
            self.first[dest[keep]] = first[keep]
            if recount:
                self._full_stats()
        return True

    def _box_size(self, label: int) -> int:
        ext = self.bhi[label] - self.blo[label] + 1
        return int(np.prod(np.maximum(ext, 0)))

    def _relabelled_all(self) -> None:
        """Label space, live labels and every label's box after labelling the whole mask."""
        self.cap = self.n
        self.alive = np.ones(self.n + 1, dtype=bool)
        self.alive[0] = False
        n, nd = self.n, self.mask.ndim
        self.blo = np.full((n + 1, nd), _BIG, dtype=np.int64)
        self.bhi = np.full((n + 1, nd), -1, dtype=np.int64)
        for i, sl in enumerate(ndi.find_objects(self.labels, max_label=n), start=1):
            if sl is not None:
                self.blo[i] = [x.start for x in sl]
                self.bhi[i] = [x.stop - 1 for x in sl]


class SurfaceState:
    """Surface distances between a prediction and a fixed reference mask, kept up to date.

    Both masks live on one frame with a zero margin of at least
    :func:`~napari_medai.core.metrics.surface_walk.ring_pad` voxels around their foreground; both must
    be non-empty.
    """

    def __init__(self, pm: np.ndarray, gm: np.ndarray, spacing: tuple[float, ...],
                 reference: MaskSurface | None = None) -> None:
        self.spacing = tuple(float(s) for s in spacing)
        self.shape = tuple(pm.shape)
        self.ref = reference if reference is not None else MaskSurface(gm, self.spacing)
        ps = MaskSurface(pm, self.spacing)
        self.psurf = ps.surface
        self.pidx = ps.idx
        self.d_pg = nearest_surface_distances(ps.idx, self.ref)
        self.d_gp, self.nn_gp = nearest_surface_distances(self.ref.idx, ps, want_nn=True)
        self._gcoords: np.ndarray | None = unravel_flat(self.ref.idx, self.shape)
        # the prediction's surface, kept (with its flat guarded copy) between updates
        self._target: MaskSurface | None = ps

    @property
    def empty(self) -> bool:
        return self.pidx.size == 0

    def distances(self) -> SurfaceDistances:
        return SurfaceDistances(self.d_pg, self.d_gp)

    def update(self, pm: np.ndarray, box: Box) -> None:
        """Follow the prediction ``pm``, which differs from the last one only inside ``box``."""
        shape = self.shape
        near = _grow(box, 1, shape)  # where the surface can change
        ctx = _grow(near, 1, shape)  # what deciding it needs
        sub = surface_voxels(np.ascontiguousarray(pm[_slices(ctx)]))
        inner = tuple(slice(a - c, b - c) for (a, b), (c, _) in zip(near, ctx))
        new_s = sub[inner]
        region = self.psurf[_slices(near)]
        if np.array_equal(new_s, region):
            return  # same surface voxels: same distances
        region[...] = new_s
        if self._target is not None:
            self._target.replace_region(near, new_s, self.pidx)  # (idx set again below)
        strides = np.array([math.prod(shape[i + 1 :]) for i in range(len(shape))], dtype=np.int64)
        local = np.flatnonzero(new_s)
        new_idx = np.zeros(local.size, dtype=np.int64)
        for ax, c in enumerate(np.unravel_index(local, new_s.shape)):
            new_idx += (c + near[ax][0]) * strides[ax]
        keep = ~_in_box(self.pidx, near, shape)
        pidx, d_pg = self.pidx[keep], self.d_pg[keep]
        d_new = nearest_surface_distances(new_idx, self.ref) if new_idx.size else np.zeros(0)
        pos = np.searchsorted(pidx, new_idx)
        self.pidx = np.insert(pidx, pos, new_idx)
        self.d_pg = np.insert(d_pg, pos, d_new)
        if self._target is not None:
            self._target.idx = self.pidx
        if self.pidx.size == 0:
            return
        # reference voxels whose nearest voxel may have gone, or that the edit may have come closer to
        if self._gcoords is None:
            self._gcoords = unravel_flat(self.ref.idx, shape)
        # only voxels within the largest distance of the edit along the first axis can come
        # closer to it; they are a run of the (sorted) reference surface indices
        reach = int(math.floor(float(self.d_gp.max()) / self.spacing[0])) + 2
        first = np.searchsorted(self.ref.idx, max(near[0][0] - reach, 0) * strides[0])
        last = np.searchsorted(self.ref.idx, min(near[0][1] + reach, shape[0]) * strides[0])
        g = self._gcoords[first:last]
        lo = np.array([a for a, _ in near], dtype=np.int64)
        hi = np.array([b - 1 for _, b in near], dtype=np.int64)
        gap = np.maximum(np.maximum(lo - g, g - hi), 0)
        redo = _in_box(self.nn_gp, near, shape)
        closer = np.zeros(redo.size, dtype=bool)
        closer[first:last] = lattice_distance(gap, self.spacing) < self.d_gp[first:last]
        closer &= ~redo
        if not (redo.any() or closer.any()):
            return
        self.d_gp = self.d_gp.copy()
        self.nn_gp = self.nn_gp.copy()
        if closer.any() and local.size:
            # their nearest voxel is outside the window and still there, so it is still the nearest
            # outside it: only the window's new surface voxels can be nearer
            self._nearer_in_window(np.flatnonzero(closer), new_idx)
        if redo.any():
            # their nearest voxel was in the window: measured again against the whole surface (one
            # target kept between updates: its flat guarded copy follows the window only)
            if self._target is None:
                self._target = MaskSurface.from_parts(self.psurf, self.pidx, self.spacing)
            d, nn = nearest_surface_distances(self.ref.idx[redo], self._target, want_nn=True)
            self.d_gp[redo] = d
            self.nn_gp[redo] = nn

    def _nearer_in_window(self, which: np.ndarray, new_idx: np.ndarray) -> None:
        """Lower the distances of the reference voxels ``which`` to those of the new surface voxels
        ``new_idx`` where these are nearer (same lattice formula; the first nearest wins a tie)."""
        tgt = unravel_flat(new_idx, self.shape)
        chunk = max(1, (1 << 18) // max(new_idx.size, 1))  # at most ~6 MB of offsets at a time
        for s in range(0, which.size, chunk):
            w = which[s : s + chunk]
            d = lattice_distance(np.abs(self._gcoords[w][:, None, :] - tgt[None, :, :]), self.spacing)
            k = np.argmin(d, axis=1)
            best = d[np.arange(w.size), k]
            better = best < self.d_gp[w]
            self.d_gp[w[better]] = best[better]
            self.nn_gp[w[better]] = new_idx[k[better]]


class LesionCounts:
    """The counts behind the lesion-wise scores of a prediction against a fixed reference, kept up
    to date after edits of the prediction near the edit only.

    Holds the reference lesions (``reach``: the lesion label of every voxel within a lesion's
    dilated extent, ``gsize``: reference voxels per lesion) and, per predicted component (the
    labels of a :class:`Components`): its voxel count ``psize``, a box holding all its voxels
    (``lo``/``hi``, inclusive; it may be larger than the component after voxels were erased), and
    the number of its voxels in each lesion's reach (``pairs``: ``{(lesion, component): voxels}``);
    ``inter`` counts per lesion the predicted voxels on its reference voxels. After an edit the
    voxels of the edited window are taken out under their old labels and put back under their
    new ones; a merge or renumbering of components moves their counts with the labels; when the
    components were labelled again from scratch, so are the counts. The scores made from them
    (:func:`~napari_medai.core.metrics.lesions.score_lesions`) equal those of a computation from
    scratch (the tests check this after every one of many random strokes).
    """

    def __init__(self, comps: Components, gm: np.ndarray, dilation: int) -> None:
        self.gm = gm
        self.dilation = int(dilation)
        self.reach, self.n_gt, self.gboxes, self.gsize = reference_lesions(gm, self.dilation)
        self.n_ref = int(self.gsize.sum())
        self.full_counts = 0  # how many times the prediction's counts were made from all its voxels
        self._count_all(comps)

    def _count_all(self, comps: Components) -> None:
        self.full_counts += 1
        n, nd = comps.cap, comps.mask.ndim
        pidx = np.flatnonzero(comps.mask)
        p_comp = comps.labels.reshape(-1)[pidx].astype(np.int64)
        p_reach = self.reach.reshape(-1)[pidx].astype(np.int64)
        self.psize = np.bincount(p_comp, minlength=n + 1)
        self.inter = np.bincount(p_reach[self.gm.reshape(-1)[pidx]], minlength=self.n_gt + 1)
        self.pairs: dict[tuple[int, int], int] = {}
        self._add_pairs(p_reach, p_comp, 1)
        self.lo = np.full((n + 1, nd), np.iinfo(np.int64).max, dtype=np.int64)
        self.hi = np.full((n + 1, nd), -1, dtype=np.int64)
        for i, sl in enumerate(ndi.find_objects(comps.labels, max_label=n), start=1):
            if sl is not None:
                self.lo[i] = [s.start for s in sl]
                self.hi[i] = [s.stop - 1 for s in sl]
        self.version = comps.version

    def _add_pairs(self, p_reach: np.ndarray, p_comp: np.ndarray, sign: int) -> None:
        touch = p_reach > 0
        if not touch.any():
            return
        width = int(p_comp.max()) + 1
        codes = p_reach[touch] * width + p_comp[touch]
        n_codes = (self.n_gt + 1) * width
        if n_codes <= max(1 << 20, 4 * codes.size):
            counts = np.bincount(codes, minlength=n_codes)  # no sort of (possibly) millions of codes
            u = np.flatnonzero(counts)
            c = counts[u]
        else:
            u, c = np.unique(codes, return_counts=True)
        pairs = self.pairs
        for code, cnt in zip(zip((u // width).tolist(), (u % width).tolist()), c.tolist()):
            v = pairs.get(code, 0) + sign * cnt
            if v:
                pairs[code] = v
            else:
                del pairs[code]

    def follow(self, comps: Components) -> None:
        """Bring the counts up to ``comps`` (the components they were made from, since updated)."""
        if comps.version == self.version:
            return
        if comps.version != self.version + 1 or comps.last is None:
            self._count_all(comps)
            return
        near, old, old_lab, lut = comps.last
        sl = _slices(near)
        rw = self.reach[sl]
        gw = self.gm[sl]
        # the window's old voxels out, under their old labels
        lab_o = old_lab[old].astype(np.int64)
        r_o = rw[old].astype(np.int64)
        self.psize = self.psize - np.bincount(lab_o, minlength=self.psize.size)
        self.inter = self.inter - np.bincount(r_o[gw[old]], minlength=self.n_gt + 1)
        self._add_pairs(r_o, lab_o, -1)
        n, nd = comps.cap, comps.mask.ndim
        if lut is not None:
            # components merged or gone: their counts move with the new numbering
            psize = np.zeros(n + 1, dtype=np.int64)
            np.add.at(psize, lut, self.psize)
            lo = np.full((n + 1, nd), np.iinfo(np.int64).max, dtype=np.int64)
            hi = np.full((n + 1, nd), -1, dtype=np.int64)
            np.minimum.at(lo, lut, self.lo)
            np.maximum.at(hi, lut, self.hi)
            moved: dict[tuple[int, int], int] = {}
            for (g, c), v in self.pairs.items():
                key = (g, int(lut[c]))
                moved[key] = moved.get(key, 0) + v
            self.psize, self.lo, self.hi, self.pairs = psize, lo, hi, moved
        elif n + 1 > self.psize.size:
            extra = n + 1 - self.psize.size
            self.psize = np.concatenate([self.psize, np.zeros(extra, dtype=np.int64)])
            self.lo = np.concatenate([self.lo, np.full((extra, nd), np.iinfo(np.int64).max, dtype=np.int64)])
            self.hi = np.concatenate([self.hi, np.full((extra, nd), -1, dtype=np.int64)])
        # the window's new voxels in, under their new labels
        new = comps.mask[sl]
        where = np.nonzero(new)
        lab_n = comps.labels[sl][where].astype(np.int64)
        r_n = rw[where].astype(np.int64)
        self.psize += np.bincount(lab_n, minlength=n + 1)
        self.inter += np.bincount(r_n[gw[where]], minlength=self.n_gt + 1)
        self._add_pairs(r_n, lab_n, 1)
        for ax, c in enumerate(where):
            g = c.astype(np.int64) + near[ax][0]
            np.minimum.at(self.lo[:, ax], lab_n, g)
            np.maximum.at(self.hi[:, ax], lab_n, g)
        self.version = comps.version

    @property
    def n_pred_voxels(self) -> int:
        return int(self.psize.sum())

    @property
    def n_overlap(self) -> int:
        """Predicted voxels on reference voxels (every reference voxel lies in its lesion's reach)."""
        return int(self.inter.sum())

    def pair_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The (lesion, component) pairs that touch, sorted, as two arrays."""
        if not self.pairs:
            z = np.zeros(0, dtype=np.int64)
            return z, z.copy()
        keys = np.array(sorted(self.pairs), dtype=np.int64)
        return keys[:, 0], keys[:, 1]

    def boxes(self, ids: np.ndarray) -> dict[int, Box]:
        """A box holding every voxel of each component in ``ids`` (half-open)."""
        return {int(i): tuple((int(a), int(b) + 1) for a, b in zip(self.lo[i], self.hi[i])) for i in ids}


def _in_box(flat: np.ndarray, box: Box, shape: tuple[int, ...]) -> np.ndarray:
    """Whether each flat index into ``shape`` lies in ``box``."""
    inside = np.zeros(flat.size, dtype=bool)
    if any(a >= b for a, b in box):
        return inside
    # only indices between the box's first and last voxel can be in it
    lo = int(np.ravel_multi_index(tuple(a for a, _ in box), shape))
    hi = int(np.ravel_multi_index(tuple(b - 1 for _, b in box), shape))
    cand = np.flatnonzero((flat >= lo) & (flat <= hi))
    ok = np.ones(cand.size, dtype=bool)
    for c, (a, b) in zip(np.unravel_index(flat[cand], shape), box):
        ok &= (c >= a) & (c < b)
    inside[cand[ok]] = True
    return inside
