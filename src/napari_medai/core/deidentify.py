"""De-identification of a DICOM folder: the DICOM PS3.15 Basic Application Level Confidentiality Profile.

What is applied (see ``docs/deidentification.md`` for the full account and its limits):

* **The standard's table.** The action of every attribute comes from PS3.15 Table E.1-1 (edition
  2026c) as shipped by the maintained ``dicom-anonymizer`` package (KitwareMedical; pinned, only its
  table is used). ``X`` removes, ``Z`` empties, ``D`` replaces with a dummy of the same VR, ``U``
  replaces a UID, ``K`` keeps; a compound action (``X/Z/D``) takes its last choice (a dummy keeps
  type 1 and 2 attributes present, so the object stays valid); a sequence is removed when ``X`` is
  among its choices, except ``X/Z/U*`` (references to other images), which is kept with its UIDs
  replaced, so references still resolve. Patient Name and Patient ID get the patient's pseudonym.
* **Every element, at every depth**: sequences are walked item by item and the table applies
  inside them; all private attributes (and their creators) are removed, at every depth; curves
  and overlays (groups 50xx/60xx) are removed.
* **UIDs** are replaced by ``2.25.<digits>`` derived from the original UID and a secret key, so one
  UID maps to one new UID in every file, every run with the same key: series, references between
  files and a DICOM SEG / SR made later on the original images still resolve after de-identifying
  them with the same key. A Study / Series / SOP Instance UID that is missing (removed by an earlier
  anonymisation) is filled from the key and the file's folder, so the output is referenceable.
* **Dates**: without options every date and date-time (listed or not) is emptied or replaced by a
  dummy. With *Retain Longitudinal Temporal Information with Modified Dates* they are shifted by
  one offset per patient (whole days, 30-730 days back, from the key and the Patient ID), so
  intervals between a patient's studies are kept; times of day are kept.
* **Clean Descriptors**: descriptions and comments (Study / Series Description, Image Comments, ...)
  are kept with the patient's names, IDs, birth date, accession number, institution and staff
  names and every run of 5 or more digits removed, instead of being removed whole.
* **Images that may show identity in their pixels** (Burned In Annotation YES, Recognizable Visual
  Features YES, ultrasound, secondary capture) are not written to the output: their de-identified
  copies go to a separate review folder, listed with the reasons, for a person to check.
* The input is never modified; output files are written atomically as
  ``OUT/<new Series Instance UID>/<new SOP Instance UID>.dcm``; a CSV report lists, per attribute
  and action, how many elements were removed or changed, never their values.

The key file (JSON) holds the secret, each patient's pseudonym and date offset and the UID map: it
re-identifies the data, so it must stay inside the hospital (it is refused inside the output folder).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import hmac
import io
import json
import os
import re
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from .callbacks import Cancelled
from .errors import InvalidInputError
from .io.atomic import atomic_path, atomic_write

__all__ = [
    "CLEAN_DESCRIPTORS",
    "PROFILE_EDITION",
    "DeidentificationKey",
    "DeidentificationResult",
    "deidentify_folder",
    "profile_action",
]

#: The PS3.15 edition of the table used.
PROFILE_EDITION = "dicomfields_2026c"

#: Attributes of Table E.1-1 whose "Clean Descriptors Option" column says C (cleaned, not removed).
CLEAN_DESCRIPTORS = frozenset({
    "AcquisitionComments", "AcquisitionDeviceProcessingDescription", "AcquisitionFieldOfViewLabel",
    "AcquisitionProtocolDescription", "AdditionalPatientHistory", "AdmittingDiagnosesDescription",
    "Allergies", "BeamDescription", "BolusDescription", "ClinicalTrialSeriesDescription",
    "ClinicalTrialTimePointDescription", "CommentsOnRadiationDose", "CommentsOnThePerformedProcedureStep",
    "CompensatorDescription", "ContrastBolusAgent", "ContributionDescription", "DecompositionDescription",
    "DerivationDescription", "DeviceSettingDescription", "DischargeDiagnosisDescription",
    "DoseReferenceDescription", "FractionGroupDescription", "IdentifyingComments", "ImageComments",
    "ImagePresentationComments", "ImagingServiceRequestComments", "InterpretationDiagnosisDescription",
    "InterpretationText", "MedicalAlerts", "Occupation", "PatientComments", "PatientState",
    "PerformedProcedureStepDescription", "PrescriptionDescription", "ProtocolName",
    "ReasonForTheImagingServiceRequest", "ReasonForStudy", "RequestedContrastAgent",
    "RequestedProcedureComments", "RequestedProcedureDescription", "RespiratoryMotionCompensationTechniqueDescription",
    "ResultsComments", "RTPlanDescription", "ScheduledProcedureStepDescription", "SeriesDescription",
    "ServiceEpisodeDescription", "SetupTechniqueDescription", "SlideIdentifier", "SpecialNeeds",
    "StudyComments", "StudyDescription", "TextComments", "TextString", "TreatmentSite", "VisitComments",
})

_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
_ULTRASOUND = ("1.2.840.10008.5.1.4.1.1.6", "1.2.840.10008.5.1.4.1.1.3.1")
_DICOMDIR = "1.2.840.10008.1.3.10"
_DATE_VRS = ("DA", "DT")
_TEXT_VRS = ("LO", "SH", "ST", "LT", "UT", "UC", "PN", "CS", "AE")
_DUMMY_TEXT = "ANONYMIZED"
_DIGITS = re.compile(r"\d{5,}")
#: Dates that are not shifted but emptied even with the longitudinal option (the standard keeps the
#: birth date only under Retain Patient Characteristics, which is not offered).
_NEVER_SHIFTED = frozenset({"PatientBirthDate"})

Action = str  # one of "X", "Z", "D", "U", "K"


# ----------------------------------------------------------------------------- the table
def _load_table() -> tuple[dict[int, str], list[tuple[int, int, str]]]:
    """``{tag: action string}`` and masked ranges ``(value, mask, action)`` of Table E.1-1."""
    from dicomanonymizer.dicomfields_selector import dicom_anonymization_database_selector

    db = dicom_anonymization_database_selector(PROFILE_EDITION)
    names = {"D_TAGS": "D", "Z_TAGS": "Z", "X_TAGS": "X", "U_TAGS": "U", "Z_D_TAGS": "Z/D", "X_Z_TAGS": "X/Z",
             "X_D_TAGS": "X/D", "X_Z_D_TAGS": "X/Z/D", "X_Z_U_STAR_TAGS": "X/Z/U*"}
    exact: dict[int, str] = {}
    ranges: list[tuple[int, int, str]] = []
    for cat, action in names.items():
        for t in db[cat]:
            if len(t) == 2:
                exact[(t[0] << 16) | t[1]] = action
            else:
                value = (t[0] << 16) | t[1]
                mask = (t[2] << 16) | t[3]
                ranges.append((value, mask, action))
    return exact, ranges


_TABLE: tuple[dict[int, str], list[tuple[int, int, str]]] | None = None


def profile_action(tag: int) -> str | None:
    """The Table E.1-1 action string of ``tag`` (``"X"``, ``"Z/D"``, ``"X/Z/U*"``, ...), None when not listed."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _load_table()
    exact, ranges = _TABLE
    if tag in exact:
        return exact[tag]
    for value, mask, action in ranges:
        if (tag & mask) == value:
            return action
    return None


