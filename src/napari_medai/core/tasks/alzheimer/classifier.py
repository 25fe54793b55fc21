"""Alzheimer's disease vs normal control from an aligned T1: a landmark-patch network or a whole-brain CNN.

The classifier of Liu, Zhang, Adeli, Shen 2018 (landmark-based deep multi-instance learning), on the
engine's classification kind:

1. **Cohort** (:func:`~.landmarks.read_cohort`): a folder of T1s and a labels CSV (``subject``,
   ``diagnosis`` AD / NC, and optionally ``source``: the real scan a simulated subject was made from;
   without it every subject is its own source). Every T1 is affinely registered to MNI152 on the 2 mm
   cohort grid (:func:`~.landmarks.align_cohort`, cached in ``work_dir``; a refused registration
   leaves the subject out, listed), or used as it is when the cohort already lies on one grid.
2. **Split by source** (:func:`napari_medai.core.recipes.base.split_groups`): about ``val_fraction``
   of the subjects, whole sources at a time, validate (they pick the best epoch); every subject made
   from one real scan stays on one side.
3. **Landmarks** (``model="landmarks"``) are discovered on the *training* subjects only
   (:func:`~.landmarks.group_comparison`, :func:`~.landmarks.select_landmarks`: Welch t-test of 4 mm
   smoothed intensity, the ``n_landmarks`` most significant centres at least ``min_distance_mm``
   apart) and stored in the model's contract (``landmark_points``, world mm) and as
   ``landmarks.csv`` in the model folder.
4. **Networks.** ``"landmarks"``: :mod:`napari_medai.core.models.landmark_net` (one ``patch``^3
   patch per landmark on the 2 mm grid, a shared 3-D CNN with a landmark embedding, fully connected
   fusion). ``"whole-brain"``: a small MONAI ``DenseNet`` (three dense blocks) on the whole aligned
   image resized to 4 mm voxels -- the baseline the paper's claim is about. Both train through
   :func:`napari_medai.core.training.train_classifier` with the same recipe (class-balanced
   batches, cross-entropy, AdamW, validation ROC AUC picks the best epoch; no flips by default:
   the patches sit at fixed anatomical places) and the same split.
5. **Prediction** (:func:`predict_alzheimer`): registration to MNI152 (refused when it clearly
   failed), P(AD), and for every landmark its occlusion contribution (P(AD) minus P(AD) with that
   patch blanked; :func:`napari_medai.core.landmark_patches.occlusion_contributions`) spread into a
   saliency volume on the MNI grid; a whole-brain model gets an occlusion map of 8^3-voxel blocks
   of its input. An untrained network gives no probability (``trained=False``).
6. **Evaluation** (:func:`evaluate_alzheimer`): P(AD) of every subject of a labelled cohort, the ROC
   curve, the AUC with DeLong's 95 % interval (:mod:`napari_medai.core.metrics.roc`), and accuracy,
   sensitivity and specificity at a threshold; subjects whose source scan the model trained on are
   counted and named (a held-out evaluation must have none). :func:`cross_validate_alzheimer` trains
   one model per fold of source scans and evaluates the pooled out-of-fold probabilities.

Measured (``benchmarks/alzheimer_classifier.py``, its notes give the table): on 40-subject cohorts
simulated from the IXI scans, tested on 12 subjects of 3 source scans never seen in training, the
landmark network reached AUC 0.78 [DeLong 95 % CI 0.48-1.00] at severity 0.2 where the whole-brain
baseline, trained the same way, stayed at 0.31 (paired p 0.009); 5-fold cross-validation by source
over all 39 subjects gave 0.78 [0.64-0.93] vs 0.54 [0.35-0.73] (p 0.065). At severities 0.1 and 0.05
neither differed from chance.

Everything here is a research tool on simulated data, never a diagnosis (:data:`DISCLAIMER`).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import ProgressFn, StopFn
from ...errors import InvalidInputError
from ...evaluate import write_text_atomically
from ...models.contract import ModelContract, NetworkSpec
from ...volume import Volume
from .landmarks import (
    COHORT_MAX_ANISOTROPY,
    COHORT_MIN_CORRELATION,
    DEFAULT_FWHM_MM,
    DEFAULT_MIN_DISTANCE_MM,
    AlignedCohort,
    CohortSubject,
    align_cohort,
    group_comparison,
    landmarks_csv,
    read_cohort,
    select_landmarks,
)

__all__ = [
    "CLASSES",
    "DISCLAIMER",
    "MODEL_KINDS",
    "TASK",
    "AlzheimerEvaluation",
    "AlzheimerPrediction",
    "cross_validate_alzheimer",
    "describe_alzheimer_cohort",
    "evaluate_alzheimer",
    "evaluation_from_probabilities",
    "landmark_contract",
    "predict_alzheimer",
    "read_sources",
    "train_alzheimer",
    "whole_brain_contract",
]

TASK = "alzheimer"
#: Class names in the network's output order (index 1 is AD).
CLASSES = ("NC", "AD")
MODEL_KINDS = ("landmarks", "whole-brain")
DISCLAIMER = ("Research tool, not a diagnosis: the model learned from a simulated cohort (atrophy planted in "
              "real healthy scans) and has never been validated on patients.")
#: The MNI grid (mm) the cohort is aligned on and the landmark patches are cut from.
GRID_MM = 2.0
#: Voxel size (mm) of the whole-brain baseline's input.
WHOLE_BRAIN_MM = 4.0
_TRAIN_DEFAULTS = {"batch_size": 8, "steps_per_epoch": 10, "learning_rate": 1e-3, "patience": 10}
_INFO_FILE = "alzheimer.json"


# ------------------------------------------------------------------------------------------- cohort
def read_sources(labels_csv: str | os.PathLike[str]) -> dict[str, str]:
    """``{subject: source}`` from the labels CSV's ``source`` column (empty dict when there is none)."""
    table = Path(labels_csv).expanduser()
    try:
        text = table.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"--labels {table}: cannot be read ({exc})") from exc
    reader = csv.DictReader(io.StringIO(text))
    header = {h.strip().lower(): h for h in (reader.fieldnames or []) if h}
    s_col = next((header[c] for c in ("subject", "subject_id", "id") if c in header), None)
    src_col = header.get("source")
    if s_col is None or src_col is None:
        return {}
    return {(r.get(s_col) or "").strip(): (r.get(src_col) or "").strip() for r in reader}


