"""CLI: napari-medai alzheimer register / simulate-cohort on synthetic inputs (real data: skipped without it)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from napari_medai.cli import main
from napari_medai.core.io import read_volume, write_volume
from tests.core.test_alzheimer_cohort import synthetic_source
from tests.core.test_alzheimer_registration import affine_lps, synthetic_subject, synthetic_template

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TEMPLATE_NAME = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("alz")
    tpl = write_volume(synthetic_template().image, d / TEMPLATE_NAME)
    t1 = write_volume(synthetic_subject(affine_lps(rot_deg=(0, 0, 4), scales=(1.03, 1, 0.98), shift=(6, -4, 8))),
                      d / "t1.nii.gz")
    return {"template": tpl, "t1": t1, "dir": d}


def test_register_writes_the_aligned_t1_json_and_transform(files, tmp_path, capsys):
    out, js, tfm = tmp_path / "aligned.nii.gz", tmp_path / "reg.json", tmp_path / "reg.tfm"
    args = ["alzheimer", "register", "--t1", str(files["t1"]), "--template", str(files["template"]),
            "--out", str(out), "--json", str(js), "--transform", str(tfm), "--threads", "1"]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "correlation inside the template's brain" in text
    doc = json.loads(js.read_text())
    assert doc["accepted"] and doc["correlation_after"] > 0.9 and doc["template_brain_mask"] == "template otsu"
    assert len(doc["matrix_lps"]) == 4 and "AffineTransform" in tfm.read_text()
    aligned = read_volume(out)
    assert aligned.same_grid(read_volume(files["template"]))
    assert main(args) == 2  # outputs exist: refused before any work
    assert "already exists; pass --overwrite" in capsys.readouterr().err


def test_register_bad_input_is_one_line(files, tmp_path, capsys):
    cases = [
        (["--t1", str(tmp_path / "missing.nii.gz"), "--out", str(tmp_path / "a.nii.gz")], "no such file"),
        (["--t1", str(files["t1"]), "--out", str(files["t1"])], "refusing to overwrite an input"),
        (["--t1", str(files["t1"]), "--out", str(tmp_path / "a.png")], "give a file name ending in"),
        (["--t1", str(files["t1"]), "--out", str(tmp_path / "a.nii.gz"), "--transform", str(tmp_path / "t.txt")],
         "ending in .tfm"),
        (["--t1", str(files["t1"]), "--out", str(tmp_path / "a.nii.gz"), "--template", str(tmp_path / "none.nii.gz")],
         "template not found"),
    ]
    for extra, msg in cases:
        if "--template" not in extra:
            extra = [*extra, "--template", str(files["template"])]
        assert main(["alzheimer", "register", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err


def test_register_refuses_nonsense_and_writes_only_the_json(files, tmp_path, capsys):
    noise = synthetic_subject(affine_lps()).with_data(
        np.random.default_rng(0).uniform(0, 300, synthetic_subject(affine_lps()).data.shape).astype(np.float32))
    src = write_volume(noise, tmp_path / "noise.nii.gz")
    out, js = tmp_path / "aligned.nii.gz", tmp_path / "reg.json"
    assert main(["alzheimer", "register", "--t1", str(src), "--template", str(files["template"]), "--out", str(out),
                 "--json", str(js), "--threads", "1"]) == 2
    err = capsys.readouterr().err
    assert "registration to MNI152 failed" in err and "no image written" in err
    assert not out.exists() and json.loads(js.read_text())["accepted"] is False


def _write_sources(root: Path, n: int = 2) -> Path:
    for i in range(n):
        s = synthetic_source(f"S{i}", shift=i)
        write_volume(s.t1, root / "nifti" / f"S{i}-T1_ds.nii.gz")
        write_volume(s.labels, root / "dlmuse" / f"S{i}-T1_ds_DLMUSE.nii.gz")
    return root


def test_simulate_cohort_writes_the_folder(tmp_path, capsys):
    src = _write_sources(tmp_path / "src")
    out = tmp_path / "cohort"
    assert main(["alzheimer", "simulate-cohort", "--out", str(out), "--subjects", "4", "--severity", "0.15",
                 "--seed", "2", "--source", str(src)]) == 0
    text = capsys.readouterr().out
    assert "planted change: label volumes within" in text and "s per subject" in text
    rows = list(csv.DictReader((out / "labels.csv").open()))
    assert [r["diagnosis"] for r in rows].count("AD") == 2 and {r["source"] for r in rows} == {"S0", "S1"}
    assert len(list((out / "t1").glob("*.nii.gz"))) == 4 and json.loads((out / "manifest.json").read_text())["seed"] == 2


def test_simulate_cohort_bad_input_is_one_line(tmp_path, capsys):
    src = _write_sources(tmp_path / "src", n=1)
    cases = [(["--subjects", "4", "--severity", "0.9"], "severity must be in"),
             (["--subjects", "1", "--severity", "0.1"], "n_subjects must be"),
             (["--subjects", "2", "--severity", "0.1", "--out", str(src)], "overlaps the source folder")]
    for extra, msg in cases:
        if "--out" not in extra:
            extra = [*extra, "--out", str(tmp_path / "c")]
        assert main(["alzheimer", "simulate-cohort", "--source", str(src), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
    assert main(["alzheimer", "simulate-cohort", "--source", str(tmp_path / "empty"), "--out", str(tmp_path / "d"),
                 "--subjects", "2", "--severity", "0.1"]) == 2
    assert "no T1 scans" in capsys.readouterr().err


def test_simulate_cohort_from_the_real_ixi_scans(tmp_path, capsys):
    if not (SHARED / "brain_t1_ixi").is_dir():
        pytest.skip(f"real IXI scans not found at {SHARED / 'brain_t1_ixi'}")
    out = tmp_path / "cohort"
    assert main(["alzheimer", "simulate-cohort", "--out", str(out), "--subjects", "2", "--severity", "0.2",
                 "--source", str(SHARED / "brain_t1_ixi")]) == 0
    man = json.loads((out / "manifest.json").read_text())
    ad = [s for s in man["subjects"] if s["planted"]]
    assert len(ad) == 1
    for r in ad[0]["planted"]["regions"].values():
        assert abs(r["label_change"] - r["requested"]) <= 0.01


def _tiny_cohort(root: Path, n: int = 8, *, dx: list[str] | None = None, skip: tuple[str, ...] = ()) -> Path:
    """``n`` small volumes on one grid, the AD half with a darker blob at index (8, 6, 10); returns labels.csv."""
    from napari_medai.core.volume import Volume

    rng = np.random.default_rng(1)
    shape = (16, 18, 16)
    zz, yy, xx = np.indices(shape)
    blob = np.exp(-((zz - 8) ** 2 + (yy - 6) ** 2 + (xx - 10) ** 2) / (2 * 1.5**2))
    dx = dx or ["AD", "NC"] * (n // 2)
    root.mkdir(parents=True, exist_ok=True)
    with (root / "labels.csv").open("w") as f:
        f.write("subject,diagnosis\n")
        for i, d in enumerate(dx):
            img = 100.0 + 2.0 * rng.standard_normal(shape) - (30.0 * blob if d == "AD" else 0.0)
            if f"s{i}" not in skip:
                write_volume(Volume(img.astype(np.float32), spacing=(2.0,) * 3, origin=(-16.0, 18.0, 16.0)),
                             root / "t1" / f"s{i}.nii.gz")
            f.write(f"s{i},{d}\n")
    return root / "labels.csv"


def test_landmarks_on_an_aligned_tiny_cohort(tmp_path, capsys):
    labels = _tiny_cohort(tmp_path / "c")
    out, pmap, tmap = tmp_path / "lm.csv", tmp_path / "p.nii.gz", tmp_path / "t.nii.gz"
    args = ["alzheimer", "landmarks", "--cohort", str(tmp_path / "c"), "--labels", str(labels), "--out", str(out),
            "--n", "5", "--min-distance", "8", "--aligned", "--pmap", str(pmap), "--tmap", str(tmap)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "registration skipped" in text and "8 subjects (4 AD, 4 NC)" in text
    rows = list(csv.DictReader(out.open()))
    assert [int(r["rank"]) for r in rows] == [1, 2, 3, 4, 5]
    first = [int(rows[0][f"index_{k}"]) for k in range(3)]
    assert np.abs(np.subtract(first, (8, 6, 10))).max() <= 1 and float(rows[0]["t"]) < 0
    pts = np.array([[float(r[c]) for c in ("x_mni_mm", "y_mni_mm", "z_mni_mm")] for r in rows])
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(5) * 1e9
    assert d.min() >= 8.0
    p = read_volume(pmap)
    assert p.spatial_shape == (16, 18, 16) and float(p.data.min()) == pytest.approx(float(rows[0]["p_value"]), rel=1e-4)
    assert read_volume(tmap).data.min() < 0
    before = out.read_text()
    assert main(args) == 2 and "already exists" in capsys.readouterr().err
    assert main([*args, "--overwrite"]) == 0 and out.read_text() == before  # deterministic


def test_landmarks_bad_input_is_one_line(tmp_path, capsys):
    labels = _tiny_cohort(tmp_path / "c", n=4)
    missing = _tiny_cohort(tmp_path / "m", n=4, skip=("s1",))
    one = _tiny_cohort(tmp_path / "o", n=4, dx=["NC"] * 4)
    (tmp_path / "afile").write_text("x")
    base = ["--cohort", str(tmp_path / "c"), "--labels", str(labels), "--aligned"]
    cases = [
        (["--cohort", str(tmp_path / "m"), "--labels", str(missing), "--aligned"], "no T1 for 1 subject(s)"),
        (["--cohort", str(tmp_path / "o"), "--labels", str(one), "--aligned"], "0 AD and 4 NC"),
        ([*base, "--out", str(tmp_path / "lm.txt")], "ending in .csv"),
        ([*base, "--n", "0"], "--n must be at least 1"),
        ([*base, "--min-distance", "-3"], "--min-distance must be >= 0"),
        ([*base, "--max-anisotropy", "0.5"], "--max-anisotropy must be >= 1"),
        ([*base, "--pmap", str(tmp_path / "p.png")], "--pmap"),
        ([*base, "--work", str(tmp_path / "afile")], "is a file"),
        (["--cohort", str(tmp_path / "nope"), "--labels", str(labels)], "no such folder"),
    ]
    for extra, msg in cases:
        if "--out" not in extra:
            extra = [*extra, "--out", str(tmp_path / "lm.csv")]
        assert main(["alzheimer", "landmarks", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
    assert main(["alzheimer", "landmarks", *base, "--out", str(labels)]) == 2  # never over the labels CSV
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert not (tmp_path / "lm.csv").exists()


# ------------------------------------------------------------------------- train / predict / evaluate
def _classifier_cohort(root: Path) -> Path:
    from tests.core.test_alzheimer_classifier import tiny_cohort

    return tiny_cohort(root, n_sources=4, per_source=4)


def test_train_predict_evaluate_alzheimer_on_an_aligned_tiny_cohort(tmp_path, capsys):
    labels = _classifier_cohort(tmp_path / "c")
    model = tmp_path / "model"
    assert main(["train", "alzheimer", "--cohort", str(tmp_path / "c"), "--labels", str(labels), "--out", str(model),
                 "--aligned", "--landmarks", "3", "--min-distance", "6", "--patch", "6", "--epochs", "2",
                 "--steps", "3", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "16 subjects (8 AD / 8 NC) from 4 source scans" in text and "not a diagnosis" in text
    assert (model / "model.json").is_file() and (model / "landmarks.csv").is_file()
    js, sal = tmp_path / "p.json", tmp_path / "sal.nii.gz"
    t1 = tmp_path / "c" / "t1" / "s1.nii.gz"
    assert main(["alzheimer", "predict", "--t1", str(t1), "--model", str(model), "--aligned", "--json", str(js),
                 "--saliency", str(sal)]) == 0
    text = capsys.readouterr().out
    assert "P(AD)" in text and "not a diagnosis" in text and "most contributing landmarks" in text
    doc = json.loads(js.read_text())
    assert doc["trained"] and 0 <= doc["probability_ad"] <= 1 and len(doc["landmarks"]) == 3
    assert read_volume(sal).same_grid(read_volume(t1))
    ej, png = tmp_path / "e.json", tmp_path / "roc.png"
    assert main(["alzheimer", "evaluate", "--cohort", str(tmp_path / "c"), "--labels", str(labels), "--model",
                 str(model), "--aligned", "--json", str(ej), "--roc-png", str(png)]) == 0
    text = capsys.readouterr().out
    assert "DeLong 95% CI" in text and "NOT a held-out evaluation" in text  # it trained on these sources
    ev = json.loads(ej.read_text())
    assert ev["n_ad"] == 8 and ev["n_nc"] == 8 and 0 <= ev["auc"] <= 1 and len(ev["roc"]["fpr"]) >= 2
    assert png.read_bytes()[:4] == b"\x89PNG"
    assert main(["alzheimer", "evaluate", "--cohort", str(tmp_path / "c"), "--labels", str(labels), "--model",
                 str(model), "--aligned", "--json", str(ej)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_alzheimer_classifier_commands_bad_input_is_one_line(tmp_path, capsys):
    labels = _classifier_cohort(tmp_path / "c")
    t1 = tmp_path / "c" / "t1" / "s1.nii.gz"
    base = ["--cohort", str(tmp_path / "c"), "--labels", str(labels), "--aligned"]
    cases = [
        (["train", "alzheimer", *base, "--out", str(tmp_path / "m"), "--landmarks", "0"], "--landmarks must be >= 1"),
        (["train", "alzheimer", *base, "--out", str(tmp_path / "m"), "--val-fraction", "1"], "--val-fraction"),
        (["train", "alzheimer", *base, "--out", str(labels)], "is a file"),
        (["train", "alzheimer", "--cohort", str(tmp_path / "none"), "--labels", str(labels), "--out",
          str(tmp_path / "m"), "--aligned"], "no such folder"),
        (["alzheimer", "predict", "--t1", str(tmp_path / "none.nii.gz"), "--model", str(tmp_path)], "no such file"),
        (["alzheimer", "predict", "--t1", str(t1), "--model", str(tmp_path / "nomodel")], "no such folder"),
        (["alzheimer", "predict", "--t1", str(t1), "--model", str(tmp_path / "c"), "--aligned"],
         "neither a napari-medai model folder"),
        (["alzheimer", "predict", "--t1", str(t1), "--model", str(tmp_path), "--json", str(tmp_path / "x.txt")],
         "ending in .json"),
        (["alzheimer", "evaluate", *base, "--model", str(tmp_path), "--roc-png", str(tmp_path / "r.jpg")], ".png"),
        (["alzheimer", "evaluate", *base, "--model", str(tmp_path), "--threshold", "2"], "--threshold"),
    ]
    for args, msg in cases:
        assert main(args) == 2, args
        err = capsys.readouterr().err.strip()
        assert msg in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "m").exists() and not (tmp_path / "x.txt").exists()
