"""The brain-tumour training widget in a real viewer, on tiny phantom case folders (BraTS 2021 names)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

#: Tiny recipe: 32^3 patches and windows, 1 step of 1 patch per epoch, one torch thread.
TINY = {"patch_spin": 32, "window_spin": 32, "steps_spin": 1, "batch_spin": 1, "filters_spin": 8,
        "threads_spin": 1, "spacing_spin": 2.0}


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    """3 labelled phantom cases, 48^3, one sub-folder each, named as BraTS 2021 (*_flair, *_t1ce, *_seg ...)."""
    from napari_medai.core.io import write_volume
    from napari_medai.core.phantoms import brain_tumour_phantom

    root = tmp_path_factory.mktemp("cases")
    for seed in (1, 2, 3):
        vols = brain_tumour_phantom(seed=seed, shape=(48, 48, 48))
        name = f"BraTS2021_{seed:05d}"
        (root / name).mkdir()
        for key, suffix in (("flair", "flair"), ("t1", "t1"), ("t1c", "t1ce"), ("t2", "t2"), ("seg", "seg")):
            write_volume(vols[key], root / name / f"{name}_{suffix}.nii.gz")
    return root


def _widget(make_napari_viewer, case_dir: Path, out: Path, *, epochs: int = 2):
    from napari_medai._napari.training_widget import BrainTumourTrainingWidget

    viewer = make_napari_viewer()
    widget = BrainTumourTrainingWidget(viewer)
    viewer.window.add_dock_widget(widget, name="training")
    assert widget.set_data_folder(case_dir), widget.cases_info.text()
    widget.out_edit.setText(str(out))
    widget.epochs_spin.setValue(epochs)
    for name, value in TINY.items():
        getattr(widget, name).setValue(value)
    widget.device_combo.setCurrentText("cpu")
    return viewer, widget


def test_data_folder_lists_cases_layout_and_sequences(make_napari_viewer, case_dir, tmp_path):
    _viewer, widget = _widget(make_napari_viewer, case_dir, tmp_path / "m")
    assert widget.case_list.count() == 3
    assert [widget.case_list.item(i).text().split(":")[0] for i in range(3)] == [
        "BraTS2021_00001", "BraTS2021_00002", "BraTS2021_00003"]
    assert "3 case(s)" in widget.cases_info.text() and "BraTS 2021" in widget.cases_info.text()
    # every sequence present in every case is offered, ticked, in the network's order
    assert list(widget.channel_checks) == ["t1c", "t1", "t2", "flair"]
    assert all(box.isChecked() for box in widget.channel_checks.values())
    # a case lacking a sequence: that sequence is no longer offered, and the widget says why
    (case_dir / "BraTS2021_00002" / "BraTS2021_00002_t2.nii.gz").rename(tmp_path / "t2.nii.gz")
    try:
        assert widget.set_data_folder(case_dir)
        assert list(widget.channel_checks) == ["t1c", "t1", "flair"]
        assert "T2 (missing in BraTS2021_00002)" in widget.cases_info.text()
    finally:
        (tmp_path / "t2.nii.gz").rename(case_dir / "BraTS2021_00002" / "BraTS2021_00002_t2.nii.gz")


def test_two_epochs_plot_live_and_write_a_model_folder_the_segmentation_widget_loads(
        make_napari_viewer, case_dir, tmp_path):
    viewer, widget = _widget(make_napari_viewer, case_dir, tmp_path / "model")
    widget.channel_checks["t1"].setChecked(False)
    widget.channel_checks["t2"].setChecked(False)
    assert widget.start()
    assert not widget.train_button.isEnabled() and widget.stop_button.isEnabled()
    assert widget.wait_idle(600)
    r = widget.result
    assert r is not None, widget.status.text()
    assert r.epochs_run == 2 and r.stop_reason == "max_epochs"
    # the plot got one train-loss point per epoch, finite; Dice series on the right axis in [0, 1]
    xs, ys = widget.plot.series["train loss"]
    assert xs == [1.0, 2.0] and all(math.isfinite(y) for y in ys)
    assert [round(y, 4) for y in ys] == [round(h["train_loss"], 4) for h in r.history]
    assert len(widget.plot.series["loss per step"][0]) == 2  # 1 step per epoch
    for name in ("val Dice (mean)", "WT", "TC", "ET"):
        assert len(widget.plot.series[name][1]) == 2 and all(0 <= y <= 1 for y in widget.plot.series[name][1])
    assert {ln.get_label() for ln in widget.plot.ax2.get_lines()} == {"val Dice (mean)", "WT", "TC", "ET"}
    # the model folder describes itself: the chosen sequences, seed, 2 epochs of history
    out = tmp_path / "model"
    assert (out / "model.json").is_file() and (out / "model.pt").is_file()
    doc = json.loads((out / "model.json").read_text())
    assert doc["contract"]["channels"] == ["t1c", "flair"] and doc["training"]["seed"] == 0
    assert len(doc["training"]["history"]) == 2
    # the summary says why it stopped, the best epoch and where the model is
    text = widget.summary.text()
    assert "epoch limit" in text and f"Best epoch {r.best_epoch}" in text and str(out) in text
    assert widget.progress.value() == 1000 and widget.train_button.isEnabled()
    # hand-over: the segmentation widget opens with the model loaded and asks for its channels
    assert widget.use_button.isEnabled()
    widget.use_button.click()
    seg = widget.segmentation_widget
    assert seg is not None and seg.model is not None, widget.status.text()
    assert list(seg.channel_combos) == ["t1c", "flair"]
    assert seg.model.contract.is_trained and str(out) in seg.model_combo.currentText()
    assert seg in viewer.window.dock_widgets.values()
    assert widget.use_in_segmentation() is seg  # a second click reuses the same dock


def test_stop_keeps_the_finished_epoch_and_resume_continues(make_napari_viewer, case_dir, tmp_path):
    from napari_medai._napari._widgets import process_events_until

    _viewer, widget = _widget(make_napari_viewer, case_dir, tmp_path / "m", epochs=50)
    widget.val_spin.setValue(0.0)  # no validation: an epoch is a single step
    assert widget.start()
    # press Stop as soon as the first epoch is on the plot
    assert process_events_until(lambda: "train loss" in widget.plot.series or not widget.busy, 600)
    widget.stop_button.click()
    assert widget.wait_idle(600)
    r = widget.result
    assert r is not None, widget.status.text()
    assert r.stop_reason == "cancelled" and 1 <= r.epochs_run < 50
    assert "stopped by you" in widget.summary.text().lower()
    assert (tmp_path / "m" / "model.pt").is_file() and (tmp_path / "m" / "checkpoint.pt").is_file()
    done = r.epochs_run
    # the folder now holds a run: training again needs 'resume'
    assert not widget.start() and widget._worker is None
    assert "resume" in widget.status.text()
    widget.resume_check.setChecked(True)
    widget.epochs_spin.setValue(done + 1)
    assert widget.start() and widget.wait_idle(600)
    assert widget.result is not None, widget.status.text()
    assert widget.result.resumed_from == done and widget.result.epochs_run == done + 1
    # the earlier epochs are replayed into the fresh plot, then the new one
    assert widget.plot.series["train loss"][0] == [float(e) for e in range(1, done + 2)]


def test_stop_before_the_first_epoch_saves_nothing(make_napari_viewer, case_dir, tmp_path):
    _viewer, widget = _widget(make_napari_viewer, case_dir, tmp_path / "m")
    assert widget.start()
    widget.stop()  # before any case is read
    assert widget.wait_idle(600)
    assert widget.result is None and "nothing was saved" in widget.status.text()
    assert not (tmp_path / "m" / "model.pt").exists()
    assert not widget.use_button.isEnabled() and widget.train_button.isEnabled()


def test_folder_without_cases_shows_the_fix_and_starts_nothing(make_napari_viewer, tmp_path):
    from napari_medai._napari.training_widget import BrainTumourTrainingWidget

    empty = tmp_path / "empty"
    (empty / "notes").mkdir(parents=True)
    widget = BrainTumourTrainingWidget(make_napari_viewer())
    assert not widget.set_data_folder(empty)
    assert "no brain-tumour case found" in widget.cases_info.text() and "_seg" in widget.cases_info.text()
    assert widget.case_list.count() == 0 and not widget.channel_checks
    widget.out_edit.setText(str(tmp_path / "out"))
    widget.train_button.click()
    assert widget._worker is None and widget.train_button.isEnabled()
    assert "Nothing to train on" in widget.status.text()
    assert not (tmp_path / "out").exists()


def test_unlabelled_cases_and_unticked_sequences_are_refused(make_napari_viewer, tmp_path):
    from napari_medai._napari.training_widget import BrainTumourTrainingWidget

    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for s in ("flair", "t1ce") + (("seg",) if name == "a" else ()):
            (tmp_path / "data" / name / f"{name}_{s}.nii.gz").write_bytes(b"")
    widget = BrainTumourTrainingWidget(make_napari_viewer())
    assert not widget.set_data_folder(tmp_path / "data")
    assert "No label map in b" in widget.cases_info.text()
    widget.start()
    assert widget._worker is None and "No label map in b" in widget.status.text()
    (tmp_path / "data" / "b" / "b_seg.nii.gz").write_bytes(b"")
    assert widget.set_data_folder(tmp_path / "data")
    assert widget.out_edit.text() == str(tmp_path / "data-model")  # proposed next to the data
    for box in widget.channel_checks.values():
        box.setChecked(False)
    assert not widget.start() and "Tick at least one" in widget.status.text()
