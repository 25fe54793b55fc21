"""The head's mid-sagittal plane, found from the image, and the left-right mirror about it.

A head is rarely centred on the array's middle column, nor square to it: the patient's head is
turned (a rotation about the superior axis S) and tilted (about the posterior axis P) in the
scanner. Comparing a voxel with "the same place on the other side" therefore needs the plane of
best bilateral symmetry, not the array's middle.

:func:`find_mid_sagittal_plane` searches the reflection plane ``{w : n . w = d}`` (world mm,
reversed LPS order (S, P, L)) whose mirror image of the head correlates best with the head itself:

1. the image is block-averaged to about 6 mm and smoothed; the head mask (given, or Otsu's
   threshold of the coarse image, holes filled, largest component) provides the sample points;
2. a grid search over the rotation about S (+-15 deg, 3 deg steps), the rotation about P
   (+-10 deg, about 3.3 deg steps) and the shift along L (+-24 mm around the mask's centroid,
   4 mm steps) keeps the plane with the highest Pearson correlation of the image with its mirror
   at the mask's points and an 8 mm margin of background around them (the head's outline is its
   most reliably symmetric feature; inside, lesions, bias fields and noise are not symmetric);
3. Nelder-Mead refines the three parameters on a grid of about 2 mm (or the native spacing when
   it is coarser), smoothed by one voxel.

The score is that correlation at the optimum, clipped to 0..1 (1 = perfectly symmetric).
The search is a rigid-reflection version of the symmetry-plane methods used for the
mid-sagittal plane in brain MRI and CT (e.g. Liu, Collins and Tsin 2001; Ardekani et al. 1997);
the parameter ranges and steps above are this module's choice, fixed before any real case was
seen.

:func:`mirror` resamples a volume reflected about the plane onto its own grid (what lies beyond
the field of view gets the image's minimum: air for CT, 0 for MR).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage, optimize
from skimage.filters import threshold_otsu

from ...errors import InvalidInputError
from ...volume import Volume

__all__ = ["MidSagittalPlane", "find_mid_sagittal_plane", "mirror", "reflection_matrix"]

#: Search ranges and steps of the coarse grid (degrees, degrees, mm) and the two resolutions (mm).
_YAW_DEG = np.arange(-15.0, 15.0 + 1e-9, 3.0)  # rotation about S
_ROLL_DEG = np.linspace(-10.0, 10.0, 7)  # rotation about P
_SHIFT_MM = np.arange(-24.0, 24.0 + 1e-9, 4.0)  # along L, around the head's centroid
_COARSE_MM = 6.0
_FINE_MM = 2.0
_MAX_POINTS_COARSE = 3000
_MAX_POINTS_FINE = 15000
_MARGIN_MM = 8.0  # background margin sampled around the head mask


@dataclass(frozen=True)
class MidSagittalPlane:
    """A plane of bilateral symmetry in world coordinates (mm, reversed LPS order (S, P, L)).

    Attributes
    ----------
    normal
        Unit normal in world ``(S, P, L)`` order, pointing to the patient's left (close to
        ``(0, 0, 1)``).
    offset_mm
        The plane is ``{w : normal . w == offset_mm}``.
    score
        Correlation of the image with its mirror inside the head and an 8 mm margin around it
        (0..1, 1 = perfectly symmetric).
    method
        One line: how the plane was found.
    """

    normal: tuple[float, float, float]
    offset_mm: float
    score: float
    method: str

    def __post_init__(self) -> None:
        n = np.asarray(self.normal, dtype=float)
        if n.shape != (3,) or not np.all(np.isfinite(n)) or np.linalg.norm(n) < 1e-9:
            raise InvalidInputError(f"a plane normal needs 3 finite numbers, not all 0; got {self.normal!r}")
        if not math.isfinite(float(self.offset_mm)):
            raise InvalidInputError(f"the plane offset must be finite, got {self.offset_mm!r}")
        n = n / np.linalg.norm(n)
        object.__setattr__(self, "normal", tuple(float(v) for v in n))

    @property
    def angle_about_s_deg(self) -> float:
        """Rotation of the plane about the superior axis (head turned), degrees."""
        return float(np.degrees(np.arctan2(self.normal[1], self.normal[2])))

    @property
    def angle_about_p_deg(self) -> float:
        """Rotation of the plane about the posterior axis (head tilted), degrees."""
        return float(np.degrees(np.arctan2(self.normal[0], self.normal[2])))

    def signed_distance(self, world: np.ndarray) -> np.ndarray:
        """Signed distance (mm) of world points ``(N, 3)`` to the plane; > 0 = patient's left."""
        w = np.asarray(world, dtype=float)
        if w.ndim == 1:
            w = w[None, :]
        if w.shape[-1] != 3:
            raise InvalidInputError(f"world points must have 3 coordinates (S, P, L), got shape {w.shape}")
        return w @ np.asarray(self.normal) - float(self.offset_mm)

    def side(self, world: np.ndarray) -> list[str]:
        """``"left"`` (positive distance) or ``"right"`` per world point ``(N, 3)``."""
        return ["left" if d > 0 else "right" for d in self.signed_distance(world)]

    def describe(self) -> str:
        """One line for reports: offset, angles and score."""
        return (
            f"mid-sagittal plane: L offset {self.offset_mm:+.1f} mm, {self.angle_about_s_deg:+.1f} deg about S, "
            f"{self.angle_about_p_deg:+.1f} deg about P, symmetry {self.score:.2f}"
        )


