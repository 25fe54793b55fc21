"""Journeys through the calcium widgets the way a user takes them: Plugins menu, File > Open Sample / Open,
buttons found by their text and clicked, the numbers read from the tables and labels."""

from __future__ import annotations

import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFileDialog

from napari_medai.core.phantoms import make_phantom
from napari_medai.core.tasks import cac

from .journey import (
    button,
    check,
    click,
    field,
    layer_names,
    open_path,
    open_sample,
    open_widget,
    show_tab,
    step,
    table_texts,
    wait_until,
)

SCORING = "Coronary calcium scoring (CT)"
AGREEMENT = "Calcium score agreement (cohort CSVs)"
DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ct_chest_noncontrast"


@pytest.fixture(scope="module")
def expected():
    """The phantom's designed scores (``cardiac_ct`` seed 0, the sample's): total 281.3, category 101-400."""
    return make_phantom("cardiac_ct", seed=0)["assignment"].meta["expected"]


def _idle(widget, timeout=120):
    assert widget.wait_idle(timeout), widget.jobs.status.text()


def _assign(qtbot, widget):
    click(qtbot, button(widget, "Auto-assign"))
    _idle(widget)
    check()
    assert widget.result is not None, widget.jobs.status.text()


def _shown_scores(widget):
    return {row: float(widget.score_table.value(row)) for row in (*cac.ARTERIES, "total")}


def test_sample_then_widget_auto_assign_shows_the_designed_scores(make_napari_viewer, qtbot, expected):
    viewer = make_napari_viewer()
    open_sample(viewer, "cardiac_ct")
    w = open_widget(viewer, SCORING)
    assert field(w, "CT (HU)").currentText() == "ct"
    _assign(qtbot, w)
    assert "artery assignment" in layer_names(viewer) and "CAC candidates" in layer_names(viewer)
    for key in (*cac.ARTERIES, "total"):  # the layer's spacing comes back as 0.7000000000000028 mm: 1e-12 off
        assert float(w.score_table.value(key)) == pytest.approx(expected["agatston"][key], abs=0.051)
    assert w.score_table.value("total") == "281.3"
    assert f"risk category {expected['risk_category']}" in w.category_label.text().replace("<b>", "").replace(
        "</b>", "")
    # mass is labelled as what it is
    mass_header = w.score_table.horizontalHeaderItem(2).text()
    assert mass_header.startswith("mass score") and "HU·mm³" in mass_header and "uncalibrated" in mass_header
    assert np.allclose(viewer.layers["artery assignment"].colormap.map(0)[3], 0)  # unassigned stays see-through
    # legend and hover name the arteries
    assert [name for _, name, _ in w.legend.entries] == ["LM", "LAD", "LCX", "RCA", "non-coronary"]
    layer = viewer.layers["artery assignment"]
    voxel = np.argwhere(np.asarray(layer.data) == 2)[0]  # a LAD voxel: go to its slice, hover over it
    pos = layer.data_to_world(voxel)
    viewer.dims.set_point(0, pos[0])
    assert "artery: LAD" in layer.get_status(pos, world=True)["value"]
    # the lesion list: coronary only by default, every lesion with "all", sortable by Agatston
    table = w.lesion_table
    coronary = [les for les in w.result.lesions if les.artery in cac.ARTERIES]
    assert table.proxy.rowCount() == len(coronary)
    step("lesion filter: all")
    table.filter_combo.setCurrentText("all")
    check()
    assert table.proxy.rowCount() == len(w.result.lesions)
    step("lesion filter: LAD")
    table.filter_combo.setCurrentText("LAD")
    check()
    assert {les.artery for les in table.visible_lesions()} == {"LAD"}
    step("lesion filter: coronary only, sort by Agatston")
    table.filter_combo.setCurrentText("coronary only")
    qtbot.mouseClick(table.view.horizontalHeader().viewport(), Qt.LeftButton, pos=_header_point(table.view, 6))
    check()
    scores = [les.agatston for les in table.visible_lesions()]
    assert scores == sorted(scores) or scores == sorted(scores, reverse=True)
    # next lesion moves the viewer to it; so does its key in the viewer
    click(qtbot, button(w, "Next lesion"))
    check()
    first = table.selected()
    assert first is not None
    assert viewer.dims.point[0] == pytest.approx(layer.data_to_world(first.centroid)[0])
    keys = {str(k): f for k, f in viewer.keymap.items()}
    step("key Shift-N")
    keys["Shift+N"](viewer)
    check()
    second = table.selected()
    assert second is not None and second != first
    assert viewer.dims.point[0] == pytest.approx(layer.data_to_world(second.centroid)[0])
    # the dock scrolls rather than growing past a 1000-pixel screen
    assert w.minimumSizeHint().height() < 600


