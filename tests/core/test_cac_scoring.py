"""Agatston / volume / mass scoring against hand computation on synthetic inserts.

The synthetic CTs are water (0 HU) with an air border (-1000 HU, so the HU check passes) and
rectangular or disc-shaped inserts of known HU. With 0.5 mm pixels a pixel is 0.25 mm^2 and a voxel
(3 mm slices) 0.75 mm^3, binary fractions, so sums are exact and compared with ``==``.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from napari_medai.core.errors import GeometryMismatchError, InvalidInputError, MedaiWarning
from napari_medai.core.phantoms import make_phantom
from napari_medai.core.tasks.cac import (
    CODES,
    check_ct,
    density_weight,
    format_result,
    risk_category,
    score,
    to_json_dict,
    write_csv,
    write_json,
)
from napari_medai.core.volume import Volume

LM, LAD, LCX, RCA, NC = (CODES[k] for k in ("LM", "LAD", "LCX", "RCA", "non-coronary"))


def _ct(shape=(4, 40, 60), spacing=(3.0, 0.5, 0.5), direction=None, **kw) -> Volume:
    data = np.zeros(shape, dtype=np.int16)
    data[:, 0, :] = -1000  # air along one edge
    data[:, -1, -1] = 1000  # some bone, so the range looks like HU
    return Volume(data=data, spacing=spacing, direction=direction, modality="CT", units="HU", name="synthetic", **kw)


def _labels(ct: Volume) -> Volume:
    return ct.with_data(np.zeros(ct.spatial_shape, dtype=np.uint8), is_label=True, name="assignment")


def _put(ct: Volume, lab: Volume, k: int, rows: slice, cols: slice, hu: int, code: int, *, peak: int | None = None):
    ct.data[k, rows, cols] = hu
    lab.data[k, rows, cols] = code
    if peak is not None:
        ct.data[k, rows.start, cols.start] = peak


# --------------------------------------------------------------------------- density weights
@pytest.mark.parametrize(("peak", "weight"), [
    (129, 0), (130, 1), (165, 1), (199, 1), (200, 2), (299, 2), (300, 3), (399, 3), (400, 4), (1500, 4),
    (199.5, 1), (129.9, 0),
])
def test_density_weight_band_edges(peak, weight):
    assert density_weight(peak) == weight


def test_band_edges_in_an_image():
    """One 4x4-pixel (4 mm^2) lesion per band edge, peak in one corner pixel, body 130 HU."""
    ct, lab = _ct(), None
    lab = _labels(ct)
    peaks = [130, 199, 200, 299, 300, 399, 400]
    for n, p in enumerate(peaks):
        _put(ct, lab, 1, slice(4, 8), slice(2 + 8 * n, 6 + 8 * n), 130, LAD, peak=p)
    # a 129 HU lesion counts nothing, even when labelled
    _put(ct, lab, 2, slice(4, 8), slice(2, 6), 129, LAD)
    res = score(ct, lab)
    weights = [1, 1, 2, 2, 3, 3, 4]
    assert [les.weight for les in res.lesions] == weights
    assert [les.peak_hu for les in res.lesions] == peaks
    assert all(les.area_mm2 == 4.0 for les in res.lesions)
    assert res.agatston["LAD"] == 4.0 * sum(weights) == 64.0
    assert res.agatston["total"] == 64.0
    assert res.lesion_count["LAD"] == 7 and res.lesion_count["total"] == 7
    assert res.volume_mm3["LAD"] == 7 * 16 * 0.75
    assert res.category == "11-100"


def test_voxels_below_threshold_inside_a_lesion_do_not_count():
    ct = _ct()
    lab = _labels(ct)
    _put(ct, lab, 0, slice(10, 14), slice(10, 14), 250, RCA)
    ct.data[0, 10, 10] = 129  # one voxel under the threshold, still labelled RCA
    res = score(ct, lab)
    (les,) = res.lesions
    assert les.n_voxels == 15 and les.area_mm2 == 3.75
    assert les.agatston == 3.75 * 2
    assert les.mean_hu == 250.0


def test_minimum_area_rule_exact_edges():
    """4 pixels of 0.5 mm = exactly 1 mm^2 counts; 3 pixels (0.75 mm^2) do not."""
    ct = _ct()
    lab = _labels(ct)
    _put(ct, lab, 0, slice(5, 7), slice(5, 7), 300, LCX)      # 2x2 = 1.00 mm^2
    _put(ct, lab, 0, slice(5, 6), slice(20, 23), 450, LCX)    # 1x3 = 0.75 mm^2
    res = score(ct, lab)
    assert res.lesion_count["LCX"] == 1
    assert res.agatston["LCX"] == 1.0 * 3
    assert res.n_dropped_small == 1
    # with no minimum both count
    res0 = score(ct, lab, min_area_mm2=0.0)
    assert res0.agatston["LCX"] == 3.0 + 0.75 * 4
    # a minimum of 0.75 mm^2 keeps the small one too
    assert score(ct, lab, min_area_mm2=0.75).lesion_count["LCX"] == 2


def test_minimum_area_counts_exactly_one_mm2_despite_float_pixel_size():
    """1/3 mm pixels: 9 pixels are 1 mm^2 although (1/3)^2 * 9 is not exactly 1.0 in binary."""
    third = 1.0 / 3.0
    ct = _ct(spacing=(3.0, third, third))
    lab = _labels(ct)
    _put(ct, lab, 0, slice(5, 8), slice(5, 8), 300, LM)       # 9 px
    _put(ct, lab, 0, slice(20, 22), slice(20, 24), 300, LM)   # 8 px = 0.889 mm^2
    res = score(ct, lab)
    assert res.lesion_count["LM"] == 1
    assert res.lesions[0].n_voxels == 9
    assert res.agatston["LM"] == pytest.approx(3.0, rel=1e-12)


def test_0p7mm_pixels_speck_of_two_pixels_is_dropped():
    ct = _ct(spacing=(3.0, 0.7, 0.7))
    lab = _labels(ct)
    _put(ct, lab, 0, slice(5, 6), slice(5, 7), 500, RCA)      # 0.98 mm^2
    _put(ct, lab, 0, slice(20, 21), slice(5, 8), 500, RCA)    # 1.47 mm^2
    res = score(ct, lab)
    assert [les.n_voxels for les in res.lesions] == [3]
    assert res.agatston["RCA"] == pytest.approx(3 * 0.49 * 4, rel=1e-12)


def test_partial_volume_edge_by_hand():
    """A 3x3 core of 450 HU with partial-volume rows of 140 HU above/below and 120 HU columns beside."""
    ct = _ct()
    lab = _labels(ct)
    ct.data[1, 10:13, 10:13] = 450
    ct.data[1, 9, 10:13] = 140
    ct.data[1, 13, 10:13] = 140
    ct.data[1, 10:13, 9] = 120
    ct.data[1, 10:13, 13] = 120
    lab.data[1, 9:14, 9:14] = LAD  # the reader's paint covers the whole blurred insert
    res = score(ct, lab, calibration_factor=0.5)
    (les,) = res.lesions
    n = 9 + 6  # core + the two 140 HU rows; the 120 HU columns are under 130
    assert les.n_voxels == n
    assert les.area_mm2 == n * 0.25 == 3.75
    assert les.peak_hu == 450 and les.weight == 4
    assert les.agatston == 15.0
    assert les.volume_mm3 == n * 0.75 == 11.25
    mean = (9 * 450 + 6 * 140) / 15
    assert les.mean_hu == mean == 326.0
    assert les.mass_mg == 0.5 * 11.25 * 326.0
    assert res.mass_mg["total"] == 1833.75


def test_disc_insert_with_blurred_edge_matches_thresholded_count():
    """A cylinder (disc per slice) of 400 HU blurred at its rim; the count of >= 130 HU pixels is computed
    here from the same array, the score from the rule."""
    ct = _ct(shape=(3, 40, 40))
    lab = _labels(ct)
    yy, xx = np.mgrid[0:40, 0:40]
    r = np.hypot(yy - 20, xx - 20)
    disc = np.clip(400.0 * (4.5 - r), 0, 400).astype(np.int16)  # 400 inside r<=3.5, ramp to 0 at 4.5
    for k in range(3):
        ct.data[k][r < 5] = disc[r < 5]
        lab.data[k][r < 6] = RCA
    res = score(ct, lab)
    n_hot = int((disc >= 130).sum())
    assert res.lesion_count["RCA"] == 3
    assert res.agatston["RCA"] == 3 * n_hot * 0.25 * 4
    assert res.volume_mm3["RCA"] == 3 * n_hot * 0.75


def test_connectivity_eight_versus_four():
    ct = _ct()
    lab = _labels(ct)
    _put(ct, lab, 0, slice(10, 12), slice(10, 12), 300, LAD)  # 2x2 (1 mm^2)
    _put(ct, lab, 0, slice(12, 13), slice(12, 13), 500, LAD)  # one pixel touching its corner
    r8 = score(ct, lab)
    assert r8.lesion_count["LAD"] == 1
    assert r8.agatston["LAD"] == 1.25 * 4  # peak 500 lifts the whole lesion
    r4 = score(ct, lab, connectivity=4)
    assert r4.lesion_count["LAD"] == 1 and r4.n_dropped_small == 1
    assert r4.agatston["LAD"] == 1.0 * 3
    with pytest.raises(InvalidInputError, match="connectivity"):
        score(ct, lab, connectivity=6)


def test_per_artery_totals_noncoronary_and_touching_arteries():
    ct = _ct()
    lab = _labels(ct)
    _put(ct, lab, 0, slice(5, 9), slice(5, 9), 250, LM)       # 4 mm^2 x 2
    _put(ct, lab, 1, slice(5, 9), slice(5, 9), 350, LAD)      # 4 mm^2 x 3
    _put(ct, lab, 1, slice(5, 9), slice(9, 13), 450, LCX)     # touches LAD: a separate lesion, 4 x 4
    _put(ct, lab, 2, slice(20, 22), slice(20, 28), 180, RCA)  # 4 mm^2 x 1
    _put(ct, lab, 3, slice(20, 30), slice(40, 50), 600, NC)   # 25 mm^2 x 4, not in the total
    ct.data[3, 30:35, 30:35] = 800                              # bone, unassigned: ignored
    res = score(ct, lab)
    assert res.agatston == {"total": 8.0 + 12.0 + 16.0 + 4.0, "LM": 8.0, "LAD": 12.0, "LCX": 16.0, "RCA": 4.0}
    assert res.lesion_count == {"total": 4, "LM": 1, "LAD": 1, "LCX": 1, "RCA": 1}
    assert res.volume_mm3["total"] == 4 * 16 * 0.75
    assert res.mass_mg["LCX"] == 12.0 * 450
    assert res.non_coronary == {"agatston": 100.0, "volume_mm3": 75.0, "mass_mg": 75.0 * 600, "lesion_count": 1}
    assert res.category == "11-100"
    assert [les.artery for les in res.lesions] == ["LM", "LAD", "LCX", "RCA", "non-coronary"]
    assert [les.id for les in res.lesions] == [1, 2, 3, 4, 5]
    assert res.lesions[0].centroid == (0.0, 6.5, 6.5)


def test_empty_assignment_scores_zero():
    res = score(_ct(), _labels(_ct()))
    assert res.total == 0.0 and res.category == "0" and res.lesions == []


def test_slice_spacing_warning_and_correction():
    def build(sp):
        ct = _ct(spacing=(sp, 0.5, 0.5))
        lab = _labels(ct)
        _put(ct, lab, 1, slice(5, 9), slice(5, 9), 450, LAD)  # 4 mm^2, weight 4 -> 16 at 3 mm
        return ct, lab

    ct, lab = build(3.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert score(ct, lab).agatston["LAD"] == 16.0
    ct, lab = build(1.5)
    with pytest.warns(MedaiWarning, match=r"1\.5 mm, not the 3 mm.*scale"):
        res = score(ct, lab)
    assert res.agatston["LAD"] == 8.0 and res.slice_factor == 0.5 and res.slice_correction == "scale"
    assert res.volume_mm3["LAD"] == 16 * 0.25 * 1.5
    ct, lab = build(5.0)
    with pytest.warns(MedaiWarning, match="5 mm"):
        res = score(ct, lab)
    assert res.agatston["LAD"] == pytest.approx(16.0 * 5.0 / 3.0, rel=1e-12)
    assert res.notes and "5/3" in res.notes[0]
    with pytest.warns(MedaiWarning, match="slice_correction='none'"):
        res = score(ct, lab, slice_correction="none")
    assert res.agatston["LAD"] == 16.0 and res.slice_factor == 1.0
    with pytest.raises(InvalidInputError, match="slice_correction"):
        score(ct, lab, slice_correction="linear", warn=False)


def test_risk_category_boundaries():
    cases = {0: "0", 0.1: "1-10", 1: "1-10", 10: "1-10", 10.5: "11-100", 11: "11-100", 100: "11-100",
             100.01: "101-400", 400: "101-400", 400.5: ">400", 5000: ">400"}
    for s, cat in cases.items():
        assert risk_category(s) == cat, s
    with pytest.raises(InvalidInputError):
        risk_category(-1)


# --------------------------------------------------------------------------- input checks
def test_refuses_images_not_in_hu():
    ct = _ct()
    for change, msg in (
        ({"modality": "MR"}, "not CT"),
        ({"units": "a.u."}, "not HU"),
    ):
        with pytest.raises(InvalidInputError, match=msg):
            check_ct(ct.with_data(ct.data, **change))
    with pytest.raises(InvalidInputError, match="air"):
        check_ct(ct.with_data(ct.data.astype(np.int32) + 1024))  # raw stored values
    with pytest.raises(InvalidInputError, match="no bone or calcium"):
        check_ct(ct.with_data(np.clip(ct.data, -1000, 50)))
    with pytest.raises(InvalidInputError, match="label map"):
        check_ct(ct.with_data(ct.data, is_label=True))
    with pytest.raises(InvalidInputError, match="3-D"):
        check_ct(Volume(data=np.full((20, 20), -1000.0), modality="CT"))
    with pytest.raises(InvalidInputError, match="NaN"):
        bad = ct.data.astype(float)
        bad[0, 5, 5] = np.nan
        check_ct(ct.with_data(bad))
    # units unknown but values look like HU: accepted, and the evidence says so
    ok = check_ct(ct.with_data(ct.data, modality="unknown", units=""))
    assert "value range only" in ok.hu_evidence


def test_refuses_non_axial_slices_and_accepts_small_tilt():
    sagittal = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])  # array axis 0 along L
    with pytest.raises(InvalidInputError, match="not axial"):
        check_ct(_ct(direction=sagittal))
    a = math.radians(5.0)
    tilt = np.array([[math.cos(a), math.sin(a), 0.0], [-math.sin(a), math.cos(a), 0.0], [0.0, 0.0, 1.0]])
    assert check_ct(_ct(direction=tilt)).slice_spacing_mm == 3.0
    flipped = np.diag([-1.0, 1.0, -1.0])  # slices ordered head to feet, columns flipped: still axial
    assert check_ct(_ct(direction=flipped)).slice_factor == 1.0


def test_assignment_checks():
    ct = _ct()
    lab = _labels(ct)
    with pytest.raises(GeometryMismatchError):
        score(ct, lab.with_data(lab.data, spacing=(3.0, 0.6, 0.5)))
    bad = lab.data.copy()
    bad[0, 0, 0] = 7
    with pytest.raises(InvalidInputError, match="outside 0-5"):
        score(ct, lab.with_data(bad))
    with pytest.raises(InvalidInputError, match="calibration_factor"):
        score(ct, lab, calibration_factor=0)
    with pytest.raises(InvalidInputError, match="min_area_mm2"):
        score(ct, lab, min_area_mm2=-1)


# --------------------------------------------------------------------------- reports
def test_json_layout_csv_and_text(tmp_path):
    ct = _ct()
    lab = _labels(ct)
    _put(ct, lab, 0, slice(5, 9), slice(5, 9), 250, LM)
    _put(ct, lab, 2, slice(20, 30), slice(40, 50), 600, NC)
    res = score(ct, lab)
    doc = to_json_dict(res)
    assert list(doc)[:6] == ["agatston", "volume_mm3", "mass_mg", "category", "slice_thickness_mm", "lesions"]
    for key in ("agatston", "volume_mm3", "mass_mg"):
        assert list(doc[key]) == ["total", "LM", "LAD", "LCX", "RCA"]
    assert doc["agatston"] == {"total": 8.0, "LM": 8.0, "LAD": 0.0, "LCX": 0.0, "RCA": 0.0}
    assert doc["category"] == "1-10" and doc["slice_thickness_mm"] == 3.0
    first = doc["lesions"][0]
    assert {k: first[k] for k in ("id", "artery", "slice", "area_mm2", "peak_hu", "weight", "agatston")} == {
        "id": 1, "artery": "LM", "slice": 0, "area_mm2": 4.0, "peak_hu": 250, "weight": 2, "agatston": 8.0}
    assert doc["non_coronary"]["agatston"] == 100.0
    assert doc["slice_correction"] == "scale" and doc["min_area_mm2"] == 1.0 and doc["calibration_factor"] is None and doc["mass_unit"].startswith("HU")

    src = tmp_path / "input.json"
    src.write_text("{}")
    path = write_json(res, tmp_path / "out" / "cac.json", protect=[src])
    assert json.loads(path.read_text())["agatston"]["LM"] == 8.0
    with pytest.raises(InvalidInputError, match="overwrite an input"):
        write_json(res, src, protect=[src])
    assert src.read_text() == "{}"
    csv_path = write_csv(res, tmp_path / "cac.csv")
    lines = csv_path.read_text().splitlines()
    assert lines[0].startswith("kind,artery,id,slice,area_mm2,peak_hu,weight,agatston")
    assert sum(line.startswith("artery,") for line in lines) == 6
    assert sum(line.startswith("lesion,") for line in lines) == 2
    assert [f for f in tmp_path.iterdir() if f.name.startswith(".")] == []  # no temporary leftovers
    text = format_result(res)
    assert "risk category: 1-10" in text and "non-coronary" in text


# --------------------------------------------------------------------------- the sample phantom
@pytest.mark.parametrize("seed", [0, 3])
def test_reproduces_cardiac_phantom_expected_scores(seed):
    ph = make_phantom("cardiac_ct", seed=seed)
    ct, gt = ph["ct"], ph["assignment"]
    exp = gt.meta["expected"]
    res = score(ct, gt)
    for mine, theirs in (("agatston", "agatston"), ("volume_mm3", "volume_mm3"), ("mass_mg", "mass")):
        for key in ("total", "LM", "LAD", "LCX", "RCA"):
            # same numbers; summed in another order, so equal to the last few bits
            assert getattr(res, mine)[key] == pytest.approx(exp[theirs][key], rel=1e-12, abs=1e-12), (mine, key)
    assert res.lesion_count == exp["lesion_count"]
    assert res.category == exp["risk_category"]
    nc = exp["non_coronary"]
    assert res.non_coronary["agatston"] == pytest.approx(nc["agatston"], rel=1e-12)
    assert res.non_coronary["volume_mm3"] == pytest.approx(nc["volume_mm3"], rel=1e-12)
    assert res.non_coronary["mass_mg"] == pytest.approx(nc["mass"], rel=1e-12)
    assert res.non_coronary["lesion_count"] == nc["lesion_count"]
    assert res.n_dropped_small == 1  # the designed 0.98 mm^2 RCA speck
