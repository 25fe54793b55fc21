"""The classification recipe: images with class labels -> a network that gives class probabilities.

* each case is prepared by :func:`napari_medai.core.inference.classification.classification_input` -- the very
  function :func:`~napari_medai.core.inference.classification.predict_classification` uses -- so the network is
  trained on exactly what it sees at inference (whole input resized to the contract's
  ``roi_size``, or the patch of ``roi_size`` around the case's point);
* a case's image is a Volume, channels, an array, or a file path (read with
  :func:`~napari_medai.core.io.read_volume` when the data are prepared, so a folder of thousands of
  radiographs is held once, at the network's input size);
* batches are class-balanced: each item picks a label (a class for softmax models, a combination of
  labels for sigmoid models) uniformly, then a case with that label, then augments it:
  ``augment="flips"`` (the default, for phantoms) flips it at random along every spatial axis;
  ``augment="radiograph"`` (2-D radiographs: :data:`RADIOGRAPH_AUGMENTATION`) rotates it by a few
  degrees, scales and shifts it a little, and changes its brightness and contrast -- never flips
  (a radiograph's up/down and left/right are anatomy: the heart is on the left);
  ``augment="none"`` leaves it;
* transfer learning: ``init_state`` (weights to start from, loaded non-strictly after the network is
  built) and ``trainable="head"`` (only the parameters under ``head_prefix`` learn; the frozen
  backbone's batch-norm layers keep their statistics);
* the loss is cross-entropy for ``softmax`` contracts and binary cross-entropy (with logits) for
  ``sigmoid`` ones; AdamW, learning rate decaying as ``(1 - epoch / max_epochs) ** 0.9``;
* validation: the held-out cases' probabilities scored by ROC AUC (one class against the rest,
  averaged over the classes whose validation cases include both answers; for two softmax classes
  the AUC of the second); when no class has both answers among the validation cases, accuracy.
  The higher value is the better epoch (``tie_break_loss``: minus 0.001 x the validation loss, so that
  among epochs of equal AUC the better calibrated one is kept).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..callbacks import Cancelled, ProgressFn, StopFn
from ..errors import InvalidInputError
from ..models.contract import ModelContract
from .base import Recipe, TrainState, Validation

__all__ = [
    "AUGMENTATIONS", "ClassificationCase", "ClassificationRecipe", "RADIOGRAPH_AUGMENTATION", "class_targets",
    "radiograph_augment",
]

#: Augmentation modes of :class:`ClassificationRecipe`.
AUGMENTATIONS = ("flips", "radiograph", "none")
#: Ranges of the radiograph augmentation (uniform draws per image): rotation (degrees), isotropic
#: scale, shift (fraction of the image edge), brightness (added, in z-score units) and contrast (factor).
RADIOGRAPH_AUGMENTATION = {"rotate_deg": 10.0, "scale": (0.9, 1.1), "shift": 0.06, "brightness": 0.2,
                           "contrast": (0.8, 1.2)}


@dataclass
class ClassificationCase:
    """One labelled image.

    Parameters
    ----------
    name
        Case name (unique within a run).
    image
        A :class:`~napari_medai.core.volume.Volume`, channels (list or ``{name: Volume}``) or an array
        (see :func:`napari_medai.core.inference.classification.classification_input`).
    label
        Softmax models: the class (name or index). Sigmoid models: the classes present (names or
        indices; empty for none).
    point
        Patch models: the patch centre (voxel indices on the image grid).
    """

    name: str
    image: Any
    label: Any
    point: Sequence[float] | None = None


def class_targets(label: Any, contract: ModelContract, *, what: str = "label") -> np.ndarray:
    """The training target of one label: a class index (softmax) or a 0/1 vector (sigmoid)."""
    names = contract.output_channels

    def index(x: Any) -> int:
        if isinstance(x, str):
            if x not in names:
                raise InvalidInputError(f"{what}: class {x!r} is not one of {', '.join(names)}")
            return names.index(x)
        i = int(x)
        if not 0 <= i < len(names):
            raise InvalidInputError(f"{what}: class index {i} outside 0..{len(names) - 1}")
        return i

    if contract.output_kind == "softmax":
        if isinstance(label, (list, tuple, set, np.ndarray)):
            raise InvalidInputError(f"{what}: a softmax model takes one class per case, got {label!r}")
        return np.asarray(index(label), dtype=np.int64)
    items = [] if label is None else ([label] if isinstance(label, (str, int, np.integer)) else list(label))
    out = np.zeros(len(names), dtype=np.float32)
    for x in items:
        out[index(x)] = 1.0
    return out


class ClassificationRecipe(Recipe):
    """Classification training (see the module docstring).

    Parameters
    ----------
    contract
        The (untrained) classification contract.
    cases
        :class:`ClassificationCase` items.
    train_names, val_names
        The split.
    seed, batch_size, steps_per_epoch, learning_rate, weight_decay, max_epochs, patience, val_fraction,
    time_limit_s, device
        Run settings (recorded in the model folder).
    flip
        Random flips along every spatial axis (``augment="flips"``; ``False`` means ``"none"``).
    trained_on, model_name
        Data description and model name for the contract.
    augment
        ``"flips"``, ``"radiograph"`` or ``"none"`` (default: from ``flip``); see the module docstring.
    init_state, init_report
        Weights to start from (``{name: tensor}``, loaded with ``strict=False``) and a JSON-friendly note
        of where they came from (written into the model folder).
    trainable, head_prefix
        ``"all"`` or ``"head"``: only parameters whose names start with ``head_prefix`` learn.
    data_summary
        JSON-friendly description of the training data (class counts, splits, groups) for ``model.json``.
    tie_break_loss
        Rank epochs by ``AUC - 0.001 * validation loss`` instead of the AUC alone, so that among epochs
        of equal AUC (e.g. 1.0 on easy data) the better calibrated one is kept.
    """

    kind = "classification"

    def __init__(self, contract: ModelContract, cases: Sequence[ClassificationCase], *, train_names: list[str],
                 val_names: list[str], seed: int, batch_size: int, steps_per_epoch: int, learning_rate: float,
                 weight_decay: float, max_epochs: int, patience: int, val_fraction: float,
                 time_limit_s: float | None, device: str, flip: bool = True, trained_on: str | None = None,
                 model_name: str | None = None, augment: str | None = None,
                 init_state: Mapping[str, Any] | None = None, init_report: Mapping[str, Any] | None = None,
                 trainable: str = "all", head_prefix: str | None = None,
                 data_summary: Mapping[str, Any] | None = None, tie_break_loss: bool = False) -> None:
        if contract.kind != "classification":
            raise InvalidInputError(f"model {contract.name!r} is a {contract.kind} model; this recipe trains classifiers")
        self.contract, self.cases = contract, list(cases)
        self.names = [c.name for c in self.cases]
        self.train_names, self.val_names = train_names, val_names
        self.seed, self.batch_size, self.steps = int(seed), int(batch_size), int(steps_per_epoch)
        self.lr0, self.weight_decay = float(learning_rate), float(weight_decay)
        self.max_epochs, self.patience, self.val_fraction = int(max_epochs), int(patience), float(val_fraction)
        self.time_limit_s, self.device, self.flip = time_limit_s, device, bool(flip)
        self.augment = augment if augment is not None else ("flips" if flip else "none")
        if self.augment not in AUGMENTATIONS:
            raise InvalidInputError(f"augment must be one of {', '.join(AUGMENTATIONS)}, got {augment!r}")
        if self.augment == "radiograph" and contract.spatial_dims != 2:
            raise InvalidInputError("the radiograph augmentation is for 2-D images; use augment='flips' or 'none'")
        self.flip = self.augment == "flips"
        if trainable not in ("all", "head"):
            raise InvalidInputError(f"trainable must be 'all' or 'head', got {trainable!r}")
        if trainable == "head" and not head_prefix:
            raise InvalidInputError("training only the head needs the head's parameter prefix (head_prefix)")
        self.init_state, self.init_report = init_state, dict(init_report or {})
        self.trainable, self.head_prefix = trainable, head_prefix
        self.data_summary = dict(data_summary or {})
        self.tie_break_loss = bool(tie_break_loss)
        self.model_name = model_name or contract.name
        self.data_desc = trained_on or (
            f"{len(train_names)} training case(s)" + (f", validated on {len(val_names)}" if val_names else "")
        )
        self.monitor = "-train_loss"

    # ---------------------------------------------------------------- data
    def config(self) -> dict[str, Any]:
        c = self.contract
        return {"task": c.task, "kind": c.kind, "channels": list(c.channels), "classes": list(c.output_channels),
                "output_kind": c.output_kind, "network": c.network.to_dict(), "roi_size": list(c.roi_size),
                "seed": self.seed, "batch_size": self.batch_size, "steps_per_epoch": self.steps,
                "learning_rate": self.lr0, "weight_decay": self.weight_decay, "flip": self.flip,
                "val_fraction": self.val_fraction, "train_cases": self.train_names, "val_cases": self.val_names,
                "max_epochs": self.max_epochs, "patience": self.patience, "time_limit_s": self.time_limit_s,
                **({"augment": self.augment} if self.augment == "radiograph" else {}),
                **({"init_from": self.init_report.get("path"), "trainable": self.trainable}
                   if self.init_state is not None or self.trainable != "all" else {})}

    def prepare(self, progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        import os

        from ..inference.classification import classification_input
        from ..io import read_volume

        c = self.contract
        self.x: dict[str, np.ndarray] = {}
        self.y: dict[str, np.ndarray] = {}
        for i, cs in enumerate(self.cases):
            if should_stop is not None and should_stop():
                raise Cancelled("training cancelled while reading the cases")
            if progress is not None and (i % 50 == 0 or i + 1 == len(self.cases)):
                progress(0.0, f"reading case {i + 1}/{len(self.cases)}: {cs.name}")
            if c.input_mode == "patch" and cs.point is None:
                raise InvalidInputError(f"case {cs.name!r}: a patch classifier needs each case's patch centre (point)")
            try:
                image = read_volume(cs.image) if isinstance(cs.image, (str, os.PathLike)) else cs.image
                x, _ = classification_input(c, image, points=None if c.input_mode == "whole" else [cs.point])
            except InvalidInputError as exc:
                raise type(exc)(f"case {cs.name!r}: {exc}") from exc
            self.x[cs.name] = x[0]
            self.y[cs.name] = class_targets(cs.label, c, what=f"case {cs.name!r}")
        groups: dict[tuple, list[str]] = {}
        for n in self.train_names:
            groups.setdefault(tuple(np.atleast_1d(self.y[n]).tolist()), []).append(n)
        self.groups = [groups[k] for k in sorted(groups)]
        self.counts = {str(k): len(v) for k, v in sorted(groups.items())}
        self.val_classes: list[int] = []
        if self.val_names:
            yv = self._val_targets()
            cols = range(1, 2) if c.output_kind == "softmax" and len(c.output_channels) == 2 else range(yv.shape[1])
            self.val_classes = [k for k in cols if 0 < yv[:, k].sum() < len(yv)]
            self.monitor = "val_auc" if self.val_classes else "val_accuracy"

    def _val_targets(self) -> np.ndarray:
        c = self.contract
        if c.output_kind == "softmax":
            idx = np.array([int(self.y[n]) for n in self.val_names])
            return np.eye(len(c.output_channels), dtype=np.float32)[idx]
        return np.stack([self.y[n] for n in self.val_names])

    def build(self, device: str) -> tuple[Any, Any]:
        import torch

        from ..models.loading import build_network

        net = build_network(self.contract.network)
        if self.init_state is not None:
            net.load_state_dict(dict(self.init_state), strict=False)
        params = list(net.parameters())
        if self.trainable == "head":
            prefix = str(self.head_prefix)
            frozen_bn = []
            for name, mod in net.named_modules():
                if not name.startswith(prefix.rstrip(".")) and isinstance(mod, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d, torch.nn.BatchNorm3d)):
                    frozen_bn.append(mod)
            for name, prm in net.named_parameters():
                prm.requires_grad_(name.startswith(prefix))
            params = [prm for prm in net.parameters() if prm.requires_grad]
            if not params:
                raise InvalidInputError(f"no parameter of the network starts with {prefix!r}; cannot train the head only")

            def keep_frozen_statistics(module: Any, args: Any) -> None:
                for bn in frozen_bn:
                    bn.eval()

            net.register_forward_pre_hook(keep_frozen_statistics)
        net = net.to(device)
        return net, torch.optim.AdamW(params, lr=self.lr0, weight_decay=self.weight_decay)

    def learning_rate(self, epoch: int, max_epochs: int) -> float:
        return self.lr0 * (1.0 - epoch / int(max_epochs)) ** 0.9

    def batch(self, rng: np.random.Generator, device: str) -> tuple[Any, Any]:
        import torch

        xs, ys = [], []
        nd = self.contract.spatial_dims
        for _ in range(self.batch_size):
            group = self.groups[int(rng.integers(len(self.groups)))]
            name = group[int(rng.integers(len(group)))]
            x = self.x[name]
            if self.flip:
                for ax in range(nd):
                    if rng.random() < 0.5:
                        x = np.flip(x, axis=ax + 1)
            xs.append(np.ascontiguousarray(x))
            ys.append(self.y[name])
        x = torch.from_numpy(np.stack(xs)).float()
        if self.augment == "radiograph":
            x = radiograph_augment(x, rng)
        y = torch.from_numpy(np.stack(ys)).to(device)
        return x.to(device), y

    def loss(self, output: Any, target: Any) -> Any:
        import torch.nn.functional as F

        if self.contract.output_kind == "softmax":
            return F.cross_entropy(output, target.long())
        return F.binary_cross_entropy_with_logits(output, target.float())

    def validate(self, net: Any, device: str, should_stop: StopFn | None) -> Validation | None:
        from ..inference.classification import classify_batch
        from ..metrics.classification import accuracy, roc_auc

        if not self.val_names:
            return None
        c = self.contract
        x = np.stack([self.x[n] for n in self.val_names])
        probs = classify_batch(net, x, output_kind=c.output_kind, device=device, should_stop=should_stop)
        yv = self._val_targets()
        if c.output_kind == "softmax":
            acc = accuracy(np.argmax(probs, axis=1), np.argmax(yv, axis=1))
        else:
            acc = accuracy(probs >= np.asarray(c.decision_thresholds), yv > 0.5)
        aucs = {c.output_channels[k]: roc_auc(probs[:, k], yv[:, k]) for k in self.val_classes}
        auc = float(np.mean(list(aucs.values()))) if aucs else None
        detail = {"auc": auc, "auc_per_class": aucs, "accuracy": acc}
        metric = auc if auc is not None else acc
        if self.tie_break_loss:
            eps = 1e-7
            pc = np.clip(probs, eps, 1 - eps)
            if c.output_kind == "softmax":
                vloss = float(-np.mean(np.log(np.sum(pc * yv, axis=1))))
            else:
                vloss = float(-np.mean(yv * np.log(pc) + (1 - yv) * np.log(1 - pc)))
            detail["loss"] = vloss
            metric = metric - 1e-3 * min(vloss, 10.0)
        return Validation(metric, detail)

    # ---------------------------------------------------------------- reporting
    def history_entry(self, epoch: int, train_loss: float, val: Validation | None, lr: float,
                      seconds: float) -> dict[str, Any]:
        d = val.detail if val is not None else {}
        return {"epoch": epoch, "train_loss": round(train_loss, 5),
                "val_auc": None if d.get("auc") is None else round(d["auc"], 4),
                **({"val_loss": round(d["loss"], 5)} if d.get("loss") is not None else {}),
                "val_accuracy": None if val is None else round(d["accuracy"], 4),
                "lr": lr, "seconds": round(seconds, 1)}

    def describe_epoch(self, train_loss: float, val: Validation | None) -> str:
        if val is None:
            return f"loss {train_loss:.4f}"
        auc = val.detail.get("auc")
        return (f"loss {train_loss:.4f}" + (f", val AUC {auc:.3f}" if auc is not None else "")
                + f", val accuracy {val.detail['accuracy']:.3f}")

    def trained_contract(self, state: TrainState) -> ModelContract:
        bd = state.best_detail or {}
        score = (f", validation AUC {bd['auc']:.3f}" if bd.get("auc") is not None
                 else f", validation accuracy {bd['accuracy']:.3f}" if bd else "")
        return self.contract.with_changes(
            name=self.model_name, is_trained=True,
            trained_on=f"{self.data_desc}; {state.epochs_done} epoch(s), best epoch {state.best_epoch}{score}")

    def training_summary(self, state: TrainState, stop_reason: str | None, wall_s: float) -> dict[str, Any]:
        c = self.contract
        recipe = {k: self.config()[k] for k in ("batch_size", "steps_per_epoch", "learning_rate", "weight_decay",
                                                 "val_fraction", "max_epochs", "patience", "time_limit_s")}
        aug = {"flips": "random flips", "none": "none",
               "radiograph": {"kind": "radiograph (no flips)", **RADIOGRAPH_AUGMENTATION}}[self.augment]
        recipe.update({"optimizer": "AdamW", "loss": "cross-entropy" if c.output_kind == "softmax" else "BCE",
                       "lr_schedule": "poly 0.9 per epoch", "sampling": "class-balanced",
                       "augmentation": aug, "device": self.device, "trainable": self.trainable})
        extra: dict[str, Any] = {}
        if self.init_state is not None or self.init_report:
            extra["init_from"] = self.init_report
        if self.data_summary:
            extra["data"] = self.data_summary
        extra["input"] = {"size": list(c.roi_size), "normalization": c.normalization, "channels": list(c.channels)}
        return {
            "trained_on": self.data_desc,
            "cases": {"train": self.train_names, "validation": self.val_names, "count": len(self.names),
                      "train_per_label": self.counts},
            "channels": list(c.channels), "classes": list(c.output_channels),
            "seed": self.seed, "recipe": recipe, "monitor": self.monitor,
            "epochs_run": state.epochs_done, "best_epoch": state.best_epoch,
            "best_metric": None if not math.isfinite(state.best_metric) else state.best_metric,
            "best_validation": state.best_detail, "history": state.history,
            "stop_reason": stop_reason, "wall_time_s": round(wall_s, 1), **extra,
        }

    def contract_from_dict(self, d: Mapping[str, Any]) -> ModelContract:
        return ModelContract.from_dict(d)


def radiograph_augment(x: Any, rng: np.random.Generator) -> Any:
    """Radiograph augmentation of a ``(B, C, H, W)`` float tensor (see :data:`RADIOGRAPH_AUGMENTATION`).

    Per image, drawn from ``rng`` in a fixed order: a rotation, an isotropic scale and a shift applied
    with bilinear resampling (edges repeated), then ``x * contrast + brightness``. No flips.
    """
    import torch
    import torch.nn.functional as F

    a = RADIOGRAPH_AUGMENTATION
    b = int(x.shape[0])
    angle = np.deg2rad(rng.uniform(-a["rotate_deg"], a["rotate_deg"], b))
    scale = rng.uniform(*a["scale"], b)
    shift = rng.uniform(-a["shift"], a["shift"], (b, 2)) * 2.0  # affine_grid works in [-1, 1]
    bright = rng.uniform(-a["brightness"], a["brightness"], b)
    contrast = rng.uniform(*a["contrast"], b)
    cos, sin = np.cos(angle) / scale, np.sin(angle) / scale
    theta = np.stack([np.stack([cos, -sin, shift[:, 0]], 1), np.stack([sin, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(torch.from_numpy(theta).to(x.dtype), list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)
    c = torch.from_numpy(contrast).to(x.dtype).view(b, 1, 1, 1)
    br = torch.from_numpy(bright).to(x.dtype).view(b, 1, 1, 1)
    return out * c + br
