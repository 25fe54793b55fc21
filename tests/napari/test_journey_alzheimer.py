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
from qtpy.QtCore import Qt
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
    quick_training,
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
def _align_adds_nothing(qtbot, monkeypatch, viewer, template):
    """Open the widget on the T1 open in ``viewer``, choose ``template``, press Align: the run adds no layer."""
    w = open_widget(viewer, WIDGET)
    _pick_file(monkeypatch, template)
    click(qtbot, button(w, "Template"))
    before = layer_names(viewer)
    click(qtbot, button(w, "Align to MNI152"))
    _wait(w)
    assert layer_names(viewer) == before
    return w


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
    w = _align_adds_nothing(qtbot, monkeypatch, viewer, files["template"])
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
    w = _align_adds_nothing(qtbot, monkeypatch, viewer, files["template"])
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
    _wait(w)  # the files are written off the GUI thread
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
    assert viewer.dims.point[0] == pytest.approx(want[0][0], abs=1.0)  # the viewer shows rank 1's slice
    step("click the third landmark's row")
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=table.visualItemRect(table.item(2, 0)).center())
    assert viewer.dims.point[0] == pytest.approx(want[2][0], abs=1.0)
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
    np.testing.assert_allclose(camera.center[-2:], want[2][-2:], atol=1e-3)


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


