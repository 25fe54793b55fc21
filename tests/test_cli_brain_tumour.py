"""``napari-medai train brain-tumour`` and ``napari-medai brain-tumour`` with tiny settings."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medai.cli import main  # noqa: E402

from .core.test_models_support import one_torch_thread, write_phantom_cases  # noqa: E402, F401

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
TINY = ["--epochs", "1", "--patch", "32", "--steps", "1", "--batch", "1", "--init-filters", "8",
        "--spacing", "2", "--window", "32", "--device", "cpu"]


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory) -> Path:
    return write_phantom_cases(tmp_path_factory.mktemp("cases"), seeds=(1, 2, 3), shape=(48, 48, 48))


@pytest.fixture(scope="module")
def trained(phantom_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("models") / "bt"
    assert main(["train", "brain-tumour", "--data", str(phantom_dir), "--out", str(out), *TINY]) == 0
    return out


@pytest.fixture(autouse=True)
def _private_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_MEDAI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NAPARI_MEDAI_MODELS", str(tmp_path / "models"))


def _case_files(phantom_dir: Path, name: str = "phantom001") -> dict[str, Path]:
    d = phantom_dir / name
    return {"flair": d / f"{name}_flair.nii.gz", "t1": d / f"{name}_t1.nii.gz", "t1c": d / f"{name}_t1ce.nii.gz",
            "t2": d / f"{name}_t2.nii.gz", "seg": d / f"{name}_seg.nii.gz"}


def test_train_prints_progress_and_writes_a_model_folder(trained, capsys):
    assert (trained / "model.pt").is_file() and (trained / "model.json").is_file()
    assert (trained / "checkpoint.pt").is_file()


def test_train_output_lines_and_resume(phantom_dir, tmp_path, capsys):
    out = tmp_path / "m"
    assert main(["train", "brain-tumour", "--data", str(phantom_dir), "--out", str(out), *TINY]) == 0
    text = capsys.readouterr().out
    assert "found 3 case(s) (BraTS 2021): phantom001, phantom002, phantom003" in text
    assert "channels used (present in every case): t1c, t1, t2, flair" in text
    assert "epoch 1/1: loss" in text and "trained 1 epochs" in text
    assert main(["train", "brain-tumour", "--data", str(phantom_dir), "--out", str(out), *TINY]) == 2
    assert "already holds a training run" in capsys.readouterr().err
    args = [a if a != "1" or i != 1 else "2" for i, a in enumerate(TINY)]  # --epochs 2
    assert main(["train", "brain-tumour", "--data", str(phantom_dir), "--out", str(out), "--resume", *args]) == 0
    assert "epoch 2/2: loss" in capsys.readouterr().out


def test_train_default_out_folder_is_never_clobbered(phantom_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "brain-tumour-model").mkdir()
    (tmp_path / "brain-tumour-model" / "model.json").write_text("an earlier model")
    assert main(["train", "brain-tumour", "--data", str(phantom_dir), *TINY]) == 0
    assert (tmp_path / "brain-tumour-model" / "model.json").read_text() == "an earlier model"
    assert (tmp_path / "brain-tumour-model-2" / "model.json").is_file()
    assert "model folder: brain-tumour-model-2" in capsys.readouterr().out


def test_train_without_cases_is_a_one_line_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["train", "brain-tumour", "--data", str(tmp_path / "empty")]) == 2
    err = capsys.readouterr().err
    assert "no brain-tumour case found" in err and "OTMultiClass" in err and "Traceback" not in err


def test_segment_writes_labels_on_the_input_grid(trained, phantom_dir, tmp_path, capsys):
    f = _case_files(phantom_dir)
    seg = tmp_path / "out" / "seg.nii.gz"
    unc = tmp_path / "out" / "unc.nii.gz"
    assert main(["brain-tumour", "--flair", str(f["flair"]), "--t1", str(f["t1"]), "--t1c", str(f["t1c"]),
                 "--t2", str(f["t2"]), "--model", str(trained), "--out", str(seg), "--uncertainty", str(unc),
                 "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "regions (ml): WT" in text and f"wrote {seg}" in text
    # the cross-validated inference settings apply by default: 8 flips, small components dropped
    assert "TTA passes: 8" in text, text
    assert "tumour component" in text, text
    out_img, ref = nib.load(str(seg)), nib.load(str(f["flair"]))
    np.testing.assert_allclose(out_img.affine, ref.affine, atol=1e-5)
    assert out_img.shape == ref.shape
    assert set(np.unique(np.asarray(out_img.dataobj))) <= {0, 1, 2, 4}
    assert nib.load(str(unc)).shape == ref.shape
    # never over an existing output without --overwrite, never over an input at all
    assert main(["brain-tumour", "--flair", str(f["flair"]), "--t1", str(f["t1"]), "--t1c", str(f["t1c"]),
                 "--t2", str(f["t2"]), "--model", str(trained), "--out", str(seg)]) == 2
    assert "already exists" in capsys.readouterr().err
    before = f["t1"].read_bytes()
    assert main(["brain-tumour", "--flair", str(f["flair"]), "--t1", str(f["t1"]), "--t1c", str(f["t1c"]),
                 "--t2", str(f["t2"]), "--model", str(trained), "--out", str(f["t1"]), "--overwrite"]) == 2
    assert "refusing to overwrite an input" in capsys.readouterr().err
    assert f["t1"].read_bytes() == before


def test_segment_in_another_convention(trained, phantom_dir, tmp_path):
    f = _case_files(phantom_dir)
    seg = tmp_path / "seg23.nii.gz"
    assert main(["brain-tumour", "--flair", str(f["flair"]), "--t1", str(f["t1"]), "--t1c", str(f["t1c"]),
                 "--t2", str(f["t2"]), "--model", str(trained), "--out", str(seg), "--convention", "brats2023",
                 "--min-component-fraction", "0.5", "--quiet"]) == 0
    assert set(np.unique(np.asarray(nib.load(str(seg)).dataobj))) <= {0, 1, 2, 3}


def test_segment_errors_are_one_line(trained, phantom_dir, tmp_path, capsys):
    f = _case_files(phantom_dir)
    seg = str(tmp_path / "seg.nii.gz")
    assert main(["brain-tumour", "--flair", str(f["flair"]), "--model", str(trained), "--out", seg]) == 2
    err = capsys.readouterr().err
    assert "missing: t1c" in err and "Traceback" not in err
    assert main(["brain-tumour", "--flair", str(f["flair"]), "--model", "nonexistent-model", "--out", seg]) == 2
    assert "brats_mri_segmentation" in capsys.readouterr().err
    # no --model: the shipped default network, which needs all four sequences
    assert main(["brain-tumour", "--flair", str(f["flair"]), "--out", seg]) == 2
    err = capsys.readouterr().err
    assert "brain-tumour-default" in err and "missing: t1c" in err and "Traceback" not in err


@pytest.mark.realdata
def test_train_discovers_the_real_brats2013_cases(tmp_path, capsys):
    data = SHARED_DATA / "brats2013_flair_t1c"
    if not data.is_dir():
        pytest.skip(f"real BraTS 2013 cases not found at {data}")
    out = tmp_path / "real"
    args = [a if a != "32" else "64" for a in TINY]  # 64 mm patch/window at 2 mm
    assert main(["train", "brain-tumour", "--data", str(data), "--out", str(out), *args]) == 0
    text = capsys.readouterr().out
    assert "found 4 case(s) (BraTS 2013)" in text and "channels used (present in every case): t1c, flair" in text
    import json

    doc = json.loads((out / "model.json").read_text())
    assert doc["contract"]["label_convention"] == "brats2013"
    assert doc["contract"]["label_names"]["3"] == "non-enhancing"


def test_train_with_strong_augmentation_records_it(phantom_dir, tmp_path, capsys):
    out = tmp_path / "strong"
    assert main(["train", "brain-tumour", "--data", str(phantom_dir), "--out", str(out), "--augmentation", "strong",
                 *TINY]) == 0
    import json

    import torch

    config = json.loads(torch.load(out / "checkpoint.pt", weights_only=True)["config"])
    assert config["augmentation"] == "strong"
    with pytest.raises(SystemExit):
        main(["train", "brain-tumour", "--data", str(phantom_dir), "--out", str(tmp_path / "x"),
              "--augmentation", "extreme", *TINY])
    assert "invalid choice" in capsys.readouterr().err
