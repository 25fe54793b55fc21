"""Lesion-wise detection scores (ISLES 2022 and BraTS 2023 styles).

Lesions are 26-connected components (8-connected in 2-D) of a binary mask.

``isles`` (ISLES 2022)
    A ground-truth lesion is detected when any voxel of it is predicted; a predicted lesion is a
    false positive when none of its voxels is ground truth. No lesion is ignored.
``brats2023`` (BraTS 2023 lesion-wise metrics)
    Ground-truth lesions closer than the dilation reach are merged: the reference mask is dilated
    ``dilation_iterations`` times (3 for gliomas) with the 18-neighbourhood structure (4 in 2-D)
    and each connected component of the dilated mask is one lesion (its reference voxels).
    Predicted components that touch a lesion's dilated extent are matched to it. Reference
    lesions of at most ``min_lesion_mm3`` (50 mm^3, i.e. 50 voxels at BraTS's 1 mm grid; the
    official code compares the volume in mm^3) are left out of the counts and of the scores, but
    predictions touching them are not false positives. A missed lesion scores Dice 0 and HD95
    374 mm; so does each false-positive component.

Per ground-truth lesion *g* with matched predicted components *U_g*:
``dice_g = 2 |g & U_g| / (|g| + |U_g|)``. Case scores:
``lesion Dice = sum(dice_g) / (n_GT + n_FP)``, ``lesion HD95 = (sum(hd95_g) + 374 n_FP) /
(n_GT + n_FP)`` (BraTS 2023 only), ``lesion F1 = 2 TP / (2 TP + FP + FN)`` where TP counts
detected reference lesions. These are NaN when there is no lesion on either side; the
convention-aware table applies the empty rule of the convention.

Difference from the official BraTS code: the per-lesion HD95 here uses MONAI's voxel surfaces
(see :mod:`napari_medai.core.metrics.surface`), not DeepMind's surfel areas.
"""

from __future__ import annotations

import math
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import ndimage as ndi

from ..errors import InvalidInputError
from ._arrays import (
    as_mask,
    as_spacing,
    bounding_box,
    check_pair,
    crop_padded,
    fingerprint,
    union_box,
)
from .conventions import BRATS_LESION_HD95_MISS_MM
from .surface import SurfaceDistances, pair_hausdorff
from .surface_grid import MaskSurface
from .surface_walk import nearest_surface_distances, ring_pad

__all__ = ["LESION_STYLES", "LesionResult", "lesion_wise"]

LesionStyle = Literal["isles", "brats2023"]
LESION_STYLES: tuple[str, ...] = ("isles", "brats2023")

_DEFAULTS: dict[str, dict[str, Any]] = {
    "isles": {"dilation_iterations": 0, "min_lesion_mm3": None, "lesion_hd95": False},
    "brats2023": {"dilation_iterations": 3, "min_lesion_mm3": 50.0, "lesion_hd95": True},
}


@dataclass(frozen=True)
class LesionResult:
    """Lesion-wise scores of one prediction against one reference.

    Attributes
    ----------
    style
        ``"isles"`` or ``"brats2023"``.
    tp, fp, fn
        Detected reference lesions, predicted lesions matching no reference lesion, missed
        reference lesions (small ignored lesions excluded).
    n_gt, n_pred
        Reference lesions counted (after merging and ignoring small ones) and predicted lesions.
    n_ignored
        Reference lesions left out as too small.
    f1
        ``2 TP / (2 TP + FP + FN)``; NaN when there is no lesion on either side.
    dice
        ``sum(dice_g) / (n_GT + n_FP)``; NaN when there is no lesion on either side.
    hd95_mm
        BraTS 2023 lesion-wise HD95 (NaN in ``isles`` style or when undefined).
    lesions
        One dict per reference lesion: ``id``, ``voxels``, ``volume_mm3``, ``detected``,
        ``ignored``, ``dice`` and ``hd95_mm``.
    """

    style: str
    tp: int
    fp: int
    fn: int
    n_gt: int
    n_pred: int
    n_ignored: int
    f1: float
    dice: float
    hd95_mm: float
    lesions: list[dict[str, Any]] = field(default_factory=list)


