"""The calcium-scoring dock widget on the cardiac CT phantom: candidates, auto-assign, a reader's
click and brush corrections, refusals, exports, and the cohort agreement dock."""

from __future__ import annotations

import functools
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from napari_medai._napari.cac import (
    ASSIGNMENT_LAYER,
    CANDIDATES_LAYER,
    CACAgreementWidget,
    CACWidget,
)
from napari_medai._napari.layers import layer_to_volume
from napari_medai.core.errors import MedaiError
from napari_medai.core.tasks import cac


@functools.lru_cache(maxsize=1)
def _phantom():
    from napari_medai.core.phantoms import make_phantom

    return make_phantom("cardiac_ct")


@pytest.fixture
def ct_path(tmp_path):
    from napari_medai.core.io import write_volume

    return str(write_volume(_phantom()["ct"].with_data(_phantom()["ct"].data, name="heart_ct"),
                            tmp_path / "heart_ct.nii.gz"))


@pytest.fixture
def panel(make_napari_viewer, ct_path):
    viewer = make_napari_viewer()
    viewer.open(ct_path, plugin="napari-medai")
    widget = CACWidget(viewer)
    viewer.window.add_dock_widget(widget)
    assert widget.ct_combo.currentText() == "heart_ct"
    return viewer, widget


@pytest.fixture
def assigned(panel):
    viewer, widget = panel
    assert widget.auto_assign()
    assert widget.wait_idle(60)
    assert widget.result is not None, widget.jobs.status.text()
    return viewer, widget


def _table(widget, row_name):
    return widget.score_table.value(row_name)


def test_candidates_layer_by_group(panel):
    viewer, widget = panel
    assert widget.find_candidates()
    assert widget.wait_idle(30)
    layer = viewer.layers[CANDIDATES_LAYER]
    cand, lesions = cac.find_candidates(layer_to_volume(viewer.layers["heart_ct"]))
    assert int(np.asarray(layer.data).max()) == cand.meta["n_groups"]
    assert widget.candidates is not None and len(widget.candidate_lesions) == len(lesions)
    np.testing.assert_array_equal(np.asarray(layer.data) > 0, np.asarray(cand.data) > 0)
    np.testing.assert_allclose(layer.scale, viewer.layers["heart_ct"].scale)
    assert f"{len(lesions)} candidate lesion(s)" in widget.jobs.status.text()


def test_auto_assign_scores_equal_phantom(assigned):
    viewer, widget = assigned
    expected = _phantom()["assignment"].meta["expected"]
    for key in ("LM", "LAD", "LCX", "RCA", "total"):
        assert widget.result.agatston[key] == pytest.approx(expected["agatston"][key])
        assert _table(widget, key) == f"{expected['agatston'][key]:.1f}"
    assert widget.result.category == expected["risk_category"]
    assert expected["risk_category"] in widget.category_label.text()
    ct, layer = viewer.layers["heart_ct"], viewer.layers[ASSIGNMENT_LAYER]
    np.testing.assert_allclose(layer.scale, ct.scale)
    np.testing.assert_allclose(layer.translate, ct.translate)
    np.testing.assert_allclose(layer.affine.affine_matrix, ct.affine.affine_matrix)
    assert set(np.unique(layer.data)) <= {0, 1, 2, 3, 4, 5}
    # fixed artery colours (LAD blue, RCA yellow)
    np.testing.assert_allclose(layer.colormap.map(2)[:3], (0.3, 0.6, 1.0), atol=0.01)
    np.testing.assert_allclose(layer.colormap.map(4)[:3], (1.0, 0.8, 0.2), atol=0.01)
    assert "heuristic (no model)" in widget.method_label.text()
    assert widget.lesion_table.model.rowCount() == len(widget.result.lesions)


