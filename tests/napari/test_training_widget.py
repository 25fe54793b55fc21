"""The brain-tumour training widget beyond its journeys (tests/napari/test_journey_training.py): the sequences
offered when a case lacks one, and Stop after a finished epoch followed by resume, on tiny phantom cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from .journey import button, click, open_widget, wait_until

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

WIDGET = "Brain tumour training (your labelled cases)"
#: Tiny recipe: 16^3 patches and windows, 1 patch per step, 8 filters, one torch thread.
TINY = {"patch_spin": 16, "window_spin": 16, "batch_spin": 1, "filters_spin": 8, "threads_spin": 1,
        "spacing_spin": 2.0, "minutes_spin": 0}


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


def _widget(make_napari_viewer, case_dir: Path, out: Path, *, epochs: int, steps: int = 1):
    viewer = make_napari_viewer()
    widget = open_widget(viewer, WIDGET)
    assert widget.set_data_folder(case_dir), widget.cases_info.text()
    widget.out_edit.setText(str(out))
    r = widget.recipe
    r.epochs_spin.setValue(epochs)
    r.steps_spin.setValue(steps)
    for name, value in TINY.items():
        getattr(r, name).setValue(value)
    r.device_combo.setCurrentText("cpu")
    return viewer, widget


def test_data_folder_lists_cases_layout_and_sequences(make_napari_viewer, case_dir, tmp_path):
    _viewer, widget = _widget(make_napari_viewer, case_dir, tmp_path / "m", epochs=1)
    assert [widget.case_list.item(i).text().split(":")[0] for i in range(3)] == [
        "BraTS2021_00001", "BraTS2021_00002", "BraTS2021_00003"]
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


def test_stop_keeps_the_finished_epoch_and_resume_continues(make_napari_viewer, qtbot, case_dir, tmp_path):
    _viewer, widget = _widget(make_napari_viewer, case_dir, tmp_path / "m", epochs=50)
    widget.recipe.val_spin.setValue(0.0)  # no validation: an epoch is a single step
    click(qtbot, button(widget, "Train"))
    # press Stop as soon as the first epoch is on the plot
    wait_until(lambda: "train loss" in widget.plot.series or not widget.busy, 120)
    click(qtbot, button(widget, "Stop"))
    assert widget.wait_idle(120)
    r = widget.result
    assert r is not None, widget.jobs.status.text()
    assert r.stop_reason == "cancelled" and 1 <= r.epochs_run < 50
    assert "stopped by you" in widget.summary.text().lower()
    assert (tmp_path / "m" / "model.pt").is_file() and (tmp_path / "m" / "checkpoint.pt").is_file()
    done = r.epochs_run
    # the folder now holds a run: training again into it needs 'resume'
    assert widget.out_edit.text() == str(tmp_path / "m")  # a folder the user chose is kept
    click(qtbot, button(widget, "Train"))
    assert not widget.busy and "resume" in widget.jobs.status.text()
    widget.resume_check.setChecked(True)
    widget.recipe.epochs_spin.setValue(done + 1)
    click(qtbot, button(widget, "Train"))
    assert widget.wait_idle(120)
    assert widget.result is not None, widget.jobs.status.text()
    assert widget.result.resumed_from == done and widget.result.epochs_run == done + 1
    # the earlier epochs are replayed into the fresh plot, then the new one
    assert widget.plot.series["train loss"][0] == [float(e) for e in range(1, done + 2)]


def test_a_finished_runs_summary_is_scrolled_into_view_in_a_short_dock(make_napari_viewer):
    # at 1280 x 800 the summary sits under the plot, out of view: the dock scrolls down to it (issue 10's screenshots)
    from napari_medai._napari._widgets import process_events_until

    viewer = make_napari_viewer(show=True)
    viewer.window._qt_window.resize(1280, 800)
    widget = open_widget(viewer, "Stroke training (your labelled cases)")
    widget.recipe.advanced_check.setChecked(True)
    process_events_until(lambda: False, 0.3)
    assert widget.summary.visibleRegion().isEmpty()  # the summary starts out of view
    widget.show_summary("<b>Reached the epoch limit</b> after 4 epoch(s).<br>Best epoch 4.", "Done.")
    assert process_events_until(lambda: not widget.summary.visibleRegion().isEmpty(), 5)
