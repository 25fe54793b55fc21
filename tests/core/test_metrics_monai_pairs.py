"""HD95 equals MONAI's on small versions of every pair kind that ``benchmarks/bench_metrics.py`` times.

Kinds: mild (boundary one voxel in/out, a false-positive blob far away), harsh (eroded 2 and
shifted 2), far apart (moved beyond the offset walk's reach), CT-like spacing, anisotropic slices,
a tiny lesion in a big volume, and an empty mask. The fast path (:func:`hausdorff95`, which computes
only the distances up to the 95th percentile) must also equal, bit for bit, the percentile of all
distances (:func:`surface_distances`).

Empty-mask convention: MONAI returns NaN whenever either mask is empty; :func:`hausdorff95` returns
``inf`` when exactly one mask is empty (the distance to an empty surface) and NaN when both are; the
agreement table then applies the convention's empty rule (e.g. 373.13 mm for BraTS).
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_medai.core.metrics import hausdorff95, hausdorff_distance, mask_surface, surface_distances

torch = pytest.importorskip("torch")
monai_metrics = pytest.importorskip("monai.metrics")


def _monai_hd95(pred: np.ndarray, gt: np.ndarray, spacing) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        v = monai_metrics.compute_hausdorff_distance(
            torch.from_numpy(pred[None, None].astype(np.float32)),
            torch.from_numpy(gt[None, None].astype(np.float32)),
            include_background=True, percentile=95, spacing=list(spacing))
    return float(v[0, 0])


def _ellipsoid(shape, center, radii) -> np.ndarray:
    grids = np.ogrid[tuple(slice(0, n) for n in shape)]
    return sum(((g - c) / r) ** 2 for g, c, r in zip(grids, center, radii)) <= 1.0


def _tumour(shape=(40, 48, 44)) -> np.ndarray:
    rng = np.random.default_rng(3)
    m = _ellipsoid(shape, (20, 24, 21), (11, 14, 12))
    # a ragged boundary, as real labels have
    rim = m & ~ndi.binary_erosion(m)
    m[rim & (rng.random(shape) < 0.3)] = False
    return m


def _pairs():
    """(name, pred, gt, spacing) of every kind, small."""
    gt = _tumour()
    half = np.zeros(gt.shape, bool)
    half[:, :, gt.shape[2] // 2:] = True
    mild = gt.copy()
    mild[(ndi.binary_dilation(gt) & ~gt) & half] = True
    mild[(gt & ~ndi.binary_erosion(gt)) & ~half] = False
    mild[2:5, 2:5, 2:5] = True  # a false-positive blob far from the tumour
    harsh = np.roll(ndi.binary_erosion(gt, iterations=2), 2, axis=0)
    wide = np.zeros((40, 48, 70), bool)
    wide[:, :, :44] = gt
    far = np.roll(wide, 24, axis=2)  # beyond the walk's 8 voxels: the k-d tree answers
    big = np.zeros((48, 96, 96), bool)
    tiny_gt = big.copy()
    tiny_gt[30:32, 60:63, 70:73] = True
    tiny_pred = big.copy()
    tiny_pred[31:33, 61:64, 70:74] = True
    return [
        ("mild", mild, gt, (1.0, 1.0, 1.0)),
        ("harsh", harsh, gt, (1.0, 1.0, 1.0)),
        ("far apart", far, wide, (1.0, 1.0, 1.0)),
        ("CT-like spacing", harsh, gt, (1.25, 0.7, 0.7)),
        ("anisotropic", np.ascontiguousarray(harsh[::3]), np.ascontiguousarray(gt[::3]), (3.0, 0.9, 0.9)),
        ("tiny lesion in a big volume", tiny_pred, tiny_gt, (1.25, 0.7, 0.7)),
    ]


@pytest.mark.parametrize("kind", [p[0] for p in _pairs()])
def test_hd95_equals_monai_on_every_pair_kind(kind):
    _, pred, gt, spacing = next(p for p in _pairs() if p[0] == kind)
    ours = hausdorff95(pred, gt, spacing=spacing)
    theirs = _monai_hd95(pred, gt, spacing)
    assert math.isfinite(ours) and ours > 0
    assert abs(ours - theirs) <= 0.01, (kind, ours, theirs)
    # the fast path equals the percentile of all the distances, bit for bit
    assert ours == surface_distances(pred, gt, spacing=spacing).hausdorff(percentile=95.0)
    assert hausdorff_distance(gt, pred, spacing=spacing, percentile=95) == ours  # symmetric


@pytest.mark.parametrize("percentile", [0, 50, 95, 99.5, 100])
def test_any_percentile_of_the_fast_path_equals_all_distances(percentile):
    _, pred, gt, spacing = _pairs()[1]
    full = surface_distances(pred, gt, spacing=spacing).hausdorff(percentile=float(percentile))
    assert hausdorff_distance(pred, gt, spacing=spacing, percentile=percentile) == full


def test_empty_mask_convention():
    gt = _tumour()
    empty = np.zeros_like(gt)
    assert math.isnan(_monai_hd95(empty, gt, (1, 1, 1)))  # MONAI: NaN when either is empty
    assert hausdorff95(empty, gt, spacing=1.0) == math.inf  # ours: inf when exactly one is empty
    assert hausdorff95(gt, empty, spacing=1.0) == math.inf
    assert math.isnan(hausdorff95(empty, empty, spacing=1.0))  # and NaN when both are


def test_far_apart_percentile_measures_only_some_voxels_and_stays_exact(monkeypatch):
    """Surfaces far apart: the percentile measures a representative per block and the voxels near
    the order statistics, not every voxel, and still equals the percentile of all distances."""
    from napari_medai.core.metrics import surface_select as S

    _, pred, gt, spacing = next(p for p in _pairs() if p[0] == "far apart")
    monkeypatch.setattr(S, "_SELECT_MIN", 16)
    asked = []
    real = S.tree_nearest
    monkeypatch.setattr(S, "tree_nearest", lambda pts, target: asked.append(pts.size) or real(pts, target))
    fast = hausdorff95(pred, gt, spacing=spacing)
    n_surface = mask_surface(pred).sum() + mask_surface(gt).sum()
    assert 0 < sum(asked) < 0.8 * n_surface
    monkeypatch.setattr(S, "_SELECT_MIN", 10**9)
    assert fast == surface_distances(pred, gt, spacing=spacing).hausdorff(percentile=95.0)
    for q in (50.0, 90.0, 99.0):
        monkeypatch.setattr(S, "_SELECT_MIN", 16)
        got = hausdorff_distance(pred, gt, spacing=spacing, percentile=q)
        assert got == surface_distances(pred, gt, spacing=spacing).hausdorff(percentile=q), q
