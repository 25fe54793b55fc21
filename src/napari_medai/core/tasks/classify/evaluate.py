"""How good a radiograph classifier is on labelled images: :func:`evaluate_classifier`.

Per class (one against the rest; every finding of a multi-label model): the ROC curve and AUC with
DeLong's 95 % confidence interval (:mod:`napari_medai.core.metrics.roc`), and sensitivity,
specificity and accuracy of the model's own decision (the most probable class for softmax models --
for two classes, probability >= 0.5 --, each finding's threshold for sigmoid models). The confusion
matrix is ``truth x decision`` (single-label) or one 2 x 2 ``[[TN, FP], [FN, TP]]`` per finding
(multi-label). :meth:`ClassifierEvaluation.roc_png` draws the ROC curves with the operating points.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import Cancelled, ProgressFn, StopFn
from ...errors import InvalidInputError

__all__ = ["ClassifierEvaluation", "evaluate_classifier", "evaluation_from_probabilities"]


@dataclass
class ClassifierEvaluation:
    """What :func:`evaluate_classifier` returns.

    Attributes
    ----------
    class_names
        The model's classes.
    per_class
        ``{class: {"auc", "auc_ci" [low, high], "n_positive", "n_negative", "sensitivity",
        "specificity", "accuracy", "threshold", "fpr", "tpr"}}``; ``auc`` is ``None`` when the data hold
        no positive or no negative of that class.
    confusion
        ``(K, K)`` truth x decision counts (single-label) or ``(K, 2, 2)`` per finding (multi-label).
    n_images
        Images evaluated.
    accuracy
        Share of images whose decision equals the truth (single-label) or, multi-label, mean per finding.
    paths, truth, probabilities
        The images, their truth (class index, or a 0/1 row per image) and the model's probabilities.
    """

    class_names: tuple[str, ...]
    per_class: dict[str, dict[str, Any]]
    confusion: np.ndarray
    n_images: int
    multilabel: bool = False
    accuracy: float = float("nan")
    model_name: str = ""
    trained: bool = True
    images_per_s: float = float("nan")
    paths: list[str] = field(default_factory=list)
    truth: np.ndarray | None = None
    probabilities: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def to_json(self, *, with_predictions: bool = False) -> dict[str, Any]:
        """JSON-friendly figures (ROC points included; per-image predictions on request)."""
        d: dict[str, Any] = {
            "model": self.model_name, "trained": self.trained, "classes": list(self.class_names),
            "multilabel": self.multilabel, "n_images": self.n_images, "accuracy": _r(self.accuracy),
            "per_class": {c: {k: (_r(v) if isinstance(v, float) else v) for k, v in pc.items()}
                          for c, pc in self.per_class.items()},
            "confusion": self.confusion.tolist(),
            "confusion_axes": ("finding x [[TN, FP], [FN, TP]]" if self.multilabel else "rows truth, columns decision"),
            "images_per_s": _r(self.images_per_s), "notes": list(self.notes),
        }
        if with_predictions and self.probabilities is not None:
            d["predictions"] = [{"path": p, "probabilities": [round(float(v), 6) for v in row]}
                                for p, row in zip(self.paths, self.probabilities)]
        return d

    def summary(self) -> str:
        """A few lines: per class AUC [CI], sensitivity, specificity; the confusion matrix."""
        lines = [f"{self.n_images} images, model {self.model_name}" + ("" if self.trained else " (NOT TRAINED)")]
        for c, pc in self.per_class.items():
            if pc["auc"] is None:
                lines.append(f"  {c}: AUC undefined ({pc['n_positive']} positive, {pc['n_negative']} negative)")
                continue
            lines.append(f"  {c}: AUC {pc['auc']:.3f} [{pc['auc_ci'][0]:.3f}, {pc['auc_ci'][1]:.3f}] (DeLong 95%); "
                         f"sensitivity {pc['sensitivity']:.3f}, specificity {pc['specificity']:.3f}, "
                         f"accuracy {pc['accuracy']:.3f} at {pc['threshold']:g} "
                         f"({pc['n_positive']} positive, {pc['n_negative']} negative)")
        if not self.multilabel:
            w = max(len(c) for c in self.class_names)
            lines.append("  confusion (rows truth, columns decision): " + " | ".join(self.class_names))
            for c, row in zip(self.class_names, self.confusion):
                lines.append(f"    {c:<{w}} " + " ".join(f"{int(v):6d}" for v in row))
            lines.append(f"  accuracy {self.accuracy:.3f}")
        return "\n".join(lines)

    def roc_png(self, path: str | os.PathLike[str], *, protect: Sequence[str | os.PathLike[str]] = ()) -> Path:
        """Draw every class's ROC curve (with its AUC [CI] and operating point) into a PNG, atomically."""
        import matplotlib

        matplotlib.use("Agg", force=False)
        from matplotlib.figure import Figure

        from ...evaluate import check_output_path
        from ...io.atomic import atomic_path

        out = check_output_path(path, protect)
        fig = Figure(figsize=(5.0, 5.0), dpi=100)
        ax = fig.add_subplot(1, 1, 1)
        ax.plot([0, 1], [0, 1], color="0.7", lw=1, ls="--")
        shown = [(c, pc) for c, pc in self.per_class.items() if pc["auc"] is not None]
        if not self.multilabel and len(self.class_names) == 2:
            shown = shown[1:]  # the two curves of a binary model are one curve
        for k, (c, pc) in enumerate(shown):
            color = f"C{k % 10}"
            ax.plot(pc["fpr"], pc["tpr"], color=color, lw=2,
                    label=f"{c}: AUC {pc['auc']:.3f} [{pc['auc_ci'][0]:.3f}, {pc['auc_ci'][1]:.3f}]")
            ax.plot([1 - pc["specificity"]], [pc["sensitivity"]], "o", color=color)
        ax.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="1 - specificity", ylabel="sensitivity",
               title=f"{self.model_name or 'model'}: {self.n_images} images")
        if shown:
            ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
        return out


