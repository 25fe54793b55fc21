"""Journeys through the brain-tumour training widget, as a user walks them.

Plugins > napari-medai > "Brain tumour training (your labelled cases)"; the data folder chosen with the
folder button (a monkeypatched dialog) or typed into the line edit; tiny settings typed into the visible
fields; Train, Stop and "Use in segmentation widget" clicked with the mouse; then the model folder on disk,
the progress bar, the status line, the plot and the segmentation widget are checked. The cases are three
48^3 phantoms written with BraTS 2021 names; 16^3 patches, 8 filters and one thread keep each run to seconds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .journey import (
    button,
    check,
    click,
    field,
    open_sample,
    open_widget,
    quick_training,
    step,
    wait_until,
)

pytest.importorskip("torch")
pytest.importorskip("monai")

WIDGET = "Brain tumour training (your labelled cases)"
SEG_WIDGET = "Brain tumour segmentation (MRI)"


@pytest.fixture(scope="module")
def case_dir(tmp_path_factory) -> Path:
    """3 labelled phantom cases, 48^3 at 1 mm, one sub-folder each, named as BraTS 2021."""
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


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    """A fresh home folder: the default model folder goes under it."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("HOME", str(h))
    return h


def choose_folder(qtbot, monkeypatch, widget, button_text: str, folder: Path) -> None:
    """Click a folder button and pick ``folder`` in the (monkeypatched) folder dialog."""
    from qtpy.QtWidgets import QFileDialog

    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    click(qtbot, button(widget, button_text))


def type_into(qtbot, edit, text: str) -> None:
    """Replace a line edit's text by typing, then press Enter."""
    from qtpy.QtCore import Qt

    edit.selectAll()
    qtbot.keyClicks(edit, text)
    qtbot.keyClick(edit, Qt.Key_Return)


def tiny_recipe(qtbot, w, *, epochs: int, steps: int, validation: float) -> None:
    """The settings a user types for a quick check: tiny patches, few steps, one CPU thread."""
    step("type the tiny settings")
    quick_training(qtbot, w, {"max epochs": epochs, "validation": validation},
                   {"patch edge": 16, "steps/epoch": steps, "batch": 1, "window edge": 16, "voxel": 2.0, "filters": 8})


def test_stop_in_the_first_epoch_saves_a_partial_model(make_napari_viewer, qtbot, monkeypatch, case_dir, home):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    check()
    # the default model folder is a fresh per-user folder, not beside the data
    out = Path(field(w, "model folder").text())
    assert out.parent == home / "napari-medai" / "models" and out.name.startswith("brain-tumour-")
    assert not out.exists() and case_dir not in out.parents
    assert w.plot.is_empty and w.plot.empty_note.get_visible()  # "no epochs yet", no ticks of an empty range

    choose_folder(qtbot, monkeypatch, w, "Browse", case_dir)
    check()
    assert w.case_list.count() == 3 and "3 case(s), BraTS 2021" in w.cases_info.text()
    assert [b.text() for b in w.channel_checks.values()] == ["T1c", "T1", "T2", "FLAIR"]
    tiny_recipe(qtbot, w, epochs=1, steps=300, validation=0.0)

    click(qtbot, button(w, "Train"))
    assert not button(w, "Train").isEnabled() and button(w, "Stop").isEnabled()
    status = w.jobs.status

    def estimating() -> bool:  # the bar moves within epoch 1 and the status line gives a time estimate
        m = re.search(r"epoch 1/1: step (\d+)/300", status.text())
        return w.jobs.progress.value() > 0 and m is not None and "left)" in status.text()

    wait_until(estimating, 120)
    assert 0 < w.jobs.progress.value() < 1000, status.text()
    click(qtbot, button(w, "Stop"))
    assert w.wait_idle(120), status.text()
    check()

    assert "partial model saved" in status.text() and str(out) in status.text()
    assert "Partial model" in w.summary.text() and "not validated" in w.summary.text()
    doc = json.loads((out / "model.json").read_text())
    assert doc["training"]["partial"]["validated"] is False and doc["training"]["stop_reason"] == "partial"
    assert 1 <= doc["training"]["partial"]["steps_done"] < 300
    assert doc["contract"]["trained_on"].startswith("PARTIAL")
    assert (out / "model.pt").is_file() and not (out / "checkpoint.pt").exists()
    assert len(w.plot.series["loss per step"][0]) == doc["training"]["partial"]["steps_done"]
    assert button(w, "Use in segmentation").isEnabled() and button(w, "Train").isEnabled()
    # the next run is proposed a fresh folder
    assert Path(field(w, "model folder").text()) != out


def test_cancel_in_the_first_epoch_keeps_nothing_and_says_so(make_napari_viewer, qtbot, monkeypatch, case_dir,
                                                             home):
    from napari_medai._napari._widgets import RED

    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    out = Path(field(w, "model folder").text())
    choose_folder(qtbot, monkeypatch, w, "Browse", case_dir)
    tiny_recipe(qtbot, w, epochs=1, steps=300, validation=0.0)
    click(qtbot, button(w, "Train"))
    wait_until(lambda: re.search(r"epoch 1/1: step \d+/300", w.jobs.status.text()) is not None, 120)
    click(qtbot, button(w, "Cancel"))
    assert w.wait_idle(120)
    check()
    status = w.jobs.status
    assert re.match(r"Cancelled in epoch 1 after \d+ of 300 steps: nothing was saved", status.text()), status.text()
    assert status.styleSheet() == RED and "\n" not in status.text()
    assert not out.exists()  # the folder this run had made, still empty, is gone
    assert not button(w, "Use in segmentation").isEnabled() and button(w, "Train").isEnabled()
    assert w.summary.text() == ""


