"""Multi-modal brain MRI with a glioma-like tumour, labelled like BraTS 2021."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..volume import Volume
from ._brain import CSF, GM, WM, brain_tissues, tissue_image
from ._common import (
    bias_field,
    centred_origin,
    check_range,
    check_seed,
    check_shape,
    ellipsoid_radius,
    grid_mm,
    index_to_world,
    mask_volume_ml,
    rician,
    smooth_field,
)

# class codes used while building (tissues 1-3 from _brain, tumour compartments on top)
_NCR, _ET, _ED = 4, 5, 6

#: Mean intensity (arbitrary units) of each class per sequence, before bias field and noise.
#: T1: WM > GM > CSF; T2: CSF > GM > WM; FLAIR: CSF suppressed, oedema bright; T1c: enhancing rim.
_CONTRAST = {
    "flair": {CSF: 120.0, GM: 760.0, WM: 560.0, _NCR: 640.0, _ET: 980.0, _ED: 1280.0},
    "t1": {CSF: 260.0, GM: 690.0, WM: 1000.0, _NCR: 330.0, _ET: 640.0, _ED: 600.0},
    "t1c": {CSF: 270.0, GM: 720.0, WM: 1010.0, _NCR: 350.0, _ET: 1480.0, _ED: 630.0},
    "t2": {CSF: 1450.0, GM: 760.0, WM: 520.0, _NCR: 1320.0, _ET: 900.0, _ED: 1150.0},
}
_SEQUENCE_NAMES = {"flair": "FLAIR", "t1": "T1", "t1c": "T1 post-contrast", "t2": "T2"}


def brain_tumour_phantom(
    *, seed: int = 0, shape: tuple[int, int, int] = (96, 112, 96), noise_sd: float = 18.0
) -> dict[str, Volume]:
    """Skull-stripped 4-sequence brain MRI with a glioma and its BraTS 2021 labels.

    Parameters
    ----------
    seed
        Random seed (anatomy, tumour shape and position jitter, bias fields, noise).
    shape
        Grid ``(z, y, x)`` in 1 mm voxels; the anatomy scales with it. Each axis 48 to 192.
    noise_sd
        Standard deviation of the Gaussian noise on each complex channel (Rician magnitude noise),
        in the images' arbitrary units (white matter on T1 is about 1000).

    Returns
    -------
    dict of str to Volume
        ``flair``, ``t1``, ``t1c``, ``t2`` (float32, 0 outside the brain), ``brainmask``
        (label 1 = brain) and ``seg`` (BraTS 2021 labels 1 NCR, 2 ED, 4 ET), all on one 1 mm grid
        centred at the world origin. ``seg.meta`` holds the convention, compartment volumes (ml,
        including whole tumour WT and tumour core TC), the tumour centre (world mm) and side.

    Notes
    -----
    Anatomy: an ellipsoidal brain with a perturbed surface, cortical ribbon with random gyral
    thickness, sulcal and ventricular CSF and deep grey nuclei; a tumour in the patient's right
    hemisphere with an irregular necrotic core, an enhancing rim and oedema that spreads mostly
    through white matter. Each sequence has its own smooth bias field and Rician noise; the
    background is exactly 0 like BraTS.
    """
    seed = check_seed(seed)
    shape = check_shape(shape, name="shape", minimum=(48, 48, 48), maximum=(192, 192, 192))
    noise_sd = check_range(noise_sd, name="noise_sd", low=0.0, high=500.0)
    rng = np.random.default_rng(seed)
    spacing = (1.0, 1.0, 1.0)
    origin = centred_origin(shape, spacing)
    coords = grid_mm(shape, spacing)
    extent = np.asarray(shape, dtype=float) * np.asarray(spacing)
    semi = (0.38 * extent[0], 0.43 * extent[1], 0.40 * extent[2])
    az, ay, ax = semi

    tissues = brain_tissues(coords, semi, rng, shape, spacing, cortex_mm=3.0)
    classes = tissues.classes.copy()
    brain = tissues.brain

    # ---- tumour: patient's right (x < 0), frontal-parietal, above the ventricles' level
    jitter = rng.uniform(-1.0, 1.0, size=3)
    centre = (
        (0.22 + 0.05 * jitter[0]) * az,
        (-0.18 + 0.06 * jitter[1]) * ay,
        (-0.52 + 0.05 * jitter[2]) * ax,
    )
    size = float(np.cbrt(az * ay * ax)) * rng.uniform(0.9, 1.1)
    f_core = smooth_field(rng, shape, [max(3, round(e / 5.0)) for e in extent])
    f_rim = smooth_field(rng, shape, [max(3, round(e / 7.0)) for e in extent])
    f_oed = smooth_field(rng, shape, [max(3, round(e / 16.0)) for e in extent])
    stretch = rng.uniform(0.85, 1.15, size=3)
    r_t = ellipsoid_radius(coords, centre, (size * stretch[0], size * stretch[1], size * stretch[2]))
    # the tumour stays in its hemisphere (the falx); the rim always wraps the necrotic core
    hemisphere = brain & (coords[2] < -0.5)
    ncr = (r_t <= 0.15 * (1.0 + 0.4 * f_core)) & hemisphere
    rim = (r_t <= 0.27 * (1.0 + 0.2 * f_rim + 0.08 * f_core)) | ndimage.binary_dilation(ncr, iterations=2)
    et = rim & hemisphere & ~ncr
    not_csf = tissues.classes != CSF
    oed_reach = r_t <= 0.48 * (1.0 + 0.3 * f_oed)
    ed = oed_reach & hemisphere & not_csf & ((tissues.classes == WM) | (r_t <= 0.36)) & ~(ncr | et)
    # keep the oedema in one piece: drop fragments not attached to the tumour
    ed = _attached(ed, ncr | et)
    classes[ed] = _ED
    classes[et] = _ET
    classes[ncr] = _NCR

    images: dict[str, Volume] = {}
    texture = smooth_field(rng, shape, [max(3, round(e / 6.0)) for e in extent])
    for key, values in _CONTRAST.items():
        img = tissue_image(classes, values)
        # mild tissue heterogeneity (stronger inside the tumour), then partial-volume blur
        hetero = np.where(classes >= _NCR, np.float32(0.08), np.float32(0.025))
        img *= 1.0 + hetero * texture
        img = ndimage.gaussian_filter(img, sigma=0.6, mode="constant")
        img *= bias_field(rng, shape, strength=0.08)
        img = rician(rng, img, float(noise_sd))
        img[~brain] = 0.0
        images[key] = Volume(
            data=img.astype(np.float32, copy=False),
            spacing=spacing,
            origin=origin,
            modality="MR",
            units="",
            name=key,
            meta={"sequence": _SEQUENCE_NAMES[key], "phantom": "brain_tumour", "seed": seed},
        )

    seg = np.zeros(shape, dtype=np.uint8)
    seg[ncr] = 1
    seg[ed] = 2
    seg[et] = 4
    volumes = {
        "NCR": mask_volume_ml(ncr, spacing),
        "ED": mask_volume_ml(ed, spacing),
        "ET": mask_volume_ml(et, spacing),
        "TC": mask_volume_ml(ncr | et, spacing),
        "WT": mask_volume_ml(seg > 0, spacing),
    }
    centre_index = [(c - o) / s for c, o, s in zip(centre, origin, spacing)]
    images["brainmask"] = Volume(
        data=brain.astype(np.uint8),
        spacing=spacing,
        origin=origin,
        is_label=True,
        modality="MR",
        name="brainmask",
        label_names={1: "brain"},
        meta={"phantom": "brain_tumour", "seed": seed, "volume_ml": mask_volume_ml(brain, spacing)},
    )
    images["seg"] = Volume(
        data=seg,
        spacing=spacing,
        origin=origin,
        is_label=True,
        modality="MR",
        name="seg",
        label_names={1: "NCR", 2: "ED", 4: "ET"},
        meta={
            "convention": "brats2021",
            "phantom": "brain_tumour",
            "seed": seed,
            "volumes_ml": {k: round(v, 3) for k, v in volumes.items()},
            "tumour_centre_world_mm": index_to_world(centre_index, spacing, origin),
            "tumour_side": "right",
            "sequences": ["flair", "t1", "t1c", "t2"],
        },
    )
    return images


def _attached(mask: np.ndarray, seed_mask: np.ndarray) -> np.ndarray:
    """Components of ``mask`` that touch ``seed_mask`` (26-connectivity)."""
    lab, n = ndimage.label(mask | seed_mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n == 0:
        return mask
    keep = np.zeros(n + 1, dtype=bool)
    keep[np.unique(lab[seed_mask])] = True
    keep[0] = False
    return mask & keep[lab]
