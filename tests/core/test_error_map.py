"""Error map and lesion list: counts computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.error_map import FN, FP, TP, error_counts, error_map, lesion_list
from napari_medai.core.errors import InvalidInputError


def test_error_map_codes_and_counts():
    gt = np.zeros((4, 6, 6), np.uint8)
    pred = np.zeros_like(gt)
    gt[1, 1:3, 1:3] = 2  # 4 voxels
    pred[1, 1:3, 1:4] = 2  # 6 voxels: 4 overlap, 2 extra
    gt[3, 5, 5] = 4  # missed voxel of another label
    emap = error_map(pred, gt, labels=(2, 4))
    assert emap[1, 1, 1] == TP and emap[1, 1, 3] == FP and emap[3, 5, 5] == FN
    assert error_counts(emap) == {"tp": 4, "fp": 2, "fn": 1}
    # a region made of label 4 only sees the missed voxel
    assert error_counts(error_map(pred, gt, labels=(4,))) == {"tp": 0, "fp": 0, "fn": 1}


def test_error_map_rejects_mismatched_shapes():
    with pytest.raises(InvalidInputError, match="resample"):
        error_map(np.zeros((2, 2)), np.zeros((2, 3)), labels=(1,))


def test_lesion_list_statuses_volumes_and_centroids():
    gt = np.zeros((10, 20, 20), np.uint8)
    pred = np.zeros_like(gt)
    gt[2:4, 2:4, 2:4] = 1  # lesion A (8 voxels), found
    pred[3, 3, 3] = 1
    gt[6:8, 10:13, 10:12] = 1  # lesion B (12 voxels), missed
    pred[8:10, 16:18, 16:18] = 1  # false positive (8 voxels)
    lesions = lesion_list(pred, gt, spacing=(2.0, 1.0, 1.0))
    assert [d["status"] for d in lesions] == ["FN", "FP", "TP"]
    fn, fp, tp = lesions
    assert fn["voxels"] == 12 and fn["volume_ml"] == pytest.approx(12 * 2.0 / 1000)
    np.testing.assert_allclose(fn["centroid"], (6.5, 11.0, 10.5))
    np.testing.assert_allclose(fp["centroid"], (8.5, 16.5, 16.5))
    assert tp["voxels"] == 8 and tp["source"] == "gt"
    assert [d["id"] for d in lesions] == [1, 2, 3]


def test_lesion_list_with_label_values_and_empty():
    gt = np.zeros((5, 5, 5), np.uint8)
    pred = np.zeros_like(gt)
    assert lesion_list(pred, gt, spacing=(1, 1, 1)) == []
    gt[1, 1, 1] = 2
    pred[3, 3, 3] = 3  # not in the chosen labels: ignored
    lesions = lesion_list(pred, gt, spacing=(1, 1, 1), labels=(1, 2))
    assert [d["status"] for d in lesions] == ["FN"]
