"""ADC unit detection: values, sidecar, user override, and refusals."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks.stroke.units import adc_in_1e6, detect_adc_unit, parse_adc_unit
from napari_medai.core.volume import Volume


def _adc(scale: float = 1.0, *, dtype=np.float32, source: str | None = "case_adc.nii.gz") -> Volume:
    """A 24^3 head: parenchyma 800, a CSF pocket 3000, 0 outside (values in 1e-6 mm^2/s x scale)."""
    z, y, x = np.mgrid[:24, :24, :24]
    r = np.sqrt((z - 12) ** 2 + (y - 12) ** 2 + (x - 12) ** 2)
    a = np.where(r < 10, 800.0, 0.0)
    a[(r < 3)] = 3000.0
    a = (a + np.where(r < 10, np.random.default_rng(0).normal(0, 20, a.shape), 0.0)) * scale
    return Volume(a.astype(dtype), spacing=(2, 2, 2), name="adc", source=source)


def test_values_in_1e6_and_1e3_are_recognised_with_their_evidence():
    u6 = detect_adc_unit(_adc())
    assert (u6.unit, u6.factor_to_1e6, u6.source) == ("1e-6", 1.0, "values")
    assert "brain median 80" in u6.evidence and "10^-6" in u6.evidence
    u3 = detect_adc_unit(_adc(1e-3))
    assert (u3.unit, u3.factor_to_1e6, u3.source) == ("1e-3", 1000.0, "values")
    assert "brain median 0.8" in u3.evidence
    # conversion brings both to the same numbers
    np.testing.assert_allclose(adc_in_1e6(_adc(1e-3), u3).data, _adc().data, rtol=1e-5)
    assert adc_in_1e6(_adc(1e-3), u3).units == "1e-6 mm^2/s"


def test_scaled_integers_are_refused_without_a_factor_and_accepted_with_one():
    scaled = _adc(10.0, dtype=np.int32)  # 10^-7 mm^2/s integers: median about 8000
    with pytest.raises(InvalidInputError, match=r"case_adc\.nii\.gz: .*fits neither.*--adc-unit"):
        detect_adc_unit(scaled)
    u = detect_adc_unit(scaled, override="scaled:0.1")
    assert (u.unit, u.factor_to_1e6, u.source) == ("scaled", 0.1, "user")
    np.testing.assert_allclose(adc_in_1e6(scaled, u).data, scaled.data * 0.1, rtol=1e-6)


def test_sidecar_statement_is_used_and_a_contradiction_refused():
    u = detect_adc_unit(_adc(1e-3), sidecar={"Units": "10^-3 mm^2/s"})
    assert (u.unit, u.source) == ("1e-3", "sidecar") and "Units" in u.evidence
    assert detect_adc_unit(_adc(), sidecar={"units": "x10^-6 mm\u00b2/s"}).source == "sidecar"
    with pytest.raises(InvalidInputError, match="sidecar says 10\\^-6.*fits 10\\^-3.*--adc-unit"):
        detect_adc_unit(_adc(1e-3), sidecar={"Units": "1e-6 mm2/s"})
    # a sidecar without a unit (like ISLES'22's) falls back to the values
    assert detect_adc_unit(_adc(1e-3), sidecar={"DiffusionBValue": 0.0}).source == "values"


def test_user_override_wins_but_not_when_it_makes_the_brain_implausible():
    assert detect_adc_unit(_adc(), override="1e-6").source == "user"
    assert detect_adc_unit(_adc(), override="auto").source == "values"
    with pytest.raises(InvalidInputError, match="--adc-unit 1e-6 the brain median ADC 0.8.* outside"):
        detect_adc_unit(_adc(1e-3), override="1e-6")


@pytest.mark.parametrize("bad", ["1e-4", "scaled", "scaled:-2", "scaled:x", "mm2/s"])
def test_malformed_overrides_are_refused(bad):
    with pytest.raises(InvalidInputError, match="1e-6, 1e-3 or scaled:K"):
        parse_adc_unit(bad)


def test_an_empty_map_names_the_file():
    empty = Volume(np.zeros((8, 8, 8), np.float32), source="empty_adc.nii.gz")
    with pytest.raises(InvalidInputError, match=r"empty_adc\.nii\.gz: only 0 positive ADC voxels.*--adc-unit"):
        detect_adc_unit(empty)


@pytest.mark.parametrize(("stored", "override", "unit", "source"), [
    ("1e-6", None, "1e-6", "values"),
    ("1e-3", None, "1e-3", "values"),
    ("scaled", "scaled:0.1", "scaled", "user"),  # uint16 in 10^-7 mm^2/s: only the user knows the factor
])
def test_the_phantom_in_each_storage_unit_converts_to_the_same_map(stored, override, unit, source):
    from napari_medai.core.phantoms.stroke import stroke_phantom

    ref = stroke_phantom(seed=3, shape=(24, 40, 36), with_flair=False)["adc"]
    adc = stroke_phantom(seed=3, shape=(24, 40, 36), with_flair=False, adc_unit=stored)["adc"]
    if stored == "scaled":
        assert adc.data.dtype == np.uint16
        with pytest.raises(InvalidInputError, match="fits neither"):
            detect_adc_unit(adc)
    u = detect_adc_unit(adc, override=override)
    assert (u.unit, u.source) == (unit, source)
    np.testing.assert_allclose(adc_in_1e6(adc, u).data, ref.data, atol=0.06)  # uint16 rounding: 0.05
