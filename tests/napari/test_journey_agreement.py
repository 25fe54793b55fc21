"""Journeys through the agreement panel as a user takes them: Plugins menu, File > Open, mouse and keys."""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog, QWidget

from napari_medai._napari.layers import META_KEY
from napari_medai.core.error_map import lesion_list
from napari_medai.core.evaluate import evaluate_volumes
from napari_medai.core.io import read_volume, write_volume
from napari_medai.core.metrics import compute_table
from napari_medai.core.volume import Volume

from .journey import (
    button,
    check,
    click,
    field,
    layer_names,
    open_path,
    open_sample,
    open_widget,
    step,
    table_texts,
    wait_until,
)

PANEL = "Agreement with ground truth"
SPACING = (2.0, 0.8, 0.8)


def _label_maps():
    """A BraTS-2021-like ground truth and a prediction that misses an oedema strip and adds a blob."""
    gt = np.zeros((12, 40, 40), np.uint8)
    gt[3:9, 10:30, 10:30] = 2
    gt[4:8, 15:25, 15:25] = 1
    gt[5:7, 18:22, 18:22] = 4
    gt[9:11, 33:37, 33:37] = 2  # a second, small lesion
    pred = gt.copy()
    pred[:, :, 10:13] = np.where(pred[:, :, 10:13] == 2, 0, pred[:, :, 10:13])
    pred[1:3, 2:6, 2:6] = 2  # a false-positive lesion
    return pred, gt


def _write_pair(folder, *, coarse=False):
    pred, gt = _label_maps()
    seg = write_volume(Volume(data=gt, spacing=SPACING, is_label=True, name="case_seg"), folder / "case_seg.nii.gz")
    if coarse:
        pv = Volume(data=pred[:, ::2, ::2].copy(), spacing=(2.0, 1.6, 1.6), is_label=True, name="case_pred")
    else:
        pv = Volume(data=pred, spacing=SPACING, is_label=True, name="case_pred")
    return seg, write_volume(pv, folder / "case_pred.nii.gz")


def _open(viewer, path):
    return open_path(viewer, path)[0]


def _rows(table):
    """{row name: [cell texts]} as the user reads the metrics table."""
    names = [table.verticalHeaderItem(r).text() for r in range(table.rowCount())]
    return dict(zip(names, table_texts(table)))


def _choose(combo, text):
    """Pick ``text`` in a combo box as a user does (the choice is then the user's)."""
    i = combo.findText(text)
    assert i >= 0, f"{text!r} not offered: {[combo.itemText(k) for k in range(combo.count())]}"
    combo.setCurrentIndex(i)
    combo.activated.emit(i)


def _press(widget, key, modifier=Qt.NoModifier):
    """A key press in the viewer's canvas (where napari's key bindings listen)."""
    from qtpy.QtTest import QTest

    canvas = next(w for w in widget.window().findChildren(QWidget) if type(w).__name__ == "QtViewer")
    QTest.keyClick(canvas, key, modifier)


def _expect_table(widget, pred, gt, convention="brats2021"):
    """The panel's numbers equal a computation from scratch on the layers' data."""
    expected = compute_table(np.asarray(pred.data), np.asarray(gt.data), spacing=tuple(gt.scale),
                             convention=convention)
    rows = _rows(widget.table)
    for region, row in expected["regions"].items():
        assert rows[region][0] == f"{row['dice']:.3f}", (region, rows[region])
        assert widget.result.regions[region]["dice"] == row["dice"]
        assert widget.result.regions[region]["hd95_mm"] == row["hd95_mm"] or np.isnan(row["hd95_mm"])
    return rows


def test_files_then_panel_picks_the_pair_and_shows_the_core_numbers(make_napari_viewer, tmp_path):
    seg, pred = _write_pair(tmp_path)
    viewer = make_napari_viewer()
    _open(viewer, seg)
    _open(viewer, pred)
    panel = open_widget(viewer, PANEL)
    step("the panel computes")
    assert panel.wait_idle(120), panel.status.text()
    check()
    assert field(panel, "Prediction").currentText() == "case_pred"
    assert field(panel, "Ground truth").currentText() == "case_seg"
    assert field(panel, "Convention").currentText() == "brats2021"  # guessed from the values 1, 2, 4
    expected = evaluate_volumes(read_volume(pred), read_volume(seg), convention="brats2021")
    rows = _rows(panel.table)
    assert list(rows) == ["WT", "TC", "ET", "label NCR/NET", "label ED"]
    for region in ("WT", "TC", "ET"):
        assert rows[region][0] == f"{expected.regions[region]['dice']:.3f}"
    # every row shown, none behind a scroll bar
    table = panel.table
    assert table.height() >= table.horizontalHeader().height() + 5 * table.rowHeight(0)
    # ground truth drawn as an outline, a legend of the prediction's labels
    assert field(panel, "Ground truth").currentText() == "case_seg"
    assert viewer.layers["case_seg"].contour > 0
    assert layer_names(viewer) == ["case_pred", "case_seg"]  # the outline is drawn above the prediction
    assert button(panel, "Ground truth as outline").isChecked()
    assert [name for _, name, _ in panel.legend.entries] == ["NCR/NET", "ED", "ET"]
    assert viewer.layers["case_seg"].opacity == 1.0
    step("untick Ground truth as outline")
    button(panel, "Ground truth as outline").click()
    check()
    assert viewer.layers["case_seg"].contour == 0
    assert viewer.layers["case_seg"].opacity == pytest.approx(0.6)  # the reader's opacity is back


