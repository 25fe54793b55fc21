"""The training engine: determinism, checkpoints and resume, stopping rules, the model folder."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medai.core.errors import InvalidInputError  # noqa: E402
from napari_medai.core.models import Cancelled, load_model  # noqa: E402
from napari_medai.core.tasks.brain_tumour import brain_tumour_task, find_cases  # noqa: E402
from napari_medai.core.training import TaskSpec, split_cases, train  # noqa: E402

from .test_models_support import one_torch_thread, write_phantom_cases  # noqa: E402, F401

TINY = {"patch_size": (32, 32, 32), "batch_size": 1, "iterations_per_epoch": 2, "val_overlap": 0.0, "device": "cpu"}


@pytest.fixture(scope="module")
def phantom_dir(tmp_path_factory) -> Path:
    return write_phantom_cases(tmp_path_factory.mktemp("phantoms"), seeds=(1, 2, 3), shape=(48, 48, 48))


@pytest.fixture(scope="module")
def setup(phantom_dir):
    cases = find_cases(phantom_dir, require_labels=True)
    task = brain_tumour_task(("flair", "t1c"), init_filters=8, target_spacing=(1.5, 1.5, 1.5), roi_size=(32, 32, 32))
    return task, [c.to_training_case(task.contract.channels) for c in cases]


def _weights(folder: Path) -> dict:
    return torch.load(folder / "model.pt", weights_only=True)


def _equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_same_seed_same_weights_other_seed_other_weights(setup, tmp_path):
    task, cases = setup
    r1 = train(task, cases, out_dir=tmp_path / "a", seed=7, max_epochs=1, **TINY)
    r2 = train(task, cases, out_dir=tmp_path / "b", seed=7, max_epochs=1, **TINY)
    r3 = train(task, cases, out_dir=tmp_path / "c", seed=8, max_epochs=1, **TINY)
    assert _equal(_weights(r1.out_dir), _weights(r2.out_dir))
    assert not _equal(_weights(r1.out_dir), _weights(r3.out_dir))
    assert r1.history[0]["train_loss"] == r2.history[0]["train_loss"]
    assert not torch.are_deterministic_algorithms_enabled()  # global state restored


def test_model_folder_describes_itself_and_loads(setup, tmp_path):
    task, cases = setup
    r = train(task, cases, out_dir=tmp_path / "m", seed=0, max_epochs=1, trained_on="3 test phantoms", **TINY)
    doc = json.loads((tmp_path / "m" / "model.json").read_text())
    tr = doc["training"]
    assert doc["contract"]["is_trained"] and doc["contract"]["trained_on"].startswith("3 test phantoms")
    assert tr["cases"]["count"] == 3 and sorted(tr["cases"]["train"] + tr["cases"]["validation"]) == [
        "phantom001", "phantom002", "phantom003"]
    assert tr["channels"] == ["t1c", "flair"] and tr["seed"] == 0
    assert set(tr["versions"]) >= {"torch", "monai", "napari-medai", "python"}
    assert tr["history"][0]["epoch"] == 1 and set(tr["history"][0]["val_dice"]) == {"TC", "WT", "ET"}
    assert tr["best_validation_dice"] == r.best_dice and tr["stop_reason"] == "max_epochs"
    assert tr["wall_time_s"] >= 0
    m = load_model(tmp_path / "m")
    assert m.is_trained and m.contract.channels == ("t1c", "flair")
    assert r.val_cases and r.monitor == "val_mean_dice"


def test_checkpoint_is_plain_and_resume_continues_exactly(setup, tmp_path):
    task, cases = setup
    full = train(task, cases, out_dir=tmp_path / "full", seed=3, max_epochs=2, **TINY)
    first = train(task, cases, out_dir=tmp_path / "res", seed=3, max_epochs=1, **TINY)
    ck = torch.load(tmp_path / "res" / "checkpoint.pt", weights_only=True)
    assert ck["epoch"] == 1 and set(ck) >= {"model", "optimizer", "history", "config"}
    resumed = train(task, cases, out_dir=tmp_path / "res", seed=3, max_epochs=2, resume=True, **TINY)
    assert first.epochs_run == 1 and resumed.resumed_from == 1 and resumed.epochs_run == 2
    ck_full = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    ck_res = torch.load(tmp_path / "res" / "checkpoint.pt", weights_only=True)
    assert _equal(ck_full["model"], ck_res["model"])
    assert [h["train_loss"] for h in full.history] == [h["train_loss"] for h in resumed.history]


def test_epoch_and_step_callbacks_report_every_finished_epoch_and_replay_on_resume(setup, tmp_path):
    task, cases = setup
    epochs, steps = [], []
    first = train(task, cases, out_dir=tmp_path / "cb", seed=5, max_epochs=1, on_epoch=epochs.append,
                  on_step=lambda *a: steps.append(a), **TINY)
    assert [e["epoch"] for e in epochs] == [1] and not epochs[0]["replayed"]
    # 1 epoch x iterations_per_epoch 2 steps, each a finite loss
    assert [s[:3] for s in steps] == [(1, 1, 2), (1, 2, 2)] and all(np.isfinite(s[3]) for s in steps)
    e = epochs[0]
    assert np.isfinite(e["train_loss"]) and 0.0 <= e["val_mean_dice"] <= 1.0
    assert set(e["val_dice"]) == {"TC", "WT", "ET"} and all(0.0 <= v <= 1.0 for v in e["val_dice"].values())
    assert {k: v for k, v in e.items() if k != "replayed"} == first.history[0]
    e["val_dice"]["TC"] = -1.0  # the callback gets a copy: the run's history is untouched
    assert first.history[0]["val_dice"]["TC"] != -1.0
    # resumed: the finished epoch is replayed first, then one entry per new epoch
    epochs.clear()
    steps.clear()
    resumed = train(task, cases, out_dir=tmp_path / "cb", seed=5, max_epochs=2, resume=True,
                    on_epoch=epochs.append, on_step=lambda *a: steps.append(a), **TINY)
    assert [(e["epoch"], e["replayed"]) for e in epochs] == [(1, True), (2, False)]
    assert [s[0] for s in steps] == [2, 2]
    assert [{k: v for k, v in e.items() if k != "replayed"} for e in epochs] == resumed.history


def test_train_brain_tumour_takes_chosen_sequences_and_output_convention(phantom_dir, tmp_path):
    import dataclasses

    from napari_medai.core.tasks.brain_tumour import train_brain_tumour

    cases = find_cases(phantom_dir, require_labels=True)
    tiny = {"patch_size": (32, 32, 32), "roi_size": (32, 32, 32), "batch_size": 1, "iterations_per_epoch": 1,
            "val_fraction": 0.0, "target_spacing": (2.0, 2.0, 2.0), "num_threads": 1}
    no_t2 = [dataclasses.replace(cases[0], channels={k: v for k, v in cases[0].channels.items() if k != "t2"}),
             *cases[1:]]
    with pytest.raises(InvalidInputError, match="t2 is missing in case.*phantom001"):
        train_brain_tumour(phantom_dir, cases=no_t2, out_dir=tmp_path / "x", channels=["T2", "flair"], **tiny)
    with pytest.raises(InvalidInputError, match="no MR sequence chosen"):
        train_brain_tumour(phantom_dir, cases=cases, out_dir=tmp_path / "x", channels=[], **tiny)
    assert not (tmp_path / "x").exists()
    r = train_brain_tumour(phantom_dir, cases=cases, out_dir=tmp_path / "m", max_epochs=1, device="cpu",
                           channels=["flair", "t1ce"], convention="brats2023", **tiny)
    assert r.contract.channels == ("t1c", "flair") and r.contract.label_convention == "brats2023"
    assert dict(r.contract.label_rules)["ET"] == 3  # BraTS 2023 writes enhancing tumour as 3


def test_existing_runs_and_foreign_folders_are_protected(setup, tmp_path):
    task, cases = setup
    train(task, cases, out_dir=tmp_path / "run", seed=1, max_epochs=1, **TINY)
    with pytest.raises(InvalidInputError, match="already holds a training run"):
        train(task, cases, out_dir=tmp_path / "run", seed=1, max_epochs=2, resume=False, **TINY)
    with pytest.raises(InvalidInputError, match="seed"):
        train(task, cases, out_dir=tmp_path / "run", seed=2, max_epochs=2, resume=True, **TINY)
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    with pytest.raises(InvalidInputError, match="not empty"):
        train(task, cases, out_dir=tmp_path / "other", max_epochs=1, **TINY)


def test_cancellation(setup, tmp_path):
    task, cases = setup
    with pytest.raises(Cancelled):
        train(task, cases, out_dir=tmp_path / "never", max_epochs=2, should_stop=lambda: True, **TINY)
    epochs_done = []

    def progress(fraction, message):
        if "loss" in message and "step" not in message:
            epochs_done.append(message)

    r = train(task, cases, out_dir=tmp_path / "c", max_epochs=3, should_stop=lambda: bool(epochs_done),
              progress=progress, val_fraction=0.0, **TINY)
    assert r.stop_reason == "cancelled" and r.epochs_run == 1
    assert load_model(tmp_path / "c").is_trained


def test_early_stopping_and_time_limit(setup, tmp_path):
    task, cases = setup
    r = train(task, cases, out_dir=tmp_path / "es", max_epochs=5, patience=1, learning_rate=1e-12, **TINY)
    assert r.stop_reason == "early_stopping" and r.epochs_run == 2 and r.best_epoch == 1
    t = train(task, cases, out_dir=tmp_path / "tl", max_epochs=5, time_limit_s=1e-3, **TINY)
    assert t.stop_reason == "time_limit" and t.epochs_run == 1


def test_time_schedule_anneals_within_the_time_budget(setup, tmp_path):
    task, cases = setup
    done: list[int] = []
    kw = {**TINY, "max_epochs": 200, "time_limit_s": 60.0, "val_fraction": 0.0, "learning_rate": 1e-3,
          "on_epoch": lambda e: done.append(e["epoch"]), "stop_training": lambda: len(done) >= 3}
    t = train(task, cases, out_dir=tmp_path / "time", lr_schedule="time", **kw)
    e = train(task, cases, out_dir=tmp_path / "epochs", **kw | {"stop_training": lambda: len(done) >= 6})
    lr_t, lr_e = [h["lr"] for h in t.history], [h["lr"] for h in e.history]
    assert len(lr_t) == len(lr_e) == 3
    # over 200 epochs the rate hardly moves; over the 60 s budget it falls with the time used
    assert lr_e == pytest.approx([1e-3 * (1 - k / 200) ** 0.9 for k in range(3)])
    assert all(a < b for a, b in zip(lr_t, lr_e)) and lr_t[2] < lr_t[1] < lr_t[0]
    assert json.loads((tmp_path / "time" / "model.json").read_text())["training"]["recipe"]["lr_schedule"] \
        .startswith("poly 0.9 over max_epochs or the time budget")
    with pytest.raises(InvalidInputError, match="lr_schedule"):
        train(task, cases, out_dir=tmp_path / "bad", lr_schedule="cosine", **TINY)


def test_no_validation_monitors_the_training_loss(setup, tmp_path):
    task, cases = setup
    r = train(task, cases, out_dir=tmp_path / "nv", max_epochs=1, val_fraction=0.0, **TINY)
    assert r.monitor == "-train_loss" and r.best_dice is None and not r.val_cases
    assert r.history[0]["val_dice"] is None


def test_targets_are_regions_in_every_convention():
    task = brain_tumour_task(("flair",), init_filters=8)
    lab13 = np.array([0, 1, 2, 3, 4], dtype=np.uint8)
    t = task.targets(lab13, "brats2013")  # TC, WT, ET
    np.testing.assert_array_equal(t, [[0, 1, 0, 1, 1], [0, 1, 1, 1, 1], [0, 0, 0, 0, 1]])
    lab23 = np.array([0, 1, 2, 3], dtype=np.uint8)
    np.testing.assert_array_equal(task.targets(lab23, "brats2023"), [[0, 1, 0, 1], [0, 1, 1, 1], [0, 0, 0, 1]])
    with pytest.raises(InvalidInputError, match="outside convention 'brats2021'"):
        task.targets(lab23, "brats2021")
    soft = TaskSpec(task.contract.with_changes(
        output_kind="softmax-labels", output_channels=("bg", "NCR", "ED", "ET"), class_labels=(0, 1, 2, 4),
        label_rules=(), network=task.contract.network.__class__(
            "SegResNet", {**task.contract.network.kwargs, "out_channels": 4})))
    np.testing.assert_array_equal(soft.targets(np.array([0, 4, 2, 1]), "brats2021"), [[0, 3, 2, 1]])
    with pytest.raises(InvalidInputError, match="softmax model"):
        soft.targets(np.array([0, 1]), "brats2013")


def test_split_is_deterministic_and_checked():
    names = [f"c{i}" for i in range(8)]
    a = split_cases(names, val_fraction=0.25, seed=1)
    assert a == split_cases(names, val_fraction=0.25, seed=1)
    assert len(a[1]) == 2 and set(a[0]) | set(a[1]) == set(names)
    assert split_cases(names, val_fraction=0.0, seed=1) == (names, [])
    with pytest.raises(InvalidInputError, match="at least 2 cases"):
        split_cases(["only"], val_fraction=0.25, seed=0)


@pytest.mark.parametrize(
    ("kw", "fragment"),
    [({"patch_size": (4, 4, 4)}, "patch_size"), ({"max_epochs": 0}, "max_epochs"),
     ({"pos_fraction": 2.0}, "pos_fraction"), ({"val_fraction": 1.0}, "val_fraction"),
     ({"num_threads": 0}, "num_threads"), ({"time_limit_s": -1}, "time_limit_s")],
)
def test_bad_options_are_refused(setup, tmp_path, kw, fragment):
    task, cases = setup
    opts = {**TINY, **kw}
    with pytest.raises(InvalidInputError, match=fragment):
        train(task, cases, out_dir=tmp_path / "x", **opts)


def test_contrast_augmentation_remaps_each_sequence_on_its_own_and_keeps_the_labels(setup, tmp_path):
    from napari_medai.core.recipes.segmentation import SegmentationRecipe

    task, cases = setup
    kw = dict(train_names=[c.name for c in cases], val_names=[], seed=0, patch_size=(32, 32, 32), batch_size=4,
              iterations_per_epoch=1, learning_rate=1e-3, weight_decay=0.0, pos_fraction=0.5, val_overlap=0.0,
              val_fraction=0.0, max_epochs=1, patience=1, time_limit_s=None, device="cpu", amp=False,
              trained_on=None, model_name=None)
    batches = {}
    for aug in ("light", "contrast"):
        r = SegmentationRecipe(task, cases, augmentation=aug, **kw)
        r.prepare(None, None)
        r.build("cpu")
        r.start_epoch(0, 3)
        batches[aug] = r.batch(np.random.default_rng(5), "cpu")
    (xl, yl), (xc, yc) = batches["light"], batches["contrast"]
    assert torch.equal(yl, yc)  # the same crops and flips: only intensities differ
    assert xl.shape == xc.shape and not torch.equal(xl, xc)
    # per channel and sample: a remapping, not one factor for all sequences
    changed = [[not torch.allclose(xl[b, c], xc[b, c]) for c in range(xl.shape[1])] for b in range(xl.shape[0])]
    assert any(any(row) for row in changed) and any(row[0] != row[1] for row in changed)
    with pytest.raises(InvalidInputError, match="augmentation"):
        SegmentationRecipe(task, cases, augmentation="extreme", **kw)