def test_click_moves_candidate_to_rca(assigned, qtbot):
    viewer, widget = assigned
    before = dict(widget.result.agatston)
    lad = next(les for les in widget.result.lesions if les.artery == "LAD")
    ct_layer, layer = viewer.layers["heart_ct"], viewer.layers[ASSIGNMENT_LAYER]
    expected = cac.score(layer_to_volume(ct_layer),
                         cac.reassign(layer_to_volume(layer), widget.candidates, lad.centroid, "RCA"), warn=False)
    widget.set_artery("RCA")
    assert layer.selected_label == 4  # the brush follows the chooser
    widget.click_check.setChecked(True)
    n = widget.n_updates
    # a left click (press, release without moving) at the lesion, through the viewer's drag callback
    event = SimpleNamespace(type="mouse_press", button=1, pos=(200.0, 150.0),
                            position=tuple(ct_layer.data_to_world(lad.centroid)))
    gen = widget.clicks.on_mouse_drag(viewer, event)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    qtbot.waitUntil(lambda: widget.n_updates > n and not widget.busy, timeout=20000)
    after = widget.result.agatston
    assert after["RCA"] == pytest.approx(expected.agatston["RCA"])
    assert after["LAD"] == pytest.approx(expected.agatston["LAD"])
    assert after["RCA"] > before["RCA"] and after["LAD"] < before["LAD"]
    assert after["total"] == pytest.approx(before["total"])
    assert _table(widget, "RCA") == f"{expected.agatston['RCA']:.1f}"
    # a drag (pan) assigns nothing
    data_before = np.array(layer.data, copy=True)
    event = SimpleNamespace(type="mouse_press", button=1, pos=(200.0, 150.0),
                            position=tuple(ct_layer.data_to_world(lad.centroid)))
    gen = widget.clicks.on_mouse_drag(viewer, event)
    next(gen)
    event.type, event.pos = "mouse_move", (260.0, 190.0)
    next(gen)
    event.type = "mouse_release"
    with pytest.raises(StopIteration):
        next(gen)
    np.testing.assert_array_equal(np.asarray(layer.data), data_before)
    # napari's undo reverts the click, and the scores follow
    layer.undo()
    qtbot.waitUntil(lambda: widget.result.agatston["RCA"] == pytest.approx(before["RCA"]) and not widget.busy,
                    timeout=20000)


def test_painting_updates_table(assigned, qtbot):
    viewer, widget = assigned
    layer = viewer.layers[ASSIGNMENT_LAYER]
    ct_layer = viewer.layers["heart_ct"]
    lad = next(les for les in widget.result.lesions if les.artery == "LAD")
    k, r, c = (int(round(v)) for v in lad.centroid)
    data = np.asarray(layer.data)
    box = np.zeros(data.shape, bool)
    box[k, r - 6:r + 7, c - 6:c + 7] = True
    idx = np.nonzero(box & (data == 2))
    assert idx[0].size > 0
    modified = data.copy()
    modified[idx] = 0
    expected = cac.score(layer_to_volume(ct_layer), layer_to_volume(layer).with_data(modified), warn=False)
    n = widget.n_updates
    layer.data_setitem(idx, 0)  # the layer API the eraser goes through
    qtbot.waitUntil(lambda: widget.n_updates > n and not widget.busy, timeout=20000)
    assert widget.result.agatston["LAD"] == pytest.approx(expected.agatston["LAD"])
    assert widget.result.agatston["LAD"] < _phantom()["assignment"].meta["expected"]["agatston"]["LAD"]
    assert _table(widget, "LAD") == f"{expected.agatston['LAD']:.1f}"
    assert widget.lesion_table.model.rowCount() == len(expected.lesions)


def test_lesion_row_jumps_viewer(assigned):
    viewer, widget = assigned
    les = next(les for les in widget.result.lesions if les.artery == "LCX")
    widget.lesion_table.chosen.emit(les)
    world = viewer.layers["heart_ct"].data_to_world(les.centroid)
    assert viewer.dims.point[0] == pytest.approx(world[0], abs=1e-6)
    np.testing.assert_allclose(viewer.scene.camera.center[-2:], world[1:], atol=1e-6)


