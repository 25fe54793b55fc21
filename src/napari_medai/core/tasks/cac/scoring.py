"""Agatston, volume and mass scores of an assigned CT (the scoring rule, nothing heuristic).

Rule (reference sheet, "Coronary artery calcium"):

* a voxel counts for an artery when its value is ``>= threshold_hu`` (130 HU) and the assignment
  holds that artery's code there;
* lesions are the 2-D connected components of those voxels, per artery and per axial slice
  (8-connected by default; ``connectivity=4`` is available);
* lesions whose area is below ``min_area_mm2`` (1 mm^2) are dropped; a lesion of exactly the
  minimum area counts;
* lesion Agatston score = area (mm^2) x density weight of the lesion's peak value
  (130-199 HU: 1, 200-299: 2, 300-399: 3, >= 400: 4), times the slice correction factor;
* volume = lesion voxels x voxel volume (mm^3); mass = sum over lesions of lesion volume x mean lesion
  HU, in HU.mm^3 (an uncalibrated "mass score") unless a calibration factor from a calcium phantom
  scan is given: then mass (mg) = factor (mg per HU.mm^3) x that sum
  (:func:`calibration_factor_from_phantom` converts the usual mg/cm^3 per HU);
* per artery (LM, LAD, LCX, RCA) and total; non-coronary calcium (code 5) is scored the same way but
  reported separately and never enters the total; code 0 is ignored.

Slice spacing: Agatston scoring was defined on contiguous 3 mm slices. For another spacing
``slice_correction='scale'`` (default) multiplies each lesion's score by ``spacing / 3 mm`` (the
usual correction, e.g. 5/3 for 5 mm slices); ``'none'`` leaves scores uncorrected. Volume and mass
always use the true voxel size. The convention applied is recorded in the result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ...metrics.agreement_stats import risk_category
from ...volume import Volume
from ._common import (
    AREA_RTOL,
    ARTERIES,
    CODES,
    MIN_AREA_MM2,
    SCORE_KEYS,
    THRESHOLD_HU,
    check_assignment,
    check_ct,
    check_positive,
    component_stats,
    density_weight,
    structure_2d,
)


@dataclass(frozen=True)
class Lesion:
    """One scored 2-D lesion (a connected region of one artery in one axial slice).

    Attributes
    ----------
    id
        1-based, ordered by slice, then artery code, then position.
    artery
        ``'LM'``, ``'LAD'``, ``'LCX'``, ``'RCA'`` or ``'non-coronary'``.
    slice
        Index along array axis 0.
    area_mm2, peak_hu, mean_hu, weight, agatston, volume_mm3, mass_mg, n_voxels
        Its measurements (``agatston`` includes the slice correction factor).
    centroid
        Centre of its voxels as a (slice, row, column) array index, for jumping to it.
    """

    id: int
    artery: str
    slice: int
    area_mm2: float
    peak_hu: float
    mean_hu: float
    weight: int
    agatston: float
    volume_mm3: float
    mass_mg: float
    n_voxels: int
    centroid: tuple[float, float, float]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "artery": self.artery, "slice": self.slice, "area_mm2": self.area_mm2,
            "peak_hu": self.peak_hu, "weight": self.weight, "agatston": self.agatston,
            "mean_hu": self.mean_hu, "volume_mm3": self.volume_mm3, "mass_mg": self.mass_mg,
            "n_voxels": self.n_voxels, "centroid_index": list(self.centroid),
        }


@dataclass
class CACResult:
    """Scores of one CT. Dictionaries are keyed ``total``, ``LM``, ``LAD``, ``LCX``, ``RCA``.

    Attributes
    ----------
    agatston, volume_mm3, mass_mg, lesion_count
        Per artery and total (coronary arteries only).
    non_coronary
        The same four measures for code 5 (not in the total).
    category
        Risk category of the total Agatston score.
    lesions
        Every scored lesion, coronary and non-coronary.
    slice_thickness_mm
        Slice spacing of the CT along array axis 0 (the slice increment, which is what a volume
        records; the reconstructed thickness is not known from the voxel grid).
    pixel_spacing_mm
        In-plane spacing (row, column).
    slice_correction, slice_factor
        Convention for non-3 mm slices and the factor it applied to lesion Agatston scores.
    threshold_hu, min_area_mm2, calibration_factor, connectivity
        Rule parameters used (``calibration_factor`` None: mass is uncalibrated, in HU.mm^3).
    n_dropped_small
        Lesions (any artery, non-coronary included) dropped by the minimum-area rule.
    hu_evidence, notes
        Why the values were taken as HU; warnings issued (e.g. slice spacing).
    """

    agatston: dict[str, float]
    volume_mm3: dict[str, float]
    mass_mg: dict[str, float]
    lesion_count: dict[str, int]
    non_coronary: dict[str, float]
    category: str
    lesions: list[Lesion]
    slice_thickness_mm: float
    pixel_spacing_mm: tuple[float, float]
    slice_correction: str
    slice_factor: float
    threshold_hu: float
    min_area_mm2: float
    calibration_factor: float | None
    connectivity: int
    n_dropped_small: int
    hu_evidence: str = ""
    notes: list[str] = field(default_factory=list)
    name: str = ""

    @property
    def total(self) -> float:
        """Total (coronary) Agatston score."""
        return self.agatston["total"]

    @property
    def mass_calibrated(self) -> bool:
        """True when a calibration factor was given, so ``mass_mg`` is in mg."""
        return self.calibration_factor is not None

    @property
    def mass_unit(self) -> str:
        """``'mg'`` (calibrated) or ``'HU·mm³'`` (an uncalibrated mass score)."""
        return "mg" if self.mass_calibrated else "HU·mm³"


def calibration_factor_from_phantom(mg_per_cm3_per_hu: float) -> float:
    """The ``calibration_factor`` of :func:`score` (mg per HU.mm^3) from a phantom's mg/cm^3 per HU.

    A calcium phantom scan gives the calibration as mg of calcium hydroxyapatite per cm^3 per HU
    (e.g. about 0.7-0.8 at 120 kVp); mass (mg) = that x volume (cm^3) x mean HU, so the factor per
    mm^3 is a thousandth of it.
    """
    return check_positive(mg_per_cm3_per_hu, name="mg_per_cm3_per_hu") / 1000.0


def _lesions_of(hot_code: np.ndarray, data: np.ndarray, structure: np.ndarray) -> list[dict[str, Any]]:
    """Per-slice components of one artery's counting voxels with their raw measurements."""
    lab, n = ndi.label(hot_code, structure=structure)
    if n == 0:
        return []
    st = component_stats(lab, data, n)
    idx, ids, counts, sums, peaks = st["index"], st["ids"], st["counts"], st["sums"], st["peaks"]
    cents = st["centroid_sums"]
    slices = np.zeros(n + 1, dtype=np.int64)
    slices[ids] = idx[0]
    out = []
    for i in range(1, n + 1):
        c = int(counts[i])
        out.append({
            "slice": int(slices[i]), "n": c, "sum": float(sums[i]), "peak": float(peaks[i]),
            "centroid": tuple(float(cc[i] / c) for cc in cents),
        })
    return out


