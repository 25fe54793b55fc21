"""DICOM SEG: written on a small phantom CT series (pydicom), read back equal, coded, validated with dciodvfy."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import GeometryMismatchError, InvalidInputError
from napari_medai.core.io import read_volume, write_volume
from napari_medai.core.io.dicom_seg import (
    SEGMENT_CODES,
    Algorithm,
    is_dicom_seg,
    read_dicom_seg,
    segment_code,
    write_dicom_seg,
)
from napari_medai.core.metrics import CONVENTIONS

from .dicom_objects import FRAME_UID, SERIES_UID, phantom_stack, write_ct_series

ALG = Algorithm("napari-medai test", "0.0", model="phantom-rule")


@pytest.fixture
def series(tmp_path: Path):
    write_ct_series(tmp_path / "series", phantom_stack())
    return read_volume(tmp_path / "series")


def _brats_labels(ct):
    lab = np.zeros(ct.spatial_shape, np.uint8)
    lab[2:4, 10:13, 12:15] = 4  # enhancing
    lab[3, 20:23, 25:29] = 2  # oedema
    lab[1, 5:8, 5:8] = 1  # necrosis
    return ct.with_data(lab, is_label=True, label_names={1: "NCR/NET", 2: "ED", 4: "ET"},
                        meta={"convention": "brats2021"})


def test_round_trip_on_the_series_grid_keeps_label_values_and_geometry(series, tmp_path):
    labels = _brats_labels(series)
    path = write_dicom_seg(labels, series, tmp_path / "seg.dcm", algorithm=ALG)
    back = read_dicom_seg(path, series=series)
    assert back.is_label and back.same_grid(series)
    np.testing.assert_array_equal(back.data, labels.data)  # 1, 2, 4 (not renumbered 1, 2, 3)
    assert back.label_names == {1: "NCR/NET", 2: "ED", 4: "ET"}
    assert back.meta["convention"] == "brats2021"
    assert back.meta["dicom_seg"]["ReferencedSeriesInstanceUID"] == SERIES_UID
    assert back.meta["dicom_seg"]["FrameOfReferenceUID"] == FRAME_UID


def test_seg_references_every_source_instance_and_codes_each_segment(series, tmp_path):
    import pydicom

    path = write_dicom_seg(_brats_labels(series), series, tmp_path / "seg.dcm", algorithm=ALG)
    ds = pydicom.dcmread(path)
    refs = {str(r.ReferencedSOPInstanceUID) for r in ds.ReferencedSeriesSequence[0].ReferencedInstanceSequence}
    sources = {str(pydicom.dcmread(f, stop_before_pixels=True).SOPInstanceUID) for f in (tmp_path / "series").iterdir()}
    assert refs == sources
    segs = {int(s.SegmentNumber): s for s in ds.SegmentSequence}
    assert [segs[n].SegmentLabel for n in (1, 2, 3)] == ["NCR/NET", "ED", "ET"]
    assert segs[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == "6574001"  # necrosis
    assert segs[2].SegmentedPropertyTypeCodeSequence[0].CodeValue == "79654002"  # oedema
    assert segs[3].SegmentedPropertyTypeCodeSequence[0].CodeValue == "108369006"  # neoplasm
    assert segs[3].SegmentAlgorithmName == "napari-medai test"
    assert segs[3].SegmentAlgorithmType == "AUTOMATIC"
    assert ds.StudyInstanceUID == series.meta["dicom"]["StudyInstanceUID"]
    assert ds.FrameOfReferenceUID == FRAME_UID


def test_read_without_series_overlays_the_series_in_world_coordinates(series, tmp_path):
    labels = _brats_labels(series)
    back = read_dicom_seg(write_dicom_seg(labels, series, tmp_path / "seg.dcm", algorithm=ALG))
    idx = np.argwhere(back.data > 0)
    on_series = np.rint(series.world_to_index(back.index_to_world(idx))).astype(int)
    np.testing.assert_array_equal(labels.data[tuple(on_series.T)], back.data[tuple(idx.T)])
    assert int((back.data > 0).sum()) == int((labels.data > 0).sum())


def test_read_volume_opens_a_seg_file_as_labels(series, tmp_path):
    path = write_dicom_seg(_brats_labels(series), series, tmp_path / "seg.dcm", algorithm=ALG)
    assert is_dicom_seg(path) and not is_dicom_seg(next((tmp_path / "series").iterdir()))
    vol = read_volume(path)
    assert vol.is_label and vol.label_names == {1: "NCR/NET", 2: "ED", 4: "ET"}


def test_labels_off_the_series_grid_are_refused_in_one_line(series, tmp_path):
    labels = _brats_labels(series)
    shifted = labels.with_data(labels.data, origin=(labels.origin[0] + 5.0, *labels.origin[1:]))
    with pytest.raises(GeometryMismatchError, match="not on the grid of the DICOM series") as err:
        write_dicom_seg(shifted, series, tmp_path / "seg.dcm", algorithm=ALG)
    assert "\n" not in str(err.value) and not (tmp_path / "seg.dcm").exists()


def test_empty_labels_and_non_dicom_images_are_refused(series, tmp_path):
    empty = series.with_data(np.zeros(series.spatial_shape, np.uint8), is_label=True)
    with pytest.raises(InvalidInputError, match="empty"):
        write_dicom_seg(empty, series, tmp_path / "seg.dcm", algorithm=ALG)
    nifti = write_volume(series, tmp_path / "ct.nii.gz")
    ct = read_volume(nifti)
    with pytest.raises(InvalidInputError, match="not a folder of DICOM files"):
        write_dicom_seg(_brats_labels(ct), ct, tmp_path / "seg.dcm", algorithm=ALG)


def test_series_without_uids_is_refused_with_the_fix(tmp_path):
    import pydicom

    files = write_ct_series(tmp_path / "series", phantom_stack())
    for f in files:
        ds = pydicom.dcmread(f)
        ds.SeriesInstanceUID = ""
        ds.save_as(f)
    ct = read_volume(tmp_path / "series")
    with pytest.raises(InvalidInputError, match="napari-medai deidentify"):
        write_dicom_seg(_brats_labels(ct), ct, tmp_path / "seg.dcm", algorithm=ALG)


def test_every_convention_label_has_a_code():
    for name, conv in CONVENTIONS.items():
        assert name in SEGMENT_CODES
        for label in conv.labels.values():
            assert label in SEGMENT_CODES[name], (name, label)
    assert segment_code("isles", "lesion 3").type.meaning == "Infarct"
    assert segment_code("cac", "LAD").region.meaning.startswith("Anterior Descending")
    assert segment_code(None, "something else").type.meaning == "Lesion"


def test_dciodvfy_finds_no_error_in_a_written_seg(series, tmp_path):
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed; scripts/setup.sh installs it")
    path = write_dicom_seg(_brats_labels(series), series, tmp_path / "seg.dcm", algorithm=ALG)
    out = subprocess.run([exe, str(path)], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert "Segmentation" in text
    assert [ln for ln in text.splitlines() if ln.startswith("Error")] == []
