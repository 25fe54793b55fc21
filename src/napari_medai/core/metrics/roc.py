"""ROC curves, AUC and DeLong's variance, confidence interval and paired test.

* :func:`roc_curve` -- the empirical ROC points (false-positive rate, true-positive rate) at every
  distinct score, highest threshold first, starting at (0, 0) and ending at (1, 1).
* :func:`delong_auc` -- the AUC (the Mann-Whitney statistic, equal to
  :func:`napari_medai.core.metrics.classification.roc_auc`) with DeLong's variance and a normal
  confidence interval clipped to [0, 1] (what pROC's ``ci.auc(method="delong")`` reports).
* :func:`delong_test` -- DeLong's test of two correlated AUCs (two scores on the same cases).

DeLong, DeLong & Clarke-Pearson 1988 (Biometrics 44:837). With ``m`` positives ``X_i`` and ``n``
negatives ``Y_j`` and the kernel ``psi(x, y) = 1 if x > y, 1/2 if x == y, 0 otherwise``:

* structural components ``V10_i = mean_j psi(X_i, Y_j)`` and ``V01_j = mean_i psi(X_i, Y_j)``;
* ``AUC = mean(V10) = mean(V01)``;
* ``S10`` and ``S01`` are the sample covariance matrices (``ddof=1``) of the components across
  scores (1 x 1 for one score), and ``Var(AUC) = S10 / m + S01 / n``.

The components are computed from mid-ranks (Sun & Xu 2014, IEEE SPL 21:1389), exact with ties, in
``O((m + n) log(m + n))``: ``V10_i = (rank of X_i among all - rank of X_i among positives) / n``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError

__all__ = ["AucEstimate", "PairedAucTest", "RocCurve", "delong_auc", "delong_test", "roc_curve"]

ArrayLike = Sequence[float] | np.ndarray


@dataclass(frozen=True)
class RocCurve:
    """Empirical ROC points, one per distinct threshold (highest first).

    ``fpr[k]`` and ``tpr[k]`` are the rates of calling positive every case scoring ``>= thresholds[k]``;
    the first point (threshold ``+inf``) is (0, 0), the last (1, 1).
    """

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready lists (``+inf`` written as ``None``)."""
        return {"fpr": [float(v) for v in self.fpr], "tpr": [float(v) for v in self.tpr],
                "thresholds": [None if not np.isfinite(t) else float(t) for t in self.thresholds]}


@dataclass(frozen=True)
class AucEstimate:
    """One AUC with DeLong's variance and a two-sided normal confidence interval."""

    auc: float
    variance: float
    ci_low: float
    ci_high: float
    confidence: float
    n_positive: int
    n_negative: int

    @property
    def standard_error(self) -> float:
        return math.sqrt(self.variance)

    def to_dict(self) -> dict[str, float | int]:
        return {"auc": self.auc, "variance": self.variance, "standard_error": self.standard_error,
                "ci_low": self.ci_low, "ci_high": self.ci_high, "confidence": self.confidence,
                "n_positive": self.n_positive, "n_negative": self.n_negative}

    def summary(self) -> str:
        pct = f"{100 * self.confidence:g}%"
        return (f"AUC {self.auc:.3f} ({pct} CI {self.ci_low:.3f}-{self.ci_high:.3f}, DeLong; "
                f"{self.n_positive} positive, {self.n_negative} negative)")


@dataclass(frozen=True)
class PairedAucTest:
    """DeLong's test of ``auc_a - auc_b`` for two scores of the same cases."""

    auc_a: float
    auc_b: float
    difference: float
    variance: float
    z: float
    p_value: float

    def to_dict(self) -> dict[str, float]:
        return {"auc_a": self.auc_a, "auc_b": self.auc_b, "difference": self.difference,
                "variance": self.variance, "z": self.z, "p_value": self.p_value}


def _check(scores: ArrayLike, labels: ArrayLike, what: str) -> tuple[np.ndarray, np.ndarray]:
    s = np.asarray(scores, dtype=float).ravel()
    y = np.asarray(labels).ravel()
    if s.shape != y.shape:
        raise InvalidInputError(f"{what}: {s.size} scores for {y.size} labels; give one score per label")
    if not np.all(np.isfinite(s)):
        raise InvalidInputError(f"{what}: scores must be finite numbers (found NaN or infinity)")
    if not np.isin(y, (0, 1)).all():
        raise InvalidInputError(f"{what}: labels must be 0 or 1 (1 = positive)")
    y = y.astype(bool)
    if y.all() or not y.any():
        raise InvalidInputError(f"{what}: needs both positive and negative cases (the AUC is undefined otherwise)")
    return s, y


