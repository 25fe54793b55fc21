"""The one training loop every task reuses: :func:`run_training` (a recipe) -> a model folder.

What differs per kind of model -- how cases are read and sampled into batches, the network, the
loss, the validation metric and what "best" means -- is a small recipe object
(:class:`~napari_medai.core.recipes.Recipe`): :class:`~napari_medai.core.recipes.SegmentationRecipe`
(brain tumour), :class:`~napari_medai.core.recipes.ClassificationRecipe` and the LDCT denoiser's
image-to-image recipe (:mod:`napari_medai.core.tasks.ldct.supervised`). This module owns the rest,
once:

* ``checkpoint.pt`` (model, optimizer, history, as plain tensors and dicts, read back with
  ``weights_only=True``) is written after every epoch, so a run resumes where it stopped; a folder
  holding a run of other settings, or anything else, is refused;
* the random state of epoch *e* is derived from ``(seed, e)`` (torch seeded with
  ``seed * 100003 + e``, NumPy's generator with ``[seed, e]``), so a resumed run continues exactly as
  an uninterrupted one would; on the CPU, runs with the same seed give identical weights
  (deterministic algorithms, no data loader workers);
* the best epoch (by the recipe's validation metric, or minus the training loss without
  validation) is kept; training stops after ``patience`` epochs without improvement, at
  ``max_epochs``, before an epoch that would overrun ``time_limit_s``, or when ``should_stop()``
  returns True (after keeping what was done);
* progress: ``progress(fraction, message)`` a few times per epoch, ``on_step(epoch, step, steps,
  loss)`` after every step and ``on_epoch(record)`` after every epoch (replayed on resume);
* the output folder is a napari-medai model folder: ``model.pt`` (best weights) and ``model.json``
  (contract, training data, per-epoch metrics, versions, seed, wall time, ``trained_on``), loadable
  by :func:`napari_medai.core.models.load_model`.

:func:`train` is the segmentation entry point (the brain-tumour recipe) that widgets and the CLI
call.
"""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .callbacks import ProgressFn, StopFn
from .errors import InvalidInputError
from .models.contract import ModelContract
from .models.errors import Cancelled
from .models.persistence import (
    atomic_torch_save,
    plain_state,
    read_model_json,
    save_model_folder,
    versions,
    write_model_json,
)
from .recipes.base import Recipe, TrainState, Validation, split_cases, split_groups
from .recipes.classification import ClassificationCase, ClassificationRecipe
from .recipes.segmentation import SegmentationRecipe, TaskSpec, TrainingCase

__all__ = [
    "CHECKPOINT_FORMAT",
    "Cancelled",
    "ClassificationCase",
    "ClassifierTrainingResult",
    "EpochFn",
    "EpochRecord",
    "RunOutcome",
    "RunResult",
    "StepFn",
    "TaskSpec",
    "TrainingCase",
    "TrainingResult",
    "run_training",
    "split_cases",
    "train",
    "train_classifier",
]

#: ``on_epoch(entry)``: a copy of the history entry of a finished epoch, plus ``"replayed"``.
EpochFn = Callable[[dict[str, Any]], None]
#: ``on_step(epoch, step, steps, loss)``: 1-based epoch and step, steps per epoch, the step's loss.
StepFn = Callable[[int, int, int, float], None]
CHECKPOINT_FORMAT = "napari-medai-checkpoint"


# ---------------------------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------------------------
@dataclass
class EpochRecord:
    """What :func:`run_training` hands ``on_epoch`` after every epoch.

    Attributes
    ----------
    entry
        The epoch's history entry (the recipe's :meth:`~napari_medai.core.recipes.Recipe.history_entry`).
    replayed
        True for epochs of an earlier session, reported again when a run is resumed.
    train_loss
        Mean training loss of the epoch (unrounded; ``nan`` for replayed epochs).
    validation
        The validation result (``None`` without validation, or when replayed).
    lr, best_epoch, improved, steps_per_epoch
        Learning rate, best epoch so far, whether this epoch became the best, steps per epoch.
    """

    entry: dict[str, Any]
    replayed: bool
    train_loss: float
    validation: Validation | None
    lr: float
    best_epoch: int
    improved: bool
    steps_per_epoch: int


