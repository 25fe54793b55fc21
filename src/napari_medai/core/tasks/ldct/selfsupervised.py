"""Self-supervised denoising trained on the user's own low-dose image alone (no clean image).

Noise2Self (Batson & Royer 2019), structured blind spot
-------------------------------------------------------
A function is *J-invariant* when its output at a pixel does not depend on the input at that pixel.
If the noise is independent between the pixels it hides and the pixel it predicts and has mean
zero, the self-supervised loss ``|f(x) - x|^2`` of a J-invariant ``f`` equals the supervised loss
against the clean image plus a constant, so minimising it on the noisy image alone trains a
denoiser.

CT noise is *not* independent between neighbouring pixels: the reconstruction kernel correlates it
(about +-0.2 at 1 pixel, below 0.03 at 2 pixels on the ``ldct_L506`` quarter-dose slice). A
one-pixel blind spot then lets the network read part of the hidden pixel's noise from its
neighbours, and it learns to reproduce noise (measured: the liver noise SD of its output rises again
as training goes on). So the blind spot is a block: every step picks one pixel in each ``grid`` x
``grid`` cell (a random phase per patch), hides the ``(2 blind_radius + 1)``-pixel square around it
(replaced by the mean of the ring of pixels just outside the square), and scores the output only at
the picked pixels.

Prediction is J-invariant too: for each of the ``grid^2`` phases the slice is masked the same way
and only the picked pixels of that pass are kept. (Running the network once on the unmasked slice
is the usual shortcut, but the network never learned what to do with the hidden pixels' own
values, and on CT it passes noise through: 17.8 dB instead of 20.7 dB on ``ldct_L506`` in a
prototype.) The network is a small U-Net (:mod:`.nets`) trained on random patches (with flips and
90 degree rotations) from all slices of the image, then applied slice by slice.

Values are fed as ``(HU - 40) / 400`` (the centre and width of the soft-tissue window), after
clipping to [-1024, 3071] HU.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...callbacks import MetricsFn, ProgressFn, StopFn
from ._common import check_int, check_real, check_stop, report

__all__ = ["Noise2SelfOptions", "noise2self"]

_CENTRE_HU = 40.0
_SCALE_HU = 400.0


@dataclass(frozen=True)
class Noise2SelfOptions:
    """Options of :func:`noise2self` (all keyword arguments of ``denoise(method="noise2self")``).

    Attributes
    ----------
    iterations
        Optimiser steps (default 1500: a few minutes on two CPU cores; the time does not grow with
        the image size, only the final pass does).
    batch_size, patch
        Patches per step and patch side in pixels (a multiple of 4).
    width
        Channels of the U-Net's first level.
    learning_rate
        Adam's learning rate; it decays by cosine to 5 % of this value.
    grid
        One pixel in each ``grid`` x ``grid`` cell is scored per step (and ``grid^2`` masked passes
        make the prediction).
    blind_radius
        Half-side of the hidden square around each scored pixel (0: the pixel alone, 1: 3 x 3).
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
    blind_radius: int = 1
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
        check_int(self.blind_radius, "blind_radius", low=0, high=3)
        if 2 * self.blind_radius + 1 > self.grid:
            from ...errors import InvalidInputError

            raise InvalidInputError(
                f"the hidden square ({2 * self.blind_radius + 1} px) must fit in a grid cell ({self.grid} px); "
                "raise grid or lower blind_radius"
            )
        check_int(self.seed, "seed", low=0)
        if self.time_limit_s is not None:
            check_real(self.time_limit_s, "time_limit_s", low=0.0, low_open=True)

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _blind(x: Any, picked: Any, radius: int) -> Any:
    """``x`` with the square of ``radius`` around every picked pixel replaced by the ring mean."""
    import torch
    import torch.nn.functional as F  # noqa: N812

    side = 2 * radius + 3
    ring = torch.ones(side, side, dtype=x.dtype, device=x.device)
    ring[1:-1, 1:-1] = 0.0
    ring /= ring.sum()
    hidden = F.max_pool2d(picked, 2 * radius + 1, 1, radius) if radius else picked
    fill = F.conv2d(F.pad(x, (radius + 1,) * 4, mode="reflect"), ring[None, None])
    return x * (1.0 - hidden) + fill * hidden