# ------------------------------------------------------------------ Predict and Evaluate on a tiny trained model
def write_tiny_cohort(root, *, seed=1, n=8):
    """A tiny labelled cohort on one 2 mm grid (the sample's phantom, 24 x 28 x 24): t1/<subject>.nii.gz and
    labels.csv whose sources pair one AD with one NC subject."""
    from napari_medai.core.phantoms import alzheimer_cohort_phantom

    rows, k = [], {"AD": 0, "NC": 0}
    for name, vol in alzheimer_cohort_phantom(seed=seed, n_subjects=n, shape=(24, 28, 24)).items():
        write_volume(vol, root / "t1" / f"{name}.nii.gz")
        dx = vol.meta["diagnosis"]
        k[dx] += 1
        rows.append({"subject": name, "diagnosis": dx, "source": f"src{k[dx]}"})
    with open(root / "labels.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["subject", "diagnosis", "source"])
        w.writeheader()
        w.writerows(rows)
    return root


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny cohort, a landmark model trained on it for one epoch of two steps, and an untrained twin."""
    pytest.importorskip("torch")
    import torch

    from napari_medai.core.models.loading import LoadedModel
    from napari_medai.core.models.persistence import save_model_folder
    from napari_medai.core.tasks.alzheimer.model import landmark_contract
    from napari_medai.core.tasks.alzheimer.train import train_alzheimer

    root = tmp_path_factory.mktemp("alz_tiny")
    cohort = write_tiny_cohort(root / "cohort")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_alzheimer(cohort, cohort / "labels.csv", root / "model", n_landmarks=3, min_distance_mm=8.0, patch=8,
                        align="skip", max_epochs=1, device="cpu", batch_size=4, steps_per_epoch=2,
                        network={"features": [4, 8], "fc": [8], "patch_fc": 8})
    finally:
        torch.set_num_threads(threads)
    contract = landmark_contract([(0.0, 0.0, 0.0), (8.0, 4.0, -6.0)], patch=8, features=(4, 8), fc=(8,), patch_fc=8)
    rnd = LoadedModel.random(contract)
    untrained = save_model_folder(root / "untrained", rnd.network, rnd.contract)
    return {"cohort": cohort, "model": root / "model", "untrained": untrained}


def test_model_first_then_t1_predicts_the_cores_probability_and_contributions(make_napari_viewer, qtbot,
                                                                              monkeypatch, tiny):
    from napari_medai.core.io import read_volume
    from napari_medai.core.tasks.alzheimer.predict import predict_alzheimer

    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    show_tab(w, "Predict")
    _pick_folder(monkeypatch, tiny["model"])
    click(qtbot, button(w, "Model folder"))
    assert "NOT TRAINED" not in _label_containing(w, "LandmarkNet").text()
    t1 = tiny["cohort"] / "t1" / "subject_03.nii.gz"
    open_path(viewer, t1)
    assert field(w, "T1").currentText() == "subject_03"  # the only image
    click(qtbot, button(w, "T1 already aligned"))
    click(qtbot, button(w, "Predict"))
    _wait(w)
    assert not w.jobs.last_error, w.jobs.last_error
    check("the core on the same file")
    core = predict_alzheimer(tiny["model"], read_volume(t1), already_aligned=True, device="cpu")
    assert core.trained and len(core.contributions) == 3
    headline = _label_containing(w, "P(AD) =").text()
    assert headline == f"P(AD) = {core.probability:.2f} (threshold {core.threshold:.2f}): {core.decision}"
    points = viewer.layers[CONTRIBUTIONS]
    np.testing.assert_allclose(np.asarray(points.features["contribution"]), core.contributions, atol=1e-5)
    np.testing.assert_allclose(np.asarray(points.data)[:, -3:], np.asarray(core.landmarks_mm), atol=1e-6)
    assert points.face_colormap.name == "coolwarm"
    lo, hi = points.face_contrast_limits
    assert lo == pytest.approx(-hi) and hi == pytest.approx(np.abs(core.contributions).max())
    np.testing.assert_allclose(np.asarray(viewer.layers[SALIENCY].data), np.asarray(core.saliency.data), atol=1e-5)
    assert "Landmark colour: the drop of P(AD)" in _label_containing(w, "Landmark colour").text()
    assert core.disclaimer in _label_containing(w, "not a diagnosis").text()


def test_untrained_model_says_so_and_shows_no_probability(make_napari_viewer, qtbot, monkeypatch, tiny):
    viewer = make_napari_viewer()
    open_path(viewer, tiny["cohort"] / "t1" / "subject_00.nii.gz")
    w = open_widget(viewer, WIDGET)
    show_tab(w, "Predict")
    click(qtbot, button(w, "Predict"))
    assert "No model chosen" in w.jobs.status.text() and not w.busy
    _pick_folder(monkeypatch, tiny["untrained"])
    click(qtbot, button(w, "Model folder"))
    assert "ff7070" in _label_containing(w, "NOT TRAINED").styleSheet()
    click(qtbot, button(w, "T1 already aligned"))
    click(qtbot, button(w, "Predict"))
    _wait(w)
    assert not w.jobs.last_error, w.jobs.last_error
    said = _label_containing(w, "This model is not trained")
    assert "ff7070" in said.styleSheet() and "P(AD) =" not in said.text()
    assert not [lab for lab in w.findChildren(QLabel) if "P(AD) =" in lab.text()]
    assert CONTRIBUTIONS not in layer_names(viewer) and SALIENCY not in layer_names(viewer)


def test_evaluate_draws_the_roc_and_the_threshold_moves_the_figures(make_napari_viewer, qtbot, monkeypatch, tiny):
    from napari_medai.core.tasks.alzheimer.evaluate import evaluate_alzheimer

    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    show_tab(w, "Evaluate")
    _pick_folder(monkeypatch, tiny["cohort"])
    click(qtbot, button(w, "Folder"))
    assert field(w, "test labels CSV").text() == str(tiny["cohort"] / "labels.csv")  # found in the folder
    _pick_folder(monkeypatch, tiny["model"])
    click(qtbot, button(w, "Model folder"))
    step("choose 'already aligned'")
    field(w, "test alignment").setCurrentIndex(2)
    click(qtbot, button(w, "Evaluate"))
    _wait(w)
    assert not w.jobs.last_error, w.jobs.last_error
    check("the core on the same cohort")
    core = evaluate_alzheimer(tiny["model"], tiny["cohort"], tiny["cohort"] / "labels.csv", align="skip",
                              device="cpu")
    said = _label_containing(w, "AUC").text()
    lo, hi = core.auc_ci
    assert said.startswith(f"AUC {core.auc:.3f} [DeLong 95 % CI {lo:.3f}-{hi:.3f}] on 8 subjects (4 AD / 4 NC)")
    assert "NOT a held-out evaluation" in said  # the model trained on these sources
    fpr, tpr = w.evaluate_page.plot.curve_points
    np.testing.assert_allclose(fpr, core.fpr)
    np.testing.assert_allclose(tpr, core.tpr)
    for t in (0.3, 0.7):
        step(f"threshold {t}")
        field(w, "threshold").setValue(int(round(100 * t)))  # the slider
        want = core.at_threshold(t)
        assert _label_containing(w, "At P(AD) ≥").text() == (
            f"At P(AD) ≥ {t:.2f}: accuracy {100 * want['accuracy']:.1f} %, sensitivity "
            f"{100 * want['sensitivity']:.1f} %, specificity {100 * want['specificity']:.1f} %")
        assert w.evaluate_page.plot.operating_point == pytest.approx((1 - want["specificity"], want["sensitivity"]))


# ------------------------------------------------------------------ training from the shared training widget
TRAINING = "Alzheimer training (labelled T1 cohort)"


def test_train_a_tiny_landmark_model_in_the_training_widget_and_use_it(make_napari_viewer, qtbot, monkeypatch,
                                                                       tmp_path):
    pytest.importorskip("monai")
    import json

    from napari_medai.core.tasks.alzheimer.subjects import describe_alzheimer_cohort

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cohort = write_tiny_cohort(tmp_path / "cohort")
    viewer = make_napari_viewer()
    w = open_widget(viewer, TRAINING)
    assert field(w, "task").currentText() == "Alzheimer's disease (labelled T1 cohort)"
    assert not field(w, "sequences").isVisibleTo(w)  # segmentation's rows are hidden
    _pick_folder(monkeypatch, cohort)
    click(qtbot, button(w, "Browse"))
    assert field(w, "labels CSV").text() == str(cohort / "labels.csv")  # found in the folder
    said = describe_alzheimer_cohort(cohort, cohort / "labels.csv")
    assert _label_containing(w, said.split(" (")[0]).text() == said
    out = tmp_path / "home" / "my-alzheimer-model"
    step("set a tiny run")
    field(w, "model folder").setText(str(out))
    field(w, "alignment").setCurrentIndex(2)  # already aligned (one grid)
    quick_training(qtbot, w, {"landmarks L": 3, "min distance": 8.0, "max epochs": 1},
                   {"steps/epoch": 1, "batch": 4, "patch edge": 16})
    click(qtbot, button(w, "Train"))
    wait_until_idle = w.wait_idle(180)
    assert wait_until_idle and not w.jobs.last_error, w.jobs.last_error
    check("the model folder")
    doc = json.loads((out / "model.json").read_text())["contract"]
    assert doc["task"] == "alzheimer" and doc["input_mode"] == "landmarks" and len(doc["landmark_points"]) == 3
    info = json.loads((out / "alzheimer.json").read_text())
    assert not set(info["train_sources"]) & set(info["val_sources"])  # split by source scan
    assert "validation AUC" in _label_containing(w, "Best epoch 1").text()
    click(qtbot, button(w, "Use in the Alzheimer widget"))
    alz = w.segmentation_widget
    assert field(alz, "model").text() == str(out) and alz.tabs.currentWidget() is alz.predict_page
    assert "LandmarkNet" in _label_containing(alz, "LandmarkNet").text()


def test_cancel_stops_landmark_discovery_and_adds_nothing(make_napari_viewer, qtbot, monkeypatch, tmp_path, files):
    # six skull-on heads (each through its own small affine) to register to the synthetic template
    rows = []
    for i in range(6):
        name = f"head{i}"
        write_volume(synthetic_subject(affine_lps(rot_deg=(i, -i, 2.0), shift=(2.0 * i, -3.0, 4.0))),
                     tmp_path / "cohort" / "t1" / f"{name}.nii.gz")
        rows.append(f"{name},{'AD' if i % 2 else 'NC'}")
    (tmp_path / "cohort" / "labels.csv").write_text("subject,diagnosis\n" + "\n".join(rows) + "\n")
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    _pick_file(monkeypatch, files["template"])
    click(qtbot, button(w, "Template"))
    show_tab(w, "Landmarks")
    _pick_folder(monkeypatch, tmp_path / "cohort")
    click(qtbot, button(w, "Folder"))
    assert field(w, "labels CSV").text() == str(tmp_path / "cohort" / "labels.csv")
    click(qtbot, button(w, "Find landmarks"))
    assert not button(w, "Find landmarks").isEnabled()  # one job at a time
    click(qtbot, button(w, "Cancel"))
    _wait(w)
    assert layer_names(viewer) == []
    assert w.jobs.status.text().startswith("Cancelled") and "nothing was added" in w.jobs.status.text()
    assert button(w, "Find landmarks").isEnabled()


def test_a_whole_brain_model_shows_its_occlusion_saliency_and_no_landmarks(make_napari_viewer, qtbot, monkeypatch,
                                                                            tiny, tmp_path):
    pytest.importorskip("monai")
    import torch

    from napari_medai.core.io import read_volume
    from napari_medai.core.tasks.alzheimer.predict import predict_alzheimer
    from napari_medai.core.tasks.alzheimer.train import train_alzheimer

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        model = tmp_path / "whole-brain"
        train_alzheimer(tiny["cohort"], tiny["cohort"] / "labels.csv", model, model="whole-brain", align="skip",
                        max_epochs=1, device="cpu", batch_size=4, steps_per_epoch=1, network={"width": 4})
    finally:
        torch.set_num_threads(threads)
    t1 = tiny["cohort"] / "t1" / "subject_01.nii.gz"
    viewer = make_napari_viewer()
    open_path(viewer, t1)
    w = open_widget(viewer, WIDGET)
    show_tab(w, "Predict")
    _pick_folder(monkeypatch, model)
    click(qtbot, button(w, "Model folder"))
    click(qtbot, button(w, "T1 already aligned"))
    click(qtbot, button(w, "Predict"))
    _wait(w)
    assert not w.jobs.last_error, w.jobs.last_error
    check("the core on the same file")
    core = predict_alzheimer(model, read_volume(t1), already_aligned=True, device="cpu")
    assert core.model_kind == "whole-brain" and len(core.contributions) == 0
    assert _label_containing(w, "P(AD) =").text().startswith(f"P(AD) = {core.probability:.2f}")
    assert "no landmarks (a whole-brain model)" in _label_containing(w, "no landmarks").text()
    assert CONTRIBUTIONS not in layer_names(viewer) and not w.predict_page.swatch.isVisibleTo(w)
    np.testing.assert_allclose(np.asarray(viewer.layers[SALIENCY].data), np.asarray(core.saliency.data), atol=1e-5)
