"""The image-to-image training recipe of :func:`~.supervised.train_ldct` (RED-CNN on pairs)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...callbacks import Cancelled
from ...errors import InvalidInputError
from ...models.contract import NetworkSpec
from ...recipes.base import Recipe, TrainState, Validation
from ._common import ProgressFn, StopFn
from .denoiser import TASK, DenoiserContract
from .pairs import prepare_pairs

__all__ = ["LdctRecipe"]


class LdctRecipe(Recipe):
    """The image-to-image recipe of :func:`~.supervised.train_ldct` (RED-CNN on low-dose / target pairs).

    Random ``patch`` x ``patch`` crops of the training slices with a random horizontal flip and a
    random 90 degree rotation, mean-squared error in units of ``HU / input_scale_hu``, AdamW
    (weight decay 1e-5) with cosine decay to 5 %; validation: mean PSNR in the scoring window of
    the held-out slices, denoised whole.
    """

    kind = "image-to-image"
    checkpoint_task = TASK
    resumable = frozenset({"max_epochs"})

    def __init__(self, pairs: Sequence[Any], *, names: list[str], train_names: list[str], val_names: list[str],
                 seed: int, filters: int, patch: int, batch_size: int, steps_per_epoch: int, max_epochs: int,
                 patience: int, val_fraction: float, learning_rate: float, input_scale_hu: float,
                 simulate_dose: float | None, i0: float, time_limit_s: float | None, device: str, model_name: str,
                 trained_on: str | None) -> None:
        self.pairs, self.names = pairs, names
        self.train_names, self.val_names = train_names, val_names
        self.seed, self.filters, self.patch, self.batch_size = seed, filters, patch, batch_size
        self.steps, self.max_epochs, self.patience, self.val_fraction = steps_per_epoch, max_epochs, patience, val_fraction
        self.lr0, self.scale, self.simulate_dose, self.i0 = learning_rate, input_scale_hu, simulate_dose, i0
        self.time_limit_s, self.device, self.model_name, self.trained_on = time_limit_s, device, model_name, trained_on
        self.monitor = "val_psnr" if val_names else "-train_loss"
        self.baseline: float | None = None
        self.details: list[dict[str, Any]] = []

    def config(self) -> dict[str, Any]:
        return {
            "task": TASK, "network": {"name": "REDCNN", "kwargs": {"filters": self.filters}}, "seed": self.seed,
            "patch": self.patch, "batch_size": self.batch_size, "steps_per_epoch": self.steps,
            "learning_rate": self.lr0, "input_scale_hu": self.scale, "simulate_dose": self.simulate_dose,
            "i0": self.i0, "train_pairs": self.train_names, "val_pairs": self.val_names, "max_epochs": self.max_epochs,
        }

    def prepare(self, progress: ProgressFn | None, should_stop: StopFn | None) -> None:
        from ...metrics.image_quality import psnr

        self.data, self.details = prepare_pairs(self.pairs, simulate_dose=self.simulate_dose, i0=self.i0,
                                                seed=self.seed, progress=progress, should_stop=should_stop)
        for name in self.names:
            low, _ = self.data[name]
            if min(low.shape[1:]) < self.patch:
                raise InvalidInputError(f"{name}: slices of {low.shape[1:]} pixels are smaller than the {self.patch}-pixel "
                                        "training patch; lower patch")
        self.train_slices = [(n, k) for n in self.train_names for k in range(self.data[n][0].shape[0])]
        self.val_slices = [(n, k) for n in self.val_names for k in range(self.data[n][0].shape[0])]
        pixel_sizes = {d.get("pixel_size_mm") for d in self.details if d.get("pixel_size_mm")}
        px = float(next(iter(pixel_sizes))) if len(pixel_sizes) == 1 else None
        if self.val_slices:
            self.baseline = float(np.mean([psnr(self.data[n][0][k], self.data[n][1][k]) for n, k in self.val_slices]))
        kinds = sorted({d["kind"] for d in self.details})
        self.data_desc = self.trained_on or (
            f"{len(self.train_names)} pair(s) ({', '.join(kinds)}; {len(self.train_slices)} slice(s))"
            + (f" of dose fraction {self.simulate_dose:g} at I0 {self.i0:g}" if self.simulate_dose is not None else "")
            + (f", validated on {', '.join(self.val_names)}" if self.val_names else "")
        )
        self.base_contract = DenoiserContract(
            name=self.model_name, network=NetworkSpec("REDCNN", {"filters": self.filters}),
            input_offset_hu=0.0, input_scale_hu=self.scale, pixel_size_mm=px,
            description=f"RED-CNN (Chen 2017, {self.filters} filters) trained by napari-medai train ldct",
        )

    def build(self, device: str) -> tuple[Any, Any]:
        import torch

        from ...models.redcnn import build_redcnn

        net = build_redcnn("standard", filters=self.filters).to(device)
        return net, torch.optim.AdamW(net.parameters(), lr=self.lr0, weight_decay=1e-5)

    def learning_rate(self, epoch: int, max_epochs: int) -> float:
        return self.lr0 * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * epoch / max_epochs)))

    def batch(self, rng: np.random.Generator, device: str) -> tuple[Any, Any]:
        import torch

        patch = self.patch
        xs, ys = [], []
        for _ in range(self.batch_size):
            n, k = self.train_slices[int(rng.integers(len(self.train_slices)))]
            low, tgt = self.data[n][0][k], self.data[n][1][k]
            r = int(rng.integers(0, low.shape[0] - patch + 1))
            c = int(rng.integers(0, low.shape[1] - patch + 1))
            pair = np.stack([low[r : r + patch, c : c + patch], tgt[r : r + patch, c : c + patch]])
            if rng.random() < 0.5:
                pair = pair[:, :, ::-1]
            pair = np.rot90(pair, int(rng.integers(4)), axes=(1, 2))
            xs.append(pair[0])
            ys.append(pair[1])
        x = torch.from_numpy(np.ascontiguousarray(np.stack(xs)[:, None]) / self.scale).float().to(device)
        y = torch.from_numpy(np.ascontiguousarray(np.stack(ys)[:, None]) / self.scale).float().to(device)
        return x, y

    def loss(self, output: Any, target: Any) -> Any:
        import torch

        return torch.mean((output - target) ** 2)

    def validate(self, net: Any, device: str, should_stop: StopFn | None) -> Validation | None:
        import torch

        from ...metrics.image_quality import psnr

        if not self.val_slices:
            return None
        net.eval()
        vals = []
        with torch.no_grad():
            for n, k in self.val_slices:
                if should_stop is not None and should_stop():
                    raise Cancelled("training cancelled during validation")
                low, tgt = self.data[n][0][k], self.data[n][1][k]
                pred = net(torch.from_numpy(low / self.scale).float()[None, None].to(device))
                vals.append(float(psnr(pred[0, 0].cpu().numpy() * self.scale, tgt)))
        return Validation(float(np.mean(vals)))

    def history_entry(self, epoch: int, train_loss: float, val: Validation | None, lr: float,
                      seconds: float) -> dict[str, Any]:
        return {"epoch": epoch, "train_rmse_hu": round(math.sqrt(train_loss) * self.scale, 3),
                "val_psnr": None if val is None else round(val.metric, 4), "lr": lr, "seconds": round(seconds, 1)}

    def describe_loss(self, losses: Sequence[float]) -> str:
        return f"RMSE {math.sqrt(np.mean(losses)) * self.scale:.1f} HU"

    def describe_epoch(self, train_loss: float, val: Validation | None) -> str:
        vtxt = f", validation PSNR {val.metric:.2f} dB" if val is not None else ""
        return f"RMSE {math.sqrt(train_loss) * self.scale:.1f} HU{vtxt}"

    def trained_contract(self, state: TrainState) -> DenoiserContract:
        extra = f", validation PSNR {state.best_metric:.2f} dB" if self.monitor == "val_psnr" else ""
        return self.base_contract.with_changes(
            is_trained=True, trained_on=f"{self.data_desc}; {state.epochs_done} epoch(s), best epoch "
                                        f"{state.best_epoch}{extra}")

    def training_summary(self, state: TrainState, stop_reason: str | None, wall_s: float) -> dict[str, Any]:
        recipe = {k: self.config()[k] for k in ("patch", "batch_size", "steps_per_epoch", "learning_rate", "max_epochs")}
        recipe.update({"patience": self.patience, "val_fraction": self.val_fraction, "time_limit_s": self.time_limit_s,
                       "optimizer": "AdamW (weight decay 1e-5)", "loss": "MSE", "lr_schedule": "cosine to 5 %",
                       "augmentation": "random crops, flips, 90 degree rotations", "device": self.device})
        return {"trained_on": self.data_desc, "pairs": {"train": self.train_names, "validation": self.val_names,
                                                        "details": self.details},
                "seed": self.seed, "recipe": recipe, "monitor": self.monitor, "epochs_run": state.epochs_done,
                "best_epoch": state.best_epoch,
                "best_metric": None if not math.isfinite(state.best_metric) else state.best_metric,
                "baseline_val_psnr": self.baseline, "history": state.history, "stop_reason": stop_reason,
                "wall_time_s": round(wall_s, 1)}

    def contract_from_dict(self, d: Mapping[str, Any]) -> DenoiserContract:
        return DenoiserContract.from_dict(d)