def _canvas_click(viewer, world):
    """A left click (press and release, no move) at ``world`` through napari's own mouse-callback dispatch."""
    from napari.utils.interactions import mouse_press_callbacks, mouse_release_callbacks

    viewer.dims.set_point(0, world[0])
    event = SimpleNamespace(type="mouse_press", button=1, pos=np.array([200.0, 150.0]), position=tuple(world),
                            modifiers=[], is_dragging=False, handled=False, view_direction=None,
                            dims_displayed=list(viewer.dims.displayed), delta=np.zeros(2))
    mouse_press_callbacks(viewer, event)
    event.type = "mouse_release"
    mouse_release_callbacks(viewer, event)


def _header_point(view, column):
    from qtpy.QtCore import QPoint

    header = view.horizontalHeader()
    return QPoint(header.sectionViewportPosition(column) + header.sectionSize(column) // 2, header.height() // 2)


def test_reassign_from_the_list_and_by_a_canvas_click_updates_the_scores(make_napari_viewer, qtbot, expected):
    viewer = make_napari_viewer()
    open_sample(viewer, "cardiac_ct")
    w = open_widget(viewer, SCORING)
    _assign(qtbot, w)
    before = _shown_scores(w)
    ct_layer, layer = viewer.layers["ct"], viewer.layers["artery assignment"]
    # 1) select a LAD lesion in the list, choose RCA, press "Assign selected lesion"
    step("lesion filter: LAD, click the first lesion")
    w.lesion_table.filter_combo.setCurrentText("LAD")
    qtbot.mouseClick(w.lesion_table.view.viewport(), Qt.LeftButton,
                     pos=w.lesion_table.view.visualRect(w.lesion_table.proxy.index(0, 0)).center())
    check()
    lad = w.lesion_table.selected()
    assert lad is not None and lad.artery == "LAD"
    click(qtbot, button(w, "RCA", exact=True))
    assert layer.selected_label == 4  # the brush follows the chooser
    n = w.n_updates
    click(qtbot, button(w, "Assign selected lesion"))
    wait_until(lambda: w.n_updates > n and not w.busy, 120)
    check()
    after = _shown_scores(w)
    assert after["RCA"] > before["RCA"] and after["LAD"] < before["LAD"]
    assert after["total"] == pytest.approx(before["total"], abs=0.05)  # calcium moved, not lost
    # the same numbers as the core scoring the layer from scratch
    full = cac.score(w.ct_volume(), w.ct_volume().with_data(np.asarray(layer.data), is_label=True), warn=False)
    assert after["RCA"] == float(f"{full.agatston['RCA']:.1f}")
    # 2) tick "click to assign", choose LAD and click that lesion on the canvas (the viewer's mouse callback)
    click(qtbot, button(w, "click to assign"))
    click(qtbot, button(w, "LAD", exact=True))
    n = w.n_updates
    step("click the lesion on the canvas")
    _canvas_click(viewer, ct_layer.data_to_world(lad.centroid))
    wait_until(lambda: w.n_updates > n and not w.busy, 120)
    check()
    assert _shown_scores(w) == before  # back to the automatic assignment
    # 3) napari's undo reverts the click, and the scores follow
    n = w.n_updates
    step("undo")
    layer.undo()
    wait_until(lambda: w.n_updates > n and not w.busy, 120)
    check()
    assert _shown_scores(w) == after
    # 4) a stroke of napari's brush (label 0: erasing) over that lesion re-scores its slice
    layer.brush_size = 15
    layer.selected_label = 0
    n = w.n_updates
    step("brush stroke (erase)")
    layer.paint(lad.centroid, 0)
    wait_until(lambda: w.n_updates > n and not w.busy, 120)
    check()
    full = cac.score(w.ct_volume(), w.ct_volume().with_data(np.asarray(layer.data), is_label=True), warn=False)
    assert full == w.result and _shown_scores(w)["RCA"] < after["RCA"]


def test_widget_before_the_data_then_candidates_then_assign(make_napari_viewer, qtbot, expected, tmp_path,
                                                            monkeypatch):
    viewer = make_napari_viewer()
    w = open_widget(viewer, SCORING)
    assert field(w, "CT (HU)").count() == 0
    open_sample(viewer, "cardiac_ct")
    assert field(w, "CT (HU)").currentText() == "ct"
    click(qtbot, button(w, "Find candidates"))
    _idle(w)
    check()
    assert "CAC candidates" in layer_names(viewer) and "artery assignment" not in layer_names(viewer)
    assert "candidate lesion(s)" in w.jobs.status.text()
    _assign(qtbot, w)
    assert w.score_table.value("total") == f"{expected['agatston']['total']:.1f}" == "281.3"
    # a correction from the list: the first coronary lesion becomes non-coronary and leaves the total
    before = _shown_scores(w)
    view = w.lesion_table.view
    step("click the first lesion in the list")
    qtbot.mouseClick(view.viewport(), Qt.LeftButton, pos=view.visualRect(w.lesion_table.proxy.index(0, 0)).center())
    chosen = w.lesion_table.selected()
    click(qtbot, button(w, "non-coronary", exact=True))
    n = w.n_updates
    click(qtbot, button(w, "Assign selected lesion"))
    wait_until(lambda: w.n_updates > n and not w.busy, 120)
    check()
    assert _shown_scores(w)["total"] < before["total"]
    assert _shown_scores(w)[chosen.artery] < before[chosen.artery]
    # a phantom calibration turns the mass into mg
    step("mass calibration 0.75")
    field(w, "mass calibration").setValue(0.75)
    _idle(w)
    check()
    assert w.score_table.horizontalHeaderItem(2).text() == "mass\nmg"
    assert float(w.score_table.value("LM", "mass")) == pytest.approx(w.result.mass_mg["LM"], abs=0.05)
    # Save assignment… with the format chosen in the dialog
    out = tmp_path / "assignment.nrrd"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(out), "NRRD (*.nrrd)"))
    click(qtbot, button(w, "Save assignment"))
    check()
    assert out.is_file(), w.jobs.status.text()
    from napari_medai.core.io import read_volume

    saved = read_volume(out, as_label=True)
    np.testing.assert_array_equal(np.asarray(saved.data), np.asarray(viewer.layers["artery assignment"].data))


