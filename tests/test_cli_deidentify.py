"""``napari-medai deidentify IN_DIR OUT_DIR [--keep-dates-shifted] [--clean-descriptors] [--key FILE]``."""

from __future__ import annotations

import json
from pathlib import Path

import pydicom

from napari_medai.cli import main
from tests.core.dicom_objects import IDENTIFIERS, phantom_stack, write_ct_series


def _inbox(tmp_path: Path) -> Path:
    write_ct_series(tmp_path / "in" / "ct", phantom_stack((4, 24, 30)))
    return tmp_path / "in"


def test_cli_deidentifies_with_a_key_and_shifted_dates(tmp_path, capsys):
    inbox = _inbox(tmp_path)
    key = tmp_path / "private" / "key.json"
    rc = main(["deidentify", str(inbox), str(tmp_path / "out"), "--keep-dates-shifted", "--key", str(key), "--quiet"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "4 files de-identified (1 patient(s))" in out and "keep it private" in out
    files = sorted((tmp_path / "out").rglob("*.dcm"))
    assert len(files) == 4
    ds = pydicom.dcmread(files[0])
    assert ds.StudyDate != IDENTIFIERS["StudyDate"] and len(ds.StudyDate) == 8
    assert ds.DeidentificationMethodCodeSequence[1].CodeValue == "113107"
    doc = json.loads(key.read_text())
    assert IDENTIFIERS["PatientID"] in doc["patients"]  # the key re-identifies; the output does not
    blob = b"".join(f.read_bytes() for f in (tmp_path / "out").rglob("*") if f.is_file())
    assert IDENTIFIERS["PatientID"].encode() not in blob and IDENTIFIERS["PatientName"].encode() not in blob


def test_cli_refuses_an_output_inside_the_input_in_one_line(tmp_path, capsys):
    inbox = _inbox(tmp_path)
    rc = main(["deidentify", str(inbox), str(inbox / "out")])
    err = capsys.readouterr().err
    assert rc == 2 and "outside the input folder" in err and len(err.strip().splitlines()) == 1
    assert not (inbox / "out").exists()


def test_cli_says_which_images_need_review(tmp_path, capsys):
    write_ct_series(tmp_path / "in" / "ct", phantom_stack((2, 8, 8)), burned_in="YES")
    rc = main(["deidentify", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet"])
    captured = capsys.readouterr()
    assert rc == 0
    assert "2 held back for review" in captured.out
    assert captured.err.count("review:") == 2 and "BurnedInAnnotation" in captured.err
