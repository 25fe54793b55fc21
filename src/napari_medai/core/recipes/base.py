"""What a training recipe is: the part of training that differs per kind of model.

The one training loop (:func:`napari_medai.core.training.run_training`) owns checkpointing, exact
resume, early stopping, the time budget, cancellation, seeding, progress callbacks and the model
folder. A :class:`Recipe` says the rest: how cases are read and sampled into batches, the network
and optimiser, the loss, the validation metric (higher is better; it decides the "best" epoch),
what an epoch's history entry holds, and the contract written next to the weights.

The loop calls a recipe in this order::

    config()                      # settings a resumed run must share
    prepare(progress, should_stop)  # read the data (after the output folder was checked)
    build(device)                 # network and optimiser, right after torch.manual_seed(seed)
    for every epoch:
        start_epoch(epoch, epoch_seed)
        learning_rate(epoch, max_epochs)
        batch(rng, device) -> (x, y); loss(net(x), y)   # steps_per_epoch times
        validate(net, device, should_stop) -> Validation | None
        history_entry(...)
        trained_contract(state) / training_summary(state, ...)   # when the best epoch improves
    final_summary(out_dir, device)  # once, from the kept weights, into the finished folder

Imports neither torch nor the engine, so recipes and tasks import it freely.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..callbacks import ProgressFn, StopFn
from ..errors import InvalidInputError

__all__ = ["Recipe", "TrainState", "Validation", "split_cases", "split_groups"]


def split_cases(names: Sequence[str], *, val_fraction: float, seed: int) -> tuple[list[str], list[str]]:
    """Deterministic train/validation split of case names.

    ``val_fraction == 0`` gives no validation case; otherwise at least one validation case and at
    least one training case.
    """
    n = len(names)
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidInputError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    if val_fraction == 0:
        return list(names), []
    if n < 2:
        raise InvalidInputError(
            f"{n} case(s) cannot be split into training and validation; give at least 2 cases or val_fraction=0"
        )
    n_val = min(max(1, int(round(val_fraction * n))), n - 1)
    order = np.random.default_rng(seed).permutation(n)
    val = sorted(names[i] for i in order[:n_val])
    return [x for x in names if x not in val], val


def split_groups(names: Sequence[str], groups: Sequence[Any], *, val_fraction: float,
                 seed: int) -> tuple[list[str], list[str]]:
    """Deterministic train/validation split that keeps each group (a patient, a source scan) on one side.

    The distinct groups are shuffled with ``seed`` and moved to validation, one at a time, until it
    holds at least ``round(val_fraction * len(names))`` cases (at least one group); at least one group
    stays for training. ``val_fraction == 0`` gives no validation case.

    Raises
    ------
    InvalidInputError
        ``val_fraction`` outside [0, 1), ``groups`` of another length than ``names``, or a single group
        when a validation split is asked for.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidInputError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    if len(groups) != len(names):
        raise InvalidInputError(f"{len(groups)} group ids for {len(names)} cases; give one group per case")
    if val_fraction == 0:
        return list(names), []
    keys = sorted({str(g) for g in groups})
    if len(keys) < 2:
        raise InvalidInputError(
            f"all {len(names)} cases belong to one group ({keys[0] if keys else 'none'}); a validation split by "
            "group needs at least 2 groups (or val_fraction=0)")
    want = max(1, int(round(val_fraction * len(names))))
    order = np.random.default_rng(seed).permutation(len(keys))
    size = {k: sum(str(g) == k for g in groups) for k in keys}
    val_groups: set[str] = set()
    n_val = 0
    for i in order[:-1]:
        if n_val >= want:
            break
        val_groups.add(keys[i])
        n_val += size[keys[i]]
    val = [n for n, g in zip(names, groups) if str(g) in val_groups]
    return [n for n, g in zip(names, groups) if str(g) not in val_groups], val


@dataclass
class Validation:
    """One validation pass: ``metric`` (higher is better) and what the history keeps of it."""

    metric: float
    detail: dict[str, Any] | None = None


