"""The live lesion-wise counts follow random strokes near the stroke only and give, after every
stroke, exactly the scores of a computation from scratch."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_medai.core.metrics import TableCache, compute_table
from napari_medai.core.metrics._live import Components, LesionCounts
from napari_medai.core.metrics.lesions import (
    lesion_style_params,
    lesions_padded,
    scores_from_counts,
)

MARGIN = 4  # zero voxels kept around the foreground (the BraTS dilation needs 3)


def _same(a, b, path="result"):
    if isinstance(a, dict):
        assert list(a) == list(b), f"{path}: keys differ"
        for k in a:
            _same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b, f"{path}: {a!r} != {b!r}"


def _blobs(shape, rng, n, inner):
    """``n`` random boxes and balls inside ``inner`` (a box that keeps the margin)."""
    out = np.zeros(shape, dtype=bool)
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    for k in range(n):
        c = [rng.integers(a, b) for a, b in inner]
        r = rng.integers(1, 4, size=3)
        if k % 2:
            out[tuple(slice(max(ci - ri, a), min(ci + ri + 1, b)) for ci, ri, (a, b) in zip(c, r, inner))] = True
        else:
            ball = ((zz - c[0]) / r[0]) ** 2 + ((yy - c[1]) / r[1]) ** 2 + ((xx - c[2]) / r[2]) ** 2 <= 1
            out |= ball
    inside = np.zeros(shape, dtype=bool)
    inside[tuple(slice(a, b) for a, b in inner)] = True
    return out & inside


def _stroke(rng, inner):
    """A random brush-like box inside ``inner``: often one slice thick, up to 7 voxels wide."""
    lo = np.array([rng.integers(a, b) for a, b in inner])
    size = rng.integers(1, 8, size=3)
    size[rng.integers(3)] = 1 if rng.random() < 0.6 else size[0]
    hi = np.minimum(lo + size, [b for _, b in inner])
    return tuple((int(a), int(b)) for a, b in zip(lo, hi))


def _check_counts(les: LesionCounts, comps: Components) -> None:
    """The kept counts are those of the current components, read from all voxels."""
    mask, lab, n = comps.mask, comps.labels, comps.cap
    assert np.array_equal(les.psize, np.bincount(lab[mask], minlength=n + 1))
    # the same partition as labelling from scratch: one label per component, comps.n of them
    ref, n_ref = ndi.label(mask, structure=np.ones((3,) * mask.ndim, bool))
    pairs_rl = np.unique(np.stack([ref[mask], lab[mask]]), axis=1)
    assert comps.n == n_ref and pairs_rl.shape[1] == n_ref and np.unique(pairs_rl[1]).size == n_ref
    assert np.array_equal(np.flatnonzero(comps.alive), np.unique(lab[mask]))
    reach = les.reach[mask]
    touch = reach > 0
    pairs, counts = np.unique(np.stack([reach[touch], lab[mask][touch]]), axis=1, return_counts=True)
    assert les.pairs == {(int(g), int(c)): int(v) for (g, c), v in zip(pairs.T, counts)}
    assert np.array_equal(les.inter, np.bincount(les.reach[mask & les.gm], minlength=les.n_gt + 1))
    for i, sl in enumerate(ndi.find_objects(lab, max_label=n), start=1):  # the kept boxes hold each component
        if sl is not None:  # (a label left unused by a component gone)
            assert all(lo <= s.start and s.stop - 1 <= hi for s, lo, hi in zip(sl, les.lo[i], les.hi[i]))


@pytest.mark.parametrize("compact", [True, False])
@pytest.mark.parametrize("style", ["isles", "brats2023"])
@pytest.mark.parametrize("seed", [0, 1])
def test_counts_follow_random_strokes_exactly(style, seed, compact):
    rng = np.random.default_rng(seed)
    shape = (14, 34, 34)
    inner = tuple((MARGIN, n - MARGIN) for n in shape)
    spacing = (1.5, 1.0, 0.9)
    dil, min_mm3, with_hd = lesion_style_params(style, None, None)
    gm = _blobs(shape, rng, 7, inner)
    pm = gm.copy()
    pm ^= _blobs(shape, rng, 6, inner)  # some lesions cut, some false positives
    comps = Components(pm, compact=compact)
    les = LesionCounts(comps, gm, dil)
    n_strokes = 90
    for k in range(n_strokes):
        box = _stroke(rng, inner)
        sl = tuple(slice(a, b) for a, b in box)
        value = rng.random(pm[sl].shape) < 0.5 if k % 7 == 3 else k % 2 == 0  # paint, erase, or speckle
        if k % 3 == 0:
            pm[sl] = value
            comps.update(pm, box)
        else:
            win = np.zeros(pm[sl].shape, dtype=bool)
            win[...] = value
            pm[sl] = win
            comps.edit([(sl, win)])
        les.follow(comps)
        _check_counts(les, comps)
        got = scores_from_counts(les, comps.labels, comps.n, style, spacing, min_mm3=min_mm3, with_hd=with_hd)
        want = lesions_padded(pm.copy(), gm, spacing, style=style, dilation=dil, min_mm3=min_mm3,
                              with_hd=with_hd)
        _same(got.__dict__, want.__dict__, f"stroke {k}")
    # most strokes were followed in their window, not by counting every voxel again
    assert les.full_counts <= 1 + comps.relabelled
    assert comps.relabelled < n_strokes // 3


@pytest.mark.parametrize("compact", [True, False])
def test_counts_follow_merges_and_vanishing_components(compact):
    """Joining two components, erasing one whole and cutting one in two keep the counts exact."""
    shape = (9, 24, 24)
    gm = np.zeros(shape, bool)
    gm[4, 5:10, 5:10] = True
    gm[4, 5:10, 14:19] = True
    pm = np.zeros(shape, bool)
    pm[4, 6:9, 6:9] = True  # on the first lesion
    pm[4, 6:9, 15:18] = True  # on the second
    pm[4, 15:17, 6:8] = True  # a false positive
    comps = Components(pm, compact=compact)
    les = LesionCounts(comps, gm, 3)
    labels = comps.labels
    edits = [((4, 5), (7, 8), (9, 15), True),  # a bridge: two components become one
             ((4, 5), (15, 17), (6, 8), False),  # the false positive erased whole
             ((4, 5), (5, 10), (11, 13), False),  # the bridge cut again
             ((4, 5), (15, 18), (15, 18), True)]  # a new false positive
    for box in edits:
        sl = tuple(slice(a, b) for a, b in box[:3])
        pm[sl] = box[3]
        comps.update(pm, box[:3])
        les.follow(comps)
        _check_counts(les, comps)
        got = scores_from_counts(les, comps.labels, comps.n, "brats2023", (1.0, 1.0, 1.0), min_mm3=5.0,
                                 with_hd=True)
        want = lesions_padded(pm.copy(), gm, (1.0, 1.0, 1.0), style="brats2023", dilation=3, min_mm3=5.0,
                              with_hd=True)
        _same(got.__dict__, want.__dict__)
        if not comps.relabelled:  # merged and moved labels were relabelled in their boxes, in place
            assert comps.labels is labels
    assert les.full_counts == 1 + comps.relabelled


@pytest.mark.parametrize("style", ["isles", "brats2023"])
def test_live_table_with_many_lesions_equals_scratch(style):
    """The whole table after noted random strokes on a many-lesion pair equals one from scratch."""
    rng = np.random.default_rng(3)
    shape = (12, 40, 40)
    inner = tuple((MARGIN, n - MARGIN) for n in shape)
    gm = _blobs(shape, rng, 9, inner)
    gt = gm.astype(np.uint8) * 2
    gt[gm & (rng.random(shape) < 0.3)] = 1
    pred = np.where(_blobs(shape, rng, 5, inner) ^ gm, 2, 0).astype(np.uint8)
    kw = {"spacing": (2.0, 0.8, 0.8), "convention": "brats2013", "lesion_style": style}
    cache = TableCache()
    compute_table(pred, gt, cache=cache, **kw)
    for k in range(25):
        box = _stroke(rng, inner)
        pred[tuple(slice(a, b) for a, b in box)] = (1, 2, 3, 4)[k % 4] if k % 2 == 0 else 0
        cache.note_change(pred=box, gt=None)
        _same(compute_table(pred, gt, cache=cache, **kw), compute_table(pred, gt, **kw), f"stroke {k}")
