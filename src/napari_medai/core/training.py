"""The training engine every task reuses: :func:`train` -> a self-describing model folder.

Recipe (MONAI throughout):

* each case is read, checked (channels and labels on one grid, labels valid in the case's
  convention), normalised as the contract says (inside the brain mask when one is given),
  cropped to the bounding box of its non-background voxels, reoriented and resampled to the
  contract's grid, and turned into training targets (one mask per output region for sigmoid
  models, a class map for softmax models);
* patches of ``patch_size`` are drawn with ``RandCropByPosNegLabel`` (``pos_fraction`` of them
  centred on a foreground voxel, the rest on a brain voxel outside it), flipped at random along
  each axis and scaled/shifted in intensity (``RandFlip``, ``RandScaleIntensity``,
  ``RandShiftIntensity``);
* the network (by default ``SegResNet``) learns with ``DiceCELoss`` and AdamW, the learning rate
  decaying polynomially over ``max_epochs``; an epoch is ``iterations_per_epoch`` batches;
* after every epoch the held-out validation cases are segmented with MONAI's sliding window and
  scored with Dice per region (on the training grid); the best epoch's weights are kept; training
  stops after ``patience`` epochs without improvement, at ``max_epochs``, before an epoch that
  would overrun ``time_limit_s``, or when ``should_stop()`` returns True;
* ``checkpoint.pt`` (model, optimizer, history, as plain tensors and dicts, read back with
  ``weights_only=True``) is written after every epoch, so a run resumes where it stopped; the
  random state of epoch *e* is derived from ``(seed, e)``, so a resumed run continues exactly as
  an uninterrupted one would;
* the output folder is a napari-medai model folder: ``model.pt`` (best weights) and
  ``model.json`` (contract, training data, per-epoch metrics, versions, seed, wall time,
  ``trained_on``), loadable by :func:`napari_medai.core.models.load_model`.

On the CPU, runs with the same seed give identical weights (deterministic algorithms, no data
loader workers). All prepared cases are held in memory: about ``4 * (channels + regions)`` bytes
per voxel of each brain's bounding box at the working spacing (about 6 MB per BraTS case at 2 mm
with two channels), so cohorts of hundreds of cases fit; far larger ones need streaming, which
this engine does not do yet.
"""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import InvalidInputError
from .models.contract import ModelContract
from .models.errors import Cancelled
from .volume import Volume

__all__ = [
    "CHECKPOINT_FORMAT",
    "Cancelled",
    "EpochFn",
    "StepFn",
    "TaskSpec",
    "TrainingCase",
    "TrainingResult",
    "split_cases",
    "train",
]

ProgressFn = Callable[[float, str], None]
StopFn = Callable[[], bool]
#: ``on_epoch(entry)``: a copy of the history entry of a finished epoch, plus ``"replayed"``.
EpochFn = Callable[[dict[str, Any]], None]
#: ``on_step(epoch, step, steps, loss)``: 1-based epoch and step, steps per epoch, the step's loss.
StepFn = Callable[[int, int, int, float], None]
CHECKPOINT_FORMAT = "napari-medai-checkpoint"
_RESUMABLE_CHANGES = {"max_epochs", "patience", "time_limit_s"}


# ---------------------------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------------------------
@dataclass
class TrainingCase:
    """One training case.

    Parameters
    ----------
    name
        Case name (unique within a run).
    channels
        ``{channel name: path or Volume}``; names are matched to the task's channels through the
        aliases of :func:`~napari_medai.core.models.canonical_channel`.
    label
        Label map (path or Volume) on the channels' grid.
    convention
        Label convention of ``label`` (``"brats2013"``, ``"brats2021"``, ... see
        :mod:`napari_medai.core.metrics.conventions`).
    brainmask
        Optional brain mask: normalisation statistics and background patches come from inside it.
    """

    name: str
    channels: Mapping[str, str | os.PathLike[str] | Volume]
    label: str | os.PathLike[str] | Volume
    convention: str
    brainmask: str | os.PathLike[str] | Volume | None = None


