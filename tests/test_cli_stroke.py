"""``napari-medai stroke`` end to end on phantom files, and its one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_medai.cli import main
from napari_medai.core.io import read_volume, write_volume
from napari_medai.core.phantoms.stroke import stroke_phantom
from napari_medai.core.tasks.stroke.inputs import describe_grid, resample_linear
from napari_medai.core.volume import Volume

from .core.test_models_support import one_torch_thread  # noqa: F401


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("stroke")
    ph = stroke_phantom(seed=0)
    dwi, adc, lesion = ph["dwi"], ph["adc"], ph["lesion"]
    # a FLAIR on its own anisotropic grid: lesions 1.3x brighter than the rest of the head
    head = adc.data > 0
    flair_dwi_grid = dwi.with_data(np.where(head, 100.0, 0.0) * np.where(lesion.data > 0, 1.3, 1.0))
    fgrid = Volume(np.zeros((16, 120, 110), np.float32), spacing=(5.0, 1.3, 1.3),
                   origin=tuple(o - 3.0 for o in dwi.origin))
    flair, _ = resample_linear(flair_dwi_grid.with_data(flair_dwi_grid.data.astype(np.float32)), fgrid)
    out = {
        "dwi": write_volume(dwi, folder / "case_dwi.nii.gz"),
        "adc": write_volume(adc, folder / "case_adc.nii.gz"),
        "flair": write_volume(flair, folder / "case_flair.nii.gz"),
        "adc3": write_volume(adc.with_data(adc.data * np.float32(1e-3)), folder / "c3_adc.nii.gz"),
    }
    (folder / "c3_adc.json").write_text(json.dumps({"Units": "10^-3 mm^2/s"}))
    out["shape"] = dwi.spatial_shape
    out["grid"] = describe_grid(dwi)
    out["truth_n"] = lesion.meta["n_lesions"]
    out["truth_ml"] = lesion.meta["lesion_volume_ml"]
    return out


def _one_line_error(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("napari-medai stroke: error: "), err
    return err


def test_threshold_mri_writes_labels_and_report(files, tmp_path, capsys):
    out, js = tmp_path / "lesions.nii.gz", tmp_path / "report.json"
    rc = main(["stroke", "--dwi", str(files["dwi"]), "--adc", str(files["adc"]), "--flair", str(files["flair"]),
               "--separate-lesions", "--out", str(out), "--json", str(js), "--probability", str(tmp_path / "p.nii.gz")])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    assert "threshold-mri" in captured.out and "ADC unit: 1e-6 (values" in captured.out
    assert f"FLAIR resampled from 1.3x1.3x5 mm 110x120x16 onto the DWI grid {files['grid']}" in captured.out
    doc = json.loads(js.read_text())
    assert doc["method"] == "threshold-mri" and doc["adc_unit"]["unit"] == "1e-6"
    assert doc["n_lesions"] == files["truth_n"] and doc["total_volume_ml"] == pytest.approx(files["truth_ml"], rel=0.15)
    assert {"volume_ml", "centroid_world", "max_diameter_mm", "mean_adc", "side"} <= set(doc["lesions"][0])
    assert all(p["source"] for p in doc["parameters"].values())
    mm = doc["mismatch"]
    assert mm["note"] == "research measure, not a treatment decision"
    assert 1.1 < mm["overall_rsi"] < 1.4  # the FLAIR was made 1.3x brighter in the lesions (blurred by resampling)
    lab = read_volume(out, as_label=True)
    assert lab.data.max() == doc["n_lesions"] and lab.spatial_shape == files["shape"]
    assert read_volume(tmp_path / "p.nii.gz").data.max() <= 1.0


def test_unit_from_the_sidecar_and_the_override(files, tmp_path, capsys):
    js = tmp_path / "r.json"
    assert main(["stroke", "--dwi", str(files["dwi"]), "--adc", str(files["adc3"]), "--out",
                 str(tmp_path / "l.nii.gz"), "--json", str(js)]) == 0
    assert json.loads(js.read_text())["adc_unit"]["source"] == "sidecar"
    capsys.readouterr()
    err = _one_line_error(capsys, ["stroke", "--dwi", str(files["dwi"]), "--adc", str(files["adc3"]),
                                   "--adc-unit", "1e-6", "--out", str(tmp_path / "x.nii.gz")])
    assert "c3_adc.nii.gz" in err and "outside the plausible" in err
    assert not (tmp_path / "x.nii.gz").exists()


def test_different_grids_are_refused_naming_both_files(files, tmp_path, capsys):
    adc = read_volume(files["adc"])
    moved = write_volume(adc.with_data(adc.data, origin=(0.0, 0.0, 0.0)), tmp_path / "moved_adc.nii.gz")
    out = tmp_path / "o.nii.gz"
    err = _one_line_error(capsys, ["stroke", "--dwi", str(files["dwi"]), "--adc", str(moved), "--out", str(out)])
    assert "case_dwi.nii.gz" in err and "moved_adc.nii.gz" in err and "same voxel grid" in err
    assert not out.exists()


def test_negative_adc_is_refused(files, tmp_path, capsys):
    adc = read_volume(files["adc"])
    neg = write_volume(adc.with_data(-adc.data), tmp_path / "neg_adc.nii.gz")
    out = tmp_path / "o.nii.gz"
    err = _one_line_error(capsys, ["stroke", "--dwi", str(files["dwi"]), "--adc", str(neg), "--out", str(out)])
    assert "neg_adc.nii.gz" in err and ("negative" in err or "positive ADC voxels" in err)
    assert not out.exists()


def test_4d_dwi_without_b_values_is_refused_and_with_a_bval_file_accepted(files, tmp_path, capsys):
    dwi = read_volume(files["dwi"])
    series = dwi.with_data(np.stack([dwi.data * 3.0, dwi.data]), channel_axis=0, channel_kind="time")
    p4 = write_volume(series, tmp_path / "dwi4d.nii.gz")
    out = tmp_path / "o.nii.gz"
    err = _one_line_error(capsys, ["stroke", "--dwi", str(p4), "--adc", str(files["adc"]), "--out", str(out)])
    assert "dwi4d.nii.gz" in err and "4-D DWI" in err and ".bval" in err
    assert not out.exists()
    (tmp_path / "dwi4d.bval").write_text("0 1000\n")
    assert main(["stroke", "--dwi", str(p4), "--adc", str(files["adc"]), "--out", str(out)]) == 0
    assert "volume 1 of 2 used, b = 1000" in capsys.readouterr().out


def test_out_equal_to_an_input_and_bad_combinations(files, tmp_path, capsys):
    before = files["adc"].read_bytes()
    err = _one_line_error(capsys, ["stroke", "--dwi", str(files["dwi"]), "--adc", str(files["adc"]),
                                   "--out", str(files["adc"])])
    assert "refusing to overwrite an input" in err and files["adc"].read_bytes() == before
    assert "--adc is missing" in _one_line_error(capsys, ["stroke", "--dwi", str(files["dwi"]), "--out", "x.nii.gz"])
    assert "needs --model" in _one_line_error(
        capsys, ["stroke", "--dwi", str(files["dwi"]), "--adc", str(files["adc"]), "--method", "model", "--out", "x.nii.gz"])
    assert "not with --cta" in _one_line_error(
        capsys, ["stroke", "--cta", str(files["dwi"]), "--flair", str(files["flair"]), "--out", "x.nii.gz"])


def test_cta_threshold_and_a_volume_not_in_hu(tmp_path, capsys):
    from napari_medai.core.phantoms.stroke import stroke_cta_phantom

    ph = stroke_cta_phantom(seed=0)
    cta = write_volume(ph["cta"], tmp_path / "head_cta.nii.gz")
    js = tmp_path / "cta.json"
    assert main(["stroke", "--cta", str(cta), "--out", str(tmp_path / "l.nii.gz"), "--json", str(js)]) == 0
    doc = json.loads(js.read_text())
    assert doc["method"] == "threshold-cta" and doc["adc_unit"] is None and doc["n_lesions"] >= 1
    assert all(p["source"] for p in doc["parameters"].values())
    capsys.readouterr()
    mr = write_volume(ph["cta"].with_data(ph["cta"].data * 0.0 + 500.0), tmp_path / "not_hu.nii.gz")
    err = _one_line_error(capsys, ["stroke", "--cta", str(mr), "--out", str(tmp_path / "n.nii.gz")])
    assert "not_hu.nii.gz" in err and not (tmp_path / "n.nii.gz").exists()


def test_cta_model_runs_from_the_command_line_on_the_cta_grid(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("monai")
    from napari_medai.core.phantoms.stroke import stroke_cta_phantom
    from napari_medai.core.tasks.stroke.model import train_stroke

    from .core.test_stroke_model import SMALL_DEEPMEDIC, TINY_CTA, write_cta_cases

    cases = write_cta_cases(tmp_path / "cases", seeds=(1, 2))
    model = train_stroke(cases, out_dir=tmp_path / "cta-model", network="deepmedic", max_epochs=1,
                         iterations_per_epoch=1, batch_size=1, val_fraction=0, patch_size=(25, 25, 25),
                         roi_size=(25, 25, 25), network_kwargs=SMALL_DEEPMEDIC, device="cpu", num_threads=1).out_dir
    ph = stroke_cta_phantom(seed=3, shape=TINY_CTA)
    cta = write_volume(ph["cta"], tmp_path / "head_cta.nii.gz")
    out, js = tmp_path / "lesions.nii.gz", tmp_path / "lesions.json"
    assert main(["stroke", "--cta", str(cta), "--method", "model", "--model", str(model), "--mirror",
                 "--out", str(out), "--json", str(js)]) == 0
    text = capsys.readouterr().out
    assert text.startswith("model: ") and f"wrote {out}" in text and "note: CTA mirrored" in text
    lesions = read_volume(out)
    assert lesions.spatial_shape == TINY_CTA and set(np.unique(lesions.data)) <= {0, 1}
    np.testing.assert_allclose(lesions.affine, ph["cta"].affine, atol=1e-5)
    doc = json.loads(js.read_text())
    assert doc["method"] == "model" and doc["adc_unit"] is None and doc["inputs"] == {"cta": str(cta)}
    assert str(model) in doc["parameters"]["model"]["value"]
    # an MRI given to the CTA model: one line, nothing written
    mri = stroke_phantom(seed=1, shape=(24, 40, 36), with_flair=False)
    dwi = write_volume(mri["dwi"], tmp_path / "s_dwi.nii.gz")
    adc = write_volume(mri["adc"], tmp_path / "s_adc.nii.gz")
    err = _one_line_error(capsys, ["stroke", "--dwi", str(dwi), "--adc", str(adc), "--method", "model",
                                   "--model", str(model), "--out", str(tmp_path / "x.nii.gz")])
    assert "trained on CTA" in err and not (tmp_path / "x.nii.gz").exists()
