"""Journeys: what a radiologist sees on the canvas — R/L A/P S/I at the edges, superior up in coronal and
sagittal views, the DICOM's own window and the CT window presets (buttons and Alt-1 .. Alt-6), label names
on hover, and the message for a BIDS folder.

Data comes from ``viewer.open`` / ``viewer.open_sample``; the widget "View: windows and orientation" from
the Plugins menu; buttons are clicked by their text and keys pressed on the canvas.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QApplication, QMainWindow, QWidget

from napari_medai.core.io import write_volume
from napari_medai.core.phantoms import make_phantom

from .journey import (
    button,
    check,
    click,
    open_path,
    open_sample,
    open_widget,
    screenshot,
    step,
    wait_until,
)

WIDGET = "View: windows and orientation"
EDGES = ("top", "bottom", "left", "right")
MARKER = 5000.0


# ------------------------------------------------------------------------------------------ data
@pytest.fixture(scope="module")
def brain_nifti(tmp_path_factory) -> Path:
    """The brain phantom's FLAIR as NIfTI, with a bright slab in its six most superior slices."""
    vol = make_phantom("brain_tumour", seed=0)["flair"]
    data = vol.data.copy()
    assert np.allclose(vol.direction, np.eye(3))  # array axis 0 grows towards superior
    data[-6:, 30:82, 24:72] = MARKER
    path = tmp_path_factory.mktemp("brain") / "brain_flair.nii.gz"
    write_volume(vol.with_data(data), path)
    return path


def write_ct_series(folder: Path, *, window: tuple[list[str], list[str]] | None, n: int = 4) -> Path:
    """A tiny CT series (n slices of 24 x 24, HU = stored - 1024), optionally with WindowCenter/Width."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    folder.mkdir(parents=True)
    series = generate_uid()
    rng = np.random.default_rng(1)
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"IM{k}"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), series
        ds.Modality, ds.SeriesDescription, ds.InstanceNumber = "CT", "chest", k + 1
        ds.ImagePositionPatient = [0, 0, 2.0 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.7, 0.7]
        ds.RescaleSlope, ds.RescaleIntercept = "1", "-1024"
        if window is not None:
            ds.WindowCenter, ds.WindowWidth = window
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = 24
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        pixels = rng.integers(0, 1400, (24, 24)).astype(np.uint16)
        ds.PixelData = pixels.astype("<u2").tobytes()
        ds.save_as(str(folder / f"IM{k}"), enforce_file_format=True)
    return folder


# ------------------------------------------------------------------------------------------ reading the screen
def edges(viewer) -> dict[str, str]:
    """The letters shown at the canvas edges ('' where none is shown)."""
    ov = viewer.canvas.overlays
    shown = {e: ov[f"orientation_{e}"] for e in EDGES if f"orientation_{e}" in ov}
    return {e: (shown[e].text if e in shown and shown[e].visible else "") for e in EDGES}


def vertical(viewer) -> str:
    return str(viewer.scene.camera.orientation2d[0])


def marker_rows(viewer) -> tuple[np.ndarray, int]:
    """Canvas rows where the white marker slab is drawn, and the canvas height."""
    shot = screenshot(viewer, canvas_only=True, flash=False)[..., :3].astype(int)
    white = (shot.min(axis=-1) > 200)  # the yellow orientation letters have little blue: not counted
    return np.flatnonzero(white.any(axis=1)), shot.shape[0]


def press(viewer, window: QWidget | None, key: int) -> None:
    """Alt + ``key`` on the viewer's canvas, as a user types it."""
    from qtpy.QtTest import QTest

    main = window if window is not None else next(
        w for w in QApplication.topLevelWidgets() if isinstance(w, QMainWindow) and w.isVisible())
    canvas = next(w for w in main.findChildren(QWidget) if type(w).__name__ == "CanvasBackendDesktop")
    step(f"press Alt-{QKeySequence(key).toString()}")
    QTest.keyClick(canvas, key, Qt.AltModifier)
    QApplication.processEvents()
    check()


def limits(layer) -> tuple[float, float]:
    return tuple(round(float(v), 3) for v in layer.contrast_limits)


