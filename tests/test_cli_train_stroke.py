"""``napari-medai train stroke`` on tiny phantom cases: one folder per case and the ISLES'22 BIDS layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medai.cli import main  # noqa: E402

from .core.test_models_support import one_torch_thread  # noqa: E402, F401
from .core.test_stroke_model import write_stroke_cases  # noqa: E402

TINY = ["--epochs", "1", "--steps", "1", "--batch", "1", "--device", "cpu", "--threads", "1", "--val-fraction", "0"]


@pytest.fixture(scope="module")
def folder_cases(tmp_path_factory) -> Path:
    return write_stroke_cases(tmp_path_factory.mktemp("folder"), seeds=(1, 2), layout="folder")


@pytest.fixture(scope="module")
def bids_cases(tmp_path_factory) -> Path:
    # ISLES'22 naming, ADC stored in 10^-3 mm^2/s as in the challenge data
    return write_stroke_cases(tmp_path_factory.mktemp("bids"), seeds=(3, 4), layout="isles22", adc_scale=1e-3)


def test_train_deepmedic_on_one_folder_per_case(folder_cases, tmp_path, capsys):
    out = tmp_path / "dm"
    # the published network (660 k parameters) on a 9^3 segment: one step in about 0.3 s instead of 3 s at 25^3
    assert main(["train", "stroke", "--data", str(folder_cases), "--out", str(out), "--network", "deepmedic",
                 "--patch", "9", "--window", "12", *TINY]) == 0
    text = capsys.readouterr().out
    assert "found 2 stroke case(s) (one folder per case): case01, case02" in text
    assert "network DeepMedic; inputs dwi + adc" in text
    assert "epoch 1/1: loss" in text and "trained 1 epochs" in text
    assert f"napari-medai stroke --dwi DWI --adc ADC --method model --model {out}" in text
    doc = json.loads((out / "model.json").read_text())
    c = doc["contract"]
    assert c["task"] == "stroke" and c["network"]["name"] == "DeepMedic" and c["label_convention"] == "isles"
    assert doc["training"]["recipe"]["patch_size"] == [9, 9, 9] and c["roi_size"] == [12, 12, 12]
    assert c["network"]["kwargs"]["feature_maps"] == [30, 30, 40, 40, 40, 40, 50, 50]
    # a second run into the same folder is refused unless resumed
    assert main(["train", "stroke", "--data", str(folder_cases), "--out", str(out), "--network", "deepmedic",
                 "--patch", "9", "--window", "12", *TINY]) == 2
    assert "already holds a training run" in capsys.readouterr().err


def test_train_segresnet_on_the_isles22_bids_layout(bids_cases, tmp_path, capsys):
    out = tmp_path / "srn"
    assert main(["train", "stroke", "--data", str(bids_cases), "--out", str(out), "--patch", "16", "--window", "32",
                 *TINY]) == 0
    text = capsys.readouterr().out
    assert "found 2 stroke case(s) (ISLES'22 BIDS): sub-strokecase0003_ses-0001, sub-strokecase0004_ses-0001" in text
    assert "network SegResNet" in text
    doc = json.loads((out / "model.json").read_text())
    assert doc["contract"]["network"]["name"] == "SegResNet" and doc["contract"]["channels"] == ["dwi", "adc"]
    assert "ISLES'22 BIDS stroke case(s)" in doc["contract"]["trained_on"]


def test_bad_folders_and_options_are_one_line_errors(tmp_path, capsys):
    (tmp_path / "empty" / "a").mkdir(parents=True)
    assert main(["train", "stroke", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert "no stroke case found" in err and "*_msk.nii.gz" in err and "Traceback" not in err
    assert main(["train", "stroke", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "m"),
                 "--network", "resnet"]) == 2
    err = capsys.readouterr().err
    assert "unknown network 'resnet'" in err and "DeepMedic" in err and "Traceback" not in err
    assert main(["train", "stroke", "--data", str(tmp_path / "empty"), "--out", str(tmp_path / "m"),
                 "--patch", "4"]) == 2
    assert "--patch must be >= 8" in capsys.readouterr().err
