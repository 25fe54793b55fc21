"""Label conventions: built-ins, custom specs, and the errors that say how to fix them."""

from __future__ import annotations

import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics import (
    CONVENTIONS,
    Convention,
    custom_convention,
    get_convention,
    parse_regions,
)


@pytest.mark.parametrize(
    ("name", "labels", "wt", "tc", "et", "rule"),
    [
        ("brats2013", {1, 2, 3, 4}, (1, 2, 3, 4), (1, 3, 4), (4,), "brats"),
        ("brats2021", {1, 2, 4}, (1, 2, 4), (1, 4), (4,), "brats"),
        ("brats2023", {1, 2, 3}, (1, 2, 3), (1, 3), (3,), "brats"),
        ("msd", {1, 2, 3}, (1, 2, 3), (2, 3), (3,), "nan"),
    ],
)
def test_brain_tumour_regions(name, labels, wt, tc, et, rule):
    c = get_convention(name)
    assert set(c.labels) == labels
    assert c.regions == {"WT": wt, "TC": tc, "ET": et}
    assert c.empty_rule == rule
    # TC = WT minus oedema
    oedema = {v for v, n in c.labels.items() if n.lower() in ("oedema", "ed", "snfh")}
    assert set(tc) == set(wt) - oedema


def test_binary_and_isles():
    assert get_convention("binary").regions == {"foreground": (1,)}
    isles = get_convention("ISLES")  # case-insensitive
    assert isles.regions == {"lesion": (1,)} and isles.empty_rule == "isles"
    assert set(CONVENTIONS) == {"binary", "brats2013", "brats2021", "brats2023", "msd", "isles"}


def test_custom_spec():
    c = get_convention("liver=1,2; tumour=2 ;")
    assert c.name == "custom"
    assert c.regions == {"liver": (1, 2), "tumour": (2,)}
    assert c.labels == {1: "label_1", 2: "label_2"}
    assert parse_regions("a=3,1,3") == {"a": (1, 3)}
    with pytest.raises(InvalidInputError, match="empty region list"):
        parse_regions(" ; ")
    named = custom_convention({"kidney": [1, 2]}, labels={1: "cortex"}, empty_rule="brats")
    assert named.labels == {1: "cortex", 2: "label_2"} and named.empty_rule == "brats"


@pytest.mark.parametrize(
    ("spec", "match"),
    [
        ("", "unknown label convention"),
        (";", "unknown label convention"),
        ("liver", "unknown label convention"),
        ("liver=", "lists no label values"),
        ("liver=1;liver=2", "given twice"),
        ("liver=0", "0 is background"),
        ("liver=-2", ">= 1"),
        ("liver=1.5", "whole number"),
        ("liver=a", "whole number"),
        ("=1", "empty or has odd characters"),
    ],
)
def test_custom_spec_errors(spec, match):
    with pytest.raises(InvalidInputError, match=match):
        get_convention(spec)


def test_regions_override_and_empty_rule_override():
    c = get_convention("brats2021", regions="core=1,4", empty_rule="nan")
    assert c.regions == {"core": (1, 4)} and c.empty_rule == "nan"
    assert set(c.labels) == {1, 2, 4}
    with pytest.raises(InvalidInputError, match="not labels of the convention"):
        get_convention("brats2021", regions="x=3")
    with pytest.raises(InvalidInputError, match="empty_rule"):
        get_convention("binary", empty_rule="zero")


def test_check_values_names_the_bad_values():
    c = get_convention("brats2023")
    c.check_values([0, 1, 2, 3])
    with pytest.raises(InvalidInputError, match=r"value\(s\) 4 outside convention 'brats2023'") as info:
        c.check_values([0, 1, 4], what="prediction")
    assert "prediction" in str(info.value) and "--convention" in str(info.value)


def test_convention_validation():
    with pytest.raises(InvalidInputError, match="no labels"):
        Convention("x", {}, {"a": (1,)})
    with pytest.raises(InvalidInputError, match="lists no label values"):
        Convention("x", {1: "a"}, {"a": ()})
    with pytest.raises(InvalidInputError, match="needs a non-empty name"):
        Convention("x", {1: ""}, {"a": (1,)})