def _groups(subjects: Sequence[CohortSubject], sources: dict[str, str]) -> list[str]:
    return [sources.get(s.subject) or s.subject for s in subjects]


def describe_alzheimer_cohort(cohort_dir: str | os.PathLike[str], labels_csv: str | os.PathLike[str]) -> str:
    """One line: ``"40 subjects (20 AD / 20 NC) from 10 source scans"``.

    Raises
    ------
    InvalidInputError
        A bad folder or CSV (see :func:`~.landmarks.read_cohort`).
    """
    subjects = read_cohort(cohort_dir, labels_csv)
    sources = read_sources(labels_csv)
    n_ad = sum(s.diagnosis == "AD" for s in subjects)
    groups = set(_groups(subjects, sources))
    where = (f"from {len(groups)} source scan{'s' if len(groups) != 1 else ''}" if sources
             else "(no source column: every subject is its own source)")
    return f"{len(subjects)} subjects ({n_ad} AD / {len(subjects) - n_ad} NC) {where}"


def _align(subjects: list[CohortSubject], work_dir: Any, *, template: Any, align: str, drop_failed: bool,
           progress: ProgressFn | None, should_stop: StopFn | None) -> AlignedCohort:
    return align_cohort(subjects, template, work_dir, align=align, spacing_mm=GRID_MM,
                        max_anisotropy=COHORT_MAX_ANISOTROPY, min_correlation=COHORT_MIN_CORRELATION,
                        drop_failed=drop_failed, threads=1, progress=progress, should_stop=should_stop)


# ---------------------------------------------------------------------------------------- contracts
def landmark_contract(landmark_points: Sequence[Sequence[float]], *, patch: int = 24, spacing_mm: float = GRID_MM,
                      features: Sequence[int] = (16, 32, 64), embedding: int = 8, patch_fc: int = 32,
                      fc: Sequence[int] = (64,), dropout: float = 0.25, name: str = "alzheimer-landmarks",
                      description: str = "") -> ModelContract:
    """The (untrained) contract of a landmark-patch network: one ``patch``^3 patch per landmark.

    ``landmark_points`` are world points (mm, the core's ``(S, P, L)`` order) on the MNI grid of
    ``spacing_mm`` voxels, which the input is resampled to.
    """
    if int(patch) < 4:
        raise InvalidInputError(f"the patch edge must be at least 4 voxels, got {patch}")
    pts = [tuple(float(v) for v in p) for p in landmark_points]
    return ModelContract(
        name=name, task=TASK, kind="classification", channels=("t1",), output_kind="softmax",
        output_channels=CLASSES, decision_thresholds=(0.5, 0.5), roi_size=(int(patch),) * 3, spatial_dims=3,
        target_spacing=(float(spacing_mm),) * 3, normalization="zscore-nonzero", input_mode="landmarks",
        landmark_points=tuple(pts),
        network=NetworkSpec("LandmarkNet", {
            "n_landmarks": len(pts), "in_channels": 1, "out_channels": 2, "features": [int(f) for f in features],
            "embedding": int(embedding), "patch_fc": int(patch_fc), "fc": [int(u) for u in fc],
            "dropout": float(dropout)}),
        description=description or "napari-medai Alzheimer landmark-patch classifier (research tool, not a diagnosis)",
    )


