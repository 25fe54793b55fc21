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


def lesion_list(
    pred: np.ndarray, gt: np.ndarray, *, spacing: tuple[float, ...]
) -> list[dict[str, object]]:
    """Every connected lesion of both masks with its status, for a clickable lesion table.

    Lesions are 26-connected (8 in 2-D) components. A reference lesion overlapping any predicted
    voxel is ``TP`` (ISLES 2022 matching), else ``FN``; a predicted lesion overlapping no
    reference voxel is ``FP``. Centroids are array indices (float), volumes in ml.
    """
    from scipy import ndimage as ndi

    p = np.asarray(pred, dtype=bool)
    g = np.asarray(gt, dtype=bool)
    if p.shape != g.shape:
        raise InvalidInputError(f"masks differ in shape {p.shape} vs {g.shape}; resample first")
    structure = np.ones((3,) * p.ndim, dtype=bool)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    out: list[dict[str, object]] = []
    for source, mask, other, hit, miss in (("gt", g, p, "TP", "FN"), ("pred", p, g, None, "FP")):
        lab, n = ndi.label(mask, structure=structure)
        if n == 0:
            continue
        idx = np.arange(1, n + 1)
        sizes = ndi.sum_labels(np.ones_like(lab), lab, idx)
        overlap = ndi.sum_labels(other, lab, idx)
        centroids = ndi.center_of_mass(mask, lab, idx)
        for i in range(n):
            found = overlap[i] > 0
            if source == "pred" and found:
                continue  # a predicted lesion touching the reference is listed as that TP lesion
            out.append({
                "source": source,
                "status": hit if found else miss,
                "voxels": int(sizes[i]),
                "volume_ml": float(sizes[i]) * voxel_ml,
                "centroid": tuple(float(c) for c in centroids[i]),
            })
    order = {"FN": 0, "FP": 1, "TP": 2}
    out.sort(key=lambda d: (order[str(d["status"])], -float(d["volume_ml"])))
    for i, d in enumerate(out, 1):
        d["id"] = i
    return out
