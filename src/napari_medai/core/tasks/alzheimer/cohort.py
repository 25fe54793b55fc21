"""An Alzheimer-like cohort simulated from real anatomy: IXI T1s with DLMUSE parcellations.

No labelled Alzheimer cohort can be downloaded here, so the cohort is made from the 10 real healthy
IXI T1 scans of ``shared/data/brain_t1_ixi`` (2 mm, each with a DLMUSE parcellation). Every
simulated subject is one source scan seen through

1. **planted atrophy** (AD subjects only, severity ``s`` = the hippocampus's fractional volume loss),
2. **normal anatomical variation**: a small random pose and a smooth random deformation,
3. **acquisition variation**: intensity gain, a smooth multiplicative bias field, Rician noise.

MUSE region codes (the neuromorphometrics / MICCAI-2012 label list that DLMUSE uses; the column names
of ``IXI_dlmuse.csv`` are these codes, and the side was checked on the scans: code 48's centre lies
+24 mm towards patient left (LPS), code 47's 29 mm towards the right):

======================  =====  =====  ====================================================
region                  right  left   why
======================  =====  =====  ====================================================
hippocampus              47     48    earliest, largest AD atrophy (Braak stages III-IV)
entorhinal area         116    117    first cortex affected (Braak I-II)
amygdala                 31     32    atrophies with the hippocampus in AD
inferior lateral vent.   49     50    the temporal horn beside the hippocampus: fills ex vacuo
lateral ventricle        51     52    enlarges with global atrophy
======================  =====  =====  ====================================================

**Atrophy model.** For each region ``R`` (per side) a smooth field is made from its mask: ``g`` =
the mask blurred by a Gaussian of ``sigma_mm`` (3 mm), and the displacement ``u = -a grad(g) /
max|grad(g)|`` (voxels), which points out of the region at its border. The image is resampled at
``x + u(x)``, so points near the border read tissue from outside: the region shrinks smoothly (for
``+a`` it grows: the lateral ventricles). The amplitudes ``a`` of all regions are calibrated together
(multiplicative secant updates) until each region's partial-volume mask (the label blurred by 0.6
voxel), linearly interpolated through the warp, changes its volume by the requested fraction within
``tolerance`` (0.005): the hippocampus by ``-s``, the entorhinal area by ``-s``, the amygdala by
``-0.8 s``, the lateral ventricle by ``+1.5 s`` (:data:`ATROPHY_FACTORS`). The warp must stay
invertible (minimum Jacobian determinant above 0.2; severities up to :data:`MAX_SEVERITY`).

At 2 mm a border moves by a fraction of a voxel, which nearest-neighbour label resampling would round
away, so the label map is made by volume-preserving voxelisation: each region keeps the voxels where
its warped partial-volume mask is highest, as many as its original count times ``1 + achieved``.
Tissue that the hippocampus, amygdala or entorhinal area vacate becomes CSF (the median intensity of
the scan's lateral ventricles; voxels a region's label gave up at least 80 % CSF, the others in
proportion to their partial-volume loss) labelled as that side's inferior lateral ventricle: the
temporal horn enlarges ex vacuo by the tissue lost.

Measured on the 10 real scans at severities 0.1, 0.2 and 0.3 (8 regions each; ``benchmarks/
bench_alzheimer_registration.py --simulator``): the partial-volume change is within 0.0047 of the
request and the written label map within 0.0053 (mean 0.0015); the tests hold them to 0.005 and
0.01 (``tests/core/test_alzheimer_cohort.py``). A whole subject takes about 1-2 s at 2 mm.

**Normal variation.** A pose (rotation up to 3 degrees per axis, scale 1 +- 3 % per axis,
translation up to 3 mm) about the volume centre, plus a smooth random displacement (white noise
smoothed by a Gaussian of 8 mm, 1.5 mm RMS). Labels follow with nearest-neighbour resampling, the
image with cubic splines.

**Acquisition.** Gain x U(0.9, 1.1); bias field ``exp(b)``, ``b`` smooth noise (Gaussian of 40 mm),
SD 0.08; Rician noise of SD 2 % of the brain's 99th intensity percentile.

The cohort is seeded (one seed drives the diagnoses, the source assignment and every subject's own
seed). Half the subjects (rounded down) are AD; each diagnosis is spread round-robin over the
sources, so every source gives AD and NC subjects and splits by ``source`` keep one real anatomy on
one side. An AD subject's severity is ``S x U(1 - spread, 1 + spread)``.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import Cancelled, ProgressFn, StopFn
from ...errors import InvalidInputError
from ...evaluate import write_text_atomically
from ...io import read_volume, write_volume
from ...volume import Volume

__all__ = [
    "ATROPHY_FACTORS",
    "MUSE_CODES",
    "CohortResult",
    "PlantedAtrophy",
    "SimulatedSubject",
    "SourceScan",
    "check_cohort_options",
    "default_source_dir",
    "load_sources",
    "plant_atrophy",
    "simulate_cohort",
    "simulate_subject",
]

#: MUSE codes per region and side (see the module notes for the source of each code).
MUSE_CODES: dict[str, dict[str, int]] = {
    "hippocampus": {"right": 47, "left": 48},
    "entorhinal": {"right": 116, "left": 117},
    "amygdala": {"right": 31, "left": 32},
    "inferior_lateral_ventricle": {"right": 49, "left": 50},
    "lateral_ventricle": {"right": 51, "left": 52},
}
#: Fractional volume change per unit of severity (negative: loss).
ATROPHY_FACTORS: dict[str, float] = {"hippocampus": -1.0, "entorhinal": -1.0, "amygdala": -0.8,
                                     "lateral_ventricle": 1.5}
#: Regions whose vacated tissue becomes CSF in the same side's inferior lateral ventricle.
_EX_VACUO = ("hippocampus", "entorhinal", "amygdala")
MAX_SEVERITY = 0.3
_SIGMA_MM = 3.0
_TOLERANCE = 0.005
_PV_SIGMA_VOX = 0.6
_MIN_JACOBIAN = 0.2
_POSE = {"rotation_deg": 3.0, "scale": 0.03, "translation_mm": 3.0}
_WARP = {"sigma_mm": 8.0, "rms_mm": 1.5}
_ACQ = {"gain": 0.1, "bias_sd": 0.08, "bias_sigma_mm": 40.0, "noise_fraction": 0.02}


# ------------------------------------------------------------------------------------------ sources
@dataclass
class SourceScan:
    """One real scan: the T1, its DLMUSE parcellation (same grid) and its id."""

    name: str
    t1: Volume
    labels: Volume


def default_source_dir() -> Path | None:
    """``shared/data/brain_t1_ixi`` beside the repository (the project's machines), if present."""
    here = Path(__file__).resolve()
    for parent in (*here.parents, *Path.cwd().resolve().parents, Path.cwd().resolve()):
        cand = parent / "shared" / "data" / "brain_t1_ixi"
        if cand.is_dir():
            return cand
    return None


def load_sources(folder: str | os.PathLike[str] | None = None) -> list[SourceScan]:
    """Read the source scans: ``folder/nifti/<id>-T1_ds.nii.gz`` with ``folder/dlmuse/<id>-T1_ds_DLMUSE.nii.gz``.

    Any ``<name>.nii.gz`` in ``nifti/`` pairs with ``dlmuse/<name>_DLMUSE.nii.gz``.

    Raises
    ------
    InvalidInputError
        No folder, no pairs, a parcellation on another grid, or one lacking the hippocampus codes.
    """
    if folder is None:
        folder = default_source_dir()
        if folder is None:
            raise InvalidInputError(
                "no source scans: give the brain_t1_ixi folder (--source DIR, holding nifti/*.nii.gz and "
                "dlmuse/*_DLMUSE.nii.gz)")
    root = Path(folder).expanduser()
    images = sorted((root / "nifti").glob("*.nii.gz"))
    if not images:
        raise InvalidInputError(f"{root}: no T1 scans in {root / 'nifti'}; give the brain_t1_ixi folder "
                                "(nifti/*.nii.gz and dlmuse/*_DLMUSE.nii.gz)")
    out = []
    for img in images:
        stem = img.name[: -len(".nii.gz")]
        lab = root / "dlmuse" / f"{stem}_DLMUSE.nii.gz"
        if not lab.is_file():
            raise InvalidInputError(f"{img}: its parcellation {lab} is missing; put the DLMUSE file beside it")
        t1 = read_volume(img, as_label=False)
        labels = read_volume(lab, as_label=True)
        if not t1.same_grid(labels):
            raise InvalidInputError(f"{lab}: not on the grid of {img.name}; use the parcellation made from that scan")
        codes = np.unique(labels.data)
        missing = [c for c in MUSE_CODES["hippocampus"].values() if c not in codes]
        if missing:
            raise InvalidInputError(f"{lab}: lacks MUSE hippocampus codes {missing}; is this a DLMUSE parcellation?")
        name = stem.replace("-T1_ds", "").replace("_T1", "")
        out.append(SourceScan(name=name, t1=t1, labels=labels))
    return out


# ------------------------------------------------------------------------------------------ atrophy
@dataclass
class PlantedAtrophy:
    """Requested and achieved fractional volume changes per region (``left_hippocampus``, ...)."""

    severity: float
    regions: dict[str, dict[str, float]] = field(default_factory=dict)
    iterations: int = 0
    min_jacobian: float = 1.0
    ex_vacuo_ml: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"severity": self.severity, "regions": self.regions, "iterations": self.iterations,
                "min_jacobian": self.min_jacobian, "ex_vacuo_ml": self.ex_vacuo_ml}