def _choose(action: str, is_sequence: bool) -> Action:
    """One action out of a compound one (see the module docstring)."""
    options = [a.rstrip("*") for a in action.split("/")]
    if is_sequence:
        if "U" in options:  # X/Z/U*: keep the references, with their UIDs replaced
            return "K"
        if "X" in options:
            return "X"
        return "K"  # D / Z on a sequence: walk its items with the table
    if "U" in options:
        return "U"
    return options[-1]


# ----------------------------------------------------------------------------- the key
@dataclass
class DeidentificationKey:
    """The secret that makes the pseudonyms, UIDs and date offsets, and what they replaced.

    Keep it inside the hospital: with it the output can be re-identified.
    """

    secret: str
    patients: dict[str, dict[str, Any]] = field(default_factory=dict)
    uids: dict[str, str] = field(default_factory=dict)

    @classmethod
    def new(cls) -> DeidentificationKey:
        return cls(secret=secrets.token_hex(32))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> DeidentificationKey:
        p = Path(path)
        try:
            doc = json.loads(p.read_text())
            return cls(secret=str(doc["secret"]), patients=dict(doc.get("patients", {})), uids=dict(doc.get("uids", {})))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InvalidInputError(f"{p}: not a napari-medai de-identification key ({exc}); give the key file "
                                    "written by an earlier run, or a new file name to create one") from exc

    def save(self, path: str | os.PathLike[str]) -> Path:
        doc = {"format": "napari-medai deidentification key", "warning": "re-identifies the data: keep it private",
               "secret": self.secret, "patients": self.patients, "uids": self.uids}
        return atomic_write(path, lambda tmp: tmp.write_text(json.dumps(doc, indent=1, sort_keys=True)), suffix=".tmp.json")

    def _digest(self, *parts: str) -> bytes:
        return hmac.new(bytes.fromhex(self.secret), "\x1f".join(parts).encode(), hashlib.sha256).digest()

    def uid(self, old: str) -> str:
        """The new UID of ``old`` (the same for every file and run with this key)."""
        old = str(old).strip()
        if old not in self.uids:
            self.uids[old] = f"2.25.{int.from_bytes(self._digest('uid', old)[:16], 'big')}"
        return self.uids[old]

    def filled_uid(self, kind: str, where: str) -> str:
        """A UID for a missing Study / Series / SOP Instance UID of the files in ``where``."""
        return f"2.25.{int.from_bytes(self._digest('fill', kind, where)[:16], 'big')}"

    def patient(self, patient_id: str) -> dict[str, Any]:
        """``{"pseudonym": ..., "date_offset_days": ...}`` of a patient (by original Patient ID)."""
        if patient_id not in self.patients:
            d = self._digest("patient", patient_id)
            self.patients[patient_id] = {
                "pseudonym": "ANON" + d[:5].hex().upper(),
                "date_offset_days": -(30 + int.from_bytes(d[8:12], "big") % 701),
            }
        return self.patients[patient_id]


