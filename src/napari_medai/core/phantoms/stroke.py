"""Acute ischaemic stroke: diffusion-weighted MRI (b = 1000) and ADC map with infarct labels."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..volume import Volume
from ._brain import CSF, GM, WM, brain_tissues, tissue_image
from ._common import (
    bias_field,
    centre_of_mass_world,
    centred_origin,
    check_range,
    check_seed,
    check_shape,
    ellipsoid_radius,
    grid_mm,
    mask_volume_ml,
    rician,
    smooth_field,
)

_INFARCT = 4
#: Apparent diffusion coefficient per class in 1e-6 mm^2/s (normal brain 700-900, CSF ~3000).
_ADC = {CSF: 3000.0, GM: 830.0, WM: 730.0, _INFARCT: 450.0}
#: b = 0 signal (T2-weighted, arbitrary units); the infarct is mildly T2-hyperintense.
_S0 = {CSF: 1500.0, GM: 650.0, WM: 540.0, _INFARCT: 720.0}
B_VALUE = 1000.0  # s/mm^2
#: The usual ADC threshold of the ischaemic core, 1e-6 mm^2/s.
ADC_CORE_THRESHOLD = 620.0


def stroke_phantom(
    *, seed: int = 0, shape: tuple[int, int, int] = (40, 80, 72), noise_sd: float = 8.0
) -> dict[str, Volume]:
    """Diffusion MRI of an acute ischaemic stroke with two infarcts of different size.

    Parameters
    ----------
    seed
        Random seed (anatomy, lesion shapes, noise).
    shape
        Grid ``(z, y, x)`` of 2 mm voxels; the anatomy scales with it. Axes 24 to 128.
    noise_sd
        Rician noise level of the DWI (arbitrary units; normal white matter is about 250).

    Returns
    -------
    dict of str to Volume
        ``dwi`` (b = 1000 s/mm^2 trace image, float32, noise in the background), ``adc``
        (float32 in 1e-6 mm^2/s, 0 outside the head) and ``lesion`` (uint8 label, 1 = infarct).
        ``lesion.meta`` holds the total infarct volume in ml (voxel count x voxel volume), the
        lesion count and per-lesion volume, centre (world mm) and side, with the connectivity used.

    Notes
    -----
    A large cortical-subcortical infarct in the left middle cerebral artery territory and a small
    deep (lacunar-size) infarct on the right. Infarct ADC is about 450 (all designed values below
    the 620 core threshold before partial-volume blur and noise); normal grey/white matter ADC is
    730-830 and CSF 3000. DWI is ``S0 * exp(-b * ADC)`` with Rician noise, so the infarct is bright.
    """
    seed = check_seed(seed)
    shape = check_shape(shape, name="shape", minimum=(24, 24, 24), maximum=(128, 128, 128))
    noise_sd = check_range(noise_sd, name="noise_sd", low=0.0, high=200.0)
    rng = np.random.default_rng(seed)
    spacing = (2.0, 2.0, 2.0)
    origin = centred_origin(shape, spacing)
    coords = grid_mm(shape, spacing)
    extent = np.asarray(shape, dtype=float) * np.asarray(spacing)
    semi = (0.40 * extent[0], 0.43 * extent[1], 0.40 * extent[2])
    az, ay, ax = semi

    tissues = brain_tissues(coords, semi, rng, shape, spacing, cortex_mm=3.0)
    classes = tissues.classes.copy()
    parenchyma = (classes == GM) | (classes == WM)

    # ---- infarcts: irregular, confined to parenchyma
    f1 = smooth_field(rng, shape, [max(3, round(e / 9.0)) for e in extent])
    f2 = smooth_field(rng, shape, [max(3, round(e / 6.0)) for e in extent])
    j = rng.uniform(-1.0, 1.0, size=6)
    # large: left MCA territory, reaching the cortex (x > 0 is the patient's left)
    c_big = ((0.15 + 0.05 * j[0]) * az, (-0.05 + 0.05 * j[1]) * ay, (0.68 + 0.04 * j[2]) * ax)
    r_big = ellipsoid_radius(coords, c_big, (0.38 * az, 0.30 * ay, 0.33 * ax))
    big = (r_big <= 1.0 + 0.35 * f1) & parenchyma
    big = _largest_component(big)
    # small: deep right hemisphere, about 5 mm radius
    c_small = ((-0.05 + 0.05 * j[3]) * az, (0.12 + 0.04 * j[4]) * ay, (-0.33 + 0.03 * j[5]) * ax)
    r_small = ellipsoid_radius(coords, c_small, (4.5, 5.0, 4.0))
    small = (r_small <= 1.0 + 0.15 * f2) & parenchyma
    small = _largest_component(small)
    lesion = big | small
    classes[lesion] = _INFARCT

    # ---- ADC: heterogeneous core, partial volume, noise; CSF-filled margin so edges stay > 620
    head = ndimage.binary_dilation(tissues.brain, iterations=1)
    adc = tissue_image(classes, _ADC, background=_ADC[CSF])
    adc[lesion] += np.float32(25.0) * np.clip(f2[lesion], -2.0, 2.0)
    s0 = tissue_image(classes, _S0, background=_S0[CSF])
    adc = ndimage.gaussian_filter(adc, sigma=0.5)
    s0 = ndimage.gaussian_filter(s0, sigma=0.5)
    dwi = s0 * np.exp(np.float32(-B_VALUE * 1e-6) * adc)
    dwi[~head] = 0.0
    dwi *= bias_field(rng, shape, strength=0.06)
    dwi = rician(rng, dwi, noise_sd)
    adc = adc + rng.normal(0.0, 25.0, size=shape).astype(np.float32)
    adc = np.clip(adc, 0.0, None)
    adc[~head] = 0.0

    # ---- facts
    lab, n = ndimage.label(lesion, structure=np.ones((3, 3, 3), dtype=bool))
    lesions = []
    for k in range(1, n + 1):
        m = lab == k
        centre = centre_of_mass_world(m, spacing, origin)
        lesions.append(
            {
                "volume_ml": round(mask_volume_ml(m, spacing), 4),
                "n_voxels": int(np.count_nonzero(m)),
                "centre_world_mm": centre,
                "side": "left" if centre[2] > 0 else "right",
            }
        )
    lesions.sort(key=lambda d: -d["volume_ml"])
    common = {"phantom": "stroke", "seed": seed}
    out = {
        "dwi": Volume(
            data=dwi.astype(np.float32, copy=False), spacing=spacing, origin=origin, modality="MR",
            units="", name="dwi", meta={**common, "sequence": "DWI trace", "b_value": B_VALUE},
        ),
        "adc": Volume(
            data=adc.astype(np.float32, copy=False), spacing=spacing, origin=origin, modality="MR",
            units="1e-6 mm^2/s", name="adc",
            meta={**common, "sequence": "ADC", "core_threshold": ADC_CORE_THRESHOLD},
        ),
        "lesion": Volume(
            data=lesion.astype(np.uint8), spacing=spacing, origin=origin, is_label=True,
            modality="MR", name="lesion", label_names={1: "infarct"},
            meta={
                **common,
                "lesion_volume_ml": round(mask_volume_ml(lesion, spacing), 4),
                "n_lesions": n,
                "connectivity": "3-D, 26-connected",
                "lesions": lesions,
                "adc_core_threshold": ADC_CORE_THRESHOLD,
            },
        ),
    }
    return out


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))