def _targets(labels: np.ndarray, severity: float) -> list[tuple[str, str, int, float]]:
    present = set(np.unique(labels).tolist())
    out = []
    for region, factor in ATROPHY_FACTORS.items():
        for side, code in MUSE_CODES[region].items():
            if code in present:
                out.append((f"{side}_{region}", side, code, factor * severity))
    return out


def plant_atrophy(
    t1: np.ndarray,
    labels: np.ndarray,
    severity: float,
    spacing: tuple[float, float, float],
    *,
    sigma_mm: float = _SIGMA_MM,
    tolerance: float = _TOLERANCE,
    max_iterations: int = 15,
) -> tuple[np.ndarray, np.ndarray, PlantedAtrophy]:
    """Shrink the medial temporal regions and enlarge the ventricles of one scan (module notes).

    Parameters
    ----------
    t1, labels
        The scan and its MUSE parcellation (same shape, array order).
    severity
        Fractional hippocampal volume loss, in (0, :data:`MAX_SEVERITY`].
    spacing
        Voxel size in mm per array axis.

    Returns
    -------
    (t1, labels, PlantedAtrophy)
        The atrophied image (float32) and labels, and per region the requested and achieved
        fractional changes (``achieved``: linearly interpolated warped mask, the calibrated measure;
        ``label_change``: voxel count of the final label map, ex vacuo relabelling included; each
        region keeps the voxels where its warped partial-volume mask is highest, as many as its
        original count times ``1 + achieved``).

    Raises
    ------
    InvalidInputError
        Severity out of range, no target region in ``labels``, a warp that would fold, or a
        calibration that did not reach ``tolerance``.
    """
    from scipy import ndimage

    if not 0.0 < float(severity) <= MAX_SEVERITY:
        raise InvalidInputError(f"severity must be in (0, {MAX_SEVERITY}] (fractional hippocampal loss), got {severity}")
    if t1.shape != labels.shape or t1.ndim != 3:
        raise InvalidInputError(f"plant_atrophy: image {t1.shape} and labels {labels.shape} must be one 3-D grid")
    targets = _targets(labels, float(severity))
    if not any(r.endswith("hippocampus") for r, *_ in targets):
        raise InvalidInputError("plant_atrophy: the parcellation holds no MUSE hippocampus (47/48)")
    sp = np.asarray(spacing, float)
    sigma_vox = sigma_mm / sp
    any_mask = np.isin(labels, [c for _, _, c, _ in targets])
    margin = np.ceil(3 * sigma_vox + 3).astype(int)
    nz = np.argwhere(any_mask)
    lo = np.maximum(nz.min(0) - margin, 0)
    hi = np.minimum(nz.max(0) + margin + 1, labels.shape)
    box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
    lab_c = labels[box]
    # partial-volume masks: a border moved by a fraction of a voxel then changes the 0.5 iso-surface
    masks = [ndimage.gaussian_filter((lab_c == code).astype(np.float32), _PV_SIGMA_VOX) for _, _, code, _ in targets]
    dirs = []
    for m in masks:
        g = np.gradient(ndimage.gaussian_filter(m, sigma_vox))
        norm = float(np.sqrt(sum(c * c for c in g)).max()) or 1.0
        dirs.append([c / norm for c in g])
    grid = np.indices(lab_c.shape, dtype=np.float32)
    v0 = np.array([m.sum() for m in masks], dtype=float)
    want = np.array([t[3] for t in targets])
    amp = np.full(len(targets), 0.5)

    def displacement(a: np.ndarray) -> list[np.ndarray]:
        # shrink (want < 0): u = -a grad g (read from outside); grow: u = +a grad g
        return [sum(np.sign(w) * ai * d[k] for ai, w, d in zip(a, want, dirs, strict=True)) for k in range(3)]

    def measure(u: list[np.ndarray]) -> np.ndarray:
        coords = [grid[k] + u[k] for k in range(3)]
        return np.array([ndimage.map_coordinates(m, coords, order=1, mode="nearest").sum() for m in masks])

    it = 0
    for it in range(1, max_iterations + 1):  # noqa: B007
        got = measure(displacement(amp)) / v0 - 1.0
        if np.all(np.abs(got - want) <= tolerance):
            break
        ok = (np.sign(got) == np.sign(want)) & (np.abs(got) > 1e-6)
        amp = np.where(ok, amp * np.clip(want / np.where(ok, got, 1.0), 0.3, 3.0), amp * 2.0)
    else:
        raise InvalidInputError(
            f"atrophy calibration did not reach {tolerance:.3f} in {max_iterations} steps "
            f"(worst error {np.abs(got - want).max():.3f}); lower the severity")
    u = displacement(amp)
    jac = np.linalg.det(np.stack([np.stack(np.gradient(u[k]), -1) for k in range(3)], -2) + np.eye(3))
    min_jac = float(jac.min())
    if min_jac < _MIN_JACOBIAN:
        raise InvalidInputError(f"severity {severity:g} folds the anatomy (minimum Jacobian {min_jac:.2f}); lower it")
    coords = [grid[k] + u[k] for k in range(3)]
    t1_c = ndimage.map_coordinates(t1[box].astype(np.float32), coords, order=3, mode="nearest")
    lab_w = ndimage.map_coordinates(lab_c, coords, order=0, mode="nearest").astype(labels.dtype)
    # Labels of the target regions: each region takes the voxels where its warped partial-volume mask
    # is highest, as many as its original voxel count times the achieved change (volume-preserving
    # voxelisation: sub-voxel border moves would otherwise round away at 2 mm).
    warped = np.stack([ndimage.map_coordinates(m, coords, order=1, mode="nearest") for m in masks])
    codes = np.array([c for _, _, c, _ in targets], dtype=labels.dtype)
    count0 = np.array([int((lab_c == c).sum()) for c in codes])
    claimed = np.zeros(lab_c.shape, dtype=bool)
    new_lab = np.zeros(lab_c.shape, dtype=labels.dtype)
    for r in np.argsort(-count0):
        score = np.where(claimed, 0.0, warped[r]).ravel()
        n_r = min(int(round(count0[r] * (1.0 + got[r]))), int((score > 0.05).sum()))
        pick = np.argpartition(-score, n_r)[:n_r] if n_r > 0 else np.array([], dtype=int)
        flat = claimed.ravel()
        flat[pick] = True
        new_lab.ravel()[pick] = codes[r]
    inside = claimed
    lab_w[inside] = new_lab[inside]
    # ex vacuo: vacated medial temporal tissue becomes CSF of the same side's temporal horn
    vent = np.isin(labels, list(MUSE_CODES["lateral_ventricle"].values()))
    csf = float(np.median(t1[vent])) if vent.any() else float(np.percentile(t1[labels > 0], 2))
    vac = np.zeros(lab_c.shape, np.float32)
    for (name, side, code, _), m, w in zip(targets, masks, warped, strict=True):
        if name.split("_", 1)[1] in _EX_VACUO:
            vac += np.clip(m - w, 0, 1)  # partial-volume loss
            lost = ~inside & (lab_c == code)  # voxels the region's label gave up
            lab_w[lost] = MUSE_CODES["inferior_lateral_ventricle"][side]
            vac[lost] = 1.0
    vac = np.clip(ndimage.gaussian_filter(vac, _PV_SIGMA_VOX), 0, 1)
    vac = np.maximum(vac, 0.8 * (np.isin(lab_w, list(MUSE_CODES["inferior_lateral_ventricle"].values()))
                                 & ~np.isin(lab_c, list(MUSE_CODES["inferior_lateral_ventricle"].values()))))
    t1_c = (1 - vac) * t1_c + vac * csf
    stray = np.isin(lab_w, codes) & ~inside  # a target code carried by the warp where it lost the vote
    if stray.any():  # the nearest voxel of another label takes it
        _, nearest = ndimage.distance_transform_edt(np.isin(lab_w, codes), return_indices=True)
        lab_w[stray] = lab_w[tuple(ix[stray] for ix in nearest)]
    vox_ml = float(np.prod(sp)) / 1000.0
    ilv = {s: int((lab_w == c).sum() - (lab_c == c).sum()) for s, c in MUSE_CODES["inferior_lateral_ventricle"].items()}
    t1_out = t1.astype(np.float32, copy=True)
    lab_out = labels.copy()
    t1_out[box] = t1_c
    lab_out[box] = lab_w
    planted = PlantedAtrophy(severity=float(severity), iterations=it, min_jacobian=round(min_jac, 3),
                             ex_vacuo_ml={s: round(n * vox_ml, 3) for s, n in ilv.items()})
    for (name, _, code, w), g, before in zip(targets, got, count0, strict=True):
        after_n = int((lab_w == code).sum())
        planted.regions[name] = {"code": code, "requested": round(float(w), 4), "achieved": round(float(g), 4),
                                 "label_change": round(after_n / before - 1.0, 4),
                                 "volume_ml_before": round(before * vox_ml, 3), "volume_ml_after": round(after_n * vox_ml, 3)}
    return t1_out, lab_out, planted