# ----------------------------------------------------------------------------- one dataset
@dataclass
class _Context:
    key: DeidentificationKey
    patient: dict[str, Any]
    shift_dates: bool
    clean_descriptors: bool
    identifiers: list[str]
    counts: Counter = field(default_factory=Counter)


def _shift_date(value: str, days: int) -> str:
    v = value.strip()
    if len(v) < 8 or not v[:8].isdigit():
        return ""
    try:
        d = date(int(v[:4]), int(v[4:6]), int(v[6:8])) + timedelta(days=days)
    except ValueError:
        return ""
    return d.strftime("%Y%m%d") + v[8:]


def _dummy(vr: str) -> Any:
    if vr in _TEXT_VRS:
        return _DUMMY_TEXT
    return {"DA": "19000101", "TM": "000000", "DT": "19000101000000", "AS": "000Y", "DS": "0", "IS": "0",
            "US": 0, "SS": 0, "UL": 0, "SL": 0, "FL": 0.0, "FD": 0.0}.get(vr)


def _identifying_strings(ds: Any) -> list[str]:
    """Values of the dataset that identify the patient or the staff (for Clean Descriptors)."""
    out: set[str] = set()
    for kw in ("PatientName", "OtherPatientNames", "PatientBirthName", "PatientMotherBirthName",
               "ReferringPhysicianName", "PerformingPhysicianName", "OperatorsName", "PhysiciansOfRecord",
               "NameOfPhysiciansReadingStudy", "RequestingPhysician"):
        for v in _values(ds.data_element(kw) if kw in ds else None):
            out.update(p for p in re.split(r"[\^ =,]+", str(v)) if len(p) >= 3)
    for kw in ("PatientID", "OtherPatientIDs", "AccessionNumber", "StudyID", "PatientBirthDate",
               "InstitutionName", "InstitutionAddress", "PatientAddress", "StationName", "MedicalRecordLocator"):
        for v in _values(ds.data_element(kw) if kw in ds else None):
            s = str(v).strip()
            if len(s) >= 3:
                out.add(s)
    return sorted(out, key=len, reverse=True)


