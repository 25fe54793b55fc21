"""The percentile of far-apart surfaces, measured coarse to fine (blocks of 6 then 3 voxels, then
batches), equals the percentile of all distances on random pairs, spacings and percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.metrics import hausdorff_distance, surface_distances
from napari_medai.core.metrics import surface_select as S


def _blob(shape, rng, centre, radii):
    zz, yy, xx = np.ogrid[: shape[0], : shape[1], : shape[2]]
    r = ((zz - centre[0]) / radii[0]) ** 2 + ((yy - centre[1]) / radii[1]) ** 2 + ((xx - centre[2]) / radii[2]) ** 2
    return r <= 1 + 0.3 * rng.random(shape)  # a rough boundary: many distinct distances, many ties


@pytest.mark.parametrize("seed,spacing", [(0, (1.0, 1.0, 1.0)), (1, (2.5, 0.8, 0.8)), (2, (1.3, 0.6, 0.45))])
def test_select_equals_all_distances(seed, spacing, monkeypatch):
    rng = np.random.default_rng(seed)
    shape = (30, 44, 60)
    gt = _blob(shape, rng, (15, 22, 16), (9, 12, 10))
    pred = _blob(shape, rng, (14, 20, 42), (8, 13, 11)) | _blob(shape, rng, (6, 8, 30), (3, 3, 3))
    monkeypatch.setattr(S, "_SELECT_MIN", 64)
    monkeypatch.setattr(S, "_SELECT_BATCH", 16)  # several batches on these small surfaces
    asked = []
    real = S.tree_nearest
    monkeypatch.setattr(S, "tree_nearest", lambda pts, target: asked.append(pts.size) or real(pts, target))
    all_d = surface_distances(pred, gt, spacing=spacing)
    for q in (5.0, 50.0, 95.0, 99.0, 100.0):
        asked.clear()
        got = hausdorff_distance(pred, gt, spacing=spacing, percentile=q)
        assert got == all_d.hausdorff(percentile=q), q
        if q == 95.0:
            assert len(asked) > 2  # the coarse-to-fine path ran (blocks and batches)


def test_direction_below_the_other_is_not_measured_to_the_end(monkeypatch):
    """When one direction's percentile is surely below the other's, its last voxels are not measured,
    and the result still equals the percentile of all distances."""
    rng = np.random.default_rng(5)
    shape = (30, 44, 70)
    gt = _blob(shape, rng, (15, 22, 16), (9, 12, 10))
    # the same blob far away plus a second, farther one: pred -> gt is the larger direction
    pred = np.roll(gt, 24, axis=2) | _blob(shape, rng, (15, 22, 62), (6, 6, 5))
    monkeypatch.setattr(S, "_SELECT_MIN", 64)
    pruned = []
    real = S.PercentileSelection.finish

    def finish(self, floor=None):
        out = real(self, floor)
        pruned.append(floor is not None and self.hi < floor)
        return out

    monkeypatch.setattr(S.PercentileSelection, "finish", finish)
    got = hausdorff_distance(pred, gt, spacing=(1.0, 1.0, 1.0), percentile=95.0)
    assert got == surface_distances(pred, gt, spacing=(1.0, 1.0, 1.0)).hausdorff(percentile=95.0)
    assert pruned == [False, True]


def _monai_hd95(pred, gt, spacing):
    import warnings

    torch = pytest.importorskip("torch")
    monai_metrics = pytest.importorskip("monai.metrics")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = monai_metrics.compute_hausdorff_distance(
            torch.from_numpy(pred[None, None].astype(np.float32)), torch.from_numpy(gt[None, None].astype(np.float32)),
            include_background=True, percentile=95, spacing=list(spacing))
    return float(v[0, 0])


@pytest.mark.parametrize("seed", range(8))
def test_hd95_equals_monai_on_random_pairs_both_directions(seed, monkeypatch):
    """Random rough blobs, random anisotropic spacing, and a prediction that is near (eroded or
    dilated), shifted by a few voxels, or far apart (beyond the walk): HD95 equals MONAI's within
    0.01 mm in both directions, through the walk alone and through the coarse-to-fine selection."""
    rng = np.random.default_rng(100 + seed)
    shape = (int(rng.integers(24, 34)), int(rng.integers(30, 44)), int(rng.integers(60, 76)))
    spacing = tuple(float(s) for s in np.round(rng.uniform(0.45, 3.0, 3), 3))
    centre = (shape[0] // 2, shape[1] // 2, 16)
    radii = (shape[0] / 4, shape[1] / 4, 9.0)
    gt = _blob(shape, rng, centre, radii)
    kind = seed % 4
    if kind == 0:  # far apart: moved 20-30 voxels, with a second blob
        pred = np.roll(gt, int(rng.integers(20, 31)), axis=2) | _blob(shape, rng, (5, 6, 50), (3, 3, 4))
    elif kind == 1:  # a few voxels off
        pred = np.roll(gt, (int(rng.integers(-3, 4)), int(rng.integers(-3, 4))), axis=(0, 1))
    elif kind == 2:  # a different rough boundary, a bit smaller
        pred = _blob(shape, rng, centre, tuple(r * 0.85 for r in radii))
    else:  # thin slices: every other slice of both
        gt, pred = np.ascontiguousarray(gt[::2]), np.ascontiguousarray(np.roll(gt, 12, axis=2)[::2])
    asked = []
    if seed >= 4:
        monkeypatch.setattr(S, "_SELECT_MIN", 32)  # the coarse-to-fine selection on these small surfaces
        monkeypatch.setattr(S, "_SELECT_BATCH", 16)
    real = S.PercentileSelection.refine
    monkeypatch.setattr(S.PercentileSelection, "refine", lambda self: asked.append(1) or real(self))
    theirs = _monai_hd95(pred, gt, spacing)
    for a, b in ((pred, gt), (gt, pred)):
        ours = hausdorff_distance(a, b, spacing=spacing, percentile=95)
        assert abs(ours - theirs) <= 0.01, (seed, spacing, ours, theirs)
        assert ours == surface_distances(a, b, spacing=spacing).hausdorff(percentile=95.0)
    if seed >= 4 and kind in (0, 3):
        assert asked  # far apart: the selection ran


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (3.0, 0.9, 0.9)])
def test_hd95_single_voxel_and_empty_masks(spacing):
    """One voxel against a blob or another voxel equals MONAI; an empty mask gives inf (one) or NaN (both)."""
    rng = np.random.default_rng(7)
    shape = (20, 24, 40)
    gt = _blob(shape, rng, (10, 12, 10), (5, 6, 6))
    one = np.zeros(shape, bool)
    one[3, 20, 35] = True
    other = np.zeros(shape, bool)
    other[15, 2, 4] = True
    for pred, ref in ((one, gt), (gt, one), (one, other)):
        ours = hausdorff_distance(pred, ref, spacing=spacing, percentile=95)
        assert abs(ours - _monai_hd95(pred, ref, spacing)) <= 0.01
    single = hausdorff_distance(one, other, spacing=spacing, percentile=95)
    assert single == pytest.approx(np.sqrt(sum((d * s) ** 2 for d, s in zip((12, 18, 31), spacing))))
    empty = np.zeros(shape, bool)
    assert hausdorff_distance(empty, gt, spacing=spacing, percentile=95) == np.inf
    assert hausdorff_distance(gt, empty, spacing=spacing, percentile=95) == np.inf
    assert np.isnan(hausdorff_distance(empty, empty, spacing=spacing, percentile=95))


def test_block_representative_is_a_voxel_of_its_block_nearest_to_the_centre():
    """Each block's representative is one of its own voxels, and none of them is nearer to the centre."""
    rng = np.random.default_rng(3)
    shape = (17, 23, 29)
    coords = np.unique(rng.integers(0, (17, 23, 29), size=(400, 3)), axis=0)
    for side in (2, 3, 6):
        reps, inv = S.block_representatives(np.ascontiguousarray(coords.T), side, shape)
        assert np.array_equal(coords[reps][inv] // side, coords // side)  # same block as each voxel
        centre_dist = ((2 * (coords % side) - (side - 1)) ** 2).sum(axis=1)
        best = np.full(reps.size, np.iinfo(np.int64).max)
        np.minimum.at(best, inv, centre_dist)
        assert np.array_equal(centre_dist[reps], best)