@dataclass
class RunOutcome:
    """What :func:`run_training` returns; task wrappers turn it into their result type."""

    out_dir: Path
    contract: Any
    state: TrainState
    stop_reason: str
    wall_time_s: float
    resumed_from: int
    monitor: str


@dataclass
class RunResult:
    """What every training entry point returns about its run (the kind's own detail is in a subclass)."""

    out_dir: Path
    contract: ModelContract
    best_epoch: int
    best_metric: float
    history: list[dict[str, Any]]
    epochs_run: int
    stop_reason: str
    wall_time_s: float
    resumed_from: int
    train_cases: list[str]
    val_cases: list[str]
    monitor: str

    @classmethod
    def from_run(cls, run: RunOutcome, train_cases: list[str], val_cases: list[str], **detail: Any) -> Any:
        """The result of a finished :func:`run_training` call; ``detail`` fills the subclass's own field."""
        st = run.state
        return cls(out_dir=run.out_dir, contract=run.contract, best_epoch=st.best_epoch,
                   best_metric=float(st.best_metric), history=st.history, epochs_run=st.epochs_done,
                   stop_reason=run.stop_reason, wall_time_s=run.wall_time_s, resumed_from=run.resumed_from,
                   train_cases=train_cases, val_cases=val_cases, monitor=run.monitor, **detail)


@dataclass
class TrainingResult(RunResult):
    """What :func:`train` returns.

    Attributes
    ----------
    out_dir
        The model folder (``model.pt``, ``model.json``, ``checkpoint.pt``).
    contract
        Contract of the trained model.
    best_epoch, best_metric
        Epoch (1-based) of the kept weights and its monitored value (mean validation Dice, or
        minus the training loss when there is no validation case).
    best_dice
        Validation Dice per region at the best epoch (None without validation cases).
    history
        One dict per epoch: ``epoch``, ``train_loss``, ``val_dice`` (per region), ``val_mean_dice``,
        ``lr``, ``seconds``.
    epochs_run
        Epochs completed in total (including before a resume).
    stop_reason
        ``"max_epochs"``, ``"early_stopping"``, ``"time_limit"``, ``"cancelled"``, or ``"partial"``
        (``stop_training`` within the first epoch: the weights so far, not validated; ``best_epoch`` 0).
    wall_time_s
        Training time in seconds, summed over resumed sessions.
    resumed_from
        Epochs already done when this call started (0 for a fresh run).
    train_cases, val_cases
        Case names of the split.
    monitor
        ``"val_mean_dice"`` or ``"-train_loss"``.
    """

    best_dice: dict[str, float] | None

    def summary(self) -> str:
        best = (", ".join(f"{k} {v:.3f}" for k, v in self.best_dice.items()) if self.best_dice
                else f"{self.monitor} {self.best_metric:.4f}")
        return (
            f"trained {self.epochs_run} epochs ({self.stop_reason}) in {self.wall_time_s / 60:.1f} min; "
            f"best epoch {self.best_epoch}: {best}; model folder {self.out_dir}"
        )


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _epoch_entry(entry: Mapping[str, Any], *, replayed: bool) -> dict[str, Any]:
    """What ``on_epoch`` receives: a copy of a history entry (callers may keep or change it)."""
    vd = entry.get("val_dice")
    return {**entry, "val_dice": None if vd is None else dict(vd), "replayed": replayed}


