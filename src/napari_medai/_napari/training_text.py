"""What the training widget says about a finished run, in words (no Qt: text only)."""

from __future__ import annotations

from typing import Any

#: Why a run ended, in words.
STOP_REASONS = {
    "max_epochs": "reached the epoch limit",
    "early_stopping": "stopped early: validation Dice stopped improving (patience)",
    "time_limit": "stopped before the time budget would have been exceeded",
    "cancelled": "stopped by you",
    "partial": "stopped by you in the first epoch",
}
#: Why a classifier's run ended, where it differs from segmentation.
CLASSIFIER_STOP_REASONS = {**STOP_REASONS, "early_stopping": "stopped early: validation AUC stopped improving (patience)"}


def minutes(seconds: float) -> str:
    """``"45 s"`` under a minute and a half, else ``"2.5 min"``."""
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


def partial_summary(r: Any, last_step: tuple[int, int, int]) -> tuple[str, str]:
    """The summary (HTML) and status line of a model stopped in its first epoch; ``last_step`` is ``(epoch,
    step, steps)`` of the last step seen."""
    epoch, step, steps = last_step
    return (f"<b>Partial model</b>: stopped by you in epoch {epoch or 1} after {step} of {steps} steps, before "
            f"any validation. Its weights are saved but not validated; use it to check the set-up, not to "
            f"read results.<br>Model folder: {r.out_dir}",
            f"Stopped: partial model saved (not validated) in {r.out_dir}.")


def finished_summary(r: Any, best: str, *, reasons: dict[str, str], unit: str) -> tuple[str, str]:
    """The summary (HTML) and status line of a finished run ``r``: why it ended (in ``reasons``' words), its
    best epoch with ``best`` (what was measured there), wall time and how many ``unit`` (``"case(s)"``,
    ``"image(s)"``) it trained and validated on."""
    resumed = f", {r.resumed_from} of them before resuming" if r.resumed_from else ""
    why = reasons.get(r.stop_reason, r.stop_reason)
    return (f"<b>{why.capitalize()}</b> after {r.epochs_run} epoch(s){resumed}.<br>Best epoch {r.best_epoch}: "
            f"{best}.<br>Wall time {minutes(r.wall_time_s)}; trained on {len(r.train_cases)}, validated on "
            f"{len(r.val_cases)} {unit}.<br>Model folder (best epoch's weights): {r.out_dir}",
            f"Done: {why}.")


def result_summary(r: Any, last_step: tuple[int, int, int]) -> tuple[str, str]:
    """The summary (HTML) and the status line of a finished segmentation run ``r`` (a ``TrainingResult``);
    ``last_step`` is ``(epoch, step, steps)`` of the last step seen, which a partial model (stopped in the first
    epoch) reports."""
    if r.stop_reason == "partial":
        return partial_summary(r, last_step)
    if r.best_dice:
        best = "validation Dice " + ", ".join(f"{k} {v:.3f}" for k, v in r.best_dice.items())
        best += f" (mean {r.best_metric:.3f})"
    else:
        best = f"training loss {-r.best_metric:.4f} (no validation case)"
    return finished_summary(r, best, reasons=STOP_REASONS, unit="case(s)")


__all__ = ["CLASSIFIER_STOP_REASONS", "STOP_REASONS", "finished_summary", "minutes", "partial_summary", "result_summary"]
