"""Shared helpers of the LDCT task: input checks, slice loops with progress/cancel, noise estimate."""

from __future__ import annotations

import math
from collections.abc import Iterator
from numbers import Integral, Real
from typing import Any

import numpy as np

from ...callbacks import Cancelled, ProgressFn, StopFn
from ...errors import InvalidInputError
from ...volume import Volume

#: Soft-tissue window of the LDCT papers, in HU (PSNR/SSIM/RMSE are computed after clipping to it).
WINDOW_HU: tuple[float, float] = (-160.0, 240.0)

#: Uniform liver region of the ``ldct_L506`` slice (rows 160-191, columns 120-159; 32 x 40 pixels),
#: where the smoothed full-dose image varies by only ~2 HU: its SD measures noise, not anatomy.
L506_LIVER_ROI: tuple[slice, slice] = (slice(160, 192), slice(120, 160))

#: HU range of the pixels the noise estimate looks at (soft tissue, away from air and bone).
_SOFT_TISSUE_HU = (-300.0, 400.0)


def as_image(image: object, *, what: str = "image") -> tuple[np.ndarray, Volume | None]:
    """A float32 copy of a 2-D slice or 3-D stack ``(slices, rows, columns)``, and the Volume if given."""
    vol = image if isinstance(image, Volume) else None
    if vol is not None:
        if vol.channel_axis is not None:
            raise InvalidInputError(
                f"{what} {vol.name!r} has {vol.n_channels} channels; pick one channel (one CT series) first"
            )
        if vol.is_label:
            raise InvalidInputError(f"{what} {vol.name!r} is a label map; give the CT image in HU")
        arr = vol.data
    else:
        arr = np.asarray(image)
    if arr.ndim not in (2, 3):
        raise InvalidInputError(
            f"{what} must be a 2-D slice or a 3-D stack (slices, rows, columns), got shape {arr.shape}"
        )
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{what} must hold numbers in HU, got dtype {arr.dtype}")
    if min(arr.shape[-2:]) < 8:
        raise InvalidInputError(f"{what} slices must be at least 8 x 8 pixels, got {arr.shape[-2:]}")
    out = np.asarray(arr, dtype=np.float32)
    if not np.all(np.isfinite(out)):
        raise InvalidInputError(f"{what} holds NaN or infinite values; replace them (e.g. by -1000 HU, air)")
    return out.copy(), vol


def as_stack(arr: np.ndarray) -> np.ndarray:
    """``(slices, rows, columns)`` view of a 2-D or 3-D array."""
    return arr[None] if arr.ndim == 2 else arr


def check_real(value: object, name: str, *, low: float | None = None, high: float | None = None,
               low_open: bool = False) -> float:
    """A finite float within ``[low, high]`` (``(low, high]`` with ``low_open``), or a clear error."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise InvalidInputError(f"{name} must be {'>' if low_open else '>='} {low:g}, got {value!r}")
    if high is not None and v > high:
        raise InvalidInputError(f"{name} must be <= {high:g}, got {value!r}")
    return v


def check_int(value: object, name: str, *, low: int, high: int | None = None) -> int:
    """An integer within ``[low, high]``, or a clear error."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InvalidInputError(f"{name} must be a whole number, got {value!r}")
    v = int(value)
    if v < low or (high is not None and v > high):
        rng = f">= {low}" if high is None else f"from {low} to {high}"
        raise InvalidInputError(f"{name} must be {rng}, got {value!r}")
    return v


def report(progress: ProgressFn | None, fraction: float, message: str) -> None:
    if progress is not None:
        progress(float(min(max(fraction, 0.0), 1.0)), message)


def check_stop(should_stop: StopFn | None, what: str) -> None:
    if should_stop is not None and should_stop():
        raise Cancelled(f"{what} cancelled")


def iter_slices(
    stack: np.ndarray,
    *,
    label: str,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
    start: float = 0.0,
    stop: float = 1.0,
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield ``(k, slice)`` of a ``(slices, rows, columns)`` stack, reporting progress and polling cancel."""
    n = stack.shape[0]
    for k in range(n):
        check_stop(should_stop, label)
        report(progress, start + (stop - start) * k / n, f"{label}: slice {k + 1}/{n}")
        yield k, stack[k]
    report(progress, stop, f"{label}: {n} slice(s) done")


def estimate_noise_sd(image: np.ndarray) -> float:
    """Robust estimate of the pixel noise SD (HU) of a CT slice or stack.

    The finest diagonal Haar wavelet coefficient of each 2 x 2 block,
    ``(a - b - c + d) / 2``, holds almost only noise; its median absolute value divided by
    0.6745 estimates the noise SD (Donoho's MAD rule; the same idea as
    :func:`skimage.restoration.estimate_sigma`, which needs PyWavelets). Only blocks whose four
    pixels lie in soft tissue (-300 to 400 HU) are used, so that the noise-free air around the
    patient and the edges of bone do not bias it; with fewer than 64 such blocks, all blocks are used.

    For CT the noise is spatially correlated (the reconstruction kernel), so this measures the
    high-frequency part of the noise; it is used only to scale the classical denoisers' strength,
    with factors tuned the same way (see :mod:`.classical`).

    Parameters
    ----------
    image
        2-D slice or 3-D stack in HU.

    Returns
    -------
    float
        Estimated noise SD in HU (0 for a noise-free image).
    """
    st = as_stack(np.asarray(image, dtype=np.float64))
    r, c = (st.shape[1] // 2) * 2, (st.shape[2] // 2) * 2
    a = st[:, 0:r:2, 0:c:2]
    b = st[:, 0:r:2, 1:c:2]
    cc = st[:, 1:r:2, 0:c:2]
    d = st[:, 1:r:2, 1:c:2]
    hh = (a - b - cc + d) / 2.0
    lo, hi = _SOFT_TISSUE_HU
    blocks = np.stack([a, b, cc, d])
    keep = np.all((blocks >= lo) & (blocks <= hi), axis=0)
    vals = hh[keep] if int(keep.sum()) >= 64 else hh.ravel()
    return float(np.median(np.abs(vals)) / 0.6745)


def check_blend(blend: object) -> float:
    """The fraction of the input's residual noise kept in the output, in [0, 1]."""
    return check_real(blend, "blend", low=0.0, high=1.0)


def apply_blend(denoised: np.ndarray, original: np.ndarray, blend: float) -> np.ndarray:
    """``denoised + blend * (original - denoised)`` (float32)."""
    if blend == 0.0:
        return denoised.astype(np.float32, copy=False)
    return (denoised + np.float32(blend) * (original - denoised)).astype(np.float32)


def plain(value: Any) -> Any:
    """JSON-friendly copy of parameter values (numpy scalars -> numbers, tuples -> lists)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def pixel_size_of(volume: Volume) -> float | None:
    """In-plane pixel size (mm) a Volume's file stated, or ``None`` for ``.npy``/``.raw`` (1 mm by default only).

    Raises
    ------
    InvalidInputError
        When the in-plane pixels are not square (the simulation assumes square pixels).
    """
    if volume.meta.get("format") in ("npy", "raw"):
        return None
    row, col = float(volume.spacing[-2]), float(volume.spacing[-1])
    if abs(row - col) > 1e-3 * max(row, col):
        raise InvalidInputError(
            f"{volume.name}: pixels of {row:g} x {col:g} mm are not square; resample the slices to square pixels first"
        )
    return col
