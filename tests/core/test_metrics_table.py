"""The per-case table: regions, labels, empty-mask rules per convention, caching, errors."""

from __future__ import annotations

import math
import warnings
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage as ndi

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics import (
    BRATS_HD95_EMPTY_MM,
    METRICS,
    TableCache,
    compute_table,
    dice,
    hausdorff95,
)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _brats2021_pair():
    """Reference: oedema box 6^3 (label 2) holding NCR (1) and ET (4) 2^3 boxes.

    The prediction misses the enhancing tumour (painted as oedema).
    """
    gt = np.zeros((12, 12, 12), np.uint8)
    gt[2:8, 2:8, 2:8] = 2
    gt[3:5, 3:5, 3:5] = 1
    gt[5:7, 5:7, 5:7] = 4
    pred = gt.copy()
    pred[pred == 4] = 2
    return pred, gt


def test_regions_and_labels_brats2021():
    pred, gt = _brats2021_pair()
    t = compute_table(pred, gt, spacing=(1.0, 1.0, 1.0), convention="brats2021")
    assert list(t["regions"]) == ["WT", "TC", "ET"]
    assert list(t["labels"]) == ["NCR/NET", "ED", "ET"]
    wt, tc, et = (t["regions"][k] for k in ("WT", "TC", "ET"))
    for key in METRICS:
        assert key in wt
    # WT identical
    assert (wt["dice"], wt["hd95_mm"], wt["assd_mm"], wt["nsd"]) == (1.0, 0.0, 0.0, 1.0)
    assert wt["empty"] is None and wt["notes"] == []
    # TC: reference 16 voxels (NCR + ET), prediction 8 (NCR only)
    assert tc["dice"] == pytest.approx(2 * 8 / 24)
    assert tc["volume_gt_ml"] == pytest.approx(0.016) and tc["volume_diff_ml"] == pytest.approx(-0.008)
    assert tc["hd95_mm"] == pytest.approx(hausdorff95(np.isin(pred, (1, 4)), np.isin(gt, (1, 4)), spacing=1))
    # ET: prediction empty -> BraTS rule
    assert et["empty"] == "pred"
    assert et["dice"] == 0.0 and et["nsd"] == 0.0
    assert et["hd95_mm"] == BRATS_HD95_EMPTY_MM == et["assd_mm"]
    assert any("373.13" in n for n in et["notes"])
    assert et["lesion_fn"] == 1 and et["lesion_tp"] == 0
    # label rows: oedema reference 216 - 16 = 200 voxels, prediction 208, all of them overlap
    assert t["labels"]["ED"]["dice"] == pytest.approx(400 / 408)
    assert t["labels"]["ET"]["label_values"] == [4]
    assert t["labels"]["ET"]["hd95_mm"] == BRATS_HD95_EMPTY_MM


def test_brats_both_empty_rule_and_lesion_rule():
    gt = np.zeros((10, 10, 10), np.uint8)
    gt[2:6, 2:6, 2:6] = 2  # only oedema: ET (label 3) absent on both sides
    row = compute_table(gt, gt, spacing=1, convention="brats2023", lesion_style="brats2023")["regions"]["ET"]
    assert row["empty"] == "both"
    assert (row["dice"], row["iou"], row["hd95_mm"], row["assd_mm"], row["nsd"], row["sensitivity"]) == (
        1.0, 1.0, 0.0, 0.0, 1.0, 1.0,
    )
    assert (row["lesion_f1"], row["lesion_dice"], row["lesion_hd95_mm"]) == (1.0, 1.0, 0.0)
    assert len(row["notes"]) == 2 and all("BraTS rule" in n for n in row["notes"])


def test_isles_rule():
    z = np.zeros((8, 8, 8), np.uint8)
    row = compute_table(z, z, spacing=2.0, convention="isles")["regions"]["lesion"]
    assert row["dice"] == 1.0 and row["lesion_f1"] == 1.0
    assert math.isnan(row["hd95_mm"]) and math.isnan(row["nsd"])
    g = z.copy()
    g[3:5, 3:5, 3:5] = 1
    row = compute_table(z, g, spacing=2.0, convention="isles")["regions"]["lesion"]
    assert row["empty"] == "pred" and row["dice"] == 0.0 and math.isnan(row["hd95_mm"])
    assert (row["lesion_tp"], row["lesion_fn"], row["lesion_f1"]) == (0, 1, 0.0)
    assert row["volume_gt_ml"] == pytest.approx(8 * 8 / 1000)
    assert row["lesion_count_diff"] == -1


def test_lesion_count_difference_counts_components_on_both_sides():
    g = np.zeros((12, 12, 12), np.uint8)
    g[2:4, 2:4, 2:4] = 1
    p = np.zeros_like(g)
    p[2:4, 2:4, 2:4] = 1          # finds the reference lesion
    p[8:10, 8:10, 8:10] = 1       # two false positives, apart from each other
    p[8:10, 2:4, 8:10] = 1
    row = compute_table(p, g, spacing=1.0, convention="isles")["regions"]["lesion"]
    assert (row["lesion_tp"], row["lesion_fp"], row["lesion_fn"]) == (1, 2, 0)
    assert row["lesion_count_diff"] == 2
    assert row["volume_diff_ml"] == pytest.approx(16 / 1000)


