"""ROC points, AUC and DeLong's variance / CI / paired test against hand computations and roc_auc."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics.classification import roc_auc
from napari_medai.core.metrics.roc import delong_auc, delong_test, roc_curve

# Hand example (one tie between a positive and a negative):
#   positives X = 0.8, 0.6, 0.4      negatives Y = 0.6, 0.2
#   psi(X_i, Y_j) (1 if X > Y, 1/2 if equal):
#                 Y=0.6  Y=0.2   V10_i
#       X=0.8      1      1      1
#       X=0.6     1/2     1      3/4
#       X=0.4      0      1      1/2
#       V01_j     1/2     1
#   AUC = (1 + 3/4 + 1/2) / 3 = 3/4
#   S10 = var(1, 3/4, 1/2; ddof 1) = (1/16 + 0 + 1/16) / 2 = 1/16
#   S01 = var(1/2, 1; ddof 1)      = (1/16 + 1/16) / 1   = 1/8
#   Var(AUC) = S10 / m + S01 / n = (1/16) / 3 + (1/8) / 2 = 1/48 + 1/16 = 1/12
#   95% CI = 3/4 -/+ 1.959964 * sqrt(1/12) = 0.1842 .. 1.3158 -> clipped to 0.1842 .. 1
SCORES = [0.8, 0.6, 0.4, 0.6, 0.2]
LABELS = [1, 1, 1, 0, 0]

# Second score on the same cases:  X = 0.7, 0.3, 0.9   Y = 0.5, 0.1
#       X=0.7: (1, 1) -> 1;  X=0.3: (0, 1) -> 1/2;  X=0.9: (1, 1) -> 1      AUC_b = 5/6
#       V01: Y=0.5 -> (1 + 0 + 1)/3 = 2/3;  Y=0.1 -> 1
#   cov10(a, b): deviations a (1/4, 0, -1/4), b (1/6, -1/3, 1/6) -> sum of products 0 -> 0
#   var10(b) = (1/36 + 1/9 + 1/36) / 2 = 1/12
#   cov01(a, b): deviations a (-1/4, 1/4), b (-1/6, 1/6) -> 2/24 / 1 = 1/12;  var01(b) = 2/36 = 1/18
#   Var(a - b) = (1/16 + 1/12 - 0) / 3 + (1/8 + 1/18 - 2/12) / 2 = 7/144 + 1/144 = 1/18
#   z = (3/4 - 5/6) / sqrt(1/18) = -0.353553;  p = 2 (1 - Phi(0.353553)) = 0.723674
SCORES_B = [0.7, 0.3, 0.9, 0.5, 0.1]


def test_delong_variance_and_ci_match_the_hand_computation():
    est = delong_auc(SCORES, LABELS)
    assert est.auc == pytest.approx(0.75)
    assert est.variance == pytest.approx(1 / 12)
    assert est.ci_low == pytest.approx(0.75 - 1.959964 * math.sqrt(1 / 12), abs=1e-5)
    assert est.ci_high == 1.0
    assert (est.n_positive, est.n_negative) == (3, 2)
    assert "AUC 0.750" in est.summary()


def test_paired_delong_test_matches_the_hand_computation():
    t = delong_test(SCORES, SCORES_B, LABELS)
    assert (t.auc_a, t.auc_b) == (pytest.approx(0.75), pytest.approx(5 / 6))
    assert t.variance == pytest.approx(1 / 18)
    assert t.z == pytest.approx(-0.353553, abs=1e-6)
    assert t.p_value == pytest.approx(0.723674, abs=1e-6)
    same = delong_test(SCORES, SCORES, LABELS)
    assert (same.z, same.p_value) == (0.0, 1.0)


def _brute_force(scores, labels):
    s, y = np.asarray(scores, float), np.asarray(labels, bool)
    psi = (s[y][:, None] > s[~y][None, :]) + 0.5 * (s[y][:, None] == s[~y][None, :])
    v10, v01 = psi.mean(1), psi.mean(0)
    return psi.mean(), np.var(v10, ddof=1) / v10.size + np.var(v01, ddof=1) / v01.size


def test_rank_formula_equals_the_pairwise_definition_and_roc_auc_with_ties():
    rng = np.random.default_rng(4)
    y = rng.integers(0, 2, 60)
    s = np.round(rng.normal(size=60) + y, 1)  # rounding makes ties
    est = delong_auc(s, y)
    auc, var = _brute_force(s, y)
    assert est.auc == pytest.approx(auc) == pytest.approx(roc_auc(s, y))
    assert est.variance == pytest.approx(var)
    assert 0 < est.ci_low < est.auc < est.ci_high < 1
    wider = delong_auc(s, y, confidence=0.99)
    assert wider.ci_low < est.ci_low and wider.ci_high > est.ci_high


def test_roc_points_and_their_area():
    c = roc_curve([0.9, 0.5, 0.4, 0.1], [1, 0, 1, 0])
    np.testing.assert_allclose(c.fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(c.tpr, [0, 0.5, 0.5, 1, 1])
    assert c.thresholds[0] == np.inf and list(c.thresholds[1:]) == [0.9, 0.5, 0.4, 0.1]
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 80)
    s = np.round(rng.normal(size=80) + y, 1)
    c = roc_curve(s, y)
    assert np.trapezoid(c.tpr, c.fpr) == pytest.approx(roc_auc(s, y))
    assert c.to_dict()["thresholds"][0] is None


def test_bad_input_is_refused_with_a_reason():
    with pytest.raises(InvalidInputError, match="both positive and negative"):
        delong_auc([0.1, 0.2], [1, 1])
    with pytest.raises(InvalidInputError, match="one score per label"):
        roc_curve([0.1, 0.2, 0.3], [1, 0])
    with pytest.raises(InvalidInputError, match="finite"):
        delong_auc([0.1, float("nan")], [1, 0])
    with pytest.raises(InvalidInputError, match="confidence"):
        delong_auc([0.1, 0.2], [1, 0], confidence=95)