# ------------------------------------------------------------------------------------------ orientation
def test_labels_follow_the_view_and_superior_is_up(make_napari_viewer, brain_nifti):
    """No widget at all: opening a NIfTI brain is enough. Axial radiological; coronal and sagittal with the
    head up (checked on the rendered pixels: the slab at the superior end is drawn in the top half)."""
    viewer = make_napari_viewer(show=True)
    open_path(viewer, brain_nifti)
    check()
    layer = viewer.layers["brain_flair"]
    assert edges(viewer) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert vertical(viewer) == "down"

    step("coronal (napari's transpose), reset view")
    viewer.dims.order = (1, 0, 2)  # coronal, as napari's "transpose" does
    viewer.reset_view()
    check()
    assert edges(viewer) == {"top": "S", "bottom": "I", "left": "R", "right": "L"}
    assert vertical(viewer) == "up"
    step("contrast limits on the marker")
    layer.contrast_limits = (MARKER - 1, MARKER)  # only the marker is white
    rows, height = marker_rows(viewer)
    assert rows.size > 5 and rows.max() < height / 2, f"superior slab drawn at rows {rows.min()}..{rows.max()} of {height}"

    step("sagittal, reset view")
    viewer.dims.order = (2, 0, 1)  # sagittal
    viewer.reset_view()
    check()
    assert edges(viewer) == {"top": "S", "bottom": "I", "left": "A", "right": "P"}
    rows, height = marker_rows(viewer)
    assert rows.size > 5 and rows.max() < height / 2

    step("3-D view")
    viewer.dims.ndisplay = 3  # edges mean nothing once the camera rotates
    check()
    assert edges(viewer) == dict.fromkeys(EDGES, "")
    step("2-D axial view")
    viewer.dims.ndisplay = 2
    viewer.dims.order = (0, 1, 2)
    check()
    assert edges(viewer) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}
    assert vertical(viewer) == "down"


def test_view_buttons_with_the_widget_opened_first(make_napari_viewer, qtbot, brain_nifti):
    viewer = make_napari_viewer(show=True)  # shown: a check box is clicked where its text is drawn
    w = open_widget(viewer, WIDGET)
    click(qtbot, button(w, "Coronal"))  # nothing open yet: told what to do, nothing changes
    check()
    assert "open a 3-D medical image first" in w.status.text()
    assert viewer.dims.order == (0, 1) or viewer.dims.order == tuple(range(viewer.dims.ndim))
    assert edges(viewer) == dict.fromkeys(EDGES, "")

    open_path(viewer, brain_nifti)
    check()
    assert edges(viewer)["top"] == "A" and "axial view" in w.layer_label.text()
    click(qtbot, button(w, "Coronal"))
    check()
    assert w.status.text() == ""
    assert edges(viewer) == {"top": "S", "bottom": "I", "left": "R", "right": "L"}
    assert "coronal view" in w.layer_label.text()
    click(qtbot, button(w, "Sagittal"))
    check()
    assert edges(viewer) == {"top": "S", "bottom": "I", "left": "A", "right": "P"}

    # the user turns the automatic orientation off: the camera stays, and the letters tell the truth
    click(qtbot, button(w, "Superior up"))
    check()
    assert not button(w, "Superior up").isChecked()
    click(qtbot, button(w, "Axial"))
    check()
    assert vertical(viewer) == "up"
    assert edges(viewer) == {"top": "P", "bottom": "A", "left": "R", "right": "L"}
    click(qtbot, button(w, "Superior up"))
    check()
    assert vertical(viewer) == "down"
    assert edges(viewer) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}


def test_a_medical_layer_opened_into_a_coronal_view_turns_the_camera(make_napari_viewer, brain_nifti, tmp_path):
    viewer = make_napari_viewer()
    step("a plain array in a coronal view")
    viewer.add_image(np.zeros((4, 5, 6), np.float32), name="plain")  # not medical: no letters
    viewer.dims.order = (1, 0, 2)
    check()
    assert edges(viewer) == dict.fromkeys(EDGES, "")
    open_path(viewer, brain_nifti)
    check()
    assert vertical(viewer) == "up"
    assert edges(viewer) == {"top": "S", "bottom": "I", "left": "R", "right": "L"}
    step("remove the layer")
    viewer.layers.remove("brain_flair")
    check()
    assert edges(viewer) == dict.fromkeys(EDGES, "")
    # an array file says nothing about the patient: no letters, and the camera is left alone
    np.save(tmp_path / "array.npy", np.ones((6, 8, 10), np.float32))
    viewer.scene.camera.orientation2d = ("down", "right")
    open_path(viewer, tmp_path / "array.npy")
    check()
    assert edges(viewer) == dict.fromkeys(EDGES, "")
    assert vertical(viewer) == "down"


