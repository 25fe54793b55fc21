"""Live (incremental) recomputation after brush strokes equals a computation from scratch, exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_medai.core.error_map import lesion_list
from napari_medai.core.metrics import TableCache, compute_table
from napari_medai.core.metrics._arrays import changed_box


def _same(a, b, path="table"):
    """Exact equality of nested tables (NaN equals NaN); the assertion names the first difference."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b), f"{path}: keys {list(a)} != {list(b)}"
        for k in a:
            _same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{path}: {a!r} != {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), f"{path}: {a!r} != {b!r}"
    else:
        assert a == b and type(a) is type(b), f"{path}: {a!r} != {b!r}"


def _tumour_pair(shape=(24, 44, 40), seed=0):
    """A BraTS-2021-like reference (oedema around a core and enhancing rim, a separate small lesion)
    and a prediction that misses part of the boundary and adds a false-positive blob."""
    rng = np.random.default_rng(seed)
    z, y, x = np.ogrid[: shape[0], : shape[1], : shape[2]]
    c = np.array(shape) / 2
    r = ((z - c[0]) / (shape[0] / 3.2)) ** 2 + ((y - c[1]) / (shape[1] / 3.5)) ** 2 + ((x - c[2]) / (shape[2] / 3.0)) ** 2
    gt = np.zeros(shape, np.uint8)
    gt[r <= 1] = 2
    gt[r <= 0.45] = 4
    gt[r <= 0.2] = 1
    gt[2:5, 3:7, 3:6] = 2  # a separate small lesion
    pred = gt.copy()
    rim = (r > 0.8) & (r <= 1) & (rng.random(shape) < 0.6)
    pred[rim] = 0
    pred[shape[0] - 5 : shape[0] - 3, 30:33, 30:34] = 2  # false positive
    return pred, gt


def _strokes(pred, gt, rng, n):
    """Random edits: boxes painted with a label or erased, on the tumour, beside it and far away."""
    nz = np.argwhere(gt > 0)
    for k in range(n):
        shape = np.array(pred.shape)
        if k % 5 == 4:
            centre = rng.integers(0, shape)  # anywhere, e.g. a new false positive
        else:
            centre = nz[rng.integers(len(nz))]
        half = rng.integers(0, 4, size=3)
        half[rng.integers(3)] = 0  # often a flat, brush-like box
        lo = np.maximum(centre - half, 0)
        hi = np.minimum(centre + half + 1, shape)
        value = int(rng.choice([0, 0, 1, 2, 4]))
        target = gt if k % 7 == 6 else pred  # now and then the reference is edited
        yield target, tuple(slice(a, b) for a, b in zip(lo, hi)), value


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 0.8, 0.7)])
@pytest.mark.parametrize("lesion_style", ["isles", "brats2023"])
def test_incremental_table_equals_scratch_after_random_strokes(spacing, lesion_style):
    pred, gt = _tumour_pair()
    rng = np.random.default_rng(1)
    kw = {"spacing": spacing, "convention": "brats2021", "lesion_style": lesion_style, "tolerance_mm": 1.5}
    cache = TableCache()
    _same(compute_table(pred, gt, cache=cache, **kw), compute_table(pred, gt, **kw))
    reused = 0
    for k, (target, sl, value) in enumerate(_strokes(pred, gt, rng, 24)):
        before = target.copy()
        target[sl] = value
        box = changed_box(before, target)
        # the exact box, the stroke's box, or "anything" (all must give the same table)
        note = box if k % 3 else (tuple((s.start, s.stop) for s in sl) if k % 2 else True)
        if target is pred:
            cache.note_change(pred=note, gt=None)
        else:
            cache.note_change(pred=None, gt=note)
        hits = cache.hits
        live = compute_table(pred, gt, cache=cache, **kw)
        reused += cache.hits - hits
        _same(live, compute_table(pred, gt, **kw), f"stroke {k}")
    assert cache._state is not None


def test_notes_add_up_and_unnoted_calls_read_everything():
    pred, gt = _tumour_pair(seed=3)
    kw = {"spacing": 1.0, "convention": "brats2021", "lesion_style": "isles"}
    cache = TableCache()
    compute_table(pred, gt, cache=cache, **kw)
    # two edits noted separately before one computation
    pred[10:12, 20:24, 18:20] = 0
    cache.note_change(pred=((10, 12), (20, 24), (18, 20)), gt=None)
    pred[3:4, 30:34, 30:33] = 4
    cache.note_change(pred=((3, 4), (30, 34), (30, 33)), gt=None)
    _same(compute_table(pred, gt, cache=cache, **kw), compute_table(pred, gt, **kw))
    # an edit nobody noted: the next call without a note still sees it
    pred[12, 15:25, 15:25] = 1
    _same(compute_table(pred, gt, cache=cache, **kw), compute_table(pred, gt, **kw))