def whole_brain_contract(grid: Volume, *, voxel_mm: float = WHOLE_BRAIN_MM, width: int = 16,
                         name: str = "alzheimer-whole-brain", description: str = "") -> ModelContract:
    """The (untrained) whole-brain baseline: a DenseNet on the aligned image resized to ``voxel_mm`` voxels.

    ``grid`` is the aligned cohort's grid (its shape and spacing give the input size, network axis
    order ``storage``: the Volume's axes reversed; at least 16 voxels per axis). Three dense blocks of
    two layers (two when an axis is under 32 voxels), ``width`` initial features, growth ``width / 2``.
    """
    from ...inference.layout import layout_for

    layout = layout_for(grid, "storage")
    shape, sp = layout.shape(grid.spatial_shape), layout.spacing(grid.spacing)
    roi = tuple(max(16, 2 * int(round(n * s / float(voxel_mm) / 2))) for n, s in zip(shape, sp, strict=True))
    blocks = [2, 2, 2] if min(roi) >= 32 else [2, 2]  # each block after the first halves the input
    return ModelContract(
        name=name, task=TASK, kind="classification", channels=("t1",), output_kind="softmax",
        output_channels=CLASSES, decision_thresholds=(0.5, 0.5), roi_size=roi, spatial_dims=3,
        target_spacing=tuple(float(s) for s in sp), normalization="zscore-nonzero", input_mode="whole",
        network=NetworkSpec("DenseNet", {
            "spatial_dims": 3, "in_channels": 1, "out_channels": 2, "init_features": int(width),
            "growth_rate": max(4, int(width) // 2), "block_config": blocks, "bn_size": 2, "dropout_prob": 0.25}),
        description=description or "napari-medai Alzheimer whole-brain baseline (research tool, not a diagnosis)",
    )


# ----------------------------------------------------------------------------------------- training
def _check_model_kind(model: str) -> str:
    if model not in MODEL_KINDS:
        raise InvalidInputError(f"model must be one of {', '.join(MODEL_KINDS)}, got {model!r}")
    return model


def train_alzheimer(
    cohort_dir: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    model: str = "landmarks",
    n_landmarks: int = 50,
    min_distance_mm: float = DEFAULT_MIN_DISTANCE_MM,
    patch: int = 24,
    work_dir: str | os.PathLike[str] | None = None,
    val_fraction: float = 0.25,
    seed: int = 0,
    max_epochs: int = 30,
    device: str = "auto",
    resume: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    template: Any = None,
    align: str = "auto",
    drop_failed: bool = True,
    fwhm_mm: float = DEFAULT_FWHM_MM,
    flip: bool = False,
    network: dict[str, Any] | None = None,
    **options: Any,
) -> Any:
    """Train an AD / NC classifier on a labelled T1 cohort into a model folder (module notes).

    Parameters
    ----------
    cohort_dir, labels_csv
        The cohort (see :func:`~.landmarks.read_cohort`); a ``source`` column keeps the subjects of
        one real scan on one side of the split.
    out_dir
        The model folder (``model.pt``, ``model.json``, ``landmarks.csv``, ``alzheimer.json``).
    model
        ``"landmarks"`` or ``"whole-brain"``.
    n_landmarks, min_distance_mm, fwhm_mm
        Landmark discovery on the training subjects (landmark models).
    patch
        Patch edge in voxels of the 2 mm grid (landmark models; 24 as in the paper, where it is 1 mm).
    work_dir
        Cache of the aligned T1s (see :func:`~.landmarks.align_cohort`); None: a temporary folder.
    val_fraction, seed
        Share of subjects (whole sources) that validate; seed of the split and the training.
    max_epochs, device, resume, progress, should_stop
        As for :func:`napari_medai.core.training.train_classifier`.
    template, align, drop_failed
        MNI152 template (None: nilearn's copy), ``"auto"`` / ``"register"`` / ``"skip"`` (a cohort
        already on one grid), and whether a refused registration leaves a subject out (True) or stops.
    flip
        Random flips in training (off: patches sit at fixed anatomical places).
    network
        Overrides of the network's arguments (e.g. ``{"features": [8, 16]}``; landmark models) or
        ``{"width": 8}`` (whole-brain).
    options
        ``batch_size`` (8), ``steps_per_epoch`` (10), ``learning_rate`` (1e-3), ``patience`` (10),
        ``time_limit_s``, ``num_threads``, ``on_epoch``, ``on_step``, ``weight_decay``.

    Returns
    -------
    napari_medai.core.training.ClassifierTrainingResult

    Raises
    ------
    InvalidInputError
        Bad options, cohort or output folder (before any long work).
    """
    from ...recipes.base import split_groups
    from ...recipes.classification import ClassificationCase
    from ...training import train_classifier

    _check_model_kind(model)
    if int(n_landmarks) < 1:
        raise InvalidInputError(f"n_landmarks must be at least 1, got {n_landmarks}")
    if int(patch) < 4:
        raise InvalidInputError(f"the patch edge must be at least 4 voxels, got {patch}")
    if not 0.0 < float(val_fraction) < 1.0:
        raise InvalidInputError(f"val_fraction must lie in (0, 1) (the validation subjects pick the best epoch), "
                                f"got {val_fraction}")
    if int(max_epochs) < 1:
        raise InvalidInputError(f"max_epochs must be >= 1, got {max_epochs}")
    unknown = set(options) - {"batch_size", "steps_per_epoch", "learning_rate", "patience", "time_limit_s",
                              "num_threads", "on_epoch", "on_step", "weight_decay"}
    if unknown:
        raise InvalidInputError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    subjects = read_cohort(cohort_dir, labels_csv)
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"--out {out}: is a file; give a folder for the model")
    if out.is_dir() and any(out.iterdir()) and not resume:
        raise InvalidInputError(f"--out {out}: is not empty; choose a new folder (or resume the run it holds)")
    inputs = {Path(labels_csv).expanduser().resolve(), *(s.path.resolve() for s in subjects)}
    if out.resolve() in inputs or Path(cohort_dir).expanduser().resolve() == out.resolve():
        raise InvalidInputError(f"--out {out}: is an input; give a new folder for the model")
    sources = read_sources(labels_csv)
    say = progress or (lambda f, m: None)
    t0 = time.perf_counter()
    cohort = _align(subjects, work_dir, template=template, align=align, drop_failed=drop_failed,
                    progress=(lambda f, m: say(0.25 * f, m)), should_stop=should_stop)
    names = [s.subject for s in cohort.subjects]
    groups = _groups(cohort.subjects, sources)
    train_names, val_names = split_groups(names, groups, val_fraction=float(val_fraction), seed=int(seed))
    dx = {s.subject: s.diagnosis for s in cohort.subjects}
    for part, which in ((train_names, "training"), (val_names, "validation")):
        counts = {g: sum(dx[n] == g for n in part) for g in CLASSES}
        if min(counts.values()) < (2 if which == "training" else 1):
            raise InvalidInputError(
                f"the {which} subjects hold {counts['AD']} AD and {counts['NC']} NC after the split by source; give "
                "more subjects (or sources) of each diagnosis")
    grid = cohort.grid
    tag = out.name or "alzheimer-model"
    extra = dict(network or {})
    landmark_rows: list[dict[str, Any]] = []
    if model == "landmarks":
        say(0.26, f"discovering {n_landmarks} landmarks on the {len(train_names)} training subjects")
        idx = [i for i, n in enumerate(names) if n in set(train_names)]
        maps = group_comparison([cohort.data[i] for i in idx], [dx[names[i]] for i in idx], cohort.mask,
                                grid.spacing, fwhm_mm=fwhm_mm)
        lms = select_landmarks(maps.p, maps.t, grid, mask=maps.mask, n=int(n_landmarks),
                               min_distance_mm=float(min_distance_mm))
        world = grid.index_to_world(np.asarray([lm.index for lm in lms], dtype=float))
        contract = landmark_contract(world, patch=int(patch), spacing_mm=float(min(grid.spacing)), name=tag, **extra)
        landmark_rows = [lm.to_row() for lm in lms]
    else:
        contract = whole_brain_contract(grid, name=tag, **extra)
    cases = [ClassificationCase(n, grid.with_data(d, name=n), dx[n]) for n, d in zip(names, cohort.data, strict=True)]
    n_src = len(set(groups))
    trained_on = (f"{len(train_names)} subjects ({sum(dx[n] == 'AD' for n in train_names)} AD) of "
                  f"{Path(cohort_dir).name}, validated on {len(val_names)}; split by "
                  + (f"source scan ({n_src} sources)" if sources else "subject (no source column)"))
    settings = {**_TRAIN_DEFAULTS, **options}
    result = train_classifier(
        contract, cases, out_dir=out, seed=int(seed), max_epochs=int(max_epochs), val_fraction=float(val_fraction),
        flip=bool(flip), device=device, resume=resume, trained_on=trained_on, model_name=tag, groups=groups,
        progress=(lambda f, m: say(0.3 + 0.7 * f, m)), should_stop=should_stop, **settings)
    src_of = dict(zip(names, groups, strict=True))
    info = {
        "model": model, "disclaimer": DISCLAIMER, "grid": {"shape": list(grid.spatial_shape),
                                                          "spacing": list(grid.spacing), "origin": list(grid.origin)},
        "train_subjects": train_names, "val_subjects": val_names,
        "train_sources": sorted({src_of[n] for n in train_names}), "val_sources": sorted({src_of[n] for n in val_names}),
        "split_by": "source" if sources else "subject", "cohort": str(Path(cohort_dir).expanduser()),
        "alignment": cohort.note, "left_out": cohort.dropped, "seconds": round(time.perf_counter() - t0, 1),
        "landmarks": landmark_rows, "fwhm_mm": fwhm_mm if model == "landmarks" else None,
        "min_distance_mm": float(min_distance_mm) if model == "landmarks" else None,
    }
    write_text_atomically(out / _INFO_FILE, json.dumps(info, indent=1) + "\n")
    if landmark_rows:
        write_text_atomically(out / "landmarks.csv", landmarks_csv(lms))
    return result


# --------------------------------------------------------------------------------------- prediction
def _load(model: Any) -> Any:
    from ...models.loading import load_model

    lm = load_model(model)
    c = lm.contract
    if getattr(c, "task", None) != TASK or getattr(c, "kind", None) != "classification":
        raise InvalidInputError(f"{lm.source}: is a {getattr(c, 'task', '?')} {getattr(c, 'kind', '')} model, not an "
                                "Alzheimer classifier; give a folder written by train_alzheimer")
    return lm


def _info(lm: Any) -> dict[str, Any]:
    p = getattr(lm, "path", None)
    if p is None:
        return {}
    f = Path(p) / _INFO_FILE if Path(p).is_dir() else Path(p).parent / _INFO_FILE
    try:
        return json.loads(f.read_text()) if f.is_file() else {}
    except (OSError, ValueError):
        return {}


@dataclass
class AlzheimerPrediction:
    """What :func:`predict_alzheimer` gives for one subject (see the module notes)."""

    probability: float
    threshold: float
    decision: str
    model_name: str
    trained_on: str
    trained: bool
    aligned_t1: Volume
    registration: dict[str, Any]
    landmarks_mm: np.ndarray
    contributions: np.ndarray
    saliency: Volume
    disclaimer: str = DISCLAIMER
    model_kind: str = "landmarks"
    seconds: float = 0.0

    @property
    def landmarks_mni(self) -> np.ndarray:
        """Landmarks in MNI RAS mm (x right, y anterior, z superior)."""
        w = np.atleast_2d(self.landmarks_mm).reshape(-1, 3)
        return np.stack([-w[:, 2], -w[:, 1], w[:, 0]], axis=1)

    def summary(self) -> str:
        if not self.trained:
            return f"{self.model_name}: this model is NOT TRAINED; it gives no probability. {self.disclaimer}"
        return (f"P(AD) {self.probability:.3f} -> {self.decision} at threshold {self.threshold:g} "
                f"({self.model_name}, {self.model_kind}). {self.disclaimer}")

    def to_json(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if not math.isfinite(float(v)) else round(float(v), 6)

        order = np.argsort(-np.nan_to_num(self.contributions, nan=-np.inf)) if len(self.contributions) else []
        return {
            "probability_ad": num(self.probability) if self.trained else None, "threshold": self.threshold,
            "decision": self.decision, "trained": self.trained, "model": self.model_name,
            "model_kind": self.model_kind, "trained_on": self.trained_on, "registration": self.registration,
            "landmarks": [{"rank": i + 1, "mni_mm": [round(float(v), 2) for v in m],
                           "contribution": num(c)} for i, (m, c) in enumerate(zip(self.landmarks_mni,
                                                                                   self.contributions, strict=True))],
            "most_contributing": [int(i) + 1 for i in list(order)[:5]] if self.trained else [],
            "disclaimer": self.disclaimer, "seconds": round(self.seconds, 2),
        }


def _register(t1: Volume, spacing: float, template: Any, progress: ProgressFn | None) -> tuple[Volume, dict]:
    from .registration import coarse_template, load_template, register_to_template

    tpl = load_template(template) if not hasattr(template, "brain_mask") else template
    if spacing > min(tpl.image.spacing) + 1e-6:
        tpl = coarse_template(tpl, spacing)
    res = register_to_template(t1, tpl, min_correlation=COHORT_MIN_CORRELATION, max_anisotropy=COHORT_MAX_ANISOTROPY,
                               threads=1, progress=progress)
    return res.aligned, res.to_dict()


def predict_alzheimer(
    model: Any,
    t1: Volume | str | os.PathLike[str],
    *,
    already_aligned: bool = False,
    template: Any = None,
    device: str = "auto",
    occlusion_block: int = 8,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> AlzheimerPrediction:
    """P(AD) of one T1, with the landmarks' occlusion contributions and a saliency map (module notes).

    Parameters
    ----------
    model
        A model folder written by :func:`train_alzheimer` (or a loaded model).
    t1
        The T1 (a Volume or a path), skull on or off.
    already_aligned
        The T1 already lies on the model's MNI grid: skip the registration.
    template
        The MNI152 template (path or :class:`~.registration.Template`; None: nilearn's copy).
    occlusion_block
        Block edge (network voxels) of a whole-brain model's occlusion map.

    Raises
    ------
    RegistrationError
        The registration clearly failed (its metrics in the error).
    InvalidInputError
        Not an Alzheimer model, or a T1 that is not in the landmarks' space.
    """
    from ...device import resolve_device
    from ...inference.classification import classification_input, classify_batch
    from ...inference.layout import layout_for
    from ...io import read_volume
    from ...landmark_patches import (
        landmark_indices,
        occlusion_contributions,
        occlusion_map,
        splat_saliency,
    )

    t0 = time.perf_counter()
    lm = _load(model)
    c = lm.contract
    if not isinstance(t1, Volume):
        p = Path(t1).expanduser()
        if not p.exists():
            raise InvalidInputError(f"--t1 {p}: no such file")
        t1 = read_volume(p, as_label=False)
    if t1.channel_axis is not None or t1.ndim_spatial != 3:
        raise InvalidInputError(f"{t1.name or 'the T1'}: give one 3-D T1 image, got shape {t1.data.shape}")
    say = progress or (lambda f, m: None)
    kind = "landmarks" if c.input_mode == "landmarks" else "whole-brain"
    spacing = float(min(c.target_spacing)) if c.target_spacing else GRID_MM
    if already_aligned:
        aligned, registration = t1, {"skipped": True, "reason": "the T1 was given already aligned to MNI152"}
    else:
        say(0.0, "registering the T1 to MNI152")
        aligned, registration = _register(t1, spacing, template, lambda f, m: say(0.6 * f, m))
    say(0.6, "classifying")
    x, _ = classification_input(c, aligned)
    dev = resolve_device(device)
    th = float(c.decision_thresholds[1])
    pts = np.asarray(c.landmark_points, dtype=float).reshape(-1, 3)
    n = pts.shape[0]
    common: dict[str, Any] = {"threshold": th, "model_name": c.name, "trained_on": c.trained_on,
                              "aligned_t1": aligned, "registration": registration, "landmarks_mm": pts,
                              "model_kind": kind}
    if not c.is_trained:
        say(1.0, "the model is not trained: no probability")
        return AlzheimerPrediction(probability=float("nan"), decision="not trained", trained=False,
                                   contributions=np.full(n, np.nan), seconds=time.perf_counter() - t0,
                                   saliency=aligned.with_data(np.zeros(aligned.spatial_shape, np.float32),
                                                              name="AD saliency (untrained model: none)"), **common)
    if kind == "landmarks":
        prob, contrib = occlusion_contributions(lm.network, x, n, target=1, output_kind=c.output_kind, device=dev,
                                                should_stop=should_stop)
        idx = landmark_indices(pts, aligned)
        sal = splat_saliency(contrib, idx, aligned, patch_mm=float(c.roi_size[0]) * spacing)
    else:
        prob = float(classify_batch(lm.network, x, output_kind=c.output_kind, device=dev)[0, 1])
        _, omap = occlusion_map(lm.network, x, block=int(occlusion_block), target=1, output_kind=c.output_kind,
                                device=dev, should_stop=should_stop)
        from scipy import ndimage

        layout = layout_for(aligned, c.orientation)
        net_shape = layout.shape(aligned.spatial_shape)
        zoomed = ndimage.zoom(omap, [a / b for a, b in zip(net_shape, omap.shape, strict=True)], order=0,
                              grid_mode=True, mode="nearest")
        sal = np.ascontiguousarray(layout.from_net(zoomed[None])[0]).astype(np.float32)
        contrib = np.zeros(0)
    lm.network.to("cpu")
    say(1.0, f"P(AD) {prob:.3f}")
    return AlzheimerPrediction(probability=float(prob), decision="AD" if prob >= th else "NC", trained=True,
                               contributions=np.asarray(contrib, dtype=np.float64),
                               saliency=aligned.with_data(sal, name="AD saliency (occlusion)"),
                               seconds=time.perf_counter() - t0, **common)


# --------------------------------------------------------------------------------------- evaluation
@dataclass
class AlzheimerEvaluation:
    """ROC analysis of P(AD) against the diagnoses (1 = AD)."""

    subjects: list[str]
    truth: np.ndarray
    probabilities: np.ndarray
    auc: float
    auc_ci: tuple[float, float]
    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    threshold: float
    accuracy: float
    sensitivity: float
    specificity: float
    auc_variance: float = 0.0
    model_name: str = ""
    notes: list[str] = field(default_factory=list)

    def at_threshold(self, t: float) -> dict[str, float]:
        """Accuracy, sensitivity, specificity (and the counts) calling AD every P(AD) >= ``t``."""
        y = self.truth.astype(bool)
        call = self.probabilities >= float(t)
        tp, tn = int((call & y).sum()), int((~call & ~y).sum())
        fp, fn = int((call & ~y).sum()), int((~call & y).sum())
        return {"threshold": float(t), "accuracy": (tp + tn) / max(1, y.size),
                "sensitivity": tp / max(1, tp + fn), "specificity": tn / max(1, tn + fp),
                "tp": tp, "fp": fp, "tn": tn, "fn": fn}

    def summary(self) -> str:
        return (f"AUC {self.auc:.3f} (DeLong 95% CI {self.auc_ci[0]:.3f}-{self.auc_ci[1]:.3f}) on "
                f"{int(self.truth.sum())} AD / {int((1 - self.truth).sum())} NC; at {self.threshold:g}: accuracy "
                f"{self.accuracy:.3f}, sensitivity {self.sensitivity:.3f}, specificity {self.specificity:.3f}")

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model_name, "auc": self.auc, "auc_ci_95_delong": list(self.auc_ci),
            "auc_variance": self.auc_variance, "threshold": self.threshold, "accuracy": self.accuracy,
            "sensitivity": self.sensitivity, "specificity": self.specificity,
            "n_ad": int(self.truth.sum()), "n_nc": int((1 - self.truth).sum()),
            "roc": {"fpr": [float(v) for v in self.fpr], "tpr": [float(v) for v in self.tpr],
                    "thresholds": [None if not np.isfinite(t) else float(t) for t in self.thresholds]},
            "subjects": [{"subject": s, "ad": int(y), "probability_ad": float(p)}
                         for s, y, p in zip(self.subjects, self.truth, self.probabilities, strict=True)],
            "notes": list(self.notes), "disclaimer": DISCLAIMER,
        }

    def roc_png(self, path: str | os.PathLike[str], *, protect: Sequence[str | os.PathLike[str]] = ()) -> Path:
        """Draw the ROC curve into a PNG, atomically; never over a ``protect`` file.

        A bare ``matplotlib.figure.Figure`` renders with the Agg canvas and leaves pyplot's backend (a
        viewer's Qt plots) alone.
        """
        from matplotlib.figure import Figure

        from ...evaluate import check_output_path
        from ...io.atomic import atomic_path

        out = check_output_path(path, protect)
        fig = Figure(figsize=(4.5, 4.5), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
        ax.step(self.fpr, self.tpr, where="post", color="C0", lw=2,
                label=f"AUC {self.auc:.3f} [{self.auc_ci[0]:.3f}, {self.auc_ci[1]:.3f}]")
        op = self.at_threshold(self.threshold)
        ax.plot([1 - op["specificity"]], [op["sensitivity"]], "o", color="C3", label=f"threshold {self.threshold:g}")
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity",
               title=f"AD vs NC ({self.model_name or 'model'})")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
        return out


def evaluation_from_probabilities(subjects: Sequence[str], truth: Sequence[int], probabilities: Sequence[float], *,
                                  threshold: float = 0.5, model_name: str = "",
                                  notes: Sequence[str] = ()) -> AlzheimerEvaluation:
    """ROC curve, AUC with DeLong's 95 % interval, and the figures at ``threshold`` (1 = AD in ``truth``)."""
    from ...metrics.roc import delong_auc, roc_curve

    y = np.asarray(truth, dtype=int)
    p = np.asarray(probabilities, dtype=float)
    if not 0.0 <= float(threshold) <= 1.0:
        raise InvalidInputError(f"the threshold must lie in [0, 1], got {threshold}")
    est = delong_auc(p, y)
    roc = roc_curve(p, y)
    ev = AlzheimerEvaluation(subjects=list(subjects), truth=y, probabilities=p, auc=est.auc,
                             auc_ci=(est.ci_low, est.ci_high), fpr=roc.fpr, tpr=roc.tpr, thresholds=roc.thresholds,
                             threshold=float(threshold), accuracy=0.0, sensitivity=0.0, specificity=0.0,
                             auc_variance=est.variance, model_name=model_name, notes=list(notes))
    op = ev.at_threshold(threshold)
    ev.accuracy, ev.sensitivity, ev.specificity = op["accuracy"], op["sensitivity"], op["specificity"]
    return ev


def evaluate_alzheimer(
    model: Any,
    cohort_dir: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str],
    *,
    subjects: Sequence[str] | None = None,
    threshold: float | None = None,
    work_dir: str | os.PathLike[str] | None = None,
    template: Any = None,
    align: str = "auto",
    device: str = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> AlzheimerEvaluation:
    """P(AD) of every subject of a labelled cohort (or of ``subjects``), scored by ROC (module notes).

    Subjects whose source scan (or, without sources, who themselves) the model trained or validated
    on are counted in ``notes``: a held-out evaluation must have none.

    Raises
    ------
    InvalidInputError
        Not an Alzheimer model or not trained, a bad cohort, unknown ``subjects``, or a single diagnosis.
    """
    from ...device import resolve_device
    from ...inference.classification import classification_input, classify_batch

    lm = _load(model)
    c = lm.contract
    if not c.is_trained:
        raise InvalidInputError(f"{lm.source}: the model is NOT TRAINED; train it (napari-medai train alzheimer) "
                                "before evaluating it")
    th = float(c.decision_thresholds[1]) if threshold is None else float(threshold)
    if not 0.0 <= th <= 1.0:
        raise InvalidInputError(f"the threshold must lie in [0, 1], got {threshold}")
    chosen = read_cohort(cohort_dir, labels_csv)
    if subjects is not None:
        want = [str(s) for s in subjects]
        known = {s.subject for s in chosen}
        missing = [s for s in want if s not in known]
        if missing:
            raise InvalidInputError(f"--labels {labels_csv}: no subject(s) {', '.join(missing[:3])}; give names of the CSV")
        chosen = [s for s in chosen if s.subject in set(want)]
    if len({s.diagnosis for s in chosen}) < 2:
        raise InvalidInputError("the evaluated subjects need both diagnoses (AD and NC) for an ROC curve")
    sources = read_sources(labels_csv)
    say = progress or (lambda f, m: None)
    cohort = _align(chosen, work_dir, template=template, align=align, drop_failed=True,
                    progress=(lambda f, m: say(0.8 * f, m)), should_stop=should_stop)
    dev = resolve_device(device)
    probs = []
    for i, (s, d) in enumerate(zip(cohort.subjects, cohort.data, strict=True)):
        say(0.8 + 0.2 * i / len(cohort.subjects), f"classifying {s.subject}")
        x, _ = classification_input(c, cohort.grid.with_data(d, name=s.subject))
        probs.append(float(classify_batch(lm.network, x, output_kind=c.output_kind, device=dev,
                                          should_stop=should_stop)[0, 1]))
    lm.network.to("cpu")
    info = _info(lm)
    notes = []
    if cohort.dropped:
        notes.append(f"left out (registration refused): {', '.join(sorted(cohort.dropped))}")
    seen_sources = set(info.get("train_sources", [])) | set(info.get("val_sources", []))
    if info.get("split_by") == "subject":
        seen = [s.subject for s in cohort.subjects
                if s.subject in set(info.get("train_subjects", [])) | set(info.get("val_subjects", []))]
    else:
        groups = _groups(cohort.subjects, sources)
        seen = [s.subject for s, g in zip(cohort.subjects, groups, strict=True) if g in seen_sources]
    if seen:
        notes.append(f"{len(seen)} of {len(cohort.subjects)} evaluated subjects come from source scans the model "
                     "trained or validated on: NOT a held-out evaluation")
    elif info:
        notes.append("held out: no evaluated subject comes from a source scan the model trained or validated on")
    say(1.0, "evaluated")
    return evaluation_from_probabilities([s.subject for s in cohort.subjects],
                                         [1 if s.diagnosis == "AD" else 0 for s in cohort.subjects], probs,
                                         threshold=th, model_name=c.name, notes=notes)


def _labels_without(labels_csv: str | os.PathLike[str], drop: set[str]) -> str:
    """The labels CSV's text without the rows of the ``drop`` subjects."""
    reader = csv.DictReader(io.StringIO(Path(labels_csv).expanduser().read_text(encoding="utf-8-sig")))
    fields = list(reader.fieldnames or [])
    s_col = next((f for f in fields if f.strip().lower() in ("subject", "subject_id", "id")), fields[0])
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=fields, lineterminator="\n")
    w.writeheader()
    w.writerows(r for r in reader if (r.get(s_col) or "").strip() not in drop)
    return buf.getvalue()


def cross_validate_alzheimer(
    cohort_dir: str | os.PathLike[str],
    labels_csv: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    folds: int = 5,
    seed: int = 0,
    work_dir: str | os.PathLike[str] | None = None,
    threshold: float | None = None,
    template: Any = None,
    align: str = "auto",
    device: str = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    **train_options: Any,
) -> AlzheimerEvaluation:
    """K-fold cross-validation by source scan: one model per fold (``out_dir/fold-K``), pooled ROC.

    The sources (or subjects, without a source column) are shuffled with ``seed`` and dealt into
    ``folds`` groups; each model trains (with its own validation split by source) on the other
    folds and predicts its fold. ``template``, ``align``, ``device`` and ``work_dir`` serve training and
    evaluation alike; ``train_options`` go to :func:`train_alzheimer`.
    """
    subjects = read_cohort(cohort_dir, labels_csv)
    sources = read_sources(labels_csv)
    groups = _groups(subjects, sources)
    keys = sorted(set(groups))
    if not 2 <= int(folds) <= len(keys):
        raise InvalidInputError(f"folds must be 2 to {len(keys)} (the number of sources), got {folds}")
    out = Path(out_dir).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInputError(f"--out {out}: is not an empty folder; choose a new one")
    order = np.random.default_rng(int(seed)).permutation(len(keys))
    fold_of = {keys[k]: i % int(folds) for i, k in enumerate(order)}
    say = progress or (lambda f, m: None)
    names, truth, probs = [], [], []
    th = 0.5
    for k in range(int(folds)):
        test = [s.subject for s, g in zip(subjects, groups, strict=True) if fold_of[g] == k]
        fold_dir = out / f"fold-{k + 1}"
        fold_dir.mkdir(parents=True, exist_ok=True)
        train_csv = fold_dir / "train_labels.csv"
        write_text_atomically(train_csv, _labels_without(labels_csv, set(test)))
        say(k / int(folds), f"fold {k + 1}/{folds}: training on {len(subjects) - len(test)} subjects")
        train_alzheimer(cohort_dir, train_csv, fold_dir / "model", work_dir=work_dir, seed=seed, template=template,
                        align=align, device=device, should_stop=should_stop, **train_options)
        ev = evaluate_alzheimer(fold_dir / "model", cohort_dir, labels_csv, subjects=test, work_dir=work_dir,
                                threshold=threshold, template=template, align=align, device=device,
                                should_stop=should_stop)
        th = ev.threshold
        names += ev.subjects
        truth += ev.truth.tolist()
        probs += ev.probabilities.tolist()
    say(1.0, "cross-validation done")
    return evaluation_from_probabilities(names, truth, probs, threshold=th, model_name=f"{folds}-fold by source",
                                         notes=[f"{folds}-fold cross-validation by source scan; models in {out}"])