def _r(v: Any) -> Any:
    if isinstance(v, float):
        return None if not np.isfinite(v) else round(v, 6)
    return v


def evaluation_from_probabilities(class_names: Sequence[str], probabilities: np.ndarray, truth: np.ndarray, *,
                                  multilabel: bool = False, thresholds: Sequence[float] | None = None,
                                  model_name: str = "", paths: Sequence[str] = (), trained: bool = True
                                  ) -> ClassifierEvaluation:
    """The figures of :class:`ClassifierEvaluation` from probabilities ``(N, K)`` and the truth
    (class indices ``(N,)``, or ``(N, K)`` 0/1 for multi-label)."""
    from ...metrics.roc import delong_auc, roc_curve

    names = tuple(class_names)
    p = np.asarray(probabilities, dtype=float)
    k = len(names)
    if p.ndim != 2 or p.shape[1] != k:
        raise InvalidInputError(f"probabilities of shape {p.shape} for {k} classes; give (images, classes)")
    if multilabel:
        y = np.asarray(truth, dtype=int).reshape(len(p), k)
        th = np.asarray(thresholds if thresholds is not None else (0.5,) * k, dtype=float)
        dec = p >= th[None, :]
    else:
        t = np.asarray(truth, dtype=int).ravel()
        if t.size != len(p) or (t.size and (t.min() < 0 or t.max() >= k)):
            raise InvalidInputError(f"truth must be {len(p)} class indices in 0..{k - 1}")
        y = np.eye(k, dtype=int)[t]
        pred = np.argmax(p, axis=1) if len(p) else np.zeros(0, int)
        dec = np.eye(k, dtype=bool)[pred]
        th = np.full(k, 0.5 if k == 2 else float("nan"))
    per: dict[str, dict[str, Any]] = {}
    for j, c in enumerate(names):
        pos, neg = int(y[:, j].sum()), int((1 - y[:, j]).sum())
        tp = int((dec[:, j] & (y[:, j] == 1)).sum())
        tn = int((~dec[:, j] & (y[:, j] == 0)).sum())
        entry: dict[str, Any] = {
            "n_positive": pos, "n_negative": neg,
            "sensitivity": tp / pos if pos else float("nan"), "specificity": tn / neg if neg else float("nan"),
            "accuracy": (tp + tn) / len(p) if len(p) else float("nan"),
            "threshold": float(th[j]) if np.isfinite(th[j]) else "arg-max",
            "auc": None, "auc_ci": None, "fpr": None, "tpr": None,
        }
        if pos and neg:
            est = delong_auc(p[:, j], y[:, j])
            roc = roc_curve(p[:, j], y[:, j])
            entry.update({"auc": est.auc, "auc_ci": [est.ci_low, est.ci_high], "auc_se": est.standard_error,
                          "fpr": [round(float(v), 5) for v in roc.fpr], "tpr": [round(float(v), 5) for v in roc.tpr]})
        per[c] = entry
    if multilabel:
        conf = np.zeros((k, 2, 2), dtype=int)
        for j in range(k):
            for a in (0, 1):
                for b in (0, 1):
                    conf[j, a, b] = int(((y[:, j] == a) & (dec[:, j] == bool(b))).sum())
        acc = float(np.mean([per[c]["accuracy"] for c in names])) if len(p) else float("nan")
    else:
        conf = np.zeros((k, k), dtype=int)
        for a, b in zip(np.argmax(y, axis=1), np.argmax(dec, axis=1)):
            conf[a, b] += 1
        acc = float(np.trace(conf) / len(p)) if len(p) else float("nan")
    return ClassifierEvaluation(class_names=names, per_class=per, confusion=conf, n_images=len(p), multilabel=multilabel,
                                accuracy=acc, model_name=model_name, trained=trained, paths=list(paths),
                                truth=np.asarray(truth), probabilities=p)


