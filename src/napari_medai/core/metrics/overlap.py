"""Voxel-overlap metrics: Dice, IoU, sensitivity, specificity, volumes.

All functions take two binary masks of the same shape. Dice follows MONAI's ``DiceMetric``
(``2 |P & G| / (|P| + |G|)``); the values for empty masks are given per function. The
convention-aware table (:func:`~napari_medai.core.metrics.compute_table`) replaces undefined
values by the rule of the chosen convention and says so.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ._arrays import as_mask, as_spacing, check_pair

__all__ = [
    "ConfusionCounts",
    "confusion_counts",
    "dice",
    "iou",
    "sensitivity",
    "specificity",
    "volume_ml",
]


@dataclass(frozen=True)
class ConfusionCounts:
    """Voxel counts of a prediction against a reference.

    Attributes
    ----------
    tp, fp, fn, tn
        True/false positive/negative voxel counts over the whole image.
    """

    tp: int
    fp: int
    fn: int
    tn: int

    @property
    def n_pred(self) -> int:
        return self.tp + self.fp

    @property
    def n_gt(self) -> int:
        return self.tp + self.fn

    @property
    def total(self) -> int:
        return self.tp + self.fp + self.fn + self.tn

    def dice(self) -> float:
        """``2 TP / (2 TP + FP + FN)``; NaN when both masks are empty."""
        den = 2 * self.tp + self.fp + self.fn
        return math.nan if den == 0 else 2 * self.tp / den

    def iou(self) -> float:
        """``TP / (TP + FP + FN)`` (Jaccard); NaN when both masks are empty."""
        den = self.tp + self.fp + self.fn
        return math.nan if den == 0 else self.tp / den

    def sensitivity(self) -> float:
        """``TP / (TP + FN)`` (recall); NaN when the reference is empty."""
        den = self.tp + self.fn
        return math.nan if den == 0 else self.tp / den

    def specificity(self) -> float:
        """``TN / (TN + FP)``; NaN when the reference covers the whole image."""
        den = self.tn + self.fp
        return math.nan if den == 0 else self.tn / den


def confusion_counts(pred: np.ndarray, gt: np.ndarray) -> ConfusionCounts:
    """Voxel confusion counts of two binary masks of the same shape.

    Parameters
    ----------
    pred, gt
        Binary masks (bool or 0/1).

    Returns
    -------
    ConfusionCounts
    """
    p = as_mask(pred, what="pred")
    g = as_mask(gt, what="gt")
    check_pair(p, g)
    n_p = int(np.count_nonzero(p))
    n_g = int(np.count_nonzero(g))
    tp = int(np.count_nonzero(p & g)) if n_p and n_g else 0
    return ConfusionCounts(tp=tp, fp=n_p - tp, fn=n_g - tp, tn=p.size - n_p - n_g + tp)


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    """Dice similarity coefficient ``2 |P & G| / (|P| + |G|)``.

    Parameters
    ----------
    pred, gt
        Binary masks of the same shape.

    Returns
    -------
    float
        In ``[0, 1]``; NaN when both masks are empty (undefined), 0 when exactly one is.
    """
    return confusion_counts(pred, gt).dice()


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    """Intersection over union (Jaccard index); NaN when both masks are empty."""
    return confusion_counts(pred, gt).iou()


def sensitivity(pred: np.ndarray, gt: np.ndarray) -> float:
    """True-positive rate ``TP / (TP + FN)``; NaN when the reference is empty."""
    return confusion_counts(pred, gt).sensitivity()


def specificity(pred: np.ndarray, gt: np.ndarray) -> float:
    """True-negative rate ``TN / (TN + FP)`` over the whole image (depends on the field of view)."""
    return confusion_counts(pred, gt).specificity()


def volume_ml(mask: np.ndarray, *, spacing: object) -> float:
    """Volume of a mask in millilitres (a 2-D mask counts as a 1 mm thick slab).

    Parameters
    ----------
    mask
        Binary mask.
    spacing
        Voxel size in mm per array axis.
    """
    m = as_mask(mask, what="mask")
    sp = as_spacing(spacing, m.ndim)
    return int(np.count_nonzero(m)) * float(np.prod(sp)) / 1000.0
