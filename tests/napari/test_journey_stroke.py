"""Journeys through Plugins > napari-medai > "Stroke lesions", as a user walks them.

Data come from File > Open Sample (the stroke MRI and CTA phantoms) or File > Open (small NIfTI files written
here); controls are found by what they read (journey helpers); the job is waited for through the Run button.
The numbers shown are compared with the core's :func:`segment_stroke` on the same data.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QLabel, QTableWidget

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
    quick_training,
    step,
    table_texts,
    wait_until,
)

WIDGET = "Stroke lesions"
LESIONS = "stroke lesions"
SCORE = "stroke lesion score"
PROBABILITY = "stroke lesion probability"
LESION_IDS = "stroke lesion ids"


def _label_starting(root, text):
    hits = [lab for lab in root.findChildren(QLabel) if lab.text().startswith(text) and lab.isVisibleTo(root)]
    assert hits, f"no label reading {text!r}...: {[lab.text()[:40] for lab in root.findChildren(QLabel)]}"
    return hits[0]


def _label_containing(root, text):
    hits = [lab for lab in root.findChildren(QLabel) if text in lab.text() and lab.isVisibleTo(root)]
    assert hits, f"no label with {text!r}"
    return hits[0]


def _idle(w):
    wait_until(lambda: button(w, "Run").isEnabled() and not w.busy, 120)


def _run(qtbot, w):
    click(qtbot, button(w, "Run"))
    _idle(w)


def _lesion_table(w):
    return next(t for t in w.findChildren(QTableWidget) if "Ø mm" in header_texts(t))


def _inputs(w, rows=("DWI", "ADC", "FLAIR")):
    return {row: field(w, row, exact=True).currentText() for row in rows}


def test_widget_before_data_then_sample_picks_layers_by_name(make_napari_viewer):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    assert _inputs(w, ("DWI", "ADC")) == {"DWI": "", "ADC": ""}  # nothing open: nothing chosen
    assert "choose a layer for DWI, ADC" in _label_starting(w, "choose a layer").text()
    open_sample(viewer, "stroke")
    assert _inputs(w) == {"DWI": "dwi", "ADC": "adc", "FLAIR": "flair"}
    # the unit the core finds, in words (the phantom stores 10^-6 mm^2/s)
    assert "'adc' is in 10⁻⁶ mm²/s (from the values" in _label_starting(w, "'adc' is in").text()
    step("rename adc")
    viewer.layers["adc"].name = "ADC map"
    assert field(w, "ADC", exact=True).currentText() == "ADC map"



# ------------------------------------------------------------------ helpers on the core's side
def _core(**vols):
    from napari_medai.core.tasks.stroke.segment import segment_stroke

    return segment_stroke(**vols)


def _volumes(viewer, **names):
    from napari_medai._napari.layers import layer_to_volume

    return {key: layer_to_volume(viewer.layers[name]) for key, name in names.items()}


def _shown_rows(w):
    return table_texts(_lesion_table(w))


# ------------------------------------------------------------------ journeys
def test_sample_then_widget_threshold_run_shows_the_cores_numbers(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    open_sample(viewer, "stroke")
    w = open_widget(viewer, WIDGET)
    assert _inputs(w) == {"DWI": "dwi", "ADC": "adc", "FLAIR": "flair"}
    assert field(w, "method").currentText() == "clinical threshold baseline"
    _run(qtbot, w)
    assert not w.jobs.last_error, w.jobs.last_error
    out = viewer.layers[LESIONS]
    meta = out.metadata["napari_medai"]
    assert type(out).__name__ == "Labels" and meta["role"] == "prediction" and meta["convention"] == "isles"
    assert meta["label_names"] == {1: "infarct"}
    assert type(viewer.layers[SCORE]).__name__ == "Image"  # the baseline's score map (0..1), not a probability
    dwi = viewer.layers["dwi"]
    assert out.data.shape == dwi.data.shape
    np.testing.assert_allclose(out.scale, dwi.scale)
    # the numbers shown are the core's on the same data
    check("the core on the same data")
    core = _core(**_volumes(viewer, dwi="dwi", adc="adc", flair="flair"))
    assert core.total_volume_ml > 0 and len(core.lesions) >= 2
    np.testing.assert_array_equal(np.asarray(out.data) > 0, np.asarray(core.labels.data) > 0)
    n = len(core.lesions)
    assert _label_starting(w, "Infarct volume").text() == (
        f"Infarct volume {core.total_volume_ml:.2f} ml in {n} lesion{'s' if n != 1 else ''}")
    rows = _shown_rows(w)
    assert [r[1] for r in rows] == [f"{c.volume_ml:.2f}" for c in core.lesions]
    assert [r[4] for r in rows] == [c.side for c in core.lesions]
    assert header_texts(_lesion_table(w))[-1] == "rSI"
    # FLAIR lies on its own grid: the widget says it was brought onto the DWI grid
    assert "FLAIR resampled" in _label_containing(w, "FLAIR resampled").text()
    assert "research measure, not a treatment decision" in _label_containing(w, "DWI-FLAIR mismatch").text()


def test_lesion_row_click_moves_the_viewer_to_the_lesion(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    open_sample(viewer, "stroke")
    w = open_widget(viewer, WIDGET)
    _run(qtbot, w)
    table = _lesion_table(w)
    assert table.rowCount() >= 2
    out = viewer.layers[LESIONS]
    for row in (table.rowCount() - 1, 0):
        step(f"click lesion row {row}")
        rect = table.visualItemRect(table.item(row, 0))
        qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=rect.center())
        target = np.asarray(out.data_to_world(w.table.rows[row].centroid_index), dtype=float)
        np.testing.assert_allclose(viewer.dims.point[0], target[0], atol=0.6 * out.scale[0])
        camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera
        np.testing.assert_allclose(camera.center[-2:], target[-2:], atol=1e-3)
        # the lesion's own label is under the slider's slice
        z = int(round(out.world_to_data(viewer.dims.point)[0]))
        assert (np.asarray(out.data)[z] > 0).any()


@pytest.fixture(scope="module")
def mri_files(tmp_path_factory):
    """The stroke phantom (seed 1, no FLAIR) as NIfTI files: DWI, ADC in 10^-6 and in 10^-3 mm^2/s, and an ADC
    cropped by two rows (another grid)."""
    from napari_medai.core.io import write_volume
    from napari_medai.core.phantoms.stroke import stroke_phantom

    root = tmp_path_factory.mktemp("stroke_files")
    ph = stroke_phantom(seed=1, with_flair=False)
    adc = ph["adc"]
    vols = {"case_dwi": ph["dwi"], "case_adc": adc.with_data(np.asarray(adc.data) / 1000.0),
            "other_adc": adc.with_data(np.asarray(adc.data)[:, 2:, :],
                                       origin=tuple(adc.index_to_world(np.array([[0.0, 2.0, 0.0]]))[0]))}
    paths = {name: write_volume(vol, root / f"{name}.nii.gz") for name, vol in vols.items()}
    return paths, _core(dwi=ph["dwi"], adc=ph["adc"])  # the core on the 10^-6 map


def test_files_with_adc_in_1e3_are_found_and_override_refuses_the_wrong_unit(make_napari_viewer, qtbot, mri_files):
    paths, core = mri_files
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    for name in ("case_dwi", "case_adc"):
        open_path(viewer, paths[name])
    assert _inputs(w, ("DWI", "ADC")) == {"DWI": "case_dwi", "ADC": "case_adc"}
    assert "'case_adc' is in 10⁻³ mm²/s (from the values" in _label_starting(w, "'case_adc' is in").text()
    # the user says 10^-6: the values cannot be in that unit, and the widget says so in red before any run
    step("choose ADC unit 10^-6")
    field(w, "ADC unit").setCurrentIndex(1)
    info = _label_containing(w, "outside the plausible")
    assert "--adc-unit" not in info.text() and "ff7070" in info.styleSheet()
    click(qtbot, button(w, "Run"))
    _idle(w)
    assert LESIONS not in layer_names(viewer) and "outside the plausible" in w.jobs.last_error
    # back to auto: the run converts to 10^-6 and finds what the core finds on the 10^-6 map
    field(w, "ADC unit").setCurrentIndex(0)
    _run(qtbot, w)
    assert _label_starting(w, "Infarct volume").text().startswith(f"Infarct volume {core.total_volume_ml:.2f} ml")
    assert "ADC unit 1e-3" in _label_containing(w, "ADC unit 1e-3").text()


def test_cancel_stops_the_run_and_adds_nothing(make_napari_viewer, qtbot, mri_files):
    paths, _core_result = mri_files
    viewer = make_napari_viewer()
    for name in ("case_dwi", "case_adc"):
        open_path(viewer, paths[name])
    w = open_widget(viewer, WIDGET)
    before = layer_names(viewer)
    click(qtbot, button(w, "Run"))
    click(qtbot, button(w, "Cancel"))
    _idle(w)
    assert layer_names(viewer) == before
    assert w.jobs.status.text().startswith("Cancelled") and "nothing was added" in w.jobs.status.text()
    assert not button(w, "Save segmentation").isEnabled()


def test_dwi_and_adc_on_different_grids_is_an_error_and_adds_nothing(make_napari_viewer, qtbot, mri_files):
    paths, _core_result = mri_files
    viewer = make_napari_viewer()
    for name in ("case_dwi", "other_adc"):
        open_path(viewer, paths[name])
    w = open_widget(viewer, WIDGET)
    assert _inputs(w, ("DWI", "ADC")) == {"DWI": "case_dwi", "ADC": "other_adc"}
    before = layer_names(viewer)
    click(qtbot, button(w, "Run"))
    _idle(w)
    assert layer_names(viewer) == before  # nothing added
    status = w.jobs.status
    assert "grid" in status.text() and "other_adc" in status.text() and "ff7070" in status.styleSheet()
    assert "--" not in status.text()  # the widget's words, not the command line's


def test_agreement_opens_in_the_isles_convention_with_lesion_f1(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    open_sample(viewer, "stroke")
    w = open_widget(viewer, WIDGET)
    assert not button(w, "Compare with ground truth").isEnabled()  # no result yet
    field(w, "FLAIR").setCurrentText("(none)")  # quicker: DWI and ADC only
    _run(qtbot, w)
    click(qtbot, button(w, "Compare with ground truth"))
    panel = w.agreement
    assert panel is not None and panel.wait_idle(60)
    assert field(panel, "prediction").currentText() == LESIONS
    assert field(panel, "ground truth").currentText() == "lesion"
    assert field(panel, "convention").currentText() == "isles"
    assert field(panel, "lesion matching").currentText() == "isles"
    table = max(panel.findChildren(QTableWidget), key=lambda t: "Dice" in header_texts(t))
    headers = header_texts(table)
    cells = table_texts(table)[0]
    for col in ("Dice", "Sens", "Spec", "ΔVol ml", "Lesion F1"):
        assert col in headers
    # ISLES 2022's ranked metrics come first, visible without scrolling
    assert headers[:4] == ["Dice", "Lesion F1", "ΔVol ml", "Δ lesions"]
    f1 = float(cells[headers.index("Lesion F1")].rstrip("*"))
    dice = float(cells[headers.index("Dice")].rstrip("*"))
    # the panel's figures are the core's evaluation of the same pair in the ISLES convention
    from napari_medai.core.evaluate import evaluate_volumes

    vols = _volumes(viewer, pred=LESIONS, gt="lesion")
    ref = evaluate_volumes(vols["pred"], vols["gt"], convention="isles", lesion_style="isles")
    row = ref.regions["lesion"]
    assert f1 == pytest.approx(row["lesion_f1"], abs=5e-4) and dice == pytest.approx(row["dice"], abs=5e-4)
    assert int(cells[headers.index("Δ lesions")].rstrip("*")) == row["lesion_count_diff"]
    assert 0.0 < f1 <= 1.0 and dice > 0.5


def test_separate_lesions_gives_each_lesion_its_own_id_and_name(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    open_sample(viewer, "stroke")
    w = open_widget(viewer, WIDGET)
    field(w, "FLAIR").setCurrentText("(none)")
    click(qtbot, button(w, "separate lesions"))
    _run(qtbot, w)
    ids = viewer.layers[LESION_IDS]
    n = _lesion_table(w).rowCount()
    check("one id per lesion")
    assert n >= 2 and sorted(int(v) for v in np.unique(np.asarray(ids.data)) if v) == list(range(1, n + 1))
    assert [e[1] for e in w.legend.entries] == [f"lesion {i}" for i in range(1, n + 1)]
    # the prediction the agreement panel reads stays the 0/1 mask in the ISLES convention
    assert set(np.unique(np.asarray(viewer.layers[LESIONS].data)).tolist()) == {0, 1}


@pytest.fixture
def untrained_model(tmp_path):
    """A stroke model folder with random weights (a tiny DeepMedic): it runs, and it is not trained."""
    pytest.importorskip("torch")
    from napari_medai.core.models.loading import LoadedModel
    from napari_medai.core.models.persistence import save_model_folder
    from napari_medai.core.tasks.stroke.model import stroke_task

    model = LoadedModel.random(stroke_task(network="deepmedic", roi_size=(16, 16, 16),
                                           network_kwargs={"feature_maps": [4] * 8, "fc_features": [8, 8]}).contract)
    return save_model_folder(tmp_path / "random-deepmedic", model.network, model.contract)


def test_model_method_says_plainly_when_there_is_no_model_or_an_untrained_one(make_napari_viewer, qtbot,
                                                                               monkeypatch, tmp_path, untrained_model):
    import torch
    from qtpy.QtWidgets import QFileDialog

    from napari_medai.core.io import write_volume
    from napari_medai.core.phantoms.stroke import stroke_phantom

    small = stroke_phantom(seed=2, shape=(24, 40, 36), with_flair=False)
    viewer = make_napari_viewer()
    for key in ("dwi", "adc"):
        open_path(viewer, write_volume(small[key], tmp_path / f"small_{key}.nii.gz"))
    w = open_widget(viewer, WIDGET)
    step("choose the trained-model method")
    field(w, "method").setCurrentIndex(1)
    said = _label_starting(w, "No model chosen")
    assert "ff7070" in said.styleSheet()
    click(qtbot, button(w, "Run"))
    assert "no stroke model chosen" in w.jobs.status.text() and LESIONS not in layer_names(viewer)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(untrained_model)))
    click(qtbot, button(w, "Model folder"))
    said = _label_starting(w, "NOT TRAINED")
    assert "ff7070" in said.styleSheet()
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        _run(qtbot, w)
    finally:
        torch.set_num_threads(threads)
    assert not w.jobs.last_error, w.jobs.last_error
    assert viewer.layers[LESIONS].metadata["napari_medai"]["model"] == "model"
    assert type(viewer.layers[PROBABILITY]).__name__ == "Image"
    status = w.jobs.status
    assert status.text().startswith("NOT TRAINED model: this output is meaningless") and "ff7070" in status.styleSheet()


def test_cta_sample_runs_the_cta_baseline(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    open_sample(viewer, "stroke_cta")
    field(w, "modality").setCurrentText("CTA")
    assert field(w, "CTA", exact=True).currentText() == "cta"
    mirror = button(w, "add mirrored copy")
    assert mirror.isVisibleTo(w) and not mirror.isEnabled()  # a model's extra channel; the baseline mirrors itself
    assert not field(w, "ADC unit").isVisibleTo(w)
    _run(qtbot, w)
    assert not w.jobs.last_error, w.jobs.last_error
    check("the core on the same data")
    core = _core(**_volumes(viewer, cta="cta"))
    assert _label_starting(w, "Infarct volume").text().startswith(f"Infarct volume {core.total_volume_ml:.2f} ml")
    assert viewer.layers[LESIONS].metadata["napari_medai"]["convention"] == "isles"


# ------------------------------------------------------------------ training a stroke model from the widget
TRAINING = "Stroke training (your labelled cases)"


def test_train_a_stroke_deepmedic_from_the_training_widget_and_use_it(make_napari_viewer, qtbot, monkeypatch,
                                                                     tmp_path):
    pytest.importorskip("monai")
    from qtpy.QtWidgets import QFileDialog

    from ..core.test_stroke_model import write_stroke_cases

    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    cases = write_stroke_cases(tmp_path / "cases", seeds=(1, 2), layout="isles22", adc_scale=1e-3)
    viewer = make_napari_viewer()
    w = open_widget(viewer, TRAINING)
    assert field(w, "task").currentText() == "stroke lesions (MRI or CTA)"
    assert field(w, "network").currentText() == "SegResNet"
    step("choose DeepMedic")
    field(w, "network").setCurrentText("DeepMedic")
    assert field(w, "patch edge").value() == 25 and field(w, "window edge").value() == 45  # the published segments
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(cases)))
    click(qtbot, button(w, "Browse"))
    assert "2 stroke case(s), MRI, ISLES'22 BIDS" in _label_starting(w, "2 stroke case(s)").text()
    out = tmp_path / "home" / "my-stroke-model"
    field(w, "model folder").setText(str(out))
    quick_training(qtbot, w, {"max epochs": 1, "validation": 0}, {"steps/epoch": 1, "batch": 1, "window edge": 25})
    click(qtbot, button(w, "Train"))
    wait_until(lambda: not w.busy, 120)
    assert not w.jobs.last_error, w.jobs.last_error
    check("the model folder")
    import json

    contract = json.loads((out / "model.json").read_text())["contract"]
    assert contract["task"] == "stroke" and contract["network"]["name"] == "DeepMedic"
    assert contract["channels"] == ["dwi", "adc"] and contract["label_convention"] == "isles"
    click(qtbot, button(w, "Use in segmentation widget"))
    seg = w.segmentation_widget
    assert field(seg, "method").currentText() == "trained model"
    assert field(seg, "model").text() == str(out)
    assert "DeepMedic" in _label_containing(seg, "DeepMedic").text()


# ------------------------------------------------------------------ the real ISLES'22 case, when it is there
ISLES = Path(os.environ.get("MEDAI_SHARED_DATA", "/work/shared/data")) / "isles22_case0009"


@pytest.mark.skipif(not ISLES.is_dir(), reason=f"{ISLES} (ISLES'22 case 9, ../shared/data) is absent")
def test_isles_case_files_open_run_and_compare_in_the_isles_convention(make_napari_viewer, qtbot):
    from napari_medai.core.evaluate import evaluate_volumes
    from napari_medai.core.io import read_volume
    from napari_medai.core.tasks.stroke.inputs import find_sidecar
    from napari_medai.core.tasks.stroke.segment import segment_stroke

    raw = ISLES / "rawdata" / "sub-strokecase0009" / "ses-0001"
    files = {k: raw / f"sub-strokecase0009_ses-0001_{k}.nii.gz" for k in ("dwi", "adc", "flair")}
    msk = ISLES / "derivatives" / "sub-strokecase0009" / "ses-0001" / "sub-strokecase0009_ses-0001_msk.nii.gz"
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    for path in [*files.values(), msk]:
        open_path(viewer, path)
    stem = "sub-strokecase0009_ses-0001_"
    assert _inputs(w) == {"DWI": stem + "dwi", "ADC": stem + "adc", "FLAIR": stem + "flair"}
    assert f"'{stem}adc' is in 10⁻³ mm²/s" in _label_starting(w, f"'{stem}adc' is in").text()
    _run(qtbot, w)
    assert not w.jobs.last_error, w.jobs.last_error
    click(qtbot, button(w, "Compare with ground truth"))
    panel = w.agreement
    assert panel.wait_idle(120) and field(panel, "ground truth").currentText() == stem + "msk"
    check("the core on the same files")
    core = segment_stroke(**{k: read_volume(p) for k, p in files.items()},
                          sidecars={k: find_sidecar(p) for k, p in files.items() if find_sidecar(p)})
    assert _label_starting(w, "Infarct volume").text().startswith(f"Infarct volume {core.total_volume_ml:.2f} ml")
    ref = evaluate_volumes(core.labels, read_volume(msk), convention="isles", lesion_style="isles").regions["lesion"]
    table = max(panel.findChildren(QTableWidget), key=lambda t: "Dice" in header_texts(t))
    headers, cells = header_texts(table), table_texts(table)[0]
    assert float(cells[headers.index("Dice")].rstrip("*")) == pytest.approx(ref["dice"], abs=5e-4)
    assert float(cells[headers.index("Lesion F1")].rstrip("*")) == pytest.approx(ref["lesion_f1"], abs=5e-4)


# ------------------------------------------------------------------ names (no viewer)
@pytest.mark.parametrize(("name", "kind"), [
    ("sub-strokecase0009_ses-0001_dwi", "dwi"), ("DWI b1000", "dwi"), ("case_adc", "adc"), ("ADC map", "adc"),
    ("sub-strokecase0009_ses-0001_flair", "flair"), ("T2-FLAIR", "flair"), ("cta", "cta"),
    ("CTA mirrored", None), ("t1", None), ("lesion", None), ("badcase", None)])
def test_an_input_is_recognised_by_its_name_only(name, kind):
    from napari_medai._napari.stroke.inputs import input_kind

    assert input_kind(name) == kind


@pytest.mark.parametrize(("name", "truth"), [
    ("lesion", True), ("sub-strokecase0009_ses-0001_msk", True), ("gt", True), ("infarct mask", True),
    ("brainmask", False), ("brain mask", False), ("stroke", False), ("dwi", False)])
def test_a_ground_truth_is_recognised_by_its_name(name, truth):
    from napari_medai._napari.stroke.inputs import is_truth_name

    assert is_truth_name(name) is truth


def test_core_messages_speak_of_the_widgets_controls():
    from napari_medai._napari.stroke.words import gui_words

    text = gui_words("ADC 'adc': only 3 positive ADC voxels, too few to tell the unit of the map; pass --adc-unit "
                     "1e-6, 1e-3 or scaled:K to state the unit")
    assert text.endswith("choose the unit in 'ADC unit' (scanner-scaled with its factor)") and "--" not in text
    assert gui_words("use --mirror for models") == "use the matching setting for models"
