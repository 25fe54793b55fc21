"""The segmentation widget with a tiny random-weight model of the bundle's shape, saved as a model folder and
chosen with "Model folder…": untrained output said so, TTA layers, Cancel, refusals, the shortcut and the
dock's size; the brain-tumour defaults (TTA, small-component clean-up) giving the command line's labels and
volumes, and another task's widget running the engine's bare prediction. Journeys with the packaged model are
in ``test_journey_segmentation.py``."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog

from .journey import button, click, field, layer_names, open_path, open_widget, wait_until

pytest.importorskip("torch")
pytest.importorskip("monai")

WIDGET = "Brain tumour segmentation (MRI)"


@pytest.fixture
def tiny_model_folder(tmp_path):
    """A SegResNet with random weights and the BraTS bundle's contract, as a napari-medai model folder."""
    from napari_medai.core.models.loading import LoadedModel
    from napari_medai.core.models.persistence import save_model_folder

    model = LoadedModel.random(_tiny_contract(), seed=0)
    return save_model_folder(tmp_path / "tiny", model.network, model.contract)


def _tiny_contract(task="brain_tumour"):
    from napari_medai.core.models import NetworkSpec, get_entry

    return get_entry("brats_mri_segmentation").contract.with_changes(
        name="tiny-test-net", task=task,
        network=NetworkSpec("SegResNet", {"blocks_down": [1, 1], "blocks_up": [1], "init_filters": 8,
                                          "in_channels": 4, "out_channels": 3}),
        roi_size=(32, 32, 32),
    )


@pytest.fixture
def tiny_case_files(tmp_path):
    """The crop of the brain-tumour phantom (seed 1) that ``viewer_with_case`` shows, as NIfTI files at the
    tiny model's 1 mm (no resampling: 4 windows a pass) with an origin."""
    from napari_medai.core.phantoms import make_phantom

    from .conftest import write_nifti

    case = make_phantom("brain_tumour", seed=1)
    aff = np.eye(4)
    aff[:3, 3] = [-20.0, 8.0, 3.0]
    return {k: write_nifti(tmp_path / f"tiny_{k}.nii.gz", np.ascontiguousarray(case[k].data[30:62, 30:78, 20:68]),
                           aff) for k in ("flair", "t1", "t1c", "t2")}


@pytest.fixture
def viewer_with_case(make_napari_viewer):
    from napari_medai._napari.layers import volume_to_layer_data
    from napari_medai.core.phantoms import make_phantom

    viewer = make_napari_viewer()
    case = make_phantom("brain_tumour", seed=1)
    for key in ("flair", "t1", "t1c", "t2", "seg"):
        vol = case[key]
        small = vol.with_data(np.ascontiguousarray(vol.data[30:62, 30:78, 20:68]))
        for data, kw, kind in volume_to_layer_data(small):
            getattr(viewer, f"add_{kind}")(data, **kw)
    return viewer