def _number(v: float, integer: bool) -> float | int:
    return int(v) if integer and float(v).is_integer() else float(v)


def score(
    ct: Volume,
    assignment: Volume,
    *,
    min_area_mm2: float = MIN_AREA_MM2,
    calibration_factor: float | None = None,
    slice_correction: str = "scale",
    threshold_hu: float = THRESHOLD_HU,
    connectivity: int = 8,
    warn: bool = True,
) -> CACResult:
    """Agatston, volume and mass scores per artery (rule in the module docstring).

    Parameters
    ----------
    ct
        Axial CT in HU (checked by :func:`~napari_medai.core.tasks.cac.check_ct`).
    assignment
        Label map on the CT grid: 0 unassigned, 1 LM, 2 LAD, 3 LCX, 4 RCA, 5 non-coronary.
    min_area_mm2
        Lesions smaller than this are dropped (default 1 mm^2; 0 keeps every lesion).
    calibration_factor
        Mass calibration factor (mg per HU.mm^3, from a calcium phantom scan; see
        :func:`calibration_factor_from_phantom`). None (default): the mass is an uncalibrated score in
        HU.mm^3 (``result.mass_unit``), not milligrams.
    slice_correction
        ``'scale'`` (default): lesion Agatston x ``slice spacing / 3 mm`` when the spacing is not 3 mm;
        ``'none'``: no correction.
    threshold_hu
        Calcium threshold (130 HU, the Agatston definition; change only for research).
    connectivity
        In-plane connectivity of a lesion: 8 (default) or 4.
    warn
        Issue a :class:`~napari_medai.core.errors.MedaiWarning` for non-3 mm slices (the note is
        recorded in ``notes`` either way).

    Returns
    -------
    CACResult
    """
    min_area = check_positive(min_area_mm2, name="min_area_mm2", allow_zero=True)
    cf = None if calibration_factor is None else check_positive(calibration_factor, name="calibration_factor")
    thr = float(threshold_hu)
    chk = check_ct(ct, slice_correction=slice_correction, warn=warn)
    codes = check_assignment(assignment, ct)
    structure = structure_2d(connectivity)
    data = np.asarray(ct.data)
    hot = data >= thr

    raw = []
    for name, code in CODES.items():
        m = hot & (codes == code)
        if not m.any():
            continue
        for les in _lesions_of(m, data, structure):
            raw.append((les["slice"], code, les["centroid"][1], les["centroid"][2], name, les))
    raw.sort(key=lambda t: t[:4])
    return build_result(ct, chk, raw, min_area_mm2=min_area, calibration_factor=cf, slice_correction=slice_correction,
                        threshold_hu=thr, connectivity=connectivity)