@pytest.mark.filterwarnings("ignore:Non-orthogonal slicing")
def test_refuses_non_hu_and_non_axial_images(make_napari_viewer):
    viewer = make_napari_viewer()
    rng = np.random.default_rng(0)
    viewer.add_image(rng.uniform(0, 1000, (6, 24, 24)).astype(np.float32), name="t1 mri")
    widget = CACWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_ct("t1 mri")
    assert "does not look like HU" in widget.jobs.status.text()
    assert not widget.find_candidates()
    assert not widget.auto_assign()
    assert CANDIDATES_LAYER not in viewer.layers
    hu = np.full((6, 24, 24), -1000, np.int16)
    hu[2:4, 8:16, 8:16] = 300
    tilt = np.eye(4)
    c, s = np.cos(np.deg2rad(40)), np.sin(np.deg2rad(40))
    tilt[:2, :2] = [[c, -s], [s, c]]  # array axis 0 tilted 40 degrees towards anterior-posterior
    viewer.add_image(hu, name="oblique ct", affine=tilt)
    widget.set_ct("oblique ct")
    assert "not axial" in widget.jobs.status.text()
    assert not widget.find_candidates()


def test_slice_spacing_warning_shown(make_napari_viewer):
    viewer = make_napari_viewer()
    ct = _phantom()["ct"]
    viewer.add_image(ct.data, name="ct 5mm", scale=(5.0, *ct.spacing[1:]))
    widget = CACWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.set_ct("ct 5mm")
    text = widget.ct_info.text()
    assert "5 mm" in text and "slice_correction='scale'" in text and "5/3" in text
    widget.correction_combo.setCurrentText("none")
    assert "slice_correction='none'" in widget.ct_info.text()


def test_exports_and_assignment_round_trip(assigned, ct_path, tmp_path):
    from napari_medai.core.io import read_volume

    viewer, widget = assigned
    doc = json.loads(Path(widget.export_json(str(tmp_path / "report.json"))).read_text())
    assert doc["agatston"]["total"] == pytest.approx(widget.result.total)
    assert len(doc["lesions"]) == len(widget.result.lesions)
    csv_text = Path(widget.export_csv(str(tmp_path / "report.csv"))).read_text()
    assert csv_text.startswith("kind,artery,") and "\nlesion,LAD," in csv_text
    with pytest.raises(MedaiError):
        widget.export_json(ct_path)  # never over the CT
    with pytest.raises(MedaiError):
        widget.save_assignment(ct_path, overwrite=True)
    saved = widget.save_assignment()
    assert saved == str(tmp_path / "heart_ct_cac_assignment.nii.gz")
    vol = read_volume(saved, as_label=True)
    layer = viewer.layers[ASSIGNMENT_LAYER]
    np.testing.assert_array_equal(np.asarray(vol.data), np.asarray(layer.data))
    assert set(np.unique(vol.data)) == {0, 1, 2, 3, 4, 5}
    np.testing.assert_allclose(vol.spacing, layer_to_volume(viewer.layers["heart_ct"]).spacing)
    with pytest.raises(MedaiError):
        widget.save_assignment()  # exists: only the dialog (which asks) overwrites
    # reload after an edit: the saved codes come back and the scores with them
    total = widget.result.total
    layer.data = np.zeros_like(np.asarray(layer.data))
    assert widget.wait_idle(30) and widget.result.total == 0
    widget.load_assignment(saved)
    assert widget.wait_idle(30)
    assert widget.result.total == pytest.approx(total)


def _write_scores(path, rows):
    lines = ["case,total,LM,LAD,LCX,RCA"] + [",".join([c, *(f"{v:g}" for v in vals)]) for c, vals in rows]
    path.write_text("\n".join(lines) + "\n")
    return str(path)