def lesion_style_params(
    style: str, dilation_iterations: int | None, min_lesion_mm3: float | None
) -> tuple[int, float | None, bool]:
    if style not in _DEFAULTS:
        raise InvalidInputError(f"lesion style must be one of {', '.join(LESION_STYLES)}, got {style!r}")
    d = _DEFAULTS[style]
    dil = d["dilation_iterations"] if dilation_iterations is None else dilation_iterations
    if isinstance(dil, bool) or not isinstance(dil, (int, np.integer)) or dil < 0:
        raise InvalidInputError(f"dilation_iterations must be a whole number >= 0, got {dilation_iterations!r}")
    thr = d["min_lesion_mm3"] if min_lesion_mm3 is None else float(min_lesion_mm3)
    if thr is not None and not (math.isfinite(thr) and thr >= 0):
        raise InvalidInputError(f"min_lesion_mm3 must be >= 0, got {min_lesion_mm3!r}")
    return int(dil), thr, bool(d["lesion_hd95"])


def lesion_wise(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    spacing: object,
    style: str = "isles",
    dilation_iterations: int | None = None,
    min_lesion_mm3: float | None = None,
) -> LesionResult:
    """Lesion-wise detection counts, F1, Dice (and BraTS HD95) of two binary masks.

    Parameters
    ----------
    pred, gt
        Binary masks of the same 2-D or 3-D shape.
    spacing
        Voxel size in mm per array axis.
    style
        ``"isles"`` (any-overlap matching) or ``"brats2023"`` (dilated matching, small lesions
        ignored); see the module docstring.
    dilation_iterations
        Override of the style's dilation (BraTS: 3 for gliomas, 1 for meningioma/metastases).
    min_lesion_mm3
        Override of the style's small-lesion threshold (reference lesions with volume <= this
        are ignored; BraTS: 50).

    Returns
    -------
    LesionResult
    """
    p = as_mask(pred, what="pred")
    g = as_mask(gt, what="gt")
    check_pair(p, g)
    sp = as_spacing(spacing, p.ndim)
    dil, thr, with_hd = lesion_style_params(style, dilation_iterations, min_lesion_mm3)
    box = union_box(bounding_box(p), bounding_box(g))
    if box is None:
        return lesions_padded(np.zeros((1,) * p.ndim, bool), np.zeros((1,) * p.ndim, bool), sp,
                              style=style, dilation=dil, min_mm3=thr, with_hd=with_hd)
    pad = (dil + 1,) * p.ndim
    return lesions_padded(crop_padded(p, box, pad), crop_padded(g, box, pad), sp,
                          style=style, dilation=dil, min_mm3=thr, with_hd=with_hd)


def _dilate(mask: np.ndarray, iterations: int) -> np.ndarray:
    """Binary dilation with the structure of all neighbours but the corners (18 in 3-D).

    Shift-and-OR on a mask with at least ``iterations`` zero voxels on every side.
    """
    nd = mask.ndim
    if nd == 3 and all(n >= 3 for n in mask.shape):
        return _dilate18(mask, iterations)
    offsets = [
        o for o in np.ndindex(*(3,) * nd)
        if 0 < sum(abs(c - 1) for c in o) <= max(1, nd - 1)
    ]
    cur = mask
    for _ in range(iterations):
        out = cur.copy()
        for o in offsets:
            dst, src = [], []
            for c in o:
                s = c - 1
                dst.append(slice(max(s, 0), cur.shape[len(dst)] + min(s, 0)))
                src.append(slice(max(-s, 0), cur.shape[len(src)] + min(-s, 0)))
            out[tuple(dst)] |= cur[tuple(src)]
        cur = out
    return cur


def _dilate18(mask: np.ndarray, iterations: int) -> np.ndarray:
    """:func:`_dilate` in 3-D: the 18-neighbourhood is the union of the three axis-plane 3x3 squares,
    each a separable dilation, done by fixed steps on the flat C-order array (the zero margin of at
    least ``iterations`` voxels keeps every step that wraps around a row away from True voxels)."""
    shape = mask.shape
    steps = (shape[1] * shape[2], shape[2], 1)

    def grow(a: np.ndarray, step: int) -> np.ndarray:
        out = a.copy()
        out[step:] |= a[:-step]
        out[:-step] |= a[step:]
        return out

    cur = np.ascontiguousarray(mask).reshape(-1)
    for _ in range(iterations):
        dz, dy = grow(cur, steps[0]), grow(cur, steps[1])
        out = grow(dz, steps[1])  # the 3x3 square in the (z, y) plane
        out |= grow(dz, steps[2])  # (z, x)
        out |= grow(dy, steps[2])  # (y, x)
        cur = out
    return cur.reshape(shape)