def test_nan_rule_keeps_undefined_values():
    z = np.zeros((6, 6), np.uint8)  # 2-D works too
    row = compute_table(z, z, spacing=(0.5, 0.5), convention="binary")["regions"]["foreground"]
    assert math.isnan(row["dice"]) and math.isnan(row["hd95_mm"]) and math.isnan(row["lesion_f1"])
    assert row["specificity"] == 1.0
    assert "undefined" in " ".join(row["notes"])


def test_labels_outside_convention_are_refused():
    pred, gt = _brats2021_pair()
    with pytest.raises(InvalidInputError, match=r"reference holds label value\(s\) 4 outside convention 'brats2023'"):
        compute_table(pred, gt, spacing=1, convention="brats2023")
    with pytest.raises(InvalidInputError, match=r"prediction holds label value\(s\) 2 outside convention 'binary'"):
        compute_table(pred, gt, spacing=1, convention="binary")


def test_custom_regions_and_float_maps():
    pred, gt = _brats2021_pair()
    t = compute_table(pred.astype(np.float32), gt.astype(np.float64), spacing=1,
                      convention="tumour=1,2,4;core=1,4", include_labels=False)
    assert t["labels"] == {}
    assert t["regions"]["tumour"]["dice"] == 1.0
    assert t["regions"]["core"]["dice"] == pytest.approx(2 / 3)
    bad = gt.astype(float)
    bad[0, 0, 0] = 0.5
    with pytest.raises(InvalidInputError, match="non-integer"):
        compute_table(pred, bad, spacing=1, convention="brats2021")
    with pytest.raises(InvalidInputError, match="different shapes"):
        compute_table(pred, gt[:-1], spacing=1, convention="brats2021")
    with pytest.raises(InvalidInputError, match="lesion_style"):
        compute_table(pred, gt, spacing=1, convention="brats2021", lesion_style="kits")


def test_cache_reuses_unchanged_rows_and_matches_fresh_result():
    pred, gt = _brats2021_pair()
    cache = TableCache()
    compute_table(pred, gt, spacing=(1, 1, 2), convention="brats2021", cache=cache)
    assert cache.hits == 0
    edited = pred.copy()
    edited[6, 6, 6] = 4  # a one-voxel "brush stroke" of ET inside the oedema: WT unchanged
    cached = compute_table(edited, gt, spacing=(1, 1, 2), convention="brats2021", cache=cache)
    fresh = compute_table(edited, gt, spacing=(1, 1, 2), convention="brats2021")
    assert cache.hits >= 1  # WT (and NCR) were reused
    for kind in ("regions", "labels"):
        for name, row in fresh[kind].items():
            for key, val in row.items():
                other = cached[kind][name][key]
                assert other == val or (isinstance(val, float) and math.isnan(val) and math.isnan(other)), (
                    kind, name, key,
                )


@pytest.mark.realdata
def test_real_brats_regions_agree_with_monai():
    nib = pytest.importorskip("nibabel")
    torch = pytest.importorskip("torch")
    metrics = pytest.importorskip("monai.metrics")
    files = sorted((DATA / "brats2013_flair_t1c").glob("*/OTMultiClass.nii.gz"))
    if not files:
        pytest.skip(f"real BraTS labels not found under {DATA / 'brats2013_flair_t1c'}")
    lab = np.asarray(nib.load(str(files[-1])).dataobj).astype(np.uint8)
    box = ndi.find_objects((lab > 0).astype(np.uint8))[0]
    gt = lab[tuple(slice(max(s.start - 3, 0), s.stop + 3) for s in box)]
    # a perturbed copy: core labels shifted by one voxel, the tumour rim removed
    pred = gt.copy()
    rim = (gt > 0) & ~ndi.binary_erosion(gt > 0)
    pred[rim] = 0
    pred = np.where(np.isin(gt, (1, 3, 4)), np.roll(gt, 1, axis=0), pred)
    pred[~np.isin(pred, (0, 1, 2, 3, 4))] = 0
    spacing = (1.0, 1.0, 1.0)
    t = compute_table(pred, gt, spacing=spacing, convention="brats2013", include_labels=False)
    regions = {"WT": (1, 2, 3, 4), "TC": (1, 3, 4), "ET": (4,)}
    yp = torch.from_numpy(np.stack([np.isin(pred, v) for v in regions.values()])[None].astype(np.float32))
    yg = torch.from_numpy(np.stack([np.isin(gt, v) for v in regions.values()])[None].astype(np.float32))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = metrics.DiceMetric(include_background=True)(yp, yg)[0]
        hd = metrics.HausdorffDistanceMetric(include_background=True, percentile=95)(yp, yg, spacing=spacing)[0]
        sd = metrics.SurfaceDistanceMetric(include_background=True, symmetric=True)(yp, yg, spacing=spacing)[0]
    for i, name in enumerate(regions):
        row = t["regions"][name]
        assert row["dice"] == pytest.approx(float(d[i]), abs=1e-6)
        assert row["hd95_mm"] == pytest.approx(float(hd[i]), abs=0.01)
        assert row["assd_mm"] == pytest.approx(float(sd[i]), abs=0.01)
        assert row["dice"] == pytest.approx(dice(np.isin(pred, regions[name]), np.isin(gt, regions[name])))
