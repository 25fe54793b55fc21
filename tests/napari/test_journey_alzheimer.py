"""Journeys through Plugins > napari-medai > "Alzheimer's disease (T1 MRI)", as a user walks them.

Data come from File > Open (small NIfTI files written here: a synthetic 4 mm template and a skull-on head
seen through a known affine, the tests' own registration phantoms) or File > Open Sample (the T1 brain cohort);
controls are found by what they read (journey helpers), file pickers answer through a patched QFileDialog, and
the numbers shown are compared with the core's on the same data.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from qtpy.QtWidgets import QFileDialog, QLabel, QTableWidget

from napari_medai.core.io import write_volume
from napari_medai.core.volume import Volume

from ..core.test_alzheimer_registration import affine_lps, synthetic_subject, synthetic_template
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
)

WIDGET = "Alzheimer's disease (T1 MRI)"
TEMPLATE, OUTLINE, P_MAP, LANDMARKS = "MNI152 template", "MNI152 brain outline", "AD vs NC -log10 p", "landmarks"
CONTRIBUTIONS, SALIENCY = "landmark contributions", "AD saliency"


def _label_containing(root, text):
    hits = [lab for lab in root.findChildren(QLabel) if text in lab.text() and lab.isVisibleTo(root)]
    assert hits, f"no label with {text!r}: {[lab.text()[:50] for lab in root.findChildren(QLabel) if lab.text()]}"
    return hits[0]


def _wait(w):
    assert w.wait_idle(120), "the job did not finish"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The synthetic template (4 mm, brain only), a skull-on head through a known affine, and a T1 too small."""
    root = tmp_path_factory.mktemp("alz_files")
    tpl = synthetic_template()
    head = synthetic_subject(affine_lps())
    small = Volume(np.random.default_rng(0).random((10, 10, 10)).astype(np.float32) * 100, spacing=(3.0,) * 3,
                   name="small")
    return {"template": write_volume(tpl.image, root / "synthetic_template.nii.gz"),
            "head": write_volume(head, root / "head_t1.nii.gz"),
            "small": write_volume(small, root / "small_t1.nii.gz")}


@pytest.fixture
def notified(monkeypatch):
    """The napari notifications the widget shows (an error a user sees besides the red status line)."""
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", lambda text: shown.append(str(text)))
    return shown


def _pick_file(monkeypatch, path):
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))


def _pick_folder(monkeypatch, path):
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(path)))


# ------------------------------------------------------------------ Align
def test_widget_first_then_t1_aligns_and_overlays_the_template(make_napari_viewer, qtbot, monkeypatch, files):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    assert "not a diagnosis" in _label_containing(w, "not a diagnosis").text()  # always in view
    assert field(w, "T1").currentText() == ""  # nothing open: nothing chosen
    open_path(viewer, files["head"])
    assert field(w, "T1").currentText() == "head_t1"
    _pick_file(monkeypatch, files["template"])
    click(qtbot, button(w, "Template"))
    assert field(w, "template").text() == str(files["template"])
    show_tab(w, "Align")
    field(w, "grid").setCurrentIndex(1)  # the template's own grid (4 mm here)
    click(qtbot, button(w, "Align to MNI152"))
    _wait(w)
    assert not w.jobs.last_error, w.jobs.last_error
    assert layer_names(viewer) == [TEMPLATE, "head_t1", OUTLINE, "head_t1 (MNI152)"]
    aligned, tpl = viewer.layers["head_t1 (MNI152)"], viewer.layers[TEMPLATE]
    check("the overlay and the core's figures")
    assert aligned.data.shape == tpl.data.shape and not viewer.layers["head_t1"].visible
    assert tpl.colormap.name == "magenta" and tpl.blending == "additive" and aligned.blending == "additive"
    assert viewer.layers[OUTLINE].contour == 1
    from napari_medai.core.tasks.alzheimer.registration import load_template, register_to_template

    core = register_to_template(files["head"], load_template(files["template"]))
    shown = w.registration.metrics  # the widget's run (its thread count may differ: figures agree to 0.01)
    assert core.metrics["correlation_after"] > 0.8 and shown["correlation_after"] >= shown["correlation_before"]
    assert shown["correlation_after"] == pytest.approx(core.metrics["correlation_after"], abs=0.01)
    said = _label_containing(w, "Correlation inside the template's brain").text()
    assert said.startswith(f"Correlation inside the template's brain: {shown['correlation_before']:.2f} after "
                           f"initialisation → {shown['correlation_after']:.2f} after the affine fit")
    assert said.endswith("accepted.")
    a, b = np.asarray(aligned.data).ravel(), np.asarray(core.aligned.data).ravel()
    assert np.corrcoef(a, b)[0, 1] > 0.999