@dataclass
class TrainState:
    """Where a run stands; saved in every checkpoint and read back on resume."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_metric: float = -float("inf")
    best_epoch: int = 0
    best_detail: dict[str, Any] | None = None
    since_best: int = 0
    epochs_done: int = 0
    elapsed_before_s: float = 0.0


class Recipe:
    """Base class of training recipes (see the module docstring). Subclasses override the hooks.

    Class attributes
    ----------------
    kind
        The model kind trained (``"segmentation"``, ``"classification"``, ``"image-to-image"``).
    checkpoint_task
        Written into checkpoints as ``"task"`` and required on resume (``None``: not written).
    resumable
        Keys of :meth:`config` that may differ when a run is resumed.
    """

    kind: str = ""
    checkpoint_task: str | None = None
    resumable: frozenset[str] = frozenset({"max_epochs", "patience", "time_limit_s"})
    #: What decides the best epoch, e.g. ``"val_mean_dice"``; ``"-train_loss"`` without validation.
    monitor: str = "-train_loss"
    #: ``"epochs"``: :meth:`learning_rate` decays over ``max_epochs``; ``"time"``: over the time budget
    #: when that ends first (the loop passes a fractional epoch).
    lr_schedule: str = "epochs"

    # ---------------------------------------------------------------- data and network
    def config(self) -> dict[str, Any]:
        """Settings a resumed run must share with the run it continues (JSON-friendly)."""
        raise NotImplementedError

    def prepare(self, progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        """Read and check the data (raise :class:`~napari_medai.core.models.Cancelled` when asked)."""
        raise NotImplementedError

    def build(self, device: str) -> tuple[Any, Any]:
        """``(network on device, optimiser)``; torch has just been seeded with the run's seed."""
        raise NotImplementedError

    def start_epoch(self, epoch: int, epoch_seed: int) -> None:
        """Seed what the recipe draws from besides ``rng`` (e.g. MONAI transforms)."""

    def learning_rate(self, epoch: int, max_epochs: int) -> float:
        """Learning rate of 0-based ``epoch`` (fractional under the ``"time"`` schedule)."""
        raise NotImplementedError

    def batch(self, rng: np.random.Generator, device: str) -> tuple[Any, Any]:
        """One training batch ``(x, y)`` drawn with ``rng``."""
        raise NotImplementedError

    def loss(self, output: Any, target: Any) -> Any:
        """The training loss (a scalar tensor)."""
        raise NotImplementedError

    def validate(self, net: Any, device: str, should_stop: StopFn | None) -> Validation | None:
        """Score the validation split (``None`` without one; then minus the training loss decides)."""
        return None

    # ---------------------------------------------------------------- reporting
    def history_entry(self, epoch: int, train_loss: float, val: Validation | None, lr: float,
                      seconds: float) -> dict[str, Any]:
        """The JSON-friendly record of a finished epoch."""
        raise NotImplementedError

    def describe_loss(self, losses: Sequence[float]) -> str:
        """A few words on the running training loss, e.g. ``"loss 0.1234"``."""
        return f"loss {float(np.mean(losses)):.4f}"

    def describe_epoch(self, train_loss: float, val: Validation | None) -> str:
        """A few words on a finished epoch for the progress line."""
        return f"loss {train_loss:.4f}"

    # ---------------------------------------------------------------- the model folder
    def trained_contract(self, state: TrainState) -> Any:
        """The contract saved with the best weights so far."""
        raise NotImplementedError

    def final_summary(self, out_dir: Any, device: str) -> dict[str, Any]:
        """Entries added to the finished model folder's training summary, computed once from the kept
        (best) weights in ``out_dir`` (e.g. the out-of-distribution reference); none by default."""
        return {}

    def training_summary(self, state: TrainState, stop_reason: str | None, wall_s: float) -> dict[str, Any]:
        """``model.json``'s ``training`` section."""
        raise NotImplementedError

    def contract_from_dict(self, d: Mapping[str, Any]) -> Any:
        """Read back the contract written by :meth:`trained_contract`."""
        raise NotImplementedError