def test_a_full_tiny_run_plots_its_epochs_and_hands_the_model_to_segmentation(
        make_napari_viewer, qtbot, case_dir, home):
    viewer = make_napari_viewer()
    open_sample(viewer, "brain_tumour")  # images first, then the widget
    w = open_widget(viewer, WIDGET)
    step("type the cases folder, Enter")
    type_into(qtbot, field(w, "cases"), str(case_dir))
    check()
    assert w.case_list.count() == 3, w.cases_info.text()
    step("untick T1 and T2")
    w.channel_checks["t1"].setChecked(False)
    w.channel_checks["t2"].setChecked(False)
    tiny_recipe(qtbot, w, epochs=2, steps=2, validation=0.34)
    out = Path(field(w, "model folder").text())

    click(qtbot, button(w, "Train"))
    assert w.wait_idle(240), w.jobs.status.text()
    check()
    assert w.jobs.status.text().startswith("Done: reached the epoch limit"), w.jobs.status.text()
    assert w.jobs.progress.value() == 1000
    # the plot: one train-loss point per epoch, Dice per region on the right axis in [0, 1]
    assert w.plot.series["train loss"][0] == [1.0, 2.0] and not w.plot.empty_note.get_visible()
    for name in ("val Dice (mean)", "WT", "TC", "ET"):
        assert len(w.plot.series[name][1]) == 2 and all(0 <= y <= 1 for y in w.plot.series[name][1])
    text = w.summary.text()
    assert "Reached the epoch limit" in text and "validated on 1 case(s)" in text and str(out) in text
    doc = json.loads((out / "model.json").read_text())
    assert doc["contract"]["channels"] == ["t1c", "flair"] and len(doc["training"]["history"]) == 2

    click(qtbot, button(w, "Use in segmentation widget"))
    check()
    seg = next(d for d in viewer.window.dock_widgets.values() if d is not w and hasattr(d, "model_combo"))
    assert seg.model_combo.currentText() == str(out)
    step("wait for the segmentation widget to load the model")
    wait_until(lambda: not seg.jobs.busy, 120)
    check()
    assert str(out) in seg.model_combo.currentText()
    # a second click reuses the open dock
    click(qtbot, button(w, "Use in segmentation widget"))
    check()
    assert sum(1 for d in viewer.window.dock_widgets.values() if hasattr(d, "model_combo")) == 1
    assert open_widget(viewer, SEG_WIDGET) is seg


def test_folders_that_cannot_be_trained_on_are_refused_in_red(make_napari_viewer, qtbot, monkeypatch, tmp_path,
                                                             home):
    from napari_medai._napari._widgets import RED

    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    out = Path(field(w, "model folder").text())
    # an empty folder: the fix is named, Train starts nothing and creates no folder
    empty = tmp_path / "empty"
    (empty / "notes").mkdir(parents=True)
    choose_folder(qtbot, monkeypatch, w, "Browse", empty)
    check()
    assert "no brain-tumour case found" in w.cases_info.text() and w.cases_info.styleSheet() == RED
    click(qtbot, button(w, "Train"))
    check()
    status = w.jobs.status
    assert not w.busy and status.text().startswith("Nothing to train on") and status.styleSheet() == RED
    assert "\n" not in status.text() and not out.exists() and button(w, "Train").isEnabled()
    # cases without label maps
    for name in ("a", "b"):
        (tmp_path / "data" / name).mkdir(parents=True)
        for s in ("flair", "t1ce") + (("seg",) if name == "a" else ()):
            (tmp_path / "data" / name / f"{name}_{s}.nii.gz").write_bytes(b"")
    step("type a folder without label maps, Enter")
    type_into(qtbot, field(w, "cases"), str(tmp_path / "data"))
    check()
    assert "No label map in b" in w.cases_info.text()
    click(qtbot, button(w, "Train"))
    check()
    assert not w.busy and "No label map in b" in status.text() and status.styleSheet() == RED
    # labels complete, but no sequence ticked
    (tmp_path / "data" / "b" / "b_seg.nii.gz").write_bytes(b"")
    step("type the folder again, Enter; untick every sequence")
    type_into(qtbot, field(w, "cases"), str(tmp_path / "data") + "/")
    assert w.case_list.count() == 2
    for box in w.channel_checks.values():
        box.setChecked(False)
    click(qtbot, button(w, "Train"))
    check()
    assert not w.busy and "Tick at least one" in status.text()
    # a model folder that cannot be created
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    step("tick FLAIR, type a model folder under a file")
    w.channel_checks["flair"].setChecked(True)
    type_into(qtbot, field(w, "model folder"), str(blocker / "model"))
    click(qtbot, button(w, "Train"))
    check()
    assert not w.busy and "cannot create the model folder" in status.text() and status.styleSheet() == RED
    assert not (blocker / "model").exists()
