"""``napari-medai evaluate`` end to end on NIfTI files written here with nibabel."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_medai.cli import main

nib = pytest.importorskip("nibabel")

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def _save(path: Path, arr_ijk: np.ndarray, zooms=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0)) -> Path:
    affine = np.diag([*zooms, 1.0])
    affine[:3, 3] = origin
    nib.save(nib.Nifti1Image(arr_ijk.astype(np.uint8), affine), str(path))
    return path


def _labels(shift=0):
    """BraTS 2021 style labels (i, j, k order): oedema box with NCR and ET inside."""
    a = np.zeros((16, 14, 12), np.uint8)
    a[3:11, 3:11, 2:10] = 2
    a[4:7, 4:7, 3:6] = 1
    a[7:10, 7:10, 6:9] = 4
    return np.roll(a, shift, axis=0)


def _one_line_error(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2
    assert len(err.splitlines()) == 1 and err.startswith("napari-medai evaluate: error: ")
    return err


def test_single_case_table_and_json(tmp_path, capsys):
    p = _save(tmp_path / "c1_pred.nii.gz", _labels(shift=1))
    g = _save(tmp_path / "c1_seg.nii.gz", _labels())
    out = tmp_path / "out" / "res.json"
    rc = main(["evaluate", "--pred", str(p), "--gt", str(g), "--convention", "brats2021",
               "--json", str(out), "--csv", str(tmp_path / "res.csv"), "--tolerance-mm", "2"])
    stdout = capsys.readouterr().out
    assert rc == 0
    assert "case c1" in stdout and "WT" in stdout and "HD95 mm" in stdout
    doc = json.loads(out.read_text())
    assert doc["convention"] == "brats2021"
    case = doc["cases"][0]
    assert case["case"] == "c1"
    assert set(case["regions"]) == {"WT", "TC", "ET"}
    wt = case["regions"]["WT"]
    # WT is the 8x8x8 box shifted by one voxel: overlap 7*8*8 -> Dice 2*448/1024
    assert wt["dice"] == pytest.approx(2 * 448 / 1024)
    assert wt["hd95_mm"] == pytest.approx(1.0)
    assert wt["volume_gt_ml"] == pytest.approx(0.512)
    assert doc["settings"]["tolerance_mm"] == 2.0 and doc["settings"]["lesion_style"] == "brats2023"
    for key in ("mean", "median", "sd", "ci95"):
        assert key in doc["summary"]["WT"]["dice"]
    assert (tmp_path / "res.csv").read_text().startswith("case,kind,name,label_values,dice")


def test_cohort_by_case_name_with_unmatched(tmp_path, capsys):
    pdir, gdir = tmp_path / "pred", tmp_path / "gt"
    pdir.mkdir()
    gdir.mkdir()
    for i, name in enumerate(("a", "b", "c")):
        _save(pdir / f"{name}_pred.nii.gz", _labels(shift=i))
    for name in ("a", "b", "d"):
        _save(gdir / f"{name}-seg.nii.gz", _labels())
    out = tmp_path / "cohort.json"
    rc = main(["evaluate", "--pred", str(pdir), "--gt", str(gdir), "--convention", "brats2021",
               "--json", str(out), "--bootstrap", "500", "--seed", "4"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "prediction(s) without reference, skipped: c" in captured.err
    assert "reference(s) without prediction, skipped: d" in captured.err
    assert "cohort summary over 2 case(s)" in captured.out
    doc = json.loads(out.read_text())
    assert [c["case"] for c in doc["cases"]] == ["a", "b"]
    assert doc["unmatched"] == {"pred": ["c"], "gt": ["d"]}
    # case a is perfect, case b shifted by one voxel
    s = doc["summary"]["WT"]["dice"]
    assert s["mean"] == pytest.approx((1.0 + 2 * 448 / 1024) / 2)
    assert s["n"] == 2 and s["ci95"][0] <= s["mean"] <= s["ci95"][1]
    # the same seed gives the same CI
    main(["evaluate", "--pred", str(pdir), "--gt", str(gdir), "--convention", "brats2021",
          "--json", str(tmp_path / "again.json"), "--bootstrap", "500", "--seed", "4"])
    capsys.readouterr()
    assert json.loads((tmp_path / "again.json").read_text())["summary"] == doc["summary"]


def test_grid_mismatch_needs_resample(tmp_path, capsys):
    g = _save(tmp_path / "g.nii.gz", _labels())
    coarse = _labels()[::2, ::2, ::2]
    p = _save(tmp_path / "p.nii.gz", coarse, zooms=(2.0, 2.0, 2.0), origin=(0.5, 0.5, 0.5))
    err = _one_line_error(capsys, ["evaluate", "--pred", str(p), "--gt", str(g), "--convention", "brats2021"])
    assert "not on the same voxel grid" in err and "--resample" in err
    rc = main(["evaluate", "--pred", str(p), "--gt", str(g), "--convention", "brats2021", "--resample",
               "--json", str(tmp_path / "r.json")])
    assert rc == 0
    doc = json.loads((tmp_path / "r.json").read_text())
    assert doc["cases"][0]["resampled"] is True
    assert "resampled" in capsys.readouterr().out


def test_bad_inputs_exit_2_with_one_line(tmp_path, capsys):
    g = _save(tmp_path / "g.nii.gz", _labels())
    err = _one_line_error(capsys, ["evaluate", "--pred", str(tmp_path / "missing.nii.gz"), "--gt", str(g)])
    assert "missing.nii.gz" in err and "no such file" in err
    err = _one_line_error(capsys, ["evaluate", "--pred", str(g), "--gt", str(g), "--convention", "brats2023"])
    assert "4 outside convention 'brats2023'" in err
    err = _one_line_error(capsys, ["evaluate", "--pred", str(g), "--gt", str(g), "--convention", "kits"])
    assert "unknown label convention" in err
    err = _one_line_error(capsys, ["evaluate", "--pred", str(g), "--gt", str(tmp_path), "--convention", "brats2021"])
    assert "two files" in err
    err = _one_line_error(capsys, ["evaluate", "--pred", str(g), "--gt", str(g), "--convention", "brats2021",
                                   "--json", str(g)])
    assert "refusing to overwrite an input" in err
    assert nib.load(str(g)).shape == (16, 14, 12)  # untouched


def test_custom_regions(tmp_path, capsys):
    g = _save(tmp_path / "g.nii.gz", _labels())
    out = tmp_path / "r.json"
    rc = main(["evaluate", "--pred", str(g), "--gt", str(g), "--regions", "tumour=1,2,4;core=1,4",
               "--json", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    assert doc["convention"] == "custom"
    assert set(doc["cases"][0]["regions"]) == {"tumour", "core"}
    assert doc["cases"][0]["regions"]["core"]["dice"] == 1.0
    capsys.readouterr()


@pytest.mark.realdata
def test_real_brats_case(tmp_path, capsys):
    files = sorted((DATA / "brats2013_flair_t1c").glob("*/OTMultiClass.nii.gz"))
    if not files:
        pytest.skip(f"real BraTS labels not found under {DATA / 'brats2013_flair_t1c'}")
    img = nib.load(str(files[0]))
    lab = np.asarray(img.dataobj).astype(np.uint8)
    pred = np.roll(lab, 2, axis=1)
    p = tmp_path / "pat_pred.nii.gz"
    nib.save(nib.Nifti1Image(pred, img.affine), str(p))
    out = tmp_path / "r.json"
    rc = main(["evaluate", "--pred", str(p), "--gt", str(files[0]), "--convention", "brats2013",
               "--json", str(out)])
    assert rc == 0
    doc = json.loads(out.read_text())
    wt = doc["cases"][0]["regions"]["WT"]
    assert 0.5 < wt["dice"] < 1.0 and wt["hd95_mm"] == pytest.approx(2.0)  # 2 mm shift
    assert wt["volume_gt_ml"] == pytest.approx(np.count_nonzero(lab) / 1000)
    capsys.readouterr()
