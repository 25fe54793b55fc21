"""CLI: napari-medai train lesion-presence writes a classifier model folder that load_model opens."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medai.cli import main  # noqa: E402


def test_train_lesion_presence_writes_a_classifier_folder(tmp_path, capsys):
    out = tmp_path / "lp"
    assert main(["train", "lesion-presence", "--out", str(out), "--cases", "16", "--test-cases", "8",
                 "--epochs", "1", "--steps", "2", "--size", "16", "--device", "cpu", "--threads", "1"]) == 0
    text = capsys.readouterr().out
    assert "held-out phantoms" in text and "ROC AUC" in text and "epoch 1/1" in text
    doc = json.loads((out / "model.json").read_text())
    assert doc["contract"]["kind"] == "classification" and doc["contract"]["output_channels"] == ["absent", "present"]
    from napari_medai.core.models import load_model

    assert load_model(out).contract.kind == "classification"
    assert main(["train", "lesion-presence", "--out", str(out), "--cases", "2"]) != 0  # too few: one-line error
