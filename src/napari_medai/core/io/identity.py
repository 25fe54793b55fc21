"""Keep the patient's identity out of what the readers pass on.

The DICOM readers pass on a series' description as the volume's name and in ``meta["dicom"]``; from there
it reaches layer names, printed results, JSON outputs, error messages and screenshots. A description is
typed by people and sometimes holds the patient's name, ID or birth date ("CT head Smith 1234567"), so
:func:`series_description` gives it with those values removed. The patient's name, ID and birth date
themselves are never passed on by the readers. The files keep everything: only what napari-medai shows and
writes is cleaned.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["identity_values", "series_description", "without_identity"]

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
    """``text`` with every value of :func:`identity_values` removed (whole words for name parts, any case)."""
    out = str(text)
    values = identity_values(ds)
    if not values:
        return out.strip()
    for v in values:
        out = re.sub(rf"(?<![0-9A-Za-z]){re.escape(v)}(?![0-9A-Za-z])", "", out, flags=re.IGNORECASE)
    out = re.sub(r"\s*\^+\s*", " ", out)  # what separated the parts of a name
    out = re.sub(r"\s{2,}", " ", out)
    return re.sub(r"^[\s^_,;:-]+|[\s^_,;:-]+$", "", out)


def series_description(ds: Any) -> str:
    """The Series Description of ``ds`` without the patient's name parts, IDs or birth date."""
    return without_identity(str(ds.get("SeriesDescription", "") or ""), ds)