def test_an_mr_image_is_refused_in_one_line_and_nothing_is_added(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    open_sample(viewer, "brain_tumour")
    w = open_widget(viewer, SCORING)
    combo = field(w, "CT (HU)")
    step("choose the first image")
    combo.setCurrentText(combo.itemText(0))
    before = layer_names(viewer)
    click(qtbot, button(w, "Auto-assign"))
    _idle(w)
    check()
    text = w.jobs.status.text()
    assert "\n" not in text and ("not CT" in text or "does not look like HU" in text), text
    assert "ff7070" in w.jobs.status.styleSheet()
    assert layer_names(viewer) == before and w.result is None


def test_cohort_agreement_from_two_csv_files(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    auto = tmp_path / "auto.csv"
    ref = tmp_path / "ref.csv"
    auto.write_text("case,total,LAD\na,0,0\nb,12,10\nc,150,100\nd,450,300\n")
    ref.write_text("case,total,LAD\na,0,0\nb,8,8\nc,160,90\nd,380,200\n")
    core = cac.cohort_agreement(cac.read_scores(auto, what="a"), cac.read_scores(ref, what="r"))
    viewer = make_napari_viewer()
    w = open_widget(viewer, AGREEMENT)
    for text, path in (("Reference scores CSV", ref), ("Automatic scores CSV", auto)):
        monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, _p=path, **k: (str(_p), "CSV (*.csv)"))
        click(qtbot, button(w, text))
    check()
    assert "4 case(s) matched" in w.jobs.status.text()
    rows = table_texts(w.stats_table)
    st = core.per_measure["total"]
    assert rows[0][:3] == ["4", f"{st['pearson_r']:.3f}", f"{st['icc_2_1']:.3f}"]
    assert rows[0][3] == f"{st['bland_altman']['bias']:.1f}"
    assert f"{core.summary['weighted_kappa_linear']:.3f}" in w.kappa_label.text()
    step("tab Bland-Altman")
    show_tab(w, "Bland-Altman")
    assert w.wait_idle(60)  # the figure is made off the GUI thread
    check()
    assert w.canvas is not None and w.plot_placeholder.isHidden()
    step("tab Cases")
    show_tab(w, "Cases")
    check()
    assert [r[2:] for r in table_texts(w.cases_table)] == [
        [a, r] for a, r in zip(core.summary["categories"]["auto"], core.summary["categories"]["ref"])]
    # a CSV without a total column is refused in one line and the statistics stay empty
    bad = tmp_path / "bad.csv"
    bad.write_text("case,score\na,1\n")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(bad), "CSV (*.csv)"))
    click(qtbot, button(w, "Reference scores CSV"))
    check()
    assert "'case' and 'total'" in w.jobs.status.text() and "\n" not in w.jobs.status.text()


@pytest.mark.realdata
def test_real_ct_lung2_correction_is_fast(make_napari_viewer, qtbot):
    path = DATA / "lung2_image.nrrd"
    if not path.is_file():
        pytest.skip(f"real CT not present ({path}); it lives in ../shared/data")
    viewer = make_napari_viewer()
    open_path(viewer, path)
    w = open_widget(viewer, SCORING)
    _assign(qtbot, w)
    layer = viewer.layers["artery assignment"]
    full = cac.score(w.ct_volume(), w.ct_volume().with_data(np.asarray(layer.data), is_label=True), warn=False)
    assert w.score_table.value("total") == f"{full.total:.1f}"
    step("lesion filter: all")
    w.lesion_table.filter_combo.setCurrentText("all")
    check()
    assert w.lesion_table.proxy.rowCount() == len(full.lesions)
    rca = next(les for les in w.result.lesions if les.artery == "RCA")
    n = w.n_updates
    step("click an RCA lesion to assign it to LAD")
    t0 = time.perf_counter()
    assert w.assign_at_index(rca.centroid, "LAD")
    wait_until(lambda: w.n_updates > n, 60)
    elapsed = time.perf_counter() - t0
    check()
    assert float(w.score_table.value("LAD")) > 0
    assert elapsed < 2.0, f"click to scores took {elapsed:.2f} s"