# ------------------------------------------------------------------------------------------ subject
@dataclass
class SimulatedSubject:
    """One simulated subject: its T1, parcellation and what was done to it."""

    t1: Volume
    labels: Volume
    facts: dict[str, Any]


def _smooth_noise(shape: tuple[int, ...], sigma_vox: float, rng: np.random.Generator) -> np.ndarray:
    """Unit-SD Gaussian-smoothed white noise (smoothing ``sigma_vox``), made on a grid coarsened by up to
    ``sigma_vox / 2`` and linearly interpolated up to ``shape`` (fast for large sigmas)."""
    from scipy import ndimage

    f = max(1, int(sigma_vox // 2))
    coarse_shape = tuple(max(2, -(-n // f)) for n in shape)
    coarse = ndimage.gaussian_filter(rng.standard_normal(coarse_shape), sigma_vox / f, mode="wrap")
    if f > 1:
        coarse = ndimage.zoom(coarse, [s / c for s, c in zip(shape, coarse_shape, strict=True)], order=1,
                              mode="nearest", grid_mode=True)
    field = coarse[tuple(slice(0, s) for s in shape)]
    return ((field - field.mean()) / (field.std() or 1.0)).astype(np.float32)


def simulate_subject(source: SourceScan, *, severity: float = 0.0, seed: int = 0, name: str = "subject") -> SimulatedSubject:
    """One subject made from ``source`` (module notes): atrophy when ``severity > 0``, then normal variation."""
    from scipy import ndimage
    from scipy.spatial.transform import Rotation

    t0 = time.perf_counter()
    rng = np.random.default_rng(seed)
    t1 = np.asarray(source.t1.data, dtype=np.float32)
    lab = np.asarray(source.labels.data)
    sp = np.asarray(source.t1.spacing, float)
    planted = None
    if severity > 0:
        t1, lab, planted = plant_atrophy(t1, lab, severity, tuple(sp))
    shape = t1.shape
    # pose about the centre, in mm along the array axes
    rot = Rotation.from_euler("xyz", rng.uniform(-1, 1, 3) * _POSE["rotation_deg"], degrees=True).as_matrix()
    scale = 1.0 + rng.uniform(-1, 1, 3) * _POSE["scale"]
    shift = rng.uniform(-1, 1, 3) * _POSE["translation_mm"]
    m = rot @ np.diag(scale)
    centre = (np.asarray(shape) - 1) / 2.0 * sp
    warp_sigma = _WARP["sigma_mm"] / float(sp.mean())
    idx = np.indices(shape, dtype=np.float32)
    coords = []
    for k in range(3):
        mm = sum(m[k, j] * (idx[j] * sp[j] - centre[j]) for j in range(3)) + centre[k] + shift[k]
        mm += _WARP["rms_mm"] / np.sqrt(3) * _smooth_noise(shape, warp_sigma, rng)
        coords.append((mm / sp[k]).astype(np.float32))
    del idx
    img = ndimage.map_coordinates(t1, coords, order=3, mode="constant", cval=0.0)
    labels = ndimage.map_coordinates(lab, coords, order=0, mode="constant", cval=0).astype(lab.dtype)
    img = np.clip(img, 0, None)
    # acquisition: gain, bias, Rician noise
    gain = 1.0 + rng.uniform(-1, 1) * _ACQ["gain"]
    bias = np.exp(_ACQ["bias_sd"] * _smooth_noise(shape, _ACQ["bias_sigma_mm"] / float(sp.mean()), rng))
    ref = float(np.percentile(img[labels > 0], 99)) if (labels > 0).any() else float(img.max())
    sd = _ACQ["noise_fraction"] * ref * gain
    img = img * gain * bias
    img = np.sqrt((img + sd * rng.standard_normal(shape, dtype=np.float32)) ** 2
                  + (sd * rng.standard_normal(shape, dtype=np.float32)) ** 2).astype(np.float32)
    facts: dict[str, Any] = {
        "source": source.name, "seed": int(seed), "severity": float(severity),
        "pose": {"rotation_matrix": np.round(rot, 5).tolist(), "scale": np.round(scale, 4).tolist(),
                 "translation_mm": np.round(shift, 3).tolist()},
        "gain": round(float(gain), 4), "noise_sd": round(sd, 3),
        "planted": planted.to_dict() if planted is not None else None,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    geo = {"spacing": source.t1.spacing, "origin": source.t1.origin, "direction": source.t1.direction}
    t1_vol = Volume(img, **geo, modality="MR", name=f"{name}_T1", meta={"simulated": facts})
    lab_vol = Volume(labels, **geo, is_label=True, name=f"{name}_dlmuse")
    return SimulatedSubject(t1=t1_vol, labels=lab_vol, facts=facts)


# ------------------------------------------------------------------------------------------- cohort
@dataclass
class CohortResult:
    """What :func:`simulate_cohort` wrote: the folder, the rows of ``labels.csv`` and the manifest."""

    folder: Path
    rows: list[dict[str, Any]]
    manifest: dict[str, Any]


def _check_out_dir(out: Path, source_root: Path | None, overwrite: bool) -> None:
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"{out}: is a file; give a folder for the cohort")
    if source_root is not None:
        o, s = out.resolve(), source_root.resolve()
        if o == s or s in o.parents or o in s.parents:
            raise InvalidInputError(f"{out}: overlaps the source folder {source_root}; write the cohort elsewhere")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise InvalidInputError(f"{out}: is not empty; choose a new folder or pass overwrite (--overwrite)")


def check_cohort_options(
    out_dir: str | os.PathLike[str],
    *,
    n_subjects: int,
    severity: float,
    spread: float = 0.4,
    source_dir: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Check :func:`simulate_cohort`'s options before any work; returns the output folder.

    Raises
    ------
    InvalidInputError
        A count, severity or spread out of range, or an output folder that is a file, overlaps the
        sources, or is not empty (without ``overwrite``).
    """
    n = int(n_subjects)
    if not 2 <= n <= 2000:
        raise InvalidInputError(f"n_subjects must be 2 to 2000, got {n_subjects}")
    if not 0.0 <= float(spread) <= 0.9:
        raise InvalidInputError(f"spread must be in [0, 0.9], got {spread}")
    top = MAX_SEVERITY / (1.0 + spread)
    if not 0.0 < float(severity) <= top + 1e-12:
        raise InvalidInputError(f"severity must be in (0, {top:.3f}] with spread {spread:g} "
                                f"(fractional hippocampal loss; the largest AD subject loses {MAX_SEVERITY})")
    out = Path(out_dir).expanduser()
    root = Path(source_dir).expanduser() if source_dir is not None else default_source_dir()
    _check_out_dir(out, root, overwrite)
    return out


def simulate_cohort(
    out_dir: str | os.PathLike[str],
    *,
    n_subjects: int,
    severity: float,
    seed: int = 0,
    source_dir: str | os.PathLike[str] | None = None,
    sources: list[SourceScan] | None = None,
    spread: float = 0.4,
    overwrite: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> CohortResult:
    """Write a simulated AD / NC cohort to ``out_dir`` (module notes).

    Parameters
    ----------
    out_dir
        New (or empty) folder; it receives ``t1/<subject>.nii.gz``, ``dlmuse/<subject>.nii.gz``,
        ``labels.csv`` (subject, diagnosis, source, severity) and ``manifest.json`` (model, seed,
        codes, per-subject facts: planted changes, pose, seconds).
    n_subjects
        2 to 2000; ``n_subjects // 2`` are AD.
    severity
        Mean fractional hippocampal loss of the AD subjects, in (0, :data:`MAX_SEVERITY` / (1 + spread)].
    seed
        Drives everything; the same seed and sources give the same cohort.
    source_dir, sources
        The brain_t1_ixi folder (see :func:`load_sources`), or scans already read.
    spread
        AD severities are ``severity x U(1 - spread, 1 + spread)``, spread in [0, 0.9].
    overwrite
        Allow a non-empty ``out_dir`` (files of the same names are replaced).
    """
    out = check_cohort_options(out_dir, n_subjects=n_subjects, severity=severity, spread=spread,
                               source_dir=source_dir, overwrite=overwrite)
    n = int(n_subjects)
    root = Path(source_dir).expanduser() if source_dir is not None else None
    if sources is None:
        sources = load_sources(root)
        root = root or default_source_dir()
    if not sources:
        raise InvalidInputError("no source scans given")
    say = progress or (lambda f, m: None)
    rng = np.random.default_rng(seed)
    n_ad = n // 2
    diagnosis = rng.permutation(["AD"] * n_ad + ["NC"] * (n - n_ad)).tolist()
    order = rng.permutation(len(sources))
    counters = {"AD": int(rng.integers(len(sources))), "NC": int(rng.integers(len(sources)))}
    child_seeds = rng.integers(0, 2**31 - 1, n)
    sev_draw = rng.uniform(1 - spread, 1 + spread, n)
    rows, facts = [], []
    t0 = time.perf_counter()
    for i in range(n):
        if should_stop is not None and should_stop():
            raise Cancelled("cohort simulation cancelled")
        dx = diagnosis[i]
        src = sources[int(order[counters[dx] % len(sources)])]
        counters[dx] += 1
        sev = round(float(severity) * float(sev_draw[i]), 4) if dx == "AD" else 0.0
        name = f"sub-{i:04d}"
        say(i / n, f"{name}: {dx} from {src.name} (severity {sev:g})")
        subj = simulate_subject(src, severity=sev, seed=int(child_seeds[i]), name=name)
        write_volume(subj.t1, out / "t1" / f"{name}.nii.gz", overwrite=overwrite)
        write_volume(subj.labels, out / "dlmuse" / f"{name}.nii.gz", overwrite=overwrite)
        rows.append({"subject": name, "diagnosis": dx, "source": src.name, "severity": sev})
        facts.append({"subject": name, **subj.facts})
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=["subject", "diagnosis", "source", "severity"], lineterminator="\n")
    w.writeheader()
    w.writerows(rows)
    write_text_atomically(out / "labels.csv", buf.getvalue())
    manifest = {
        "kind": "napari-medai simulated Alzheimer cohort",
        "seed": int(seed), "n_subjects": n, "n_ad": n_ad, "severity": float(severity), "spread": float(spread),
        "source_dir": str(root) if root is not None else None,
        "sources": [s.name for s in sources],
        "model": {
            "severity": "fractional hippocampal volume loss of an AD subject",
            "muse_codes": MUSE_CODES, "atrophy_factors": ATROPHY_FACTORS, "ex_vacuo": list(_EX_VACUO),
            "atrophy_field": f"u = -/+ a grad(G_{_SIGMA_MM:g}mm * mask) / max|grad|, amplitudes calibrated "
                             f"to the requested fractional change within {_TOLERANCE}",
            "pose": _POSE, "smooth_warp": _WARP, "acquisition": _ACQ,
            "reference": "napari_medai.core.tasks.alzheimer.cohort (module docstring)",
        },
        "seconds": round(time.perf_counter() - t0, 1),
        "subjects": facts,
    }
    write_text_atomically(out / "manifest.json", json.dumps(manifest, indent=1) + "\n")
    say(1.0, f"wrote {n} subjects to {out}")
    return CohortResult(folder=out, rows=rows, manifest=manifest)