@dataclass(frozen=True)
class TaskSpec:
    """What to train: the contract of the model to produce (untrained) and the loss options.

    The contract's ``output_channels`` are region names of the cases' conventions for
    ``"sigmoid-regions"`` (each region becomes one target mask, whatever convention a case is
    in), or one class per label value of the contract's convention for ``"softmax-labels"``.
    """

    contract: ModelContract
    description: str = ""

    def targets(self, label: np.ndarray, convention: str, *, what: str = "label map") -> np.ndarray:
        """Training targets of one label map: ``(n_regions, *spatial)`` uint8 masks for sigmoid
        models, ``(1, *spatial)`` class indices for softmax models."""
        from .metrics import get_convention

        conv = get_convention(convention)
        lab = np.asarray(label)
        conv.check_values(np.unique(lab), what=what)
        c = self.contract
        if c.output_kind == "sigmoid-regions":
            out = np.zeros((len(c.output_channels), *lab.shape), dtype=np.uint8)
            for i, region in enumerate(c.output_channels):
                if region not in conv.regions:
                    raise InvalidInputError(
                        f"{what}: convention {conv.name!r} has no region {region!r} (it has "
                        f"{', '.join(conv.regions)}); the model needs {', '.join(c.output_channels)}"
                    )
                out[i] = np.isin(lab, conv.regions[region])
            return out
        if conv.name != c.label_convention:
            raise InvalidInputError(
                f"{what} is in convention {conv.name!r} but the softmax model predicts {c.label_convention!r} "
                "labels; convert the labels or use a sigmoid-regions task"
            )
        lut = np.zeros(int(lab.max()) + 1 if lab.size else 1, dtype=np.uint8)
        for idx, value in enumerate(c.class_labels):
            if value < lut.size:
                lut[value] = idx
        return lut[lab.astype(np.int64)][None]


