"""K-fold cross-validation by source scan: :func:`cross_validate_alzheimer` (one model per fold, pooled ROC)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import ProgressFn, StopFn
from ...errors import InvalidInputError
from ...evaluate import write_text_atomically
from .evaluate import AlzheimerEvaluation, evaluate_alzheimer, evaluation_from_probabilities
from .landmarks import labels_column, labels_reader, read_cohort
from .subjects import read_sources, subject_groups
from .train import train_alzheimer

__all__ = ["cross_validate_alzheimer"]


def _labels_without(labels_csv: str | os.PathLike[str], drop: set[str]) -> str:
    """The labels CSV's text without the rows of the ``drop`` subjects."""
    reader = labels_reader(labels_csv)
    fields = list(reader.fieldnames or [])
    s_col = labels_column(reader) or fields[0]
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
    groups = subject_groups(subjects, sources)
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
