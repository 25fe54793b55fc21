"""Journeys through Plugins > napari-medai > "De-identify DICOM folder", as a user walks them.

A DICOM folder carrying the patient's identifiers in many places (``tests/core/dicom_objects.py``: names, IDs,
dates, nested items, private tags, UIDs), with an image whose pixels may show identity and a file that is not
DICOM, is written here. Folders are chosen through the widget's buttons (the file dialogs answer as a user
would); the job is waited for through the De-identify button. The output's bytes are checked for every
original value; refusals must be napari notifications and write nothing.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pydicom
import pytest
from qtpy.QtWidgets import QComboBox, QFileDialog, QLabel, QTableWidget

from tests.core.dicom_objects import IDENTIFIERS, phantom_stack, write_ct_series

from .journey import (
    button,
    check,
    click,
    field,
    layer_names,
    open_path,
    open_widget,
    step,
    table_texts,
    wait_until,
)

WIDGET = "De-identify DICOM folder"
SOP_UIDS = [f"1.2.826.0.1.3680043.8.498.7780{k:03d}" for k in range(1, 7)]


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    """in/ct (6 slices), in/burned (1 image with burned-in annotation), in/notes.txt (not DICOM)."""
    write_ct_series(tmp_path / "in" / "ct", phantom_stack())
    write_ct_series(tmp_path / "in" / "burned", phantom_stack((1, 8, 8)), burned_in="YES", series_uid="1.2.3.44",
                    file_prefix="B", sop_root="1.2.3.45.9")
    (tmp_path / "in" / "notes.txt").write_text(f"seen {IDENTIFIERS['PatientName']}")
    return tmp_path / "in"


@pytest.fixture
def notifications(monkeypatch) -> list[str]:
    """The napari error notifications shown (what a user sees besides the red status line)."""
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", lambda text: shown.append(str(text)))
    return shown


def _answer_dialogs(monkeypatch, *, folder: Path | None = None, save: Path | None = None) -> None:
    if folder is not None:
        monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    if save is not None:
        monkeypatch.setattr(QFileDialog, "getSaveFileName", staticmethod(lambda *a, **k: (str(save), "JSON (*.json)")))


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _run(qtbot, w) -> None:
    click(qtbot, button(w, "De-identify"))
    wait_until(lambda: button(w, "De-identify").isEnabled() and not w.busy, 120)


def _label_starting(w, text: str) -> QLabel:
    hits = [lab for lab in w.findChildren(QLabel) if lab.text().startswith(text) and lab.isVisibleTo(w)]
    assert hits, f"no label reading {text!r}: {[lab.text()[:50] for lab in w.findChildren(QLabel)]}"
    return hits[0]


def test_deidentify_a_folder_then_open_its_series(make_napari_viewer, qtbot, monkeypatch, inbox, tmp_path,
                                                   notifications):
    viewer = make_napari_viewer()
    before = _tree(inbox)
    w = open_widget(viewer, WIDGET)
    _answer_dialogs(monkeypatch, folder=inbox, save=tmp_path / "key.json")
    click(qtbot, button(w, "Input folder"))
    assert field(w, "input folder").text() == str(inbox)
    out = tmp_path / "in_deidentified"
    assert field(w, "output folder").text() == str(out)  # suggested beside the input
    click(qtbot, button(w, "Key file"))
    assert field(w, "key file").text() == str(tmp_path / "key.json")
    assert not button(w, "Open de-identified series").isVisible()
    _run(qtbot, w)
    check("the summary, the review list and the output bytes")
    assert w.jobs.last_error == "" and notifications == []
    assert _label_starting(w, "6 files de-identified").text() == (
        f"6 files de-identified (1 patient) into {out}; 1 skipped (not DICOM)")
    review = _label_starting(w, "1 image held back for review")
    assert str(tmp_path / "in_deidentified_review") in review.text()
    table = next(t for t in w.findChildren(QTableWidget) if t.isVisibleTo(w))
    rows = table_texts(table)
    assert len(rows) == 1 and "BurnedInAnnotation YES" in rows[0][1]
    report = _label_starting(w, "Report").text()
    assert str(out / "deidentification_report.csv") in report and str(tmp_path / "key.json") in report
    assert "keep it inside the hospital" in report
    assert (tmp_path / "key.json").is_file() and (out / "deidentification_report.csv").is_file()
    # no original value is left in any output byte (the input is untouched)
    blob = b"".join(_tree(out).values()) + b"".join(_tree(tmp_path / "in_deidentified_review").values())
    left = [k for k, v in IDENTIFIERS.items() if v.encode() in blob] + [u for u in SOP_UIDS if u.encode() in blob]
    assert left == []
    assert _tree(inbox) == before
    assert "Done: 6 files de-identified" in w.status.text()
    # the series opens in the viewer with the original pixels and no identifier in its name or metadata
    combo = next(c for c in w.findChildren(QComboBox) if c.isVisibleTo(w))  # the series chooser
    assert combo.count() == 1 and combo.currentText().endswith("(6 files)")
    click(qtbot, button(w, "Open de-identified series"))
    check("the opened series")
    assert len(viewer.layers) == 1
    layer = viewer.layers[0]
    np.testing.assert_array_equal(np.asarray(layer.data), phantom_stack())
    shown = (layer.name + repr(layer.metadata)).encode()
    assert [k for k, v in IDENTIFIERS.items() if v.encode() in shown] == []
    assert w.status.text().startswith(f"Opened '{layer.name}'")


def test_options_reach_the_output(make_napari_viewer, qtbot, monkeypatch, inbox, tmp_path):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    _answer_dialogs(monkeypatch, folder=inbox)
    click(qtbot, button(w, "Input folder"))
    click(qtbot, button(w, "keep dates"))
    click(qtbot, button(w, "clean descriptions"))
    _run(qtbot, w)
    check("dates shifted, descriptions cleaned")
    assert w.jobs.last_error == ""
    assert "No key file: nothing links the output back" in _label_starting(w, "Report").text()
    first = sorted((tmp_path / "in_deidentified").rglob("*.dcm"))[0]
    ds = pydicom.dcmread(first)
    assert ds.LongitudinalTemporalInformationModified == "MODIFIED"
    shifted = int(IDENTIFIERS["StudyDate"]) - int(ds.StudyDate)
    assert ds.StudyDate and shifted > 0  # moved back, not removed
    assert ds.StudyDescription == "Cardiac CT for"  # kept, without the name and the ID


def test_wrong_folders_are_refused_as_notifications_before_any_work(make_napari_viewer, qtbot, monkeypatch, inbox,
                                                                    tmp_path, notifications):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    click(qtbot, button(w, "De-identify"))  # nothing chosen
    assert notifications[-1].startswith("choose the folder of DICOM files")
    step("type a missing input folder")
    field(w, "input folder").setText(str(tmp_path / "nowhere"))
    field(w, "output folder").setText(str(tmp_path / "out"))
    click(qtbot, button(w, "De-identify"))
    assert "nowhere: no such folder" in notifications[-1]
    _answer_dialogs(monkeypatch, folder=inbox / "ct" / "inside")
    step("choose the input, then an output inside it")
    field(w, "input folder").setText(str(inbox))
    click(qtbot, button(w, "Output folder"))
    click(qtbot, button(w, "De-identify"))
    assert "lies inside the input folder" in notifications[-1]
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("not an image")
    step("a folder without DICOM files")
    field(w, "input folder").setText(str(plain))
    field(w, "output folder").setText(str(tmp_path / "out"))
    click(qtbot, button(w, "De-identify"))
    check("refused, nothing written")
    assert "holds no DICOM file (1 file checked" in notifications[-1]
    assert len(notifications) == 4
    assert w.status.text() == notifications[-1] and "ff7070" in w.status.styleSheet()  # red
    assert not (tmp_path / "out").exists() and not (inbox / "ct" / "inside").exists()
    assert layer_names(viewer) == [] and not button(w, "Open de-identified series").isVisible()


def test_an_original_series_opens_without_the_patients_identity(make_napari_viewer, inbox):
    """File > Open on a series whose description was typed with the patient's name, ID and birth date."""
    for f in sorted((inbox / "ct").iterdir()):
        ds = pydicom.dcmread(f)
        ds.SeriesDescription = f"CaSc {IDENTIFIERS['PatientName']} {IDENTIFIERS['PatientID']} 19580417"
        ds.save_as(f)
    viewer = make_napari_viewer()
    layers = open_path(viewer, inbox / "ct")
    check("the layer's name and metadata")
    assert [ly.name for ly in layers] == ["CaSc"]
    shown = (layers[0].name + repr(layers[0].metadata)).encode()
    secrets = [IDENTIFIERS["PatientID"], IDENTIFIERS["PatientBirthDate"], *IDENTIFIERS["PatientName"].split("^")]
    assert [s for s in secrets if s.encode() in shown] == []
    assert b"1.2.826.0.1.3680043.8.498.77702" in shown  # the series' facts are there (its UID), only not the patient