def _choose_folder(qtbot, w, folder, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    click(qtbot, button(w, "Model folder"))
    assert w.wait_idle(120) and field(w, "model").currentText() == str(folder)
    assert w.model is not None and w.model.name == "tiny-test-net", w.jobs.status.text()


def test_untrained_model_runs_says_so_and_opens_agreement(viewer_with_case, qtbot, tiny_model_folder, monkeypatch):
    viewer = viewer_with_case
    w = open_widget(viewer, WIDGET)
    _choose_folder(qtbot, w, tiny_model_folder, monkeypatch)
    assert "NOT TRAINED" in w.model_info.text()
    button(w, "test-time augmentation").setChecked(True)
    button(w, "add probability layers").setChecked(True)
    click(qtbot, button(w, "Segment"))
    assert w.wait_idle(120)
    out = viewer.layers["brain tumour (tiny-test-net)"]
    assert type(out).__name__ == "Labels" and out.data.shape == viewer.layers["flair"].data.shape
    np.testing.assert_allclose(out.data_to_world([1, 2, 3]), viewer.layers["flair"].data_to_world([1, 2, 3]))
    assert set(np.unique(out.data)) <= {0, 1, 2, 4}
    assert "NOT TRAINED" in w.jobs.status.text() and w.jobs.progress.value() == 1000
    # the input check: a folder without reference statistics says so; the numbers are in the tooltip
    assert w.input_check.text().startswith("Input: no reference statistics")
    assert "tumour_fraction" in w.input_check.toolTip()
    assert any("uncertainty" in n.lower() for n in layer_names(viewer))
    # the ground truth was found and the agreement panel compares the pair
    assert w.agreement is not None and w.agreement.wait_idle(60)
    assert field(w.agreement, "ground truth").currentText() == "seg"
    assert field(w.agreement, "prediction").currentText() == out.name


def test_cancel_adds_nothing(viewer_with_case, qtbot, tiny_model_folder, monkeypatch):
    viewer = viewer_with_case
    w = open_widget(viewer, WIDGET)
    _choose_folder(qtbot, w, tiny_model_folder, monkeypatch)
    n_layers = len(viewer.layers)
    click(qtbot, button(w, "Segment"))
    click(qtbot, button(w, "Cancel"))
    assert w.wait_idle(120)
    if "Cancelled" in w.jobs.status.text():
        assert len(viewer.layers) == n_layers
    else:  # the tiny job finished before Cancel reached it
        assert "brain tumour (tiny-test-net)" in layer_names(viewer)
    assert button(w, "Segment").isEnabled() and not button(w, "Cancel").isEnabled()


def test_missing_channels_are_named(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    wait_until(lambda: button(w, "Segment").isEnabled(), 120)
    click(qtbot, button(w, "Segment"))
    assert "choose a layer for T1c, T1, T2, FLAIR" in w.jobs.status.text()
    assert not w.jobs.busy and len(viewer.layers) == 0


def test_a_denoiser_model_is_refused(make_napari_viewer, tmp_path):
    from napari_medai.core.phantoms import ldct_phantom
    from napari_medai.core.tasks.ldct import LdctPair, train_ldct

    ph = ldct_phantom(seed=0, n_slices=1, size=64)
    out = tmp_path / "ldct"
    train_ldct([LdctPair(ph["full_dose"], ph["low_dose"])], out_dir=out, filters=2, patch=32, batch_size=1,
               steps_per_epoch=1, max_epochs=1, val_fraction=0.0, device="cpu")
    w = open_widget(make_napari_viewer(), WIDGET)
    assert w.load_model_source(out) is False
    assert "not a segmentation model" in w.jobs.status.text()
    assert w.model is None or w.model.name == "brain-tumour-default"


def test_shortcut_runs_segment_and_the_dock_fits_a_short_screen(make_napari_viewer, qtbot, tiny_model_folder,
                                                               monkeypatch):
    from napari_medai._napari.layers import volume_to_layer_data
    from napari_medai.core.phantoms import make_phantom

    viewer = make_napari_viewer(show=True)
    w = open_widget(viewer, WIDGET)
    viewer.window._qt_window.resize(1280, 800)  # noqa: SLF001 - the window size a user has, not widget state
    case = make_phantom("brain_tumour", seed=1)
    for key in ("t1c", "t1", "t2", "flair"):
        vol = case[key].with_data(np.ascontiguousarray(case[key].data[30:62, 30:78, 20:68]))
        for data, kw, kind in volume_to_layer_data(vol):
            getattr(viewer, f"add_{kind}")(data, **kw)
    _choose_folder(qtbot, w, tiny_model_folder, monkeypatch)
    # the dock scrolls instead of growing the window; the channel rows do not overlap
    assert w.minimumSizeHint().height() < 300
    combos = [field(w, row, exact=True) for row in ("T1c", "T1", "T2", "FLAIR")]
    qtbot.wait(50)
    tops = [c.mapTo(w, c.rect().topLeft()).y() for c in combos]
    assert all(b - a >= combos[0].height() for a, b in zip(tops, tops[1:])), tops
    assert "Ctrl+Shift+B" in button(w, "Segment").toolTip()
    w.activateWindow()
    w.window().activateWindow()
    qtbot.waitUntil(lambda: w.window().isActiveWindow(), timeout=5000)
    qtbot.keyClick(w.window(), Qt.Key_B, Qt.ControlModifier | Qt.ShiftModifier)
    wait_until(lambda: "brain tumour (tiny-test-net)" in layer_names(viewer) and not w.jobs.busy, 120)


def test_defaults_are_the_cross_validated_ones_and_give_the_command_lines_labels_and_volumes(
        make_napari_viewer, qtbot, tiny_model_folder, tiny_case_files, monkeypatch, tmp_path):
    import json

    import nibabel as nib

    from napari_medai.cli import main
    from napari_medai.core.tasks.brain_tumour import DEFAULT_INFERENCE

    viewer = make_napari_viewer()
    for key in ("flair", "t1", "t1c", "t2"):
        open_path(viewer, tiny_case_files[key])
    w = open_widget(viewer, WIDGET)
    _choose_folder(qtbot, w, tiny_model_folder, monkeypatch)
    # the check boxes start where the task's cross-validation put them, as the command line's options do
    tta, clean = button(w, "test-time augmentation"), button(w, "remove small components")
    assert tta.isChecked() is DEFAULT_INFERENCE["tta"] is True
    fraction = DEFAULT_INFERENCE["min_component_fraction"]
    assert clean.isChecked() and f"< {fraction:g} of the largest" in clean.text()
    assert "cross-validation" in clean.toolTip() and "cross-validation" in tta.toolTip()
    click(qtbot, button(w, "Segment"))
    assert w.wait_idle(120)
    layer = viewer.layers["brain tumour (tiny-test-net)"]
    out, doc = tmp_path / "cli.nii.gz", tmp_path / "cli.json"
    assert main(["brain-tumour", "--flair", tiny_case_files["flair"], "--t1", tiny_case_files["t1"],
                 "--t1c", tiny_case_files["t1c"], "--t2", tiny_case_files["t2"], "--model", str(tiny_model_folder),
                 "--out", str(out), "--json", str(doc), "--quiet"]) == 0
    cli = json.loads(doc.read_text())
    assert cli["tta_passes"] == w.prediction.tta_passes > 1
    assert np.array_equal(np.transpose(np.asarray(nib.load(str(out)).dataobj)), layer.data)
    assert cli["region_volumes_ml"] == pytest.approx(w.prediction.region_volumes_ml, abs=1e-6)
    for region, ml in cli["region_volumes_ml"].items():
        assert f"{region} {ml:.2f} ml" in w.volumes.text()
    # the clean-up ran in both, and the status line says what it did (the random net leaves specks)
    note = cli["notes"][-1]
    assert note.startswith("dropped ") and "tumour component(s)" in note, cli["notes"]
    assert note in w.jobs.status.text()


def test_a_task_without_its_own_pipeline_runs_the_engines_bare_prediction(viewer_with_case, qtbot, tmp_path,
                                                                         monkeypatch):
    from napari_medai._napari.layers import layer_to_volume
    from napari_medai._napari.segmentation_widget import TASK_PIPELINES, SegmentationWidget
    from napari_medai.core.inference.segmentation import predict
    from napari_medai.core.models.loading import LoadedModel, load_model
    from napari_medai.core.models.persistence import save_model_folder

    assert "stroke" not in TASK_PIPELINES
    model = LoadedModel.random(_tiny_contract(task="stroke"), seed=0)
    folder = save_model_folder(tmp_path / "tiny-stroke", model.network, model.contract)
    viewer = viewer_with_case
    w = SegmentationWidget(viewer, task="stroke", convention="brats2021")
    viewer.window.add_dock_widget(w)
    _choose_folder(qtbot, w, folder, monkeypatch)
    assert not button(w, "test-time augmentation").isChecked()  # the engine's default: one pass
    with pytest.raises(AssertionError):
        button(w, "remove small components")  # no clean-up that this task's cross-validation did not choose
    click(qtbot, button(w, "Segment"))
    assert w.wait_idle(120)
    channels = {c: layer_to_volume(viewer.layers[c]) for c in ("t1c", "t1", "t2", "flair")}
    raw = predict(load_model(folder), channels, tta=False)
    assert np.array_equal(viewer.layers["stroke (tiny-test-net)"].data, raw.labels.data)
    assert "component" not in w.jobs.status.text() and w.prediction.tta_passes == 1
