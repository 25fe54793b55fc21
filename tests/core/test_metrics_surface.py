"""Surface metrics: hand-computed cases, an independent brute-force check, and MONAI agreement."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi
from scipy.spatial import cKDTree

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics import (
    SurfaceDistances,
    assd,
    hausdorff95,
    hausdorff_distance,
    mask_surface,
    nsd,
    surface_distances,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
BRATS = DATA / "brats2013_flair_t1c"


def _box(shape, *slices):
    m = np.zeros(shape, dtype=bool)
    m[tuple(slices)] = True
    return m


def _brute(pred, gt, spacing):
    """Independent reference: erosion surfaces + k-d tree over voxel centres in mm."""
    sp = np.asarray(spacing, dtype=float)
    ps = pred & ~ndi.binary_erosion(pred)
    gs = gt & ~ndi.binary_erosion(gt)
    a = np.argwhere(ps) * sp
    b = np.argwhere(gs) * sp
    d_pg = cKDTree(b).query(a)[0]
    d_gp = cKDTree(a).query(b)[0]
    return d_pg, d_gp


# ----------------------------------------------------------------------------- hand-computed
def test_surface_is_erosion_boundary_and_border_counts():
    m = np.zeros((5, 6, 7), dtype=bool)
    m[0:3, 1:5, 1:6] = True  # touches the image border at axis 0
    s = mask_surface(m)
    assert np.array_equal(s, m & ~ndi.binary_erosion(m))
    # 3x4x5 block: the only interior voxels are at row 1 (row 0 lies on the image border)
    assert s.sum() == m.sum() - 1 * 2 * 3


def test_box_extended_along_anisotropic_axis():
    """gt = 4x4x4 box, pred = the box extended by 2 voxels along axis 0; spacing (2, 1, 0.5)."""
    sp = (2.0, 1.0, 0.5)
    gt = _box((10, 10, 10), slice(2, 6), slice(2, 6), slice(2, 6))
    pred = _box((10, 10, 10), slice(2, 8), slice(2, 6), slice(2, 6))
    sd = surface_distances(pred, gt, spacing=sp)
    # pred surface: 16 + 3*12 voxels shared with gt (0 mm), ring at layer 6 (12 voxels, 1 layer
    # = 2 mm from gt's face at layer 5), face at layer 7 (16 voxels, 4 mm)
    assert sorted(sd.pred_to_gt.tolist()) == [0.0] * 52 + [2.0] * 12 + [4.0] * 16
    # gt surface: all shared but the 4 centre voxels of its face at layer 5, which are inside
    # pred; their nearest pred surface is one voxel along axis 2 (0.5 mm)
    assert sorted(sd.gt_to_pred.tolist()) == [0.0] * 52 + [0.5] * 4
    assert hausdorff_distance(pred, gt, spacing=sp) == pytest.approx(4.0)
    # 95th percentiles (linear): pred->gt position 75.05 -> 4; gt->pred position 52.25 -> 0.5
    assert hausdorff95(pred, gt, spacing=sp) == pytest.approx(4.0)
    assert assd(pred, gt, spacing=sp) == pytest.approx((12 * 2 + 16 * 4 + 4 * 0.5) / 136)
    assert nsd(pred, gt, spacing=sp, tolerance_mm=1.0) == pytest.approx(108 / 136)
    assert nsd(pred, gt, spacing=sp, tolerance_mm=2.0) == pytest.approx(120 / 136)
    # symmetric
    assert hausdorff95(gt, pred, spacing=sp) == pytest.approx(4.0)


def test_single_voxels_anisotropic():
    sp = (2.0, 1.0, 0.5)
    p = _box((8, 8, 10), 2, 2, 2)
    g = _box((8, 8, 10), 3, 4, 6)
    expected = math.sqrt((1 * 2.0) ** 2 + (2 * 1.0) ** 2 + (4 * 0.5) ** 2)  # sqrt(12)
    assert hausdorff95(p, g, spacing=sp) == pytest.approx(expected)
    assert assd(p, g, spacing=sp) == pytest.approx(expected)
    assert nsd(p, g, spacing=sp, tolerance_mm=3.46) == 0.0
    assert nsd(p, g, spacing=sp, tolerance_mm=3.47) == 1.0


def test_far_apart_voxels_use_the_tree_fallback():
    """Distances beyond the offset walk (here 30 mm) are still exact."""
    p = _box((40, 8, 8), 2, 3, 3)
    g = _box((40, 8, 8), 32, 3, 4)
    assert hausdorff95(p, g, spacing=1.0) == pytest.approx(math.sqrt(30**2 + 1))


def test_percentile_is_linear_interpolation():
    sd = SurfaceDistances(np.array([0.0, 1.0, 2.0, 3.0]), np.array([0.0]))
    assert sd.hausdorff(percentile=95) == pytest.approx(2.85)
    assert sd.hausdorff(percentile=None) == 3.0
    assert sd.hausdorff(percentile=50) == pytest.approx(1.5)


def test_empty_masks_give_inf_or_nan():
    z = np.zeros((5, 5, 5), bool)
    m = _box((5, 5, 5), slice(1, 3), slice(1, 3), slice(1, 3))
    assert hausdorff95(m, z, spacing=1) == math.inf
    assert hausdorff95(z, m, spacing=1) == math.inf
    assert math.isnan(hausdorff95(z, z, spacing=1))
    assert assd(z, m, spacing=1) == math.inf
    assert nsd(z, m, spacing=1, tolerance_mm=1) == 0.0
    assert math.isnan(nsd(z, z, spacing=1, tolerance_mm=1))


def test_two_dimensional_masks():
    p = _box((12, 12), slice(2, 6), slice(2, 6))
    g = _box((12, 12), slice(2, 6), slice(2, 8))
    d_pg, d_gp = _brute(p, g, (0.5, 2.0))
    assert hausdorff95(p, g, spacing=(0.5, 2.0)) == pytest.approx(
        max(np.percentile(d_pg, 95), np.percentile(d_gp, 95))
    )


def test_input_validation():
    m = np.ones((4, 4, 4), bool)
    with pytest.raises(InvalidInputError, match="spacing"):
        hausdorff95(m, m, spacing=(1, 1))
    with pytest.raises(InvalidInputError, match="positive"):
        hausdorff95(m, m, spacing=(1, 0, 1))
    with pytest.raises(InvalidInputError, match="different shapes"):
        hausdorff95(m, m[:3], spacing=1)
    with pytest.raises(InvalidInputError, match="not a binary mask"):
        hausdorff95(m.astype(int) * 2, m, spacing=1)
    with pytest.raises(InvalidInputError, match="tolerance_mm"):
        nsd(m, m, spacing=1, tolerance_mm=-1)
    with pytest.raises(InvalidInputError, match="percentile"):
        hausdorff_distance(m, m, spacing=1, percentile=101)
    with pytest.raises(TypeError):
        hausdorff95(m, m, (1, 1, 1))  # spacing is keyword-only


# ----------------------------------------------------------------------------- brute force
def _random_pair(rng, shape):
    a = ndi.gaussian_filter(rng.random(shape), 1.5) > 0.53
    b = ndi.gaussian_filter(rng.random(shape), 1.5) > 0.53
    return a, b


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (2.5, 0.7, 0.7), (0.5, 1.25, 3.0)])
def test_matches_brute_force_kdtree(spacing):
    rng = np.random.default_rng(7)
    for _ in range(6):
        shape = tuple(int(s) for s in rng.integers(10, 30, 3))
        p, g = _random_pair(rng, shape)
        if rng.random() < 0.5:  # also near-identical masks (mostly coinciding surfaces)
            g = np.roll(p, 1, axis=int(rng.integers(0, 3))) | (rng.random(shape) > 0.995)
        if not (p.any() and g.any()):
            continue
        d_pg, d_gp = _brute(p, g, spacing)
        sd = surface_distances(p, g, spacing=spacing)
        np.testing.assert_allclose(np.sort(sd.pred_to_gt), np.sort(d_pg), atol=1e-9)
        np.testing.assert_allclose(np.sort(sd.gt_to_pred), np.sort(d_gp), atol=1e-9)
        hd = max(np.percentile(d_pg, 95), np.percentile(d_gp, 95))
        assert hausdorff95(p, g, spacing=spacing) == pytest.approx(hd, abs=1e-9)
        mean = (d_pg.sum() + d_gp.sum()) / (d_pg.size + d_gp.size)
        assert assd(p, g, spacing=spacing) == pytest.approx(mean, abs=1e-9)


# ----------------------------------------------------------------------------- MONAI
def _monai(pred, gt, spacing, tol):
    torch = pytest.importorskip("torch")
    metrics = pytest.importorskip("monai.metrics")
    yp = torch.from_numpy(pred[None, None].astype(np.float32))
    yg = torch.from_numpy(gt[None, None].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hd = metrics.HausdorffDistanceMetric(include_background=True, percentile=95)
        sdm = metrics.SurfaceDistanceMetric(include_background=True, symmetric=True)
        dm = metrics.DiceMetric(include_background=True)
        hd95 = float(hd(yp, yg, spacing=list(spacing))[0, 0])
        asd = float(sdm(yp, yg, spacing=list(spacing))[0, 0])
        dsc = float(dm(yp, yg)[0, 0])
        nsd_v = float(
            metrics.compute_surface_dice(yp, yg, class_thresholds=[tol], include_background=True,
                                         spacing=list(spacing))[0, 0]
        )
    return hd95, asd, dsc, nsd_v


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 1.0), (3.0, 0.8, 0.8)])
def test_agrees_with_monai_synthetic(spacing):
    from napari_medai.core.metrics import dice

    rng = np.random.default_rng(3)
    p, g = _random_pair(rng, (24, 28, 20))
    hd, asd, dsc, nsd_m = _monai(p, g, spacing, 1.5)
    assert hausdorff95(p, g, spacing=spacing) == pytest.approx(hd, abs=0.01)
    assert assd(p, g, spacing=spacing) == pytest.approx(asd, abs=0.01)
    assert dice(p, g) == pytest.approx(dsc, abs=1e-6)
    assert nsd(p, g, spacing=spacing, tolerance_mm=1.5) == pytest.approx(nsd_m, abs=1e-6)


@pytest.mark.realdata
def test_agrees_with_monai_on_real_brats_labels():
    nib = pytest.importorskip("nibabel")
    cases = sorted(BRATS.glob("*/OTMultiClass.nii.gz")) if BRATS.is_dir() else []
    if not cases:
        pytest.skip(f"real BraTS labels not found under {BRATS}")
    lab = np.asarray(nib.load(str(cases[0])).dataobj)
    gt_full = lab > 0
    box = ndi.find_objects(gt_full.astype(np.uint8))[0]
    crop = tuple(slice(max(s.start - 4, 0), s.stop + 4) for s in box)
    gt = gt_full[crop]
    eroded = ndi.binary_erosion(gt, iterations=1)
    shifted = np.roll(ndi.binary_dilation(gt), 2, axis=1)
    for pred, spacing in ((eroded, (1.0, 1.0, 1.0)), (shifted, (1.0, 1.0, 1.0)), (shifted, (0.9, 0.9, 2.5))):
        hd, asd, _, nsd_m = _monai(pred, gt, spacing, 1.0)
        assert hausdorff95(pred, gt, spacing=spacing) == pytest.approx(hd, abs=0.01)
        assert assd(pred, gt, spacing=spacing) == pytest.approx(asd, abs=0.01)
        assert nsd(pred, gt, spacing=spacing, tolerance_mm=1.0) == pytest.approx(nsd_m, abs=1e-6)
        d_pg, d_gp = _brute(pred, gt, spacing)
        assert hausdorff95(pred, gt, spacing=spacing) == pytest.approx(
            max(np.percentile(d_pg, 95), np.percentile(d_gp, 95)), abs=1e-9
        )