def lesions_padded(
    pm: np.ndarray,
    gm: np.ndarray,
    spacing: tuple[float, ...],
    *,
    style: str,
    dilation: int,
    min_mm3: float | None,
    with_hd: bool,
    memo: MutableMapping[Any, Any] | None = None,
    whole_hd95: float | None = None,
    pred_labels: tuple[np.ndarray, int] | None = None,
    cropped: bool = False,
    distances: tuple[np.ndarray, ...] | None = None,
) -> LesionResult:
    """Lesion-wise scores of two masks zero-padded by at least ``dilation`` voxels (internal).

    ``memo`` keeps the reference-side labelling for reuse (keyed by the reference crop);
    ``whole_hd95`` is the HD95 of the two whole masks, reused for a single lesion matched by
    every predicted component (the two are then the same masks). ``pred_labels`` are the
    26-connected components of ``pm`` already known (labels ``1..n`` in any order, same shape as
    ``pm``, and the count ``n``); the scores do not depend on how they are numbered.
    ``cropped``: use the masks as they are instead of cropping them to their union first (they
    must still have ``dilation + 1`` zero voxels around their foreground; the result does not
    depend on the crop). ``distances``: the surface distances of the two whole masks on this crop
    (``pred surface flat indices, pred->gt, gt surface flat indices, gt->pred, flat index of each gt
    voxel's nearest pred voxel``, as kept by the live table); with a single reference lesion its HD95
    then comes from them (the prediction's unmatched components left out) instead of from scratch.
    """
    nd = pm.ndim
    if cropped:
        if not (pm.any() or gm.any()):
            return LesionResult(style, 0, 0, 0, 0, 0, 0, math.nan, math.nan, math.nan, [])
    else:
        box = union_box(bounding_box(pm), bounding_box(gm))
        if box is None:
            return LesionResult(style, 0, 0, 0, 0, 0, 0, math.nan, math.nan, math.nan, [])
        # work on the union of the two masks only (plus the dilation margin)
        pad = (dilation + 1,) * nd
        pm = crop_padded(pm, box, pad)
        gm = crop_padded(gm, box, pad)
    full = np.ones((3,) * nd, dtype=bool)
    # components are labelled on each mask's own bounding box, then embedded in the crop
    if pred_labels is not None:
        plab, n_pred = pred_labels[0], int(pred_labels[1])
        if not cropped:
            plab = crop_padded(plab, box, pad)
    else:
        plab, n_pred = _label_in_box(pm, full, 0, boxes=False)[:2]
    gkey = ("lesions-gt", fingerprint(gm), dilation) if memo is not None else None
    cached = memo.get(gkey) if memo is not None else None
    if cached is None:
        cached = reference_lesions(gm, dilation)
        if memo is not None:
            memo[gkey] = cached
    reach, n_gt_all, gboxes, gsize = cached
    # everything else reads the labels at the foreground voxels only
    pidx = np.flatnonzero(pm)
    p_comp = plab.ravel()[pidx]
    p_reach = reach.ravel()[pidx]
    p_in_gt = gm.ravel()[pidx]
    psize = np.bincount(p_comp, minlength=n_pred + 1)
    inter = np.bincount(p_reach[p_in_gt], minlength=n_gt_all + 1)
    touch = p_reach > 0
    codes = p_reach[touch].astype(np.int64) * (n_pred + 1) + p_comp[touch]
    n_codes = (n_gt_all + 1) * (n_pred + 1)
    if n_codes <= max(1 << 20, 4 * codes.size):
        pairs = np.flatnonzero(np.bincount(codes, minlength=n_codes))  # = np.unique(codes), no sort
    else:
        pairs = np.unique(codes)
    pair_g = pairs // (n_pred + 1)
    pair_p = pairs % (n_pred + 1)

    def single_hd() -> float:
        return _single_lesion_hd95(distances, plab, pair_p, spacing, n_pred)

    def multi_hd(want: np.ndarray) -> np.ndarray:
        return _lesion_hd95(reach, gm, plab, gboxes, pair_g, pair_p, want, spacing, voxels=(pidx, p_comp))

    return score_lesions(style, n_pred=n_pred, psize=psize, inter=inter, pair_g=pair_g, pair_p=pair_p,
                         gsize=gsize, spacing=spacing, min_mm3=min_mm3, with_hd=with_hd,
                         whole_hd95=whole_hd95, single_hd=single_hd if distances is not None else None,
                         multi_hd=multi_hd)


