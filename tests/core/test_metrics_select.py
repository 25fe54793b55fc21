"""The percentile of far-apart surfaces, measured coarse to fine (blocks of 8, 4, 2 voxels, then
batches), equals the percentile of all distances on random pairs, spacings and percentiles."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.metrics import hausdorff_distance, surface_distances
from napari_medai.core.metrics import surface as S


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
    real = S._tree_nearest
    monkeypatch.setattr(S, "_tree_nearest", lambda pts, target: asked.append(pts.size) or real(pts, target))
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
    real = S._Selection.finish

    def finish(self, floor=None):
        out = real(self, floor)
        pruned.append(floor is not None and self.hi < floor)
        return out

    monkeypatch.setattr(S._Selection, "finish", finish)
    got = hausdorff_distance(pred, gt, spacing=(1.0, 1.0, 1.0), percentile=95.0)
    assert got == surface_distances(pred, gt, spacing=(1.0, 1.0, 1.0)).hausdorff(percentile=95.0)
    assert pruned == [False, True]
