"""Supervised LDCT denoising: training a denoiser on pairs (:func:`train_ldct`) into a model folder.

The parts live beside this module and their public names are re-exported here: :mod:`.denoiser`
(:class:`DenoiserContract`, the networks), :mod:`.pairs` (:class:`LdctPair`, reading or simulating
the pairs), :mod:`.recipe` (:class:`LdctRecipe`, what the engine's training loop runs) and
:mod:`.predict` (:func:`load_denoiser`, :func:`apply_denoiser`).

Model folders
-------------
:func:`train_ldct` writes a napari-medai model folder, the layout of the model engine
(:func:`napari_medai.core.models.loading.save_model_folder`): ``model.pt`` (a plain state_dict,
best epoch), ``model.json`` (``format: napari-medai-model``; ``contract`` = a
:class:`DenoiserContract` with ``task: "ldct_denoising"``; ``training`` = data, recipe, per-epoch
history, seed, versions, wall time) and ``checkpoint.pt`` (resumable state, read with
``weights_only=True``). :func:`load_denoiser` opens such a folder -- or a bare RED-CNN
state_dict such as the shared ``redcnn_shared_L1_25.pt`` -- into the engine's
:class:`~napari_medai.core.models.loading.LoadedModel`, loading weights with
``weights_only=True`` and strict key checking.

The engine's segmentation contract (:class:`~napari_medai.core.models.ModelContract`) describes
label outputs only, so a denoiser carries its own small contract: the network
(:class:`~napari_medai.core.models.NetworkSpec`, one of :data:`DENOISER_NETWORKS`) and the input
scaling ``x = (HU - input_offset_hu) / input_scale_hu`` (output scaled back the same way).

Training recipe (:func:`train_ldct`)
------------------------------------
Pairs of (low dose, target) slices: a real low-dose scan with its full-dose scan as target, or a
low-dose scan simulated from the full-dose image with
:func:`napari_medai.core.simulation.simulate_low_dose_pair` -- whose target is then the noise-free
reconstruction of the same geometry, so the network learns to remove exactly the added noise.
RED-CNN (Chen 2017; ``filters`` channels), random ``patch`` x ``patch`` crops with flips and 90
degree rotations, mean-squared error, AdamW with cosine decay over ``max_epochs``; after every
epoch the held-out pairs (``val_fraction``) are denoised and scored by PSNR in the [-160, 240] HU
window; the best epoch is kept, training stops after ``patience`` epochs without improvement, at
``max_epochs``, before an epoch that would overrun ``time_limit_s``, or when ``should_stop()`` is
True. Epoch *e* draws its randomness from ``(seed, e)``, so a resumed run continues as an
uninterrupted one would; on the CPU the same seed gives the same weights.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...callbacks import MetricsFn
from ...errors import InvalidInputError
from ...recipes.base import split_cases
from ._common import ProgressFn, StopFn, check_int, check_real
from .denoiser import (
    DENOISER_NETWORKS,
    TASK,
    DenoiserContract,
    build_denoiser_network,
    shared_redcnn_contract,
)
from .pairs import LdctPair
from .predict import apply_denoiser, load_denoiser
from .recipe import LdctRecipe

__all__ = [
    "DENOISER_NETWORKS",
    "TASK",
    "DenoiserContract",
    "LdctPair",
    "LdctRecipe",
    "LdctTrainingResult",
    "apply_denoiser",
    "build_denoiser_network",
    "load_denoiser",
    "shared_redcnn_contract",
    "train_ldct",
]


@dataclass
class LdctTrainingResult:
    """What :func:`train_ldct` returns (see :class:`napari_medai.core.training.TrainingResult`)."""

    out_dir: Path
    contract: DenoiserContract
    best_epoch: int
    best_metric: float
    monitor: str
    history: list[dict[str, Any]]
    epochs_run: int
    stop_reason: str
    wall_time_s: float
    resumed_from: int
    train_pairs: list[str]
    val_pairs: list[str]
    baseline_val_psnr: float | None = None
    info: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        if self.monitor == "val_psnr":
            best = f"validation PSNR {self.best_metric:.2f} dB"
            if self.baseline_val_psnr is not None:
                best += f" (low-dose input {self.baseline_val_psnr:.2f} dB)"
        else:
            best = f"training loss {-self.best_metric:.5f}"
        return (f"trained {self.epochs_run} epochs ({self.stop_reason}) in {self.wall_time_s / 60:.1f} min; "
                f"best epoch {self.best_epoch}: {best}; model folder {self.out_dir}")



def train_ldct(
    pairs: Sequence[LdctPair | tuple[Any, Any]],
    *,
    out_dir: str | os.PathLike[str],
    simulate_dose: float | None = None,
    i0: float = 1e5,
    filters: int = 32,
    patch: int = 64,
    batch_size: int = 8,
    steps_per_epoch: int = 50,
    max_epochs: int = 30,
    patience: int = 8,
    val_fraction: float = 0.2,
    learning_rate: float = 5e-4,
    input_scale_hu: float = 500.0,
    seed: int = 0,
    device: str = "auto",
    time_limit_s: float | None = None,
    resume: bool = True,
    model_name: str | None = None,
    trained_on: str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_metrics: MetricsFn | None = None,
) -> LdctTrainingResult:
    """Train a RED-CNN denoiser on (low dose, full dose) pairs; write a model folder.

    Parameters
    ----------
    pairs
        :class:`LdctPair` items or ``(full_dose, low_dose_or_None)`` tuples (arrays, Volumes or
        image paths; 2-D slices or 3-D stacks, every slice is a sample).
    out_dir
        Model folder to write; a folder holding a run of the same settings is resumed
        (``resume=True``), any other non-empty folder is refused.
    simulate_dose
        Dose fraction used to simulate the low-dose image of pairs that have none.
    i0
        Full-dose photons per ray of the simulation (1e5 is clinical).
    filters
        RED-CNN channels (96 in the paper; 32 by default to train in minutes on a CPU).
    patch, batch_size, steps_per_epoch
        Training crop side (pixels), crops per step, steps per epoch.
    max_epochs, patience
        Epoch limit, and epochs without improvement before stopping early.
    val_fraction
        Fraction of pairs held out for validation (0: monitor the training loss).
    learning_rate
        AdamW's initial rate (cosine decay to 5 % over ``max_epochs``).
    input_scale_hu
        The network sees ``HU / input_scale_hu``.
    seed
        Seeds the split, the simulation, the weights and the crops.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    time_limit_s
        Wall-time budget of this call: no epoch starts that would end after it.
    resume
        Continue a run found in ``out_dir``.
    model_name, trained_on
        Name and one-line data description written into the contract.
    progress, should_stop
        ``progress(fraction, message)``; ``should_stop()`` polled every step (stops after saving
        what was done; :class:`~napari_medai.core.models.Cancelled` when no epoch had finished).
    on_metrics
        For live curves; must return quickly. Called after every step with ``{"kind": "step",
        "epoch": e, "step": s, "global_step": n, "loss": mse, "rmse_hu": ...}`` (``loss`` in network
        units, ``HU / input_scale_hu``; ``epoch`` counts from 1, ``global_step`` over the whole run)
        and after every finished epoch with ``{"kind": "epoch", "epoch": e, "global_step": n,
        "train_loss": mean mse, "train_rmse_hu": ..., "val_psnr": dB or None, "lr": ...,
        "best_epoch": ..., "improved": bool}``.

    Returns
    -------
    LdctTrainingResult
    """
    from ...device import resolve_device
    from ...training import EpochRecord, run_training

    t_start = time.perf_counter()
    if not isinstance(pairs, Sequence) or isinstance(pairs, (str, bytes)) or not pairs:
        raise InvalidInputError("give at least one training pair (full dose, low dose or None)")
    seed = check_int(seed, "seed", low=0)
    filters = check_int(filters, "filters", low=1, high=512)
    patch = check_int(patch, "patch", low=24, high=1024)
    batch_size = check_int(batch_size, "batch_size", low=1, high=4096)
    steps_per_epoch = check_int(steps_per_epoch, "steps_per_epoch", low=1)
    max_epochs = check_int(max_epochs, "max_epochs", low=1)
    patience = check_int(patience, "patience", low=1)
    learning_rate = check_real(learning_rate, "learning_rate", low=0.0, low_open=True, high=1.0)
    input_scale_hu = check_real(input_scale_hu, "input_scale_hu", low=0.0, low_open=True)
    i0 = check_real(i0, "i0", low=0.0, low_open=True)
    if simulate_dose is not None:
        simulate_dose = check_real(simulate_dose, "simulate_dose", low=0.0, low_open=True, high=1.0)
    if time_limit_s is not None:
        time_limit_s = check_real(time_limit_s, "time_limit_s", low=0.0, low_open=True)
    val_fraction = check_real(val_fraction, "val_fraction", low=0.0, high=0.99)
    dev = resolve_device(device)
    out = Path(out_dir).expanduser()

    names = [(p.name if isinstance(p, LdctPair) else None) or f"pair{i + 1}" for i, p in enumerate(pairs)]
    if len(pairs) < 2 and val_fraction > 0:
        val_fraction = 0.0  # one pair cannot be split; monitor the training loss
    train_names, val_names = split_cases(names, val_fraction=val_fraction, seed=seed)
    recipe = LdctRecipe(
        pairs, names=names, train_names=train_names, val_names=val_names, seed=seed, filters=filters, patch=patch,
        batch_size=batch_size, steps_per_epoch=steps_per_epoch, max_epochs=max_epochs, patience=patience,
        val_fraction=val_fraction, learning_rate=learning_rate, input_scale_hu=input_scale_hu,
        simulate_dose=simulate_dose, i0=i0, time_limit_s=time_limit_s, device=dev,
        model_name=model_name or out.name or "ldct-redcnn", trained_on=trained_on,
    )

    def step_cb(epoch: int, step: int, steps: int, loss: float) -> None:
        on_metrics({"kind": "step", "epoch": epoch, "step": step, "global_step": (epoch - 1) * steps + step,
                    "loss": loss, "rmse_hu": math.sqrt(loss) * input_scale_hu})

    def epoch_cb(rec: EpochRecord) -> None:
        if rec.replayed:
            return
        e = int(rec.entry["epoch"])
        on_metrics({"kind": "epoch", "epoch": e, "global_step": e * rec.steps_per_epoch,
                    "train_loss": rec.train_loss, "train_rmse_hu": math.sqrt(rec.train_loss) * input_scale_hu,
                    "val_psnr": None if rec.validation is None else rec.validation.metric, "lr": rec.lr,
                    "best_epoch": rec.best_epoch, "improved": rec.improved})

    run = run_training(
        recipe, out_dir=out, seed=seed, max_epochs=max_epochs, patience=patience, steps_per_epoch=steps_per_epoch,
        device=dev, time_limit_s=time_limit_s, resume=resume, progress=progress, should_stop=should_stop,
        on_step=step_cb if on_metrics is not None else None, on_epoch=epoch_cb if on_metrics is not None else None,
        t_start=t_start,
    )
    st = run.state
    return LdctTrainingResult(
        out_dir=run.out_dir, contract=run.contract, best_epoch=st.best_epoch, best_metric=float(st.best_metric),
        monitor=run.monitor, history=st.history, epochs_run=st.epochs_done, stop_reason=run.stop_reason,
        wall_time_s=run.wall_time_s, resumed_from=run.resumed_from, train_pairs=train_names, val_pairs=val_names,
        baseline_val_psnr=recipe.baseline, info={"pairs": recipe.details},
    )

