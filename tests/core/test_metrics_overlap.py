"""Overlap metrics against hand counts and MONAI's DiceMetric."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics import (
    confusion_counts,
    dice,
    iou,
    sensitivity,
    specificity,
    volume_ml,
)


def _pair():
    # 10x10x10 grid; gt = 4x4x4 box (64), pred = 6x4x4 box containing it (96)
    gt = np.zeros((10, 10, 10), bool)
    pred = np.zeros_like(gt)
    gt[2:6, 2:6, 2:6] = True
    pred[2:8, 2:6, 2:6] = True
    return pred, gt


def test_hand_counts():
    pred, gt = _pair()
    c = confusion_counts(pred, gt)
    assert (c.tp, c.fp, c.fn, c.tn) == (64, 32, 0, 904)
    assert dice(pred, gt) == pytest.approx(128 / 160)
    assert iou(pred, gt) == pytest.approx(64 / 96)
    assert sensitivity(pred, gt) == 1.0
    assert specificity(pred, gt) == pytest.approx(904 / 936)
    assert volume_ml(pred, spacing=(2.0, 1.0, 0.5)) == pytest.approx(96 * 1.0 / 1000)
    assert volume_ml(gt, spacing=(2.0, 2.0, 2.0)) == pytest.approx(64 * 8 / 1000)


def test_empty_cases():
    z = np.zeros((3, 3, 3), bool)
    m = z.copy()
    m[1, 1, 1] = True
    assert math.isnan(dice(z, z)) and math.isnan(iou(z, z))
    assert dice(m, z) == 0.0 and dice(z, m) == 0.0
    assert math.isnan(sensitivity(m, z))
    assert sensitivity(z, m) == 0.0


def test_accepts_zero_one_integers_rejects_labels():
    pred, gt = _pair()
    assert dice(pred.astype(np.uint8), gt.astype(float)) == pytest.approx(0.8)
    with pytest.raises(InvalidInputError, match="not a binary mask"):
        dice(pred * 3, gt)
    with pytest.raises(InvalidInputError, match="2-D or 3-D"):
        dice(pred[None], gt[None])


def test_agrees_with_monai_dice():
    torch = pytest.importorskip("torch")
    metrics = pytest.importorskip("monai.metrics")
    rng = np.random.default_rng(5)
    for _ in range(5):
        p = rng.random((20, 22, 18)) > 0.6
        g = rng.random((20, 22, 18)) > 0.5
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = float(metrics.DiceMetric(include_background=True)(
                torch.from_numpy(p[None, None].astype(np.float32)),
                torch.from_numpy(g[None, None].astype(np.float32)),
            )[0, 0])
        assert dice(p, g) == pytest.approx(ref, abs=1e-6)
