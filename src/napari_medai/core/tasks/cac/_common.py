"""Constants, artery codes and the checks every CAC entry point runs on its inputs."""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InvalidInputError, MedaiWarning
from ...volume import Volume

#: Artery codes of an assignment label map (0 = unassigned: not calcium, bone, or not yet read).
CODES: dict[str, int] = {"LM": 1, "LAD": 2, "LCX": 3, "RCA": 4, "non-coronary": 5}
#: Names by code, 0 included.
NAMES: dict[int, str] = {0: "unassigned", **{v: k for k, v in CODES.items()}}
#: The coronary arteries, in report order.
ARTERIES: tuple[str, ...] = ("LM", "LAD", "LCX", "RCA")
#: Keys of the per-artery score dictionaries.
SCORE_KEYS: tuple[str, ...] = ("total", *ARTERIES)

THRESHOLD_HU = 130.0
MIN_AREA_MM2 = 1.0
REFERENCE_SLICE_MM = 3.0
SLICE_CORRECTIONS = ("scale", "none")
#: Slices count as axial when array axis 0 lies within this angle of the patient S axis.
AXIAL_TOLERANCE_DEG = 10.0
#: Relative slack of the minimum-area test, so that a lesion of exactly the minimum area counts
#: although the pixel area (e.g. 0.7 x 0.7 mm) is not exact in binary floating point.
AREA_RTOL = 1e-9


def artery_code(artery: str | int) -> int:
    """Code of an artery given by name (``'LAD'``, ``'unassigned'`` ...) or code (0-5).

    Names are case-insensitive; ``'none'``, ``'0'`` and ``'unassigned'`` mean 0,
    ``'nc'``/``'other'`` mean non-coronary.
    """
    if isinstance(artery, (bool, np.bool_)):
        raise InvalidInputError(f"artery must be a name or a code 0-5, got {artery!r}")
    if isinstance(artery, (int, np.integer)):
        code = int(artery)
        if code not in NAMES:
            raise InvalidInputError(f"artery code {code} is not one of 0 (unassigned), "
                                    + ", ".join(f"{v} ({k})" for k, v in CODES.items()))
        return code
    if isinstance(artery, str):
        key = artery.strip().lower()
        aliases = {"unassigned": 0, "none": 0, "0": 0, "nc": 5, "other": 5, "non_coronary": 5,
                   "noncoronary": 5}
        if key in aliases:
            return aliases[key]
        for name, code in CODES.items():
            if key in (name.lower(), str(code)):
                return code
    raise InvalidInputError(f"unknown artery {artery!r}; use one of unassigned, {', '.join(CODES)} (or codes 0-5)")


def density_weight(peak_hu: float, *, threshold_hu: float = THRESHOLD_HU) -> int:
    """Agatston density weight of a lesion's peak attenuation.

    ``threshold_hu <= peak < 200`` -> 1, ``200 <= peak < 300`` -> 2, ``300 <= peak < 400`` -> 3,
    ``peak >= 400`` -> 4, and 0 below the threshold. For whole-HU images these are the bands
    130-199, 200-299, 300-399 and >= 400 HU.
    """
    p = float(peak_hu)
    if not math.isfinite(p) or p < threshold_hu:
        return 0
    if p < 200.0:
        return 1
    if p < 300.0:
        return 2
    if p < 400.0:
        return 3
    return 4


def check_int_option(value: object, *, name: str, allowed: tuple) -> None:
    if value not in allowed:
        raise InvalidInputError(f"{name} must be one of {', '.join(map(repr, allowed))}, got {value!r}")


def check_positive(value: float, *, name: str, allow_zero: bool = False) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"{name} must be a number, got {value!r}") from exc
    if not math.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        raise InvalidInputError(f"{name} must be {'>= 0' if allow_zero else '> 0'} and finite, got {value!r}")
    return v


def structure_2d(connectivity: int) -> np.ndarray:
    """3-D structuring element joining voxels within one axial slice only (4- or 8-connected)."""
    check_int_option(connectivity, name="connectivity", allowed=(4, 8))
    s = np.zeros((3, 3, 3), dtype=bool)
    s[1] = np.ones((3, 3), dtype=bool) if connectivity == 8 else np.array(
        [[0, 1, 0], [1, 1, 1], [0, 1, 0]], dtype=bool)
    return s


