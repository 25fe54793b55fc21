"""The cohort agreement function shared by ``napari-medai cac-agreement`` and the agreement widget."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics.agreement_stats import icc_2_1, pearson_r
from napari_medai.core.tasks.cac import cohort_agreement

AUTO = {"a": {"total": 0.0, "LAD": 0.0}, "b": {"total": 12.0, "LAD": 10.0}, "c": {"total": 150.0, "LAD": 100.0},
        "d": {"total": 450.0, "LAD": 300.0}, "x": {"total": 5.0}}
REF = {"a": {"total": 0.0, "LAD": 0.0}, "b": {"total": 8.0, "LAD": 8.0}, "c": {"total": 160.0, "LAD": 90.0},
       "d": {"total": 380.0, "LAD": 200.0}, "y": {"total": 1.0}}


def test_matches_cases_and_computes_the_statistics():
    ag = cohort_agreement(AUTO, REF)
    assert ag.cases == ["a", "b", "c", "d"] and ag.only_auto == ["x"] and ag.only_ref == ["y"]
    assert list(ag.per_measure) == ["total", "LAD"]
    a, r = [0.0, 12.0, 150.0, 450.0], [0.0, 8.0, 160.0, 380.0]
    assert ag.per_measure["total"]["pearson_r"] == pearson_r(a, r)
    assert ag.per_measure["total"]["icc_2_1"] == icc_2_1(a, r)
    # bias by hand: mean of (0, 4, -10, 70)
    assert ag.per_measure["total"]["bland_altman"]["bias"] == pytest.approx(16.0)
    # categories: b is 11-100 automatically but 1-10 for the reference, d >400 but 101-400; a and c agree
    assert ag.summary["category_agreement"] == pytest.approx(0.5)
    assert int(np.trace(np.asarray(ag.summary["confusion_matrix"]))) == 2
    doc = ag.to_json_dict()
    assert doc["n_cases"] == 4 and doc["unmatched"] == {"auto": ["x"], "ref": ["y"]}
    assert "n" not in doc["scores"]["total"]


def test_fewer_than_two_matches_is_refused_with_both_names():
    with pytest.raises(InvalidInputError, match="1 case.*auto.csv.*ref.csv"):
        cohort_agreement({"a": {"total": 1.0}}, {"a": {"total": 2.0}}, auto_name="auto.csv", ref_name="ref.csv")
