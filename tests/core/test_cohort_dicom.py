"""Batch runs write DICOM SEG / SR for the cases whose CT is a DICOM series (``napari-medai batch cac --dicom-results``)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_medai.cli import main
from napari_medai.core.cohort import CASE_RECORD, case_key, execute_case, get_adapter
from napari_medai.core.io import read_volume, write_volume
from napari_medai.core.io.dicom_seg import is_dicom_seg, read_dicom_seg
from napari_medai.core.io.dicom_sr import read_dicom_sr_measurements
from napari_medai.core.tasks.cac import CODES

from .dicom_objects import SERIES_UID, write_ct_series


@pytest.fixture
def cohort(tmp_path: Path) -> Path:
    """The cardiac CT phantom as a DICOM CT series folder (one case) and as a NIfTI file (another)."""
    from napari_medai.core.phantoms.cardiac_ct import cardiac_ct_phantom

    ct = cardiac_ct_phantom(seed=0)["ct"]
    o = ct.origin
    folder = tmp_path / "cohort"
    write_ct_series(folder / "heart", np.asarray(ct.data, np.int16), spacing=ct.spacing,
                    origin_lps=(o[2], o[1], o[0]), identifiers=False)
    write_volume(read_volume(folder / "heart"), folder / "plain.nii.gz")
    return folder


def test_a_dicom_case_without_calcium_gets_a_note_not_a_failure(tmp_path):
    from napari_medai.core.phantoms.cardiac_ct import cardiac_ct_phantom

    ct = cardiac_ct_phantom(seed=0)["ct"]
    o = ct.origin
    write_ct_series(tmp_path / "cohort" / "clean", np.minimum(np.asarray(ct.data, np.int16), 100), spacing=ct.spacing,
                    origin_lps=(o[2], o[1], o[0]), identifiers=False)
    adapter = get_adapter("cac")
    opts = adapter.check_options({"dicom": True})
    (case,) = adapter.find(tmp_path / "cohort", opts)
    rec = execute_case(adapter, case, str(tmp_path / "out" / "clean"), None, opts, "k")
    assert rec["status"] == "done", rec["reason"]
    assert rec["figures"]["agatston_total"] == 0 and "dicom_seg" not in rec["outputs"]
    assert [n for n in rec["notes"] if n.startswith("dicom:")] == [
        "dicom: no calcium at or above 130 HU in clean; no DICOM SEG/SR written (a DICOM SEG needs at least one segment)"]
    assert not list((tmp_path / "out" / "clean").glob("*.dcm"))


def test_dicom_case_gets_seg_and_sr_and_nifti_case_a_note(cohort, tmp_path):
    adapter = get_adapter("cac")
    opts = adapter.check_options({"dicom": True})
    cases = {c.name: c for c in adapter.find(cohort, opts)}
    assert sorted(cases) == ["heart", "plain"]

    rec = execute_case(adapter, cases["heart"], str(tmp_path / "out" / "heart"), None, opts, "k1")
    assert rec["status"] == "done", rec["reason"]
    assert rec["outputs"]["dicom_seg"] == "heart_seg.dcm" and rec["outputs"]["dicom_sr"] == "heart_sr.dcm"
    seg_path = tmp_path / "out" / "heart" / "heart_seg.dcm"
    assert is_dicom_seg(seg_path)
    seg = read_dicom_seg(seg_path, series=read_volume(cohort / "heart"))
    # the SEG holds the scored calcium (>= 130 HU) of the automatic assignment, on the series' grid
    assignment = read_volume(tmp_path / "out" / "heart" / "heart_assignment.nii.gz", as_label=True)
    expected = np.asarray(assignment.data) * (np.asarray(read_volume(cohort / "heart").data) >= 130)
    assert np.array_equal(np.asarray(seg.data), expected) and expected.any()
    names = {v: k for k, v in CODES.items()}
    assert seg.label_names == {int(v): names[int(v)] for v in np.unique(expected) if v}
    assert pydicom.dcmread(seg_path, stop_before_pixels=True).ReferencedSeriesSequence[0].SeriesInstanceUID == SERIES_UID
    rows = read_dicom_sr_measurements(tmp_path / "out" / "heart" / "heart_sr.dcm")
    total = [r for r in rows if r["group"] == "total" and r["name"] == "Calcium score"]
    assert len(total) == 1 and total[0]["value"] == pytest.approx(rec["figures"]["agatston_total"])
    assert not any(n.startswith("dicom:") for n in rec["notes"])

    plain = execute_case(adapter, cases["plain"], str(tmp_path / "out" / "plain"), None, opts, "k2")
    assert plain["status"] == "done", plain["reason"]
    assert "dicom_seg" not in plain["outputs"] and "dicom_sr" not in plain["outputs"]
    notes = [n for n in plain["notes"] if n.startswith("dicom:")]
    assert len(notes) == 1 and "plain.nii.gz is not a DICOM series folder" in notes[0]
    assert json.loads((tmp_path / "out" / "plain" / CASE_RECORD).read_text())["notes"] == plain["notes"]
    assert plain["figures"]["agatston_total"] == pytest.approx(rec["figures"]["agatston_total"])
    assert not list((tmp_path / "out" / "plain").glob("*.dcm"))


def test_the_option_is_part_of_the_case_key_and_off_by_default(cohort, tmp_path):
    adapter = get_adapter("cac")
    case = next(c for c in adapter.find(cohort, {}) if c.name == "heart")
    off, on = adapter.check_options({}), adapter.check_options({"dicom": True})
    assert off["dicom"] is False
    assert case_key("cac", adapter.version, case, options=off) != case_key("cac", adapter.version, case, options=on)
    rec = execute_case(adapter, case, str(tmp_path / "out" / "heart"), None, off, "k")
    assert rec["status"] == "done" and "dicom_seg" not in rec["outputs"]
    assert not list((tmp_path / "out" / "heart").glob("*.dcm"))


def test_batch_flag_is_refused_for_a_task_without_dicom_results(cohort, tmp_path, capsys):
    rc = main(["batch", "denoise", "--cohort", str(cohort), "--out", str(tmp_path / "out"), "--dicom-results"])
    assert rc == 2 and "--dicom-results does not apply to task 'denoise'; it applies to: cac" in capsys.readouterr().err
    rc = main(["batch", "cac", "--cohort", str(cohort), "--out", str(tmp_path / "out"), "--dicom-results",
               "--option", "dicom=false"])
    assert rc == 2 and "--dicom-results and --option dicom=... both given" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
