"""ROC analysis of P(AD) on a labelled cohort: :func:`evaluate_alzheimer` -> :class:`AlzheimerEvaluation`.

P(AD) of every subject, the ROC curve, the AUC with DeLong's 95 % interval
(:mod:`napari_medai.core.metrics.roc`), and accuracy, sensitivity and specificity at a threshold;
subjects whose source scan the model trained or validated on are counted and named (a held-out
evaluation must have none).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import ProgressFn, StopFn
from ...errors import InvalidInputError
from .landmarks import read_cohort
from .model import DISCLAIMER, load_alzheimer_model, read_model_info
from .subjects import align_subjects, read_sources, subject_groups

__all__ = ["AlzheimerEvaluation", "evaluate_alzheimer", "evaluation_from_probabilities"]


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
    """P(AD) of every subject of a labelled cohort (or of ``subjects``), scored by ROC (package notes).

    Subjects whose source scan (or, without sources, who themselves) the model trained or validated
    on are counted in ``notes``: a held-out evaluation must have none.

    Raises
    ------
    InvalidInputError
        Not an Alzheimer model or not trained, a bad cohort, unknown ``subjects``, or a single diagnosis.
    """
    from ...device import resolve_device
    from ...inference.classification import classification_input, classify_batch

    lm = load_alzheimer_model(model)
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
    cohort = align_subjects(chosen, work_dir, template=template, align=align, drop_failed=True,
                    progress=(lambda f, m: say(0.8 * f, m)), should_stop=should_stop)
    dev = resolve_device(device)
    probs = []
    for i, (s, d) in enumerate(zip(cohort.subjects, cohort.data, strict=True)):
        say(0.8 + 0.2 * i / len(cohort.subjects), f"classifying {s.subject}")
        x, _ = classification_input(c, cohort.grid.with_data(d, name=s.subject))
        probs.append(float(classify_batch(lm.network, x, output_kind=c.output_kind, device=dev,
                                          should_stop=should_stop)[0, 1]))
    lm.network.to("cpu")
    info = read_model_info(lm)
    notes = []
    if cohort.dropped:
        notes.append(f"left out (registration refused): {', '.join(sorted(cohort.dropped))}")
    seen_sources = set(info.get("train_sources", [])) | set(info.get("val_sources", []))
    if info.get("split_by") == "subject":
        seen = [s.subject for s in cohort.subjects
                if s.subject in set(info.get("train_subjects", [])) | set(info.get("val_subjects", []))]
    else:
        groups = subject_groups(cohort.subjects, sources)
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