def _pairs(data: Any, model_classes: tuple[str, ...], multilabel: bool, labels_csv: Any) -> list[tuple[str, Any]]:
    from .datasets import FolderDataset, find_class_folders, read_labels_csv

    if isinstance(data, (str, os.PathLike)):
        ds = read_labels_csv(labels_csv, data, classes=model_classes) if labels_csv is not None else find_class_folders(data)
    else:
        ds = data
    if isinstance(ds, FolderDataset):
        if ds.splits:
            for s in ("test", "val"):
                if ds.subset(s):
                    return ds.subset(s)
        return list(ds.items)
    pairs = list(ds)
    if not pairs:
        raise InvalidInputError("no (image, label) pairs to evaluate")
    return [(str(p), y) for p, y in pairs]


def evaluate_classifier(model: Any, data_dir_or_pairs: Any, *, labels_csv: str | os.PathLike[str] | None = None,
                        device: str = "auto", batch_size: int = 64, progress: ProgressFn | None = None,
                        should_stop: StopFn | None = None) -> ClassifierEvaluation:
    """Evaluate a classifier on labelled images.

    Parameters
    ----------
    model
        A classifier model folder (or loaded model).
    data_dir_or_pairs
        A class-folder tree (its ``test/`` split when it has one, else ``val/``, else every image), a
        folder of images with ``labels_csv``, a :class:`FolderDataset`, or ``[(path, class or findings)]``.
    labels_csv
        Multi-label truth (image -> findings) for a folder of images.
    device, batch_size
        Where and how many images per network call.
    progress, should_stop
        ``progress(fraction, message)``; ``should_stop()`` before every batch (raises ``Cancelled``).

    Raises
    ------
    InvalidInputError
        The data name a class the model does not know, or hold no image.
    """
    from ...device import resolve_device
    from ...inference.classification import classify_batch
    from ...inference.prepare import prepare_input
    from .predict import as_radiograph, load_classifier

    lm = load_classifier(model)
    c = lm.contract
    names = tuple(c.output_channels)
    multilabel = c.output_kind == "sigmoid"
    pairs = _pairs(data_dir_or_pairs, names, multilabel, labels_csv)
    if not pairs:
        raise InvalidInputError("no images to evaluate (the folder or split is empty)")
    if multilabel:
        truth = np.zeros((len(pairs), len(names)), dtype=int)
        for i, (_, ys) in enumerate(pairs):
            for yv in ([ys] if isinstance(ys, str) else ys):
                if yv in names:
                    truth[i, names.index(yv)] = 1
    else:
        unknown = sorted({str(y) for _, y in pairs} - set(names))
        if unknown:
            raise InvalidInputError(f"the data hold class(es) {', '.join(unknown)} that model {c.name} does not know "
                                    f"(its classes: {', '.join(names)}); name the class folders like the model's classes")
        truth = np.array([names.index(str(y)) for _, y in pairs], dtype=int)
    dev = resolve_device(device)
    t0 = time.perf_counter()
    probs = []
    bs = max(1, int(batch_size))
    for start in range(0, len(pairs), bs):
        if should_stop is not None and should_stop():
            raise Cancelled(f"evaluation cancelled after {start} of {len(pairs)} images")
        chunk = pairs[start:start + bs]
        xs = np.stack([prepare_input(c, [as_radiograph(p)])[0] for p, _ in chunk])
        probs.append(classify_batch(lm.network, xs, output_kind=c.output_kind, device=dev, batch_size=bs))
        if progress is not None:
            progress(min(1.0, (start + len(chunk)) / len(pairs)), f"evaluated {start + len(chunk)}/{len(pairs)} images")
    lm.network.to("cpu")
    seconds = time.perf_counter() - t0
    p = np.concatenate(probs, axis=0)
    ev = evaluation_from_probabilities(names, p, truth, multilabel=multilabel, thresholds=c.decision_thresholds,
                                       model_name=c.name, paths=[str(x) for x, _ in pairs], trained=bool(c.is_trained))
    ev.images_per_s = len(pairs) / seconds if seconds > 0 else float("nan")
    if not c.is_trained:
        ev.notes.append(f"model {c.name!r} is NOT TRAINED (random weights): these figures measure chance")
    return ev