def build_result(ct: Volume, chk: Any, raw: list[tuple], *, min_area_mm2: float, calibration_factor: float | None,
                 slice_correction: str, threshold_hu: float, connectivity: int) -> CACResult:
    """The :class:`CACResult` of raw lesions ``(slice, code, centroid row, centroid column, name, stats)``.

    ``raw`` must be sorted by its first four fields (the lesion order and ids); ``stats`` holds ``n``
    (voxels), ``sum`` (HU), ``peak`` (HU) and ``centroid``. Shared by :func:`score` and the incremental
    :class:`~napari_medai.core.tasks.cac.session.ScoringSession`, so both give the same numbers.
    """
    integer = bool(np.issubdtype(np.asarray(ct.data).dtype, np.integer))
    pixel_area = chk.pixel_area_mm2
    voxel_volume = float(ct.spacing[0]) * pixel_area
    factor = chk.slice_factor
    cf = 1.0 if calibration_factor is None else calibration_factor
    lesions: list[Lesion] = []
    dropped = 0
    for _, _, _, _, name, les in raw:
        area = les["n"] * pixel_area
        if area < min_area_mm2 * (1.0 - AREA_RTOL):
            dropped += 1
            continue
        weight = density_weight(les["peak"], threshold_hu=threshold_hu)
        volume = les["n"] * voxel_volume
        mean = les["sum"] / les["n"]
        lesions.append(Lesion(
            id=len(lesions) + 1, artery=name, slice=les["slice"], area_mm2=area,
            peak_hu=_number(les["peak"], integer), mean_hu=mean, weight=weight,
            agatston=area * weight * factor, volume_mm3=volume, mass_mg=cf * volume * mean,
            n_voxels=les["n"], centroid=les["centroid"],
        ))

    agatston = dict.fromkeys(SCORE_KEYS, 0.0)
    volume = dict.fromkeys(SCORE_KEYS, 0.0)
    mass = dict.fromkeys(SCORE_KEYS, 0.0)
    count = dict.fromkeys(SCORE_KEYS, 0)
    nc = {"agatston": 0.0, "volume_mm3": 0.0, "mass_mg": 0.0, "lesion_count": 0}
    for les in lesions:
        if les.artery == "non-coronary":
            nc["agatston"] += les.agatston
            nc["volume_mm3"] += les.volume_mm3
            nc["mass_mg"] += les.mass_mg
            nc["lesion_count"] += 1
            continue
        for key in (les.artery, "total"):
            agatston[key] += les.agatston
            volume[key] += les.volume_mm3
            mass[key] += les.mass_mg
            count[key] += 1
    return CACResult(
        agatston=agatston, volume_mm3=volume, mass_mg=mass, lesion_count=count, non_coronary=nc,
        category=risk_category(agatston["total"]), lesions=lesions,
        slice_thickness_mm=chk.slice_spacing_mm,
        pixel_spacing_mm=(float(ct.spacing[1]), float(ct.spacing[2])),
        slice_correction=slice_correction, slice_factor=factor, threshold_hu=threshold_hu,
        min_area_mm2=min_area_mm2, calibration_factor=calibration_factor, connectivity=connectivity,
        n_dropped_small=dropped, hu_evidence=chk.hu_evidence, notes=list(chk.notes), name=ct.name,
    )


def scored_calcium(ct: Volume, assignment: Volume, result: CACResult) -> Volume:
    """The calcium that was scored, as a label map named by artery: the assignment's codes where the CT is at
    or above the result's threshold, 0 elsewhere (what a DICOM SEG of a calcium score holds)."""
    data = (np.asarray(assignment.data) * (np.asarray(ct.data) >= result.threshold_hu)).astype(np.uint8)
    return assignment.with_data(data, label_names={v: k for k, v in CODES.items()})


def per_artery_rows(result: CACResult) -> list[dict[str, Any]]:
    """Summary rows: one per artery (LM, LAD, LCX, RCA), the total, then non-coronary."""
    rows = []
    for key in (*ARTERIES, "total"):
        rows.append({"artery": key, "agatston": result.agatston[key], "volume_mm3": result.volume_mm3[key],
                     "mass_mg": result.mass_mg[key], "lesion_count": result.lesion_count[key]})
    nc = result.non_coronary
    rows.append({"artery": "non-coronary", "agatston": nc["agatston"], "volume_mm3": nc["volume_mm3"],
                 "mass_mg": nc["mass_mg"], "lesion_count": nc["lesion_count"]})
    return rows

