"""The weight-free clinical baseline on MRI: ischaemic core = low ADC inside DWI-bright brain.

Rule (every number in :data:`MRI_PARAMS`, where it comes from in :data:`MRI_PARAMS_SOURCES`):

1. **brain**: the largest 26-connected component of ``DWI > Otsu(DWI)`` (Otsu over the positive
   DWI voxels: brain tissue against background, skull and the dark CSF of a b = 1000 image), its
   holes filled slice by slice (ventricles), restricted to voxels with a measured ADC (> 0);
2. **CSF excluded**: brain voxels with ADC >= ``csf_adc_min`` are CSF; the rest is parenchyma;
3. **DWI-hyperintense**: DWI >= ``dwi_ratio_min`` x the median DWI of the parenchyma;
4. **core** = parenchyma & DWI-hyperintense & ADC < ``adc_core_max`` (10^-6 mm^2/s);
5. connected components (26-connected, as ISLES) smaller than ``min_lesion_ml`` are removed.

The score map is ``sigmoid((adc_core_max - ADC) / adc_score_width)`` inside DWI-hyperintense
parenchyma (0 elsewhere): how far below the threshold a voxel lies, not a calibrated probability.

The parameters were fixed from the literature and the phantom before the method was run on any
real case; they are not tuned on ISLES'22.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ...callbacks import Cancelled, ProgressFn, StopFn
from ...errors import InvalidInputError
from ...volume import Volume
from .lesions import connectivity_structure

__all__ = ["MRI_PARAMS", "MRI_PARAMS_SOURCES", "MriBaseline", "brain_mask_mri", "segment_mri_baseline"]

MRI_PARAMS: dict[str, float] = {
    "adc_core_max": 620.0,
    "csf_adc_min": 1500.0,
    "dwi_ratio_min": 1.2,
    "min_lesion_ml": 0.05,
    "adc_score_width": 50.0,
    "connectivity": 26,
}

MRI_PARAMS_SOURCES: dict[str, str] = {
    "adc_core_max": (
        "ischaemic core ADC < 620 x 10^-6 mm^2/s, the classical threshold of clinical core-estimation "
        "software (../shared/docs/reference.md, 'Ischaemic stroke')"
    ),
    "csf_adc_min": (
        "between normal parenchyma (700-900) and CSF (about 3000 x 10^-6 mm^2/s; reference.md): their "
        "geometric mean is about 1550, rounded to 1500, so partial-volume CSF edges count as CSF"
    ),
    "dwi_ratio_min": (
        "DWI signal model S0 exp(-b ADC): at b = 1000 s/mm^2 a voxel at the core threshold (620) is "
        "exp(1000 x (800 - 620) x 10^-6) = 1.20 x brighter than normal grey matter (800, reference.md) "
        "from diffusion alone; T2 prolongation of the infarct only adds, so 1.2 x the parenchyma median"
    ),
    "min_lesion_ml": (
        "phantom: with ADC noise raised to 2-4x the phantom's (SD 50-100 x 10^-6 mm^2/s, 3 seeds) the "
        "rule's false-positive clusters were 1-4 voxels of 2 mm (<= 0.032 ml) while the smallest phantom "
        "infarct was 54 voxels (0.43 ml; 16 voxels, 0.13 ml, in the later multi-lesion phantom, which the "
        "value keeps); 0.05 ml (7 voxels of 2 mm, a sphere of 4.6 mm diameter) drops the noise clusters "
        "and keeps lacunar-size lesions"
    ),
    "adc_score_width": (
        "score map only (not the mask): 2 x the ADC noise SD of the phantom (25 x 10^-6 mm^2/s), so the "
        "score runs from 0.38 to 0.62 across one noise SD either side of the threshold"
    ),
    "connectivity": "26-connected components, as ISLES 2022 (reference.md)",
}


@dataclass
class MriBaseline:
    """Output of :func:`segment_mri_baseline`.

    Attributes
    ----------
    mask
        Ischaemic core (uint8, 1 = lesion) on the DWI grid.
    score
        float32 score in 0..1 (see the module docstring).
    brain
        Boolean brain mask used.
    parenchyma
        Boolean brain-minus-CSF mask (the reference region for the DWI median).
    dwi_reference
        Median DWI of the parenchyma.
    removed_components
        Number of candidate components dropped as smaller than ``min_lesion_ml``.
    params
        The parameters used.
    """

    mask: Volume
    score: Volume
    brain: np.ndarray
    parenchyma: np.ndarray
    dwi_reference: float
    removed_components: int
    params: dict[str, float]


def _check_params(params: dict[str, Any] | None) -> dict[str, float]:
    p = dict(MRI_PARAMS)
    if params:
        unknown = sorted(set(params) - set(MRI_PARAMS))
        if unknown:
            raise InvalidInputError(f"unknown MRI baseline parameter(s) {unknown}; known: {sorted(MRI_PARAMS)}")
        p.update(params)
    for k in ("adc_core_max", "csf_adc_min", "dwi_ratio_min", "adc_score_width"):
        if not float(p[k]) > 0:
            raise InvalidInputError(f"MRI baseline parameter {k} must be > 0, got {p[k]!r}")
    if float(p["min_lesion_ml"]) < 0:
        raise InvalidInputError(f"min_lesion_ml must be >= 0, got {p['min_lesion_ml']!r}")
    if float(p["csf_adc_min"]) <= float(p["adc_core_max"]):
        raise InvalidInputError("csf_adc_min must be above adc_core_max")
    return p


def brain_mask_mri(dwi: Volume, adc: Volume) -> np.ndarray:
    """Brain mask from the DWI and ADC (step 1 of the module docstring).

    Raises
    ------
    InvalidInputError
        The DWI has no positive voxel, or Otsu finds no brain.
    """
    from skimage.filters import threshold_otsu

    d = np.asarray(dwi.data, dtype=np.float32)
    a = np.asarray(adc.data, dtype=np.float32)
    pos = d[d > 0]
    if pos.size < 100:
        raise InvalidInputError(f"DWI {dwi.name!r}: fewer than 100 positive voxels; is it an empty image?")
    thr = float(threshold_otsu(pos))
    fg = d > thr
    lab, n = ndi.label(fg, structure=connectivity_structure(26))
    if n == 0:
        raise InvalidInputError(f"DWI {dwi.name!r}: no brain found above the Otsu threshold {thr:.4g}")
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    brain = lab == int(np.argmax(sizes))
    for z in range(brain.shape[0]):
        brain[z] = ndi.binary_fill_holes(brain[z])
    return brain & (a > 0)


def segment_mri_baseline(
    dwi: Volume,
    adc_1e6: Volume,
    *,
    params: dict[str, Any] | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> MriBaseline:
    """Ischaemic core from a DWI and an ADC map in 10^-6 mm^2/s (see the module docstring).

    Parameters
    ----------
    dwi
        3-D DWI (b = 1000 trace image, or the highest b available).
    adc_1e6
        ADC map in 10^-6 mm^2/s on the DWI grid (:func:`.units.adc_in_1e6`).
    params
        Overrides of :data:`MRI_PARAMS` (for experiments; the documented baseline uses the defaults).
    progress, should_stop
        The core's callbacks (:mod:`napari_medai.core.callbacks`).

    Returns
    -------
    MriBaseline
    """
    p = _check_params(params)
    if not dwi.same_grid(adc_1e6):
        raise InvalidInputError(
            f"DWI {dwi.name!r} and ADC {adc_1e6.name!r} are not on one grid "
            f"({'; '.join(dwi.grid_differences(adc_1e6))}); prepare them with prepare_mri_inputs"
        )
    if "1e-6" not in (adc_1e6.units or ""):
        raise InvalidInputError(
            f"ADC {adc_1e6.name!r}: units {adc_1e6.units!r}; convert it to 10^-6 mm^2/s with adc_in_1e6 "
            "before thresholding (the unit must be established)"
        )

    def step(f: float, msg: str) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled("stroke baseline cancelled")
        if progress is not None:
            progress(f, msg)

    step(0.0, "brain mask")
    d = np.asarray(dwi.data, dtype=np.float32)
    a = np.asarray(adc_1e6.data, dtype=np.float32)
    brain = brain_mask_mri(dwi, adc_1e6)
    parenchyma = brain & (a < float(p["csf_adc_min"]))
    if np.count_nonzero(parenchyma) < 100:
        raise InvalidInputError(
            f"DWI {dwi.name!r} / ADC {adc_1e6.name!r}: fewer than 100 brain voxels below the CSF ADC "
            f"{p['csf_adc_min']:.0f}; check the ADC unit (--adc-unit)"
        )
    step(0.4, "DWI-hyperintense brain")
    ref = float(np.median(d[parenchyma]))
    bright = parenchyma & (d >= float(p["dwi_ratio_min"]) * ref)
    core = bright & (a < float(p["adc_core_max"]))
    step(0.7, "connected components")
    lab, n = ndi.label(core, structure=connectivity_structure(int(p["connectivity"])))
    removed = 0
    if n:
        min_vox = float(p["min_lesion_ml"]) * 1000.0 / dwi.voxel_volume_mm3
        sizes = np.bincount(lab.ravel(), minlength=n + 1)
        keep = sizes >= min_vox
        keep[0] = False
        removed = int(n - np.count_nonzero(keep))
        core = keep[lab]
    score = np.zeros(d.shape, dtype=np.float32)
    z = (float(p["adc_core_max"]) - a[bright]) / float(p["adc_score_width"])
    score[bright] = (1.0 / (1.0 + np.exp(-np.clip(z, -50, 50)))).astype(np.float32)
    step(1.0, "done")
    mask_vol = dwi.with_data(core.astype(np.uint8), is_label=True, label_names={1: "ischaemic core"},
                             units="", name="stroke lesion", meta={"method": "threshold-mri"})
    score_vol = dwi.with_data(score, is_label=False, units="", name="stroke score",
                              meta={"method": "threshold-mri", "kind": "score, not a calibrated probability"})
    return MriBaseline(mask=mask_vol, score=score_vol, brain=brain, parenchyma=parenchyma,
                       dwi_reference=ref, removed_components=removed, params=p)