def test_a_t1_too_small_is_refused_with_a_notification_and_adds_nothing(make_napari_viewer, qtbot, monkeypatch,
                                                                         files, notified):
    viewer = make_napari_viewer()
    open_path(viewer, files["small"])
    w = open_widget(viewer, WIDGET)
    _pick_file(monkeypatch, files["template"])
    click(qtbot, button(w, "Template"))
    before = layer_names(viewer)
    click(qtbot, button(w, "Align to MNI152"))
    _wait(w)
    assert layer_names(viewer) == before
    status = w.jobs.status
    assert "covers only 30 x 30 x 30 mm" in status.text() and "ff7070" in status.styleSheet()
    assert notified and "covers only" in notified[-1]


def test_no_t1_or_no_template_is_said_before_any_work(make_napari_viewer, qtbot, files):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    step("clear the template")
    w.template.edit.setText("")
    click(qtbot, button(w, "Align to MNI152"))
    assert "choose a T1 layer in 'T1'" in w.jobs.status.text()
    open_path(viewer, files["head"])
    click(qtbot, button(w, "Align to MNI152"))
    assert "choose the MNI152 template in 'template'" in w.jobs.status.text() and not w.busy


def test_a_refused_registration_shows_its_reason_and_correlation(make_napari_viewer, qtbot, monkeypatch, tmp_path,
                                                                  files, notified):
    # noise the size of a head: the fit runs and is clearly wrong
    noise = Volume(np.random.default_rng(3).random((40, 40, 40)).astype(np.float32) * 500, spacing=(4.0,) * 3,
                   name="noise")
    viewer = make_napari_viewer()
    open_path(viewer, write_volume(noise, tmp_path / "noise_t1.nii.gz"))
    w = open_widget(viewer, WIDGET)
    _pick_file(monkeypatch, files["template"])
    click(qtbot, button(w, "Template"))
    before = layer_names(viewer)
    click(qtbot, button(w, "Align to MNI152"))
    _wait(w)
    assert layer_names(viewer) == before
    assert "registration to MNI152 failed" in w.jobs.last_error and notified
    said = _label_containing(w, "REFUSED")
    assert "Correlation inside the template's brain" in said.text() and "ff7070" in said.styleSheet()


# ------------------------------------------------------------------ Landmarks
def _core_landmarks(cohort, labels, n, distance):
    from napari_medai.core.tasks.alzheimer.landmarks import discover_landmarks

    return discover_landmarks(cohort, labels, n=n, min_distance_mm=distance, align="skip")


def _find(qtbot, w, monkeypatch, folder, *, n=5, distance=10.0):
    show_tab(w, "Landmarks")
    _pick_folder(monkeypatch, folder)
    click(qtbot, button(w, "Write open cohort to a folder"))
    step("set L and the distance")
    field(w, "landmarks L").setValue(n)
    field(w, "min distance").setValue(distance)
    click(qtbot, button(w, "Find landmarks"))
    _wait(w)


