"""scripts/train_default_brain_model.py runs (one tiny epoch) and its model is found by name."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from .test_models_support import one_torch_thread  # noqa: E402, F401

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "train_default_brain_model.py"


def _load_script():
    spec = importlib.util.spec_from_file_location("train_default_brain_model", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_default_model_script_trains_a_tiny_model_found_by_name(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NAPARI_MEDAI_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("NAPARI_MEDAI_MODELS", raising=False)
    script = _load_script()
    assert script.main(["--tiny", "--device", "cpu"]) == 0
    out = tmp_path / "cache" / "models" / "brain_tumour_default"
    doc = json.loads((out / "model.json").read_text())
    assert doc["contract"]["name"] == "brain-tumour-default"
    assert "synthetic brain-tumour phantoms" in doc["contract"]["trained_on"]
    assert "smoke run" in doc["contract"]["trained_on"]
    assert all(c.startswith("phantom-seed") for c in doc["training"]["cases"]["train"])
    from napari_medai.core.models import load_model

    m = load_model("brain-tumour-default")
    assert m.contract.channels == ("t1c", "t1", "t2", "flair") and m.is_trained
    assert "epoch 1/1" in capsys.readouterr().out
