"""Anatomical landmarks of Alzheimer's disease discovered from a labelled cohort (Liu et al. 2018).

Landmarks are the centres of the places where local morphology differs most between AD subjects and
normal controls (NC) after a linear alignment to a template. The steps:

1. **Cohort.** A folder of T1s (``DIR/t1/<subject>.nii.gz``, as ``simulate-cohort`` writes it, or
   ``DIR/<subject>.nii.gz``; any readable extension) and a CSV with a ``subject`` and a ``diagnosis``
   column (AD, or NC / CN; case ignored). Every subject named must have a file, both groups at least
   two subjects; anything else is refused before any work.
2. **Alignment** (:func:`align_cohort`). Every T1 is affinely registered to the MNI152 2009a template
   with :func:`.registration.register_to_template`, by default on the template's 2 mm grid
   (:func:`.registration.coarse_template`, the cohort preset; the simulated subjects are 2 mm scans).
   Each aligned T1 (``aligned/<subject>.nii.gz``), its transform (``transforms/<subject>.tfm``,
   template point -> T1 point, ITK text) and its metrics (``aligned/<subject>.json``) are kept in a
   work folder; a later run reuses them while the T1's size and modification time, the template and
   the grid are unchanged. Two limits are looser than the single-scan defaults, both from the real
   IXI039 scan, whose simulated subjects overlay MNI152 correctly (checked by eye on three slices):
   the anisotropy (1.5, not 1.3; IXI039's head fits with scales 1.10 / 0.91 / 0.82, anisotropy 1.34,
   at 2 mm and at 1 mm alike) and the correlation floor (0.25, not 0.3; its noisy, bias-fielded
   simulated subjects score 0.28-0.30; the 39 accepted subjects of the benchmark's 40 score
   0.29-0.47, the one refused, visibly misaligned, 0.13). A subject whose fit is still refused stops
   the run with the reason, or with ``drop_failed`` is left out of the comparison and listed in
   ``AlignedCohort.dropped``. When every T1 already lies on the template's grid (1 mm, or the
   preset's grid), registration is skipped and said so (``align="auto"``); ``align="skip"`` trusts a
   cohort already aligned on any one common grid.
3. **Group comparison** (:func:`group_comparison`). Each aligned T1 is divided by its mean inside the
   analysis mask (proportional scaling: gain and bias differ between scans), then smoothed by a
   Gaussian of ``fwhm_mm`` full width at half maximum (default 4 mm, sigma = FWHM / 2.355 per axis;
   the smoothed intensity is a proxy of local tissue density, as in voxel-based morphometry, and the
   smoothing absorbs the residual misalignment an affine leaves). Welch's unequal-variance t-test
   (``scipy.stats.ttest_ind(equal_var=False)``) compares AD with NC at every voxel of the analysis
   mask: the template's brain mask where every aligned T1 has data (non-zero: the registration
   writes 0 outside a T1's field of view); with ``align="skip"`` on a grid other than the
   template's, the mask is the largest Otsu component of the group-mean image. ``t`` is signed AD
   minus NC (negative: darker in AD, as where tissue became CSF); the two-sided p-value map is 1 and
   ``t`` 0 outside the mask.
4. **Selection** (:func:`select_landmarks`). Voxels sorted by p-value (ties: larger ``|t|``, then
   array order) are taken greedily; a voxel closer than ``min_distance_mm`` (Euclidean, in mm) to a
   landmark already taken is skipped; the first ``n`` taken are the landmarks, rank 1 the most
   significant. The paper uses 50 landmarks (the authors' demo 20); its minimum distance could not be
   checked here, so the default 15 mm is this module's choice: close enough for the amygdala and the
   hippocampus of one side (centres 18 mm apart in the benchmark's template space) to hold one
   landmark each, wide enough that 50 landmarks spread over the brain instead of crowding one
   cluster.

Positions are reported in MNI millimetres as MNI coordinates are usually written (RAS: +x towards
the subject's right, +y anterior, +z superior; ``x = -L``, ``y = -P``, ``z = S`` of the core's LPS
world) and as array indices of the analysis grid.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import Cancelled, ProgressFn, StopFn
from ...errors import InvalidInputError, MedaiError
from ...evaluate import check_output_path, write_text_atomically
from ...io import read_volume, write_volume
from ...volume import Volume
from .registration import (
    RegistrationError,
    Template,
    coarse_template,
    load_template,
    register_to_template,
)

__all__ = [
    "COHORT_MAX_ANISOTROPY",
    "COHORT_MIN_CORRELATION",
    "DEFAULT_FWHM_MM",
    "DEFAULT_MIN_DISTANCE_MM",
    "DEFAULT_N_LANDMARKS",
    "AlignedCohort",
    "CohortSubject",
    "GroupMaps",
    "Landmark",
    "LandmarkResult",
    "align_cohort",
    "discover_landmarks",
    "group_comparison",
    "labels_column",
    "labels_reader",
    "landmarks_csv",
    "read_cohort",
    "select_landmarks",
    "write_landmarks",
]

DEFAULT_N_LANDMARKS = 50
DEFAULT_MIN_DISTANCE_MM = 15.0
DEFAULT_FWHM_MM = 4.0
#: Largest / smallest scale of an accepted affine for a cohort (module notes, step 2).
COHORT_MAX_ANISOTROPY = 1.5
#: Correlation floor inside the template's brain for a cohort's fits (module notes, step 2).
COHORT_MIN_CORRELATION = 0.25
_READ_EXT = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")
_DIAGNOSES = {"AD": "AD", "NC": "NC", "CN": "NC"}
_SUBJECT_COLS = ("subject", "subject_id", "id")
_DIAGNOSIS_COLS = ("diagnosis", "dx", "group", "label")
_CSV_FIELDS = ["rank", "x_mni_mm", "y_mni_mm", "z_mni_mm", "index_0", "index_1", "index_2", "p_value", "t"]


# ------------------------------------------------------------------------------------------- cohort
@dataclass(frozen=True)
class CohortSubject:
    """One subject of the cohort: its id, diagnosis (``AD`` or ``NC``) and T1 file."""

    subject: str
    diagnosis: str
    path: Path


def _find_t1(root: Path, subject: str) -> Path | None:
    for folder in (root / "t1", root):
        for ext in _READ_EXT:
            p = folder / f"{subject}{ext}"
            if p.is_file():
                return p
    return None


def labels_reader(labels_csv: str | os.PathLike[str]) -> csv.DictReader:
    """The rows of a labels CSV (UTF-8, with or without a byte-order mark) as dicts by column name."""
    table = Path(labels_csv).expanduser()
    try:
        text = table.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"--labels {table}: cannot be read as UTF-8 text ({exc})") from exc
    return csv.DictReader(io.StringIO(text))


def labels_column(reader: csv.DictReader, names: tuple[str, ...] = _SUBJECT_COLS) -> str | None:
    """The column of ``reader`` named one of ``names`` (case and spaces aside), or None; default: the subject's."""
    header = {h.strip().lower(): h for h in (reader.fieldnames or []) if h}
    return next((header[c] for c in names if c in header), None)


