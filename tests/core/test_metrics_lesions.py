"""Lesion-wise counts, F1, Dice and BraTS HD95 on hand-made multi-lesion masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics import lesion_wise


def _scene():
    """Five reference lesions and four predicted ones on a 24^3 grid at 1 mm.

    Reference: A 4x4x4 (64 voxels); B 3x3x3 (27); C one voxel; F 4x4x4 (64) and G 4x2x4 (32)
    one voxel apart along axis 1 (separate components, merged by a 3-voxel dilation).
    Prediction: A' = A shifted by one along axis 0 (overlap 48); F exactly; D a far 2x2x2 false
    positive; E one voxel two steps from C (no overlap, inside C's dilated reach).
    """
    gt = np.zeros((24, 24, 24), dtype=bool)
    pred = np.zeros_like(gt)
    gt[2:6, 2:6, 2:6] = True  # A
    gt[10:13, 14:17, 14:17] = True  # B
    gt[20, 20, 20] = True  # C
    gt[14:18, 2:6, 2:6] = True  # F
    gt[14:18, 7:9, 2:6] = True  # G
    pred[3:7, 2:6, 2:6] = True  # A'
    pred[14:18, 2:6, 2:6] = True  # = F
    pred[20:22, 2:4, 14:16] = True  # D
    pred[20, 20, 22] = True  # E
    return pred, gt


def test_isles_style_counts_and_scores():
    pred, gt = _scene()
    r = lesion_wise(pred, gt, spacing=1.0, style="isles")
    # reference lesions A, B, C, F, G: A and F are hit -> TP 2, FN 3 (B, C, G)
    # predicted lesions A', F, D, E: D and E touch no reference voxel -> FP 2
    assert (r.n_gt, r.n_pred, r.tp, r.fp, r.fn, r.n_ignored) == (5, 4, 2, 2, 3, 0)
    assert r.f1 == pytest.approx(2 * 2 / (2 * 2 + 2 + 3))
    # lesion Dice: A 2*48/(64+64) = 0.75, F 1, the others 0; over n_GT + n_FP = 7
    assert r.dice == pytest.approx((0.75 + 1.0) / 7)
    assert math.isnan(r.hd95_mm)
    by_size = sorted((les["voxels"], les["detected"]) for les in r.lesions)
    assert by_size == [(1, False), (27, False), (32, False), (64, True), (64, True)]


def test_brats2023_style_merges_ignores_small_and_dilates():
    pred, gt = _scene()
    r = lesion_wise(pred, gt, spacing=1.0, style="brats2023")
    # F and G merge into one lesion of 96 voxels; B (27) and C (1) are <= 50 mm^3: ignored.
    # E touches C's dilated reach, so it is not a false positive; D is.
    assert (r.n_gt, r.n_pred, r.tp, r.fp, r.fn, r.n_ignored) == (2, 4, 2, 1, 0, 2)
    assert r.f1 == pytest.approx(2 * 2 / (2 * 2 + 1 + 0))
    # Dice: A 0.75; F+G vs F: 2*64/(96+64) = 0.8; over 2 lesions + 1 FP
    assert r.dice == pytest.approx((0.75 + 0.8) / 3)
    # HD95: A vs A' (one-voxel shift) = 1 mm; F+G vs F: G's voxels are 2 or 3 mm from F's
    # surface, 95th percentile of 56 zeros, 16x2, 16x3 -> 3 mm; the FP scores 374 mm
    assert r.hd95_mm == pytest.approx((1.0 + 3.0 + 374.0) / 3)


def test_brats_threshold_is_in_mm3():
    pred, gt = _scene()
    # at 0.5 mm isotropic every lesion is 1/8 of the volume: A (64 voxels) is 8 mm^3 -> ignored
    r = lesion_wise(pred, gt, spacing=0.5, style="brats2023")
    assert r.n_ignored == 4 and r.n_gt == 0
    # overriding the threshold keeps them all
    r = lesion_wise(pred, gt, spacing=0.5, style="brats2023", min_lesion_mm3=0)
    assert r.n_gt == 4 and r.n_ignored == 0


def test_no_dilation_override_separates_f_and_g():
    pred, gt = _scene()
    r = lesion_wise(pred, gt, spacing=1.0, style="brats2023", dilation_iterations=0, min_lesion_mm3=0)
    # without dilation: A, B, C, F, G separate; E no longer matched -> same as ISLES counting
    assert (r.n_gt, r.tp, r.fp, r.fn) == (5, 2, 2, 3)


def test_empty_inputs_give_nan_scores():
    z = np.zeros((6, 6, 6), bool)
    r = lesion_wise(z, z, spacing=1, style="isles")
    assert (r.tp, r.fp, r.fn, r.n_gt, r.n_pred) == (0, 0, 0, 0, 0)
    assert math.isnan(r.f1) and math.isnan(r.dice)
    m = z.copy()
    m[2, 2, 2] = True
    r = lesion_wise(m, z, spacing=1, style="isles")
    assert (r.tp, r.fp, r.fn) == (0, 1, 0) and r.f1 == 0.0 and r.dice == 0.0


def test_26_connectivity_joins_diagonal_voxels():
    gt = np.zeros((6, 6, 6), bool)
    gt[1, 1, 1] = gt[2, 2, 2] = True  # corner-touching: one lesion
    r = lesion_wise(gt, gt, spacing=1, style="isles")
    assert (r.n_gt, r.n_pred, r.tp) == (1, 1, 1)


def test_validation():
    m = np.zeros((4, 4, 4), bool)
    with pytest.raises(InvalidInputError, match="lesion style"):
        lesion_wise(m, m, spacing=1, style="kits")
    with pytest.raises(InvalidInputError, match="dilation_iterations"):
        lesion_wise(m, m, spacing=1, style="brats2023", dilation_iterations=-1)
