"""Agreement statistics against examples worked by hand (and one published table)."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics.agreement_stats import (
    RISK_CATEGORIES,
    agreement_summary,
    bland_altman,
    bland_altman_figure,
    confusion_matrix,
    icc_2_1,
    pearson_r,
    risk_category,
    weighted_kappa,
)

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array([
    [9, 2, 5, 8],
    [6, 1, 3, 2],
    [8, 4, 6, 8],
    [7, 1, 2, 6],
    [10, 5, 6, 9],
    [6, 2, 4, 7],
], dtype=float)


def test_pearson_by_hand():
    # dx = -1.5 -0.5 0.5 1.5, dy = -3 -1 0 4: sxy = 11, sxx = 5, syy = 26
    assert pearson_r([1, 2, 3, 4], [2, 4, 5, 9]) == pytest.approx(11 / math.sqrt(5 * 26), rel=1e-14)
    assert pearson_r([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(pearson_r([1, 1, 1], [1, 2, 3]))
    with pytest.raises(InvalidInputError, match="pair"):
        pearson_r([1, 2, 3], [1, 2])
    with pytest.raises(InvalidInputError, match="at least 2"):
        pearson_r([1], [1])


def _icc_by_hand(m: np.ndarray) -> float:
    n, k = m.shape
    grand = sum(sum(row) for row in m) / (n * k)
    row_means = [sum(row) / k for row in m]
    col_means = [sum(m[i][j] for i in range(n)) / n for j in range(k)]
    ss_r = k * sum((r - grand) ** 2 for r in row_means)
    ss_c = n * sum((c - grand) ** 2 for c in col_means)
    ss_e = sum((m[i][j] - row_means[i] - col_means[j] + grand) ** 2 for i in range(n) for j in range(k))
    bms, jms, ems = ss_r / (n - 1), ss_c / (k - 1), ss_e / ((n - 1) * (k - 1))
    return (bms - ems) / (bms + (k - 1) * ems + k * (jms - ems) / n)


def test_icc_matches_shrout_fleiss_table_and_anova_by_hand():
    icc = icc_2_1(SHROUT_FLEISS)
    assert icc == pytest.approx(0.29, abs=0.005)  # the published ICC(2,1)
    assert icc == pytest.approx(_icc_by_hand(SHROUT_FLEISS), rel=1e-12)
    d = icc_2_1(SHROUT_FLEISS, details=True)
    # the ANOVA of that table: BMS 11.24, JMS 32.49, EMS 1.02 (Shrout & Fleiss, Table 3)
    assert d.ms_rows == pytest.approx(11.24, abs=0.01)
    assert d.ms_columns == pytest.approx(32.49, abs=0.01)
    assert d.ms_error == pytest.approx(1.02, abs=0.01)
    # one sequence per rater gives the same as the matrix
    assert icc_2_1(*SHROUT_FLEISS.T) == pytest.approx(icc)


def test_icc_two_raters_by_hand_and_limits():
    a, b = [10.0, 20.0, 30.0, 40.0], [12.0, 18.0, 33.0, 41.0]
    assert icc_2_1(a, b) == pytest.approx(_icc_by_hand(np.array([a, b]).T), rel=1e-12)
    assert icc_2_1(a, a) == pytest.approx(1.0)
    # a constant offset lowers absolute agreement (unlike consistency / Pearson)
    assert icc_2_1(a, [v + 10 for v in a]) < 1.0 and pearson_r(a, [v + 10 for v in a]) == pytest.approx(1.0)
    assert math.isnan(icc_2_1([1, 1], [1, 1]))
    with pytest.raises(InvalidInputError):
        icc_2_1([1, 2, 3])


def test_bland_altman_by_hand():
    ba = bland_altman([1, 2, 3, 4], [1, 1, 2, 2])  # differences 0 1 1 2
    sd = math.sqrt(2 / 3)
    assert ba.bias == 1.0
    assert ba.sd == pytest.approx(sd, rel=1e-14)
    assert ba.loa_low == pytest.approx(1 - 1.96 * sd) and ba.loa_high == pytest.approx(1 + 1.96 * sd)
    assert ba.n == 4
    assert ba.as_dict()["bias"] == 1.0


def test_kappa_two_categories_by_hand():
    # 50 cases: [[20, 5], [10, 15]] -> po = 0.7, pe = 0.5*0.6 + 0.5*0.4 = 0.5, kappa 0.4
    a = ["yes"] * 25 + ["no"] * 25
    b = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    cats = ["yes", "no"]
    m, order = confusion_matrix(a, b, categories=cats)
    assert m.tolist() == [[20, 5], [10, 15]] and order == cats
    assert weighted_kappa(a, b, weights="none", categories=cats) == pytest.approx(0.4)
    assert weighted_kappa(a, b, weights="linear", categories=cats) == pytest.approx(0.4)  # K=2: same


def _from_matrix(m, cats):
    a, b = [], []
    for i, row in enumerate(m):
        for j, n in enumerate(row):
            a += [cats[i]] * n
            b += [cats[j]] * n
    return a, b


def test_linear_weighted_kappa_three_categories_by_hand():
    # rows 12, 13, 5; columns 13, 11, 6; n = 30; weights |i-j|/2
    # observed disagreement (2*.5 + 3*.5 + 2*.5 + 1*.5)/30 = 4/30
    # expected (.5*12*11 + 12*6 + .5*13*13 + .5*13*6 + 5*13 + .5*5*11)/900 = 354/900
    m = [[10, 2, 0], [3, 8, 2], [0, 1, 4]]
    a, b = _from_matrix(m, ["low", "mid", "high"])
    k = weighted_kappa(a, b, categories=["low", "mid", "high"])
    assert k == pytest.approx(1 - (4 / 30) / (354 / 900), rel=1e-12)
    # quadratic weights by hand: observed (2*.25 + 3*.25 + 2*.25 + .25)/30 = 2/30
    # expected (.25*132 + 72 + .25*169 + .25*78 + 65 + .25*55)/900 = 245.5/900
    kq = weighted_kappa(a, b, weights="quadratic", categories=["low", "mid", "high"])
    assert kq == pytest.approx(1 - (2 / 30) / (245.5 / 900), rel=1e-12)
    assert weighted_kappa(a, a, categories=["low", "mid", "high"]) == 1.0
    with pytest.raises(InvalidInputError, match="weights"):
        weighted_kappa(a, b, weights="cubic")
    with pytest.raises(InvalidInputError, match="not among"):
        weighted_kappa(a, b, categories=["low", "mid"])


def test_risk_categories_ordered_by_default():
    m, cats = confusion_matrix(["0", ">400", "1-10"], ["1-10", ">400", "1-10"])
    assert cats == list(RISK_CATEGORIES)
    assert m[0, 1] == 1 and m[4, 4] == 1 and m[1, 1] == 1 and m.sum() == 3
    assert risk_category(10) == "1-10" and risk_category(10.5) == "11-100"


def test_agreement_summary():
    auto = [0.0, 5.0, 50.0, 150.0, 600.0]
    ref = [0.0, 12.0, 40.0, 160.0, 500.0]
    s = agreement_summary(auto, ref)
    assert s["n"] == 5
    assert s["categories"]["auto"] == ["0", "1-10", "11-100", "101-400", ">400"]
    assert s["categories"]["ref"] == ["0", "11-100", "11-100", "101-400", ">400"]
    assert s["category_agreement"] == pytest.approx(4 / 5)
    assert s["bland_altman"]["bias"] == pytest.approx(np.mean(np.subtract(auto, ref)))
    assert s["pearson_r"] == pytest.approx(np.corrcoef(auto, ref)[0, 1])
    assert s["confusion_matrix"][1][2] == 1


def test_bland_altman_figure_is_headless_and_pyplot_free(tmp_path):
    out = tmp_path / "ba.png"
    code = (
        "import sys; from napari_medai.core.metrics.agreement_stats import bland_altman_figure;"
        f"fig = bland_altman_figure([1, 2, 3, 40], [1, 1, 2, 2], units='Agatston', labels=list('abcd'));"
        f"fig.savefig({str(out)!r}); print(type(fig).__name__, 'matplotlib.pyplot' in sys.modules)"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["Figure", "False"]
    assert out.stat().st_size > 1000
    fig = bland_altman_figure([1, 2, 3], [1, 2, 4])
    assert len(fig.axes) == 1 and "n = 3" in fig.axes[0].get_title()