# ------------------------------------------------------------------------------------------ windows
def test_dicom_window_then_presets_by_button_and_key(make_napari_viewer, qtbot, tmp_path):
    """DICOM WindowCenter 60\\400, WindowWidth 350\\1800: the first pair is the initial window."""
    series = write_ct_series(tmp_path / "ct", window=(["60", "400"], ["350", "1800"]))
    viewer = make_napari_viewer()
    open_path(viewer, series)
    check()
    ct = viewer.layers[-1]
    assert limits(ct) == (-115.0, 235.0)
    w = open_widget(viewer, WIDGET)  # opened after the data
    step("select the CT layer")
    viewer.layers.selection.active = ct
    check()
    assert "W 350 / L 60" in w.layer_label.text()
    expected = {"Lung": (-1350.0, 150.0), "Bone": (-500.0, 1300.0), "Brain": (0.0, 80.0),
                "Soft tissue": (-160.0, 240.0), "DICOM": (-115.0, 235.0)}
    for text, lim in expected.items():
        click(qtbot, button(w, text, exact=True))
        check()
        assert limits(ct) == lim, text
    assert w.status.text() == "chest: W 350 / L 60 (DICOM)"
    click(qtbot, button(w, "Lung"))
    click(qtbot, button(w, "Auto"))  # back to the window it opened with
    check()
    assert limits(ct) == (-115.0, 235.0)
    # the same from the keyboard (Alt-1 brain, Alt-2 soft tissue, Alt-3 lung, Alt-4 bone, Alt-5 DICOM, Alt-6 auto)
    window = w.window()
    for key, lim in ((Qt.Key_3, (-1350.0, 150.0)), (Qt.Key_4, (-500.0, 1300.0)), (Qt.Key_1, (0.0, 80.0)),
                     (Qt.Key_2, (-160.0, 240.0)), (Qt.Key_5, (-115.0, 235.0))):
        press(viewer, window, key)
        assert limits(ct) == lim
    press(viewer, window, Qt.Key_3)
    assert w.layer_label.text() == "chest: W 1500 / L -600 · axial view"  # the dock follows the keys
    step("contrast limits slider")
    ct.contrast_limits = (-1000, 1000)  # the layer controls' slider
    check()
    assert w.layer_label.text().startswith("chest: W 2000 / L 0")
    press(viewer, window, Qt.Key_6)
    assert limits(ct) == (-115.0, 235.0)
    assert w.status.text() == "chest: W 350 / L 60 (DICOM)"


def test_every_ct_reader_opens_in_soft_tissue_and_mr_in_percentiles(make_napari_viewer, qtbot, tmp_path,
                                                                     brain_nifti):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    series = write_ct_series(tmp_path / "plain", window=None)
    open_path(viewer, series)
    check()
    dicom = viewer.layers[-1]
    assert limits(dicom) == (-160.0, 240.0)
    assert not button(w, "DICOM").isEnabled()  # no window in this series
    # the same CT saved as NIfTI (no modality in the header) opens the same way
    from napari_medai.core.io import read_volume

    write_volume(read_volume(tmp_path / "plain"), tmp_path / "ct.nii.gz")
    open_path(viewer, tmp_path / "ct.nii.gz")
    check()
    assert limits(viewer.layers["ct"]) == (-160.0, 240.0)
    # MR: the 0.5-99.5 percentile of the non-zero voxels
    open_path(viewer, brain_nifti)
    check()
    mr = viewer.layers["brain_flair"]
    data = np.asarray(mr.data)
    lo, hi = mr.contrast_limits
    sample = data[::1, ::1, ::1][data != 0]
    assert lo == pytest.approx(np.percentile(sample, 0.5), rel=0.05)
    assert hi == pytest.approx(np.percentile(sample, 99.5), rel=0.05)
    # Alt-5 (DICOM) on an MR image: told why, nothing changes
    step("select the MR layer")
    viewer.layers.selection.active = mr
    check()
    before = limits(mr)
    press(viewer, w.window(), Qt.Key_5)
    assert "this image has no DICOM window" in w.status.text()
    assert limits(mr) == before
    # nothing selected but a label layer: the buttons say what to select
    step("a labels layer is added")
    viewer.add_labels(np.zeros((2, 3, 3), np.uint8), name="scribble")
    click(qtbot, button(w, "Lung"))
    check()
    assert "select an image layer" in w.status.text()