@dataclass
class TrainingResult:
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
        ``"max_epochs"``, ``"early_stopping"``, ``"time_limit"`` or ``"cancelled"``.
    wall_time_s
        Training time in seconds, summed over resumed sessions.
    resumed_from
        Epochs already done when this call started (0 for a fresh run).
    train_cases, val_cases
        Case names of the split.
    monitor
        ``"val_mean_dice"`` or ``"-train_loss"``.
    """

    out_dir: Path
    contract: ModelContract
    best_epoch: int
    best_metric: float
    best_dice: dict[str, float] | None
    history: list[dict[str, Any]]
    epochs_run: int
    stop_reason: str
    wall_time_s: float
    resumed_from: int
    train_cases: list[str]
    val_cases: list[str]
    monitor: str

    def summary(self) -> str:
        best = (", ".join(f"{k} {v:.3f}" for k, v in self.best_dice.items()) if self.best_dice
                else f"{self.monitor} {self.best_metric:.4f}")
        return (
            f"trained {self.epochs_run} epochs ({self.stop_reason}) in {self.wall_time_s / 60:.1f} min; "
            f"best epoch {self.best_epoch}: {best}; model folder {self.out_dir}"
        )


@dataclass
class _Prepared:
    name: str
    data: np.ndarray  # (C + K, *spatial) float32: images then targets, network layout and spacing
    n_image: int
    fg: np.ndarray  # flat indices of foreground voxels
    bg: np.ndarray  # flat indices of brain voxels outside the foreground
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def image(self) -> np.ndarray:
        return self.data[: self.n_image]

    @property
    def target(self) -> np.ndarray:
        return self.data[self.n_image :]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
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


def _as_volume(x: str | os.PathLike[str] | Volume, *, as_label: bool | None, what: str) -> Volume:
    if isinstance(x, Volume):
        return x
    from .io import read_volume

    return read_volume(x, as_label=as_label)


def _bbox(mask: np.ndarray, margin: int) -> tuple[slice, ...]:
    if not mask.any():
        return tuple(slice(0, s) for s in mask.shape)
    out = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        idx = np.flatnonzero(mask.any(axis=other))
        out.append(slice(max(int(idx[0]) - margin, 0), min(int(idx[-1]) + 1 + margin, mask.shape[ax])))
    return tuple(out)


def _prepare_case(case: TrainingCase, task: TaskSpec, patch: Sequence[int]) -> _Prepared:
    import torch
    import torch.nn.functional as F

    from .inference import layout_for, match_channels, normalize_channels

    c = task.contract
    chans = {str(k): _as_volume(v, as_label=False, what=f"{case.name}: {k}") for k, v in case.channels.items()}
    try:
        vols = match_channels(c, chans)
    except InvalidInputError as exc:
        raise type(exc)(f"case {case.name!r}: {exc}") from exc
    ref = vols[0]
    label = _as_volume(case.label, as_label=True, what=f"{case.name}: label")
    ref.require_same_grid(label, what=f"case {case.name!r}: images and label map")
    bm = None
    if case.brainmask is not None:
        mvol = _as_volume(case.brainmask, as_label=None, what=f"{case.name}: brain mask")
        ref.require_same_grid(mvol, what=f"case {case.name!r}: images and brain mask")
        bm = np.asarray(mvol.data) > 0.5
    data = np.stack([np.asarray(v.data, dtype=np.float32) for v in vols])
    norm, masks = normalize_channels(data, c.normalization, brainmask=bm)
    del data
    brain = masks.any(axis=0) if c.normalization == "zscore-nonzero" else np.ones(ref.spatial_shape, bool)
    targets = task.targets(np.asarray(label.data), case.convention, what=f"case {case.name!r} label map")
    box = _bbox(brain, margin=4) if c.crop_foreground else tuple(slice(None) for _ in ref.spatial_shape)
    norm = norm[(slice(None), *box)]
    targets = targets[(slice(None), *box)]
    brain = brain[box]
    lay = layout_for(ref, c.orientation)
    img = np.ascontiguousarray(lay.to_net(norm))
    tgt = np.ascontiguousarray(lay.to_net(targets))
    brn = np.ascontiguousarray(lay.to_net(brain[None]))[0]
    spacing = lay.spacing(ref.spacing)
    if c.target_spacing is not None and not np.allclose(spacing, c.target_spacing, rtol=1e-3, atol=1e-4):
        size = [max(1, int(round(n * s / t))) for n, s, t in zip(img.shape[1:], spacing, c.target_spacing)]
        mode = "trilinear" if len(size) == 3 else "bilinear"
        img = F.interpolate(torch.from_numpy(img)[None], size=size, mode=mode, align_corners=False)[0].numpy()
        if c.output_kind == "sigmoid-regions":
            t = F.interpolate(torch.from_numpy(tgt.astype(np.float32))[None], size=size, mode=mode, align_corners=False)
            tgt = (t[0].numpy() >= 0.5).astype(np.uint8)
        else:
            t = F.interpolate(torch.from_numpy(tgt.astype(np.float32))[None], size=size, mode="nearest-exact")
            tgt = t[0].numpy().astype(np.uint8)
        b = F.interpolate(torch.from_numpy(brn.astype(np.float32))[None, None], size=size, mode=mode, align_corners=False)
        brn = b[0, 0].numpy() >= 0.5
    # pad to at least one patch
    pads = [(0, max(0, int(p) - s)) for p, s in zip(patch, img.shape[1:])]
    if any(hi for _, hi in pads):
        img = np.pad(img, [(0, 0), *pads])
        tgt = np.pad(tgt, [(0, 0), *pads])
        brn = np.pad(brn, pads)
    img = np.ascontiguousarray(img, dtype=np.float32)
    fg_mask = tgt.any(axis=0) if c.output_kind == "sigmoid-regions" else tgt[0] > 0
    fg = np.flatnonzero(fg_mask)
    bg = np.flatnonzero(brn & ~fg_mask)
    if bg.size == 0:
        bg = np.flatnonzero(~fg_mask)
    info = {
        "name": case.name, "convention": case.convention, "shape": list(ref.spatial_shape),
        "spacing_mm": list(ref.spacing), "training_grid": list(img.shape[1:]),
        "foreground_voxels": int(fg.size),
    }
    data = np.concatenate([img, tgt.astype(np.float32)], axis=0)
    return _Prepared(case.name, data, img.shape[0], fg, bg, info)


def _dice(pred: np.ndarray, ref: np.ndarray) -> float:
    a, b = int(pred.sum()), int(ref.sum())
    if a + b == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred, ref).sum()) / (a + b)


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("napari-medai", "torch", "monai", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def _atomic_torch_save(obj: Any, path: Path) -> None:
    import tempfile

    import torch

    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _plain_state(sd: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v.detach().cpu().clone() for k, v in sd.items()}


def _epoch_entry(entry: Mapping[str, Any], *, replayed: bool) -> dict[str, Any]:
    """What ``on_epoch`` receives: a copy of a history entry (callers may keep or change it)."""
    vd = entry.get("val_dice")
    return {**entry, "val_dice": None if vd is None else dict(vd), "replayed": replayed}


# ---------------------------------------------------------------------------------------------
# the engine
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
) -> TrainingResult:
    """Train a segmentation network for a task (see the module docstring for the recipe).

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
    import torch
    from monai.losses import DiceCELoss
    from monai.transforms import (
        RandCropByPosNegLabel,
        RandFlip,
        RandScaleIntensity,
        RandShiftIntensity,
    )
    from monai.utils import convert_to_tensor

    from .device import resolve_device
    from .inference import infer_array
    from .models.loading import build_network, save_model_folder

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
    out = Path(out_dir).expanduser()

    def report(f: float, msg: str) -> None:
        if progress is not None:
            progress(float(min(max(f, 0.0), 1.0)), msg)

    config = {
        "task": c0.task, "channels": list(c0.channels), "output_channels": list(c0.output_channels),
        "network": c0.network.to_dict(), "seed": int(seed), "patch_size": list(patch), "batch_size": int(batch_size),
        "iterations_per_epoch": int(iterations_per_epoch), "learning_rate": float(learning_rate),
        "weight_decay": float(weight_decay), "pos_fraction": float(pos_fraction), "val_fraction": float(val_fraction),
        "val_overlap": float(val_overlap), "train_cases": train_names, "val_cases": val_names,
        "max_epochs": int(max_epochs), "patience": int(patience),
        "time_limit_s": None if time_limit_s is None else float(time_limit_s),
        "target_spacing": None if c0.target_spacing is None else list(c0.target_spacing),
        "orientation": c0.orientation, "normalization": c0.normalization,
    }
    ckpt_path = out / "checkpoint.pt"
    ckpt: dict[str, Any] | None = None
    if ckpt_path.is_file():
        if not resume:
            raise InvalidInputError(
                f"{out} already holds a training run (checkpoint.pt); resume it (--resume / resume=True) "
                "or choose an empty folder"
            )
        try:
            ckpt = torch.load(str(ckpt_path), map_location="cpu", weights_only=True)
        except (RuntimeError, OSError, EOFError, ValueError) as exc:
            raise InvalidInputError(f"{ckpt_path}: cannot read the checkpoint ({exc}); delete it to start over") from exc
        if not isinstance(ckpt, dict) or ckpt.get("format") != CHECKPOINT_FORMAT:
            raise InvalidInputError(f"{ckpt_path}: not a napari-medai checkpoint; choose another folder")
        old = json.loads(ckpt["config"])
        diff = sorted(k for k in set(old) | set(config) if k not in _RESUMABLE_CHANGES and old.get(k) != config.get(k))
        if diff:
            raise InvalidInputError(
                f"{out} holds a run with other settings ({', '.join(diff)} differ); resume it with the same "
                "data and settings, or train into another folder"
            )
    elif out.exists() and any(out.iterdir()):
        raise InvalidInputError(f"{out} is not empty and holds no training run; choose an empty or new folder")
    out.mkdir(parents=True, exist_ok=True)

    # --- data
    prepared: dict[str, _Prepared] = {}
    for i, cs in enumerate(cases):
        if should_stop is not None and should_stop():
            raise Cancelled("training cancelled while reading the cases")
        report(0.0, f"reading case {i + 1}/{len(cases)}: {cs.name}")
        prepared[cs.name] = _prepare_case(cs, task, patch)
    train_set = [prepared[n] for n in train_names]
    val_set = [prepared[n] for n in val_names]

    # --- model and optimisation
    prev_det = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    prev_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        torch.manual_seed(int(seed))
        net = build_network(c0.network).to(dev)
        opt = torch.optim.AdamW(net.parameters(), lr=float(learning_rate), weight_decay=float(weight_decay))
        if c0.output_kind == "sigmoid-regions":
            loss_fn = DiceCELoss(sigmoid=True, smooth_nr=1e-5, smooth_dr=1e-5)
        else:
            loss_fn = DiceCELoss(softmax=True, to_onehot_y=True, smooth_nr=1e-5, smooth_dr=1e-5)
        scaler = torch.amp.GradScaler("cuda") if use_amp else None
        history: list[dict[str, Any]] = []
        best_metric, best_epoch, since_best, done_epochs, elapsed_before = -math.inf, 0, 0, 0, 0.0
        best_dice: dict[str, float] | None = None
        if ckpt is not None:
            net.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
            history = json.loads(ckpt["history"])
            best_metric = float(ckpt["best_metric"])
            best_epoch = int(ckpt["best_epoch"])
            since_best = int(ckpt["since_best"])
            done_epochs = int(ckpt["epoch"])
            elapsed_before = float(ckpt["elapsed_s"])
            best_dice = json.loads(ckpt["best_dice"]) if ckpt.get("best_dice") else None
        resumed_from = done_epochs
        if on_epoch is not None:
            for past in history:
                on_epoch(_epoch_entry(past, replayed=True))
        monitor = "val_mean_dice" if val_set else "-train_loss"
        name = model_name or c0.name
        versions = _versions()
        recipe = {k: config[k] for k in ("patch_size", "batch_size", "iterations_per_epoch", "learning_rate",
                                          "weight_decay", "pos_fraction", "val_fraction", "val_overlap",
                                          "max_epochs", "patience", "time_limit_s")}
        recipe.update({"optimizer": "AdamW", "loss": "DiceCELoss", "lr_schedule": "poly 0.9 per epoch",
                       "augmentation": "RandCropByPosNegLabel, RandFlip x/y/z p=0.5, RandScaleIntensity 0.1, "
                                       "RandShiftIntensity 0.1", "device": dev, "amp": use_amp})
        data_desc = trained_on or (
            f"{len(train_names)} training case(s) ({', '.join(train_names)})"
            + (f", validated on {', '.join(val_names)}" if val_names else "")
        )

        def training_summary(stop_reason: str | None, wall: float) -> dict[str, Any]:
            return {
                "trained_on": data_desc,
                "cases": {"train": train_names, "validation": val_names, "count": len(names),
                          "details": [prepared[n].info for n in names]},
                "channels": list(c0.channels),
                "seed": int(seed), "recipe": recipe, "monitor": monitor,
                "epochs_run": done_epochs, "best_epoch": best_epoch,
                "best_metric": None if not math.isfinite(best_metric) else best_metric,
                "best_validation_dice": best_dice, "history": history,
                "stop_reason": stop_reason, "wall_time_s": round(wall, 1), "versions": versions,
            }

        def trained_contract() -> ModelContract:
            return c0.with_changes(
                name=name, is_trained=True,
                trained_on=f"{data_desc}; {done_epochs} epoch(s), best epoch {best_epoch}"
                + (", validation Dice " + ", ".join(f"{k} {v:.3f}" for k, v in best_dice.items()) if best_dice else ""),
            )

        flips = [RandFlip(prob=0.5, spatial_axis=a) for a in range(nd)]
        scale = RandScaleIntensity(factors=0.1, prob=1.0)
        shift = RandShiftIntensity(offsets=0.1, prob=1.0)
        cropper = RandCropByPosNegLabel(spatial_size=patch, pos=pos_fraction, neg=1.0 - pos_fraction, num_samples=1)
        n_img = len(c0.channels)
        stop_reason = "max_epochs"
        last_epoch_s = 0.0
        per_epoch_frac = 1.0 / max(int(max_epochs), 1)
        session_t0 = time.perf_counter()

        for epoch in range(done_epochs, int(max_epochs)):
            if since_best >= int(patience) and epoch > 0:
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
            for k, tr in enumerate([*flips, scale, shift, cropper]):
                tr.set_random_state(seed=(eseed * 31 + k) % (2**32))
            lr = float(learning_rate) * (1.0 - epoch / int(max_epochs)) ** 0.9
            for g in opt.param_groups:
                g["lr"] = lr
            net.train()
            losses = []
            cancelled = False
            for it in range(int(iterations_per_epoch)):
                if should_stop is not None and should_stop():
                    cancelled = True
                    break
                xs, ys = [], []
                for _ in range(int(batch_size)):
                    case = train_set[int(rng.integers(len(train_set)))]
                    crop = cropper(case.data, image=case.data[:1], fg_indices=case.fg, bg_indices=case.bg)[0]
                    crop = convert_to_tensor(crop, track_meta=False)
                    for f in flips:
                        crop = convert_to_tensor(f(crop), track_meta=False)
                    img = convert_to_tensor(shift(scale(crop[:n_img])), track_meta=False)
                    xs.append(img)
                    ys.append(crop[n_img:])
                x = torch.stack(xs).float().to(dev)
                y = torch.stack(ys).float().to(dev)
                opt.zero_grad(set_to_none=True)
                if use_amp:
                    with torch.autocast(device_type="cuda", dtype=torch.float16):
                        loss = loss_fn(net(x), y)
                    scaler.scale(loss).backward()
                    scaler.step(opt)
                    scaler.update()
                else:
                    loss = loss_fn(net(x), y)
                    loss.backward()
                    opt.step()
                losses.append(float(loss.detach()))
                if on_step is not None:
                    on_step(epoch + 1, it + 1, int(iterations_per_epoch), losses[-1])
                if progress is not None and (it + 1) % max(1, int(iterations_per_epoch) // 5) == 0:
                    report((epoch + (it + 1) / (int(iterations_per_epoch) + 1)) * per_epoch_frac,
                           f"epoch {epoch + 1}/{max_epochs}: step {it + 1}/{iterations_per_epoch}, "
                           f"loss {np.mean(losses):.4f}")
            if cancelled:
                stop_reason = "cancelled"
                break
            train_loss = float(np.mean(losses))
            # validation
            val_dice: dict[str, float] | None = None
            if val_set:
                net.eval()
                per_region: dict[str, list[float]] = {}
                try:
                    for vcase in val_set:
                        mean, _, _ = infer_array(
                            net, vcase.image, roi_size=c0.roi_size, output_kind=c0.output_kind, overlap=val_overlap,
                            blend_mode=c0.blend_mode, device=dev, amp=use_amp, should_stop=should_stop,
                        )
                        probs = mean.numpy()
                        if c0.output_kind == "sigmoid-regions":
                            for i, region in enumerate(c0.output_channels):
                                per_region.setdefault(region, []).append(
                                    _dice(probs[i] >= c0.threshold, vcase.target[i] > 0))
                        else:
                            cls = np.argmax(probs, axis=0)
                            for i, cname in enumerate(c0.output_channels[1:], start=1):
                                per_region.setdefault(cname, []).append(_dice(cls == i, vcase.target[0] == i))
                except Cancelled:
                    stop_reason = "cancelled"
                    break
                val_dice = {k: float(np.mean(v)) for k, v in per_region.items()}
                metric = float(np.mean(list(val_dice.values())))
            else:
                metric = -train_loss
            if not math.isfinite(metric) or not math.isfinite(train_loss):
                raise InvalidInputError(
                    f"training diverged in epoch {epoch + 1} (loss {train_loss}); lower the learning rate"
                )
            done_epochs = epoch + 1
            last_epoch_s = time.perf_counter() - e_t0
            history.append({"epoch": done_epochs, "train_loss": round(train_loss, 5),
                            "val_dice": None if val_dice is None else {k: round(v, 4) for k, v in val_dice.items()},
                            "val_mean_dice": None if val_dice is None else round(metric, 4),
                            "lr": lr, "seconds": round(last_epoch_s, 1)})
            improved = metric > best_metric + 1e-4
            wall = elapsed_before + (time.perf_counter() - session_t0)
            if improved:
                best_metric, best_epoch, since_best, best_dice = metric, done_epochs, 0, val_dice
                save_model_folder(out, net, trained_contract(), training=training_summary(None, wall))
            else:
                since_best += 1
            _atomic_torch_save({
                "format": CHECKPOINT_FORMAT, "version": 1, "epoch": done_epochs,
                "model": _plain_state(net.state_dict()), "optimizer": opt.state_dict(),
                "history": json.dumps(history), "best_metric": best_metric, "best_epoch": best_epoch,
                "best_dice": json.dumps(best_dice) if best_dice else "", "since_best": since_best,
                "elapsed_s": wall, "config": json.dumps(config),
            }, ckpt_path)
            if on_epoch is not None:
                on_epoch(_epoch_entry(history[-1], replayed=False))
            vd = (" val Dice " + ", ".join(f"{k} {v:.3f}" for k, v in val_dice.items())) if val_dice else ""
            report(done_epochs * per_epoch_frac,
                   f"epoch {done_epochs}/{max_epochs}: loss {train_loss:.4f}{vd}"
                   f" (best epoch {best_epoch}{', improved' if improved else ''}; {last_epoch_s:.0f} s)")
        else:
            stop_reason = "max_epochs"
        if best_epoch == 0:
            if stop_reason == "cancelled":
                raise Cancelled("training cancelled before the first epoch finished; nothing was saved")
            raise InvalidInputError(f"training in {out} ended without finishing an epoch ({stop_reason})")
        wall = elapsed_before + (time.perf_counter() - session_t0)
        # final description next to the best weights (weights untouched)
        from .models.loading import read_model_json, write_model_json

        doc = read_model_json(out)
        contract = ModelContract.from_dict(doc["contract"])
        write_model_json(out, contract, training=training_summary(stop_reason, wall))
        report(1.0, f"finished: {stop_reason}; best epoch {best_epoch}")
        return TrainingResult(
            out_dir=out, contract=contract, best_epoch=best_epoch, best_metric=float(best_metric),
            best_dice=best_dice, history=history, epochs_run=done_epochs, stop_reason=stop_reason,
            wall_time_s=wall, resumed_from=resumed_from, train_cases=train_names, val_cases=val_names,
            monitor=monitor,
        )
    finally:
        if deterministic:
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
        torch.set_num_threads(prev_threads)