def test_panel_first_then_files(make_napari_viewer, tmp_path, qtbot, monkeypatch):
    seg, pred = _write_pair(tmp_path)
    viewer = make_napari_viewer()
    panel = open_widget(viewer, PANEL)
    _open(viewer, seg)
    assert panel.wait_idle(120)
    check()
    assert field(panel, "Ground truth").currentText() == "case_seg"
    assert panel.result is None
    assert "'Prediction'" in panel.status.text()  # says which control to set
    _open(viewer, pred)
    assert panel.wait_idle(120), panel.status.text()
    check()
    assert field(panel, "Prediction").currentText() == "case_pred"
    assert field(panel, "Ground truth").currentText() == "case_seg"
    _expect_table(panel, viewer.layers["case_pred"], viewer.layers["case_seg"])
    # exporting the table as a user does: the file dialog, then the file
    out = tmp_path / "agreement.csv"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(out), "CSV (*.csv)")))
    click(qtbot, button(panel, "Export CSV"))
    check()
    text = out.read_text()
    assert "WT" in text and "dice" in text.lower()
    assert f"Wrote {out}" in panel.status.text()


@pytest.mark.parametrize("panel_first", [False, True])
def test_a_declared_prediction_is_picked_not_the_brain_mask(make_napari_viewer, panel_first):
    viewer = make_napari_viewer()
    panel = open_widget(viewer, PANEL) if panel_first else None
    open_sample(viewer, "brain_tumour")
    seg = viewer.layers["seg"]
    pred = seg.data.copy()
    pred[pred == 1] = 4  # a model that calls the necrosis enhancing
    # what a task widget adds: its output, with the role and the convention the model declares
    step("a task widget adds its prediction")
    viewer.add_labels(pred, name="brain tumour", scale=seg.scale, translate=seg.translate,
                      metadata={META_KEY: {"role": "prediction", "convention": "brats2021"}})
    if panel is None:
        panel = open_widget(viewer, PANEL)
    assert panel.wait_idle(120), panel.status.text()
    check()
    assert "brainmask" in layer_names(viewer)
    assert field(panel, "Prediction").currentText() == "brain tumour"
    assert field(panel, "Ground truth").currentText() == "seg"
    assert field(panel, "Convention").currentText() == "brats2021"
    rows = _expect_table(panel, viewer.layers["brain tumour"], seg)
    assert rows["WT"][0] == "1.000" and rows["ET"][0] != "1.000"


def test_painting_updates_the_table_to_a_fresh_computation(make_napari_viewer, tmp_path):
    seg, pred = _write_pair(tmp_path)
    viewer = make_napari_viewer()
    _open(viewer, seg)
    layer = _open(viewer, pred)
    panel = open_widget(viewer, PANEL)
    assert panel.wait_idle(120)
    check()
    gt = viewer.layers["case_seg"]
    before = _rows(panel.table)["WT"][0]
    # the brush: a disc of label 2 painted into the missed strip, then an erase, then an undo
    layer.brush_size = 5
    for coord, value in (((5, 20, 11), 2), ((6, 20, 11), 2), ((5, 15, 20), 0)):
        n = panel.n_updates
        step("brush stroke")
        layer.paint(coord, value)
        assert panel.wait_idle(120)
        check()
        assert panel.n_updates > n
        _expect_table(panel, layer, gt)
        assert panel.lesions == lesion_list(layer.data, gt.data, spacing=tuple(gt.scale), labels=(1, 2, 4))
    assert _rows(panel.table)["WT"][0] != before
    step("undo")
    layer.undo()
    assert panel.wait_idle(120)
    check()
    _expect_table(panel, layer, gt)
    # an edit of the ground truth counts too
    step("brush stroke on the ground truth")
    gt.paint((9, 20, 20), 2)
    assert panel.wait_idle(120)
    check()
    _expect_table(panel, layer, gt)


def test_different_grids_warn_and_resample(make_napari_viewer, tmp_path, qtbot):
    seg, pred = _write_pair(tmp_path, coarse=True)
    viewer = make_napari_viewer()
    _open(viewer, seg)
    _open(viewer, pred)
    panel = open_widget(viewer, PANEL)
    assert panel.wait_idle(120)
    check()
    assert "different voxel grids" in panel.status.text()
    assert "--" not in panel.status.text()
    assert panel.table.rowCount() == 0 and panel.result is None
    assert sorted(layer_names(viewer)) == ["case_pred", "case_seg"]  # nothing added on the error path
    resample = button(panel, "Resample prediction onto ground-truth grid")
    assert resample.isVisibleTo(panel)
    click(qtbot, resample)
    assert panel.wait_idle(120), panel.status.text()
    check()
    new = "case_pred (on case_seg grid)"
    assert new in layer_names(viewer)
    assert viewer.layers[new].data.shape == viewer.layers["case_seg"].data.shape
    assert field(panel, "Prediction").currentText() == new
    assert "Resampled 'case_pred'" in panel.status.text()
    assert not resample.isVisibleTo(panel)
    _expect_table(panel, viewer.layers[new], viewer.layers["case_seg"])


