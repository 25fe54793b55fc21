"""The stroke widget's words: its choices, how the core's units and sources read, and core messages in the
widget's terms (its controls, not the command line's flags)."""

from __future__ import annotations

import re

from ...core.errors import MedaiError

#: ADC unit choices: (shown text, value passed to the core).
UNIT_CHOICES = (("auto (from the values)", "auto"), ("10⁻⁶ mm²/s", "1e-6"), ("10⁻³ mm²/s", "1e-3"),
                ("scanner-scaled", "scaled"))


def gui_words(text: str) -> str:
    """A core message with its command-line flags replaced by the widget's controls."""
    text = re.sub(r"pass --adc-unit 1e-6, 1e-3 or scaled:K to state the unit|use 1e-6, 1e-3 or scaled:K[^;]*",
                  "choose the unit in 'ADC unit' (scanner-scaled with its factor)", text)
    text = text.replace("--adc-unit", "'ADC unit'")
    return re.sub(r"(?<![\w-])--[a-z][a-z-]*", "the matching setting", text)


def reworded(exc: MedaiError) -> MedaiError:
    """The same error with :func:`gui_words`."""
    text = gui_words(str(exc))
    try:
        return type(exc)(text)
    except TypeError:
        return MedaiError(text)


UNIT_WORDS = {"1e-6": "10⁻⁶ mm²/s", "1e-3": "10⁻³ mm²/s", "scaled": "scanner-scaled integers"}
SOURCE_WORDS = {"values": "from the values", "sidecar": "from the sidecar JSON", "user": "set by you"}
#: Method choices: (shown text, value passed to the core).
METHODS = (("clinical threshold baseline", "threshold"), ("trained model", "model"))
METHOD_TIPS = {
    "MRI": "Weight-free: ischaemic core = ADC below 620 × 10⁻⁶ mm²/s inside DWI-hyperintense brain (CSF "
           "excluded, small components removed).",
    "CTA": "Weight-free: hypodensity against the mirrored contralateral side about the mid-sagittal plane.",
}


__all__ = ["METHODS", "METHOD_TIPS", "SOURCE_WORDS", "UNIT_CHOICES", "UNIT_WORDS", "gui_words", "reworded"]
