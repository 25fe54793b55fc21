"""Volume-level evaluation: geometry guard, nearest-neighbour resampling, cohorts, exports."""

from __future__ import annotations

import csv
import json
import math

import numpy as np
import pytest

from napari_medai.core.errors import GeometryMismatchError, InvalidInputError
from napari_medai.core.evaluate import (
    CaseResult,
    case_name,
    collect_cases,
    evaluate_volumes,
    format_case,
    format_summary,
    match_cases,
    resample_to_grid,
    summarize_cases,
    to_json_dict,
    write_csv,
    write_json,
)
from napari_medai.core.volume import Volume


def _gt():
    a = np.zeros((10, 10, 10), np.uint8)
    a[2:6, 2:6, 2:6] = 1
    return Volume(a, spacing=(1, 1, 1), is_label=True, name="case1_gt")


def test_same_grid_is_evaluated_directly():
    gt = _gt()
    pred = gt.with_data(np.roll(gt.data, 1, axis=2), name="case1_pred")
    r = evaluate_volumes(pred, gt, convention="binary", tolerance_mm=1.0)
    assert r.case == "case1_gt" and not r.resampled and r.notes == []
    assert r.regions["foreground"]["dice"] == pytest.approx(2 * 48 / 128)
    assert r.spacing == (1.0, 1.0, 1.0) and r.shape == (10, 10, 10)


def test_grid_mismatch_lists_differences():
    gt = _gt()
    coarse = Volume(np.zeros((5, 5, 5), np.uint8), spacing=(2, 2, 2), origin=(0.5, 0.5, 0.5))
    with pytest.raises(GeometryMismatchError) as info:
        evaluate_volumes(coarse, gt, convention="binary")
    msg = str(info.value)
    assert "shape (5, 5, 5) vs (10, 10, 10)" in msg and "spacing" in msg and "origin" in msg
    assert "--resample" in msg
    with pytest.raises(GeometryMismatchError, match="2-D"):
        evaluate_volumes(Volume(np.zeros((10, 10), np.uint8)), gt, convention="binary")


def test_resample_coarse_prediction_nearest_neighbour():
    gt = _gt()
    small = np.zeros((5, 5, 5), np.uint8)
    small[1:3, 1:3, 1:3] = 1
    # voxel i of the 2 mm grid is centred at 2 i + 0.5 mm: it covers 1 mm voxels 2i and 2i+1
    pred = Volume(small, spacing=(2, 2, 2), origin=(0.5, 0.5, 0.5), is_label=True)
    res = resample_to_grid(pred, gt)
    assert res.data.dtype == np.uint8 and res.spatial_shape == (10, 10, 10)
    assert np.array_equal(res.data, gt.data)
    r = evaluate_volumes(pred, gt, convention="binary", resample=True)
    assert r.resampled and "resampled" in r.notes[0] and "shape" in r.notes[0]
    assert r.regions["foreground"]["dice"] == 1.0


def test_resample_through_a_flipped_orientation():
    gt = _gt()
    gt.data[2, 2, 2] = 0  # make it asymmetric along axis 0
    flipped = Volume(gt.data[::-1].copy(), spacing=(1, 1, 1), origin=(9, 0, 0),
                     direction=np.diag([-1.0, 1.0, 1.0]), is_label=True)
    with pytest.raises(GeometryMismatchError, match="orientation"):
        evaluate_volumes(flipped, gt, convention="binary")
    assert np.array_equal(resample_to_grid(flipped, gt).data, gt.data)


def test_multichannel_prediction_refused():
    gt = _gt()
    two = Volume(np.zeros((2, 10, 10, 10), np.uint8), channel_axis=0)
    with pytest.raises(InvalidInputError, match="2 channels"):
        evaluate_volumes(two, gt, convention="binary")


@pytest.mark.parametrize(
    ("name", "case"),
    [
        ("BraTS-GLI-00001-000-seg.nii.gz", "BraTS-GLI-00001-000"),
        ("case7_pred.nrrd", "case7"),
        ("sub-01_GT.nii", "sub-01"),
        ("liver_003.nii.gz", "liver_003"),
        ("p12_seg_pred.mha", "p12"),
        ("seg.nii.gz", "seg"),
    ],
)
def test_case_names(name, case):
    assert case_name(name) == case


