"""Self-supervised denoising trained on the user's own low-dose image alone (no clean image).

Noise2Self (Batson & Royer 2019), blind-spot variant
----------------------------------------------------
A function is *J-invariant* when its output at a pixel does not depend on the input at that pixel.
If the noise is independent between pixels and has mean zero, the self-supervised loss
``|f(x) - x|^2`` of a J-invariant ``f`` equals the supervised loss against the clean image plus a
constant, so minimising it on the noisy image alone trains a denoiser. Training makes the network
J-invariant on the pixels it is scored on: every step masks one pixel in each ``grid`` x ``grid``
cell (a random phase per patch), replaces each masked pixel by the mean of its 8 neighbours, and
scores the output only at the masked pixels (the network never sees their true values).
After training, the whole unmasked slice goes through the network once (the usual practice; the
strictly J-invariant prediction, averaged over all masks, is noisier).

Caveat for CT: reconstruction kernels correlate the noise of neighbouring pixels (about +-0.2 at
1 pixel on the ``ldct_L506`` quarter-dose slice), so the neighbours carry a little information about
the masked pixel's noise and a little noise survives. The network is a small U-Net
(:mod:`.nets`); it is trained on random patches (with flips and 90 degree rotations) drawn from all
slices of the image, then applied slice by slice.

Values are fed as ``(HU - 40) / 400`` (the centre and width of the soft-tissue window), after
clipping to [-1024, 3071] HU.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._common import ProgressFn, StopFn, check_int, check_real, check_stop, report

__all__ = ["Noise2SelfOptions", "noise2self"]

_CENTRE_HU = 40.0
_SCALE_HU = 400.0


@dataclass(frozen=True)
class Noise2SelfOptions:
    """Options of :func:`noise2self` (all keyword arguments of ``denoise(method="noise2self")``).

    Attributes
    ----------
    iterations
        Optimiser steps (default 1500: about 2-4 minutes on two CPU cores for a 512 x 512 slice).
    batch_size, patch
        Patches per step and patch side in pixels (a multiple of 4).
    width
        Channels of the U-Net's first level.
    learning_rate
        Adam's learning rate; it decays by cosine to 5 % of this value.
    grid
        One pixel in each ``grid`` x ``grid`` cell is masked per step.
    seed
        Seeds the weights, the patches and the masks: the same seed gives the same output on the CPU.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    time_limit_s
        Stop training early after this many seconds (``None``: run all iterations).
    """

    iterations: int = 1500
    batch_size: int = 8
    patch: int = 64
    width: int = 16
    learning_rate: float = 1e-3
    grid: int = 4
    seed: int = 0
    device: str = "auto"
    time_limit_s: float | None = None

    def __post_init__(self) -> None:
        check_int(self.iterations, "iterations", low=1, high=10_000_000)
        check_int(self.batch_size, "batch_size", low=1, high=4096)
        p = check_int(self.patch, "patch", low=8, high=1024)
        if p % 4:
            from ...errors import InvalidInputError

            raise InvalidInputError(f"patch must be a multiple of 4 (the U-Net halves it twice), got {p}")
        check_int(self.width, "width", low=1, high=256)
        check_real(self.learning_rate, "learning_rate", low=0.0, low_open=True, high=1.0)
        check_int(self.grid, "grid", low=2, high=16)
        check_int(self.seed, "seed", low=0)
        if self.time_limit_s is not None:
            check_real(self.time_limit_s, "time_limit_s", low=0.0, low_open=True)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _to_net(hu: np.ndarray) -> np.ndarray:
    return ((np.clip(hu, -1024.0, 3071.0) - _CENTRE_HU) / _SCALE_HU).astype(np.float32)


def noise2self(
    image: np.ndarray,
    *,
    options: Noise2SelfOptions | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Train a blind-spot U-Net on ``image`` itself and return the denoised image.

    Parameters
    ----------
    image
        float32 2-D slice or 3-D stack ``(slices, rows, columns)`` in HU; each slice at least
        ``patch`` x ``patch`` pixels (smaller slices train on whole-slice patches).
    options
        :class:`Noise2SelfOptions`.
    progress, should_stop
        ``progress(fraction, message)`` every few steps and per slice of the final pass;
        ``should_stop()`` polled every step (raises :class:`~napari_medai.core.models.Cancelled`).

    Returns
    -------
    denoised, info
        float32 array of the input's shape, and ``{"options", "iterations_run", "final_loss",
        "train_seconds", "device"}``.
    """
    import torch

    from ...device import resolve_device
    from .nets import build_small_unet, run_padded

    o = options or Noise2SelfOptions()
    dev = resolve_device(o.device)
    stack = image[None] if image.ndim == 2 else image
    n_sl, rows, cols = stack.shape
    p = min(o.patch, (min(rows, cols) // 4) * 4)
    data = torch.from_numpy(_to_net(stack))
    rng = np.random.default_rng([o.seed, 1])
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(o.seed)
    net = build_small_unet(o.width).to(dev)
    torch.random.set_rng_state(gen_state)
    opt = torch.optim.Adam(net.parameters(), lr=o.learning_rate)
    donut = torch.tensor([[1.0, 1.0, 1.0], [1.0, 0.0, 1.0], [1.0, 1.0, 1.0]], device=dev).div(8.0)[None, None]
    t0 = time.perf_counter()
    losses: list[float] = []
    every = max(1, o.iterations // 20)
    it = 0
    net.train()
    for it in range(1, o.iterations + 1):
        check_stop(should_stop, "noise2self training")
        ks = rng.integers(0, n_sl, o.batch_size)
        rs = rng.integers(0, rows - p + 1, o.batch_size)
        cs = rng.integers(0, cols - p + 1, o.batch_size)
        patches = []
        for k, r, c in zip(ks, rs, cs):
            t = data[k, r : r + p, c : c + p]
            if rng.random() < 0.5:
                t = torch.flip(t, (1,))
            patches.append(torch.rot90(t, int(rng.integers(4)), (0, 1)))
        x = torch.stack(patches)[:, None].to(dev)
        mask = torch.zeros_like(x)
        for b in range(o.batch_size):
            oy, ox = rng.integers(0, o.grid, 2)
            mask[b, 0, int(oy) :: o.grid, int(ox) :: o.grid] = 1.0
        neighbours = torch.nn.functional.conv2d(torch.nn.functional.pad(x, (1, 1, 1, 1), mode="reflect"), donut)
        inp = x * (1.0 - mask) + neighbours * mask
        lr = o.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * (it - 1) / o.iterations)))
        for g in opt.param_groups:
            g["lr"] = lr
        out = net(inp)
        loss = ((out - x) ** 2 * mask).sum() / mask.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if it % every == 0:
            recent = float(np.mean(losses[-every:])) * _SCALE_HU**2
            report(progress, 0.9 * it / o.iterations,
                   f"noise2self: step {it}/{o.iterations}, masked-pixel RMSE {math.sqrt(recent):.1f} HU")
        if o.time_limit_s is not None and time.perf_counter() - t0 > o.time_limit_s:
            report(progress, 0.9, f"noise2self: time limit reached after {it} steps")
            break
    train_s = time.perf_counter() - t0
    net.eval()
    out_stack = np.empty(stack.shape, dtype=np.float32)
    with torch.no_grad():
        for k in range(n_sl):
            check_stop(should_stop, "noise2self")
            report(progress, 0.9 + 0.1 * k / n_sl, f"noise2self: denoising slice {k + 1}/{n_sl}")
            y = run_padded(net, data[k][None, None].to(dev))[0, 0].cpu().numpy()
            out_stack[k] = y * _SCALE_HU + _CENTRE_HU
    report(progress, 1.0, f"noise2self: done ({it} steps, {train_s:.0f} s of training)")
    last = losses[-min(len(losses), every):]
    info = {
        "options": o.to_dict(),
        "iterations_run": it,
        "final_masked_rmse_hu": round(math.sqrt(float(np.mean(last))) * _SCALE_HU, 2),
        "train_seconds": round(train_s, 2),
        "device": dev,
    }
    return (out_stack[0] if image.ndim == 2 else out_stack), info
