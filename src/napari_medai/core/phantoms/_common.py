"""Shared building blocks of the phantoms: grids, smooth random fields, shapes, noise, checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Integral, Real

import numpy as np
from scipy import ndimage

from ..errors import InvalidInputError


def check_seed(seed: object) -> int:
    """Validate a seed (a non-negative integer) and return it as ``int``."""
    if isinstance(seed, bool) or not isinstance(seed, Integral) or int(seed) < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    return int(seed)


def check_range(value: object, *, name: str, low: float, high: float) -> float:
    """Validate a finite real number in ``[low, high]`` and return it as ``float``."""
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    if not low <= float(value) <= high:
        raise InvalidInputError(f"{name} must lie between {low:g} and {high:g}, got {value!r}")
    return float(value)


def check_shape(shape: object, *, name: str, minimum: Sequence[int], maximum: Sequence[int]) -> tuple[int, ...]:
    """Validate a grid shape against per-axis bounds and return it as a tuple of ints."""
    try:
        values = tuple(shape)  # type: ignore[arg-type]
    except TypeError:
        values = ()
    if len(values) != len(minimum) or not all(
        isinstance(v, Integral) and not isinstance(v, bool) for v in values
    ):
        raise InvalidInputError(f"{name} must be a tuple of {len(minimum)} integers (z, y, x), got {shape!r}")
    out = tuple(int(v) for v in values)
    for v, lo, hi in zip(out, minimum, maximum):
        if not lo <= v <= hi:
            raise InvalidInputError(
                f"{name}={out} is out of range: each axis must lie between {tuple(minimum)} and {tuple(maximum)}"
            )
    return out


def centred_origin(shape: Sequence[int], spacing: Sequence[float]) -> tuple[float, ...]:
    """Origin that puts the grid centre at world (0, 0, 0)."""
    return tuple(-(n - 1) / 2.0 * s for n, s in zip(shape, spacing))


def grid_mm(shape: Sequence[int], spacing: Sequence[float]) -> list[np.ndarray]:
    """Open (broadcastable) float32 coordinate arrays in mm relative to the grid centre, per axis."""
    origin = centred_origin(shape, spacing)
    out = []
    for axis, (n, s, o) in enumerate(zip(shape, spacing, origin)):
        view = [1] * len(shape)
        view[axis] = n
        out.append((o + s * np.arange(n, dtype=np.float32)).reshape(view))
    return out


#: OpenBLAS runs a matrix product of ``m * n * k`` at most this on the calling thread (65536 * 4).
_SINGLE_THREAD_MNK = 262144


def smooth_field(rng: np.random.Generator, shape: Sequence[int], cells: Sequence[int]) -> np.ndarray:
    """A smooth random float32 field of zero mean and unit standard deviation.

    White noise on a coarse lattice of ``cells`` knots per axis (plus one beyond each edge),
    spread by a separable Gaussian kernel as wide as the knot spacing: features are about
    ``shape / cells`` voxels wide. Separable, so it costs a few matrix products.

    Each product is done in column blocks small enough that OpenBLAS keeps it on the calling thread:
    threads waking for a few-millisecond product cost 5 times its CPU on a loaded machine (a 1 Mvoxel
    field: 16 ms instead of 3 per product), for the same bits (each element is the same dot product).
    """
    cells = [max(2, int(c)) for c in cells]
    field = rng.standard_normal([c + 2 for c in cells])
    for axis, (n, c) in enumerate(zip(shape, cells)):
        step = n / c
        knots = (np.arange(c + 2) - 0.5) * step  # knot -1 .. c, in voxel units
        pos = np.arange(n) + 0.5
        weights = np.exp(-0.5 * ((pos[:, None] - knots[None, :]) / step) ** 2)
        moved = np.moveaxis(field, axis, 0)
        flat = moved.reshape(c + 2, -1)  # a copy in C order, as np.tensordot makes
        out = np.empty((n, flat.shape[1]))
        block = max(1, _SINGLE_THREAD_MNK // (n * (c + 2)))
        for j in range(0, flat.shape[1], block):
            np.matmul(weights, flat[:, j:j + block], out=out[:, j:j + block])
        field = np.moveaxis(out.reshape(n, *moved.shape[1:]), 0, axis)
    field = field.astype(np.float32)
    field -= field.mean()
    sd = float(field.std())
    if sd > 0:
        field /= sd
    return field


def ellipsoid_radius(
    coords: Sequence[np.ndarray], centre: Sequence[float], semi_axes: Sequence[float]
) -> np.ndarray:
    """Normalised ellipsoidal radius (1 on the surface) of the points ``coords`` (mm)."""
    r2 = 0
    for c, m, a in zip(coords, centre, semi_axes):
        r2 = r2 + ((c - np.float32(m)) / np.float32(a)) ** 2
    return np.sqrt(r2)


def rician(rng: np.random.Generator, signal: np.ndarray, sigma: float) -> np.ndarray:
    """Magnitude of a complex signal with Gaussian noise on both channels (float32)."""
    real = signal + rng.normal(0.0, sigma, size=signal.shape).astype(np.float32)
    imag = rng.normal(0.0, sigma, size=signal.shape).astype(np.float32)
    return np.sqrt(real * real + imag * imag, dtype=np.float32)


def bias_field(rng: np.random.Generator, shape: Sequence[int], *, strength: float) -> np.ndarray:
    """Smooth multiplicative field ``exp(strength * f)`` with ``f`` very low frequency."""
    return np.exp(np.float32(strength) * smooth_field(rng, shape, (3, 3, 3))).astype(np.float32)


def mask_volume_ml(mask: np.ndarray, spacing: Sequence[float]) -> float:
    """Volume of a boolean mask in millilitres."""
    return float(np.count_nonzero(mask)) * float(np.prod(spacing)) / 1000.0


def index_to_world(index: Sequence[float], spacing: Sequence[float], origin: Sequence[float]) -> tuple[float, ...]:
    """World position (mm, reversed LPS) of a continuous index on an identity-direction grid."""
    return tuple(round(float(o + s * i), 3) for i, s, o in zip(index, spacing, origin))


def centre_of_mass_world(mask: np.ndarray, spacing: Sequence[float], origin: Sequence[float]) -> tuple[float, ...]:
    """World position of the centre of a non-empty boolean mask."""
    com = ndimage.center_of_mass(mask.astype(np.uint8))
    return index_to_world(com, spacing, origin)