@dataclass(frozen=True)
class CTCheck:
    """What :func:`check_ct` found out about a CT.

    Attributes
    ----------
    slice_spacing_mm
        Distance between slice centres (``spacing[0]``), the "slice increment".
    pixel_area_mm2
        In-plane pixel area.
    hu_evidence
        Why the values are taken to be HU (header units/modality, or the value range only).
    slice_factor
        Multiplier of lesion Agatston scores under the requested slice correction.
    """

    slice_spacing_mm: float
    pixel_area_mm2: float
    hu_evidence: str
    slice_factor: float
    notes: tuple[str, ...]


def check_ct(ct: Volume, *, slice_correction: str = "scale", what: str = "CT", warn: bool = True) -> CTCheck:
    """Refuse an image that is not an axial CT in HU; warn about non-3 mm slices.

    Checks, each with a message that says how to fix it:

    * a 3-D intensity :class:`~napari_medai.core.volume.Volume` without a channel axis;
    * HU: ``modality`` must be ``'CT'`` or unknown and ``units`` ``'HU'`` or empty, and the
      values must look like HU whatever the header says (some value <= -500 HU, i.e. air, and
      some >= 100 HU, i.e. bone or calcium). Raw stored values whose rescale intercept was never
      applied (0-4095) fail the first test;
    * axial slices: array axis 0 within :data:`AXIAL_TOLERANCE_DEG` of the patient's
      superior-inferior axis (from ``direction``);
    * slice spacing: a :class:`~napari_medai.core.errors.MedaiWarning` when ``spacing[0]`` is not
      3 mm, naming the correction applied (``slice_correction='scale'`` multiplies every lesion's
      Agatston score by ``spacing[0] / 3``; ``'none'`` leaves it uncorrected).
    """
    if not isinstance(ct, Volume):
        raise InvalidInputError(f"{what} must be a Volume (read it with napari_medai.core.io.read_volume), "
                                f"got {type(ct).__name__}")
    check_int_option(slice_correction, name="slice_correction", allowed=SLICE_CORRECTIONS)
    if ct.is_label:
        raise InvalidInputError(f"{what} {ct.name!r} is a label map; give the CT image in HU")
    if ct.channel_axis is not None or ct.ndim_spatial != 3:
        raise InvalidInputError(f"{what} {ct.name!r} must be a single 3-D volume (got shape {ct.data.shape}, "
                                f"channel_axis={ct.channel_axis}); pick one channel or stack the slices")
    modality = (ct.modality or "").strip().upper()
    units = (ct.units or "").strip()
    if modality not in ("CT", "UNKNOWN", ""):
        raise InvalidInputError(f"{what} {ct.name!r} is modality {ct.modality!r}, not CT; calcium scoring "
                                "needs a non-contrast CT in Hounsfield units")
    if units and units.upper() != "HU":
        raise InvalidInputError(f"{what} {ct.name!r} has units {ct.units!r}, not HU; convert the values to "
                                "Hounsfield units (apply the rescale slope/intercept) first")
    data = np.asarray(ct.data)
    if data.size == 0:
        raise InvalidInputError(f"{what} {ct.name!r} is empty")
    if not (np.issubdtype(data.dtype, np.integer) or np.issubdtype(data.dtype, np.floating)):
        raise InvalidInputError(f"{what} {ct.name!r} has dtype {data.dtype}; expected numbers in HU")
    if np.issubdtype(data.dtype, np.floating) and not np.all(np.isfinite(data)):
        raise InvalidInputError(f"{what} {ct.name!r} contains NaN or infinite values; replace them "
                                "(e.g. with -1024 HU) first")
    lo, hi = float(data.min()), float(data.max())
    if lo > -500.0:
        raise InvalidInputError(
            f"{what} {ct.name!r} does not look like HU: its lowest value is {lo:g} but a CT in HU holds air "
            "(about -1000 HU); apply the rescale slope/intercept (raw values 0-4095 need -1024) first")
    if hi < 100.0:
        raise InvalidInputError(
            f"{what} {ct.name!r} does not look like HU: its highest value is {hi:g} HU, so it holds no bone "
            "or calcium; check the rescale slope/intercept or the window the image was exported with")
    if modality == "CT" and units.upper() == "HU":
        evidence = "header: modality CT, units HU; value range consistent"
    elif modality == "CT" or units:
        evidence = f"header: modality {ct.modality or 'unknown'}, units {units or 'unknown'}; value range consistent"
    else:
        evidence = f"value range only ({lo:g} to {hi:g}); the header names no modality or units"

    d = np.asarray(ct.direction, dtype=float)
    axis0 = d[:, 0] / np.linalg.norm(d[:, 0])
    angle = math.degrees(math.acos(min(1.0, abs(float(axis0[0])))))
    if angle > AXIAL_TOLERANCE_DEG:
        world = ("S", "P", "L")
        dominant = world[int(np.argmax(np.abs(axis0)))]
        raise InvalidInputError(
            f"{what} {ct.name!r} slices are not axial: array axis 0 points {angle:.0f} degrees away from the "
            f"superior-inferior axis (mostly along {dominant}); reformat the series to axial slices first")

    sp = float(ct.spacing[0])
    notes = []
    if abs(sp - REFERENCE_SLICE_MM) > 1e-3:
        factor = sp / REFERENCE_SLICE_MM if slice_correction == "scale" else 1.0
        if slice_correction == "scale":
            msg = (f"{what} {ct.name!r}: slice spacing is {sp:g} mm, not the 3 mm Agatston scoring was defined on; "
                   f"slice_correction='scale': each lesion's Agatston score is multiplied by {sp:g}/3 = {factor:.4g} "
                   "(volume and mass use the true voxel size)")
        else:
            msg = (f"{what} {ct.name!r}: slice spacing is {sp:g} mm, not the 3 mm Agatston scoring was defined on; "
                   "slice_correction='none': Agatston scores are not corrected and are not comparable with "
                   "3 mm scores")
        notes.append(msg)
        if warn:
            warnings.warn(msg, MedaiWarning, stacklevel=3)
    else:
        factor = 1.0
    return CTCheck(
        slice_spacing_mm=sp,
        pixel_area_mm2=float(ct.spacing[1]) * float(ct.spacing[2]),
        hu_evidence=evidence,
        slice_factor=factor,
        notes=tuple(notes),
    )


