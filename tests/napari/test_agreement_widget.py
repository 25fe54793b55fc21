"""The agreement panel in a real viewer: table, live updates, error map, guard, exports."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_medai._napari.agreement_widget import AgreementWidget


def _pair():
    gt = np.zeros((12, 40, 40), np.int32)
    gt[3:9, 10:30, 10:30] = 2  # oedema
    gt[4:8, 15:25, 15:25] = 1  # core
    gt[5:7, 18:22, 18:22] = 4  # enhancing
    pred = gt.copy()
    pred[:, :, 10:13] = np.where(pred[:, :, 10:13] == 2, 0, pred[:, :, 10:13])  # miss a strip of oedema
    pred[1:3, 2:6, 2:6] = 2  # a false-positive lesion
    return pred, gt


@pytest.fixture
def panel(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    pred, gt = _pair()
    viewer.add_labels(gt, name="gt", scale=(2.0, 0.8, 0.8))
    viewer.add_labels(pred, name="pred", scale=(2.0, 0.8, 0.8))
    widget = AgreementWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_pair(pred="pred", gt="gt", convention="brats2021")
    assert widget.wait_idle(30)
    return viewer, widget


def test_table_matches_core(panel):
    from napari_medai.core.metrics import compute_table

    viewer, widget = panel
    assert widget.result is not None, widget.status.text()
    expected = compute_table(viewer.layers["pred"].data, viewer.layers["gt"].data, spacing=(2.0, 0.8, 0.8),
                             convention="brats2021")
    for region in ("WT", "TC", "ET"):
        assert widget.result.regions[region]["dice"] == pytest.approx(expected["regions"][region]["dice"])
        assert widget.result.regions[region]["hd95_mm"] == pytest.approx(expected["regions"][region]["hd95_mm"])
    row = [widget.table.verticalHeaderItem(i).text() for i in range(widget.table.rowCount())].index("WT")
    assert widget.table.item(row, 0).text() == f"{expected['regions']['WT']['dice']:.3f}"
    # TC and ET are untouched by the edits: perfect agreement
    assert widget.result.regions["ET"]["dice"] == 1.0
    assert widget.result.regions["WT"]["dice"] < 1.0


def test_painting_updates_the_table_live(panel, qtbot):
    viewer, widget = panel
    before = widget.result.regions["WT"]["dice"]
    n = widget.n_updates
    pred = viewer.layers["pred"]
    # the real layer API a brush stroke goes through
    coords = np.array([[5, z, x] for z in range(10, 30) for x in range(10, 13)])
    pred.data_setitem(tuple(coords.T), 2)
    qtbot.waitUntil(lambda: widget.n_updates > n and not widget.busy, timeout=20000)
    after = widget.result.regions["WT"]["dice"]
    assert after > before


def test_error_map_counts(panel):
    viewer, widget = panel
    assert widget.add_error_map("WT")
    assert widget.wait_idle(30)
    layer = viewer.layers["error map WT"]
    pred = np.isin(viewer.layers["pred"].data, (1, 2, 4))
    gt = np.isin(viewer.layers["gt"].data, (1, 2, 4))
    data = np.asarray(layer.data)
    assert (data == 1).sum() == (pred & gt).sum()
    assert (data == 2).sum() == (pred & ~gt).sum() == 32
    assert (data == 3).sum() == (~pred & gt).sum() > 0
    np.testing.assert_allclose(layer.scale, viewer.layers["gt"].scale)


def test_lesion_rows_and_click_centres_viewer(panel):
    viewer, widget = panel
    statuses = sorted(les["status"] for les in widget.lesions)
    assert statuses == ["FP", "TP"]
    fp_row = [les["status"] for les in widget.lesions].index("FP")
    widget.lesion_table.cellClicked.emit(fp_row, 0)
    # the FP blob is at slices 1-2 (centroid 1.5) -> world z = 1.5 * 2 mm
    assert viewer.dims.point[0] == pytest.approx(3.0, abs=2.0)
    centre = np.asarray(viewer.scene.camera.center)[-2:]
    np.testing.assert_allclose(centre, [3.5 * 0.8, 3.5 * 0.8], atol=0.5)


def test_geometry_guard_and_resample(make_napari_viewer):
    viewer = make_napari_viewer()
    pred, gt = _pair()
    viewer.add_labels(gt, name="gt", scale=(2.0, 0.8, 0.8))
    viewer.add_labels(pred[:, ::2, ::2].copy(), name="coarse", scale=(2.0, 1.6, 1.6))
    widget = AgreementWidget(viewer)
    widget.set_pair(pred="coarse", gt="gt", convention="brats2021")
    assert widget.wait_idle(30)
    assert widget.result is None
    assert "different voxel grids" in widget.status.text()
    assert widget.resample_button.isVisibleTo(widget)
    new = widget.resample_prediction()
    assert widget.wait_idle(30)
    assert new in viewer.layers and viewer.layers[new].data.shape == gt.shape
    assert widget.result is not None
    assert "Resampled 'coarse'" in widget.status.text()


def test_exports(panel, tmp_path):
    _, widget = panel
    j = widget.export_json(str(tmp_path / "a.json"))
    c = widget.export_csv(str(tmp_path / "a.csv"))
    doc = json.loads(Path(j).read_text())
    assert doc["convention"] == "brats2021"
    assert set(doc["cases"][0]["regions"]) == {"WT", "TC", "ET"}
    assert Path(c).read_text().count("\n") >= 3


def test_bad_convention_is_reported_not_raised(panel):
    viewer, widget = panel
    widget.set_pair(pred="pred", gt="gt", convention="brats2023")  # label 4 is not in BraTS 2023
    assert widget.wait_idle(30)
    assert widget.result is None
    assert "4" in widget.status.text()


def _same(a, b):
    """Exact equality of nested rows (NaN equals NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return a == b


@pytest.mark.parametrize("lesion_style", ["isles", "brats2023"])
def test_live_updates_equal_a_fresh_computation(panel, qtbot, lesion_style):
    """Strokes, an erase, an undo and a reference edit: after each, the live table and lesion
    list equal a computation from scratch exactly."""
    from napari_medai.core.error_map import lesion_list
    from napari_medai.core.metrics import compute_table

    viewer, widget = panel
    widget.lesion_combo.setCurrentText(lesion_style)
    qtbot.waitUntil(lambda: not widget.busy, timeout=20000)
    pred, gt = viewer.layers["pred"], viewer.layers["gt"]
    rng = np.random.default_rng(3)
    edits = []
    for k in range(6):
        z, y, x = int(rng.integers(2, 10)), int(rng.integers(5, 32)), int(rng.integers(5, 32))
        coords = np.array([[z, y + i, x + j] for i in range(4) for j in range(3)])
        edits.append((pred, coords, [0, 1, 2, 4][k % 4]))
    edits.append((None, None, None))  # undo the last stroke
    edits.append((gt, np.array([[6, 30 + i, 30] for i in range(3)]), 2))
    done = 0
    for layer, coords, value in edits:
        n = widget.n_updates
        if layer is None:
            pred.undo()
        else:
            if not (layer.data[tuple(coords.T)] != value).any():
                continue  # napari sends no event when nothing changes
            layer.data_setitem(tuple(coords.T), value)
        done += 1
        qtbot.waitUntil(lambda n=n: widget.n_updates > n and not widget.busy, timeout=20000)
        expected = compute_table(pred.data, gt.data, spacing=(2.0, 0.8, 0.8), convention="brats2021",
                                 lesion_style=lesion_style)
        assert _same(widget.result.regions, expected["regions"])
        assert _same(widget.result.labels, expected["labels"])
        assert widget.lesions == lesion_list(pred.data, gt.data, spacing=(2.0, 0.8, 0.8), labels=(1, 2, 4))
    assert done >= 6
    assert widget.session.cache.hits > 0  # rows the edits did not touch were reused
    # the table widget shows the same numbers
    row = [widget.table.verticalHeaderItem(i).text() for i in range(widget.table.rowCount())].index("WT")
    assert widget.table.item(row, 0).text() == f"{widget.result.regions['WT']['dice']:.3f}"


def test_slice_change_does_not_recompute(panel, qtbot):
    viewer, widget = panel
    n = widget.n_updates
    viewer.dims.set_point(0, 4.0)  # napari emits set_data on the layers; nothing changed
    qtbot.wait(300)
    assert not widget.busy
    assert widget.n_updates == n