def read_cohort(cohort_dir: str | os.PathLike[str], labels_csv: str | os.PathLike[str]) -> list[CohortSubject]:
    """Read the labels CSV and find each subject's T1 in the cohort folder (module notes, step 1).

    Raises
    ------
    InvalidInputError
        A missing folder or CSV, no subject / diagnosis column, an empty or duplicated subject, an
        unknown diagnosis, subjects without a T1 file, or fewer than two subjects in a group.
    """
    root = Path(cohort_dir).expanduser()
    table = Path(labels_csv).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"--cohort {root}: no such folder; give the folder holding the T1s (t1/<subject>.nii.gz)")
    if not table.is_file():
        raise InvalidInputError(f"--labels {table}: no such file; give a CSV with subject and diagnosis columns")
    reader = labels_reader(table)
    s_col, d_col = labels_column(reader), labels_column(reader, _DIAGNOSIS_COLS)
    if s_col is None or d_col is None:
        raise InvalidInputError(f"--labels {table}: needs a 'subject' and a 'diagnosis' column "
                                f"(found {', '.join(reader.fieldnames or []) or 'no header'})")
    out: list[CohortSubject] = []
    seen: set[str] = set()
    missing: list[str] = []
    for line, row in enumerate(reader, start=2):
        subject = (row.get(s_col) or "").strip()
        dx_raw = (row.get(d_col) or "").strip()
        if not subject:
            raise InvalidInputError(f"--labels {table}: line {line} has no subject id")
        if subject in seen:
            raise InvalidInputError(f"--labels {table}: subject {subject} appears twice (line {line}); keep one row")
        seen.add(subject)
        dx = _DIAGNOSES.get(dx_raw.upper())
        if dx is None:
            raise InvalidInputError(f"--labels {table}: subject {subject} has diagnosis '{dx_raw}' (line {line}); "
                                    "landmarks compare AD with NC (or CN): drop other rows")
        path = _find_t1(root, subject)
        if path is None:
            missing.append(subject)
            continue
        out.append(CohortSubject(subject=subject, diagnosis=dx, path=path))
    if missing:
        names = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise InvalidInputError(f"--cohort {root}: no T1 for {len(missing)} subject(s) of {table.name} ({names}); "
                                "put t1/<subject>.nii.gz there or drop their rows")
    counts = {g: sum(s.diagnosis == g for s in out) for g in ("AD", "NC")}
    if min(counts.values()) < 2:
        raise InvalidInputError(f"--labels {table}: {counts['AD']} AD and {counts['NC']} NC subjects; the group "
                                "comparison needs at least 2 of each diagnosis")
    return out