def check_assignment(assignment: Volume, ct: Volume, *, what: str = "assignment") -> np.ndarray:
    """The assignment's codes as an integer array on the CT grid (refused otherwise)."""
    if not isinstance(assignment, Volume):
        raise InvalidInputError(f"{what} must be a label Volume of artery codes 0-5, got {type(assignment).__name__}")
    ct.require_same_grid(assignment, what=f"CT and {what}")
    data = np.asarray(assignment.data)
    if assignment.channel_axis is not None:
        raise InvalidInputError(f"{what} must be a single label map, got a channel axis")
    if np.issubdtype(data.dtype, np.floating):
        if not np.all(np.isfinite(data)) or np.any(data != np.round(data)):
            raise InvalidInputError(f"{what} holds non-integer values; it must hold artery codes 0-5")
        data = data.astype(np.int16)
    elif not np.issubdtype(data.dtype, np.integer):
        raise InvalidInputError(f"{what} has dtype {data.dtype}; it must hold artery codes 0-5")
    if data.size and (int(data.min()) < 0 or int(data.max()) > 5):
        bad = sorted(set(np.unique(data).tolist()) - set(NAMES))
        raise InvalidInputError(f"{what} holds codes {bad[:8]} outside 0-5 (0 unassigned, "
                                + ", ".join(f"{v} {k}" for k, v in CODES.items()) + "); relabel it")
    return data


def component_stats(labels: np.ndarray, data: np.ndarray, n: int) -> dict[str, Any]:
    """Voxel count, HU sum, peak HU and centroid (array index) of components ``1..n``.

    Returns arrays indexed by component id (entry 0 is background): ``counts``, ``sums``,
    ``peaks``, ``centroids`` (``(n + 1, ndim)``), plus ``index`` (``np.nonzero(labels)``) and ``ids``.
    """
    idx = np.nonzero(labels)
    ids = labels[idx]
    vals = data[idx].astype(np.float64)
    counts = np.bincount(ids, minlength=n + 1)
    peaks = np.full(n + 1, -np.inf)
    np.maximum.at(peaks, ids, vals)
    sums_xyz = [np.bincount(ids, weights=c.astype(np.float64), minlength=n + 1) for c in idx]
    return {
        "index": idx,
        "ids": ids,
        "counts": counts,
        "sums": np.bincount(ids, weights=vals, minlength=n + 1),
        "peaks": peaks,
        "centroid_sums": sums_xyz,
    }