def reflection_matrix(plane: MidSagittalPlane) -> np.ndarray:
    """``4 x 4`` homogeneous world-to-world matrix of the reflection about ``plane``."""
    n = np.asarray(plane.normal, dtype=float)
    h = np.eye(4)
    h[:3, :3] -= 2.0 * np.outer(n, n)
    h[:3, 3] = 2.0 * float(plane.offset_mm) * n
    return h


def _check_volume(vol: Volume, what: str) -> None:
    if not isinstance(vol, Volume):
        raise InvalidInputError(f"{what} needs a Volume, got {type(vol).__name__}")
    if vol.channel_axis is not None or vol.ndim_spatial != 3:
        raise InvalidInputError(
            f"{vol.name}: {what} needs one 3-D image, got shape {vol.data.shape}"
            " (pick one channel or time point first)"
        )


def _normal(yaw_deg: float, roll_deg: float) -> np.ndarray:
    """Unit normal turned ``yaw`` about S and ``roll`` about P from (0, 0, 1)."""
    n = np.array([math.tan(math.radians(roll_deg)), math.tan(math.radians(yaw_deg)), 1.0])
    return n / np.linalg.norm(n)


def _block_mean(data: np.ndarray, factors: tuple[int, ...]) -> np.ndarray:
    """Mean over non-overlapping blocks (the trailing partial block is dropped)."""
    if all(f == 1 for f in factors):
        return data.astype(np.float32, copy=False)
    n = [s // f for s, f in zip(data.shape, factors)]
    crop = data[tuple(slice(0, k * f) for k, f in zip(n, factors))].astype(np.float32, copy=False)
    shaped = crop.reshape(n[0], factors[0], n[1], factors[1], n[2], factors[2])
    return shaped.mean(axis=(1, 3, 5), dtype=np.float32)


class _Level:
    """The image at one resolution, its affine, and the sample points inside the head."""

    def __init__(self, vol: Volume, target_mm: float, mask: np.ndarray | None, max_points: int) -> None:
        factors = _factors(vol, target_mm)
        data = np.nan_to_num(_block_mean(vol.data, factors), nan=0.0)
        self.image = ndimage.gaussian_filter(data, sigma=1.0)
        a = vol.affine.copy()
        scale = np.diag([*map(float, factors), 1.0])
        scale[:3, 3] = [(f - 1) / 2.0 for f in factors]
        self.affine = a @ scale
        self.inverse = np.linalg.inv(self.affine)
        if mask is not None:
            head = _block_mean(mask.astype(np.float32), factors) >= 0.5
        else:
            head = _head_mask(data)
        if np.count_nonzero(head) < 50:
            raise InvalidInputError(
                f"{vol.name}: too few head voxels ({int(np.count_nonzero(head))}) to find the mid-sagittal plane"
                " (check the image is a head, or pass a head mask)"
            )
        self.head = head
        # the head's outline is its most symmetric feature: sample a margin of background too
        margin = max(1, round(_MARGIN_MM / min(s * f for s, f in zip(vol.spacing, factors))))
        region = ndimage.binary_dilation(head, iterations=margin)
        idx = np.argwhere(region)
        step = max(1, int(math.ceil(len(idx) / max_points)))
        self.points = idx[::step].T.astype(float)  # (3, N) array indices
        self.points_h = np.vstack([self.points, np.ones(self.points.shape[1])])
        self.values = self.image[tuple(idx[::step].T)].astype(float)
        self.values_c = self.values - self.values.mean()
        self.values_norm = float(np.sqrt(np.sum(self.values_c**2)))
        world = np.einsum("ij,jn->in", self.affine[:3], self.points_h)
        self.centroid = world.mean(axis=1)

    def correlation(self, normal: np.ndarray, offset: float) -> float:
        """Pearson correlation of the image with its mirror about ``{w : normal . w = offset}``."""
        return float(self.correlations(normal, np.array([offset]))[0])

    def correlations(self, normal: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Correlations for several offsets of one normal (one interpolation call)."""
        n = np.asarray(normal, dtype=float)
        h = np.eye(4)
        h[:3, :3] -= 2.0 * np.outer(n, n)
        m = self.inverse @ h @ self.affine
        # einsum, not BLAS: a threaded BLAS on these small products stalls on a busy machine
        base = np.einsum("ij,jn->in", m[:3], self.points_h)  # mirror about n . w = 0
        step = 2.0 * (self.inverse[:3, :3] @ n)  # index shift per mm of offset
        k = len(offsets)
        coords = base[:, None, :] + step[:, None, None] * np.asarray(offsets, dtype=float)[None, :, None]
        mirrored = ndimage.map_coordinates(self.image, coords.reshape(3, -1), order=1, mode="nearest")
        mirrored = mirrored.reshape(k, -1)
        mc = mirrored - mirrored.mean(axis=1, keepdims=True)
        denom = self.values_norm * np.sqrt(np.einsum("kn,kn->k", mc, mc))
        num = np.einsum("kn,n->k", mc, self.values_c)
        return np.where(denom > 0, num / np.where(denom > 0, denom, 1.0), 0.0)


def _head_mask(data: np.ndarray) -> np.ndarray:
    """Head (or brain) mask of a coarse image: Otsu threshold, holes filled, largest component."""
    finite = data[np.isfinite(data)]
    lo, hi = np.percentile(finite, [0.5, 99.5]) if finite.size else (0.0, 0.0)
    if hi <= lo:
        return np.zeros(data.shape, dtype=bool)
    clipped = np.clip(data, lo, hi)
    mask = clipped > threshold_otsu(clipped)
    mask = ndimage.binary_opening(mask, iterations=1)
    lab, n = ndimage.label(mask)
    if n > 1:
        sizes = np.bincount(lab.ravel())
        sizes[0] = 0
        mask = lab == int(np.argmax(sizes))
    return ndimage.binary_fill_holes(mask)


def find_mid_sagittal_plane(vol: Volume, *, mask: np.ndarray | None = None) -> MidSagittalPlane:
    """Find the head's plane of bilateral symmetry from the image.

    Parameters
    ----------
    vol
        A 3-D head image (MR or CT, any orientation; its geometry is used, not its array's middle).
    mask
        Optional head or brain mask on ``vol``'s grid (bool); by default Otsu's threshold of the
        coarse image, holes filled, largest component.

    Returns
    -------
    MidSagittalPlane
        Normal (world (S, P, L), pointing to the patient's left), offset, symmetry score, method.

    Raises
    ------
    InvalidInputError
        When ``vol`` is not one 3-D image, the mask has another shape, or too little head is seen.

    Notes
    -----
    See the module docstring for the search. A plane more than 15 deg (about S) or 10 deg (about
    P) from the world's sagittal plane, or more than 24 mm from the head's centroid, is outside the
    coarse search and is found only if the refinement walks there.
    """
    _check_volume(vol, "the mid-sagittal plane search")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != vol.spatial_shape:
            raise InvalidInputError(
                f"{vol.name}: the head mask has shape {mask.shape}, the image {vol.spatial_shape}"
                " (give a mask on the image's grid)"
            )
        mask = mask.astype(bool)
    coarse = _Level(vol, _COARSE_MM, mask, _MAX_POINTS_COARSE)
    centre = coarse.centroid

    def offset_of(normal: np.ndarray, shift: float) -> float:
        return float(normal @ centre + shift)

    best = (-2.0, 0.0, 0.0, 0.0)
    for yaw, roll in itertools.product(_YAW_DEG, _ROLL_DEG):
        n = _normal(yaw, roll)
        corr = coarse.correlations(n, float(n @ centre) + _SHIFT_MM)
        k = int(np.argmax(corr))
        if corr[k] > best[0]:
            best = (float(corr[k]), float(yaw), float(roll), float(_SHIFT_MM[k]))

    fine_mm = max(_FINE_MM, min(vol.spacing))
    fine = _Level(vol, fine_mm, mask, _MAX_POINTS_FINE)

    def cost(p: np.ndarray) -> float:
        n = _normal(p[0], p[1])
        return -fine.correlation(n, offset_of(n, p[2]))

    x0 = np.array(best[1:], dtype=float)
    simplex = np.array([x0, x0 + [2.0, 0, 0], x0 + [0, 2.0, 0], x0 + [0, 0, 2.0]])
    res = optimize.minimize(
        cost, x0, method="Nelder-Mead",
        options={"initial_simplex": simplex, "xatol": 0.02, "fatol": 1e-6, "maxiter": 300},
    )
    yaw, roll, shift = (float(v) for v in res.x)
    n = _normal(yaw, roll)
    score = float(np.clip(-res.fun, 0.0, 1.0))
    spacing = "x".join(f"{s * f:g}" for s, f in zip(vol.spacing, _factors(vol, fine_mm)))
    method = (
        f"symmetry search: reflection maximising the image-mirror correlation inside the head "
        f"({_COARSE_MM:g} mm grid over +-15 deg about S, +-10 deg about P, +-24 mm along L; "
        f"Nelder-Mead at {spacing} mm)"
    )
    return MidSagittalPlane(
        normal=(float(n[0]), float(n[1]), float(n[2])), offset_mm=offset_of(n, shift), score=score, method=method
    )


def _factors(vol: Volume, target_mm: float) -> tuple[int, ...]:
    """Integer block sizes that bring ``vol`` to about ``target_mm`` (keeping >= 8 voxels per axis)."""
    factors = tuple(max(1, round(target_mm / s)) for s in vol.spacing)
    return tuple(max(1, min(f, n // 8)) if n >= 8 else 1 for f, n in zip(factors, vol.spatial_shape))


def mirror(vol: Volume, plane: MidSagittalPlane, *, order: int = 1) -> Volume:
    """A copy of ``vol`` reflected about ``plane``, resampled onto ``vol``'s own grid.

    Parameters
    ----------
    vol
        Image or label map (3-D; a leading channel axis is mirrored channel by channel).
    plane
        The mirror plane (usually from :func:`find_mid_sagittal_plane`).
    order
        Spline order of the resampling (label maps always use 0, nearest neighbour).

    Returns
    -------
    Volume
        Same grid, name ``<name>_mirror``; each voxel holds the value at its mirror position (the
        contralateral side). Positions beyond the field of view get the image's minimum (air for
        CT, 0 for MR). ``meta["mirror_plane"]`` records the plane.
    """
    if not isinstance(vol, Volume):
        raise InvalidInputError(f"mirror needs a Volume, got {type(vol).__name__}")
    if vol.ndim_spatial != 3:
        raise InvalidInputError(f"{vol.name}: mirror needs a 3-D volume, got shape {vol.data.shape}")
    if not isinstance(plane, MidSagittalPlane):
        raise InvalidInputError(f"mirror needs a MidSagittalPlane, got {type(plane).__name__}")
    if order not in range(6):
        raise InvalidInputError(f"order must be an integer 0..5, got {order!r}")
    order = 0 if vol.is_label else int(order)
    m = np.linalg.inv(vol.affine) @ reflection_matrix(plane) @ vol.affine
    stacks = [vol.data] if vol.channel_axis is None else list(vol.data)
    out = []
    for arr in stacks:
        cval = float(np.min(arr)) if arr.size else 0.0
        src = arr if vol.is_label or np.issubdtype(arr.dtype, np.floating) else arr.astype(np.float32)
        res = ndimage.affine_transform(src, m[:3, :3], offset=m[:3, 3], order=order, mode="constant", cval=cval)
        if not vol.is_label and np.issubdtype(arr.dtype, np.integer):
            info = np.iinfo(arr.dtype)
            res = np.clip(np.rint(res), info.min, info.max).astype(arr.dtype)
        out.append(res)
    data = out[0] if vol.channel_axis is None else np.stack(out)
    meta = dict(vol.meta)
    meta["mirror_plane"] = {"normal": list(plane.normal), "offset_mm": plane.offset_mm, "score": plane.score}
    return vol.with_data(data, name=f"{vol.name}_mirror", meta=meta, source=None)
