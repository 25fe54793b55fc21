"""ADC units: which unit an apparent-diffusion-coefficient map is stored in, and conversion.

ADC maps arrive in three forms (``../shared/docs/reference.md``):

* ``"1e-6"``: 10^-6 mm^2/s (normal grey matter about 800, CSF about 3000);
* ``"1e-3"``: 10^-3 mm^2/s (grey matter about 0.8);
* ``"scaled"``: scanner-scaled integers with a factor that only the user (or a sidecar) knows.

:func:`detect_adc_unit` establishes the unit from, in order of precedence, the user's override,
a sidecar JSON that states it, or the values inside the head (the median of the positive voxels:
the brain parenchyma dominates it). A map whose median fits neither unit is refused: a threshold
in 10^-6 mm^2/s is never applied to values whose unit was not established.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ...errors import InvalidInputError
from ...volume import Volume

__all__ = ["ADC_UNITS", "BRAIN_MEDIAN_RANGE_1E6", "AdcUnit", "adc_in_1e6", "detect_adc_unit", "parse_adc_unit"]

ADC_UNITS = ("1e-6", "1e-3", "scaled")

#: Plausible median of the positive voxels of a brain ADC map, in 10^-6 mm^2/s. Normal parenchyma
#: is 700-900 and CSF about 3000 (reference.md); the median of a head lies between parenchyma and
#: a CSF-rich (atrophic) brain. The two stored units differ by 1000x, so the windows never overlap.
BRAIN_MEDIAN_RANGE_1E6 = (400.0, 1600.0)

#: Fewest positive voxels on which a median is trusted.
_MIN_VOXELS = 500

_FACTORS = {"1e-6": 1.0, "1e-3": 1000.0}
_UNIT_TEXT = {"1e-6": "10^-6 mm^2/s", "1e-3": "10^-3 mm^2/s"}
_OVERRIDE_HELP = "use 1e-6, 1e-3 or scaled:K (K multiplies the stored values into 10^-6 mm^2/s)"
#: Sidecar keys that may state the unit of the map (not a BIDS standard; scanners and converters vary).
_SIDECAR_KEYS = ("Units", "units", "Unit", "unit", "ADCUnits", "AdcUnits", "adc_unit", "ADC_unit")


@dataclass(frozen=True)
class AdcUnit:
    """The unit of an ADC map and how it was established.

    Attributes
    ----------
    unit
        ``"1e-6"``, ``"1e-3"`` or ``"scaled"``.
    factor_to_1e6
        Multiply the stored values by this to get 10^-6 mm^2/s.
    source
        ``"values"``, ``"sidecar"`` or ``"user"``.
    evidence
        One line, e.g. ``"brain median 0.86: 10^-3 mm^2/s"``.
    """

    unit: str
    factor_to_1e6: float
    source: str
    evidence: str

    def to_json(self) -> dict:
        """JSON-friendly form."""
        return {"unit": self.unit, "factor_to_1e-6": self.factor_to_1e6, "source": self.source,
                "evidence": self.evidence}


def parse_adc_unit(text: str) -> tuple[str, float]:
    """``"1e-6"`` / ``"1e-3"`` / ``"scaled:K"`` to ``(unit, factor_to_1e6)``.

    Raises
    ------
    InvalidInputError
        For anything else, or a scale factor that is not a positive finite number.
    """
    t = str(text).strip().lower()
    if t in _FACTORS:
        return t, _FACTORS[t]
    if t.startswith("scaled:"):
        raw = t.partition(":")[2]
        try:
            k = float(raw)
        except ValueError:
            k = math.nan
        if not (math.isfinite(k) and k > 0):
            raise InvalidInputError(f"ADC unit {text!r}: the scale factor {raw!r} must be a positive number; {_OVERRIDE_HELP}")
        return "scaled", k
    raise InvalidInputError(f"unknown ADC unit {text!r}; {_OVERRIDE_HELP}")


def _unit_from_text(text: str) -> str | None:
    """Recognise a unit written in a sidecar (``"10^-6 mm^2/s"``, ``"1e-3 mm2/s"``, ``"um2/ms"`` ...)."""
    t = str(text).strip().lower().replace(" ", "").replace("\u00b2", "2").replace("\u00b5", "u").replace("\u03bc", "u")
    t = t.replace("^", "").replace("**", "").replace("x", "").replace("*", "")
    if re.search(r"(1e-?6|10-6)mm2/s", t) or t in ("um2/s",):
        return "1e-6"
    if re.search(r"(1e-?3|10-3)mm2/s", t) or t in ("um2/ms",):
        return "1e-3"
    return None


def _from_sidecar(sidecar: Mapping) -> tuple[str, str] | None:
    for key in _SIDECAR_KEYS:
        if key in sidecar and isinstance(sidecar[key], str):
            unit = _unit_from_text(sidecar[key])
            if unit is not None:
                return unit, f"sidecar {key}={sidecar[key]!r}"
    return None


def _brain_median(adc: Volume) -> tuple[float, int]:
    a = np.asarray(adc.data)
    vals = a[np.isfinite(a) & (a > 0)]
    if vals.size == 0:
        return math.nan, 0
    return float(np.median(vals)), int(vals.size)


def _unit_from_median(median: float) -> str | None:
    lo, hi = BRAIN_MEDIAN_RANGE_1E6
    for unit, f in _FACTORS.items():
        if lo <= median * f <= hi:
            return unit
    return None


def _what(adc: Volume) -> str:
    return adc.source or f"ADC {adc.name!r}"


def detect_adc_unit(
    adc: Volume, *, sidecar: Mapping | None = None, override: str | None = None
) -> AdcUnit:
    """Establish the unit of an ADC map.

    Parameters
    ----------
    adc
        The ADC map (single channel).
    sidecar
        The map's BIDS sidecar JSON, if any; used when it states the unit (keys such as ``Units``).
    override
        The user's unit: ``"1e-6"``, ``"1e-3"`` or ``"scaled:K"``; ``None`` or ``"auto"`` detects.

    Returns
    -------
    AdcUnit

    Raises
    ------
    InvalidInputError
        The override is malformed; the sidecar's unit contradicts the values by 1000x; or the values
        fit no unit (empty map, too few voxels, brain median outside 400-1600 x 10^-6 mm^2/s in
        both units), or the user's unit makes that median implausible. The message names the
        file and tells the user to pass ``--adc-unit``.
    """
    what = _what(adc)
    median, n = _brain_median(adc)
    if override is not None and str(override).strip().lower() != "auto":
        unit, factor = parse_adc_unit(override)
        evidence = f"set by the user ({override})"
        lo, hi = BRAIN_MEDIAN_RANGE_1E6
        if n >= _MIN_VOXELS and not lo <= median * factor <= hi:
            raise InvalidInputError(
                f"{what}: with --adc-unit {override} the brain median ADC {median:.4g} becomes "
                f"{median * factor:.4g} x 10^-6 mm^2/s, outside the plausible {lo:.0f}-{hi:.0f}; "
                "check the unit (1e-6, 1e-3 or scaled:K with K = 10^-6 mm^2/s per stored unit)"
            )
        if math.isfinite(median):
            evidence += f"; brain median {median:.4g} -> {median * factor:.4g} x 10^-6 mm^2/s"
        return AdcUnit(unit, factor, "user", evidence)
    fix = "pass --adc-unit 1e-6, 1e-3 or scaled:K to state the unit"
    if n < _MIN_VOXELS:
        raise InvalidInputError(
            f"{what}: only {n} positive ADC voxels, too few to tell the unit of the map; {fix}"
        )
    found = _unit_from_median(median)
    if sidecar:
        side = _from_sidecar(sidecar)
        if side is not None:
            unit, evidence = side
            if found is not None and found != unit:
                raise InvalidInputError(
                    f"{what}: the sidecar says {_UNIT_TEXT[unit]} ({evidence}) but the brain median "
                    f"{median:.4g} fits {_UNIT_TEXT[found]}; {fix}"
                )
            if found is None:
                raise InvalidInputError(
                    f"{what}: the sidecar says {_UNIT_TEXT[unit]} but the brain median {median:.4g} is "
                    f"implausible in that unit (expected {BRAIN_MEDIAN_RANGE_1E6[0]:.0f}-"
                    f"{BRAIN_MEDIAN_RANGE_1E6[1]:.0f} x 10^-6 mm^2/s); {fix}"
                )
            return AdcUnit(unit, _FACTORS[unit], "sidecar", f"{evidence}; brain median {median:.4g} agrees")
    if found is None:
        lo, hi = BRAIN_MEDIAN_RANGE_1E6
        raise InvalidInputError(
            f"{what}: the brain median ADC {median:.4g} fits neither 10^-6 mm^2/s ({lo:.0f}-{hi:.0f}) "
            f"nor 10^-3 mm^2/s ({lo / 1000:.1f}-{hi / 1000:.1f}); scanner-scaled integers need their factor: {fix}"
        )
    return AdcUnit(found, _FACTORS[found], "values", f"brain median {median:.4g}: {_UNIT_TEXT[found]}")


def adc_in_1e6(adc: Volume, unit: AdcUnit) -> Volume:
    """The ADC map in 10^-6 mm^2/s (float32), on the same grid.

    Parameters
    ----------
    adc
        The stored map.
    unit
        Its unit from :func:`detect_adc_unit`.
    """
    data = np.asarray(adc.data, dtype=np.float64) * float(unit.factor_to_1e6)
    meta = dict(adc.meta)
    meta["adc_unit"] = unit.to_json()
    return adc.with_data(data.astype(np.float32), units="1e-6 mm^2/s", meta=meta)
