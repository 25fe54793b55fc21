"""Classification metrics: ROC AUC and accuracy, typed and checked.

:func:`roc_auc` is the Mann-Whitney U statistic divided by ``n_pos * n_neg``: the probability that
a random positive scores above a random negative, ties counting one half (Hanley & McNeil 1982;
the value scikit-learn's ``roc_auc_score`` gives).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidInputError

__all__ = ["accuracy", "roc_auc"]


def roc_auc(scores: Sequence[float] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (1 positive, 0 negative).

    Raises
    ------
    InvalidInputError
        Shapes differ, labels are not 0/1, or only one class is present (the AUC is undefined:
        give cases of both classes).
    """
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise InvalidInputError(f"roc_auc: {s.size} scores for {y.size} labels; give one score per label")
    if not np.isin(y, (0, 1)).all():
        raise InvalidInputError("roc_auc: labels must be 0 or 1")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise InvalidInputError("roc_auc: needs both positive and negative cases (the AUC is undefined otherwise)")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(s.size, dtype=float)
    sorted_s = s[order]
    i = 0
    while i < s.size:  # average ranks of ties
        j = i
        while j + 1 < s.size and sorted_s[j + 1] == sorted_s[i]:
            j += 1
        ranks[order[i : j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def accuracy(predicted: Sequence[int] | np.ndarray, labels: Sequence[int] | np.ndarray) -> float:
    """Fraction of ``predicted`` equal to ``labels`` (same shape)."""
    p, y = np.asarray(predicted).ravel(), np.asarray(labels).ravel()
    if p.shape != y.shape or p.size == 0:
        raise InvalidInputError(f"accuracy: {p.size} predictions for {y.size} labels; give one per label (and some)")
    return float(np.mean(p == y))