def test_incremental_table_reports_bad_values_in_the_edit():
    from napari_medai.core.errors import InvalidInputError

    pred, gt = _tumour_pair(seed=4)
    kw = {"spacing": 1.0, "convention": "brats2021", "lesion_style": "isles"}
    cache = TableCache()
    compute_table(pred, gt, cache=cache, **kw)
    pred[5, 5, 5] = 3  # not a BraTS 2021 label
    cache.note_change(pred=((5, 6), (5, 6), (5, 6)), gt=None)
    with pytest.raises(InvalidInputError, match="3"):
        compute_table(pred, gt, cache=cache, **kw)
    pred[5, 5, 5] = 0
    cache.note_change(pred=((5, 6), (5, 6), (5, 6)), gt=None)
    _same(compute_table(pred, gt, cache=cache, **kw), compute_table(pred, gt, **kw))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 0.8, 0.7)])
def test_incremental_lesion_list_equals_scratch(spacing):
    pred, gt = _tumour_pair(seed=5)
    rng = np.random.default_rng(2)
    compared: dict = {}  # finds the edits by comparing
    noted: dict = {}  # is told where they are
    labels = (1, 2, 4)
    first = lesion_list(pred, gt, spacing=spacing, labels=labels)
    assert lesion_list(pred, gt, spacing=spacing, labels=labels, cache=compared) == first
    assert lesion_list(pred, gt, spacing=spacing, labels=labels, cache=noted,
                       changed={"pred": True, "gt": True}) == first
    for k, (target, sl, value) in enumerate(_strokes(pred, gt, rng, 30)):
        before = target.copy()
        target[sl] = value
        box = changed_box(before, target)
        note = box if k % 3 else tuple((s.start, s.stop) for s in sl)
        changed = {"pred": note, "gt": None} if target is pred else {"pred": None, "gt": note}
        scratch = lesion_list(pred, gt, spacing=spacing, labels=labels)
        assert lesion_list(pred, gt, spacing=spacing, labels=labels, cache=compared) == scratch, f"stroke {k}"
        assert lesion_list(pred, gt, spacing=spacing, labels=labels, cache=noted, changed=changed) == scratch, \
            f"stroke {k} (noted)"


def test_components_follow_edits_like_a_fresh_labelling():
    """Partition, sizes, coordinate sums and first voxels after random edits, split and merge."""
    from scipy import ndimage as ndi

    from napari_medai.core.metrics._live import Components

    rng = np.random.default_rng(7)
    mask = rng.random((14, 30, 30)) < 0.3
    comps = Components(mask, stats=True)
    for k in range(60):
        lo = rng.integers(0, [14, 30, 30])
        hi = np.minimum(lo + rng.integers(1, 6, size=3), [14, 30, 30])
        sl = tuple(slice(a, b) for a, b in zip(lo, hi))
        if k % 3 == 0:
            mask[sl] = rng.random(mask[sl].shape) < 0.5
        else:
            mask[sl] = k % 2 == 0
        comps.update(mask, tuple(zip(lo.tolist(), hi.tolist())) if k % 2 else None)
        ref, n = ndi.label(mask, structure=np.ones((3, 3, 3), bool))
        assert comps.n == n
        assert np.array_equal(comps.labels > 0, mask)
        # the same partition: each fresh component is exactly one kept label
        pairs = np.unique(np.stack([ref[mask], comps.labels[mask]]), axis=1)
        assert pairs.shape[1] == n and np.unique(pairs[1]).size == n
        order = np.argsort(comps.first[1:], kind="stable") + 1
        assert np.array_equal(pairs[1][np.argsort(pairs[0])], order)
        fg = np.flatnonzero(mask)
        sizes = np.bincount(ref.ravel()[fg], minlength=n + 1)[1:]
        assert np.array_equal(comps.sizes[order], sizes)
        sums = np.stack([np.bincount(ref.ravel()[fg], weights=c, minlength=n + 1)[1:]
                         for c in np.unravel_index(fg, mask.shape)], axis=1)
        assert np.array_equal(comps.sums[order], sums)
    assert comps.relabelled < 60  # most edits were followed locally


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.0, 0.8, 0.7), (1.3, 0.6, 0.45)])
def test_nearest_is_the_same_by_lattice_walk_and_by_tree(spacing, monkeypatch):
    """Each distance is the smallest lattice-formula value, whichever path finds it."""
    from napari_medai.core.metrics import surface_grid as G
    from napari_medai.core.metrics import surface_walk as S

    rng = np.random.default_rng(11)
    shape = (30, 40, 40)
    pad = S.ring_pad(spacing)
    a = np.zeros(shape, bool)
    b = np.zeros(shape, bool)
    inner = tuple(slice(p, n - p) for p, n in zip(pad, shape))
    a[inner] = rng.random(a[inner].shape) < 0.002
    b[inner] = rng.random(b[inner].shape) < 0.01
    src = G.MaskSurface(a, spacing)
    walk = S.nearest_surface_distances(src.idx, G.MaskSurface(b, spacing), want_nn=True)
    monkeypatch.setattr(S, "_MAX_OFFSETS", 1)  # the walk stops at once: the tree answers
    S._ring.cache_clear()
    try:
        tree = S.nearest_surface_distances(src.idx, G.MaskSurface(b, spacing), want_nn=True)
    finally:
        monkeypatch.undo()
        S._ring.cache_clear()
    assert np.array_equal(walk[0], tree[0])
    # the nearest voxels found are at those distances
    off = G.unravel_flat(src.idx, shape) - G.unravel_flat(tree[1], shape)
    assert np.array_equal(G.lattice_distance(off, spacing), tree[0])


