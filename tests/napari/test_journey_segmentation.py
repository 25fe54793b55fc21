"""Journeys through Plugins > napari-medai > "Brain tumour segmentation (MRI)", as a user walks them.

Data come from File > Open Sample or File > Open (small NIfTI files written here); controls are found by
what they read; the job is waited for through the Segment button or the widget's public ``wait_idle``.
The widget starts with the command line's defaults (the task's ``DEFAULT_INFERENCE``: test-time augmentation
and the small-component clean-up, both ticked); unticking both gives the engine's bare prediction.
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import QFileDialog, QLabel, QTableWidget

from .journey import (
    button,
    check,
    click,
    field,
    header_texts,
    layer_names,
    open_path,
    open_sample,
    open_widget,
    step,
    table_texts,
    wait_until,
)

pytest.importorskip("torch")
pytest.importorskip("monai")

WIDGET = "Brain tumour segmentation (MRI)"
AGREEMENT = "Agreement with ground truth"
OUTPUT = "brain tumour (brain-tumour-default)"
ROWS = {"T1c": "t1c", "T1": "t1", "T2": "t2", "FLAIR": "flair"}


def _label_starting(root, text):
    hits = [lab for lab in root.findChildren(QLabel) if lab.text().startswith(text)]
    assert hits, f"no label reading {text!r}..."
    return hits[0]


def _channels(w):
    return {row: field(w, row, exact=True).currentText() for row in ROWS}


def _idle(w):
    wait_until(lambda: button(w, "Segment").isEnabled(), 120)


@pytest.fixture
def small_case(tmp_path):
    """The brain-tumour phantom cropped around the tumour, as four NIfTI files at 1.5 mm with an origin."""
    from napari_medai.core.phantoms import make_phantom

    from .conftest import write_nifti

    case = make_phantom("brain_tumour", seed=0)
    aff = np.diag([1.5, 1.5, 1.5, 1.0])
    aff[:3, 3] = [-30.0, 12.0, 4.5]
    box = (slice(24, 72), slice(28, 84), slice(24, 72))
    paths = {k: write_nifti(tmp_path / f"case_{k}.nii.gz", np.ascontiguousarray(case[k].data[box]), aff)
             for k in ("flair", "t1", "t1c", "t2", "seg")}
    return paths, aff


def test_a_sample_then_widget_segments_and_opens_agreement(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    open_sample(viewer, "brain_tumour")
    w = open_widget(viewer, WIDGET)
    check()
    assert field(w, "model").currentText() == "brain-tumour-default"  # the packaged model that works offline
    assert "demo model" in _label_starting(w, "napari-medai SegResNet").text()
    assert _channels(w) == {"T1c": "t1c", "T1": "t1", "T2": "t2", "FLAIR": "flair"}
    # what the command line does by default: 8 flipped passes, then small components dropped
    assert button(w, "test-time augmentation").isChecked()
    assert button(w, "remove small components (< 0.1 of the largest)").isChecked()
    step("wait for the model to load")
    _idle(w)  # the model loads in the worker; Segment is enabled once it is ready
    click(qtbot, button(w, "Segment"))
    wait_until(lambda: OUTPUT in layer_names(viewer) and button(w, "Segment").isEnabled(), 120)
    check()
    status = w.jobs.status.text()
    assert "8 TTA pass(es)" in status
    assert "dropped " in status and "tumour component(s) smaller than 0.1 of the largest" in status, status
    out, flair = viewer.layers[OUTPUT], viewer.layers["flair"]
    assert type(out).__name__ == "Labels" and out.data.shape == flair.data.shape
    np.testing.assert_allclose(out.scale, flair.scale)
    np.testing.assert_allclose(out.translate, flair.translate)
    meta = out.metadata["napari_medai"]
    assert meta["role"] == "prediction" and meta["convention"] == "brats2021"
    vols = _label_starting(w, "Volumes:").text()
    for region in ("WT", "TC", "ET"):
        assert f"{region} " in vols and " ml" in vols
    assert [e[1] for e in w.legend.entries] == ["NCR/NET", "ED", "ET"]
    # the agreement panel was opened through the Plugins menu: the menu gives the same panel back
    panel = open_widget(viewer, AGREEMENT)
    step("agreement panel computes")
    assert panel.wait_idle(120)
    check()
    assert field(panel, "prediction").currentText() == OUTPUT
    assert field(panel, "ground truth").currentText() == "seg"
    assert field(panel, "convention").currentText() == "brats2021"
    table = max(panel.findChildren(QTableWidget), key=lambda t: "Dice" in header_texts(t))
    dice_col = header_texts(table).index("Dice")
    rows = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]  # region names
    wt = table_texts(table)[next(r for r, name in enumerate(rows) if name.startswith("WT"))]
    assert float(wt[dice_col].rstrip("*")) > 0.7  # 0.849 with the defaults (TTA + clean-up), 0.834 in one pass


def test_b_widget_and_model_first_then_images_each_channel_its_own(make_napari_viewer):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    step("choose brain-tumour-default, wait for it to load")
    field(w, "model").setCurrentText("brain-tumour-default")
    _idle(w)
    check()
    assert set(_channels(w).values()) == {""}  # nothing open: every channel asks for a layer
    open_sample(viewer, "brain_tumour")
    check()
    assert _channels(w) == {"T1c": "t1c", "T1": "t1", "T2": "t2", "FLAIR": "flair"}  # never all 'flair'
    # a renamed layer stays chosen; a removed one leaves its channel empty, and the widget says so
    step("rename t2")
    viewer.layers["t2"].name = "T2 weighted"
    check()
    assert field(w, "T2", exact=True).currentText() == "T2 weighted"
    step("remove t1")
    viewer.layers.remove("t1")
    check()
    assert field(w, "T1", exact=True).currentText() == ""
    assert "choose a layer for T1" in _label_starting(w, "choose a layer").text()
    # a second case opened next to the first does not replace the user's layers
    open_sample(viewer, "brain_tumour")
    check()
    assert field(w, "FLAIR").currentText() == "flair" and field(w, "T1", exact=True).currentText() == "t1"


def test_c_one_layer_in_two_channels_is_refused(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    open_sample(viewer, "brain_tumour")
    step("wait for the model to load")
    _idle(w)
    step("choose flair for T1c")
    field(w, "T1c").setCurrentText("flair")
    check()
    note = _label_starting(w, "T1c and FLAIR all use 'flair'")
    assert "ff7070" in note.styleSheet()  # red, before Segment is pressed
    n = len(viewer.layers)
    click(qtbot, button(w, "Segment"))
    qtbot.wait(300)
    check()
    assert len(viewer.layers) == n and not w.jobs.busy
    # refused with the reason in the status line (red), nothing started
    assert w.jobs.status.text() == note.text() and "ff7070" in w.jobs.status.styleSheet()


def test_d_offline_zoo_model_says_how_to_get_it_without_freezing(make_napari_viewer, monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_MEDAI_CACHE", str(tmp_path / "empty-cache"))  # the bundle was never downloaded
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    step("wait for the model to load")
    _idle(w)
    step("choose brats_mri_segmentation")
    field(w, "model").setCurrentText("brats_mri_segmentation")
    # the choice returns at once: the load runs in the worker (Segment waits for it), the GUI keeps going
    assert w.jobs.busy and not button(w, "Segment").isEnabled()
    assert w.jobs.status.text().startswith("loading brats_mri_segmentation")
    info = _label_starting(w, "MONAI zoo SegResNet")  # the description follows the choice at once
    assert "demo model" not in info.text()
    wait_until(lambda: not w.jobs.busy, 120)
    check()
    text = w.jobs.status.text()
    assert text.startswith("brats_mri_segmentation is not downloaded") and "\n" not in text
    assert "monai.bundle.download(name='brats_mri_segmentation'" in text and "'Model folder…'" in text
    assert len(text) < 400 and "ff7070" in w.jobs.status.styleSheet()
    step("choose brain-tumour-default")
    field(w, "model").setCurrentText("brain-tumour-default")
    assert "demo model" in _label_starting(w, "napari-medai SegResNet").text()
    _idle(w)
    check()
    assert w.model is not None and w.model.name == "brain-tumour-default"
    assert w.jobs.status.text() == "Model ready."  # the zoo model's error is gone


def test_e_open_files_segment_and_save_with_the_image_geometry(make_napari_viewer, qtbot, small_case,
                                                               monkeypatch, tmp_path):
    import nibabel as nib

    from napari_medai.core.inference.segmentation import predict
    from napari_medai.core.io import read_volume

    paths, aff = small_case
    viewer = make_napari_viewer()
    for key in ("flair", "t1", "t1c", "t2", "seg"):
        open_path(viewer, paths[key])
    w = open_widget(viewer, WIDGET)
    check()
    assert not button(w, "Save segmentation").isEnabled()
    assert _channels(w) == {r: f"case_{c}" for r, c in ROWS.items()}
    step("wait for the model to load")
    _idle(w)
    step("untick test-time augmentation and the clean-up")  # one pass, nothing dropped: the bare prediction
    click(qtbot, button(w, "test-time augmentation"))
    click(qtbot, button(w, "remove small components"))
    click(qtbot, button(w, "Segment"))
    wait_until(lambda: OUTPUT in layer_names(viewer) and button(w, "Segment").isEnabled(), 120)
    check()
    assert not button(w, "test-time augmentation").isChecked()
    assert not button(w, "remove small components").isChecked()
    status = w.jobs.status.text()
    assert "1 TTA pass(es)" in status and "component" not in status, status
    raw = predict("brain-tumour-default", {k: read_volume(paths[k], as_label=False) for k in ROWS.values()}, tta=False)
    assert np.array_equal(viewer.layers[OUTPUT].data, raw.labels.data)
    step("save the segmentation")
    target = tmp_path / "out" / "pred.nii.gz"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName",
                        staticmethod(lambda *a, **k: (str(target), "NIfTI (*.nii.gz)")))
    click(qtbot, button(w, "Save segmentation"))
    check()
    assert target.is_file(), w.jobs.status.text()
    img = nib.load(str(target))
    np.testing.assert_allclose(img.affine, nib.load(paths["flair"]).affine, atol=1e-5)
    np.testing.assert_allclose(img.affine, aff, atol=1e-5)
    assert np.array_equal(np.transpose(np.asarray(img.dataobj)), viewer.layers[OUTPUT].data)
    assert "Saved" in w.jobs.status.text()
    # the case has a ground truth ('case_seg'), so the agreement panel compares it; let it finish
    panel = open_widget(viewer, AGREEMENT)
    step("agreement panel computes")
    assert panel.wait_idle(120)
    check()
    assert field(panel, "ground truth").currentText() == "case_seg"
