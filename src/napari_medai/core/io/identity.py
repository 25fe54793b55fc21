"""Keep the patient's identity out of what the readers pass on.

The DICOM readers pass on a series' description as the volume's name and in ``meta["dicom"]``; from there
it reaches layer names, printed results, JSON outputs, error messages and screenshots. A description is
typed by people and sometimes holds the patient's name, ID or birth date ("CT head Smith 1234567"), so
:func:`series_description` gives it with those values removed. The patient's name, ID and birth date
themselves are never passed on by the readers. NRRD and MetaImage files converted from DICOM by ITK tools
carry every DICOM attribute as a header key (``0010|0010:=Doe^John``): :func:`without_patient_tags` keeps
the Patient group (0010) out of what the ITK reader passes on, and cleans the other values of them. The files
keep everything: only what napari-medai shows and writes is cleaned.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["identity_values", "series_description", "without_identity", "without_patient_tags"]

#: Person-name attributes whose parts are removed from descriptions.
NAME_KEYWORDS = ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName")
#: Identifier attributes removed whole from descriptions.
ID_KEYWORDS = ("PatientID", "OtherPatientIDs", "PatientBirthDate")


def _values(ds: Any, keyword: str) -> list[str]:
    value = ds.get(keyword, None) if hasattr(ds, "get") else None
    if value is None or value == "":
        return []
    items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def identity_values(ds: Any) -> list[str]:
    """The strings that identify the patient of dataset ``ds``: names whole and their parts (2 characters or
    more), IDs (3 or more) and the birth date (as written, and as YYYY-MM-DD, DD.MM.YYYY and DD/MM/YYYY);
    longest first."""
    out: set[str] = set()
    for kw in NAME_KEYWORDS:
        for v in _values(ds, kw):
            out.add(v)
            out.update(p for p in re.split(r"[\^=,\s]+", v) if len(p) >= 2)
    for kw in ID_KEYWORDS:
        for v in _values(ds, kw):
            if len(v) >= 3:  # a one- or two-character ID would cut numbers out of every description
                out.add(v)
            if kw == "PatientBirthDate" and len(v) == 8 and v.isdigit():
                y, m, d = v[:4], v[4:6], v[6:]
                out.update({f"{y}-{m}-{d}", f"{d}.{m}.{y}", f"{d}/{m}/{y}"})
    return sorted(out, key=len, reverse=True)


def without_identity(text: str, ds: Any) -> str:
    """``text`` with every value of :func:`identity_values` removed (whole words for name parts, any case); a
    text holding none of them comes back as it was (stripped)."""
    out, removed = str(text), 0
    for v in identity_values(ds):
        out, n = re.subn(rf"(?<![0-9A-Za-z]){re.escape(v)}(?![0-9A-Za-z])", "", out, flags=re.IGNORECASE)
        removed += n
    if not removed:
        return out.strip()
    out = re.sub(r"\s*\^+\s*", " ", out)  # what separated the parts of a name
    out = re.sub(r"\s{2,}", " ", out)
    return re.sub(r"^[\s^_,;:-]+|[\s^_,;:-]+$", "", out)


def series_description(ds: Any) -> str:
    """The Series Description of ``ds`` without the patient's name parts, IDs or birth date."""
    return without_identity(str(ds.get("SeriesDescription", "") or ""), ds)


#: ITK header keys (``gggg|eeee``) of the patient's names, IDs and birth date, by their DICOM keyword.
ITK_PATIENT_KEYS = {"PatientName": "0010|0010", "PatientID": "0010|0020", "PatientBirthDate": "0010|0030",
                    "OtherPatientIDs": "0010|1000", "OtherPatientNames": "0010|1001", "PatientBirthName": "0010|1005",
                    "PatientMotherBirthName": "0010|1060"}


def without_patient_tags(keys: dict[str, str]) -> dict[str, str]:
    """ITK header ``keys`` without the DICOM Patient group (``0010|....``: names, IDs, birth date, address,
    ...), and with the patient's names, IDs and birth date removed from the other values."""
    patient = {kw: keys[k] for kw, k in ITK_PATIENT_KEYS.items() if k in keys}
    out = {}
    for k, v in keys.items():
        if k.lower().startswith("0010|"):
            continue
        cleaned = without_identity(v, patient) if patient else v
        out[k] = v if cleaned == v.strip() else cleaned
    return out