def test_one_cache_across_changed_settings_and_spacing():
    """Settings change between calls on one cache (as in the panel): never a stale row."""
    pred, gt = _tumour_pair(seed=9)
    rng = np.random.default_rng(4)
    cache = TableCache()
    settings = [
        {"spacing": 1.0, "tolerance_mm": 1.0, "lesion_style": "isles"},
        {"spacing": 1.0, "tolerance_mm": 2.0, "lesion_style": "isles"},
        {"spacing": 1.0, "tolerance_mm": 2.0, "lesion_style": "brats2023"},
        {"spacing": (2.0, 0.8, 0.7), "tolerance_mm": 2.0, "lesion_style": "brats2023"},
        {"spacing": (2.0, 0.8, 0.7), "tolerance_mm": 1.0, "lesion_style": "isles"},
    ]
    strokes = _strokes(pred, gt, rng, 10)
    for k in range(10):
        kw = {"convention": "brats2021", **settings[k % len(settings)]}
        if k % 2:
            target, sl, value = next(strokes)
            target[sl] = value
            note = tuple((s.start, s.stop) for s in sl)
            cache.note_change(pred=note if target is pred else None, gt=note if target is gt else None)
        _same(compute_table(pred, gt, cache=cache, **kw), compute_table(pred, gt, **kw), f"call {k}")


def test_single_lesion_hd95_from_kept_distances_equals_lesion_wise(monkeypatch):
    """One reference lesion and an unmatched false-positive blob: the lesion HD95 that the table
    takes from the row's distances equals :func:`lesion_wise`'s, computed from scratch."""
    from napari_medai.core.metrics import lesion_wise
    from napari_medai.core.metrics import lesions as L

    pred, gt = _tumour_pair()
    gt[2:5, 3:7, 3:6] = 0  # one reference lesion only
    used = []
    real = L._single_lesion_hd95
    monkeypatch.setattr(L, "_single_lesion_hd95", lambda *a, **k: used.append(1) or real(*a, **k))
    kw = {"spacing": (2.0, 0.8, 0.7), "convention": "brats2021", "lesion_style": "brats2023"}
    regions = {"WT": (1, 2, 4), "TC": (1, 4), "ET": (4,)}
    cache = TableCache()
    rng = np.random.default_rng(5)
    for k in range(6):
        if k:
            z, y, x = np.argwhere(gt > 0)[rng.integers(int((gt > 0).sum()))]
            sl = (slice(z, z + 1), slice(max(y - 2, 0), y + 2), slice(max(x - 2, 0), x + 2))
            before = pred.copy()
            pred[sl] = (2, 0)[k % 2]
            cache.note_change(pred=changed_box(before, pred), gt=None)
        for table in (compute_table(pred, gt, cache=cache, **kw), compute_table(pred, gt, **kw)):
            for name, values in regions.items():
                ref = lesion_wise(np.isin(pred, values), np.isin(gt, values), spacing=kw["spacing"],
                                  style="brats2023")
                got = table["regions"][name]["lesion_hd95_mm"]
                assert got == ref.hd95_mm or (math.isnan(got) and math.isnan(ref.hd95_mm)), (k, name)
    assert used  # the WT row (tumour + false-positive blob) took the shortcut