# ---------------------------------------------------------------------------------------- alignment
@dataclass
class AlignedCohort:
    """The cohort on one grid: the grid (template image or first T1), analysis mask, aligned data."""

    grid: Volume
    mask: np.ndarray
    subjects: list[CohortSubject]
    data: list[np.ndarray]
    registered: bool
    note: str
    transforms: dict[str, Path] = field(default_factory=dict)
    metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds_per_subject: dict[str, float] = field(default_factory=dict)
    cpu_seconds_per_subject: dict[str, float] = field(default_factory=dict)
    reused: int = 0
    dropped: dict[str, str] = field(default_factory=dict)


def _fingerprint(path: Path) -> dict[str, Any]:
    st = path.stat()
    return {"t1": str(path.resolve()), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def _otsu_largest(data: np.ndarray) -> np.ndarray:
    from scipy import ndimage
    from skimage.filters import threshold_otsu

    vals = data[np.isfinite(data)]
    if vals.size == 0 or float(vals.max()) <= float(vals.min()):
        raise InvalidInputError("the cohort's mean image is constant; give T1 images")
    lab, n = ndimage.label(data > threshold_otsu(vals))
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return ndimage.binary_fill_holes(lab == int(np.argmax(sizes)))


def align_cohort(
    subjects: list[CohortSubject],
    template: Template | str | os.PathLike[str] | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    *,
    align: str = "auto",
    spacing_mm: float | None = 2.0,
    max_anisotropy: float = COHORT_MAX_ANISOTROPY,
    min_correlation: float = COHORT_MIN_CORRELATION,
    drop_failed: bool = False,
    seed: int = 0,
    threads: int | None = 1,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> AlignedCohort:
    """Bring the cohort onto one grid (module notes, step 2).

    Parameters
    ----------
    subjects
        From :func:`read_cohort`.
    template
        A :class:`.registration.Template`, its path, or None (nilearn's copy). Unused by ``align="skip"``
        on a non-template grid.
    work_dir
        Folder for the aligned T1s, transforms and metrics (created; reused as a cache). None: nothing
        is kept (a temporary folder).
    align
        ``"auto"`` (register unless every T1 already lies on the template's grid), ``"register"`` or
        ``"skip"`` (every T1 must lie on one common grid).
    spacing_mm
        Grid of the registration and the analysis (the cohort preset, 2 mm); None: the template's 1 mm.
    max_anisotropy, min_correlation, seed, threads
        Passed to :func:`.registration.register_to_template` (one ITK thread by default).
    drop_failed
        Leave a subject whose fit is refused out (its reason in ``dropped``) instead of stopping.

    Raises
    ------
    InvalidInputError
        Unknown ``align``, T1s on different grids with ``"skip"``, a work folder that is a file.
    RegistrationError
        A subject's registration clearly failed (the subject and the reason in the message).
    """
    if align not in ("auto", "register", "skip"):
        raise InvalidInputError(f"align must be 'auto', 'register' or 'skip', got {align!r}")
    say = progress or (lambda f, m: None)
    work = Path(work_dir).expanduser() if work_dir is not None else None
    if work is not None and work.exists() and not work.is_dir():
        raise InvalidInputError(f"--work {work}: is a file; give a folder for the aligned volumes")
    tpl: Template | None = None
    full: Template | None = None
    if align != "skip" or template is not None:
        full = template if isinstance(template, Template) else load_template(template)
        tpl = full
        if spacing_mm is not None and spacing_mm > min(full.image.spacing) + 1e-6:
            tpl = coarse_template(full, spacing_mm)
    first = read_volume(subjects[0].path, as_label=False)
    grids = [t for t in (tpl, full) if t is not None]
    if align in ("auto", "skip"):
        vols = [first] + [read_volume(s.path, as_label=False) for s in subjects[1:]]
        on_one = all(v.same_grid(first) and v.data.shape == first.data.shape for v in vols)
        on_tpl = on_one and any(first.same_grid(g.image) for g in grids)
        if align == "skip" and not on_one:
            bad = next(s for s, v in zip(subjects, vols, strict=True) if not v.same_grid(first))
            raise InvalidInputError(f"{bad.path}: not on the grid of {subjects[0].path.name}; the cohort is not aligned "
                                    "(drop --aligned to register every subject to MNI152)")
        if align == "skip" or on_tpl:
            data = [np.asarray(v.data, dtype=np.float32) for v in vols]
            match = next((g for g in grids if first.same_grid(g.image)), None)
            if match is not None:
                mask, where = match.brain_mask, "the template's brain mask"
            else:
                mask, where = _otsu_largest(np.mean(data, axis=0)), "the group-mean image's Otsu mask"
            note = (f"all {len(subjects)} T1s already lie on one grid "
                    f"({' x '.join(str(n) for n in first.spatial_shape)}, {first.spacing[0]:g} mm"
                    f"{', the template grid' if on_tpl else ''}): registration skipped; analysis inside {where}")
            say(1.0, note)
            return AlignedCohort(grid=first.with_data(np.zeros(first.spatial_shape, np.float32)), mask=mask,
                                 subjects=list(subjects), data=data, registered=False, note=note)
    assert tpl is not None
    tmp = None
    if work is None:
        tmp = tempfile.TemporaryDirectory(prefix="medai-landmarks-")
        work = Path(tmp.name)
    try:
        return _register_all(subjects, tpl, work, spacing_mm=spacing_mm, max_anisotropy=max_anisotropy,
                             min_correlation=min_correlation, drop_failed=drop_failed, seed=seed, threads=threads,
                             say=say, should_stop=should_stop, kept=tmp is None)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _register_all(subjects: list[CohortSubject], tpl: Template, work: Path, *, spacing_mm: float | None,
                  max_anisotropy: float, min_correlation: float, drop_failed: bool, seed: int, threads: int | None,
                  say: ProgressFn, should_stop: StopFn | None, kept: bool) -> AlignedCohort:
    key = {"template": tpl.path, "grid_mm": spacing_mm, "seed": int(seed), "method": "register_to_template"}
    data, transforms, metrics, secs, cpu = [], {}, {}, {}, {}
    reused = 0
    n = len(subjects)
    used: list[CohortSubject] = []
    dropped: dict[str, str] = {}
    for i, s in enumerate(subjects):
        if should_stop is not None and should_stop():
            raise Cancelled("landmark discovery cancelled")
        img_p = work / "aligned" / f"{s.subject}.nii.gz"
        tfm_p = work / "transforms" / f"{s.subject}.tfm"
        meta_p = work / "aligned" / f"{s.subject}.json"
        want = {**key, **_fingerprint(s.path)}
        cached = None
        if img_p.is_file() and tfm_p.is_file() and meta_p.is_file():
            try:
                doc = json.loads(meta_p.read_text())
                # the fit does not depend on the limits, its acceptance does
                m = doc.get("metrics", {})
                if (doc.get("key") == want and m.get("anisotropy", np.inf) <= max_anisotropy
                        and m.get("correlation_after", -1.0) >= min_correlation):
                    cached = doc
            except (OSError, ValueError):  # an unreadable cache record: the subject is aligned again and rewritten
                cached = None
        if cached is not None:
            vol = read_volume(img_p, as_label=False)
            if vol.same_grid(tpl.image):
                data.append(np.asarray(vol.data, dtype=np.float32))
                transforms[s.subject], metrics[s.subject] = tfm_p, cached["metrics"]
                secs[s.subject] = float(cached["metrics"].get("seconds", 0.0))
                reused += 1
                used.append(s)
                say((i + 1) / n, f"{s.subject}: aligned volume reused from {work}")
                continue
        say(i / n, f"{s.subject}: registering to MNI152 ({i + 1}/{n})")
        t0, c0 = time.perf_counter(), time.process_time()
        try:
            res = register_to_template(s.path, tpl, seed=seed, threads=threads, max_anisotropy=max_anisotropy,
                                       min_correlation=min_correlation)
        except RegistrationError as exc:
            if drop_failed:
                dropped[s.subject] = str(exc.metrics.get("reason"))
                say((i + 1) / n, f"{s.subject}: left out, registration refused: {dropped[s.subject]}")
                continue
            raise RegistrationError(f"subject {s.subject}: {exc}; fix the scan, drop its row from the labels CSV or leave it out (--drop-failed)",
                                    exc.metrics) from exc
        secs[s.subject] = round(time.perf_counter() - t0, 2)
        cpu[s.subject] = round(time.process_time() - c0, 2)  # all this process's threads
        write_volume(res.aligned, img_p, overwrite=True, protect=[s.path])
        res.save_transform(tfm_p, overwrite=True, protect=[s.path])
        write_text_atomically(meta_p, json.dumps({"key": want, "metrics": res.to_dict()}, indent=1) + "\n")
        data.append(np.asarray(res.aligned.data, dtype=np.float32))
        transforms[s.subject], metrics[s.subject] = tfm_p, res.to_dict()
        used.append(s)
    if not used:
        raise InvalidInputError(f"every subject's registration was refused (first: {next(iter(dropped.items()))})")
    corr = [m["correlation_after"] for m in metrics.values()]
    aniso = [m["anisotropy"] for m in metrics.values()]
    note = (f"{len(used)} of {n} T1s registered to MNI152 on its {tpl.image.spacing[0]:g} mm grid ({reused} reused from the work "
            f"folder); correlation inside the template's brain {min(corr):.2f}-{max(corr):.2f}, anisotropy "
            f"{min(aniso):.2f}-{max(aniso):.2f}"
            + (f"; kept in {work}" if kept else "; not kept (no work folder)")
            + (f"; left out (refused): {', '.join(f'{k} ({v})' for k, v in dropped.items())}" if dropped else ""))
    say(1.0, note)
    return AlignedCohort(grid=tpl.image, mask=tpl.brain_mask, subjects=used, data=data, registered=True,
                         note=note, transforms=transforms if kept else {}, metrics=metrics, seconds_per_subject=secs,
                         cpu_seconds_per_subject=cpu, reused=reused, dropped=dropped)


# --------------------------------------------------------------------------------- group comparison
@dataclass
class GroupMaps:
    """Voxel-wise Welch t (AD minus NC) and two-sided p-value maps on the analysis grid."""

    t: np.ndarray
    p: np.ndarray
    mask: np.ndarray
    n_ad: int
    n_nc: int
    fwhm_mm: float


def group_comparison(data: list[np.ndarray], diagnoses: list[str], mask: np.ndarray,
                     spacing: tuple[float, ...], *, fwhm_mm: float = DEFAULT_FWHM_MM) -> GroupMaps:
    """Welch's t-test of smoothed, proportionally scaled intensity, AD vs NC (module notes, step 3).

    Parameters
    ----------
    data
        One array per subject, all on the grid of ``mask``.
    diagnoses
        ``"AD"`` or ``"NC"`` per subject.
    mask
        The brain mask; voxels where any subject is exactly 0 (outside its field of view) are left out.
    spacing
        Voxel size per array axis (mm), for the smoothing.
    fwhm_mm
        Full width at half maximum of the Gaussian smoothing (0: none).
    """
    from scipy import ndimage, stats

    if len(data) != len(diagnoses):
        raise InvalidInputError(f"{len(data)} images for {len(diagnoses)} diagnoses")
    if not np.isfinite(fwhm_mm) or fwhm_mm < 0:
        raise InvalidInputError(f"fwhm_mm must be >= 0, got {fwhm_mm}")
    dx = np.asarray(diagnoses)
    n_ad, n_nc = int((dx == "AD").sum()), int((dx == "NC").sum())
    if n_ad < 2 or n_nc < 2 or n_ad + n_nc != len(dx):
        raise InvalidInputError(f"the comparison needs AD / NC only, at least 2 of each; got {n_ad} AD, {n_nc} NC "
                                f"of {len(dx)}")
    covered = mask.astype(bool).copy()
    for d in data:
        if d.shape != mask.shape:
            raise InvalidInputError(f"an image of shape {d.shape} is not on the mask's grid {mask.shape}")
        covered &= d != 0
    if covered.sum() < 10:
        raise InvalidInputError("fewer than 10 brain voxels are covered by every subject; check the alignment")
    sigma = [fwhm_mm / np.sqrt(8 * np.log(2)) / s for s in spacing]
    rows = np.empty((len(data), int(covered.sum())), dtype=np.float64)
    for i, d in enumerate(data):
        scaled = d.astype(np.float32) / float(np.mean(d[covered]))
        sm = ndimage.gaussian_filter(scaled, sigma) if fwhm_mm > 0 else scaled
        rows[i] = sm[covered]
    with np.errstate(invalid="ignore", divide="ignore"):
        res = stats.ttest_ind(rows[dx == "AD"], rows[dx == "NC"], axis=0, equal_var=False)
    t_v = np.nan_to_num(np.asarray(res.statistic, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    p_v = np.asarray(res.pvalue, dtype=np.float64)
    p_v = np.where(np.isfinite(p_v), p_v, 1.0)
    t = np.zeros(mask.shape, np.float32)
    p = np.ones(mask.shape, np.float64)
    t[covered] = t_v
    p[covered] = p_v
    return GroupMaps(t=t, p=p, mask=covered, n_ad=n_ad, n_nc=n_nc, fwhm_mm=float(fwhm_mm))


# ---------------------------------------------------------------------------------------- selection
@dataclass(frozen=True)
class Landmark:
    """One landmark: rank (1 = most significant), MNI position (RAS mm), array index, p and t."""

    rank: int
    mni_mm: tuple[float, float, float]
    index: tuple[int, int, int]
    p_value: float
    t: float

    def to_row(self) -> dict[str, Any]:
        return {"rank": self.rank, "x_mni_mm": round(self.mni_mm[0], 2), "y_mni_mm": round(self.mni_mm[1], 2),
                "z_mni_mm": round(self.mni_mm[2], 2), "index_0": self.index[0], "index_1": self.index[1],
                "index_2": self.index[2], "p_value": f"{self.p_value:.6g}", "t": round(self.t, 4)}


def _lps_to_mni(world: np.ndarray) -> np.ndarray:
    """(S, P, L) world (array-order LPS, the core's convention) -> MNI RAS (x, y, z)."""
    w = np.atleast_2d(world)
    return np.stack([-w[:, 2], -w[:, 1], w[:, 0]], axis=1)


def select_landmarks(p: np.ndarray, t: np.ndarray, grid: Volume, *, mask: np.ndarray | None = None,
                     n: int = DEFAULT_N_LANDMARKS, min_distance_mm: float = DEFAULT_MIN_DISTANCE_MM) -> list[Landmark]:
    """The ``n`` most significant voxels at least ``min_distance_mm`` apart (module notes, step 4).

    Parameters
    ----------
    p, t
        p-value and t maps on ``grid`` (array order).
    grid
        Gives spacing, origin and direction (its data are not used).
    mask
        Candidate voxels (default: everywhere ``p`` is finite).
    n
        Number of landmarks (>= 1); fewer are returned when the mask cannot hold more.
    min_distance_mm
        Smallest Euclidean distance between two landmarks (>= 0).
    """
    if int(n) < 1:
        raise InvalidInputError(f"the number of landmarks must be at least 1, got {n}")
    if not np.isfinite(min_distance_mm) or min_distance_mm < 0:
        raise InvalidInputError(f"the minimum distance must be >= 0 mm, got {min_distance_mm}")
    if p.shape != t.shape or p.shape != grid.spatial_shape:
        raise InvalidInputError(f"p {p.shape}, t {t.shape} and grid {grid.spatial_shape} differ")
    cand = np.isfinite(p) if mask is None else (mask.astype(bool) & np.isfinite(p))
    idx = np.argwhere(cand)
    if idx.size == 0:
        raise InvalidInputError("no candidate voxel (empty mask)")
    pv, tv = p[cand], t[cand]
    order = np.lexsort((np.arange(pv.size), -np.abs(tv), pv))  # p, then larger |t|, then array order
    world = grid.index_to_world(idx[order].astype(float))
    chosen: list[int] = []
    d2 = float(min_distance_mm) ** 2
    pts = np.empty((0, 3))
    for k in range(order.size):
        w = world[k]
        if pts.shape[0] and float(((pts - w) ** 2).sum(1).min()) < d2:
            continue
        chosen.append(k)
        pts = np.vstack([pts, w])
        if len(chosen) == int(n):
            break
    mni = _lps_to_mni(world[chosen]) if chosen else np.empty((0, 3))
    out = []
    for r, (k, m) in enumerate(zip(chosen, mni, strict=True), start=1):
        o = order[k]
        out.append(Landmark(rank=r, mni_mm=tuple(float(v) for v in m), index=tuple(int(v) for v in idx[o]),
                            p_value=float(pv[o]), t=float(tv[o])))
    return out


def landmarks_csv(landmarks: list[Landmark]) -> str:
    """The landmarks as CSV text (:data:`_CSV_FIELDS` columns, one row per landmark, by rank)."""
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=_CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(lm.to_row() for lm in landmarks)
    return buf.getvalue()


def write_landmarks(landmarks: list[Landmark], path: str | os.PathLike[str], *,
                    protect: tuple[str | os.PathLike[str], ...] = ()) -> Path:
    """Write the landmarks CSV atomically; never over a ``protect`` (input) file."""
    out = check_output_path(path, protect)
    write_text_atomically(out, landmarks_csv(landmarks))
    return out


# --------------------------------------------------------------------------------------------- all
@dataclass
class LandmarkResult:
    """Everything :func:`discover_landmarks` made."""

    landmarks: list[Landmark]
    maps: GroupMaps
    cohort: AlignedCohort
    seconds: dict[str, float]

    def p_map(self) -> Volume:
        """The p-value map as a float32 Volume on the analysis grid."""
        return self.cohort.grid.with_data(self.maps.p.astype(np.float32), name="landmark_p_values")

    def t_map(self) -> Volume:
        """The signed Welch t map (AD minus NC) as a Volume on the analysis grid."""
        return self.cohort.grid.with_data(self.maps.t, name="landmark_t")


def discover_landmarks(
    cohort_dir: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str],
    *,
    work_dir: str | os.PathLike[str] | None = None,
    template: Template | str | os.PathLike[str] | None = None,
    n: int = DEFAULT_N_LANDMARKS,
    min_distance_mm: float = DEFAULT_MIN_DISTANCE_MM,
    fwhm_mm: float = DEFAULT_FWHM_MM,
    align: str = "auto",
    spacing_mm: float | None = 2.0,
    max_anisotropy: float = COHORT_MAX_ANISOTROPY,
    min_correlation: float = COHORT_MIN_CORRELATION,
    drop_failed: bool = False,
    seed: int = 0,
    threads: int | None = 1,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> LandmarkResult:
    """Read, align, compare and select (module notes); options are checked before any work."""
    if int(n) < 1:
        raise InvalidInputError(f"--n must be at least 1, got {n}")
    if not np.isfinite(min_distance_mm) or min_distance_mm < 0:
        raise InvalidInputError(f"--min-distance must be >= 0 mm, got {min_distance_mm}")
    if not np.isfinite(fwhm_mm) or fwhm_mm < 0:
        raise InvalidInputError(f"--fwhm must be >= 0 mm, got {fwhm_mm}")
    subjects = read_cohort(cohort_dir, labels_csv)
    if work_dir is not None:
        w = Path(work_dir).expanduser().resolve()
        if any(w == s.path.resolve() for s in subjects):
            raise InvalidInputError(f"--work {work_dir}: is an input file; give a folder")
    t0 = time.perf_counter()
    cohort = align_cohort(subjects, template, work_dir, align=align, spacing_mm=spacing_mm,
                          max_anisotropy=max_anisotropy, min_correlation=min_correlation, drop_failed=drop_failed,
                          seed=seed,
                          threads=threads, progress=progress, should_stop=should_stop)
    t1 = time.perf_counter()
    maps = group_comparison(cohort.data, [s.diagnosis for s in cohort.subjects], cohort.mask, cohort.grid.spacing,
                            fwhm_mm=fwhm_mm)
    t2 = time.perf_counter()
    lms = select_landmarks(maps.p, maps.t, cohort.grid, mask=maps.mask, n=n, min_distance_mm=min_distance_mm)
    t3 = time.perf_counter()
    if not lms:
        raise MedaiError("no landmark selected")
    return LandmarkResult(landmarks=lms, maps=maps, cohort=cohort,
                          seconds={"align": round(t1 - t0, 2), "compare": round(t2 - t1, 2),
                                   "select": round(t3 - t2, 2), "total": round(t3 - t0, 2)})
