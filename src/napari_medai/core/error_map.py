"""Voxel-wise agreement map: true positive / false positive / false negative per region."""

from __future__ import annotations

import numpy as np

from .errors import InvalidInputError

#: Codes of the error map (0 = true negative / background).
TP, FP, FN = 1, 2, 3
ERROR_MAP_NAMES = {TP: "true positive", FP: "false positive", FN: "false negative"}
ERROR_MAP_COLOURS = {TP: (0.2, 0.8, 0.2, 1.0), FP: (1.0, 0.25, 0.25, 1.0), FN: (0.25, 0.5, 1.0, 1.0)}


def error_map(pred: np.ndarray, gt: np.ndarray, *, labels: tuple[int, ...]) -> np.ndarray:
    """Error map of the region made of ``labels`` (TP=1, FP=2, FN=3, else 0).

    Parameters
    ----------
    pred, gt
        Label maps of the same shape.
    labels
        Label values that make up the region (e.g. ``(1, 2, 4)`` for BraTS 2021 whole tumour).
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise InvalidInputError(
            f"prediction shape {pred.shape} differs from ground truth {gt.shape}; resample first"
        )
    if not labels:
        raise InvalidInputError("a region needs at least one label value")
    p = np.isin(pred, labels)
    g = np.isin(gt, labels)
    out = np.zeros(pred.shape, dtype=np.uint8)
    out[p & g] = TP
    out[p & ~g] = FP
    out[~p & g] = FN
    return out


def error_counts(emap: np.ndarray) -> dict[str, int]:
    """Voxel counts per error class."""
    counts = np.bincount(np.asarray(emap, dtype=np.uint8).ravel(), minlength=4)
    return {"tp": int(counts[TP]), "fp": int(counts[FP]), "fn": int(counts[FN])}


def _components(mask: np.ndarray, cache: dict | None) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """26-connected components of ``mask``: labels, count, sizes and centroids (cached by content)."""
    from scipy import ndimage as ndi

    from .metrics._arrays import fingerprint

    key = fingerprint(mask) if cache is not None else None
    if key is not None and key in cache:
        return cache[key]
    lab, n = ndi.label(mask, structure=np.ones((3,) * mask.ndim, dtype=bool))
    flat = lab.ravel()
    sizes = np.bincount(flat, minlength=n + 1)
    coords = np.indices(mask.shape).reshape(mask.ndim, -1)
    sel = flat > 0
    sums = np.stack([np.bincount(flat[sel], weights=c[sel], minlength=n + 1) for c in coords], axis=1)
    centroids = sums[1:] / np.maximum(sizes[1:, None], 1)
    out = (lab, n, sizes[1:], centroids)
    if key is not None:
        if len(cache) > 8:
            cache.clear()
        cache[key] = out
    return out


def lesion_list(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    spacing: tuple[float, ...],
    labels: tuple[int, ...] | None = None,
    cache: dict | None = None,
) -> list[dict[str, object]]:
    """Every connected lesion of both masks with its status, for a clickable lesion table.

    Parameters
    ----------
    pred, gt
        Masks, or label maps when ``labels`` is given.
    spacing
        Voxel size in mm per array axis.
    labels
        Label values that make up the lesion mask (default: any non-zero value).
    cache
        Optional dict reused between calls: components of an unchanged mask (e.g. the ground
        truth while the prediction is painted) are not recomputed.

    Lesions are 26-connected (8 in 2-D) components. A reference lesion overlapping any predicted
    voxel is ``TP`` (ISLES 2022 matching), else ``FN``; a predicted lesion overlapping no
    reference voxel is ``FP``. Centroids are array indices (float), volumes in ml.
    """
    from .metrics._arrays import bounding_box, union_box

    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise InvalidInputError(f"masks differ in shape {pred.shape} vs {gt.shape}; resample first")
    out: list[dict[str, object]] = []
    # only the bounding box of all foreground matters (a brain volume is mostly background)
    box = union_box(bounding_box(pred), bounding_box(gt))
    if box is None:
        return out
    sl = tuple(slice(a, b) for a, b in box)
    offset = np.asarray([a for a, _ in box], dtype=float)
    if labels is None:
        p, g = pred[sl] != 0, gt[sl] != 0
    else:
        p, g = np.isin(pred[sl], labels), np.isin(gt[sl], labels)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    for source, mask, other, hit, miss in (("gt", g, p, "TP", "FN"), ("pred", p, g, None, "FP")):
        lab, n, sizes, centroids = _components(mask, cache)
        if n == 0:
            continue
        overlap = np.bincount(lab[other].ravel(), minlength=n + 1)[1:]
        for i in range(n):
            found = overlap[i] > 0
            if source == "pred" and found:
                continue  # a predicted lesion touching the reference is listed as that TP lesion
            out.append({
                "source": source,
                "status": hit if found else miss,
                "voxels": int(sizes[i]),
                "volume_ml": float(sizes[i]) * voxel_ml,
                "centroid": tuple(float(c) for c in centroids[i] + offset),
            })
    order = {"FN": 0, "FP": 1, "TP": 2}
    out.sort(key=lambda d: (order[str(d["status"])], -float(d["volume_ml"])))
    for i, d in enumerate(out, 1):
        d["id"] = i
    return out