def test_wrong_convention_is_shown_in_the_panel_words(make_napari_viewer, tmp_path, qtbot):
    seg, pred = _write_pair(tmp_path)
    viewer = make_napari_viewer()
    _open(viewer, seg)
    _open(viewer, pred)
    panel = open_widget(viewer, PANEL)
    assert panel.wait_idle(120)
    step("choose brats2023")
    _choose(field(panel, "Convention"), "brats2023")  # label 4 does not exist in BraTS 2023
    assert panel.wait_idle(120)
    check()
    text = panel.status.text()
    assert "4" in text and "'Convention'" in text and "--" not in text, text
    assert panel.result is None and panel.table.rowCount() == 0
    n_layers = len(viewer.layers)
    click(qtbot, button(panel, "Add error map"))
    check()
    assert len(viewer.layers) == n_layers  # nothing to map: refused, nothing added
    assert "Compute the table first" in panel.status.text()
    # the user's choice is kept when another layer arrives
    step("another layer arrives")
    viewer.add_labels(np.zeros((4, 4, 4), np.uint8), name="scratch")
    assert panel.wait_idle(120)
    check()
    assert field(panel, "Convention").currentText() == "brats2023"


def test_next_lesion_and_ground_truth_shortcuts_and_error_map(make_napari_viewer, tmp_path, qtbot):
    seg, pred = _write_pair(tmp_path)
    viewer = make_napari_viewer()
    _open(viewer, seg)
    _open(viewer, pred)
    panel = open_widget(viewer, PANEL)
    assert panel.wait_idle(120)
    check()
    lesions = table_texts(panel.lesion_table)
    assert sorted(r[1] for r in lesions) == ["FP", "TP", "TP"]
    assert "N: next lesion" in panel.lesion_table.toolTip()
    gt = viewer.layers["case_seg"]
    for k in range(4):
        step("key N")
        _press(panel, Qt.Key_N)
        check()
        row = k % len(lesions)
        assert panel.lesion_table.currentRow() == row
        centroid = panel.lesions[row]["centroid"]
        z_world = gt.data_to_world(centroid)[0]
        assert viewer.dims.point[0] == pytest.approx(z_world, abs=SPACING[0])
    step("key Shift-N")
    _press(panel, Qt.Key_N, Qt.ShiftModifier)
    check()
    assert panel.lesion_table.currentRow() == 2
    assert gt.visible
    step("key G")
    _press(panel, Qt.Key_G)
    check()
    assert not gt.visible
    step("key G")
    _press(panel, Qt.Key_G)
    check()
    assert gt.visible
    # napari's own shortcuts still work beside the panel's (Ctrl+G: grid mode)
    grid = viewer.canvas.grid.enabled
    step("key Ctrl-G (napari's grid)")
    _press(panel, Qt.Key_G, Qt.ControlModifier)
    check()
    assert viewer.canvas.grid.enabled != grid
    step("key Ctrl-G (napari's grid)")
    _press(panel, Qt.Key_G, Qt.ControlModifier)
    # the error map, with a key that stays
    step("choose region WT")
    _choose(panel.region_combo, "WT")
    click(qtbot, button(panel, "Add error map"))
    assert panel.wait_idle(120)
    check()
    assert "error map WT" in layer_names(viewer)
    assert [name for _, name, _ in panel.error_key.entries] == ["true positive", "false positive", "false negative"]
    assert "32 false-positive" in panel.error_counts.text()
    # painting afterwards changes the status line, not the key
    step("brush stroke")
    viewer.layers["case_pred"].paint((5, 20, 11), 2)
    assert panel.wait_idle(120)
    check()
    assert len(panel.error_key.entries) == 3 and "32 false-positive" in panel.error_counts.text()
    # the error map is not offered as a prediction
    assert "error map WT" not in [field(panel, "Prediction").itemText(i) for i in range(field(panel, "Prediction").count())]
    wait_until(lambda: not panel.busy, 120)
    # closing the panel gives the keys back to napari and stops listening to the layers
    main_window = panel.window()
    step("close the panel's dock")
    viewer.window.remove_dock_widget(panel)
    check()
    assert not any(str(k) in ("N", "G") for k in viewer.keymap)
    n = panel.n_updates
    step("key N and a brush stroke after the panel closed")
    _press(main_window, Qt.Key_N)  # napari's own key handling still works
    viewer.layers["case_pred"].paint((5, 20, 20), 0)
    qtbot.wait(300)
    check()
    assert panel.n_updates == n and not panel.busy
    panel.deleteLater()
