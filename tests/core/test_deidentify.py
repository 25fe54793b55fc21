"""De-identification (PS3.15 Basic Profile) of files carrying identifiers in 30+ places."""

from __future__ import annotations

import hashlib
from datetime import date
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_medai.core.deidentify import DeidentificationKey, deidentify_folder, profile_action
from napari_medai.core.errors import InvalidInputError
from napari_medai.core.io import read_volume
from napari_medai.core.io.dicom_seg import Algorithm, read_dicom_seg, write_dicom_seg

from .dicom_objects import IDENTIFIERS, SECONDARY_CAPTURE, phantom_stack, write_ct_series

#: Values the identifiers hold in the files (dates, UIDs, names, IDs, private, nested ...).
ORIGINAL = dict(IDENTIFIERS.items())
SOP_UIDS = [f"1.2.826.0.1.3680043.8.498.7780{k:03d}" for k in range(1, 7)]


def _tree_hash(folder: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(folder.rglob("*")):
        h.update(str(p.relative_to(folder)).encode())
        if p.is_file():
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture
def inbox(tmp_path: Path) -> Path:
    write_ct_series(tmp_path / "in" / "patient" / "ct", phantom_stack())
    return tmp_path / "in"


def _all_bytes(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file())


def test_the_table_is_the_standards():
    assert profile_action(0x00100010) == "Z"  # Patient's Name
    assert profile_action(0x00100020) == "Z/D"  # Patient ID
    assert profile_action(0x0020000D) == "U"  # Study Instance UID
    assert profile_action(0x00081155) == "U"  # Referenced SOP Instance UID
    assert profile_action(0x60003000) == "X"  # Overlay Data (60xx range)
    assert profile_action(0x00180050) is None  # Slice Thickness: not an identifier


def test_no_original_identifier_is_left_in_the_output_bytes(inbox, tmp_path):
    assert len(ORIGINAL) + len(SOP_UIDS) >= 20
    before = _tree_hash(inbox)
    res = deidentify_folder(inbox, tmp_path / "out")
    blob = _all_bytes(tmp_path / "out")
    left = [k for k, v in ORIGINAL.items() if v.encode() in blob] + [u for u in SOP_UIDS if u.encode() in blob]
    assert left == []
    assert len(res.written) == 6 and res.flagged == [] and res.n_patients == 1
    assert _tree_hash(inbox) == before  # the input is untouched
    # the output is still a readable series, with the same pixels
    out_series = tmp_path / "out" / res.written[0].split("/")[0]
    vol = read_volume(out_series)
    np.testing.assert_array_equal(vol.data, phantom_stack())


def test_references_resolve_across_files_after_deidentification(inbox, tmp_path):
    res = deidentify_folder(inbox, tmp_path / "out")
    dss = [pydicom.dcmread(tmp_path / "out" / rel) for rel in res.written]
    assert len({d.SeriesInstanceUID for d in dss}) == 1 and len({d.StudyInstanceUID for d in dss}) == 1
    sops = {d.SOPInstanceUID for d in dss}
    assert len(sops) == 6
    for d in dss:
        assert d.file_meta.MediaStorageSOPInstanceUID == d.SOPInstanceUID
        assert d.ReferencedImageSequence[0].ReferencedSOPInstanceUID in sops  # points at a neighbour slice
        assert d.PatientIdentityRemoved == "YES"
        assert d.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
        assert d.PatientName == d.PatientID and str(d.PatientID).startswith("ANON")
        assert not any(e.tag.is_private for e in d.iterall())


def test_report_lists_actions_per_tag_without_values(inbox, tmp_path):
    res = deidentify_folder(inbox, tmp_path / "out")
    text = res.report.read_text()
    assert "PatientName,top level,replaced (pseudonym),6" in text
    assert "ReferencedSOPInstanceUID,/ReferencedImageSequence,UID replaced,6" in text
    assert "removed (private)" in text and "RequestAttributesSequence,top level,removed,6" in text
    for value in [*ORIGINAL.values(), *SOP_UIDS]:
        assert value not in text


def test_same_key_same_uids_so_a_seg_made_later_still_points_right(inbox, tmp_path):
    key = tmp_path / "key.json"
    first = deidentify_folder(inbox, tmp_path / "out1", key_file=key)
    # a SEG made later on the ORIGINAL series, then de-identified with the same key
    ct = read_volume(inbox / "patient" / "ct")
    lab = np.zeros(ct.spatial_shape, np.uint8)
    lab[2:4, 10:13, 12:15] = 1
    seg_dir = tmp_path / "seg_in"
    write_dicom_seg(ct.with_data(lab, is_label=True, label_names={1: "lesion"}), ct, seg_dir / "seg.dcm",
                    algorithm=Algorithm("t", "0"))
    seg_out = deidentify_folder(seg_dir, tmp_path / "seg_out", key_file=key)
    series_out = tmp_path / "out1" / first.written[0].split("/")[0]
    deid_ct = read_volume(series_out)
    back = read_dicom_seg(tmp_path / "seg_out" / seg_out.written[0], series=deid_ct)
    np.testing.assert_array_equal(back.data, lab)  # every referenced instance found in the de-identified series
    # and a second run with the key gives the same UIDs and pseudonym
    second = deidentify_folder(inbox, tmp_path / "out2", key_file=key)
    assert sorted(first.written) == sorted(second.written)
    assert DeidentificationKey.load(key).patients[ORIGINAL["PatientID"]]["pseudonym"].startswith("ANON")


def test_longitudinal_option_shifts_dates_by_one_offset_per_patient(inbox, tmp_path):
    key = tmp_path / "key.json"
    res = deidentify_folder(inbox, tmp_path / "out", shift_dates=True, key_file=key)
    offset = DeidentificationKey.load(key).patients[ORIGINAL["PatientID"]]["date_offset_days"]
    assert -730 <= offset <= -30
    d = pydicom.dcmread(tmp_path / "out" / res.written[0])

    def day(s: str) -> date:
        return date(int(s[:4]), int(s[4:6]), int(s[6:8]))

    assert (day(d.StudyDate) - day(ORIGINAL["StudyDate"])).days == offset
    assert (day(d.SeriesDate) - day(d.StudyDate)).days == 1  # intervals are kept
    assert (day(d.AcquisitionDateTime) - day(ORIGINAL["AcquisitionDateTime"])).days == offset
    assert d.PatientBirthDate == ""  # never shifted: emptied
    assert d.LongitudinalTemporalInformationModified == "MODIFIED"
    blob = _all_bytes(tmp_path / "out")
    dates = [ORIGINAL[k] for k in ("StudyDate", "SeriesDate", "ContentDate", "PatientBirthDate")]
    assert not [v for v in dates if v.encode() in blob]


def test_clean_descriptors_keeps_descriptions_without_identifiers(inbox, tmp_path):
    res = deidentify_folder(inbox, tmp_path / "out", clean_descriptors=True)
    d = pydicom.dcmread(tmp_path / "out" / res.written[0])
    assert d.StudyDescription == "Cardiac CT for"
    assert d.ImageComments == "Seen by Dr"
    assert d.SeriesDescription == "Calcium score 2.5 mm"
    blob = _all_bytes(tmp_path / "out")
    for k in ("PatientName", "PatientID", "PerformingPhysicianName"):
        for part in ORIGINAL[k].split("^"):
            assert part.encode() not in blob


def test_images_that_may_show_identity_are_held_back_for_review(tmp_path):
    write_ct_series(tmp_path / "in" / "ct", phantom_stack((2, 8, 8)))
    write_ct_series(tmp_path / "in" / "burned", phantom_stack((1, 8, 8)), burned_in="YES", series_uid="1.2.3.44",
                    sop_root="1.2.3.44.9")
    write_ct_series(tmp_path / "in" / "sc", phantom_stack((1, 8, 8)), sop_class=SECONDARY_CAPTURE,
                    series_uid="1.2.3.45", modality="OT", sop_root="1.2.3.45.9")
    res = deidentify_folder(tmp_path / "in", tmp_path / "out")
    assert len(res.written) == 2 and len(res.flagged) == 2
    reasons = " ".join(r for _, rs in res.flagged for r in rs)
    assert "BurnedInAnnotation" in reasons and "secondary capture" in reasons
    assert (tmp_path / "out_review" / "review.csv").is_file()
    assert all((tmp_path / "out_review" / rel).is_file() for rel, _ in res.flagged)
    assert not any((tmp_path / "out" / rel).exists() for rel, _ in res.flagged)


def test_missing_uids_are_filled_consistently_per_folder(tmp_path):
    files = write_ct_series(tmp_path / "in" / "ct", phantom_stack((3, 8, 8)))
    for f in files:
        ds = pydicom.dcmread(f)
        ds.StudyInstanceUID = ""
        ds.SeriesInstanceUID = ""
        ds.save_as(f)
    res = deidentify_folder(tmp_path / "in", tmp_path / "out")
    dss = [pydicom.dcmread(tmp_path / "out" / rel) for rel in res.written]
    assert len({d.SeriesInstanceUID for d in dss}) == 1 and dss[0].SeriesInstanceUID.startswith("2.25.")
    assert "filled (was missing)" in res.report.read_text()


def test_bad_folders_and_keys_are_refused(inbox, tmp_path):
    with pytest.raises(InvalidInputError, match="outside the input folder"):
        deidentify_folder(inbox, inbox / "out")
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="not an empty folder"):
        deidentify_folder(inbox, tmp_path / "full")
    with pytest.raises(InvalidInputError, match="keep it outside the output"):
        deidentify_folder(inbox, tmp_path / "out", key_file=tmp_path / "out" / "key.json")
    with pytest.raises(InvalidInputError, match="no such folder"):
        deidentify_folder(tmp_path / "missing", tmp_path / "out")
    assert not (tmp_path / "out").exists()