def test_collect_and_match(tmp_path):
    (tmp_path / "p").mkdir()
    (tmp_path / "g").mkdir()
    for n in ("a_pred.nii.gz", "b_pred.nii.gz", "c_pred.nii.gz", "notes.txt", ".hidden.nii.gz"):
        (tmp_path / "p" / n).write_bytes(b"")
    for n in ("a_seg.nii.gz", "b-seg.nii.gz", "d_seg.nii.gz"):
        (tmp_path / "g" / n).write_bytes(b"")
    pred = collect_cases(tmp_path / "p")
    assert sorted(pred) == ["a", "b", "c"]
    pairs, only_pred, only_gt = match_cases(pred, collect_cases(tmp_path / "g"))
    assert [c for c, _, _ in pairs] == ["a", "b"] and only_pred == ["c"] and only_gt == ["d"]
    (tmp_path / "p" / "a.nii").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="both give case 'a'"):
        collect_cases(tmp_path / "p")
    (tmp_path / "e").mkdir()
    with pytest.raises(InvalidInputError, match="no label files"):
        collect_cases(tmp_path / "e")


def _two_results():
    gt = _gt()
    r1 = evaluate_volumes(gt.with_data(np.roll(gt.data, 1, axis=0)), gt, convention="brats2023",
                          case="one")
    empty = gt.with_data(np.zeros_like(gt.data))
    r2 = evaluate_volumes(empty, gt, convention="brats2023", case="two")
    return [r1, r2]


def test_json_layout_and_nan_as_null(tmp_path):
    results = _two_results()
    doc = to_json_dict(results, n_resamples=200, seed=3)
    assert doc["convention"] == "brats2023"
    assert [c["case"] for c in doc["cases"]] == ["one", "two"]
    wt = doc["cases"][0]["regions"]["WT"]
    for key in ("dice", "iou", "hd95_mm", "assd_mm", "nsd", "sensitivity", "specificity",
                "volume_pred_ml", "volume_gt_ml", "lesion_tp", "lesion_fp", "lesion_fn", "lesion_f1"):
        assert key in wt
    assert wt["dice"] == pytest.approx(0.75)
    # regions absent on both sides under the NaN-free BraTS rule; binary-like undefined -> null
    summ = doc["summary"]["WT"]["dice"]
    assert set(summ) >= {"mean", "median", "sd", "ci95"} and len(summ["ci95"]) == 2
    assert summ["mean"] == pytest.approx((0.75 + 0.0) / 2)
    out = write_json(doc, tmp_path / "res" / "eval.json")
    text = out.read_text()
    assert "NaN" not in text and "Infinity" not in text
    loaded = json.loads(text)
    assert loaded == json.loads(json.dumps(doc))
    assert sorted(p.name for p in out.parent.iterdir()) == ["eval.json"]  # no temp file left
    # NaN really becomes null: a binary convention with both masks empty
    z = Volume(np.zeros((4, 4, 4), np.uint8))
    doc2 = to_json_dict([evaluate_volumes(z, z, convention="binary")])
    assert doc2["cases"][0]["regions"]["foreground"]["dice"] is None


def test_outputs_never_overwrite_inputs(tmp_path):
    results = _two_results()
    src = tmp_path / "gt.nii.gz"
    src.write_bytes(b"input")
    with pytest.raises(InvalidInputError, match="refusing to overwrite an input"):
        write_json(results, src, protect=[src])
    with pytest.raises(InvalidInputError, match="refusing to overwrite an input"):
        write_csv(results, tmp_path / "." / "gt.nii.gz", protect=[str(src)])
    assert src.read_bytes() == b"input"
    with pytest.raises(InvalidInputError, match="is a folder"):
        write_csv(results, tmp_path, protect=[])


def test_csv_rows(tmp_path):
    results = _two_results()
    out = write_csv(results, tmp_path / "eval.csv")
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 2 * (3 + 3)  # two cases x (3 regions + 3 labels)
    first = rows[0]
    assert (first["case"], first["kind"], first["name"], first["label_values"]) == ("one", "region", "WT", "1;2;3")
    assert float(first["dice"]) == pytest.approx(0.75)
    et_two = next(r for r in rows if r["case"] == "two" and r["name"] == "ET" and r["kind"] == "region")
    assert et_two["empty"] == "both" and "BraTS rule" in et_two["notes"]
    z = Volume(np.zeros((4, 4, 4), np.uint8))
    out2 = write_csv([evaluate_volumes(z, z, convention="binary")], tmp_path / "nan.csv")
    row = next(csv.DictReader(out2.open()))
    assert row["dice"] == "" and row["hd95_mm"] == ""


def test_text_formatting():
    results = _two_results()
    text = format_case(results[1], show_labels=True)
    assert "case two" in text and "WT" in text and "SNFH" in text
    assert "373.13" in text  # the rule value and its note
    summary = summarize_cases(results, n_resamples=100)
    s = format_summary(summary, n_cases=2)
    assert "over 2 case(s)" in s and "dice" in s
    assert isinstance(results[0], CaseResult)
    assert math.isfinite(summary["WT"]["dice"]["ci95"][0])
