"""The agreement panel's paint hook: the box napari's ``paint`` event wrote, handed to the session."""

from __future__ import annotations

import numpy as np
import pytest
from napari.layers import Labels

from napari_medai._napari.agreement.viewer_hooks import paint_box
from napari_medai._napari.agreement_widget import AgreementWidget
from napari_medai.core.error_map import lesion_list
from napari_medai.core.metrics import compute_table


def _events(layer):
    seen = []
    for name in ("paint", "data", "set_data"):
        getattr(layer.events, name).connect(seen.append)
    return seen


def test_paint_box_of_each_kind_of_edit():
    layer = Labels(np.zeros((6, 30, 30), np.int32))
    seen = _events(layer)
    yy, xx = np.mgrid[4:7, 10:15]
    layer.data_setitem((np.full(yy.size, 2), yy.ravel(), xx.ravel()), 3)  # the fancy-index atom
    assert [paint_box(e) for e in seen] == [((2, 3), (4, 7), (10, 15))]
    seen.clear()
    layer.brush_size = 3
    layer.paint((4, 20, 20), 2)  # the brush: a masked atom with its bounding box
    boxes = [paint_box(e) for e in seen if e.type == "paint"]
    assert len(boxes) == 1 and boxes[0][0] == (4, 5)
    (z0, z1), (y0, y1), (x0, x1) = boxes[0]
    changed = np.argwhere(layer.data == 2)
    assert (changed.min(0) >= (z0, y0, x0)).all() and (changed.max(0) < (z1, y1, x1)).all()
    seen.clear()
    layer.undo()  # undo says nothing of where: compare everything
    assert seen and all(paint_box(e) is None for e in seen)
    seen.clear()
    with layer.block_history():  # one history item of two strokes: the union of their boxes
        layer.data_setitem((np.array([0]), np.array([1]), np.array([2])), 5)
        layer.data_setitem((np.array([5]), np.array([28]), np.array([3])), 5)
    assert [paint_box(e) for e in seen if e.type == "paint"] == [((0, 6), (1, 29), (2, 4))]


def test_brush_strokes_reach_the_session_as_boxes_and_the_table_stays_exact(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    gt = np.zeros((10, 32, 32), np.int32)
    gt[2:8, 8:24, 8:24] = 2
    gt[3:7, 12:20, 12:20] = 1
    viewer.add_labels(gt, name="gt", scale=(2.0, 0.8, 0.8))
    pred = viewer.add_labels(gt.copy(), name="pred", scale=(2.0, 0.8, 0.8))
    widget = AgreementWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_pair(pred="pred", gt="gt", convention="brats2021")
    assert widget.wait_idle(30)
    noted = []
    note = widget.session.note_edit
    widget.session.note_edit = lambda which=None, box=None: (noted.append((which, box)), note(which, box))[1]
    pred.brush_size = 4

    def check(what):
        expected = compute_table(pred.data, gt, spacing=(2.0, 0.8, 0.8), convention="brats2021")
        for region in ("WT", "TC", "ET"):
            for metric in ("dice", "hd95_mm"):
                assert widget.result.regions[region][metric] == pytest.approx(
                    expected["regions"][region][metric], nan_ok=True), f"{what} {region} {metric}"
        assert widget.lesions == lesion_list(pred.data, gt, spacing=(2.0, 0.8, 0.8), labels=(1, 2, 4)), what

    def wait(n):
        qtbot.waitUntil(lambda: widget.n_updates > n and not widget.busy, timeout=20000)

    for k, (z, y, x, value) in enumerate([(5, 10, 10, 0), (5, 27, 27, 4), (1, 3, 28, 2)]):
        n = widget.n_updates
        noted.clear()
        pred.paint((z, y, x), value)
        wait(n)
        # the brush's paint event gives the box; napari's redraw after it is not taken for an edit
        assert noted and all(w == "pred" and b is not None for w, b in noted), f"stroke {k}: {noted}"
        check(f"stroke {k}")
    n = widget.n_updates
    noted.clear()
    pred.undo()  # undo sends set_data alone: the whole map is compared
    wait(n)
    assert ("pred", None) in noted
    check("undo")
    n = widget.n_updates
    noted.clear()
    with pred.block_history():  # a drag: writes redrawn one by one, the paint event at the end
        pred.paint((6, 20, 20), 4)
        pred.paint((6, 4, 4), 1)
    wait(n)
    assert ("pred", None) in noted and noted[-1][1] is not None
    check("drag")