def test_closing_the_viewer_with_the_dock_open_prints_nothing(make_napari_viewer, qtbot, capfd):
    """Issue 10: "Signal source has been deleted" on closing the viewer. Not from the reader, the samples or
    this dock: closing after a preset, a view change and a key press leaves stderr clean."""
    viewer = make_napari_viewer(show=True)
    open_sample(viewer, "cardiac_ct")
    w = open_widget(viewer, WIDGET)
    step("select the CT layer")
    viewer.layers.selection.active = viewer.layers["ct"]
    click(qtbot, button(w, "Bone"))
    click(qtbot, button(w, "Coronal"))
    press(viewer, w.window(), Qt.Key_3)
    step("close the viewer (File > Close Window)")
    viewer.close()
    for _ in range(20):
        QApplication.processEvents()
    check()
    err = capfd.readouterr().err
    assert "deleted" not in err and "Traceback" not in err, err


# ------------------------------------------------------------------------------------------ hover, folders
def test_hover_shows_the_label_name(make_napari_viewer):
    viewer = make_napari_viewer()
    open_sample(viewer, "brain_tumour")
    check("hover status read from the layer")
    seg = viewer.layers["seg"]
    for value, name in ((2, "ED"), (4, "ET"), (1, "NCR")):
        idx = np.argwhere(np.asarray(seg.data) == value)[0]
        world = seg.data_to_world(idx)
        viewer.dims.set_point(0, world[0])
        status = seg.get_status(world, world=True)
        assert status["value"] == f"{value}; name: {name}"
    idx = np.argwhere(np.asarray(seg.data) == 0)[0]
    world = seg.data_to_world(idx)
    viewer.dims.set_point(0, world[0])
    assert seg.get_status(world, world=True)["value"] == "0; name: background"


def test_bids_folder_says_which_files_to_open(make_napari_viewer, tmp_path):
    ses = tmp_path / "isles" / "rawdata" / "sub-strokecase0009" / "ses-0001"
    ses.mkdir(parents=True)
    for kind in ("adc", "dwi", "flair"):
        (ses / f"sub-strokecase0009_ses-0001_{kind}.nii.gz").write_bytes(b"\0" * 8)
    viewer = make_napari_viewer()
    with pytest.raises(Exception) as err:  # napari wraps the reader's ImageReadError
        open_path(viewer, tmp_path / "isles")
    check()
    text = str(err.value) + str(getattr(err.value, "__cause__", ""))
    assert "this is a BIDS folder; open the NIfTI files inside it, e.g. " in text
    assert "sub-strokecase0009_ses-0001_dwi.nii.gz" in text
    assert len(viewer.layers) == 0


@pytest.mark.realdata
def test_real_isles_case_folder_says_which_files_to_open(make_napari_viewer):
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isles22_case0009"
    if not folder.is_dir():
        pytest.skip(f"real data not found: {folder}")
    viewer = make_napari_viewer()
    with pytest.raises(Exception) as err:  # napari wraps the reader's ImageReadError
        open_path(viewer, folder)
    check()
    text = str(err.value) + str(getattr(err.value, "__cause__", ""))
    assert "this is a BIDS folder; open the NIfTI files inside it, e.g. " in text
    assert "rawdata/sub-strokecase0009/ses-0001/sub-strokecase0009_ses-0001_dwi.nii.gz" in text
    assert len(viewer.layers) == 0


@pytest.mark.realdata
def test_real_jpeg2000_series_opens_in_its_dicom_window(make_napari_viewer):
    folder = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ct_dicom_jpeg2000" / "series"
    if not folder.is_dir():
        pytest.skip(f"real data not found: {folder}")
    from napari_medai.core.display import dicom_window
    from napari_medai.core.io import read_volume

    vol = read_volume(folder)
    viewer = make_napari_viewer()
    open_path(viewer, folder)
    check()
    win = dicom_window(vol.meta)
    want = win.limits if win is not None else (-160.0, 240.0)
    wait_until(lambda: len(viewer.layers) == 1)
    assert limits(viewer.layers[0]) == tuple(round(v, 3) for v in want)