def reference_lesions(gm: np.ndarray, dilation: int) -> tuple[np.ndarray, int, list[tuple[tuple[int, int], ...]], np.ndarray]:
    """The reference side of the lesion-wise scores of a mask padded by at least ``dilation`` voxels.

    Returns the lesion labels of each voxel within the lesions' reach (the components of the
    mask dilated ``dilation`` times; int32, the mask's shape), their number, their boxes and the
    reference voxel count of each lesion (index = label, 0 first).
    """
    full = np.ones((3,) * gm.ndim, dtype=bool)
    reach, n_gt_all, gboxes = _label_in_box(gm, full, dilation)
    gsize = np.bincount(reach.ravel()[np.flatnonzero(gm)], minlength=n_gt_all + 1)
    return reach, n_gt_all, gboxes, gsize


def score_lesions(
    style: str,
    *,
    n_pred: int,
    psize: np.ndarray,
    inter: np.ndarray,
    pair_g: np.ndarray,
    pair_p: np.ndarray,
    gsize: np.ndarray,
    spacing: tuple[float, ...],
    min_mm3: float | None,
    with_hd: bool,
    whole_hd95: float | None = None,
    single_hd: Callable[[], float] | None = None,
    multi_hd: Callable[[np.ndarray], np.ndarray] | None = None,
) -> LesionResult:
    """Lesion-wise scores from the counts that determine them (internal).

    ``psize``: voxels per predicted component (index = its label, ``n_pred`` labels);
    ``inter``: per reference lesion, the predicted voxels among its reference voxels; ``pair_g``,
    ``pair_p``: the (reference lesion, predicted component) pairs that touch (each once);
    ``gsize``: reference voxels per lesion. ``single_hd()`` gives the HD95 of a single reference
    lesion against its matched components; ``multi_hd(want)`` the HD95 of each wanted lesion.
    """
    n_gt_all = gsize.size - 1
    voxel_mm3 = float(np.prod(spacing))
    matched_preds = np.unique(pair_p)
    fp = int(n_pred - matched_preds.size)
    detected = np.zeros(n_gt_all + 1, dtype=bool)
    detected[pair_g] = True
    matched_size = np.bincount(pair_g, weights=psize[pair_p], minlength=n_gt_all + 1)
    ids = np.arange(1, n_gt_all + 1)
    vol = gsize[1:] * voxel_mm3
    ignored = (vol <= min_mm3) if min_mm3 is not None else np.zeros(n_gt_all, dtype=bool)
    kept = ~ignored
    det = detected[1:]
    dice_g = 2.0 * inter[1:] / (gsize[1:] + matched_size[1:])
    tp = int(np.count_nonzero(det & kept))
    fn = int(np.count_nonzero(~det & kept))
    n_gt = int(np.count_nonzero(kept))
    den = n_gt + fp
    lesion_dice = float(dice_g[kept].sum() / den) if den else math.nan
    f1 = 2 * tp / (2 * tp + fp + fn) if (2 * tp + fp + fn) else math.nan
    hd_g = np.full(n_gt_all, math.nan)
    lesion_hd = math.nan
    if with_hd:
        want = det & kept
        if (whole_hd95 is not None and math.isfinite(whole_hd95) and n_gt_all == 1
                and matched_preds.size == n_pred and want.all()):
            hd_g = np.array([float(whole_hd95)])
        elif single_hd is not None and n_gt_all == 1 and want.all():
            hd_g = np.array([single_hd()])
        elif multi_hd is not None:
            hd_g = multi_hd(want)
        hd_g[~det] = BRATS_LESION_HD95_MISS_MM
        if den:
            lesion_hd = float((hd_g[kept].sum() + BRATS_LESION_HD95_MISS_MM * fp) / den)
    rows = [
        {
            "id": int(i),
            "voxels": int(gsize[i]),
            "volume_mm3": float(vol[i - 1]),
            "detected": bool(det[i - 1]),
            "ignored": bool(ignored[i - 1]),
            "dice": float(dice_g[i - 1]),
            "hd95_mm": float(hd_g[i - 1]),
        }
        for i in ids
    ]
    return LesionResult(
        style=style, tp=tp, fp=fp, fn=fn, n_gt=n_gt, n_pred=int(n_pred),
        n_ignored=int(np.count_nonzero(ignored)), f1=f1, dice=lesion_dice, hd95_mm=lesion_hd,
        lesions=rows,
    )


