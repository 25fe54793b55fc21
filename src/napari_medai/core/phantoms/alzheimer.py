"""A small cohort of T1 brain MRIs, half Alzheimer's disease (AD) with planted atrophy, half controls."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from scipy import ndimage

from ..errors import InvalidInputError
from ..volume import Volume
from ._brain import CSF, GM, WM, brain_tissues, tissue_image
from ._common import (
    bias_field,
    centred_origin,
    check_seed,
    check_shape,
    ellipsoid_radius,
    grid_mm,
    mask_volume_ml,
    rician,
)

_T1 = {CSF: 230.0, GM: 640.0, WM: 1000.0}


def alzheimer_cohort_phantom(
    *, seed: int = 0, n_subjects: int = 12, shape: tuple[int, int, int] = (48, 56, 48)
) -> dict[str, Volume]:
    """T1-weighted brains of a balanced AD / normal-control (NC) cohort with planted atrophy.

    Parameters
    ----------
    seed
        Random seed (diagnosis order, anatomy, pose, intensity, noise).
    n_subjects
        Even number of subjects, 2 to 40; half are AD, half NC (order shuffled by ``seed``).
    shape
        Grid ``(z, y, x)`` of 2 mm voxels shared by all subjects; each axis 24 to 96.

    Returns
    -------
    dict of str to Volume
        ``subject_00``, ``subject_01``, ... : skull-stripped T1 images (float32, 0 outside the brain,
        white matter about 1000 times a subject gain). Each ``meta`` holds ``diagnosis`` ('AD' or
        'NC'), ``landmarks_world_mm`` (centres of the left/right hippocampus and lateral ventricle
        and of the brain, in world mm), the subject's pose (rotation in degrees, translation in mm),
        brain scale and intensity gain, and hippocampus / ventricle volumes in ml measured on the
        voxel grid.

    Notes
    -----
    AD subjects have both hippocampi shrunk (to 55-70 % of their volume, the vacated space filled by
    CSF like an enlarged temporal horn), lateral ventricles widened 1.7-2.0 times and a slightly
    thinner cortex; controls have ventricle widening 1.0-1.15 (age). Every subject differs in brain
    size (+-7 %), a small rotation (up to 6 degrees about the z and x axes), translation (up to
    4 mm per axis), intensity gain (+-12 %), bias field and Rician noise.
    """
    seed = check_seed(seed)
    if isinstance(n_subjects, bool) or not isinstance(n_subjects, Integral) or not (
        2 <= n_subjects <= 40 and n_subjects % 2 == 0
    ):
        raise InvalidInputError(f"n_subjects must be an even integer from 2 to 40, got {n_subjects!r}")
    shape = check_shape(shape, name="shape", minimum=(24, 24, 24), maximum=(96, 96, 96))
    rng = np.random.default_rng(seed)
    n = int(n_subjects)
    diagnoses = np.array(["AD"] * (n // 2) + ["NC"] * (n // 2))
    rng.shuffle(diagnoses)
    spacing = (2.0, 2.0, 2.0)
    origin = centred_origin(shape, spacing)
    grid = grid_mm(shape, spacing)
    world = np.stack(np.broadcast_arrays(*grid), axis=-1)  # (z, y, x, 3)
    extent = np.asarray(shape, dtype=float) * np.asarray(spacing)
    base_semi = np.array([0.38 * extent[0], 0.42 * extent[1], 0.40 * extent[2]])

    out: dict[str, Volume] = {}
    for i, dx in enumerate(diagnoses):
        sub = np.random.default_rng([seed, i])
        ad = dx == "AD"
        scale = sub.uniform(0.93, 1.07)
        semi = base_semi * scale
        yaw, pitch = sub.uniform(-6.0, 6.0, size=2)
        shift = sub.uniform(-4.0, 4.0, size=3)
        rot = _rotation(yaw, pitch)
        # subject-frame coordinates of each voxel: rot^T (world - shift)
        local = (world - shift) @ rot
        coords = [local[..., 0], local[..., 1], local[..., 2]]
        vent_scale = sub.uniform(1.7, 2.0) if ad else sub.uniform(1.0, 1.15)
        tissues = brain_tissues(coords, semi, sub, shape, spacing, ventricle_scale=vent_scale,
                                cortex_mm=3.0 if ad else 3.5)
        classes = tissues.classes.copy()
        brain = tissues.brain

        az, ay, ax = semi
        hippo_semi = np.array([0.15 * az, 0.32 * ay, 0.11 * ax])
        shrink = sub.uniform(0.55, 0.70) if ad else 1.0
        landmarks: dict[str, tuple[float, ...]] = {}
        volumes: dict[str, float] = {}
        for side, sign in (("left", 1.0), ("right", -1.0)):
            centre = np.array([-0.30 * az, 0.05 * ay, sign * 0.36 * ax])
            full = (ellipsoid_radius(coords, centre, hippo_semi) <= 1.0) & brain
            # temporal horn: a thin CSF cleft above-lateral of the hippocampus, larger in AD
            horn_c = centre + np.array([0.55 * hippo_semi[0], 0.0, sign * 0.6 * hippo_semi[2]])
            horn_semi = hippo_semi * np.array([0.35, 0.8, 0.35]) * (1.6 if ad else 1.0)
            horn = (ellipsoid_radius(coords, horn_c, horn_semi) <= 1.0) & brain
            if ad:
                # shrink in width and height only (volume factor = shrink): the length stays
                f = math.sqrt(shrink)
                hippo = (ellipsoid_radius(coords, centre, hippo_semi * np.array([f, 1.0, f])) <= 1.0) & brain
                classes[full] = CSF
            else:
                hippo = full
            classes[horn] = CSF
            classes[hippo] = GM
            landmarks[f"hippocampus_{side}"] = _to_world(centre, rot, shift)
            vc = np.array([0.18 * az, 0.02 * ay, sign * 0.12 * ax * math.sqrt(vent_scale)])
            landmarks[f"ventricle_{side}"] = _to_world(vc, rot, shift)
            volumes[f"hippocampus_{side}_ml"] = round(mask_volume_ml(hippo, spacing), 4)
        landmarks["brain_centre"] = _to_world(np.zeros(3), rot, shift)
        volumes["ventricles_ml"] = round(mask_volume_ml(tissues.ventricles, spacing), 4)
        volumes["brain_ml"] = round(mask_volume_ml(brain, spacing), 4)

        gain = sub.uniform(0.88, 1.12)
        img = tissue_image(classes, {k: v * gain for k, v in _T1.items()})
        img = ndimage.gaussian_filter(img, sigma=0.5, mode="constant")
        img *= bias_field(sub, shape, strength=0.07)
        img = rician(sub, img, 18.0 * gain)
        img[~brain] = 0.0
        name = f"subject_{i:02d}"
        out[name] = Volume(
            data=img.astype(np.float32, copy=False),
            spacing=spacing,
            origin=origin,
            modality="MR",
            units="",
            name=name,
            meta={
                "phantom": "alzheimer_cohort",
                "seed": seed,
                "subject_id": name,
                "diagnosis": str(dx),
                "sequence": "T1",
                "landmarks_world_mm": landmarks,
                "rotation_deg": {"about_z": round(float(yaw), 3), "about_x": round(float(pitch), 3)},
                "translation_mm": tuple(round(float(t), 3) for t in shift),
                "brain_scale": round(float(scale), 4),
                "intensity_gain": round(float(gain), 4),
                "ventricle_scale": round(float(vent_scale), 4),
                "hippocampus_volume_fraction": round(float(shrink), 4),
                **volumes,
            },
        )
    return out


def _rotation(yaw_deg: float, pitch_deg: float) -> np.ndarray:
    """Rotation matrix in (z, y, x) order: ``yaw`` about the z axis, then ``pitch`` about x."""
    a, b = math.radians(yaw_deg), math.radians(pitch_deg)
    about_z = np.array([[1.0, 0.0, 0.0], [0.0, math.cos(a), -math.sin(a)], [0.0, math.sin(a), math.cos(a)]])
    about_x = np.array([[math.cos(b), -math.sin(b), 0.0], [math.sin(b), math.cos(b), 0.0], [0.0, 0.0, 1.0]])
    return about_x @ about_z


def _to_world(local: np.ndarray, rot: np.ndarray, shift: np.ndarray) -> tuple[float, float, float]:
    w = rot @ np.asarray(local, dtype=float) + shift
    return (round(float(w[0]), 3), round(float(w[1]), 3), round(float(w[2]), 3))
