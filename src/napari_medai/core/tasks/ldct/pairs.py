"""Training pairs of the LDCT denoiser: (low dose, target) slices read, checked or simulated."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ._common import ProgressFn, StopFn, as_image, check_stop, report

__all__ = ["LdctPair", "prepare_pairs"]


@dataclass
class LdctPair:
    """One training pair: a full-dose image and its low-dose scan (or ``None`` to simulate one).

    Attributes
    ----------
    full_dose
        2-D slice or 3-D stack in HU (array, :class:`Volume` or image path).
    low_dose
        The same slices at low dose on the same grid, or ``None`` (simulated).
    name
        Pair name (unique within a run; default ``pair<N>``).
    pixel_size_mm
        In-plane pixel size; default the Volume's spacing (needed to simulate).
    """

    full_dose: Any
    low_dose: Any = None
    name: str | None = None
    pixel_size_mm: float | None = None



def _load_hu(x: Any, *, what: str) -> tuple[np.ndarray, float | None, str | None]:
    """(float32 stack, pixel size or None, source path or None) of an array, Volume or path."""
    if isinstance(x, (str, os.PathLike)):
        from ...io import read_volume

        vol = read_volume(x, as_label=False)
        arr, _ = as_image(vol, what=what)
        px = float(vol.spacing[-1]) if vol.meta.get("format") not in ("npy", "raw") else None
        return (arr[None] if arr.ndim == 2 else arr), px, str(x)
    arr, vol = as_image(x, what=what)
    px = float(vol.spacing[-1]) if vol is not None and vol.meta.get("format") not in ("npy", "raw") else None
    return (arr[None] if arr.ndim == 2 else arr), px, (vol.source if vol is not None else None)


def prepare_pairs(
    pairs: Sequence[Any],
    *,
    simulate_dose: float | None,
    i0: float,
    seed: int,
    progress: ProgressFn | None,
    should_stop: StopFn | None,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[dict[str, Any]]]:
    from ...simulation import simulate_low_dose_pair

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    details: list[dict[str, Any]] = []
    for i, raw in enumerate(pairs):
        pair = raw if isinstance(raw, LdctPair) else LdctPair(*raw) if isinstance(raw, (tuple, list)) else None
        if pair is None:
            raise InvalidInputError(
                f"training pair {i + 1} must be an LdctPair or a (full_dose, low_dose_or_None) tuple, "
                f"got {type(raw).__name__}"
            )
        name = pair.name or f"pair{i + 1}"
        if name in out:
            raise InvalidInputError(f"training pair names repeat: {name!r}")
        check_stop(should_stop, "reading the training pairs")
        report(progress, 0.0, f"preparing pair {i + 1}/{len(pairs)}: {name}")
        full, px, src = _load_hu(pair.full_dose, what=f"{name} full dose")
        px = pair.pixel_size_mm if pair.pixel_size_mm is not None else px
        d: dict[str, Any] = {"name": name, "slices": int(full.shape[0]), "shape": list(full.shape[1:]),
                             "full_dose": src or "array"}
        if pair.low_dose is not None:
            low, _, lsrc = _load_hu(pair.low_dose, what=f"{name} low dose")
            if low.shape != full.shape:
                raise InvalidInputError(
                    f"{name}: low dose {low.shape} and full dose {full.shape} differ in shape; give the same "
                    "slices on the same grid"
                )
            target = full
            d.update({"low_dose": lsrc or "array", "kind": "real pair"})
        else:
            if simulate_dose is None:
                raise InvalidInputError(
                    f"{name} has no low-dose image; give one, or simulate it with simulate_dose=0.25 "
                    "(--simulate-dose 0.25)"
                )
            if px is None:
                raise InvalidInputError(
                    f"{name}: the pixel size is unknown (a .npy/.raw file or a plain array); give pixel_size_mm "
                    "(--pixel-size MM) so the simulated noise has the right level"
                )
            low, target = simulate_low_dose_pair(full, pixel_size_mm=float(px), dose_fraction=simulate_dose,
                                                 i0=i0, seed=int(seed) * 1000 + i)
            d.update({"kind": "simulated", "dose_fraction": simulate_dose, "i0": i0, "pixel_size_mm": px,
                      "target": "noise-free FBP of the full-dose image (same geometry)"})
        if min(full.shape[1:]) < 32:
            raise InvalidInputError(f"{name}: slices of {full.shape[1:]} pixels are too small to train on (>= 32)")
        out[name] = (np.ascontiguousarray(low, dtype=np.float32), np.ascontiguousarray(target, dtype=np.float32))
        details.append(d)
    return out, details