def test_sample_cohort_then_widget_finds_the_cores_landmarks(make_napari_viewer, qtbot, monkeypatch, tmp_path):
    viewer = make_napari_viewer()
    open_sample(viewer, "alzheimer_cohort")
    w = open_widget(viewer, WIDGET)
    out = tmp_path / "cohort"
    _find(qtbot, w, monkeypatch, out)
    assert not w.jobs.last_error, w.jobs.last_error
    assert field(w, "cohort folder").text() == str(out) and field(w, "labels CSV").text() == str(out / "labels.csv")
    assert field(w, "alignment").currentText().startswith("already aligned")
    rows = list(csv.DictReader((out / "labels.csv").open()))
    assert len(rows) == 12 and sorted({r["diagnosis"] for r in rows}) == ["AD", "NC"]
    for r in rows:  # the diagnosis each layer carries
        assert viewer.layers[r["subject"]].metadata["napari_medai"]["header"]["diagnosis"] == r["diagnosis"]
    assert layer_names(viewer)[-2:] == [P_MAP, LANDMARKS]
    check("the core on the same cohort")
    core = _core_landmarks(out, out / "labels.csv", 5, 10.0)
    pmap, points = viewer.layers[P_MAP], viewer.layers[LANDMARKS]
    want_p = np.clip(core.p_map().data.astype(np.float64), 1e-300, 1)  # the float32 map the layer shows
    np.testing.assert_allclose(np.asarray(pmap.data), -np.log10(want_p), rtol=1e-5, atol=1e-6)
    assert list(points.features["rank"]) == [1, 2, 3, 4, 5]
    grid = core.cohort.grid
    want = grid.index_to_world(np.array([lm.index for lm in core.landmarks], float))
    np.testing.assert_allclose(np.asarray(points.data)[:, -3:], want, atol=1e-6)
    # the points sit on their voxels of the p map: the map's largest value is at rank 1
    top = np.unravel_index(int(np.argmax(np.asarray(pmap.data))), pmap.data.shape)
    assert tuple(int(v) for v in top) == core.landmarks[0].index
    table = next(t for t in w.findChildren(QTableWidget) if t.rowCount())
    assert table.rowCount() == 5 and table.item(0, 2).text() == f"{core.landmarks[0].p_value:.2g}"
    assert _label_containing(w, "5 landmarks from 6 AD and 6 NC subjects; smallest p")
    d = np.linalg.norm(want[:, None] - want[None], axis=-1) + np.eye(5) * 1e9
    assert d.min() >= 10.0


def test_widget_first_then_sample_then_wider_spacing_gives_fewer_closer_checks(make_napari_viewer, qtbot,
                                                                                monkeypatch, tmp_path):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    show_tab(w, "Landmarks")
    _pick_folder(monkeypatch, tmp_path / "empty")
    click(qtbot, button(w, "Write open cohort to a folder"))
    assert "no open layer carries a diagnosis" in w.jobs.status.text()
    open_sample(viewer, "alzheimer_cohort")
    _find(qtbot, w, monkeypatch, tmp_path / "cohort", n=3, distance=40.0)
    assert not w.jobs.last_error, w.jobs.last_error
    pts = np.asarray(viewer.layers[LANDMARKS].data)[:, -3:]
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(len(pts)) * 1e9
    assert len(pts) == 3 and d.min() >= 40.0


def test_a_missing_labels_csv_is_a_notification_not_a_crash(make_napari_viewer, qtbot, monkeypatch, tmp_path,
                                                             notified):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    show_tab(w, "Landmarks")
    (tmp_path / "cohort").mkdir()
    _pick_folder(monkeypatch, tmp_path / "cohort")
    click(qtbot, button(w, "Folder"))
    _pick_file(monkeypatch, tmp_path / "missing.csv")
    click(qtbot, button(w, "CSV"))
    click(qtbot, button(w, "Find landmarks"))
    _wait(w)
    assert layer_names(viewer) == []
    text = w.jobs.status.text()
    assert "missing.csv: no such file" in text and "'labels CSV'" in text and "--labels" not in text
    assert notified and "no such file" in notified[-1]
