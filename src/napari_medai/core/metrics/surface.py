"""Surface-distance metrics: HD95, average symmetric surface distance, normalised surface Dice.

Definitions (the same as MONAI's ``HausdorffDistanceMetric``, ``SurfaceDistanceMetric`` and
``SurfaceDiceMetric`` with ``use_subvoxels=False``, which is what these functions are tested
against):

* The **surface** of a mask is the set of its voxels that a binary erosion with the
  face-connected cross (6-neighbourhood in 3-D, 4 in 2-D) removes, i.e.
  ``mask & ~binary_erosion(mask)``; voxels on the image border count as surface because
  outside the image is background (``border_value=0``). This is MONAI's ``get_mask_edges``
  without sub-voxel areas. It is *not* the surfel-area definition of DeepMind's
  ``surface_distance`` package (used by the BraTS 2023 evaluation code), so values can differ
  from that package by a fraction of a voxel.
* The distance of a surface voxel is the exact Euclidean distance in mm (voxel centres,
  anisotropic spacing honoured) to the nearest surface voxel of the other mask.
* ``HD_p = max(P_p(d(pred -> gt)), P_p(d(gt -> pred)))`` where ``P_p`` is the *p*-th
  percentile with linear interpolation (``numpy.percentile`` default, ``torch.quantile``).
* ``ASSD`` is the mean over the distances of both directions pooled together
  (``(sum d_pg + sum d_gp) / (n_p + n_g)``).
* ``NSD`` at tolerance ``tau`` is ``(#{d_pg <= tau} + #{d_gp <= tau}) / (n_p + n_g)``.

How it is fast: both masks are cropped to the bounding box of their union (plus a small zero
margin) before anything else; surfaces come from six shifted ANDs on that crop
(:mod:`.surface_grid`); the nearest distance of each surface voxel is found by walking lattice
offsets in increasing order of their length in mm, and the few voxels still unresolved after a
short radius are answered by a k-d tree over the other surface (:mod:`.surface_walk`); a
percentile of many far voxels measures only the voxels near its order statistics
(:mod:`.surface_select`). Every path evaluates one distance formula, so a voxel gets the same
distance whichever path resolves it: that is what lets a live update recompute only the voxels
near an edit and still give, bit for bit, the values of a computation from scratch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ._arrays import as_mask, as_spacing, bounding_box, check_pair, crop_padded, union_box
from .surface_grid import MaskSurface, surface_voxels
from .surface_select import PercentileSelection, percentile_need
from .surface_walk import nearest_smallest, nearest_surface_distances, ring_pad

__all__ = [
    "SurfaceDistances",
    "assd",
    "check_tolerance",
    "hausdorff95",
    "hausdorff_distance",
    "mask_surface",
    "nsd",
    "pair_distances",
    "pair_hausdorff",
    "surface_distances",
]


def mask_surface(mask: np.ndarray) -> np.ndarray:
    """Surface voxels of a binary mask: those removed by one face-connected binary erosion.

    Parameters
    ----------
    mask
        2-D or 3-D boolean (or 0/1) array.

    Returns
    -------
    numpy.ndarray
        Boolean array of the same shape; equal to ``mask ^ scipy.ndimage.binary_erosion(mask)``
        (image border treated as background).
    """
    m = as_mask(mask, what="mask")
    return surface_voxels(m)


@dataclass(frozen=True)
class SurfaceDistances:
    """Distances (mm) from each surface voxel of one mask to the other mask's surface.

    Attributes
    ----------
    pred_to_gt
        One distance per prediction surface voxel (C order of the voxels).
    gt_to_pred
        One distance per ground-truth surface voxel.
    """

    pred_to_gt: np.ndarray
    gt_to_pred: np.ndarray

    @property
    def empty(self) -> str | None:
        """``"both"``, ``"pred"``, ``"gt"`` when a surface is empty, else None."""
        p, g = self.pred_to_gt.size == 0, self.gt_to_pred.size == 0
        if p and g:
            return "both"
        if p:
            return "pred"
        if g:
            return "gt"
        return None

    def hausdorff(self, *, percentile: float | None = 95.0) -> float:
        """Symmetric Hausdorff distance (``percentile=None``: maximum), NaN/inf when empty."""
        e = self.empty
        if e == "both":
            return math.nan
        if e is not None:
            return math.inf
        if percentile is None:
            return float(max(self.pred_to_gt.max(), self.gt_to_pred.max()))
        if not 0 <= percentile <= 100:
            raise_percentile(percentile)
        return float(
            max(np.percentile(self.pred_to_gt, percentile), np.percentile(self.gt_to_pred, percentile))
        )

    def average_symmetric(self) -> float:
        """Mean of all distances of both directions (ASSD); NaN/inf when empty."""
        e = self.empty
        if e == "both":
            return math.nan
        if e is not None:
            return math.inf
        total = float(self.pred_to_gt.sum() + self.gt_to_pred.sum())
        return total / (self.pred_to_gt.size + self.gt_to_pred.size)

    def surface_dice(self, *, tolerance_mm: float) -> float:
        """Fraction of both surfaces within ``tolerance_mm`` of the other (NSD); NaN if both empty."""
        n = self.pred_to_gt.size + self.gt_to_pred.size
        if n == 0:
            return math.nan
        ok = np.count_nonzero(self.pred_to_gt <= tolerance_mm) + np.count_nonzero(
            self.gt_to_pred <= tolerance_mm
        )
        return ok / n


def raise_percentile(percentile: Any) -> None:
    """Raise the error for a percentile outside ``[0, 100]``."""
    raise InvalidInputError(f"percentile must be between 0 and 100, got {percentile!r}")


def pair_distances(
    pm: np.ndarray | None,
    gm: np.ndarray | None,
    spacing: tuple[float, ...],
    *,
    pred_surface: MaskSurface | None = None,
    gt_surface: MaskSurface | None = None,
) -> SurfaceDistances:
    """Surface distances of two masks zero-padded by :func:`.surface_walk.ring_pad` (internal).

    Precomputed :class:`MaskSurface` objects replace the corresponding mask.
    """
    ps = pred_surface if pred_surface is not None else MaskSurface(pm, spacing)  # type: ignore[arg-type]
    gs = gt_surface if gt_surface is not None else MaskSurface(gm, spacing)  # type: ignore[arg-type]
    if ps.empty or gs.empty:
        return SurfaceDistances(np.full(ps.idx.size, np.inf), np.full(gs.idx.size, np.inf))
    return SurfaceDistances(nearest_surface_distances(ps.idx, gs, src_box=ps.box),
                            nearest_surface_distances(gs.idx, ps, src_box=gs.box))


def pair_hausdorff(pm: np.ndarray, gm: np.ndarray, spacing: tuple[float, ...], *, percentile: float = 95.0,
                   boxes: tuple[Any, Any] | None = None) -> float:
    """Percentile Hausdorff distance of two masks zero-padded by :func:`.surface_walk.ring_pad` (internal).

    Equal to ``pair_distances(pm, gm, spacing).hausdorff(percentile=percentile)``, but only the
    distances up to the percentile's order statistics are computed (see :func:`.surface_select.percentile_need`).
    ``boxes``: the bounding boxes of ``pm`` and ``gm`` when the caller knows them.
    """
    ps = MaskSurface(pm, spacing, box=boxes[0] if boxes else True)
    gs = MaskSurface(gm, spacing, box=boxes[1] if boxes else True)
    if ps.empty or gs.empty:
        return SurfaceDistances(np.full(ps.idx.size, np.inf), np.full(gs.idx.size, np.inf)).hausdorff(
            percentile=percentile)
    directions = []
    for src, target in ((ps, gs), (gs, ps)):
        need = percentile_need(src.idx.size, percentile)
        out, todo, pts = nearest_smallest(src.idx, target, need=need, src_box=src.box)
        sel = PercentileSelection(pts, target, need - (src.idx.size - pts.size)) if pts.size else None
        directions.append((out, todo, sel))
    # far apart: the direction whose percentile may be the larger is measured first; the other one
    # only as far as needed to know that its percentile is not larger (the result is their maximum)
    floor = max((float(np.percentile(out, percentile)) for out, _, sel in directions if sel is None), default=None)
    for out, todo, sel in sorted((d for d in directions if d[2] is not None), key=lambda d: -d[2].hi):
        out[todo] = sel.finish(floor)
        p = float(np.percentile(out, percentile))
        floor = p if floor is None else max(floor, p)
    return floor  # type: ignore[return-value]  # the larger percentile of the two directions


def surface_distances(pred: np.ndarray, gt: np.ndarray, *, spacing: object) -> SurfaceDistances:
    """Distances between the surfaces of a predicted and a reference mask.

    Parameters
    ----------
    pred, gt
        Binary masks (bool or 0/1) of the same 2-D or 3-D shape, on the same voxel grid.
    spacing
        Voxel size in mm per array axis (a single number means isotropic).

    Returns
    -------
    SurfaceDistances
        Per-voxel distances of both directions; a direction whose source surface is empty has no
        entries, and when the *other* surface is empty its entries are ``inf``.
    """
    p = as_mask(pred, what="pred")
    g = as_mask(gt, what="gt")
    check_pair(p, g)
    sp = as_spacing(spacing, p.ndim)
    box = union_box(bounding_box(p), bounding_box(g))
    if box is None:
        return SurfaceDistances(np.empty(0), np.empty(0))
    pad = ring_pad(sp)
    return pair_distances(crop_padded(p, box, pad), crop_padded(g, box, pad), sp)


def hausdorff_distance(
    pred: np.ndarray, gt: np.ndarray, *, spacing: object, percentile: float | None = None
) -> float:
    """Symmetric (percentile) Hausdorff distance in mm between the surfaces of two masks.

    Parameters
    ----------
    pred, gt
        Binary masks of the same shape.
    spacing
        Voxel size in mm per array axis.
    percentile
        ``None`` for the maximum; e.g. ``95`` for HD95 (linear interpolation, as numpy/MONAI).

    Returns
    -------
    float
        Distance in mm; ``inf`` when exactly one mask is empty and NaN when both are (the
        convention-aware table in :func:`~napari_medai.core.metrics.compute_table` replaces these
        by the rule of the chosen convention).
    """
    if percentile is not None and not 0 <= float(percentile) <= 100:
        raise_percentile(percentile)
    if percentile is None:
        return surface_distances(pred, gt, spacing=spacing).hausdorff(percentile=None)
    p = as_mask(pred, what="pred")
    g = as_mask(gt, what="gt")
    check_pair(p, g)
    sp = as_spacing(spacing, p.ndim)
    box_p, box_g = bounding_box(p), bounding_box(g)
    if box_p is None or box_g is None:
        return math.nan if box_p is None and box_g is None else math.inf
    pad = ring_pad(sp, full=True)
    box = union_box(box_p, box_g)

    def in_crop(b: tuple[tuple[int, int], ...]) -> tuple[tuple[int, int], ...]:
        return tuple((b0 - c0 + q, b1 - c0 + q) for (b0, b1), (c0, _), q in zip(b, box, pad))

    # only the distances up to the percentile's two order statistics are computed (the rest is
    # ``inf``, which sorts after them), so the far tail of a pair costs nothing
    return pair_hausdorff(crop_padded(p, box, pad), crop_padded(g, box, pad), sp, percentile=float(percentile),
                          boxes=(in_crop(box_p), in_crop(box_g)))


def hausdorff95(pred: np.ndarray, gt: np.ndarray, *, spacing: object) -> float:
    """95th-percentile symmetric Hausdorff distance in mm (MONAI ``percentile=95``).

    See :func:`hausdorff_distance` for the empty-mask values.
    """
    return hausdorff_distance(pred, gt, spacing=spacing, percentile=95.0)


def assd(pred: np.ndarray, gt: np.ndarray, *, spacing: object) -> float:
    """Average symmetric surface distance in mm (MONAI ``SurfaceDistanceMetric(symmetric=True)``).

    ``inf`` when exactly one mask is empty, NaN when both are.
    """
    return surface_distances(pred, gt, spacing=spacing).average_symmetric()


def nsd(pred: np.ndarray, gt: np.ndarray, *, spacing: object, tolerance_mm: float) -> float:
    """Normalised surface Dice at ``tolerance_mm`` (MONAI ``SurfaceDiceMetric``, voxel surfaces).

    Parameters
    ----------
    pred, gt
        Binary masks of the same shape.
    spacing
        Voxel size in mm per array axis.
    tolerance_mm
        A surface voxel counts as agreeing when the other surface is at most this far (mm).

    Returns
    -------
    float
        In ``[0, 1]``; 0 when exactly one mask is empty, NaN when both are.
    """
    tol = check_tolerance(tolerance_mm)
    return surface_distances(pred, gt, spacing=spacing).surface_dice(tolerance_mm=tol)


def check_tolerance(tolerance_mm: object) -> float:
    try:
        tol = float(tolerance_mm)  # type: ignore[arg-type]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"tolerance_mm must be a number of mm, got {tolerance_mm!r}") from exc
    if not (np.isfinite(tol) and tol >= 0):
        raise InvalidInputError(f"tolerance_mm must be finite and >= 0, got {tolerance_mm!r}")
    return tol
