"""A simple parametric brain (CSF / grey matter / white matter) shared by the MRI phantoms."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ._common import ellipsoid_radius, smooth_field

#: Tissue class codes of :func:`brain_tissues` (background is 0).
CSF, GM, WM = 1, 2, 3


@dataclass
class BrainTissues:
    """Tissue classes of a synthetic brain and the masks used to build them."""

    classes: np.ndarray  # uint8: 0 background, 1 CSF, 2 GM, 3 WM
    brain: np.ndarray  # bool: inside the brain surface
    depth_mm: np.ndarray  # float32: approximate depth below the brain surface (negative outside)
    ventricles: np.ndarray  # bool


def brain_tissues(
    coords: Sequence[np.ndarray],
    semi_axes: Sequence[float],
    rng: np.random.Generator,
    shape: Sequence[int],
    spacing: Sequence[float],
    *,
    ventricle_scale: float = 1.0,
    cortex_mm: float = 3.0,
) -> BrainTissues:
    """Classify the points ``coords`` (mm, brain frame centred at 0) into CSF, GM and WM.

    The brain is an ellipsoid with ``semi_axes`` (z, y, x) mm whose surface is perturbed by a smooth
    random field; a cortical ribbon of about ``cortex_mm`` with random gyral thickness, sulcal and
    interhemispheric CSF, deep grey nuclei and banana-shaped lateral ventricles (widened by
    ``ventricle_scale``) sit inside. Axis convention: z superior, y posterior, x patient left.
    """
    z, y, x = coords
    az, ay, ax = (float(a) for a in semi_axes)
    extent = [n * s for n, s in zip(shape, spacing)]
    a_mean = float(np.cbrt(az * ay * ax))

    f_shape = smooth_field(rng, shape, [max(3, round(e / 35.0)) for e in extent])
    f_fold = smooth_field(rng, shape, [max(3, round(e / 14.0)) for e in extent])
    f_vent = smooth_field(rng, shape, [max(3, round(e / 20.0)) for e in extent])

    r = ellipsoid_radius(coords, (0.0, 0.0, 0.0), (az, ay, ax))
    rn = r / (1.0 + np.float32(0.045) * f_shape)
    brain = rn <= 1.0
    depth_mm = (1.0 - rn) * np.float32(a_mean)

    classes = np.zeros(brain.shape, dtype=np.uint8)
    classes[brain] = WM
    # gyri and sulci: the zero set of a smooth random field forms curved sheets; near the surface
    # they become sulci (CSF) lined by grey matter, between them the gyri have white-matter cores
    voxel = float(min(spacing))
    sulcal_depth = np.float32(2.8 * cortex_mm) * (1.0 + 0.25 * f_vent)
    near_sheet = np.abs(f_fold)
    cortex = brain & (
        (depth_mm < np.float32(cortex_mm)) | ((near_sheet < 0.3) & (depth_mm < sulcal_depth + cortex_mm))
    )
    classes[cortex] = GM
    sulci = brain & (near_sheet < 0.06 + 0.05 * voxel) & (depth_mm < sulcal_depth)
    # deep grey nuclei (thalamus / basal ganglia), both sides
    for side in (-1.0, 1.0):
        deep = ellipsoid_radius(coords, (0.0, 0.06 * ay, side * 0.22 * ax), (0.17 * az, 0.2 * ay, 0.12 * ax))
        classes[(deep <= 1.0) & brain] = GM

    # interhemispheric fissure in the upper half
    half_width = 0.6 * float(spacing[2])
    fissure = brain & (np.abs(x - 0.8 * f_vent) < half_width) & (z > -0.05 * az) & ((rn > 0.6) | (z > 0.45 * az))
    classes[sulci | fissure] = CSF

    # lateral ventricles: curved ellipsoids (centre line sags towards the back and front)
    s = float(ventricle_scale)
    zc = 0.18 * az - 0.22 * az * (y / ay) ** 2
    ventricles = np.zeros(brain.shape, dtype=bool)
    for side in (-1.0, 1.0):
        rv = np.sqrt(
            ((z - zc) / (0.13 * az * s**0.5)) ** 2
            + ((y - 0.02 * ay) / (0.42 * ay)) ** 2
            + ((x - side * 0.12 * ax * s**0.5) / (0.055 * ax * s)) ** 2
        )
        ventricles |= rv <= 1.0 + 0.12 * f_vent
    ventricles &= brain
    classes[ventricles] = CSF
    return BrainTissues(classes=classes, brain=brain, depth_mm=depth_mm, ventricles=ventricles)


def tissue_image(classes: np.ndarray, values: dict[int, float], background: float = 0.0) -> np.ndarray:
    """Piecewise-constant float32 image: ``values[c]`` where ``classes == c``."""
    lut = np.full(int(classes.max()) + 1 if classes.size else 1, background, dtype=np.float32)
    for c, v in values.items():
        if c < lut.size:
            lut[c] = v
    return lut[classes]