def scores_from_counts(
    counts: Any,
    plab: np.ndarray,
    n_pred: int,
    style: str,
    spacing: tuple[float, ...],
    *,
    min_mm3: float | None,
    with_hd: bool,
    whole_hd95: float | None = None,
    distances: tuple[np.ndarray, ...] | None = None,
) -> LesionResult:
    """Lesion-wise scores from kept counts (internal; the live table's
    :class:`~napari_medai.core.metrics._live.LesionCounts`), equal to :func:`lesions_padded`'s.

    ``counts`` has ``psize``, ``inter``, ``gsize``, ``reach``, ``gm``, ``gboxes``,
    ``pair_arrays()`` and ``boxes(ids)``; ``plab`` and ``n_pred`` are the prediction's components
    (``n_pred`` of them, labelled with values up to ``psize.size - 1``, some perhaps unused);
    ``whole_hd95`` and ``distances`` as for :func:`lesions_padded`.
    """
    pair_g, pair_p = counts.pair_arrays()

    def single_hd() -> float:
        return _single_lesion_hd95(distances, plab, pair_p, spacing, counts.psize.size - 1)

    def multi_hd(want: np.ndarray) -> np.ndarray:
        return _lesion_hd95(counts.reach, counts.gm, plab, counts.gboxes, pair_g, pair_p, want, spacing,
                            pboxes=counts.boxes)

    return score_lesions(style, n_pred=n_pred, psize=counts.psize, inter=counts.inter, pair_g=pair_g,
                         pair_p=pair_p, gsize=counts.gsize, spacing=spacing, min_mm3=min_mm3, with_hd=with_hd,
                         whole_hd95=whole_hd95, single_hd=single_hd if distances is not None else None,
                         multi_hd=multi_hd)


def _label_in_box(
    mask: np.ndarray, structure: np.ndarray, dilation: int, *, boxes: bool = True
) -> tuple[np.ndarray, int, list[tuple[tuple[int, int], ...]]]:
    """Connected components of ``mask`` (dilated first when ``dilation``), as a crop-sized array.

    For a dilation the labels are those of the dilated mask (lesions merged by their reach);
    ``mask`` needs ``dilation`` zero voxels on every side. Also returns each component's box
    (crop coordinates; an empty list when ``boxes`` is False).
    """
    out = np.zeros(mask.shape, dtype=np.int32)
    box = bounding_box(mask)
    if box is None:
        return out, 0, []
    sl = tuple(slice(max(b0 - dilation, 0), min(b1 + dilation, n)) for (b0, b1), n in zip(box, mask.shape))
    sub = mask[sl]
    if dilation:
        sub = _dilate(sub, dilation)  # ``sl`` holds the margin the dilation reaches
    lab, n = ndi.label(sub, structure=structure, output=np.int32)
    out[sl] = lab
    if not boxes:
        return out, int(n), []
    found = [
        tuple((int(o.start) + s.start, int(o.stop) + s.start) for o, s in zip(obj, sl))
        for obj in ndi.find_objects(lab)
    ]
    return out, int(n), found


