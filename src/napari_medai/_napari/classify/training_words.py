"""What the classification training widget says (no Qt: text only): the class folders it found, and a
finished run in words."""

from __future__ import annotations

from typing import Any

from ..training_text import CLASSIFIER_STOP_REASONS, finished_summary, partial_summary

#: The task's name in the training widget's task choice.
TASK_TEXT = "image classification (class folders)"
#: Why a classification run ended (the training widget's words for classifiers).
CLASSIFY_STOP_REASONS = CLASSIFIER_STOP_REASONS
#: Tooltips of the widget's classification rows.
TIPS = {
    "data": "A folder with one sub-folder per class (the review's folder labelling), optionally with train/ val/ "
            "test/ above them; test/ is never used in training",
    "network": "ResNet-10 (slim, the CPU default), ResNet-18 (torchvision's layout) or DenseNet-121 (CheXNeXt's "
               "network); one grey input channel",
    "init": "Transfer learning: start from a model folder of the same network (e.g. your chest X-ray model), or a "
            "torchvision / MONAI / torchxrayvision state_dict file (read with weights_only=True). Empty: random "
            "weights",
    "finetune": "Train all layers, or only the last (classification) layer of the model you start from",
    "size": "Images are resized to this edge (pixels) for the network (a multiple of 32)",
}


def dataset_rows(ds: Any) -> list[str]:
    """One line per split of a :class:`~napari_medai.core.tasks.classify.FolderDataset`: ``"train: a 10, b 12"``."""
    rows = []
    for split, counts in ds.counts().items():
        where = "images" if split == "all" else f"{split}/"
        rows.append(f"{where}: " + ", ".join(f"{c} {n}" for c, n in counts.items()))
    return rows


def classifier_summary(r: Any, last_step: tuple[int, int, int]) -> tuple[str, str]:
    """The summary (HTML) and the status line of a finished classification run ``r`` (a
    ``ClassifierTrainingResult``); ``last_step`` is ``(epoch, step, steps)`` of the last step seen."""
    if r.stop_reason == "partial":
        return partial_summary(r, last_step)
    detail = r.best_validation or {}
    if r.monitor == "val_auc":
        best = f"validation AUC {float(detail.get('auc', r.best_metric)):.3f}"
        if detail.get("accuracy") is not None:
            best += f", accuracy {float(detail['accuracy']):.3f}"
    elif r.monitor == "val_accuracy":
        best = f"validation accuracy {r.best_metric:.3f} (AUC undefined: a class missing among the validation images)"
    else:
        best = f"training loss {-r.best_metric:.4f} (no validation image)"
    return finished_summary(r, best, reasons=CLASSIFY_STOP_REASONS, unit="image(s)")


__all__ = ["CLASSIFY_STOP_REASONS", "TASK_TEXT", "TIPS", "classifier_summary", "dataset_rows"]
