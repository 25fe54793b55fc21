"""The segmentation recipe: label maps -> a network that segments (MONAI throughout).

* each case is read, checked (channels and labels on one grid, labels valid in the case's
  convention) and its images prepared by :func:`napari_medai.core.inference.prepare.prepare_input`, the
  function inference uses: normalised as the contract says (inside the brain mask when one is
  given), cropped to the bounding box of the non-background voxels plus 8 voxels, reoriented and
  resampled to the contract's grid; the labels become training targets on that grid (one mask per
  output region for sigmoid models, a class map for softmax models);
* patches of ``patch_size`` are drawn with ``RandCropByPosNegLabel`` (``pos_fraction`` of them
  centred on a foreground voxel, the rest on a brain voxel outside it), flipped at random along
  each axis and scaled/shifted in intensity (``RandFlip``, ``RandScaleIntensity``,
  ``RandShiftIntensity``); ``augmentation="strong"`` adds, as nnU-Net does, rotation and scaling
  (``RandAffine``: +-15 degrees per axis, +-15 %, p 0.2), Gaussian noise (p 0.15), blur (p 0.2),
  brightness (p 0.15), contrast (p 0.15), gamma (p 0.3), a bias field (p 0.3) and simulated low
  resolution (p 0.25) -- see :data:`AUGMENTATIONS`;
* the network (by default ``SegResNet``) learns with ``DiceCELoss`` and AdamW, the learning rate
  decaying polynomially over ``max_epochs``;
* after every epoch the held-out validation cases are segmented with MONAI's sliding window and
  scored with Dice per region (on the training grid); the mean Dice decides the best epoch.

All prepared cases are held in memory: about ``4 * (channels + regions)`` bytes per voxel of each
brain's bounding box at the working spacing (about 6 MB per BraTS case at 2 mm with two
channels), so cohorts of hundreds of cases fit; far larger ones need streaming, which this recipe
does not do yet.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..callbacks import Cancelled, ProgressFn, StopFn
from ..errors import InvalidInputError
from ..models.contract import ModelContract
from ..volume import Volume
from .base import Recipe, TrainState, Validation

__all__ = ["AUGMENTATIONS", "LR_SCHEDULES", "SegmentationRecipe", "TaskSpec", "TrainingCase"]

#: Learning-rate schedules: polynomial decay (power 0.9) over ``max_epochs``, or over whichever of
#: ``max_epochs`` and the time budget ``time_limit_s`` runs out first (a time-limited run then ends
#: annealed instead of stopping at a high rate).
LR_SCHEDULES: dict[str, str] = {
    "epochs": "poly 0.9 per epoch over max_epochs",
    "time": "poly 0.9 over max_epochs or the time budget, whichever ends first",
}

#: Augmentation levels: what each adds to the random crop.
AUGMENTATIONS: dict[str, str] = {
    "light": "RandFlip x/y/z p=0.5, RandScaleIntensity 0.1, RandShiftIntensity 0.1",
    "strong": "RandFlip x/y/z p=0.5, RandScaleIntensity 0.1, RandShiftIntensity 0.1, RandAffine (rotation +-15 deg, "
              "scaling +-15 %, p 0.2), RandGaussianNoise (sd 0.1, p 0.15), RandGaussianSmooth (sigma 0.5-1, p 0.2), "
              "RandScaleIntensity 0.25 (p 0.15), RandScaleIntensityFixedMean 0.25 (p 0.15), RandAdjustContrast "
              "(gamma 0.7-1.5, p 0.3), RandBiasField (p 0.3), RandSimulateLowResolution (zoom 0.5-1, p 0.25)",
    "contrast": "RandFlip x/y/z p=0.5, RandScaleIntensity 0.1, RandShiftIntensity 0.1, and per channel (each its own "
                "draw): RandHistogramShift (5-10 control points, p 0.5: a random monotone remapping that changes how "
                "bright each tissue is relative to the others, as scanners and sequences do), RandAdjustContrast "
                "(gamma 0.7-1.5, p 0.3), RandBiasField (coefficients 0-0.2, p 0.3); no spatial change",
}


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
        from ..metrics import get_convention

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
class _Prepared:
    name: str
    data: np.ndarray  # (C + K, *spatial) float32: images then targets, network layout and spacing
    n_image: int
    fg: np.ndarray  # flat indices of foreground voxels
    bg: np.ndarray  # flat indices of brain voxels outside the foreground
    info: dict[str, Any] = field(default_factory=dict)
    reference: dict[str, Any] = field(default_factory=dict)  # what the out-of-distribution check compares with

    @property
    def image(self) -> np.ndarray:
        return self.data[: self.n_image]

    @property
    def target(self) -> np.ndarray:
        return self.data[self.n_image :]


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------
def _as_volume(x: str | os.PathLike[str] | Volume, *, as_label: bool | None, what: str) -> Volume:
    if isinstance(x, Volume):
        return x
    from ..io import read_volume

    return read_volume(x, as_label=as_label)


def _prepare_case(case: TrainingCase, task: TaskSpec, patch: Sequence[int]) -> _Prepared:
    """A case on the network's grid: the images exactly as inference prepares them
    (:func:`~napari_medai.core.inference.prepare.prepare_input`), the targets and the brain on the same grid."""
    import torch
    import torch.nn.functional as F

    from ..inference.prepare import match_channels, prepare_input

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
    if c.brain_region == "given-mask" and case.brainmask is None:
        raise InvalidInputError(f"case {case.name!r} has no brain mask, and model {c.name!r} finds the brain from "
                                "a given mask; add a brainmask* file to the case")
    # a case's mask is used only by the rules that use one at inference too (see core.intensity)
    if case.brainmask is not None and c.brain_region in ("channel-background", "given-mask"):
        mvol = _as_volume(case.brainmask, as_label=None, what=f"{case.name}: brain mask")
        ref.require_same_grid(mvol, what=f"case {case.name!r}: images and brain mask")
        bm = np.asarray(mvol.data) > 0.5
    img, geo = prepare_input(c, vols, brainmask=bm)
    brain = geo.masks.any(axis=0) if c.normalization == "zscore-nonzero" else np.ones(ref.spatial_shape, bool)
    targets = task.targets(np.asarray(label.data), case.convention, what=f"case {case.name!r} label map")
    if geo.box is not None:
        targets = targets[(slice(None), *geo.box)]
        brain = brain[geo.box]
    tgt = np.ascontiguousarray(geo.layout.to_net(targets))
    brn = np.ascontiguousarray(geo.layout.to_net(brain[None]))[0]
    if geo.resampled:
        size = list(img.shape[1:])
        mode = "trilinear" if len(size) == 3 else "bilinear"
        if c.output_kind == "sigmoid-regions":
            t = F.interpolate(torch.from_numpy(tgt.astype(np.float32))[None], size=size, mode=mode, align_corners=False)
            tgt = (t[0].numpy() >= 0.5).astype(np.uint8)
        else:
            t = F.interpolate(torch.from_numpy(tgt.astype(np.float32))[None], size=size, mode="nearest-exact")
            tgt = t[0].numpy().astype(np.uint8)
        b = F.interpolate(torch.from_numpy(brn.astype(np.float32))[None, None], size=size, mode=mode, align_corners=False)
        brn = b[0, 0].numpy() >= 0.5
    from ..ood import brain_voxels, intensity_profile, scatter

    net_brain = brain_voxels(img)
    truth = tgt.any(axis=0) if c.output_kind == "sigmoid-regions" else tgt[0] > 0
    reference = {"name": case.name, "profile": intensity_profile(img, c.channels),
                 "truth_fraction": float(np.count_nonzero(truth & net_brain)) / max(int(net_brain.sum()), 1),
                 "truth_scatter": scatter(truth & net_brain)}
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
    return _Prepared(case.name, data, img.shape[0], fg, bg, info, reference)


def _dice(pred: np.ndarray, ref: np.ndarray) -> float:
    a, b = int(pred.sum()), int(ref.sum())
    if a + b == 0:
        return 1.0
    return 2.0 * int(np.logical_and(pred, ref).sum()) / (a + b)


# ---------------------------------------------------------------------------------------------
# the recipe
# ---------------------------------------------------------------------------------------------
class SegmentationRecipe(Recipe):
    """Today's brain-tumour recipe for any segmentation contract (see the module docstring).

    Parameters
    ----------
    task, cases
        What to train and on which cases (:class:`TaskSpec`, :class:`TrainingCase`).
    train_names, val_names
        The split (from :func:`~napari_medai.core.recipes.split_cases`).
    seed
        The run's seed (recorded; the loop does the seeding).
    patch_size, batch_size, iterations_per_epoch, learning_rate, weight_decay, pos_fraction,
    val_overlap, max_epochs, patience, time_limit_s, val_fraction
        See :func:`napari_medai.core.training.train`.
    device, amp
        Resolved device and whether mixed precision is used (recorded in the recipe).
    trained_on, model_name
        Data description and model name written into the contract.
    """

    kind = "segmentation"

    def __init__(
        self, task: TaskSpec, cases: Sequence[TrainingCase], *, train_names: list[str], val_names: list[str],
        seed: int, patch_size: tuple[int, ...], batch_size: int, iterations_per_epoch: int, learning_rate: float,
        weight_decay: float, pos_fraction: float, val_overlap: float, val_fraction: float, max_epochs: int,
        patience: int, time_limit_s: float | None, device: str, amp: bool, trained_on: str | None,
        model_name: str | None, augmentation: str = "light", lr_schedule: str = "epochs",
    ) -> None:
        if augmentation not in AUGMENTATIONS:
            raise InvalidInputError(f"augmentation must be one of {', '.join(AUGMENTATIONS)}, got {augmentation!r}")
        if lr_schedule not in LR_SCHEDULES:
            raise InvalidInputError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, got {lr_schedule!r}")
        self.augmentation = augmentation
        self.lr_schedule = lr_schedule
        self.task = task
        self.cases = list(cases)
        self.names = [cs.name for cs in cases]
        self.train_names, self.val_names = train_names, val_names
        self.seed = int(seed)
        self.patch = patch_size
        self.batch_size, self.steps = int(batch_size), int(iterations_per_epoch)
        self.lr0, self.weight_decay = float(learning_rate), float(weight_decay)
        self.pos_fraction, self.val_overlap = float(pos_fraction), float(val_overlap)
        self.val_fraction, self.max_epochs, self.patience = float(val_fraction), int(max_epochs), int(patience)
        self.time_limit_s = None if time_limit_s is None else float(time_limit_s)
        self.device, self.amp = device, bool(amp)
        self.model_name = model_name or task.contract.name
        self.data_desc = trained_on or (
            f"{len(train_names)} training case(s) ({', '.join(train_names)})"
            + (f", validated on {', '.join(val_names)}" if val_names else "")
        )
        self.prepared: dict[str, _Prepared] = {}
        self.monitor = "val_mean_dice" if val_names else "-train_loss"

    def config(self) -> dict[str, Any]:
        c0 = self.task.contract
        return {
            "task": c0.task, "channels": list(c0.channels), "output_channels": list(c0.output_channels),
            "network": c0.network.to_dict(), "seed": self.seed, "patch_size": list(self.patch),
            "batch_size": self.batch_size, "iterations_per_epoch": self.steps, "learning_rate": self.lr0,
            "weight_decay": self.weight_decay, "pos_fraction": self.pos_fraction, "val_fraction": self.val_fraction,
            "val_overlap": self.val_overlap, "train_cases": self.train_names, "val_cases": self.val_names,
            "max_epochs": self.max_epochs, "patience": self.patience, "time_limit_s": self.time_limit_s,
            "target_spacing": None if c0.target_spacing is None else list(c0.target_spacing),
            "orientation": c0.orientation, "normalization": c0.normalization,
            # written only when not the original level, so runs begun before the option existed resume
            **({"augmentation": self.augmentation} if self.augmentation != "light" else {}),
            **({"lr_schedule": self.lr_schedule} if self.lr_schedule != "epochs" else {}),
        }

    def prepare(self, progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        for i, cs in enumerate(self.cases):
            if should_stop is not None and should_stop():
                raise Cancelled("training cancelled while reading the cases")
            if progress is not None:
                progress(0.0, f"reading case {i + 1}/{len(self.cases)}: {cs.name}")
            self.prepared[cs.name] = _prepare_case(cs, self.task, self.patch)
        self.train_set = [self.prepared[n] for n in self.train_names]
        self.val_set = [self.prepared[n] for n in self.val_names]

    def build(self, device: str) -> tuple[Any, Any]:
        import torch
        from monai.losses import DiceCELoss
        from monai.transforms import (
            RandCropByPosNegLabel,
            RandFlip,
            RandScaleIntensity,
            RandShiftIntensity,
        )

        from ..models.loading import build_network

        c0 = self.task.contract
        net = build_network(c0.network).to(device)
        opt = torch.optim.AdamW(net.parameters(), lr=self.lr0, weight_decay=self.weight_decay)
        if c0.output_kind == "sigmoid-regions":
            self._loss = DiceCELoss(sigmoid=True, smooth_nr=1e-5, smooth_dr=1e-5)
        else:
            self._loss = DiceCELoss(softmax=True, to_onehot_y=True, smooth_nr=1e-5, smooth_dr=1e-5)
        self._flips = [RandFlip(prob=0.5, spatial_axis=a) for a in range(c0.spatial_dims)]
        self._scale = RandScaleIntensity(factors=0.1, prob=1.0)
        self._shift = RandShiftIntensity(offsets=0.1, prob=1.0)
        self._cropper = RandCropByPosNegLabel(spatial_size=self.patch, pos=self.pos_fraction,
                                              neg=1.0 - self.pos_fraction, num_samples=1)
        self._strong = self._strong_transforms(c0.spatial_dims) if self.augmentation == "strong" else []
        self._contrast = self._contrast_transforms() if self.augmentation == "contrast" else []
        return net, opt

    @staticmethod
    def _strong_transforms(nd: int) -> list[Any]:
        """nnU-Net-style spatial and intensity augmentation (the first is the joint spatial one)."""
        from monai.transforms import (
            RandAdjustContrast,
            RandAffine,
            RandBiasField,
            RandGaussianNoise,
            RandGaussianSmooth,
            RandScaleIntensity,
            RandScaleIntensityFixedMean,
            RandSimulateLowResolution,
        )

        rot = (math.radians(15.0),) * (3 if nd == 3 else 1)
        return [
            RandAffine(prob=0.2, rotate_range=rot, scale_range=(0.15,) * nd, padding_mode="zeros"),
            RandGaussianNoise(prob=0.15, std=0.1),
            RandGaussianSmooth(prob=0.2, sigma_x=(0.5, 1.0), sigma_y=(0.5, 1.0), sigma_z=(0.5, 1.0)),
            RandScaleIntensity(factors=0.25, prob=0.15),
            RandScaleIntensityFixedMean(prob=0.15, factors=0.25),
            RandAdjustContrast(prob=0.3, gamma=(0.7, 1.5)),
            RandBiasField(prob=0.3, coeff_range=(0.0, 0.2)),
            RandSimulateLowResolution(prob=0.25, zoom_range=(0.5, 1.0)),
        ]

    @staticmethod
    def _contrast_transforms() -> list[Any]:
        """Per-channel tissue-contrast changes (applied to one channel at a time, see :meth:`batch`)."""
        from monai.transforms import RandAdjustContrast, RandBiasField, RandHistogramShift

        return [
            RandHistogramShift(num_control_points=(5, 10), prob=0.5),
            RandAdjustContrast(prob=0.3, gamma=(0.7, 1.5)),
            RandBiasField(prob=0.3, coeff_range=(0.0, 0.2)),
        ]

    def start_epoch(self, epoch: int, epoch_seed: int) -> None:
        for k, tr in enumerate([*self._flips, self._scale, self._shift, self._cropper, *self._strong,
                                *self._contrast]):
            tr.set_random_state(seed=(epoch_seed * 31 + k) % (2**32))

    def learning_rate(self, epoch: int, max_epochs: int) -> float:
        return self.lr0 * (1.0 - epoch / int(max_epochs)) ** 0.9

    def batch(self, rng: np.random.Generator, device: str) -> tuple[Any, Any]:
        import torch
        from monai.utils import convert_to_tensor

        n_img = len(self.task.contract.channels)
        xs, ys = [], []
        for _ in range(self.batch_size):
            case = self.train_set[int(rng.integers(len(self.train_set)))]
            crop = self._cropper(case.data, image=case.data[:1], fg_indices=case.fg, bg_indices=case.bg)[0]
            crop = convert_to_tensor(crop, track_meta=False)
            for f in self._flips:
                crop = convert_to_tensor(f(crop), track_meta=False)
            img = convert_to_tensor(self._shift(self._scale(crop[:n_img])), track_meta=False)
            tgt = crop[n_img:]
            if self._strong:
                img, tgt = self._augment_strong(img, tgt)
            if self._contrast:
                img = self._augment_contrast(img)
            xs.append(img)
            ys.append(tgt)
        return torch.stack(xs).float().to(device), torch.stack(ys).float().to(device)

    def _augment_contrast(self, img: Any) -> Any:
        import torch
        from monai.utils import convert_to_tensor

        chans = []
        for c in range(img.shape[0]):
            ch = img[c : c + 1]
            for tr in self._contrast:  # each channel draws its own remapping
                ch = convert_to_tensor(tr(ch), track_meta=False)
            chans.append(ch)
        return torch.cat(chans).float()

    def _augment_strong(self, img: Any, tgt: Any) -> tuple[Any, Any]:
        from monai.utils import convert_to_tensor

        affine, *intensity = self._strong
        affine.randomize(None)  # one draw for the image and its targets (nearest for the labels)
        img = convert_to_tensor(affine(img, mode="bilinear", randomize=False), track_meta=False)
        tgt = convert_to_tensor(affine(tgt, mode="nearest", randomize=False), track_meta=False)
        for tr in intensity:
            img = convert_to_tensor(tr(img), track_meta=False)
        return img.float(), tgt

    def loss(self, output: Any, target: Any) -> Any:
        return self._loss(output, target)

    def validate(self, net: Any, device: str, should_stop: StopFn | None) -> Validation | None:
        from ..inference.sliding_window import infer_array

        if not self.val_set:
            return None
        c0 = self.task.contract
        net.eval()
        per_region: dict[str, list[float]] = {}
        for vcase in self.val_set:
            mean, _, _ = infer_array(
                net, vcase.image, roi_size=c0.roi_size, output_kind=c0.output_kind, overlap=self.val_overlap,
                blend_mode=c0.blend_mode, device=device, amp=self.amp, should_stop=should_stop,
            )
            probs = mean.numpy()
            if c0.output_kind == "sigmoid-regions":
                for i, region in enumerate(c0.output_channels):
                    per_region.setdefault(region, []).append(_dice(probs[i] >= c0.threshold, vcase.target[i] > 0))
            else:
                cls = np.argmax(probs, axis=0)
                for i, cname in enumerate(c0.output_channels[1:], start=1):
                    per_region.setdefault(cname, []).append(_dice(cls == i, vcase.target[0] == i))
        val_dice = {k: float(np.mean(v)) for k, v in per_region.items()}
        return Validation(float(np.mean(list(val_dice.values()))), val_dice)

    def history_entry(self, epoch: int, train_loss: float, val: Validation | None, lr: float,
                      seconds: float) -> dict[str, Any]:
        return {"epoch": epoch, "train_loss": round(train_loss, 5),
                "val_dice": None if val is None else {k: round(v, 4) for k, v in val.detail.items()},
                "val_mean_dice": None if val is None else round(val.metric, 4),
                "lr": lr, "seconds": round(seconds, 1)}

    def describe_epoch(self, train_loss: float, val: Validation | None) -> str:
        vd = (" val Dice " + ", ".join(f"{k} {v:.3f}" for k, v in val.detail.items())) if val and val.detail else ""
        return f"loss {train_loss:.4f}{vd}"

    def trained_contract(self, state: TrainState) -> ModelContract:
        bd = state.best_detail
        return self.task.contract.with_changes(
            name=self.model_name, is_trained=True,
            trained_on=f"{self.data_desc}; {state.epochs_done} epoch(s), best epoch {state.best_epoch}"
            + (", validation Dice " + ", ".join(f"{k} {v:.3f}" for k, v in bd.items()) if bd else ""),
        )

    def training_summary(self, state: TrainState, stop_reason: str | None, wall_s: float) -> dict[str, Any]:
        c0 = self.task.contract
        recipe = {k: self.config()[k] for k in ("patch_size", "batch_size", "iterations_per_epoch", "learning_rate",
                                                 "weight_decay", "pos_fraction", "val_fraction", "val_overlap",
                                                 "max_epochs", "patience", "time_limit_s")}
        recipe.update({"optimizer": "AdamW", "loss": "DiceCELoss", "lr_schedule": LR_SCHEDULES[self.lr_schedule],
                       "augmentation": "RandCropByPosNegLabel, " + AUGMENTATIONS[self.augmentation],
                       "augmentation_level": self.augmentation, "device": self.device, "amp": self.amp})
        return {
            "trained_on": self.data_desc,
            "cases": {"train": self.train_names, "validation": self.val_names, "count": len(self.names),
                      "details": [self.prepared[n].info for n in self.names]},
            "channels": list(c0.channels),
            "seed": self.seed, "recipe": recipe, "monitor": self.monitor,
            "epochs_run": state.epochs_done, "best_epoch": state.best_epoch,
            "best_metric": None if not math.isfinite(state.best_metric) else state.best_metric,
            "best_validation_dice": state.best_detail, "history": state.history,
            "stop_reason": stop_reason, "wall_time_s": round(wall_s, 1),
        }

    def contract_from_dict(self, d: Mapping[str, Any]) -> ModelContract:
        return ModelContract.from_dict(d)

    def final_summary(self, out_dir: Any, device: str) -> dict[str, Any]:
        """The reference statistics of the out-of-distribution check (:func:`napari_medai.core.ood.build_reference`):
        every case's intensity profile and labelled tumour fraction, and what the kept (best) weights
        predict on it (uncertainty, tumour fraction), one sliding-window pass per case."""
        from pathlib import Path

        from ..inference.sliding_window import infer_array
        from ..models.loading import build_network
        from ..models.persistence import load_state_dict_file
        from ..ood import REFERENCE_KEY, brain_voxels, build_reference, prediction_signals

        c0 = self.task.contract
        net = build_network(c0.network)
        net.load_state_dict(load_state_dict_file(Path(out_dir) / "model.pt"))
        net.eval()
        records = []
        for name in self.names:
            case = self.prepared[name]
            mean, _, _ = infer_array(net, case.image, roi_size=c0.roi_size, output_kind=c0.output_kind,
                                     overlap=c0.overlap, blend_mode=c0.blend_mode, device=device, amp=self.amp)
            sig = prediction_signals(mean.numpy(), output_kind=c0.output_kind, threshold=c0.threshold,
                                     brain=brain_voxels(case.image))
            records.append({**case.reference, "uncertainty_bits": sig["uncertainty_bits"],
                            "tumour_fraction": sig["tumour_fraction"], "scatter": sig["scatter"]})
        net.to("cpu")
        return {REFERENCE_KEY: build_reference(records)}