def _read_checkpoint(recipe: Recipe, out: Path, *, resume: bool) -> dict[str, Any] | None:
    """The checkpoint of a run in ``out`` to resume (checked against the recipe), or None."""
    import torch

    ckpt_path = out / "checkpoint.pt"
    if not ckpt_path.is_file():
        if out.exists() and (not out.is_dir() or any(out.iterdir())):
            raise InvalidInputError(f"{out} is not empty and holds no training run (not an empty folder to write a "
                                   "model into); choose an empty or new folder")
        return None
    if not resume:
        raise InvalidInputError(
            f"{out} already holds a training run (checkpoint.pt); resume it (--resume / resume=True) "
            "or choose an empty folder"
        )
    try:
        ckpt = torch.load(str(ckpt_path), map_location="cpu", weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise InvalidInputError(f"{ckpt_path}: cannot read the checkpoint ({exc}); delete it to start over") from exc
    if (not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT
            or ckpt.get("task") != recipe.checkpoint_task):
        what = f"{recipe.checkpoint_task} " if recipe.checkpoint_task else ""
        raise InvalidInputError(f"{ckpt_path}: not a napari-medai {what}checkpoint of this kind; choose another folder")
    old, config = json.loads(ckpt["config"]), recipe.config()
    diff = sorted(k for k in set(old) | set(config) if k not in recipe.resumable and old.get(k) != config.get(k))
    if diff:
        raise InvalidInputError(
            f"{out} holds a run with other settings ({', '.join(diff)} differ); resume it with the same "
            "data and settings, or train into another folder"
        )
    return ckpt


def _state_from(ckpt: Mapping[str, Any]) -> TrainState:
    detail = ckpt.get("best_detail", ckpt.get("best_dice", ""))
    return TrainState(
        history=json.loads(ckpt["history"]), best_metric=float(ckpt["best_metric"]),
        best_epoch=int(ckpt["best_epoch"]), best_detail=json.loads(detail) if detail else None,
        since_best=int(ckpt["since_best"]), epochs_done=int(ckpt["epoch"]),
        elapsed_before_s=float(ckpt["elapsed_s"]),
    )


# ---------------------------------------------------------------------------------------------
# the loop
# ---------------------------------------------------------------------------------------------
def run_training(
    recipe: Recipe,
    *,
    out_dir: str | os.PathLike[str],
    seed: int,
    max_epochs: int,
    patience: int,
    steps_per_epoch: int,
    device: str,
    amp: bool = False,
    time_limit_s: float | None = None,
    deterministic: bool = True,
    num_threads: int | None = None,
    resume: bool = True,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_step: StepFn | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    t_start: float | None = None,
    stop_training: StopFn | None = None,
) -> RunOutcome:
    """Train ``recipe`` into the model folder ``out_dir`` (see the module docstring).

    Parameters
    ----------
    recipe
        What to train and how (:class:`~napari_medai.core.recipes.Recipe`).
    out_dir
        Model folder to write (created); a folder holding a run of the same settings is resumed
        when ``resume`` is True, any other non-empty folder is refused.
    seed
        Seeds the weights and every epoch's randomness.
    max_epochs, patience, steps_per_epoch
        Epoch limit, epochs without improvement before stopping, training steps per epoch.
    device, amp
        A resolved device (``"cpu"``/``"cuda"``) and mixed precision (CUDA only).
    time_limit_s
        Wall-time budget counted from ``t_start`` (default: this call): no epoch starts that
        would end after it.
    deterministic, num_threads
        Deterministic algorithms during the run; torch CPU threads (both restored afterwards).
    resume
        Continue a run found in ``out_dir``.
    progress, should_stop
        ``progress(fraction, message)``; ``should_stop()`` polled every step (and by the
        recipe's reading and validation).
    on_step, on_epoch
        ``on_step(epoch, step, steps, loss)`` after every step; ``on_epoch(EpochRecord)`` after
        every epoch once its checkpoint is written (first once per earlier epoch on resume).
    stop_training
        ``stop_training()`` polled like ``should_stop``: True ends the run and keeps what was
        trained. Before the first epoch has finished, the weights of the steps done so far are
        saved as a model folder marked partial (``training.partial`` in ``model.json``, not
        validated, no checkpoint) and ``stop_reason`` is ``"partial"``.

    Returns
    -------
    RunOutcome

    Raises
    ------
    InvalidInputError
        An ``out_dir`` holding another run, or a diverging loss.
    Cancelled
        Stopped before the first epoch finished (nothing is saved then).
    """
    import torch

    t_start = time.perf_counter() if t_start is None else t_start
    max_epochs, patience, steps = int(max_epochs), int(patience), int(steps_per_epoch)
    out = Path(out_dir).expanduser()

    def report(f: float, msg: str) -> None:
        if progress is not None:
            progress(float(min(max(f, 0.0), 1.0)), msg)

    ckpt = _read_checkpoint(recipe, out, resume=resume)
    config = recipe.config()
    if stop_training is not None:  # Stop ends the run like should_stop, but keeps a partial epoch
        should_stop = _either(should_stop, stop_training)
    recipe.prepare(progress, should_stop)
    out.mkdir(parents=True, exist_ok=True)
    ckpt_path = out / "checkpoint.pt"

    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        torch.manual_seed(int(seed))
        net, opt = recipe.build(device)
        scaler = torch.amp.GradScaler("cuda") if amp else None
        st = TrainState()
        if ckpt is not None:
            net.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            st = _state_from(ckpt)
        resumed_from = st.epochs_done
        if on_epoch is not None:
            for past in st.history:
                on_epoch(EpochRecord(past, True, math.nan, None, float(past.get("lr", math.nan)), st.best_epoch,
                                     False, steps))
        stop_reason = "max_epochs"
        last_epoch_s = 0.0
        per_epoch_frac = 1.0 / max(max_epochs, 1)
        session_t0 = time.perf_counter()
        losses: list[float] = []

        for epoch in range(st.epochs_done, max_epochs):
            if st.since_best >= patience and epoch > 0:
                stop_reason = "early_stopping"
                break
            used = time.perf_counter() - t_start
            if time_limit_s is not None and last_epoch_s and used + last_epoch_s > time_limit_s:
                stop_reason = "time_limit"
                break
            e_t0 = time.perf_counter()
            eseed = int(seed) * 100_003 + epoch
            torch.manual_seed(eseed)
            rng = np.random.default_rng([int(seed), epoch])
            recipe.start_epoch(epoch, eseed)
            at = float(epoch)
            if recipe.lr_schedule == "time" and time_limit_s is not None:
                # the fraction of the time budget used by mid-epoch, in epochs, when it runs ahead of the count
                at = max(at, min((used + 0.5 * last_epoch_s) / time_limit_s, 0.999) * max_epochs)
            lr = recipe.learning_rate(at, max_epochs)
            for g in opt.param_groups:
                g["lr"] = lr
            net.train()
            losses: list[float] = []
            cancelled = False
            for it in range(steps):
                if should_stop is not None and should_stop():
                    cancelled = True
                    break
                x, y = recipe.batch(rng, device)
                opt.zero_grad(set_to_none=True)
                if scaler is not None:
                    with torch.autocast(device_type="cuda", dtype=torch.float16):
                        loss = recipe.loss(net(x), y)
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss = recipe.loss(net(x), y)
                    loss.backward()
                    opt.step()
                losses.append(float(loss.detach()))
                if on_step is not None:
                    on_step(epoch + 1, it + 1, steps, losses[-1])
                if progress is not None and (it + 1) % max(1, steps // 5) == 0:
                    report((epoch + (it + 1) / (steps + 1)) * per_epoch_frac,
                           f"epoch {epoch + 1}/{max_epochs}: step {it + 1}/{steps}, {recipe.describe_loss(losses)}")
            if cancelled:
                stop_reason = "cancelled"
                break
            train_loss = float(np.mean(losses))
            try:
                val = recipe.validate(net, device, should_stop)
            except Cancelled:
                stop_reason = "cancelled"
                break
            metric = val.metric if val is not None else -train_loss
            if not math.isfinite(metric) or not math.isfinite(train_loss):
                raise InvalidInputError(
                    f"training diverged in epoch {epoch + 1} (loss {train_loss}); lower the learning rate"
                )
            st.epochs_done = epoch + 1
            last_epoch_s = time.perf_counter() - e_t0
            st.history.append(recipe.history_entry(st.epochs_done, train_loss, val, lr, last_epoch_s))
            improved = metric > st.best_metric + 1e-4
            wall = st.elapsed_before_s + (time.perf_counter() - session_t0)
            if improved:
                st.best_metric, st.best_epoch, st.since_best = metric, st.epochs_done, 0
                st.best_detail = None if val is None else val.detail
                save_model_folder(out, net, recipe.trained_contract(st),
                                  training=_summary(recipe, st, None, wall))
            else:
                st.since_best += 1
            doc = {
                "format": CHECKPOINT_FORMAT, "version": 1, "epoch": st.epochs_done,
                "model": plain_state(net.state_dict()), "optimizer": opt.state_dict(),
                "history": json.dumps(st.history), "best_metric": st.best_metric, "best_epoch": st.best_epoch,
                "best_detail": json.dumps(st.best_detail) if st.best_detail else "", "since_best": st.since_best,
                "elapsed_s": wall, "config": json.dumps(config),
            }
            if recipe.checkpoint_task is not None:
                doc["task"] = recipe.checkpoint_task
            atomic_torch_save(doc, ckpt_path)
            if on_epoch is not None:
                on_epoch(EpochRecord(st.history[-1], False, train_loss, val, lr, st.best_epoch, improved, steps))
            report(st.epochs_done * per_epoch_frac,
                   f"epoch {st.epochs_done}/{max_epochs}: {recipe.describe_epoch(train_loss, val)}"
                   f" (best epoch {st.best_epoch}{', improved' if improved else ''}; {last_epoch_s:.0f} s)")
        if st.best_epoch == 0:
            if stop_reason == "cancelled" and losses and stop_training is not None and stop_training():
                wall = st.elapsed_before_s + (time.perf_counter() - session_t0)
                contract = _save_partial(recipe, net, st, out, len(losses), steps, wall)
                report(1.0, f"stopped in epoch 1 after {len(losses)}/{steps} steps; partial model saved")
                return RunOutcome(out_dir=out, contract=contract, state=st, stop_reason="partial", wall_time_s=wall,
                                  resumed_from=resumed_from, monitor=recipe.monitor)
            if stop_reason == "cancelled":
                raise Cancelled("training cancelled before the first epoch finished; nothing was saved")
            raise InvalidInputError(f"training in {out} ended without finishing an epoch ({stop_reason})")
        wall = st.elapsed_before_s + (time.perf_counter() - session_t0)
        # final description next to the best weights (weights untouched)
        contract = recipe.contract_from_dict(read_model_json(out)["contract"])
        report(1.0, "computing the reference statistics of the kept weights")
        write_model_json(out, contract, training={**_summary(recipe, st, stop_reason, wall),
                                                  **recipe.final_summary(out, device)})
        report(1.0, f"finished: {stop_reason}; best epoch {st.best_epoch}")
        return RunOutcome(out_dir=out, contract=contract, state=st, stop_reason=stop_reason, wall_time_s=wall,
                          resumed_from=resumed_from, monitor=recipe.monitor)
    finally:
        if deterministic:
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)


def _summary(recipe: Recipe, st: TrainState, stop_reason: str | None, wall: float) -> dict[str, Any]:
    return {**recipe.training_summary(st, stop_reason, wall), "versions": versions()}


def _either(a: StopFn | None, b: StopFn) -> StopFn:
    return lambda: bool(a is not None and a()) or bool(b())


def _save_partial(recipe: Recipe, net: Any, st: TrainState, out: Path, done: int, steps: int, wall: float) -> Any:
    """Save the weights of an unfinished first epoch, marked partial and not validated (``stop_training``)."""
    note = f"PARTIAL: stopped in epoch 1 after {done} of {steps} steps, not validated"
    c = recipe.trained_contract(st)
    contract = c.with_changes(trained_on=f"{note}; {c.trained_on}")
    training = {**_summary(recipe, st, "partial", wall),
                "partial": {"epoch": st.epochs_done + 1, "steps_done": done, "steps_per_epoch": steps,
                            "validated": False}}
    save_model_folder(out, net, contract, training=training)
    return contract


# ---------------------------------------------------------------------------------------------
# segmentation entry point
# ---------------------------------------------------------------------------------------------
def train(
    task: TaskSpec,
    cases: Sequence[TrainingCase],
    *,
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    max_epochs: int = 50,
    patience: int = 10,
    val_fraction: float = 0.25,
    patch_size: Sequence[int] = (96, 96, 96),
    batch_size: int = 2,
    iterations_per_epoch: int = 20,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-5,
    pos_fraction: float = 0.5,
    val_overlap: float = 0.25,
    device: str = "auto",
    amp: bool | None = None,
    time_limit_s: float | None = None,
    trained_on: str | None = None,
    model_name: str | None = None,
    deterministic: bool = True,
    num_threads: int | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    resume: bool = True,
    on_epoch: EpochFn | None = None,
    on_step: StepFn | None = None,
    stop_training: StopFn | None = None,
    augmentation: str = "light",
    lr_schedule: str = "epochs",
) -> TrainingResult:
    """Train a segmentation network for a task (the recipe of
    :class:`~napari_medai.core.recipes.SegmentationRecipe`, the loop of :func:`run_training`).

    Parameters
    ----------
    task
        What to train (:class:`TaskSpec`).
    cases
        Training cases (:class:`TrainingCase`), split into training and validation by ``seed``.
    out_dir
        Model folder to write (created). A folder that already holds a run is resumed when
        ``resume`` is True and refused otherwise.
    seed
        Seeds the split, the weights, the patches and the augmentation.
    max_epochs, patience
        Epoch limit, and epochs without improvement before stopping early.
    val_fraction
        Fraction of cases held out for validation (at least one when > 0); 0 monitors the
        training loss instead (then the last improvement of the loss is kept).
    patch_size, batch_size, iterations_per_epoch
        Training patch (network axis order), patches per step, steps per epoch.
    learning_rate, weight_decay
        AdamW settings; the rate decays as ``(1 - epoch / max_epochs) ** 0.9``.
    pos_fraction
        Fraction of patches centred on foreground.
    val_overlap
        Sliding-window overlap of the validation pass.
    device, amp
        ``"auto"``/``"cpu"``/``"cuda"``; mixed precision (default: on CUDA only).
    time_limit_s
        Wall-time budget of this call: no epoch starts that would end after it.
    trained_on
        One line describing the training data for ``model.json`` (default: the case names).
    model_name
        Name written into the contract (default: the task contract's).
    deterministic
        Use deterministic algorithms (CPU runs are then repeatable).
    num_threads
        torch CPU threads during training (restored afterwards); ``None`` keeps torch's setting.
        On a machine whose cores are shared with other jobs, fewer threads than cores is often
        much faster (threads wait for each other at every parallel step).
    progress
        ``progress(fraction, message)`` after preparation steps, every few iterations and every epoch.
    should_stop
        Polled every iteration; True stops after saving what was done (``stop_reason="cancelled"``;
        :class:`Cancelled` is raised only if no epoch had finished).
    resume
        Continue a run found in ``out_dir``.
    on_epoch
        Called after every finished epoch (once its checkpoint is written) with a copy of the
        epoch's history entry (``epoch``, ``train_loss``, ``val_dice``, ``val_mean_dice``, ``lr``,
        ``seconds``) plus ``replayed=False``. When a run is resumed, it is first called once per
        epoch done before, in order, with ``replayed=True``, so a live plot shows the whole run.
    on_step
        Called after every training step as ``on_step(epoch, step, steps, loss)`` (1-based epoch
        and step), so a loss curve moves within long epochs.
    stop_training
        Polled every iteration; True ends the run keeping what was trained, even within the
        first epoch (then ``stop_reason="partial"``, see :func:`run_training`).
    augmentation
        ``"light"`` (flips, intensity scale and shift) or ``"strong"`` (nnU-Net-style spatial and
        intensity augmentation; :data:`~napari_medai.core.recipes.segmentation.AUGMENTATIONS`).
    lr_schedule
        ``"epochs"`` (poly decay over ``max_epochs``) or ``"time"`` (over ``time_limit_s`` when that
        ends first; :data:`~napari_medai.core.recipes.segmentation.LR_SCHEDULES`).

    Returns
    -------
    TrainingResult

    Raises
    ------
    InvalidInputError
        Bad options, unusable cases, or an ``out_dir`` holding another run.
    Cancelled
        Stopped before the first epoch finished.
    """
    from .device import resolve_device

    t_start = time.perf_counter()
    c0 = task.contract
    nd = c0.spatial_dims
    patch = tuple(int(p) for p in patch_size)
    if len(patch) != nd or any(p < 8 for p in patch):
        raise InvalidInputError(f"patch_size needs {nd} sizes >= 8, got {list(patch_size)}")
    for name, val, lo in (("max_epochs", max_epochs, 1), ("batch_size", batch_size, 1),
                          ("iterations_per_epoch", iterations_per_epoch, 1), ("patience", patience, 1)):
        if int(val) < lo:
            raise InvalidInputError(f"{name} must be >= {lo}, got {val}")
    if not 0.0 <= pos_fraction <= 1.0:
        raise InvalidInputError(f"pos_fraction must lie in [0, 1], got {pos_fraction}")
    if learning_rate <= 0:
        raise InvalidInputError(f"learning_rate must be > 0, got {learning_rate}")
    if num_threads is not None and int(num_threads) < 1:
        raise InvalidInputError(f"num_threads must be >= 1, got {num_threads}")
    if time_limit_s is not None and time_limit_s <= 0:
        raise InvalidInputError(f"time_limit_s must be > 0, got {time_limit_s}")
    if not cases:
        raise InvalidInputError("no training cases given")
    names = [cs.name for cs in cases]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"case names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    train_names, val_names = split_cases(names, val_fraction=val_fraction, seed=seed)
    dev = resolve_device(device)
    use_amp = (dev == "cuda") if amp is None else (bool(amp) and dev == "cuda")
    recipe = SegmentationRecipe(
        task, cases, train_names=train_names, val_names=val_names, seed=int(seed), patch_size=patch,
        batch_size=batch_size, iterations_per_epoch=iterations_per_epoch, learning_rate=learning_rate,
        weight_decay=weight_decay, pos_fraction=pos_fraction, val_overlap=val_overlap, val_fraction=val_fraction,
        max_epochs=max_epochs, patience=patience, time_limit_s=time_limit_s, device=dev, amp=use_amp,
        trained_on=trained_on, model_name=model_name, augmentation=augmentation, lr_schedule=lr_schedule,
    )

    def epoch_cb(rec: EpochRecord) -> None:
        if on_epoch is not None:
            on_epoch(_epoch_entry(rec.entry, replayed=rec.replayed))

    run = run_training(
        recipe, out_dir=out_dir, seed=seed, max_epochs=max_epochs, patience=patience,
        steps_per_epoch=iterations_per_epoch, device=dev, amp=use_amp, time_limit_s=time_limit_s,
        deterministic=deterministic, num_threads=num_threads, resume=resume, progress=progress,
        should_stop=should_stop, on_step=on_step, on_epoch=epoch_cb if on_epoch is not None else None,
        t_start=t_start, stop_training=stop_training,
    )
    return TrainingResult.from_run(run, train_names, val_names, best_dice=run.state.best_detail)


# ---------------------------------------------------------------------------------------------
# classification entry point
# ---------------------------------------------------------------------------------------------
@dataclass
class ClassifierTrainingResult(RunResult):
    """What :func:`train_classifier` returns (fields as in :class:`TrainingResult`).

    ``best_metric`` is the validation AUC (``monitor="val_auc"``), the validation accuracy
    (``"val_accuracy"``, when no class has both answers among the validation cases) or minus the
    training loss (``"-train_loss"``); ``best_validation`` holds ``auc``, ``auc_per_class`` and
    ``accuracy`` of the best epoch.
    """

    best_validation: dict[str, Any] | None

    def summary(self) -> str:
        return (f"trained {self.epochs_run} epochs ({self.stop_reason}) in {self.wall_time_s / 60:.1f} min; "
                f"best epoch {self.best_epoch}: {self.monitor} {self.best_metric:.4f}; model folder {self.out_dir}")


def train_classifier(
    contract: ModelContract,
    cases: Sequence[ClassificationCase],
    *,
    out_dir: str | os.PathLike[str],
    seed: int = 0,
    max_epochs: int = 20,
    patience: int = 5,
    val_fraction: float = 0.25,
    batch_size: int = 16,
    steps_per_epoch: int = 20,
    learning_rate: float = 1e-3,
    weight_decay: float = 1e-5,
    flip: bool = True,
    device: str = "auto",
    time_limit_s: float | None = None,
    trained_on: str | None = None,
    model_name: str | None = None,
    num_threads: int | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    resume: bool = True,
    on_epoch: EpochFn | None = None,
    on_step: StepFn | None = None,
    groups: Sequence[Any] | None = None,
) -> ClassifierTrainingResult:
    """Train a classifier (:class:`~napari_medai.core.recipes.ClassificationRecipe`) into a model folder.

    Parameters
    ----------
    contract
        The classification contract of the model to produce (``kind="classification"``).
    cases
        :class:`~napari_medai.core.recipes.ClassificationCase` items, split by ``seed``.
    out_dir, seed, max_epochs, patience, val_fraction, device, time_limit_s, trained_on, model_name,
    num_threads, progress, should_stop, resume, on_epoch, on_step
        As for :func:`train` (``on_epoch`` gets copies of the history entries: ``epoch``,
        ``train_loss``, ``val_auc``, ``val_accuracy``, ``lr``, ``seconds``, ``replayed``).
    batch_size, steps_per_epoch
        Class-balanced images per step, steps per epoch.
    learning_rate, weight_decay
        AdamW settings.
    flip
        Random flips along every spatial axis.
    groups
        One group id per case (a patient, a source scan): the validation split then keeps each group
        on one side (:func:`~napari_medai.core.recipes.base.split_groups`); ``None``: cases split alone.

    Returns
    -------
    ClassifierTrainingResult
    """
    from .device import resolve_device

    t_start = time.perf_counter()
    for name, val in (("max_epochs", max_epochs), ("batch_size", batch_size), ("steps_per_epoch", steps_per_epoch),
                      ("patience", patience)):
        if int(val) < 1:
            raise InvalidInputError(f"{name} must be >= 1, got {val}")
    if learning_rate <= 0:
        raise InvalidInputError(f"learning_rate must be > 0, got {learning_rate}")
    if not cases:
        raise InvalidInputError("no training cases given")
    names = [cs.name for cs in cases]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"case names repeat: {sorted({n for n in names if names.count(n) > 1})}")
    if groups is None:
        train_names, val_names = split_cases(names, val_fraction=val_fraction, seed=seed)
    else:
        train_names, val_names = split_groups(names, list(groups), val_fraction=val_fraction, seed=seed)
    dev = resolve_device(device)
    recipe = ClassificationRecipe(
        contract, cases, train_names=train_names, val_names=val_names, seed=seed, batch_size=batch_size,
        steps_per_epoch=steps_per_epoch, learning_rate=learning_rate, weight_decay=weight_decay,
        max_epochs=max_epochs, patience=patience, val_fraction=val_fraction, time_limit_s=time_limit_s,
        device=dev, flip=flip, trained_on=trained_on, model_name=model_name,
    )

    def epoch_cb(rec: EpochRecord) -> None:
        if on_epoch is not None:
            on_epoch({**rec.entry, "replayed": rec.replayed})

    run = run_training(
        recipe, out_dir=out_dir, seed=seed, max_epochs=max_epochs, patience=patience, steps_per_epoch=steps_per_epoch,
        device=dev, time_limit_s=time_limit_s, num_threads=num_threads, resume=resume, progress=progress,
        should_stop=should_stop, on_step=on_step, on_epoch=epoch_cb if on_epoch is not None else None,
        t_start=t_start,
    )
    return ClassifierTrainingResult.from_run(run, train_names, val_names, best_validation=run.state.best_detail)