def _lesion_hd95(
    reach: np.ndarray,
    gm: np.ndarray,
    plab: np.ndarray,
    gboxes: list[tuple[tuple[int, int], ...]],
    pair_g: np.ndarray,
    pair_p: np.ndarray,
    want: np.ndarray,
    spacing: tuple[float, ...],
    voxels: tuple[np.ndarray, np.ndarray] | None = None,
    pboxes: Callable[[np.ndarray], dict[int, tuple[tuple[int, int], ...]]] | None = None,
) -> np.ndarray:
    """HD95 between each wanted reference lesion and the union of its matched components.

    ``voxels``: the flat indices of the prediction's voxels and their labels in ``plab``, from
    which the boxes of the matched components are found (instead of reading all of ``plab``);
    ``pboxes(ids)``: boxes holding each of those components (any box that holds all of a
    component's voxels gives the same result), when known otherwise.
    """
    out = np.full(want.size, math.nan)
    pad = ring_pad(spacing)
    wanted = np.flatnonzero(want) + 1
    ids = np.unique(pair_p[np.isin(pair_g, wanted)])
    if pboxes is not None:
        boxes = pboxes(ids)
    elif voxels is not None:
        boxes = _component_boxes_of(voxels[0], voxels[1], ids, plab.shape)
    else:
        boxes = _component_boxes(plab, ids)
    for gi in wanted:
        comps = pair_p[pair_g == gi]
        box = gboxes[gi - 1]
        for c in comps:
            box = union_box(box, boxes[int(c)])
        gsub = (crop_padded(reach, box, pad) == gi) & crop_padded(gm, box, pad)
        if comps.size == 1:
            psub = crop_padded(plab, box, pad) == comps[0]
        else:
            lut = np.zeros(int(comps.max()) + 1, dtype=bool)
            lut[comps] = True
            sub = crop_padded(plab, box, pad)
            psub = lut[np.minimum(sub, lut.size - 1)] & (sub <= comps.max())
        out[gi - 1] = pair_hausdorff(psub, gsub, spacing, percentile=95.0)
    return out


def _single_lesion_hd95(distances: tuple[np.ndarray, ...], plab: np.ndarray, pair_p: np.ndarray,
                        spacing: tuple[float, ...], max_label: int) -> float:
    """HD95 of the one reference lesion (all of the reference mask) and its matched components.

    Components are 26-connected apart, so leaving some out removes their surface voxels and
    changes no other voxel's surface status: the prediction side keeps the distances of the
    matched components' voxels; a reference voxel whose nearest prediction voxel was left out is
    measured again against the matched surface only (the others keep a distance that a kept
    voxel reaches).
    """
    pidx, d_pg, gidx, d_gp, nn_gp = distances
    lut = np.zeros(int(max_label) + 1, dtype=bool)  # labels are at most max_label
    lut[np.unique(pair_p)] = True
    flat = plab.reshape(-1)
    keep = lut[flat[pidx]]
    ok = lut[flat[nn_gp]]
    d_g = d_gp
    if not ok.all():
        target = MaskSurface.from_indices(pidx[keep], plab.shape, spacing)
        d_g = d_gp.copy()
        d_g[~ok] = nearest_surface_distances(gidx[~ok], target)
    return SurfaceDistances(d_pg[keep], d_g).hausdorff(percentile=95.0)


def _component_boxes_of(
    flat: np.ndarray, comp: np.ndarray, ids: np.ndarray, shape: tuple[int, ...]
) -> dict[int, tuple[tuple[int, int], ...]]:
    """Bounding box of each label in ``ids``, from the flat indices of the labelled voxels and their labels."""
    if ids.size == 0:
        return {}
    if ids.size == 1:
        coords = np.unravel_index(flat[comp == ids[0]], shape)
        return {int(ids[0]): tuple((int(x.min()), int(x.max()) + 1) for x in coords)}
    lut = np.zeros(int(max(comp.max(), ids.max())) + 1, dtype=bool)
    lut[ids] = True
    sel = lut[comp]
    c = comp[sel]
    order = np.argsort(c, kind="stable")
    c = c[order]
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    coords = np.unravel_index(flat[sel][order], shape)
    lo = [np.minimum.reduceat(x, starts) for x in coords]
    hi = [np.maximum.reduceat(x, starts) for x in coords]
    return {int(c[s]): tuple((int(a[k]), int(b[k]) + 1) for a, b in zip(lo, hi)) for k, s in enumerate(starts)}


def _component_boxes(lab: np.ndarray, ids: np.ndarray) -> dict[int, tuple[tuple[int, int], ...]]:
    """Bounding box of each label in ``ids`` (labels may be numbered in any order)."""
    if ids.size == 0:
        return {}
    found = ndi.find_objects(lab, max_label=int(ids.max()))
    return {int(i): tuple((int(s.start), int(s.stop)) for s in found[int(i) - 1]) for i in ids}
