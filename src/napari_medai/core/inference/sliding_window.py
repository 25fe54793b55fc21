"""The network pass: MONAI sliding-window probabilities, test-time augmentation by flips, uncertainty.

:func:`infer_array` runs a network over a prepared ``(C, *spatial)`` array (progress per window,
cancellation between windows); with TTA, the mean of the flipped passes' probabilities and their
variance. :func:`entropy_map` is the other uncertainty: the entropy of the mean probabilities.
Imports torch and MONAI when called, not on import.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..callbacks import Cancelled, ProgressFn, StopFn
from ..errors import InvalidInputError

__all__ = ["count_windows", "entropy_map", "flip_sets", "infer_array"]


def _scan_interval(image_size: Sequence[int], roi: Sequence[int], overlap: float) -> tuple[int, ...]:
    out = []
    for s, r in zip(image_size, roi):
        if r == s:
            out.append(int(r))
        else:
            out.append(max(int(r * (1 - overlap)), 1))
    return tuple(out)


def count_windows(image_size: Sequence[int], roi_size: Sequence[int], overlap: float) -> int:
    """How many windows MONAI ``sliding_window_inference`` evaluates on an image of this size."""
    from monai.data.utils import dense_patch_slices

    size = tuple(max(int(s), int(r)) for s, r in zip(image_size, roi_size))
    return len(dense_patch_slices(size, tuple(int(r) for r in roi_size), _scan_interval(size, roi_size, overlap)))


def flip_sets(spatial_dims: int, tta: bool | int) -> list[tuple[int, ...]]:
    """Spatial axes (of a ``(N, C, *spatial)`` tensor) to flip for each TTA pass."""
    axes = tuple(range(2, 2 + spatial_dims))
    sets = [c for k in range(len(axes) + 1) for c in itertools.combinations(axes, k)]
    if tta is True:
        return sets
    if tta is False or tta is None:
        return [()]
    n = int(tta)
    if n < 1:
        raise InvalidInputError(f"tta must be True/False or a number of flips >= 1, got {tta!r}")
    return sets[:n]


def infer_array(
    network: Any,
    image: np.ndarray,
    *,
    roi_size: Sequence[int],
    output_kind: str,
    overlap: float = 0.5,
    blend_mode: str = "constant",
    sw_batch_size: int = 1,
    device: str = "cpu",
    amp: bool = False,
    tta: bool | int = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    progress_span: tuple[float, float] = (0.0, 1.0),
) -> tuple[Any, Any, int]:
    """Sliding-window probabilities of a prepared ``(C, *spatial)`` float32 array.

    Returns
    -------
    (mean, variance, n_windows)
        ``mean``/``variance`` are CPU float32 tensors ``(C_out, *spatial)`` (variance across TTA
        flips; zeros without TTA).

    Raises
    ------
    Cancelled
        When ``should_stop()`` returns True (checked before every window).
    """
    import torch
    from monai.inferers import sliding_window_inference

    spatial = image.shape[1:]
    flips = flip_sets(len(spatial), tta)
    per_pass = count_windows(spatial, roi_size, overlap)
    total = per_pass * len(flips)
    done = [0]
    lo, hi = progress_span

    def predictor(x: torch.Tensor) -> torch.Tensor:
        if should_stop is not None and should_stop():
            raise Cancelled("inference cancelled")
        if amp and device == "cuda":
            with torch.autocast(device_type="cuda", dtype=torch.float16):
                y = network(x)
        else:
            y = network(x)
        if isinstance(y, (list, tuple)):
            y = y[0]
        done[0] += int(x.shape[0])
        if progress is not None:
            progress(lo + (hi - lo) * min(done[0] / max(total, 1), 1.0), f"window {done[0]}/{total}")
        return y.float()

    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None].to(device)
    s1 = s2 = None
    network.to(device)
    with torch.inference_mode():
        for dims in flips:
            if should_stop is not None and should_stop():
                raise Cancelled("inference cancelled")
            xi = torch.flip(x, dims) if dims else x
            logits = sliding_window_inference(
                xi, tuple(int(r) for r in roi_size), int(sw_batch_size), predictor, overlap=float(overlap),
                mode=blend_mode, sw_device=device, device=device,
            )
            if dims:
                logits = torch.flip(logits, dims)
            probs = torch.sigmoid(logits) if output_kind == "sigmoid-regions" else torch.softmax(logits, dim=1)
            probs = probs[0].float()
            if s1 is None:
                s1, s2 = probs.clone(), probs * probs
            else:
                s1 += probs
                s2 += probs * probs
            del logits, probs
    n = float(len(flips))
    mean = (s1 / n).cpu()
    var = (s2 / n - (s1 / n) ** 2).clamp_min_(0).cpu() if n > 1 else torch.zeros_like(mean)
    return mean, var, total


def entropy_map(mean: np.ndarray, kind: str) -> np.ndarray:
    """Voxel-wise entropy of ``(C, *spatial)`` mean probabilities: binary entropy in bits, largest over
    the regions, for ``"sigmoid-regions"``; categorical entropy normalised to [0, 1] for softmax."""
    eps = 1e-7
    p = np.clip(mean, eps, 1 - eps)
    if kind == "sigmoid-regions":
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
        return h.max(axis=0)
    return -(p * np.log(p)).sum(axis=0) / math.log(max(mean.shape[0], 2))
