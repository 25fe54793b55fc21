"""Train an AD / NC classifier on a labelled T1 cohort: :func:`train_alzheimer` (the steps: the package notes).

The subjects are aligned, split by source scan, the landmarks (landmark models) discovered on the
training subjects only, and the network trained by :func:`napari_medai.core.training.train_classifier`;
the model folder gets ``alzheimer.json`` (who trained and validated) and ``landmarks.csv``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import ProgressFn, StopFn
from ...errors import InvalidInputError
from ...evaluate import write_text_atomically
from .landmarks import (
    DEFAULT_FWHM_MM,
    DEFAULT_MIN_DISTANCE_MM,
    group_comparison,
    landmarks_csv,
    read_cohort,
    select_landmarks,
)
from .model import (
    CLASSES,
    DISCLAIMER,
    INFO_FILE,
    MODEL_KINDS,
    landmark_contract,
    whole_brain_contract,
)
from .subjects import align_subjects, read_sources, subject_groups

__all__ = ["train_alzheimer"]

_TRAIN_DEFAULTS = {"batch_size": 8, "steps_per_epoch": 10, "learning_rate": 1e-3, "patience": 10}


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
    """Train an AD / NC classifier on a labelled T1 cohort into a model folder (package notes).

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
    cohort = align_subjects(subjects, work_dir, template=template, align=align, drop_failed=drop_failed,
                    progress=(lambda f, m: say(0.25 * f, m)), should_stop=should_stop)
    names = [s.subject for s in cohort.subjects]
    groups = subject_groups(cohort.subjects, sources)
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
    write_text_atomically(out / INFO_FILE, json.dumps(info, indent=1) + "\n")
    if landmark_rows:
        write_text_atomically(out / "landmarks.csv", landmarks_csv(lms))
    return result
