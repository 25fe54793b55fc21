"""A volume's orientation letters, and the :class:`Layout` taking its array axes to a network's."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from ..models.contract import opposite, orientation_axis
from ..volume import Volume

__all__ = ["Layout", "layout_for", "volume_axis_codes"]

_WORLD_LETTERS = (("S", "I"), ("P", "A"), ("L", "R"))  # Volume world axes (S, P, L): + letter, - letter


def volume_axis_codes(vol: Volume) -> str:
    """Orientation letters of a 3-D volume's array axes (the letter each axis points to).

    The Volume's world frame is reversed LPS ``(S, P, L)``; e.g. a NIfTI stored LPS reads as a
    Volume with codes ``"SPL"`` (its storage order reversed).
    """
    if vol.ndim_spatial != 3:
        raise InvalidInputError("orientation letters are defined for 3-D volumes only")
    d = np.asarray(vol.direction, dtype=float)
    codes = []
    for n in range(3):
        w = int(np.argmax(np.abs(d[:, n])))
        codes.append(_WORLD_LETTERS[w][0] if d[w, n] > 0 else _WORLD_LETTERS[w][1])
    if len({orientation_axis(c) for c in codes}) != 3:
        raise InvalidInputError(
            f"{vol.name}: the grid is too oblique to tell its axes apart; resample it to an axis-aligned grid first"
        )
    return "".join(codes)


@dataclass(frozen=True)
class Layout:
    """How a Volume's array axes map to the network's: network axis n = volume axis ``perm[n]``,
    flipped when ``flips[n]``."""

    perm: tuple[int, ...]
    flips: tuple[bool, ...]

    def to_net(self, arr: np.ndarray) -> np.ndarray:
        """``(C, *volume axes)`` -> ``(C, *network axes)`` (a view where possible)."""
        out = np.transpose(arr, (0, *(p + 1 for p in self.perm)))
        for n, f in enumerate(self.flips):
            if f:
                out = np.flip(out, axis=n + 1)
        return out

    def from_net(self, arr: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_net`."""
        out = arr
        for n, f in enumerate(self.flips):
            if f:
                out = np.flip(out, axis=n + 1)
        inv = np.argsort(self.perm)
        return np.transpose(out, (0, *(int(i) + 1 for i in inv)))

    def spacing(self, spacing: Sequence[float]) -> tuple[float, ...]:
        return tuple(float(spacing[p]) for p in self.perm)

    def shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(int(shape[p]) for p in self.perm)


def layout_for(vol: Volume, orientation: str) -> Layout:
    """The :class:`Layout` taking ``vol``'s array axes to a contract's ``orientation``."""
    nd = vol.ndim_spatial
    if orientation == "storage":
        return Layout(tuple(reversed(range(nd))), (False,) * nd)
    codes = volume_axis_codes(vol)
    perm, flips = [], []
    for t in orientation:
        for a, c in enumerate(codes):
            if c == t:
                perm.append(a)
                flips.append(False)
                break
            if c == opposite(t):
                perm.append(a)
                flips.append(True)
                break
    return Layout(tuple(perm), tuple(flips))