def _predict_j_invariant(net: Any, x: Any, grid: int, radius: int) -> Any:
    """Prediction of a ``(1, 1, rows, columns)`` tensor in which no pixel sees its own hidden square."""
    import torch

    from .nets import run_padded

    out = torch.zeros_like(x)
    for oy in range(grid):
        for ox in range(grid):
            picked = torch.zeros_like(x)
            picked[..., oy::grid, ox::grid] = 1.0
            out += run_padded(net, _blind(x, picked, radius)) * picked
    return out


def _to_net(hu: np.ndarray) -> np.ndarray:
    return ((np.clip(hu, -1024.0, 3071.0) - _CENTRE_HU) / _SCALE_HU).astype(np.float32)


def noise2self(
    image: np.ndarray,
    *,
    options: Noise2SelfOptions | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_metrics: MetricsFn | None = None,
    stop_training: StopFn | None = None,
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
    on_metrics
        Called after every optimiser step with ``{"step": int, "loss": float, "masked_rmse_hu":
        float}``: the step's masked-pixel mean squared error in network units (``(HU - 40) / 400``)
        and its square root in HU. For live loss curves; it must return quickly.
    stop_training
        Polled every step: when it returns True, training ends there and the network trained so
        far denoises the image (unlike ``should_stop``, which discards everything).

    Returns
    -------
    denoised, info
        float32 array of the input's shape, and ``{"options", "iterations_run",
        "final_masked_rmse_hu", "train_seconds", "device", "stop_reason"}``; ``stop_reason`` is ``"iterations"``,
        ``"time_limit"`` or ``"stopped"`` (``stop_training``).
    """
    import torch

    from ...device import resolve_device
    from .nets import build_small_unet

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
    t0 = time.perf_counter()
    losses: list[float] = []
    every = max(1, o.iterations // 20)
    it = 0
    stop_reason = "iterations"
    net.train()
    for it in range(1, o.iterations + 1):
        check_stop(should_stop, "noise2self training")
        if it > 1 and stop_training is not None and stop_training():
            it -= 1
            stop_reason = "stopped"
            report(progress, 0.9, f"noise2self: training stopped after {it} steps; denoising with it")
            break
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
        inp = _blind(x, mask, o.blind_radius)
        lr = o.learning_rate * (0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * (it - 1) / o.iterations)))
        for g in opt.param_groups:
            g["lr"] = lr
        out = net(inp)
        loss = ((out - x) ** 2 * mask).sum() / mask.sum()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
        if on_metrics is not None:
            on_metrics({"step": it, "loss": losses[-1], "masked_rmse_hu": math.sqrt(losses[-1]) * _SCALE_HU})
        if it % every == 0:
            recent = float(np.mean(losses[-every:])) * _SCALE_HU**2
            report(progress, 0.9 * it / o.iterations,
                   f"noise2self: step {it}/{o.iterations}, masked-pixel RMSE {math.sqrt(recent):.1f} HU")
        if o.time_limit_s is not None and time.perf_counter() - t0 > o.time_limit_s:
            report(progress, 0.9, f"noise2self: time limit reached after {it} steps")
            stop_reason = "time_limit"
            break
    train_s = time.perf_counter() - t0
    net.eval()
    out_stack = np.empty(stack.shape, dtype=np.float32)
    with torch.no_grad():
        for k in range(n_sl):
            check_stop(should_stop, "noise2self")
            report(progress, 0.9 + 0.1 * k / n_sl, f"noise2self: denoising slice {k + 1}/{n_sl}")
            y = _predict_j_invariant(net, data[k][None, None].to(dev), o.grid, o.blind_radius)[0, 0].cpu().numpy()
            out_stack[k] = y * _SCALE_HU + _CENTRE_HU
    report(progress, 1.0, f"noise2self: done ({it} steps, {train_s:.0f} s of training)")
    last = losses[-min(len(losses), every):]
    info = {
        "options": o.to_dict(),
        "iterations_run": it,
        "final_masked_rmse_hu": round(math.sqrt(float(np.mean(last))) * _SCALE_HU, 2),
        "train_seconds": round(train_s, 2),
        "device": dev,
        "stop_reason": stop_reason,
    }
    return (out_stack[0] if image.ndim == 2 else out_stack), info
