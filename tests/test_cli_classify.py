"""CLI: napari-medai train classify, napari-medai classify (CSV, maps) and classify evaluate, on tiny folders."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medai.cli import main  # noqa: E402

from .core.test_classify_data import write_blob_folder  # noqa: E402
from .core.test_models_support import one_torch_thread  # noqa: E402, F401


@pytest.fixture(scope="module")
def cli_model(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("cli")
    write_blob_folder(root / "data" / "train", n=8, seed=0)
    write_blob_folder(root / "data" / "test", n=4, seed=5)
    out = root / "model"
    assert main(["train", "classify", "--data", str(root / "data"), "--out", str(out), "--size", "32",
                 "--epochs", "2", "--steps", "3", "--batch", "8", "--device", "cpu", "--threads", "1"]) == 0
    return out, root / "data"


def test_train_classify_writes_a_model_folder(cli_model, capsys) -> None:
    out, _ = cli_model
    doc = json.loads((out / "model.json").read_text())
    assert doc["contract"]["output_channels"] == ["absent", "present"] and doc["contract"]["roi_size"] == [32, 32]
    assert doc["training"]["data"]["n_test_not_used"] == 8  # test/ is never trained on
    assert doc["training"]["recipe"]["time_limit_s"] == 45 * 60  # the command's default budget


def test_classify_a_folder_with_csv_and_maps(cli_model, tmp_path: Path, capsys) -> None:
    out, data = cli_model
    folder = data / "test" / "present"
    assert main(["classify", "--model", str(out), str(folder), "--csv", str(tmp_path / "p.csv"),
                 "--cam", str(tmp_path / "maps"), "--threads", "1", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "4 image(s)" in text and "-> " in text
    rows = list(csv.DictReader((tmp_path / "p.csv").open()))
    assert len(rows) == 4 and {"path", "p_absent", "p_present", "decision", "cam_peak_row"} <= set(rows[0])
    assert all(abs(float(r["p_absent"]) + float(r["p_present"]) - 1) < 1e-5 for r in rows)
    maps = sorted(p.name for p in (tmp_path / "maps").iterdir())
    assert len(maps) == 8 and maps[0].endswith("_cam.png") and maps[1].endswith("_cam_overlay.png")
    from napari_medai.core.io import read_volume

    assert read_volume(tmp_path / "maps" / maps[0]).data.shape == (32, 32)  # on the image's grid


def test_classify_evaluate_writes_json_and_roc(cli_model, tmp_path: Path, capsys) -> None:
    out, data = cli_model
    assert main(["classify", "evaluate", "--model", str(out), "--data", str(data), "--json", str(tmp_path / "e.json"),
                 "--roc-png", str(tmp_path / "roc.png"), "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "8 images" in text and "DeLong 95%" in text and "confusion" in text
    doc = json.loads((tmp_path / "e.json").read_text())
    assert doc["n_images"] == 8 and len(doc["predictions"]) == 8 and sum(map(sum, doc["confusion"])) == 8
    assert (tmp_path / "roc.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize("argv, message", [
    (["train", "classify", "--data", "{tmp}/nowhere", "--out", "{tmp}/m"], "not a folder"),
    (["train", "classify", "--data", "{tmp}/one", "--out", "{tmp}/m"], "one class folder"),
    (["train", "classify", "--data", "{data}", "--out", "{tmp}/m", "--finetune", "head"], "give --init-from"),
    (["train", "classify", "--data", "{data}", "--out", "{tmp}/m", "--size", "40"], "multiple of 32"),
    (["classify", "--model", "{model}", "{tmp}/missing.png"], "does not exist"),
    (["classify", "--model", "{model}", "evaluate"], "needs --data"),
    (["classify", "--model", "{model}", "{data}", "--json", "{tmp}/x.json"], "applies to 'napari-medai classify evaluate'"),
    (["classify", "--model", "{model}", "{data}", "--cam-class", "tumour"], "not a class of the model"),
    (["classify", "--model", "{data}", "{data}"], "neither a napari-medai model folder"),
])
def test_bad_input_is_one_line_and_exit_2(cli_model, tmp_path: Path, capsys, argv, message) -> None:
    from PIL import Image

    model, data = cli_model
    (tmp_path / "one" / "only").mkdir(parents=True)
    Image.new("L", (8, 8)).save(tmp_path / "one" / "only" / "a.png")
    args = [a.format(tmp=tmp_path, data=data, model=model) for a in argv]
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "error:" in err
    assert message in err
