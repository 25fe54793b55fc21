"""DICOM Structured Report: a task's measurements as a TID 1500 Measurement Report (highdicom).

The report (:func:`write_dicom_sr`) is a Comprehensive 3D SR whose evidence is the DICOM SEG written
by :func:`~napari_medai.core.io.dicom_seg.write_dicom_seg` and the source series. Each measured label
is a TID 1411 *volumetric ROI* group that references its SEG segment (and, through it, the series);
measurements of the whole case (a tumour region made of several labels, the total infarct volume,
the total Agatston score and its risk category) are TID 1501 groups.

The measurements of each task are turned into :class:`MeasurementGroup` by one function per task:
:func:`brain_tumour_groups`, :func:`stroke_groups`, :func:`cac_groups`. They read the task result's
attributes only (no task module is imported here: the tasks sit above the I/O layer).

Codes: volumes are SNOMED CT *Volume* (118565006) in UCUM ``ml`` / ``mm3``; calcium measurements use
the DICOM codes *Calcium score* (112058, method *Agatston scoring method* 112055), *Calcium Volume*
(122660) and *Calcium Mass* (122661, only when the mass is calibrated in mg). The calcium risk
category has no standard code: it is written in the private coding scheme ``99NMEDAI`` (declared in
the report's Coding Scheme Identification).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ImageWriteError, InvalidInputError
from ..volume import Volume
from ._common import first_line
from .atomic import atomic_path
from .dicom_seg import SEG_SOP_CLASS_UID, Algorithm, Code, segment_code, series_datasets

__all__ = [
    "LOCAL_SCHEME",
    "MeasurementGroup",
    "MeasurementValue",
    "brain_tumour_groups",
    "cac_groups",
    "read_dicom_sr_measurements",
    "stroke_groups",
    "write_dicom_sr",
]

#: Private coding scheme of the codes DICOM has none for (the calcium risk category).
LOCAL_SCHEME = "99NMEDAI"

VOLUME = Code("118565006", "SCT", "Volume")
CALCIUM_SCORE = Code("112058", "DCM", "Calcium score")
AGATSTON_METHOD = Code("112055", "DCM", "Agatston scoring method")
CALCIUM_VOLUME = Code("122660", "DCM", "Calcium Volume")
CALCIUM_MASS = Code("122661", "DCM", "Calcium Mass")
RISK_CATEGORY = Code("CACRISK", LOCAL_SCHEME, "Coronary calcium risk category")
ML = Code("ml", "UCUM", "milliliter")
MM3 = Code("mm3", "UCUM", "cubic millimeter")
MG = Code("mg", "UCUM", "milligram")
NO_UNITS = Code("1", "UCUM", "no units")
_CALCIUM_FINDING = Code("29483008", "SCT", "Calcified atheromatous plaque")
_INFARCT = Code("55641003", "SCT", "Infarct")
_NEOPLASM = Code("108369006", "SCT", "Neoplasm")
_PROCEDURES = {
    "cac": Code("426005005", "SCT", "Cardiac CT for calcium scoring"),
    "default": Code("363679005", "SCT", "Imaging procedure"),
}


@dataclass(frozen=True)
class MeasurementValue:
    """One numeric measurement: concept ``name``, ``value`` in ``unit``, optional ``method``."""

    name: Code
    value: float
    unit: Code
    method: Code | None = None


@dataclass(frozen=True)
class MeasurementGroup:
    """The measurements of one finding.

    Parameters
    ----------
    tracking_id
        Human-readable name of the finding (``"ET"``, ``"LAD"``, ``"total"``).
    finding
        What was measured (coded).
    measurements
        Its numeric measurements.
    label_value
        The label value of the SEG segment it measures (a TID 1411 group referencing that
        segment), or None for a measurement of the whole case (TID 1501).
    evaluations
        Coded qualitative evaluations ``(name, value)``.
    """

    tracking_id: str
    finding: Code
    measurements: tuple[MeasurementValue, ...]
    label_value: int | None = None
    evaluations: tuple[tuple[Code, Code], ...] = field(default_factory=tuple)


# ----------------------------------------------------------------------------- per-task groups
def brain_tumour_groups(region_volumes_ml: Mapping[str, float], label_volumes_ml: Mapping[str, float],
                        label_names: Mapping[int, str], *, convention: str | None = None) -> list[MeasurementGroup]:
    """Groups of a brain-tumour prediction: one per label (volume, its segment), one per region (WT, TC, ET)."""
    groups = []
    for value, name in sorted(label_names.items()):
        if value > 0 and name in label_volumes_ml and label_volumes_ml[name] > 0:
            groups.append(MeasurementGroup(name, segment_code(convention, name).type,
                                           (MeasurementValue(VOLUME, float(label_volumes_ml[name]), ML),), int(value)))
    for region, ml in region_volumes_ml.items():
        groups.append(MeasurementGroup(f"region {region}", _NEOPLASM, (MeasurementValue(VOLUME, float(ml), ML),)))
    return groups


def stroke_groups(result: Any) -> list[MeasurementGroup]:
    """Groups of a stroke result (:class:`~napari_medai.core.tasks.stroke.segment.StrokeResult`): the
    total infarct volume, and each lesion's volume referencing its segment when lesions have their own
    label values (``separate_lesions``), else the one lesion segment (value 1)."""
    import numpy as np

    present = {int(v) for v in np.unique(np.asarray(result.labels.data)) if v != 0}
    groups = []
    if len(present) > 1 or (present and max(present) > 1):
        for row in result.lesions:
            if int(row.id) in present:
                groups.append(MeasurementGroup(f"lesion {row.id}", _INFARCT,
                                               (MeasurementValue(VOLUME, float(row.volume_ml), ML),), int(row.id)))
    elif present:
        groups.append(MeasurementGroup("infarct", _INFARCT,
                                       (MeasurementValue(VOLUME, float(result.total_volume_ml), ML),), 1))
    groups.append(MeasurementGroup("total infarct", _INFARCT,
                                   (MeasurementValue(VOLUME, float(result.total_volume_ml), ML),)))
    return groups


def cac_groups(result: Any, *, codes: Mapping[str, int], present: Iterable[int]) -> list[MeasurementGroup]:
    """Groups of a calcium score (:class:`~napari_medai.core.tasks.cac.CACResult`).

    Parameters
    ----------
    result
        The scores.
    codes
        Artery name -> label value of the assignment (``cac.CODES``).
    present
        Label values that have a segment in the SEG.

    Each artery gets Agatston score, calcium volume (and mass when calibrated), referencing its
    segment when it has one; the total adds the risk category.
    """
    have = {int(v) for v in present}

    def values(agatston: float, volume: float, mass: float) -> tuple[MeasurementValue, ...]:
        out = [MeasurementValue(CALCIUM_SCORE, float(agatston), NO_UNITS, AGATSTON_METHOD),
               MeasurementValue(CALCIUM_VOLUME, float(volume), MM3)]
        if getattr(result, "calibration_factor", None) is not None:
            out.append(MeasurementValue(CALCIUM_MASS, float(mass), MG))
        return tuple(out)

    groups = []
    for artery in ("LM", "LAD", "LCX", "RCA"):
        code = codes[artery]
        groups.append(MeasurementGroup(
            artery, _CALCIUM_FINDING,
            values(result.agatston[artery], result.volume_mm3[artery], result.mass_mg[artery]),
            code if code in have else None))
    nc = result.non_coronary
    nc_code = codes["non-coronary"]
    if nc["lesion_count"] or nc_code in have:
        groups.append(MeasurementGroup("non-coronary", segment_code("cac", "non-coronary").type,
                                       values(nc["agatston"], nc["volume_mm3"], nc["mass_mg"]),
                                       nc_code if nc_code in have else None))
    category = str(result.category)
    groups.append(MeasurementGroup(
        "total", _CALCIUM_FINDING,
        values(result.agatston["total"], result.volume_mm3["total"], result.mass_mg["total"]),
        None, ((RISK_CATEGORY, Code(category.upper().replace(" ", "-")[:16], LOCAL_SCHEME, category)),)))
    return groups


# ----------------------------------------------------------------------------- writing
def _tracking(hd: Any, name: str) -> Any:
    return hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=name[:64])


def _measurements(hd: Any, group: MeasurementGroup) -> list[Any]:
    return [hd.sr.Measurement(name=m.name.concept(), value=m.value, unit=m.unit.concept(),
                              method=m.method.concept() if m.method is not None else None)
            for m in group.measurements]


def write_dicom_sr(
    path: str | os.PathLike[str],
    *,
    seg_path: str | os.PathLike[str],
    series: Volume,
    groups: Sequence[MeasurementGroup],
    algorithm: Algorithm,
    task: str = "default",
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``groups`` as a TID 1500 measurement report referencing the SEG at ``seg_path`` and the series.

    Parameters
    ----------
    path
        The ``.dcm`` file to write (atomically).
    seg_path
        The DICOM SEG the segment-bound groups refer to (label values are matched to its segments).
    series
        The source image as read from its DICOM series folder.
    groups
        The measurements (see the per-task functions of this module).
    algorithm
        Recorded as the observer device and in every group.
    task
        ``"cac"`` names the procedure *Cardiac CT for calcium scoring*; anything else *Imaging procedure*.

    Raises
    ------
    InvalidInputError
        A group refers to a label value the SEG has no segment for, the SEG does not belong to the
        series, or nothing to report.
    ImageWriteError
        An existing target or a failed write.
    """
    import highdicom as hd
    import pydicom
    from pydicom.dataset import Dataset
    from pydicom.sr.codedict import codes

    from ... import __version__
    from .dicom_seg import read_dicom_seg

    target = Path(path).expanduser().absolute()
    if target.exists() and not overwrite:
        raise ImageWriteError(target, "already exists", "pass overwrite=True to replace it, or choose another name")
    if not groups:
        raise InvalidInputError(f"{target}: no measurement to report")
    seg = pydicom.dcmread(seg_path)
    if str(seg.SOPClassUID) != SEG_SOP_CLASS_UID:
        raise InvalidInputError(f"{seg_path}: is not a DICOM SEG; give the SEG written for this series")
    sources = series_datasets(series)
    series_uid = str(sources[0].SeriesInstanceUID)
    referenced = [str(s.SeriesInstanceUID) for s in seg.get("ReferencedSeriesSequence", [])]
    if series_uid not in referenced:
        raise InvalidInputError(f"{seg_path}: the SEG does not refer to the series {series.source}; write the SEG for it first")
    seg_volume = read_dicom_seg(seg_path, series=series)
    number_of = {seg_item["value"]: seg_item["number"] for seg_item in seg_volume.meta["dicom_seg"]["segments"]}
    alg_id = hd.sr.AlgorithmIdentification(name=algorithm.name[:64], version=algorithm.version[:64],
                                           parameters=[algorithm.model[:64]] if algorithm.model else None)
    items: list[Any] = []
    for g in groups:
        kw = {"tracking_identifier": _tracking(hd, g.tracking_id), "finding_type": g.finding.concept(),
                  "algorithm_id": alg_id, "measurements": _measurements(hd, g),
                  "qualitative_evaluations": [hd.sr.QualitativeEvaluation(n.concept(), v.concept()) for n, v in g.evaluations] or None}
        if g.label_value is None:
            items.append(hd.sr.MeasurementsAndQualitativeEvaluations(**kw))
            continue
        if g.label_value not in number_of:
            raise InvalidInputError(
                f"{seg_path}: the SEG has no segment for label value {g.label_value} ({g.tracking_id}); "
                f"it has {sorted(number_of)}"
            )
        ref = hd.sr.ReferencedSegment(sop_class_uid=SEG_SOP_CLASS_UID, sop_instance_uid=str(seg.SOPInstanceUID),
                                      segment_number=number_of[g.label_value],
                                      source_series=hd.sr.SourceSeriesForSegmentation(series_uid))
        items.append(hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(referenced_segment=ref, **kw))
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(), name=algorithm.name[:64], manufacturer_name="napari-medai",
            model_name=(algorithm.model or algorithm.name)[:64]),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=_PROCEDURES.get(task, _PROCEDURES["default"]).concept(),
        imaging_measurements=items,
        title=codes.cid7021.ImagingMeasurementReport,
    )
    try:
        sr = hd.sr.Comprehensive3DSR(
            evidence=[seg, *sources], content=report, series_instance_uid=hd.UID(), series_number=902,
            sop_instance_uid=hd.UID(), instance_number=1, manufacturer="napari-medai", is_complete=True,
            series_description=f"napari-medai {task} measurements"[:64],
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidInputError(f"{target}: highdicom refused the report: {first_line(exc)}") from exc
    if any(m.unit.scheme == LOCAL_SCHEME or m.name.scheme == LOCAL_SCHEME for g in groups for m in g.measurements) \
            or any(LOCAL_SCHEME in (n.scheme, v.scheme) for g in groups for n, v in g.evaluations):
        scheme = Dataset()
        scheme.CodingSchemeDesignator = LOCAL_SCHEME
        scheme.CodingSchemeName = "napari-medai local codes"
        scheme.CodingSchemeResponsibleOrganization = "napari-medai"
        scheme.CodingSchemeVersion = __version__
        sr.CodingSchemeIdentificationSequence = [scheme]
    try:
        with atomic_path(target, suffix=".tmp.dcm", protect=[*protect, seg_path, series.source]) as tmp:
            sr.save_as(tmp)
    except OSError as exc:
        raise ImageWriteError(target, f"could not be written: {first_line(exc)}", "check the disk space and the folder permissions") from exc
    return target


def read_dicom_sr_measurements(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The measurements of a TID 1500 report: one dict per numeric value (group, name, value, unit,
    referenced segment number or None), and one per qualitative evaluation (``value`` the code meaning)."""
    import highdicom as hd

    sr = hd.sr.srread(path)
    out: list[dict[str, Any]] = []
    report = sr.content
    try:
        mr = hd.sr.MeasurementReport.from_sequence(report)
    except (ValueError, AttributeError) as exc:
        raise InvalidInputError(f"{path}: not a TID 1500 measurement report: {first_line(exc)}") from exc
    for kind in (hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations, hd.sr.MeasurementsAndQualitativeEvaluations):
        for g in mr.get_volumetric_roi_measurement_groups() if kind is hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations \
                else mr.get_image_measurement_groups():
            tid = str(g.tracking_identifier)
            segment = None
            if kind is hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations and g.referenced_segment is not None:
                segment = int(g.referenced_segment.referenced_segment_numbers[0])
            for m in g.get_measurements():
                out.append({"group": tid, "name": m.name.meaning, "value": float(m.value),
                            "unit": m.unit.value, "segment": segment})
            for q in g.get_qualitative_evaluations():
                out.append({"group": tid, "name": q.name.meaning, "value": q.value.meaning, "unit": "", "segment": segment})
    return out