def test_cancel_leaves_nothing_in_the_output(make_napari_viewer, qtbot, monkeypatch, inbox, tmp_path):
    """The first file read waits until Cancel has been clicked, so the cancel always lands mid-run (one file
    written, then removed)."""
    gate, reached = threading.Event(), threading.Event()
    real = pydicom.dcmread

    def gated(*args, **kwargs):
        if threading.current_thread() is not threading.main_thread():
            reached.set()
            gate.wait(30)
        return real(*args, **kwargs)

    monkeypatch.setattr(pydicom, "dcmread", gated)
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    _answer_dialogs(monkeypatch, folder=inbox)
    click(qtbot, button(w, "Input folder"))
    click(qtbot, button(w, "De-identify"))
    assert w.busy and not button(w, "De-identify").isEnabled()
    wait_until(reached.is_set, 30)  # the job is reading its first file
    click(qtbot, button(w, "Cancel"))
    gate.set()
    wait_until(lambda: not w.busy, 60)
    check("cancelled")
    assert w.jobs.last_error.startswith("Cancelled (after 1 of 7 files; the files written were removed)")
    assert not (tmp_path / "in_deidentified").exists() and not (tmp_path / "in_deidentified_review").exists()
    assert not button(w, "Open de-identified series").isVisible() and layer_names(viewer) == []
    assert button(w, "De-identify").isEnabled()
