"""What the classification training widget says (no Qt: text only): the class folders it found, and a
finished run in words."""

from __future__ import annotations

from typing import Any

from ..training_text import STOP_REASONS, minutes

#: The task's name in the training widget's task choice.
TASK_TEXT = "image classification (class folders)"
#: Why a classification run ended, where it differs from segmentation.
CLASSIFY_STOP_REASONS = {**STOP_REASONS, "early_stopping": "stopped early: validation AUC stopped improving (patience)"}
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
        epoch, step, steps = last_step
        return (f"<b>Partial model</b>: stopped by you in epoch {epoch or 1} after {step} of {steps} steps, before "
                f"any validation. Its weights are saved but not validated.<br>Model folder: {r.out_dir}",
                f"Stopped: partial model saved (not validated) in {r.out_dir}.")
    detail = r.best_validation or {}
    if r.monitor == "val_auc":
        best = f"validation AUC {float(detail.get('auc', r.best_metric)):.3f}"
        if detail.get("accuracy") is not None:
            best += f", accuracy {float(detail['accuracy']):.3f}"
    elif r.monitor == "val_accuracy":
        best = f"validation accuracy {r.best_metric:.3f} (AUC undefined: a class missing among the validation images)"
    else:
        best = f"training loss {-r.best_metric:.4f} (no validation image)"
    resumed = f", {r.resumed_from} of them before resuming" if r.resumed_from else ""
    why = CLASSIFY_STOP_REASONS.get(r.stop_reason, r.stop_reason)
    return (f"<b>{why.capitalize()}</b> after {r.epochs_run} epoch(s){resumed}.<br>Best epoch {r.best_epoch}: "
            f"{best}.<br>Wall time {minutes(r.wall_time_s)}; trained on {len(r.train_cases)}, validated on "
            f"{len(r.val_cases)} image(s).<br>Model folder (best epoch's weights): {r.out_dir}",
            f"Done: {why}.")


__all__ = ["CLASSIFY_STOP_REASONS", "TASK_TEXT", "TIPS", "classifier_summary", "dataset_rows"]