def _values(elem: Any) -> list[Any]:
    if elem is None or elem.value is None or elem.value == "":
        return []
    v = elem.value
    return list(v) if isinstance(v, (list, tuple)) or type(v).__name__ == "MultiValue" else [v]


def _clean_text(text: str, identifiers: list[str]) -> str:
    out = text
    for ident in identifiers:
        out = re.sub(re.escape(ident), "", out, flags=re.IGNORECASE)
    out = _DIGITS.sub("", out)
    return re.sub(r"\s{2,}", " ", out).strip()


def _note(ctx: _Context, elem: Any, where: str, action: str) -> None:
    ctx.counts[(f"({elem.tag.group:04X},{elem.tag.element:04X})", elem.keyword or "private", where or "top level", action)] += 1


def _process(ds: Any, ctx: _Context, where: str) -> None:
    """Apply the profile to every element of ``ds`` (in place), recursing into sequences."""
    for tag in list(ds.keys()):
        elem = ds[tag]
        if elem.tag.is_private:
            del ds[tag]
            _note(ctx, elem, where, "removed (private)")
            continue
        is_seq = elem.VR == "SQ"
        listed = profile_action(int(elem.tag))
        keyword = elem.keyword
        if ctx.clean_descriptors and keyword in CLEAN_DESCRIPTORS and not is_seq:
            old = [str(v) for v in _values(elem)]
            new = [_clean_text(v, ctx.identifiers) for v in old]
            if new != old:
                elem.value = new if len(new) > 1 else (new[0] if new else "")
                _note(ctx, elem, where, "cleaned (Clean Descriptors)")
            continue
        if elem.VR in _DATE_VRS and not is_seq:
            if listed is not None and _choose(listed, False) == "K":
                continue
            if ctx.shift_dates and keyword not in _NEVER_SHIFTED:
                days = int(ctx.patient["date_offset_days"])
                shifted = [_shift_date(str(v), days) for v in _values(elem)]
                if shifted:
                    elem.value = shifted if len(shifted) > 1 else shifted[0]
                    _note(ctx, elem, where, "date shifted (Retain Longitudinal, Modified Dates)")
                continue
            if listed is None:  # a date the table does not list: replaced all the same
                if _values(elem):
                    elem.value = _dummy(elem.VR)
                    _note(ctx, elem, where, "replaced (date not in the table)")
                continue
        if listed is None:
            if is_seq:
                for item in elem.value:
                    _process(item, ctx, f"{where}/{keyword or 'sequence'}")
            continue
        if keyword == "PatientID" or keyword == "PatientName":
            elem.value = ctx.patient["pseudonym"]
            _note(ctx, elem, where, "replaced (pseudonym)")
            continue
        action = _choose(listed, is_seq)
        if ctx.shift_dates and elem.VR == "TM":
            continue  # with whole-day date shifts the time of day is kept
        if action == "X":
            del ds[tag]
            _note(ctx, elem, where, "removed")
        elif action == "K":
            if is_seq:
                for item in elem.value:
                    _process(item, ctx, f"{where}/{keyword or 'sequence'}")
        elif action == "U":
            if elem.VR != "UI":
                del ds[tag]
                _note(ctx, elem, where, "removed")
                continue
            vals = [ctx.key.uid(str(v)) for v in _values(elem)]
            if vals:
                elem.value = vals if len(vals) > 1 else vals[0]
                _note(ctx, elem, where, "UID replaced")
        elif action == "Z":
            if _values(elem):
                elem.value = "" if elem.VR in _TEXT_VRS or elem.VR in ("DA", "TM", "DT", "AS", "DS", "IS", "UI") else None
                _note(ctx, elem, where, "emptied")
        else:  # D
            dummy = _dummy(elem.VR)
            if dummy is None:
                del ds[tag]
                _note(ctx, elem, where, "removed")
            elif _values(elem):
                elem.value = dummy
                _note(ctx, elem, where, "replaced (dummy)")