def roc_curve(scores: ArrayLike, labels: ArrayLike) -> RocCurve:
    """The empirical ROC curve of ``scores`` for binary ``labels`` (1 positive, 0 negative).

    Tied scores make one point (a diagonal step), so the trapezoidal area under the points equals the
    AUC with ties counted one half.

    Raises
    ------
    InvalidInputError
        Shapes differ, labels are not 0/1, scores are not finite, or one class is missing.
    """
    s, y = _check(scores, labels, "roc_curve")
    order = np.argsort(-s, kind="mergesort")
    s_sorted, y_sorted = s[order], y[order]
    last_of_tie = np.r_[np.nonzero(np.diff(s_sorted))[0], s_sorted.size - 1]
    tp = np.cumsum(y_sorted)[last_of_tie]
    fp = (last_of_tie + 1) - tp
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    return RocCurve(fpr=np.r_[0.0, fp / n_neg], tpr=np.r_[0.0, tp / n_pos],
                    thresholds=np.r_[np.inf, s_sorted[last_of_tie]])


def _components(s: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's structural components ``(V10 over positives, V01 over negatives)`` from mid-ranks."""
    from scipy.stats import rankdata

    pos, neg = s[y], s[~y]
    m, n = pos.size, neg.size
    r_all = rankdata(s, method="average")
    v10 = (r_all[y] - rankdata(pos, method="average")) / n
    v01 = 1.0 - (r_all[~y] - rankdata(neg, method="average")) / m
    return v10, v01


def _normal_quantile(confidence: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(0.5 + confidence / 2.0))


def delong_auc(scores: ArrayLike, labels: ArrayLike, *, confidence: float = 0.95) -> AucEstimate:
    """AUC of ``scores`` with DeLong's variance and confidence interval.

    Parameters
    ----------
    scores, labels
        One score per case (higher = more likely positive) and its label (1 positive, 0 negative).
    confidence
        Two-sided confidence level of the interval, in (0, 1).

    Returns
    -------
    AucEstimate
        ``auc``, ``variance``, ``ci_low`` / ``ci_high`` (``auc -/+ z * sqrt(variance)``, clipped to
        [0, 1]). With one positive or one negative the corresponding covariance term is undefined and
        taken as 0 (as pROC does); a variance of 0 gives a zero-width interval.
    """
    if not 0.0 < float(confidence) < 1.0:
        raise InvalidInputError(f"delong_auc: confidence must be in (0, 1), got {confidence}")
    s, y = _check(scores, labels, "delong_auc")
    v10, v01 = _components(s, y)
    m, n = v10.size, v01.size
    s10 = float(np.var(v10, ddof=1)) if m > 1 else 0.0
    s01 = float(np.var(v01, ddof=1)) if n > 1 else 0.0
    auc = float(v10.mean())
    var = s10 / m + s01 / n
    half = _normal_quantile(float(confidence)) * math.sqrt(var)
    return AucEstimate(auc=auc, variance=var, ci_low=max(0.0, auc - half), ci_high=min(1.0, auc + half),
                       confidence=float(confidence), n_positive=m, n_negative=n)


def delong_test(scores_a: ArrayLike, scores_b: ArrayLike, labels: ArrayLike) -> PairedAucTest:
    """DeLong's two-sided test that two correlated AUCs (same cases, two scores) are equal.

    ``Var(AUC_a - AUC_b) = c' (S10 / m + S01 / n) c`` with ``c = (1, -1)``, ``z = diff / sqrt(var)``,
    ``p = 2 (1 - Phi(|z|))``. When the variance is 0 (identical rankings) and the AUCs are equal, ``z`` is 0 and ``p`` is 1.

    Raises
    ------
    InvalidInputError
        The two score lists differ in length from the labels, or see :func:`delong_auc`.
    """
    from scipy.stats import norm

    sa, y = _check(scores_a, labels, "delong_test (scores_a)")
    sb, _ = _check(scores_b, labels, "delong_test (scores_b)")
    a10, a01 = _components(sa, y)
    b10, b01 = _components(sb, y)
    m, n = a10.size, a01.size
    s10 = np.cov(np.vstack([a10, b10]), ddof=1) if m > 1 else np.zeros((2, 2))
    s01 = np.cov(np.vstack([a01, b01]), ddof=1) if n > 1 else np.zeros((2, 2))
    c = np.array([1.0, -1.0])
    var = float(c @ (s10 / m + s01 / n) @ c)
    auc_a, auc_b = float(a10.mean()), float(b10.mean())
    diff = auc_a - auc_b
    if var <= 1e-15:  # identical rankings: no difference (or, degenerate, a certain one)
        z, p = (0.0, 1.0) if abs(diff) < 1e-12 else (math.copysign(math.inf, diff), 0.0)
    else:
        z = diff / math.sqrt(var)
        p = float(2.0 * norm.sf(abs(z)))
    return PairedAucTest(auc_a=auc_a, auc_b=auc_b, difference=diff, variance=max(var, 0.0), z=z, p_value=p)
