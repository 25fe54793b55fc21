"""Cohort summaries: hand-computed statistics, NaN counting, deterministic bootstrap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics import bootstrap_ci, summarize, summarize_values


def test_summary_statistics_ignore_nan_and_count_it():
    s = summarize_values([1.0, 2.0, float("nan"), 3.0, 4.0, None])
    assert s["n"] == 4 and s["n_nan"] == 2
    assert s["mean"] == 2.5 and s["median"] == 2.5
    assert s["sd"] == pytest.approx(math.sqrt(5 / 3))  # ddof=1: (2.25+0.25+0.25+2.25)/3
    lo, hi = s["ci95"]
    assert 1.0 <= lo <= 2.5 <= hi <= 4.0


def test_bootstrap_of_two_values_is_hand_checkable():
    # resampled means are 0, 0.5, 1 with probabilities 1/4, 1/2, 1/4: 2.5 % and 97.5 % -> 0 and 1
    assert bootstrap_ci([0.0, 1.0], n_resamples=2000, seed=1) == (0.0, 1.0)


def test_bootstrap_is_deterministic_with_seed():
    rng = np.random.default_rng(0)
    x = rng.normal(size=40)
    a = bootstrap_ci(x, seed=123)
    b = bootstrap_ci(x, seed=123)
    c = bootstrap_ci(x, seed=124)
    assert a == b
    assert a != c
    assert a[0] < x.mean() < a[1]
    # the width is about 2 * 1.96 standard errors of the mean
    se = x.std(ddof=1) / math.sqrt(x.size)
    assert (a[1] - a[0]) == pytest.approx(2 * 1.96 * se, rel=0.2)


def test_degenerate_inputs():
    assert bootstrap_ci([3.0]) == (3.0, 3.0)
    lo, hi = bootstrap_ci([])
    assert math.isnan(lo) and math.isnan(hi)
    s = summarize_values([float("nan")])
    assert s["n"] == 0 and s["n_nan"] == 1 and math.isnan(s["mean"])
    single = summarize_values([0.7])
    assert single["mean"] == 0.7 and math.isnan(single["sd"]) and single["ci95"] == [0.7, 0.7]
    with pytest.raises(InvalidInputError, match="NaN"):
        bootstrap_ci([1.0, float("nan")])
    with pytest.raises(InvalidInputError, match="n_resamples"):
        bootstrap_ci([1.0, 2.0], n_resamples=0)


def test_summarize_regions_metrics_and_order_independence():
    cases = [
        {"WT": {"dice": 0.8, "hd95_mm": 2.0, "notes": ["x"], "empty": None}, "ET": {"dice": float("nan")}},
        {"WT": {"dice": 0.6, "hd95_mm": 4.0, "notes": [], "empty": None}, "ET": {"dice": 0.5}},
    ]
    s = summarize(cases, seed=9)
    assert set(s) == {"WT", "ET"}
    assert set(s["WT"]) == {"dice", "hd95_mm"}  # non-numeric keys skipped
    assert s["WT"]["dice"]["mean"] == pytest.approx(0.7)
    assert s["WT"]["hd95_mm"]["median"] == pytest.approx(3.0)
    assert s["ET"]["dice"]["n"] == 1 and s["ET"]["dice"]["n_nan"] == 1
    # every (region, metric) uses its own generator: restricting metrics does not change CIs
    only = summarize(cases, metrics=["hd95_mm"], seed=9)
    assert only["WT"]["hd95_mm"]["ci95"] == s["WT"]["hd95_mm"]["ci95"]