def test_agreement_dock_cohort(assigned, tmp_path):
    from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

    from napari_medai.core.metrics.agreement_stats import agreement_summary, icc_2_1, pearson_r

    viewer, widget = assigned
    ref_rows = [("c1", (0, 0, 0, 0, 0)), ("c2", (8, 0, 8, 0, 0)), ("c3", (55, 5, 30, 10, 10)),
                ("c4", (150, 0, 90, 20, 40)), ("c5", (420, 30, 200, 90, 100)), ("heart_ct", (270, 30, 110, 40, 90))]
    auto_rows = [("c1", (0, 0, 0, 0, 0)), ("c2", (12, 0, 12, 0, 0)), ("c3", (48, 5, 25, 8, 10)),
                 ("c4", (160, 0, 95, 25, 40)), ("c5", (380, 20, 190, 80, 90)), ("c9", (5, 5, 0, 0, 0))]
    ref = _write_scores(tmp_path / "ref.csv", ref_rows)
    auto = _write_scores(tmp_path / "auto.csv", auto_rows)
    dock = widget.open_agreement()
    assert dock.case_edit.text() == "heart_ct"
    assert dock.load_reference(ref)
    assert dock.load_auto(auto)
    assert dock.agreement.cases == ["c1", "c2", "c3", "c4", "c5", "heart_ct"]
    a = [r[1][0] for r in auto_rows[:5]] + [widget.result.total]
    r = [row[1][0] for row in ref_rows]
    want = agreement_summary(a, r)
    assert dock.agreement.summary["pearson_r"] == pytest.approx(want["pearson_r"])
    assert dock.agreement.summary["icc_2_1"] == pytest.approx(want["icc_2_1"])
    assert dock.agreement.summary["weighted_kappa_linear"] == pytest.approx(want["weighted_kappa_linear"])
    assert dock.agreement.summary["confusion_matrix"] == want["confusion_matrix"]
    lad_a = [row[1][2] for row in auto_rows[:5]] + [widget.result.agatston["LAD"]]
    lad_r = [row[1][2] for row in ref_rows]
    assert dock.agreement.per_measure["LAD"]["pearson_r"] == pytest.approx(pearson_r(lad_a, lad_r))
    assert dock.agreement.per_measure["LAD"]["icc_2_1"] == pytest.approx(icc_2_1(lad_a, lad_r))
    assert dock.stats_table.item(0, 1).text() == f"{want['pearson_r']:.3f}"
    assert dock.wait_idle(60)  # the plot is made off the GUI thread
    assert isinstance(dock.canvas, FigureCanvasQTAgg)
    assert "c9" in dock.jobs.status.text()  # unmatched automatic case named
    cm = [[int(dock.confusion_table.item(i, j).text()) for j in range(5)] for i in range(5)]
    assert cm == want["confusion_matrix"]
    # without the current case: the cohort alone
    dock.current_check.setChecked(False)
    assert dock.agreement.cases == ["c1", "c2", "c3", "c4", "c5"]
    dock.measure_combo.setCurrentText("RCA")
    assert dock.wait_idle(60)
    assert dock.canvas.figure.axes[0].get_title().startswith("Agatston RCA")


def test_agreement_dock_refuses_bad_csv(tmp_path, qtbot):
    dock = CACAgreementWidget()
    qtbot.addWidget(dock)
    bad = tmp_path / "bad.csv"
    bad.write_text("patient,score\na,1\n")
    assert not dock.load_reference(str(bad))
    assert "needs columns 'case' and 'total'" in dock.jobs.status.text()
    ref = _write_scores(tmp_path / "ref.csv", [("a", (1, 0, 1, 0, 0)), ("b", (20, 0, 10, 10, 0))])
    assert dock.load_reference(ref)
    assert dock.agreement is None and dock.jobs.status.text().startswith("Reference loaded: now load the automatic")
    assert dock.jobs.last_error == ""  # the usual first step is no error
    auto = _write_scores(tmp_path / "auto.csv", [("x", (1, 0, 1, 0, 0))])
    assert dock.load_auto(auto)
    assert dock.agreement is None and "no case matches" in dock.jobs.status.text()
