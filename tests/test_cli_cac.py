"""``napari-medai cac`` and ``napari-medai cac-agreement`` end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_medai.cli import main
from napari_medai.core.io import read_volume, write_volume
from napari_medai.core.phantoms import make_phantom
from napari_medai.core.volume import Volume


@pytest.fixture(scope="module")
def phantom_files(tmp_path_factory) -> tuple[Path, Path, dict]:
    folder = tmp_path_factory.mktemp("cac")
    ph = make_phantom("cardiac_ct", seed=0)
    ct = write_volume(ph["ct"], folder / "case1_ct.nrrd")
    gt = write_volume(ph["assignment"], folder / "case1_assignment.nrrd")
    return ct, gt, ph["assignment"].meta["expected"]


def _one_line_error(capsys, argv, command="cac"):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith(f"napari-medai {command}: error: "), err
    return err


def test_cac_with_assignment_writes_json_and_csv(phantom_files, tmp_path, capsys):
    ct, gt, exp = phantom_files
    out = tmp_path / "out" / "cac.json"
    rc = main(["cac", "--ct", str(ct), "--assignment", str(gt), "--json", str(out), "--csv", str(tmp_path / "cac.csv")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "risk category: 101-400" in captured.out and "Agatston" in captured.out
    assert captured.err == ""  # 3 mm slices: no warning
    doc = json.loads(out.read_text())
    assert list(doc)[:6] == ["agatston", "volume_mm3", "mass_mg", "category", "slice_thickness_mm", "lesions"]
    for key in ("total", "LM", "LAD", "LCX", "RCA"):
        assert doc["agatston"][key] == pytest.approx(exp["agatston"][key], rel=1e-9)
        assert doc["mass_mg"][key] == pytest.approx(exp["mass"][key], rel=1e-9)
    assert doc["category"] == exp["risk_category"] and doc["slice_thickness_mm"] == 3.0
    assert len([les for les in doc["lesions"] if les["artery"] != "non-coronary"]) == exp["lesion_count"]["total"]
    assert (tmp_path / "cac.csv").read_text().startswith("kind,artery,id,slice")


def test_cac_automatic_assignment_and_saved_labels(phantom_files, tmp_path, capsys):
    ct, _, exp = phantom_files
    saved = tmp_path / "auto_assignment.nii.gz"
    rc = main(["cac", "--ct", str(ct), "--save-assignment", str(saved), "--json", str(tmp_path / "a.json")])
    out = capsys.readouterr().out
    assert rc == 0
    assert "automatic assignment (anatomical heuristic" in out
    lab = read_volume(saved, as_label=True)
    assert set(np.unique(lab.data)) <= {0, 1, 2, 3, 4, 5}
    doc = json.loads((tmp_path / "a.json").read_text())
    assert doc["agatston"]["total"] == pytest.approx(exp["agatston"]["total"], rel=1e-9)


def test_cac_warns_about_5mm_slices_on_stderr(tmp_path, capsys):
    ph = make_phantom("cardiac_ct", seed=0)
    ct = ph["ct"].with_data(ph["ct"].data, spacing=(5.0, 0.7, 0.7))
    lab = ph["assignment"].with_data(ph["assignment"].data, spacing=(5.0, 0.7, 0.7))
    ct_path = write_volume(ct, tmp_path / "ct5.nii.gz")
    lab_path = write_volume(lab, tmp_path / "lab5.nii.gz")
    out = tmp_path / "r.json"
    assert main(["cac", "--ct", str(ct_path), "--assignment", str(lab_path), "--json", str(out)]) == 0
    err = capsys.readouterr().err
    assert "warning" in err and "5 mm, not the 3 mm" in err and "5/3" in err
    doc = json.loads(out.read_text())
    assert doc["slice_correction"] == "scale" and doc["slice_factor"] == pytest.approx(5 / 3)
    assert main(["cac", "--ct", str(ct_path), "--assignment", str(lab_path), "--slice-correction", "none",
                 "--json", str(out)]) == 0
    assert "slice_correction='none'" in capsys.readouterr().err
    assert json.loads(out.read_text())["slice_factor"] == 1.0


def test_cac_errors_are_one_line(phantom_files, tmp_path, capsys):
    ct, gt, _ = phantom_files
    err = _one_line_error(capsys, ["cac", "--ct", str(tmp_path / "missing.nii.gz")])
    assert "no such file" in err
    raw = Volume(data=np.full((4, 20, 20), 1024, dtype=np.int16), spacing=(3.0, 0.7, 0.7), name="raw")
    raw.data[:, 5:8, 5:8] = 1500
    raw_path = write_volume(raw, tmp_path / "raw.nii.gz")
    err = _one_line_error(capsys, ["cac", "--ct", str(raw_path)])
    assert "does not look like HU" in err
    sag = make_phantom("cardiac_ct", seed=0)["ct"]
    sag = sag.with_data(sag.data, direction=np.array([[0.0, 0.0, 1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]))
    sag_path = write_volume(sag, tmp_path / "sagittal.nrrd")
    err = _one_line_error(capsys, ["cac", "--ct", str(sag_path)])
    assert "not axial" in err
    err = _one_line_error(capsys, ["cac", "--ct", str(ct), "--assignment", str(gt), "--json", str(gt)])
    assert "overwrite an input" in err
    other = tmp_path / "other_grid.nii.gz"
    write_volume(read_volume(gt, as_label=True).with_data(np.zeros((24, 10, 10), np.uint8)), other)
    err = _one_line_error(capsys, ["cac", "--ct", str(ct), "--assignment", str(other)])
    assert "same voxel grid" in err


def _write_csv(path: Path, rows: list[tuple]) -> Path:
    path.write_text("case,total,LM,LAD,LCX,RCA\n" + "\n".join(",".join(str(v) for v in r) for r in rows) + "\n")
    return path


def test_cac_agreement_cli(tmp_path, capsys):
    auto = _write_csv(tmp_path / "auto.csv", [
        ("c1", 0, 0, 0, 0, 0), ("c2", 5, 0, 5, 0, 0), ("c3", 50, 10, 20, 10, 10),
        ("c4", 150, 0, 100, 20, 30), ("c5", 600, 50, 300, 100, 150), ("extra", 3, 0, 3, 0, 0)])
    ref = _write_csv(tmp_path / "ref.csv", [
        ("c1", 0, 0, 0, 0, 0), ("c2", 12, 0, 12, 0, 0), ("c3", 40, 10, 10, 10, 10),
        ("c4", 160, 0, 110, 20, 30), ("c5", 500, 50, 250, 100, 100)])
    out = tmp_path / "agree.json"
    plot = tmp_path / "ba.png"
    rc = main(["cac-agreement", "--auto", str(auto), "--ref", str(ref), "--json", str(out), "--plot", str(plot)])
    captured = capsys.readouterr()
    assert rc == 0
    assert "1 automatic case(s) without reference" in captured.err and "extra" in captured.err
    assert "5 cases matched" in captured.out and "ICC(2,1)" in captured.out and "weighted kappa" in captured.out
    doc = json.loads(out.read_text())
    a, r = [0, 5, 50, 150, 600], [0, 12, 40, 160, 500]
    d = np.subtract(a, r)
    assert doc["n_cases"] == 5
    assert doc["scores"]["total"]["bland_altman"]["bias"] == pytest.approx(d.mean())
    assert doc["scores"]["total"]["bland_altman"]["sd"] == pytest.approx(d.std(ddof=1))
    assert doc["scores"]["total"]["pearson_r"] == pytest.approx(np.corrcoef(a, r)[0, 1])
    assert doc["scores"]["LM"]["bland_altman"]["bias"] == 0.0
    cm = np.array(doc["risk_category"]["confusion_matrix"])
    assert cm.sum() == 5 and cm[1, 2] == 1 and np.trace(cm) == 4
    assert doc["unmatched"] == {"auto": ["extra"], "ref": []}
    assert plot.stat().st_size > 1000


def test_cac_agreement_bad_input(tmp_path, capsys):
    good = _write_csv(tmp_path / "a.csv", [("c1", 1, 0, 1, 0, 0), ("c2", 2, 0, 2, 0, 0)])
    bad = tmp_path / "bad.csv"
    bad.write_text("case,total\nc1,abc\n")
    err = _one_line_error(capsys, ["cac-agreement", "--auto", str(good), "--ref", str(bad)], "cac-agreement")
    assert "not a number" in err
    nohead = tmp_path / "nohead.csv"
    nohead.write_text("id,score\nc1,3\n")
    err = _one_line_error(capsys, ["cac-agreement", "--auto", str(good), "--ref", str(nohead)], "cac-agreement")
    assert "'case' and 'total'" in err
    other = _write_csv(tmp_path / "o.csv", [("x1", 1, 0, 1, 0, 0), ("c1", 3, 0, 3, 0, 0)])
    err = _one_line_error(capsys, ["cac-agreement", "--auto", str(good), "--ref", str(other)], "cac-agreement")
    assert "at least 2" in err
    err = _one_line_error(capsys, ["cac-agreement", "--auto", str(tmp_path / "none.csv"), "--ref", str(good)],
                          "cac-agreement")
    assert "no such file" in err
