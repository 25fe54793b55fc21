"""Acute ischaemic stroke: lesion segmentation on MRI (DWI + ADC, optional FLAIR) and CT angiography.

Public names of the MRI core (other helpers' modules are imported from their submodule, e.g.
``from napari_medai.core.tasks.stroke.midline import find_mid_sagittal_plane``):

* :mod:`.units` -- the ADC map's unit, detected or given, and conversion to 10^-6 mm^2/s;
* :mod:`.inputs` -- input checks (grids, b-values, ADC values) and FLAIR resampling;
* :mod:`.baseline_mri` -- the weight-free clinical baseline (ADC < 620 in DWI-bright brain);
* :mod:`.lesions` -- the lesion table (volume, centroid, diameter, mean ADC, side);
* :mod:`.mismatch` -- DWI-FLAIR mismatch (FLAIR relative signal intensity against the mirror region);
* :mod:`.segment` -- :func:`segment_stroke`, the one entry point (MRI or CTA, threshold or model).
"""

from __future__ import annotations

from .baseline_mri import (
    MRI_PARAMS,
    MRI_PARAMS_SOURCES,
    MriBaseline,
    brain_mask_mri,
    segment_mri_baseline,
)
from .inputs import MriInputs, prepare_mri_inputs, read_sidecars, resample_linear
from .lesions import LesionRow, label_components, lesion_table
from .mismatch import RESEARCH_NOTE, RSI_CUTOFFS, MismatchReport, flair_mismatch
from .segment import StrokeResult, segment_stroke
from .units import ADC_UNITS, AdcUnit, adc_in_1e6, detect_adc_unit

__all__ = [
    "ADC_UNITS",
    "MRI_PARAMS",
    "MRI_PARAMS_SOURCES",
    "RESEARCH_NOTE",
    "RSI_CUTOFFS",
    "AdcUnit",
    "LesionRow",
    "MriBaseline",
    "MismatchReport",
    "MriInputs",
    "StrokeResult",
    "adc_in_1e6",
    "brain_mask_mri",
    "detect_adc_unit",
    "flair_mismatch",
    "label_components",
    "lesion_table",
    "prepare_mri_inputs",
    "read_sidecars",
    "resample_linear",
    "segment_mri_baseline",
    "segment_stroke",
]
