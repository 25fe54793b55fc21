"""The stroke widget's words: its choices, how the core's units and sources read, and core messages in the
widget's terms (its controls, not the command line's flags)."""

from __future__ import annotations

import re
from typing import Any

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

#: The method combo's tooltip for the trained model.
MODEL_TIP = "A network you trained on your own cases (SegResNet or DeepMedic)."

#: The keys that run the stroke segmentation (not used by napari itself).
RUN_SHORTCUT = "Ctrl+Shift+K"
#: Tooltips of the widget's controls, by control.
TIPS = {
    "modality": "MRI: DWI (b=1000) and ADC, optionally FLAIR. CTA: one CT angiography volume in HU.",
    "mirror": "For a trained model: give it the CTA mirrored about the head's mid-sagittal plane (found from the "
              "image) as an extra channel, as Öman et al. 2019 did.",
    "unit": "The ADC map's unit: found from its values (and the sidecar JSON), or set by you. The 620 × 10⁻⁶ mm²/s "
            "threshold never runs in the wrong unit.",
    "scale": "Scanner-scaled ADC: 10⁻⁶ mm²/s per stored unit (e.g. 0.1 when the map stores ADC × 10⁷ mm²/s)",
    "model": "Choose a napari-medai model folder (model.json + model.pt) trained with 'napari-medai train stroke' "
             "or the training widget",
    "separate": "Also add a layer where each connected lesion has its own id",
    "run": f"Segment the lesions ({RUN_SHORTCUT}; off the GUI thread, Cancel stops it and adds nothing)",
    "save": "Write the lesions with the image's geometry (NIfTI, NRRD, MetaImage)",
    "compare": "Open the agreement panel on the lesions and the open ground truth in the ISLES convention (Dice, "
               "sensitivity, specificity, volume difference, lesion-wise F1)",
}


def compare_tip(lesions: str, truth: str | None) -> str:
    """The Compare button's tooltip: what it compares, or what to open first (``truth`` None)."""
    if truth is None:
        return "Open a ground-truth Labels layer (named like lesion, msk or gt) on the lesions' grid first"
    return f"Open the agreement panel on '{lesions}' and '{truth}' in the ISLES convention"


def unit_text(layer_name: str, unit: Any) -> str:
    """"'adc' is in 10⁻³ mm²/s (from the values: ...)." for an :class:`~napari_medai.core.tasks.stroke.units.AdcUnit`."""
    return (f"'{layer_name}' is in {UNIT_WORDS.get(unit.unit, unit.unit)} "
            f"({SOURCE_WORDS.get(unit.source, unit.source)}: {unit.evidence}).")


__all__ = ["METHODS", "METHOD_TIPS", "MODEL_TIP", "RUN_SHORTCUT", "SOURCE_WORDS", "TIPS", "UNIT_CHOICES",
           "UNIT_WORDS", "compare_tip", "gui_words", "reworded", "unit_text"]
