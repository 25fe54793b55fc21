"""DICOM SR (TID 1500): each task's measurements written, read back, referencing the SEG and the series."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pydicom
import pytest

from napari_medai.cli import main
from napari_medai.core.errors import InvalidInputError
from napari_medai.core.io import read_volume, write_volume
from napari_medai.core.io.dicom_seg import Algorithm, write_dicom_seg
from napari_medai.core.io.dicom_sr import (
    VOLUME,
    MeasurementGroup,
    MeasurementValue,
    brain_tumour_groups,
    cac_groups,
    read_dicom_sr_measurements,
    stroke_groups,
    write_dicom_sr,
)

from .dicom_objects import SERIES_UID, phantom_stack, write_ct_series

ALG = Algorithm("napari-medai test", "0.0", model="phantom-rule")
CAC_CODES = {"LM": 1, "LAD": 2, "LCX": 3, "RCA": 4, "non-coronary": 5}


@pytest.fixture
def series(tmp_path: Path):
    write_ct_series(tmp_path / "series", phantom_stack())
    return read_volume(tmp_path / "series")


def _seg(series, tmp_path, values=(1, 2, 4), names=None, convention="brats2021"):
    lab = np.zeros(series.spatial_shape, np.uint8)
    for i, v in enumerate(values):
        lab[1 + i, 5:8, 5 + 3 * i:8 + 3 * i] = v
    names = names or {1: "NCR/NET", 2: "ED", 4: "ET"}
    labels = series.with_data(lab, is_label=True, label_names=names, meta={"convention": convention})
    return labels, write_dicom_seg(labels, series, tmp_path / "seg.dcm", algorithm=ALG)


def test_brain_tumour_volumes_round_trip_and_reference_the_seg(series, tmp_path):
    _, seg = _seg(series, tmp_path)
    groups = brain_tumour_groups({"WT": 1.5, "TC": 1.0, "ET": 0.25}, {"NCR/NET": 0.1, "ED": 0.2, "ET": 0.3},
                                 {1: "NCR/NET", 2: "ED", 4: "ET"}, convention="brats2021")
    sr = write_dicom_sr(tmp_path / "sr.dcm", seg_path=seg, series=series, groups=groups, algorithm=ALG)
    rows = {(r["group"], r["name"]): r for r in read_dicom_sr_measurements(sr)}
    assert rows[("ET", "Volume")]["value"] == pytest.approx(0.3)
    assert rows[("ET", "Volume")]["segment"] == 3  # label value 4 is segment 3 of the SEG
    assert rows[("ED", "Volume")]["segment"] == 2
    assert rows[("region WT", "Volume")]["value"] == pytest.approx(1.5)
    assert rows[("region WT", "Volume")]["segment"] is None
    ds = pydicom.dcmread(sr)
    seg_uid = str(pydicom.dcmread(seg).SOPInstanceUID)
    evidence = {str(i.ReferencedSOPInstanceUID) for s in ds.CurrentRequestedProcedureEvidenceSequence
                for ser in s.ReferencedSeriesSequence for i in ser.ReferencedSOPSequence}
    assert seg_uid in evidence
    assert {str(s.SeriesInstanceUID) for e in ds.CurrentRequestedProcedureEvidenceSequence
            for s in e.ReferencedSeriesSequence} >= {SERIES_UID}


def test_cac_groups_carry_agatston_volume_and_the_risk_category(series, tmp_path):
    _, seg = _seg(series, tmp_path, values=(2, 4, 5), names={2: "LAD", 4: "RCA", 5: "non-coronary"}, convention="cac")
    result = SimpleNamespace(
        agatston={"total": 112.0, "LM": 0.0, "LAD": 100.0, "LCX": 0.0, "RCA": 12.0},
        volume_mm3={"total": 90.0, "LM": 0.0, "LAD": 80.0, "LCX": 0.0, "RCA": 10.0},
        mass_mg={"total": 0.0, "LM": 0.0, "LAD": 0.0, "LCX": 0.0, "RCA": 0.0},
        non_coronary={"agatston": 7.0, "volume_mm3": 5.0, "mass_mg": 0.0, "lesion_count": 1},
        category="moderate", calibration_factor=None)
    groups = cac_groups(result, codes=CAC_CODES, present={2, 4, 5})
    sr = write_dicom_sr(tmp_path / "sr.dcm", seg_path=seg, series=series, groups=groups, algorithm=ALG, task="cac")
    rows = read_dicom_sr_measurements(sr)
    lad = [r for r in rows if r["group"] == "LAD" and r["name"] == "Calcium score"][0]
    assert lad["value"] == 100.0 and lad["segment"] == 1
    lm = [r for r in rows if r["group"] == "LM" and r["name"] == "Calcium score"][0]
    assert lm["value"] == 0.0 and lm["segment"] is None  # no LM calcium: no segment to reference
    assert [r["value"] for r in rows if r["group"] == "total" and "risk" in r["name"]] == ["moderate"]
    assert not [r for r in rows if r["name"] == "Calcium Mass"]  # uncalibrated mass is not reported in mg
    assert pydicom.dcmread(sr).ContentSequence  # a real report tree


def test_stroke_groups_total_and_separate_lesions(series):
    lab = np.zeros(series.spatial_shape, np.uint8)
    lab[1, 2:4, 2:4] = 1
    lab[3, 8:10, 8:10] = 2
    result = SimpleNamespace(labels=series.with_data(lab, is_label=True), total_volume_ml=0.5,
                             lesions=[SimpleNamespace(id=1, volume_ml=0.2), SimpleNamespace(id=2, volume_ml=0.3)])
    groups = stroke_groups(result)
    assert [(g.tracking_id, g.label_value) for g in groups] == [("lesion 1", 1), ("lesion 2", 2), ("total infarct", None)]
    assert groups[-1].measurements[0].value == 0.5


def test_a_group_for_a_label_without_segment_is_refused(series, tmp_path):
    _, seg = _seg(series, tmp_path)
    bad = [MeasurementGroup("ghost", VOLUME, (MeasurementValue(VOLUME, 1.0, VOLUME),), 9)]
    with pytest.raises(InvalidInputError, match="no segment for label value 9"):
        write_dicom_sr(tmp_path / "sr.dcm", seg_path=seg, series=series, groups=bad, algorithm=ALG)


def test_dciodvfy_finds_no_error_in_a_written_sr(series, tmp_path):
    exe = shutil.which("dciodvfy")
    if exe is None:
        pytest.skip("dciodvfy (Debian package dicom3tools) is not installed; scripts/setup.sh installs it")
    _, seg = _seg(series, tmp_path)
    groups = brain_tumour_groups({"WT": 1.5}, {"ET": 0.3}, {4: "ET"}, convention="brats2021")
    sr = write_dicom_sr(tmp_path / "sr.dcm", seg_path=seg, series=series, groups=groups, algorithm=ALG)
    out = subprocess.run([exe, str(sr)], capture_output=True, text=True, timeout=60)
    text = out.stdout + out.stderr
    assert "Comprehensive3DSR" in text
    assert [ln for ln in text.splitlines() if ln.startswith("Error")] == []


def test_cli_cac_writes_seg_and_sr_for_a_dicom_series(tmp_path, capsys):
    stack = phantom_stack()
    write_ct_series(tmp_path / "series", stack, spacing=(3.0, 0.8, 0.8))
    ct = read_volume(tmp_path / "series")
    assignment = ct.with_data(np.where(stack >= 130, 2, 0).astype(np.uint8), is_label=True)  # all LAD
    write_volume(assignment, tmp_path / "assign.nii.gz")
    rc = main(["cac", "--ct", str(tmp_path / "series"), "--assignment", str(tmp_path / "assign.nii.gz"),
               "--dicom-seg", str(tmp_path / "out" / "seg.dcm"), "--dicom-sr", str(tmp_path / "out" / "sr.dcm")])
    assert rc == 0, capsys.readouterr().err
    seg = read_volume(tmp_path / "out" / "seg.dcm")
    assert seg.label_names == {2: "LAD"}
    rows = read_dicom_sr_measurements(tmp_path / "out" / "sr.dcm")
    lad = [r for r in rows if r["group"] == "LAD" and r["name"] == "Calcium score"][0]
    printed = capsys.readouterr().out
    assert lad["value"] > 0 and "wrote" in printed and str(tmp_path / "out" / "sr.dcm") in printed


def test_cli_refuses_dicom_outputs_for_a_nifti_input_before_any_work(tmp_path, capsys):
    write_volume(read_volume_phantom(tmp_path), tmp_path / "ct.nii.gz")
    rc = main(["cac", "--ct", str(tmp_path / "ct.nii.gz"), "--dicom-seg", str(tmp_path / "seg.dcm")])
    err = capsys.readouterr().err
    assert rc == 2 and "is not a folder of DICOM files" in err and len(err.strip().splitlines()) == 1
    rc = main(["cac", "--ct", str(tmp_path / "ct.nii.gz"), "--dicom-sr", str(tmp_path / "sr.dcm")])
    assert rc == 2 and "--dicom-sr needs --dicom-seg" in capsys.readouterr().err


def read_volume_phantom(tmp_path: Path):
    write_ct_series(tmp_path / "series", phantom_stack())
    return read_volume(tmp_path / "series")


def test_cli_refuses_a_series_without_uids_before_any_work_and_names_the_fix(tmp_path, capsys):
    files = write_ct_series(tmp_path / "series", phantom_stack())
    for f in files:
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID = ""
        ds.save_as(f)
    rc = main(["cac", "--ct", str(tmp_path / "series"), "--dicom-seg", str(tmp_path / "seg.dcm")])
    err = capsys.readouterr().err
    assert rc == 2 and "napari-medai deidentify" in err and "StudyInstanceUID" in err
    assert capsys.readouterr().out == "" and not (tmp_path / "seg.dcm").exists()


def test_cli_stroke_writes_seg_and_sr_for_a_cta_series(tmp_path, capsys):
    from napari_medai.core.phantoms.stroke import stroke_cta_phantom

    cta = stroke_cta_phantom()["cta"]
    o = cta.origin
    write_ct_series(tmp_path / "cta", np.clip(cta.data, -1024, 3000).astype(np.int16), spacing=cta.spacing,
                    origin_lps=(o[2], o[1], o[0]), identifiers=False)
    rc = main(["stroke", "--cta", str(tmp_path / "cta"), "--out", str(tmp_path / "lesions.nii.gz"),
               "--dicom-seg", str(tmp_path / "seg.dcm"), "--dicom-sr", str(tmp_path / "sr.dcm")])
    assert rc == 0, capsys.readouterr().err
    seg = pydicom.dcmread(tmp_path / "seg.dcm")
    assert seg.SegmentSequence[0].SegmentedPropertyTypeCodeSequence[0].CodeMeaning == "Infarct"
    nifti = read_volume(tmp_path / "lesions.nii.gz", as_label=True)
    ml = float((nifti.data > 0).sum()) * nifti.voxel_volume_mm3 / 1000.0
    total = [r for r in read_dicom_sr_measurements(tmp_path / "sr.dcm") if r["group"] == "total infarct"][0]
    assert total["value"] == pytest.approx(ml, rel=1e-6) and total["unit"] == "ml"
