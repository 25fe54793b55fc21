"""Acute ischaemic stroke: DWI (b = 1000), ADC and FLAIR MRI, and a CT angiography head.

Both phantoms share one synthetic head (:func:`_head_pose`, :func:`_stroke_anatomy`): a brain of
CSF / grey / white matter with ventricles, sulci and an interhemispheric fissure, **not centred on
the array's middle column and turned a few degrees about the superior axis**, so that a left-right
comparison about the array's middle is wrong and the mid-sagittal plane must be found from the
image. The true plane is in the label's ``meta["midline"]``.

Lesions (all in the head's own frame, confined to parenchyma, each its own 26-connected component):

* a large cortical-subcortical infarct in the left middle cerebral artery (MCA) territory;
* a lacunar-size deep infarct on the right (about 0.4-1 ml);
* a small cortical infarct on the right (about 0.1-0.3 ml);
* a tiny deep white-matter infarct in the left frontal lobe, or the right one when the
  territorial infarct covers that site (about 10-20 voxels of 2 mm, 0.08-0.16 ml).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from ..errors import InvalidInputError
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
    mask_volume_ml,
    rician,
    smooth_field,
)

_INFARCT = 4
#: Apparent diffusion coefficient per class in 1e-6 mm^2/s (normal brain 700-900, CSF ~3000).
_ADC = {CSF: 3000.0, GM: 830.0, WM: 730.0, _INFARCT: 450.0}
#: b = 0 signal (T2-weighted, arbitrary units); the infarct is mildly T2-hyperintense.
_S0 = {CSF: 1500.0, GM: 650.0, WM: 540.0, _INFARCT: 720.0}
#: FLAIR signal per class (arbitrary units): CSF suppressed, grey matter brighter than white.
_FLAIR = {CSF: 120.0, GM: 820.0, WM: 640.0}
B_VALUE = 1000.0  # s/mm^2
#: The usual ADC threshold of the ischaemic core, 1e-6 mm^2/s.
ADC_CORE_THRESHOLD = 620.0
#: Stored ADC units :func:`stroke_phantom` can write (see its ``adc_unit``).
ADC_UNITS = ("1e-6", "1e-3", "scaled")
#: FLAIR grid: 0.9 x 0.9 mm in plane, 5 mm slices (array order z, y, x).
FLAIR_SPACING = (5.0, 0.9, 0.9)
#: Offset of the FLAIR field of view's centre from the DWI's (world mm, S, P, L).
FLAIR_FOV_SHIFT_MM = (2.5, -3.6, 4.5)

#: CT numbers (HU) of the CTA phantom's tissues: enhanced brain on CT angiography source images.
_HU = {CSF: 6.0, GM: 39.0, WM: 29.0}
_HU_BONE = 1150.0
_HU_SCALP = 35.0
_HU_AIR = -1000.0
_HU_ARTERY = 280.0


# --------------------------------------------------------------------------- shared head
@dataclass
class _Pose:
    """Where the head sits: centre (world mm, S, P, L) and rotation about S (degrees)."""

    centre: tuple[float, float, float]
    yaw_deg: float

    @property
    def left(self) -> np.ndarray:  # the head's left axis in world (S, P, L)
        t = math.radians(self.yaw_deg)
        return np.array([0.0, math.sin(t), math.cos(t)])

    @property
    def posterior(self) -> np.ndarray:
        t = math.radians(self.yaw_deg)
        return np.array([0.0, math.cos(t), -math.sin(t)])

    def head_coords(self, coords: list[np.ndarray]) -> list[np.ndarray]:
        """World grid coordinates (open arrays) to head-frame (z, y, x) arrays, mm."""
        s, p, l_ = (c - np.float32(o) for c, o in zip(coords, self.centre))
        lf, pf = self.left.astype(np.float32), self.posterior.astype(np.float32)
        z = np.broadcast_to(s, np.broadcast_shapes(s.shape, p.shape, l_.shape)).astype(np.float32)
        y = (pf[1] * p + pf[2] * l_).astype(np.float32) + 0.0 * s
        x = (lf[1] * p + lf[2] * l_).astype(np.float32) + 0.0 * s
        return [z, y, x]

    def to_world(self, head_point: tuple[float, float, float]) -> np.ndarray:
        z, y, x = head_point
        return np.asarray(self.centre) + np.array([z, 0.0, 0.0]) + y * self.posterior + x * self.left

    def midline(self) -> dict:
        n = self.left
        return {
            "normal": [round(float(v), 6) for v in n],
            "offset_mm": round(float(n @ np.asarray(self.centre)), 4),
            "angle_about_s_deg": round(float(self.yaw_deg), 4),
            "angle_about_p_deg": 0.0,
            "head_centre_world_mm": [round(float(v), 3) for v in self.centre],
            "note": "plane {w : normal . w = offset_mm}, world (S, P, L); normal points to the patient's left",
        }


def _checked_pose(rng: np.random.Generator, shape: tuple[int, ...], spacing: tuple[float, ...],
                  yaw_deg: float | None, shift_mm: float | None) -> _Pose:
    """The head's pose after checking the user's yaw (degrees about S) and shift (mm along L), if given."""
    if yaw_deg is not None:
        yaw_deg = check_range(yaw_deg, name="yaw_deg", low=-15.0, high=15.0)
    if shift_mm is not None:
        shift_mm = check_range(shift_mm, name="shift_mm", low=-20.0, high=20.0)
    extent = np.asarray(shape, dtype=float) * np.asarray(spacing)
    return _head_pose(rng, extent, yaw_deg, shift_mm)


def _head_pose(rng: np.random.Generator, extent: np.ndarray, yaw_deg: float | None, shift_mm: float | None) -> _Pose:
    sign = rng.choice([-1.0, 1.0], size=2)
    yaw = float(sign[0] * rng.uniform(3.0, 6.0)) if yaw_deg is None else float(yaw_deg)
    shift = float(sign[1] * rng.uniform(0.05, 0.08) * extent[2]) if shift_mm is None else float(shift_mm)
    centre = (float(rng.uniform(-0.02, 0.02) * extent[0]), float(rng.uniform(-0.03, 0.03) * extent[1]), shift)
    return _Pose(centre=centre, yaw_deg=yaw)


@dataclass
class _Anatomy:
    classes: np.ndarray  # tissue classes with infarcts (uint8)
    normal_classes: np.ndarray  # tissue classes before infarction
    brain: np.ndarray
    depth_mm: np.ndarray
    lesion: np.ndarray  # bool, all infarcts
    lesion_parts: list[tuple[str, np.ndarray]]  # (kind, mask) per designed lesion
    head_coords: list[np.ndarray]
    semi: tuple[float, float, float]
    f_detail: np.ndarray


def _stroke_anatomy(
    rng: np.random.Generator,
    shape: tuple[int, ...],
    spacing: tuple[float, ...],
    pose: _Pose,
    *,
    semi_fraction: tuple[float, float, float],
    kinds: tuple[str, ...],
) -> _Anatomy:
    coords = grid_mm(shape, spacing)
    hc = pose.head_coords(coords)
    extent = np.asarray(shape, dtype=float) * np.asarray(spacing)
    semi = tuple(float(f * e) for f, e in zip(semi_fraction, extent))
    az, ay, ax = semi
    # the brain is built upright and centred on a grid of its own, made left-right symmetric (the
    # right half is the mirror of the left: a real brain's asymmetries are small at this scale),
    # then placed at the head's pose (nearest neighbour for the classes, linear for the depth)
    upright = brain_tissues(grid_mm(shape, spacing), semi, rng, shape, spacing, cortex_mm=3.0,
                            ventricle_scale=1.25)
    half = shape[2] // 2
    sym_classes = upright.classes.copy()
    sym_classes[..., :half] = upright.classes[..., ::-1][..., :half]
    sym_depth = upright.depth_mm.copy()
    sym_depth[..., :half] = upright.depth_mm[..., ::-1][..., :half]
    origin = centred_origin(shape, spacing)
    index = [((c - np.float32(o)) / np.float32(s)) for c, o, s in zip(hc, origin, spacing)]
    normal_classes = ndimage.map_coordinates(sym_classes, index, order=0, mode="constant", cval=0).astype(np.uint8)
    depth_mm = ndimage.map_coordinates(sym_depth, index, order=1, mode="nearest").astype(np.float32)
    brain = depth_mm >= 0.0
    normal_classes[~brain] = 0
    parenchyma = (normal_classes == GM) | (normal_classes == WM)

    f1 = smooth_field(rng, shape, [max(3, round(e / 9.0)) for e in extent])
    f2 = smooth_field(rng, shape, [max(3, round(e / 6.0)) for e in extent])
    j = rng.uniform(-1.0, 1.0, size=12)
    design = {
        # large: left MCA territory, reaching the cortex (x > 0 is the patient's left)
        "territorial": (((0.15 + 0.05 * j[0]) * az, (-0.05 + 0.05 * j[1]) * ay, (0.66 + 0.04 * j[2]) * ax),
                        (0.38 * az, 0.30 * ay, 0.33 * ax), 0.35 * f1),
        # lacunar: deep right hemisphere, 5-6.5 mm semi-axes
        "lacunar": (((-0.05 + 0.05 * j[3]) * az, (0.12 + 0.04 * j[4]) * ay, (-0.33 + 0.03 * j[5]) * ax),
                    (5.5, 6.5, 5.0), 0.15 * f2),
        # small cortical: right posterior convexity
        "cortical": (((0.30 + 0.05 * j[6]) * az, (0.50 + 0.04 * j[7]) * ay, (-0.62 + 0.03 * j[8]) * ax),
                     (4.0, 4.5, 4.0), 0.10 * f2),
        # tiny: deep white matter of the left frontal lobe
        "tiny": (((0.30 + 0.04 * j[9]) * az, (-0.42 + 0.03 * j[10]) * ay, (0.28 + 0.03 * j[11]) * ax),
                 (3.2, 3.2, 3.2), 0.0 * f2),
    }
    # the tiny one moves to the right frontal lobe when the territorial infarct covers its site
    tiny_alternative = (design["tiny"][0][0], design["tiny"][0][1], -design["tiny"][0][2])
    lesion = np.zeros(shape, dtype=bool)
    parts = []
    for kind in kinds:
        centre, radii, wobble = design[kind]
        # two voxels from the others, so each lesion stays its own 26-connected component
        apart = ~ndimage.binary_dilation(lesion, structure=np.ones((3, 3, 3), dtype=bool), iterations=2)
        sites = [centre, tiny_alternative] if kind == "tiny" else [centre]
        for site in sites:
            whole = (ellipsoid_radius(hc, site, radii) <= 1.0 + wobble) & parenchyma
            m = _largest_component(whole & apart)
            if np.count_nonzero(m) >= 0.8 * np.count_nonzero(whole):
                break
        if not np.any(m):  # on very small grids a lesion can fall entirely into CSF
            continue
        lesion |= m
        parts.append((kind, m))
    classes = normal_classes.copy()
    classes[lesion] = _INFARCT
    return _Anatomy(classes, normal_classes, brain, depth_mm, lesion, parts, hc, semi, f2)


def _lesion_facts(parts, spacing, origin, pose: _Pose) -> list[dict]:
    out = []
    for kind, m in parts:
        com = ndimage.center_of_mass(m.astype(np.uint8))
        centre = np.asarray(origin) + np.asarray(spacing) * np.asarray(com)
        lateral = float(pose.left @ (centre - np.asarray(pose.centre)))
        out.append(
            {
                "kind": kind,
                "volume_ml": round(mask_volume_ml(m, spacing), 4),
                "n_voxels": int(np.count_nonzero(m)),
                "centre_world_mm": tuple(round(float(c), 3) for c in centre),
                "centre_index": tuple(round(float(c), 3) for c in com),
                "side": "left" if lateral > 0 else "right",
                "distance_to_midline_mm": round(lateral, 2),
            }
        )
    out.sort(key=lambda d: -d["volume_ml"])
    return out


# --------------------------------------------------------------------------- MRI
def stroke_phantom(
    *,
    seed: int = 0,
    shape: tuple[int, int, int] = (40, 80, 72),
    noise_sd: float = 8.0,
    adc_unit: str = "1e-6",
    adc_scale: float = 10.0,
    with_flair: bool = True,
    flair_rsi: float = 1.0,
    yaw_deg: float | None = None,
    shift_mm: float | None = None,
) -> dict[str, Volume]:
    """Diffusion MRI (and FLAIR on its own grid) of an acute ischaemic stroke with four infarcts.

    Parameters
    ----------
    seed
        Random seed (head pose, anatomy, lesion shapes, noise).
    shape
        Grid ``(z, y, x)`` of 2 mm voxels (DWI / ADC); the anatomy scales with it. Axes 24 to 128.
    noise_sd
        Rician noise level of the DWI (arbitrary units; normal white matter is about 260).
    adc_unit
        How the ADC map is stored: ``"1e-6"`` (float32, 10^-6 mm^2/s, the default), ``"1e-3"``
        (float32, 10^-3 mm^2/s) or ``"scaled"`` (uint16 scanner-style integers, the value in
        10^-6 mm^2/s times ``adc_scale``, with no unit in the header).
    adc_scale
        Factor of the ``"scaled"`` map (ignored otherwise); 10 stores 10^-7 mm^2/s.
    with_flair
        Also return a FLAIR image on its own grid.
    flair_rsi
        FLAIR signal of the infarcts relative to the same normal tissue (1.0 = invisible on FLAIR,
        the DWI-FLAIR "mismatch" of a lesion a few hours old; 1.3 = an older, FLAIR-bright lesion).
    yaw_deg, shift_mm
        Rotation of the head about the superior axis and its shift along L (world mm); drawn from
        the seed by default (3-6 degrees and 5-8 % of the field of view, either sign).

    Returns
    -------
    dict of str to Volume
        ``dwi`` (b = 1000 s/mm^2 trace, float32, Rician noise in the background), ``adc`` (0 outside
        the head), ``flair`` when asked (float32, 0.9 x 0.9 x 5 mm on another field of view), and
        ``lesion`` (uint8, 1 = infarct, on the DWI grid). ``lesion.meta`` holds the truth: total
        volume, count, per-lesion kind / volume / centre / side (relative to the true mid-sagittal
        plane), the plane itself (``midline``), the ADC unit and ``flair_rsi``.

    Notes
    -----
    Infarct ADC is about 450 x 10^-6 mm^2/s (below the 620 core threshold before partial-volume
    blur and noise); normal grey / white matter 830 / 730, CSF 3000. DWI is ``S0 * exp(-b ADC)``
    with a mildly T2-bright infarct, so the infarct is about 1.6 x brighter than grey matter.
    FLAIR is built from the same anatomy at 2 mm, resampled onto the FLAIR grid (linear, 5 mm slab
    averaged from five sub-slices) with its own Rician noise: its in-plane detail is that of 2 mm.
    """
    seed = check_seed(seed)
    shape = check_shape(shape, name="shape", minimum=(24, 24, 24), maximum=(128, 128, 128))
    noise_sd = check_range(noise_sd, name="noise_sd", low=0.0, high=200.0)
    if adc_unit not in ADC_UNITS:
        raise InvalidInputError(f"adc_unit must be one of {', '.join(ADC_UNITS)}; got {adc_unit!r}")
    adc_scale = check_range(adc_scale, name="adc_scale", low=0.01, high=20.0)
    flair_rsi = check_range(flair_rsi, name="flair_rsi", low=0.5, high=3.0)
    rng = np.random.default_rng(seed)
    spacing = (2.0, 2.0, 2.0)
    origin = centred_origin(shape, spacing)
    pose = _checked_pose(rng, shape, spacing, yaw_deg, shift_mm)
    anat = _stroke_anatomy(
        rng, shape, spacing, pose, semi_fraction=(0.40, 0.42, 0.36),
        kinds=("territorial", "lacunar", "cortical", "tiny"),
    )
    classes, lesion = anat.classes, anat.lesion

    # ---- ADC: heterogeneous core, partial volume, noise; CSF-filled margin so edges stay > 620
    head = ndimage.binary_dilation(anat.brain, iterations=1)
    adc = tissue_image(classes, _ADC, background=_ADC[CSF])
    adc[lesion] += np.float32(25.0) * np.clip(anat.f_detail[lesion], -2.0, 2.0)
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

    # ---- FLAIR (on the DWI grid first, then onto its own grid)
    flair_vol = None
    if with_flair:
        flair = tissue_image(anat.normal_classes, _FLAIR, background=_FLAIR[CSF])
        flair[lesion] *= np.float32(flair_rsi)
        flair[~head] = 0.0
        flair = ndimage.gaussian_filter(flair, sigma=0.6)
        flair *= bias_field(rng, shape, strength=0.08)
        flair_vol = _onto_flair_grid(flair, shape, spacing, origin, rng, noise_sd=max(noise_sd, 1e-6) * 2.5)

    # ---- ADC unit as stored
    stored, units, factor = _store_adc(adc, adc_unit, adc_scale)

    # ---- facts
    lab, n = ndimage.label(lesion, structure=np.ones((3, 3, 3), dtype=bool))
    lesions = _lesion_facts(anat.lesion_parts, spacing, origin, pose)
    midline = pose.midline()
    common = {"phantom": "stroke", "seed": seed}
    out = {
        "dwi": Volume(
            data=dwi.astype(np.float32, copy=False), spacing=spacing, origin=origin, modality="MR",
            units="", name="dwi", meta={**common, "sequence": "DWI trace", "b_value": B_VALUE},
        ),
        "adc": Volume(
            data=stored, spacing=spacing, origin=origin, modality="MR", units=units, name="adc",
            meta={**common, "sequence": "ADC", "core_threshold": ADC_CORE_THRESHOLD,
                  "true_unit": adc_unit, "true_factor_to_1e6": factor},
        ),
    }
    if flair_vol is not None:
        out["flair"] = flair_vol.with_data(
            flair_vol.data, modality="MR", name="flair",
            meta={**common, "sequence": "FLAIR", "flair_rsi": flair_rsi,
                  "grid": "own grid: 0.9 x 0.9 x 5 mm, other field of view"},
        )
    out["lesion"] = Volume(
        data=lesion.astype(np.uint8), spacing=spacing, origin=origin, is_label=True,
        modality="MR", name="lesion", label_names={1: "infarct"},
        meta={
            **common,
            "lesion_volume_ml": round(mask_volume_ml(lesion, spacing), 4),
            "n_lesions": n,
            "connectivity": "3-D, 26-connected",
            "lesions": lesions,
            "adc_core_threshold": ADC_CORE_THRESHOLD,
            "adc_unit": adc_unit,
            "adc_factor_to_1e6": factor,
            "flair_rsi": flair_rsi if with_flair else None,
            "midline": midline,
        },
    )
    return out


def _store_adc(adc: np.ndarray, unit: str, scale: float) -> tuple[np.ndarray, str, float]:
    if unit == "1e-6":
        return adc.astype(np.float32, copy=False), "1e-6 mm^2/s", 1.0
    if unit == "1e-3":
        return (adc / np.float32(1000.0)).astype(np.float32), "1e-3 mm^2/s", 1000.0
    scaled = np.clip(np.rint(adc * np.float32(scale)), 0, np.iinfo(np.uint16).max).astype(np.uint16)
    return scaled, "", 1.0 / scale


def _onto_flair_grid(
    image: np.ndarray, shape: tuple[int, ...], spacing: tuple[float, ...], origin: tuple[float, ...],
    rng: np.random.Generator, *, noise_sd: float,
) -> Volume:
    """Resample a 2 mm image onto the FLAIR grid (5 mm slabs averaged from 5 sub-slices) with noise."""
    extent = np.asarray(shape) * np.asarray(spacing)
    f_shape = tuple(int(math.floor(e / s)) for e, s in zip(extent, FLAIR_SPACING))
    f_shape = (f_shape[0], f_shape[1] - 6, f_shape[2] - 4)  # a slightly smaller in-plane field of view
    centre = np.asarray(FLAIR_FOV_SHIFT_MM)
    f_origin = tuple(float(c - (n - 1) / 2.0 * s) for c, n, s in zip(centre, f_shape, FLAIR_SPACING))
    zs = f_origin[0] + FLAIR_SPACING[0] * np.arange(f_shape[0])
    ys = f_origin[1] + FLAIR_SPACING[1] * np.arange(f_shape[1])
    xs = f_origin[2] + FLAIR_SPACING[2] * np.arange(f_shape[2])
    iy = (ys - origin[1]) / spacing[1]
    ix = (xs - origin[2]) / spacing[2]
    acc = np.zeros(f_shape, dtype=np.float32)
    subs = (np.arange(5) - 2.0) / 5.0 * FLAIR_SPACING[0]
    for dz in subs:
        iz = (zs + dz - origin[0]) / spacing[0]
        grid = np.meshgrid(iz, iy, ix, indexing="ij")
        acc += ndimage.map_coordinates(image, grid, order=1, mode="constant", cval=0.0)
    acc /= np.float32(len(subs))
    data = rician(rng, acc, noise_sd)
    return Volume(data=data.astype(np.float32), spacing=FLAIR_SPACING, origin=f_origin, modality="MR", name="flair")


# --------------------------------------------------------------------------- CT angiography
def stroke_cta_phantom(
    *,
    seed: int = 0,
    shape: tuple[int, int, int] = (44, 96, 84),
    noise_sd: float = 5.0,
    with_infarct: bool = True,
    hypodensity_hu: float = 6.0,
    vessel_reduction: float = 0.6,
    yaw_deg: float | None = None,
    shift_mm: float | None = None,
) -> dict[str, Volume]:
    """CT angiography of the head (source images, HU) with an ischaemic region, and its truth.

    Parameters
    ----------
    seed
        Random seed (pose, anatomy, lesions, vessels, noise).
    shape
        Grid ``(z, y, x)`` of 2 mm voxels (axes 32 to 128): a slab through the head from the skull
        base to the vertex region.
    noise_sd
        Standard deviation of the (slightly correlated) image noise, HU; 0 to 20.
    with_infarct
        Plant the ischaemic regions (False gives a normal head: for false-positive checks).
    hypodensity_hu
        How much darker ischaemic parenchyma is than the same normal tissue (HU, 0 to 20).
    vessel_reduction
        Fraction by which the enhancement of the arteries inside the ischaemic territory is
        reduced (0 = none, 1 = not opacified).
    yaw_deg, shift_mm
        Head rotation about S and shift along L (drawn from the seed by default).

    Returns
    -------
    dict of str to Volume
        ``cta`` (float32 HU: air -1000, skull about 1150, scalp 35, grey matter 39, white matter 29,
        CSF 6, contrast-filled arteries up to about 280 before partial volume) and ``lesion``
        (uint8, 1 = ischaemic; empty when ``with_infarct`` is False) whose meta holds the truth:
        lesion list, the true mid-sagittal plane, the hypodensity and vessel reduction used.

    Notes
    -----
    Two ischaemic regions: a large left MCA territory and a lacunar-size deep one on the right.
    Arteries are tubes: both middle cerebral arteries (M1 from the circle of Willis, then branches
    fanning over the insula and the lateral convexity), the anterior cerebral arteries beside the
    midline and both posterior cerebral arteries; the ischaemic side's branches inside the territory
    lose ``vessel_reduction`` of their enhancement. Partial volume blurs everything by 0.6 voxel.
    """
    seed = check_seed(seed)
    shape = check_shape(shape, name="shape", minimum=(32, 32, 32), maximum=(128, 128, 128))
    noise_sd = check_range(noise_sd, name="noise_sd", low=0.0, high=20.0)
    hypodensity_hu = check_range(hypodensity_hu, name="hypodensity_hu", low=0.0, high=20.0)
    vessel_reduction = check_range(vessel_reduction, name="vessel_reduction", low=0.0, high=1.0)
    if not isinstance(with_infarct, bool):
        raise InvalidInputError(f"with_infarct must be True or False, got {with_infarct!r}")
    rng = np.random.default_rng(seed)
    spacing = (2.0, 2.0, 2.0)
    origin = centred_origin(shape, spacing)
    pose = _checked_pose(rng, shape, spacing, yaw_deg, shift_mm)
    anat = _stroke_anatomy(
        rng, shape, spacing, pose, semi_fraction=(0.44, 0.39, 0.36), kinds=("territorial", "lacunar"),
    )
    lesion = anat.lesion if with_infarct else np.zeros(shape, dtype=bool)
    parts = anat.lesion_parts if with_infarct else []

    # ---- tissues, skull and scalp (depth below the brain surface is negative outside)
    depth = anat.depth_mm
    hu = tissue_image(anat.normal_classes, _HU, background=_HU[CSF])
    hu[depth <= -1.5] = _HU_BONE
    hu[depth <= -7.5] = _HU_SCALP
    hu[depth <= -12.5] = _HU_AIR
    diploe = (depth <= -3.5) & (depth > -5.5)
    hu[diploe] = 700.0
    hu[lesion] -= np.float32(hypodensity_hu)

    # ---- arteries
    arteries, territory_weight = _arteries(anat, pose, rng)
    enhance = np.float32(_HU_ARTERY) * arteries
    if with_infarct:
        near = ndimage.binary_dilation(lesion, iterations=3)
        enhance[near] *= np.float32(1.0 - vessel_reduction)
    inside = depth > -1.5
    hu = np.where(inside & (arteries > 0), np.maximum(hu, enhance + hu * (1 - arteries)), hu)

    # ---- partial volume and noise (noise correlated over about a voxel, as after reconstruction)
    hu = ndimage.gaussian_filter(hu, sigma=0.6)
    if noise_sd > 0:
        noise = ndimage.gaussian_filter(rng.standard_normal(shape).astype(np.float32), sigma=0.7)
        noise *= np.float32(noise_sd / max(float(noise.std()), 1e-6))
        hu = hu + noise
    hu = hu.astype(np.float32)

    lesions = _lesion_facts(parts, spacing, origin, pose)
    common = {"phantom": "stroke_cta", "seed": seed}
    return {
        "cta": Volume(
            data=hu, spacing=spacing, origin=origin, modality="CT", units="HU", name="cta",
            meta={**common, "kind": "CT angiography source images", "noise_sd_hu": noise_sd},
        ),
        "lesion": Volume(
            data=lesion.astype(np.uint8), spacing=spacing, origin=origin, is_label=True, modality="CT",
            name="lesion", label_names={1: "ischaemic"},
            meta={
                **common,
                "lesion_volume_ml": round(mask_volume_ml(lesion, spacing), 4),
                "n_lesions": len(lesions),
                "connectivity": "3-D, 26-connected",
                "lesions": lesions,
                "hypodensity_hu": hypodensity_hu if with_infarct else 0.0,
                "vessel_reduction": vessel_reduction if with_infarct else 0.0,
                "midline": pose.midline(),
                "territory_vessel_fraction": round(territory_weight, 4),
            },
        ),
    }


def _arteries(anat: _Anatomy, pose: _Pose, rng: np.random.Generator) -> tuple[np.ndarray, float]:
    """Fractional artery occupancy (0..1) of each voxel: tubes along polylines in the head frame."""
    z, y, x = anat.head_coords
    az, ay, ax = anat.semi
    occ = np.zeros(z.shape, dtype=np.float32)
    segments: list[tuple[np.ndarray, np.ndarray, float]] = []
    willis_z = -0.55 * az
    for side in (-1.0, 1.0):
        # M1: from the circle of Willis laterally to the Sylvian fissure, then M2/M3 branches
        m1_start = np.array([willis_z, -0.05 * ay, side * 0.08 * ax])
        sylvian = np.array([willis_z + 0.15 * az, -0.02 * ay, side * 0.55 * ax])
        segments.append((m1_start, sylvian, 1.6))
        for k in range(5):
            angle = math.radians(-60.0 + 30.0 * k + rng.uniform(-8, 8))
            mid = sylvian + np.array([0.45 * az, 0.45 * ay * math.sin(angle), side * 0.12 * ax])
            end = mid + np.array([0.35 * az * math.cos(angle), 0.35 * ay * math.sin(angle), side * 0.12 * ax])
            segments.append((sylvian, mid, 1.1))
            segments.append((mid, end, 0.9))
        # ACA beside the midline, PCA to the back
        aca0 = np.array([willis_z, -0.12 * ay, side * 0.05 * ax])
        aca1 = np.array([0.1 * az, -0.55 * ay, side * 0.05 * ax])
        aca2 = np.array([0.75 * az, 0.1 * ay, side * 0.05 * ax])
        segments += [(aca0, aca1, 1.1), (aca1, aca2, 0.9)]
        pca0 = np.array([willis_z, 0.1 * ay, side * 0.1 * ax])
        pca1 = np.array([willis_z + 0.2 * az, 0.7 * ay, side * 0.3 * ax])
        segments.append((pca0, pca1, 1.1))
    spacing_mm = 2.0
    for a, b, radius in segments:
        lo = np.minimum(a, b) - radius - 2 * spacing_mm
        hi = np.maximum(a, b) + radius + 2 * spacing_mm
        box = (z >= lo[0]) & (z <= hi[0]) & (y >= lo[1]) & (y <= hi[1]) & (x >= lo[2]) & (x <= hi[2])
        if not np.any(box):
            continue
        pz, py, px = z[box], y[box], x[box]
        ab = b - a
        t = np.clip(((pz - a[0]) * ab[0] + (py - a[1]) * ab[1] + (px - a[2]) * ab[2]) / float(ab @ ab), 0.0, 1.0)
        d = np.sqrt((pz - a[0] - t * ab[0]) ** 2 + (py - a[1] - t * ab[1]) ** 2 + (px - a[2] - t * ab[2]) ** 2)
        # a tube thinner than a voxel is seen by its area fraction (partial volume)
        frac = np.clip((radius + 0.5 * spacing_mm - d) / spacing_mm, 0.0, 1.0)
        frac *= min(1.0, (radius / (0.5 * spacing_mm)) ** 2)
        occ[box] = np.maximum(occ[box], frac.astype(np.float32))
    occ[anat.depth_mm <= -1.5] = 0.0
    weight = float(occ[anat.lesion].sum() / max(float(occ.sum()), 1e-6))
    return occ, weight


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndimage.label(mask, structure=np.ones((3, 3, 3), dtype=bool))
    if n <= 1:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))