def _review_reasons(ds: Any) -> list[str]:
    reasons = []
    if str(ds.get("BurnedInAnnotation", "") or "").strip().upper() in ("YES", "Y"):
        reasons.append("BurnedInAnnotation YES: identifiers may be burned into the pixels")
    if str(ds.get("RecognizableVisualFeatures", "") or "").strip().upper() in ("YES", "Y"):
        reasons.append("RecognizableVisualFeatures YES")
    sop = str(ds.get("SOPClassUID", "") or getattr(ds, "file_meta", {}).get("MediaStorageSOPClassUID", "") or "")
    def of_class(prefixes: tuple[str, ...]) -> bool:
        return any(sop == p or sop.startswith(p + ".") for p in prefixes)

    if str(ds.get("Modality", "") or "") == "US" or of_class(_ULTRASOUND):
        reasons.append("ultrasound: text is often burned into the image")
    if of_class((_SECONDARY_CAPTURE,)):
        reasons.append("secondary capture: a screenshot may show identifiers")
    return reasons


def _fill_missing_uids(ds: Any, key: DeidentificationKey, folder: str, rel: str, ctx: _Context) -> None:
    meta = getattr(ds, "file_meta", None)
    if not str(ds.get("SOPInstanceUID", "") or "") and meta is not None and str(meta.get("MediaStorageSOPInstanceUID", "") or ""):
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    if not str(ds.get("SOPClassUID", "") or "") and meta is not None and str(meta.get("MediaStorageSOPClassUID", "") or ""):
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
    for kw, kind, where in (("StudyInstanceUID", "study", folder), ("SeriesInstanceUID", "series", folder),
                            ("SOPInstanceUID", "sop", rel)):
        if not str(ds.get(kw, "") or ""):
            setattr(ds, kw, key.filled_uid(kind, where))
            ctx.counts[(f"({ds.data_element(kw).tag.group:04X},{ds.data_element(kw).tag.element:04X})", kw, "top level",
                        "filled (was missing)")] += 1


def _mark(ds: Any, *, shift_dates: bool, clean_descriptors: bool) -> None:
    from pydicom.dataset import Dataset

    ds.PatientIdentityRemoved = "YES"
    ds.LongitudinalTemporalInformationModified = "MODIFIED" if shift_dates else "REMOVED"
    methods = [("113100", "Basic Application Confidentiality Profile")]
    text = ["DICOM PS3.15 Basic Application Level Confidentiality Profile"]
    if shift_dates:
        methods.append(("113107", "Retain Longitudinal Temporal Information Modified Dates Option"))
        text.append("Retain Longitudinal Temporal Information with Modified Dates")
    if clean_descriptors:
        methods.append(("113105", "Clean Descriptors Option"))
        text.append("Clean Descriptors")
    items = []
    for value, meaning in methods:
        item = Dataset()
        item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, "DCM", meaning
        items.append(item)
    ds.DeidentificationMethodCodeSequence = items
    ds.DeidentificationMethod = ("napari-medai: " + "; ".join(text))[:64]


# ----------------------------------------------------------------------------- a folder
@dataclass
class DeidentificationResult:
    """What :func:`deidentify_folder` did.

    Attributes
    ----------
    written
        Output files (relative to the output folder).
    flagged
        ``(review-folder relative path, reasons)`` of the images held back for a person to check.
    skipped
        Counts of input files not written, by reason (not DICOM, DICOMDIR).
    report
        The CSV report (per attribute and action, no values).
    key_file
        Where the key was saved (None without one).
    n_patients
        Patients seen.
    """

    written: list[str]
    flagged: list[tuple[str, list[str]]]
    skipped: dict[str, int]
    report: Path
    review_dir: Path
    key_file: Path | None
    n_patients: int

    def summary(self) -> str:
        parts = [f"{len(self.written)} files de-identified ({self.n_patients} patient(s))"]
        if self.flagged:
            parts.append(f"{len(self.flagged)} held back for review in {self.review_dir}")
        for reason, n in sorted(self.skipped.items()):
            parts.append(f"{n} skipped ({reason})")
        return "; ".join(parts)


