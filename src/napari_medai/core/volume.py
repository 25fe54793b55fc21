"""The one image type of the core: an array with its geometry.

Conventions (used everywhere in napari-medai, the only place that converts is ``core.io.geometry``):

* ``data`` holds the spatial axes **last**, in *array order*; for a 3-D file this is
  ``(slice, row, column)`` = ``(k, j, i)`` of the file, i.e. the reverse of NIfTI / ITK index order
  (the same order as ``SimpleITK.GetArrayFromImage``). An optional leading axis holds channels or
  time (``channel_axis == 0``).
* World coordinates are millimetres in the **LPS** patient frame (DICOM / ITK), listed in reversed
  order ``(S, P, L)`` so that world axis *n* pairs with array axis *n*. In napari this displays an
  axial slice radiologically (patient left on screen right, anterior at the top).
* ``spacing[n]`` is the voxel size along array axis *n*; ``origin`` is the world position of the
  centre of voxel ``(0, ..., 0)``; ``direction[:, n]`` is the unit world vector of array axis *n*.
  So ``world = direction @ (spacing * index) + origin``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .errors import GeometryMismatchError, InvalidInputError

ChannelKind = Literal["channel", "time"]


@dataclass(eq=False)
class Volume:
    """An image or label map with its voxel geometry.

    Parameters
    ----------
    data
        Array whose last ``ndim_spatial`` axes are spatial, in array order (see module docstring).
    spacing
        Voxel size in mm per spatial axis, array order. Defaults to 1 mm.
    origin
        World position (mm, reversed LPS) of the first voxel centre. Defaults to 0.
    direction
        ``(n, n)`` matrix whose column *n* is the world direction of array axis *n*. Defaults to
        identity.
    channel_axis
        ``0`` when ``data`` has a leading channel/time axis, else ``None``.
    channel_kind
        Whether that leading axis holds channels (modalities, components) or time points.
    channel_names
        Optional names of the channels (e.g. ``["flair", "t1", "t1c", "t2"]``).
    is_label
        True for a label map (integer classes), False for an intensity image.
    modality
        ``"CT"``, ``"MR"``, ... or ``"unknown"``.
    units
        Intensity units, e.g. ``"HU"`` for CT after rescale, ``""`` when unknown.
    name
        Display name (file stem by default).
    source
        Path the volume was read from, if any.
    meta
        Free-form header facts kept for writing back (e.g. NIfTI qform/sform codes, DICOM tags).
    label_names
        Optional mapping of label value to name (for label maps).
    """

    data: np.ndarray
    spacing: tuple[float, ...] | None = None
    origin: tuple[float, ...] | None = None
    direction: np.ndarray | None = None
    channel_axis: int | None = None
    channel_kind: ChannelKind = "channel"
    channel_names: list[str] | None = None
    is_label: bool = False
    modality: str = "unknown"
    units: str = ""
    name: str = "image"
    source: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    label_names: dict[int, str] | None = None

    def __post_init__(self) -> None:
        self.data = np.asarray(self.data)
        if self.channel_axis not in (None, 0):
            raise InvalidInputError(
                f"channel_axis must be None or 0, got {self.channel_axis!r}; move the channel axis first"
            )
        nd = self.ndim_spatial
        if nd not in (2, 3):
            raise InvalidInputError(
                f"a volume needs 2 or 3 spatial axes, got data of shape {self.data.shape} "
                f"with channel_axis={self.channel_axis}"
            )
        if self.spacing is None:
            self.spacing = (1.0,) * nd
        self.spacing = tuple(float(s) for s in self.spacing)
        if len(self.spacing) != nd:
            raise InvalidInputError(f"spacing {self.spacing} has {len(self.spacing)} values for {nd} spatial axes")
        if not all(np.isfinite(s) and s > 0 for s in self.spacing):
            raise InvalidInputError(f"spacing must be positive and finite, got {self.spacing}")
        if self.origin is None:
            self.origin = (0.0,) * nd
        self.origin = tuple(float(o) for o in self.origin)
        if len(self.origin) != nd:
            raise InvalidInputError(f"origin {self.origin} has {len(self.origin)} values for {nd} spatial axes")
        if self.direction is None:
            self.direction = np.eye(nd)
        self.direction = np.asarray(self.direction, dtype=float)
        if self.direction.shape != (nd, nd):
            raise InvalidInputError(f"direction must be {nd}x{nd}, got {self.direction.shape}")

    # ------------------------------------------------------------------ geometry
    @property
    def ndim_spatial(self) -> int:
        return self.data.ndim - (0 if self.channel_axis is None else 1)

    @property
    def spatial_shape(self) -> tuple[int, ...]:
        return tuple(self.data.shape[-self.ndim_spatial :])

    @property
    def n_channels(self) -> int:
        return 1 if self.channel_axis is None else int(self.data.shape[0])

    @property
    def affine(self) -> np.ndarray:
        """``(n+1, n+1)`` index-to-world matrix in array / reversed-LPS order."""
        nd = self.ndim_spatial
        a = np.eye(nd + 1)
        a[:nd, :nd] = self.direction * np.asarray(self.spacing)[None, :]
        a[:nd, nd] = self.origin
        return a

    @property
    def is_axis_aligned(self) -> bool:
        """True when the direction is the identity (no rotation, no flip)."""
        return bool(np.allclose(self.direction, np.eye(self.ndim_spatial), atol=1e-6))

    @property
    def voxel_volume_mm3(self) -> float:
        return float(np.prod(self.spacing))

    def same_grid(self, other: Volume, *, atol: float = 1e-3) -> bool:
        """True when ``other`` has the same spatial shape, spacing, origin and direction."""
        return (
            self.spatial_shape == other.spatial_shape
            and np.allclose(self.spacing, other.spacing, atol=atol)
            and np.allclose(self.origin, other.origin, atol=atol)
            and np.allclose(self.direction, other.direction, atol=1e-4)
        )

    def grid_differences(self, other: Volume, *, atol: float = 1e-3) -> list[str]:
        """Human-readable list of how ``other``'s grid differs from this one (empty if same)."""
        out: list[str] = []
        if self.spatial_shape != other.spatial_shape:
            out.append(f"shape {other.spatial_shape} vs {self.spatial_shape}")
        if not np.allclose(self.spacing, other.spacing, atol=atol):
            out.append(f"spacing {_fmt(other.spacing)} vs {_fmt(self.spacing)} mm")
        if not np.allclose(self.origin, other.origin, atol=atol):
            out.append(f"origin {_fmt(other.origin)} vs {_fmt(self.origin)} mm")
        if not np.allclose(self.direction, other.direction, atol=1e-4):
            out.append("orientation (direction cosines) differs")
        return out

    def require_same_grid(self, other: Volume, *, what: str = "volumes") -> None:
        diffs = self.grid_differences(other)
        if diffs:
            raise GeometryMismatchError(
                f"{what} are not on the same voxel grid: " + "; ".join(diffs)
                + " (resample one onto the other's grid first)"
            )

    # ------------------------------------------------------------------ helpers
    def with_data(self, data: np.ndarray, **changes: Any) -> Volume:
        """A copy on the same grid with new data (and optionally other fields changed)."""
        kw = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        kw["meta"] = dict(self.meta)
        kw["data"] = data
        kw.update(changes)
        return Volume(**kw)

    def channel(self, index: int) -> Volume:
        """One channel (or time point) as a single-channel volume on the same grid."""
        if self.channel_axis is None:
            if index != 0:
                raise InvalidInputError(f"{self.name} has one channel; asked for channel {index}")
            return self
        names = self.channel_names
        name = names[index] if names and index < len(names) else f"{self.name}[{index}]"
        return self.with_data(self.data[index], channel_axis=None, channel_names=None, name=name)

    def world_to_index(self, world: np.ndarray) -> np.ndarray:
        """Continuous array index of world points ``(..., n)``."""
        a = np.linalg.inv(self.affine)
        w = np.asarray(world, dtype=float)
        return w @ a[:-1, :-1].T + a[:-1, -1]

    def index_to_world(self, index: np.ndarray) -> np.ndarray:
        a = self.affine
        i = np.asarray(index, dtype=float)
        return i @ a[:-1, :-1].T + a[:-1, -1]

    def __repr__(self) -> str:
        return (
            f"Volume(name={self.name!r}, shape={self.data.shape}, dtype={self.data.dtype}, "
            f"spacing={_fmt(self.spacing)}, label={self.is_label}, modality={self.modality!r})"
        )


def _fmt(v: tuple[float, ...] | list[float]) -> str:
    return "(" + ", ".join(f"{x:.4g}" for x in v) + ")"
