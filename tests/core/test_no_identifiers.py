"""The rule: logs, JSON outputs, screenshots and exports never carry patient names, IDs or birth dates.

A DICOM series carrying the patient's name, ID and birth date (``tests/core/dicom_objects.py``), with the
Series Description holding them too (typed by a technologist: the way they most often leak), goes
through the readers and the CLI task commands. None of the values may appear in a Volume's name or
metadata, in any output file's bytes (NIfTI decompressed), or in stdout / stderr. DICOM SEG / SR objects
are left out on purpose: they go back to the PACS of the same hospital and must carry the patient module.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pydicom
import pytest

from napari_medai.cli import main
from napari_medai.core.io import read_volume
from napari_medai.core.io.dicom import list_dicom_series
from napari_medai.core.io.identity import identity_values, series_description, without_identity

from .dicom_objects import IDENTIFIERS, phantom_stack, write_ct_series

#: The values that must never leave: the name whole and in parts, the IDs, the birth date in any form.
NAME = IDENTIFIERS["PatientName"]
SECRETS = [NAME, *NAME.split("^"), IDENTIFIERS["PatientID"], IDENTIFIERS["OtherPatientIDs"],
           IDENTIFIERS["PatientBirthDate"], "1958-04-17", "17.04.1958"]
#: A description as a technologist may type it.
DESCRIPTION = f"CaSc {NAME} {IDENTIFIERS['PatientID']} dob 1958-04-17 3mm"


def _describe(files: list[Path], description: str = DESCRIPTION) -> None:
    for f in files:
        ds = pydicom.dcmread(f)
        ds.SeriesDescription = description
        ds.save_as(f)


def _leaks(blobs: dict[str, bytes]) -> list[str]:
    found = []
    for where, data in blobs.items():
        for secret in SECRETS:
            if secret.lower().encode() in data.lower():
                found.append(f"{secret!r} in {where}")
    return found


def _output_bytes(folder: Path) -> dict[str, bytes]:
    blobs: dict[str, bytes] = {}
    for p in sorted(folder.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            blobs[str(p)] = gzip.decompress(data) if p.name.endswith(".gz") else data
    return blobs


@pytest.fixture(scope="module")
def ct_series(tmp_path_factory) -> Path:
    """A small CT series with two calcium spots, carrying the identifiers (and in its description)."""
    folder = tmp_path_factory.mktemp("patient") / "series"
    _describe(write_ct_series(folder, phantom_stack()))
    return folder


def test_the_phantom_really_carries_the_identifiers(ct_series):
    blobs = {str(p): p.read_bytes() for p in ct_series.iterdir()}
    assert len(_leaks(blobs)) >= len(blobs) * 5  # the test would see a leak: the values are in the input


def test_description_cleaned_of_names_ids_and_birth_dates_only():
    ds = pydicom.Dataset()
    ds.PatientName, ds.PatientID, ds.PatientBirthDate = NAME, IDENTIFIERS["PatientID"], "19580417"
    ds.SeriesDescription = DESCRIPTION
    assert series_description(ds) == "CaSc dob 3mm"
    assert without_identity("Head 2.5 mm arabella, 17/04/1958", ds) == "Head 2.5 mm"  # any case, any date form
    assert without_identity("Arabellas protocol", ds) == "Arabellas protocol"  # whole words only
    assert {"Quixotesmith", "Arabella", "Jane", "MRN7731904", "19580417"} <= set(identity_values(ds))
    nobody = pydicom.Dataset()
    nobody.SeriesDescription = "Calcium score 2.5 mm"
    assert series_description(nobody) == "Calcium score 2.5 mm"
    short = pydicom.Dataset()
    short.PatientID, short.SeriesDescription = "5", "T1 2.5 mm 5 echoes"  # a 1-character ID cuts nothing
    assert series_description(short) == "T1 2.5 mm 5 echoes"


def test_reader_passes_on_no_identifier(ct_series):
    vol = read_volume(ct_series)
    assert vol.name == "CaSc dob 3mm"
    shown = {"name": vol.name.encode(), "meta": repr(vol.meta).encode(), "source": str(vol.source).encode(),
             "series list": repr(list_dicom_series(ct_series)).encode()}
    assert _leaks(shown) == []
    one = read_volume(next(iter(sorted(ct_series.iterdir()))))
    assert _leaks({"file name": one.name.encode(), "file meta": repr(one.meta).encode()}) == []


def test_itk_reader_passes_on_no_patient_tag_of_a_file_converted_from_dicom(ct_series, tmp_path):
    """SimpleITK writes every DICOM attribute of a DICOM image into the NRRD / MetaImage header it converts to."""
    import SimpleITK as sitk

    img = sitk.ReadImage(str(sorted(ct_series.iterdir())[0]))
    for ext in (".nrrd", ".mha"):
        sitk.WriteImage(img, str(tmp_path / f"converted{ext}"))
        assert IDENTIFIERS["PatientID"].encode() in (tmp_path / f"converted{ext}").read_bytes()  # in the header
        vol = read_volume(tmp_path / f"converted{ext}")
        keys = vol.meta["itk"]
        assert keys["0008|0060"].strip() == "CT" and not any(k.startswith("0010|") for k in keys)
        assert _leaks({f"{ext} meta": repr(vol.meta).encode(), f"{ext} name": vol.name.encode()}) == []
        assert keys["0008|103e"] == "CaSc dob 3mm" and keys["0008|1030"] == "Cardiac CT for"  # cleaned, not dropped
        raw = sitk.ImageFileReader()
        raw.SetFileName(str(tmp_path / f"converted{ext}"))
        raw.ReadImageInformation()
        others = {k: raw.GetMetaData(k) for k in raw.GetMetaDataKeys()
                  if not k.startswith("0010|") and k not in ("0008|103e", "0008|1030")}
        assert len(others) > 20 and {k: keys[k] for k in others} == others  # the others as they were


def test_cac_cli_outputs_and_logs_carry_no_identifier(ct_series, tmp_path, capsys):
    from napari_medai.core.io import write_volume

    ct = read_volume(ct_series)
    write_volume(ct.with_data((ct.data >= 130).astype(np.uint8) * 2, is_label=True), tmp_path / "assign.nii.gz")
    out = tmp_path / "out"
    rc = main(["cac", "--ct", str(ct_series), "--assignment", str(tmp_path / "assign.nii.gz"),
               "--json", str(out / "cac.json"), "--csv", str(out / "cac.csv"),
               "--save-assignment", str(out / "assignment.nii.gz")])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    doc = json.loads((out / "cac.json").read_text())
    assert doc["agatston"]["LAD"] > 0 and doc["name"] == "CaSc dob 3mm"  # the run happened, on the cleaned name
    assert sorted(p.name for p in out.iterdir()) == ["assignment.nii.gz", "cac.csv", "cac.json"]
    assert "CAC score CaSc dob 3mm" in printed.out
    assert "'CaSc dob 3mm': slice spacing is 2.5 mm" in printed.err  # a warning that names the series
    blobs = _output_bytes(out)
    blobs.update({"stdout": printed.out.encode(), "stderr": printed.err.encode()})
    assert _leaks(blobs) == []


def test_error_messages_carry_no_identifier(tmp_path, capsys):
    files = write_ct_series(tmp_path / "mr", phantom_stack())
    for f in files:  # not a CT: the refusal names the series
        ds = pydicom.dcmread(f)
        ds.Modality = "MR"
        ds.SeriesDescription = DESCRIPTION
        ds.save_as(f)
    rc = main(["cac", "--ct", str(tmp_path / "mr"), "--json", str(tmp_path / "out.json")])
    printed = capsys.readouterr()
    assert rc == 2 and "modality 'MR'" in printed.err and "CaSc dob 3mm" in printed.err, printed.err
    assert _leaks({"stdout": printed.out.encode(), "stderr": printed.err.encode()}) == []
    assert not (tmp_path / "out.json").exists()


def test_denoise_cli_outputs_and_logs_carry_no_identifier(tmp_path, capsys):
    files = write_ct_series(tmp_path / "ct", phantom_stack((4, 24, 30)))
    _describe(files)
    out = tmp_path / "out"
    rc = main(["denoise", "--ct", str(tmp_path / "ct"), "--method", "gaussian", "--out", str(out / "den.nii.gz"),
               "--json", str(out / "den.json")])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert sorted(p.name for p in out.iterdir()) == ["den.json", "den.nii.gz"]
    blobs = _output_bytes(out)
    blobs.update({"stdout": printed.out.encode(), "stderr": printed.err.encode()})
    assert _leaks(blobs) == []


def test_stroke_cli_outputs_and_logs_carry_no_identifier(tmp_path, capsys):
    from napari_medai.core.phantoms.stroke import stroke_cta_phantom

    cta = stroke_cta_phantom()["cta"]
    o = cta.origin
    files = write_ct_series(tmp_path / "cta", np.clip(cta.data, -1024, 3000).astype(np.int16), spacing=cta.spacing,
                            origin_lps=(o[2], o[1], o[0]))
    _describe(files)
    out = tmp_path / "out"
    rc = main(["stroke", "--cta", str(tmp_path / "cta"), "--out", str(out / "lesions.nii.gz"),
               "--json", str(out / "stroke.json")])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert {"lesions.nii.gz", "stroke.json"} <= {p.name for p in out.iterdir()}
    blobs = _output_bytes(out)
    blobs.update({"stdout": printed.out.encode(), "stderr": printed.err.encode()})
    assert _leaks(blobs) == []