def _remove_written(files: list[Path], made: list[Path]) -> None:
    """Remove the files of a cancelled run, their series folders when left empty, and the folders it made."""
    for f in files:
        f.unlink(missing_ok=True)
        with contextlib.suppress(OSError):  # not empty: something else is in it
            f.parent.rmdir()
    for d in made:
        with contextlib.suppress(OSError):
            d.rmdir()


def is_inside(child: Path, parent: Path) -> bool:
    """Whether ``child`` is ``parent`` or lies below it, links resolved."""
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def deidentify_folder(
    in_dir: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    shift_dates: bool = False,
    clean_descriptors: bool = False,
    key_file: str | os.PathLike[str] | None = None,
    review_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[float, str], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> DeidentificationResult:
    """De-identify every DICOM file below ``in_dir`` into ``out_dir`` (see the module docstring).

    Parameters
    ----------
    in_dir
        Folder of DICOM files (searched recursively). Never modified.
    out_dir
        New or empty folder, outside ``in_dir``.
    shift_dates
        Retain Longitudinal Temporal Information with Modified Dates (one offset per patient).
    clean_descriptors
        Clean Descriptors option.
    key_file
        JSON key: loaded when it exists (same pseudonyms, UIDs and offsets as before), created
        otherwise. Without it a one-off secret is used and nothing links the output back.
    review_dir
        Where images to review go (default: ``<out_dir>_review`` beside ``out_dir``).
    progress
        ``progress(fraction, message)``.
    should_stop
        Checked before each file; when it returns True the files written so far are removed (and the
        output and review folders, when this run made them) and :class:`~.callbacks.Cancelled` is raised.

    Raises
    ------
    InvalidInputError
        A missing input folder, an output folder that is not empty or lies inside the input, a key
        file inside the output, or no DICOM file found.
    Cancelled
        ``should_stop()`` returned True: nothing is left in the output.
    """
    import pydicom

    src = Path(in_dir).expanduser()
    dst = Path(out_dir).expanduser()
    if not src.is_dir():
        raise InvalidInputError(f"{src}: no such folder; give the folder holding the DICOM files")
    if is_inside(dst, src) or is_inside(src, dst):
        raise InvalidInputError(f"{dst}: the output folder must lie outside the input folder {src} (and not contain it)")
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        raise InvalidInputError(f"{dst}: exists and is not an empty folder; choose a new output folder")
    review = Path(review_dir).expanduser() if review_dir is not None else dst.parent / f"{dst.name}_review"
    if is_inside(review, src):
        raise InvalidInputError(f"{review}: the review folder must lie outside the input folder")
    if review.exists() and any(review.iterdir()):
        raise InvalidInputError(f"{review}: exists and is not empty; choose another review folder")
    kpath = Path(key_file).expanduser() if key_file is not None else None
    if kpath is not None and (is_inside(kpath, dst) or is_inside(kpath, review)):
        raise InvalidInputError(f"{kpath}: the key re-identifies the data; keep it outside the output and review folders")
    if kpath is not None and is_inside(kpath, src):
        raise InvalidInputError(f"{kpath}: write the key outside the input folder (the input is never modified)")
    key = DeidentificationKey.load(kpath) if kpath is not None and kpath.exists() else DeidentificationKey.new()

    files = sorted(p for p in src.rglob("*") if p.is_file())
    from .io.names import is_dicom_file

    dicom = [p for p in files if is_dicom_file(p)]
    skipped: Counter = Counter()
    skipped_non_dicom = len(files) - len(dicom)
    if skipped_non_dicom:
        skipped["not DICOM"] = skipped_non_dicom
    if not dicom:
        raise InvalidInputError(f"{src}: holds no DICOM file (with the DICM marker) among {len(files)} files")
    counts: Counter = Counter()
    written: list[str] = []
    flagged: list[tuple[str, list[str]]] = []
    patients: set[str] = set()
    made = [d for d in (dst, review) if not d.exists()]
    for n, path in enumerate(dicom):
        if should_stop is not None and should_stop():
            _remove_written([dst / r for r in written] + [review / r for r, _ in flagged], made)
            raise Cancelled(f"after {n} of {len(dicom)} files; the files written were removed")
        ds = pydicom.dcmread(path)
        if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == _DICOMDIR:
            skipped["DICOMDIR (rebuild it from the output)"] += 1
            continue
        rel = path.relative_to(src).as_posix()
        folder = path.parent.relative_to(src).as_posix()
        pid = str(ds.get("PatientID", "") or "")
        patients.add(pid)
        ctx = _Context(key=key, patient=key.patient(pid), shift_dates=shift_dates,
                       clean_descriptors=clean_descriptors, identifiers=_identifying_strings(ds))
        reasons = _review_reasons(ds)
        _fill_missing_uids(ds, key, folder, rel, ctx)
        _process(ds, ctx, "")
        meta = ds.file_meta
        for tag in list(meta.keys()):
            if meta[tag].keyword in ("SourceApplicationEntityTitle", "SendingApplicationEntityTitle",
                                     "ReceivingApplicationEntityTitle", "PrivateInformation",
                                     "PrivateInformationCreatorUID"):
                ctx.counts[(f"({meta[tag].tag.group:04X},{meta[tag].tag.element:04X})", meta[tag].keyword, "file meta", "removed")] += 1
                del meta[tag]
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        _mark(ds, shift_dates=shift_dates, clean_descriptors=clean_descriptors)
        out_rel = f"{ds.SeriesInstanceUID}/{ds.SOPInstanceUID}.dcm"
        base = review if reasons else dst
        buf = io.BytesIO()
        ds.save_as(buf, enforce_file_format=True)
        with atomic_path(base / out_rel, suffix=".tmp.dcm", protect=[path]) as tmp:
            tmp.write_bytes(buf.getvalue())
        (flagged.append((out_rel, reasons)) if reasons else written.append(out_rel))
        counts.update(ctx.counts)
        if progress is not None:
            progress((n + 1) / len(dicom), f"de-identified {n + 1} of {len(dicom)} files")
    if not written and not flagged:
        raise InvalidInputError(f"{src}: holds no DICOM file to de-identify (only {', '.join(skipped)})")
    dst.mkdir(parents=True, exist_ok=True)
    report = dst / "deidentification_report.csv"

    def write_report(tmp: Path) -> None:
        with tmp.open("w", newline="") as fh:
            w = csv.writer(fh)
            w.writerow(["tag", "keyword", "where", "action", "elements"])
            for (tag, kw, where, action), n in sorted(counts.items()):
                w.writerow([tag, kw, where, action, n])
            for reason, n in sorted(skipped.items()):
                w.writerow(["", "", "", f"file skipped: {reason}", n])
            if flagged:
                w.writerow(["", "", "", f"file held back for review in {review.name}", len(flagged)])

    atomic_write(report, write_report, suffix=".tmp.csv")
    if flagged:
        def write_review(tmp: Path) -> None:
            with tmp.open("w", newline="") as fh:
                w = csv.writer(fh)
                w.writerow(["file", "reasons"])
                for rel, reasons in flagged:
                    w.writerow([rel, "; ".join(reasons)])

        atomic_write(review / "review.csv", write_review, suffix=".tmp.csv")
    saved = key.save(kpath) if kpath is not None else None
    return DeidentificationResult(written=written, flagged=flagged, skipped=dict(skipped), report=report,
                                  review_dir=review, key_file=saved, n_patients=len(patients))
