"""Setting up and following a training run: default model folder, writability, progress within an epoch,
the case summary, and Stop within the first epoch saving a partial model."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.training_runs import (
    TrainingProgress,
    default_model_folder,
    prepare_model_folder,
)


def test_default_model_folder_is_per_user_time_stamped_and_never_taken(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    when = datetime(2026, 12, 3, 9, 41)
    first = default_model_folder("brain-tumour", now=when)
    assert first == tmp_path / "napari-medai" / "models" / "brain-tumour-20261203-0941"
    assert not first.exists()  # nothing is created
    first.mkdir(parents=True)
    assert default_model_folder("brain-tumour", now=when).name == "brain-tumour-20261203-0941-2"
    assert default_model_folder("x", now=when, root=tmp_path / "r") == tmp_path / "r" / "x-20261203-0941"


def test_prepare_model_folder_creates_it_and_refuses_what_cannot_be_written(tmp_path):
    out = prepare_model_folder(tmp_path / "a" / "b")
    assert out.is_dir() and not any(out.iterdir())  # the write probe is removed
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(InvalidInputError, match="cannot create the model folder .*choose a folder you can write"):
        prepare_model_folder(blocker / "model")
    with pytest.raises(InvalidInputError, match="is a file"):
        prepare_model_folder(blocker)
    (out / "checkpoint.pt").write_bytes(b"")
    with pytest.raises(InvalidInputError, match="already holds a training run"):
        prepare_model_folder(out)
    assert prepare_model_folder(out, resume=True) == out


def test_progress_moves_within_the_first_epoch_by_the_binding_limit():
    got: list[tuple[float, str]] = []
    now = [0.0]
    p = TrainingProgress(lambda f, m: got.append((f, m)), max_epochs=4, clock=lambda: now[0])
    p.progress(0.0, "reading case 1/3")
    assert got[-1] == (0.0, "reading case 1/3")
    p.on_step(1, 1, 10, 0.5)  # 1 of 40 steps in all
    assert got[-1][0] == pytest.approx(0.025) and got[-1][1] == "epoch 1/4: step 1/10, loss 0.5000"
    p.on_step(2, 5, 10, 0.4)
    assert got[-1][0] == pytest.approx(1.5 / 4)
    p.progress(0.3, "epoch 1/4: ...")  # the loop's own coarser fraction never moves the bar back
    assert got[-1][0] == pytest.approx(1.5 / 4)
    p.progress(1.0, "finished")
    assert got[-1][0] == 1.0
    # a time budget that binds first: 60 s of 100 s used after 1 step of 40
    t = TrainingProgress(lambda f, m: got.append((f, m)), max_epochs=4, time_limit_s=100, clock=lambda: now[0])
    now[0] = 60.0
    t.on_step(1, 1, 10, 0.5)
    assert got[-1][0] == pytest.approx(0.6)
    # a resumed run counts from the epoch it resumed at: 1 step of the 2 remaining epochs of 10 steps
    r = TrainingProgress(lambda f, m: got.append((f, m)), max_epochs=4, clock=lambda: now[0])
    r.on_step(3, 1, 10, 0.5)
    assert got[-1][0] == pytest.approx(1 / 20)


@pytest.fixture(scope="module")
def tiny_cases(tmp_path_factory) -> Path:
    from napari_medai.core.io import write_volume
    from napari_medai.core.phantoms import brain_tumour_phantom

    root = tmp_path_factory.mktemp("cases")
    for seed in (1, 2):
        vols = brain_tumour_phantom(seed=seed, shape=(48, 48, 48))
        name = f"BraTS2021_{seed:05d}"
        (root / name).mkdir()
        for key, suffix in (("flair", "flair"), ("t1c", "t1ce"), ("seg", "seg")):
            write_volume(vols[key], root / name / f"{name}_{suffix}.nii.gz")
    return root


def test_describe_cases_names_layout_sequences_and_missing_labels(tiny_cases, tmp_path):
    from napari_medai.core.tasks.brain_tumour import describe_cases, find_cases

    info = describe_cases(find_cases(tiny_cases))
    assert info.ok and info.channels == ("t1c", "flair")
    assert info.rows == ["BraTS2021_00001: T1c, FLAIR + labels", "BraTS2021_00002: T1c, FLAIR + labels"]
    assert info.text == "2 case(s), BraTS 2021 file names; sequences in every case: T1c, FLAIR"
    for name, files in (("a", ("flair", "t1ce", "t2", "seg")), ("b", ("flair", "t1ce"))):
        (tmp_path / name).mkdir()
        for s in files:
            (tmp_path / name / f"{name}_{s}.nii.gz").write_bytes(b"")
    info = describe_cases(find_cases(tmp_path))
    assert not info.ok and info.rows[1] == "b: T1c, FLAIR, NO LABEL MAP"
    assert "Not offered, as some cases lack it: T2 (missing in b)" in info.text and "No label map in b" in info.text


def test_stop_training_in_the_first_epoch_saves_a_partial_model(tiny_cases, tmp_path):
    pytest.importorskip("monai")
    from napari_medai.core.models import load_model
    from napari_medai.core.tasks.brain_tumour import train_brain_tumour

    steps: list[int] = []
    kw = {"max_epochs": 3, "iterations_per_epoch": 50, "patch_size": (16,) * 3, "roi_size": (16,) * 3,
          "batch_size": 1, "init_filters": 8, "target_spacing": (2.0,) * 3, "num_threads": 1, "device": "cpu",
          "val_fraction": 0.5, "on_step": lambda e, s, n, loss: steps.append(s)}
    r = train_brain_tumour(tiny_cases, out_dir=tmp_path / "m", stop_training=lambda: len(steps) >= 3, **kw)
    assert r.stop_reason == "partial" and r.epochs_run == 0 and r.best_epoch == 0 and steps == [1, 2, 3]
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    assert doc["training"]["partial"] == {"epoch": 1, "steps_done": 3, "steps_per_epoch": 50, "validated": False}
    assert doc["contract"]["trained_on"].startswith("PARTIAL: stopped in epoch 1 after 3 of 50 steps")
    assert not (tmp_path / "m" / "checkpoint.pt").exists()
    assert load_model(tmp_path / "m").contract.channels == ("t1c", "flair")  # usable, though not validated
    # should_stop (Cancel) in the first epoch still saves nothing
    from napari_medai.core.callbacks import Cancelled

    steps.clear()
    with pytest.raises(Cancelled):
        train_brain_tumour(tiny_cases, out_dir=tmp_path / "c", should_stop=lambda: len(steps) >= 2, **kw)
    assert not (tmp_path / "c" / "model.pt").exists()
