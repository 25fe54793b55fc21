"""Non-contrast ECG-gated chest CT for coronary calcium scoring, with known Agatston scores.

Geometry: 0.7 mm pixels, 3 mm slices, ``(24, 272, 320)`` voxels = 72 x 190 x 224 mm, axial, centred
at the world origin (z superior, y posterior, x patient left). Anatomy is drawn in mm, then blurred
slightly in-plane (partial volume), then Gaussian noise is added and the result is rounded to int16
HU; the calcifications are pasted last so that their pixels, and only those, are >= 130 HU.

Ground truth ``assignment`` marks exactly the pixels of each calcification (the >= 130 HU pixels of
that deposit) with its artery: 1 LM, 2 LAD, 3 LCX, 4 RCA, 5 non-coronary (aortic wall). Bone (spine,
sternum, ribs) is >= 130 HU too but is *not* calcium and stays 0.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import ndimage

from ..errors import MedaiError
from ..volume import Volume
from ._common import centred_origin, check_range, check_seed, smooth_field

PIXEL_MM = 0.7
SLICE_MM = 3.0
SHAPE = (24, 272, 320)
THRESHOLD_HU = 130
MIN_AREA_MM2 = 1.0
CODES = {"LM": 1, "LAD": 2, "LCX": 3, "RCA": 4, "non-coronary": 5}
ARTERIES = ("LM", "LAD", "LCX", "RCA")

#: Density bands of the Agatston weight: (lowest HU, highest HU, weight).
_BANDS = ((130, 199, 1), (200, 299, 2), (300, 399, 3), (400, 10**6, 4))
#: Designed plaque HU -> the range its noisy pixels are clipped to (5 HU inside the band edges).
_CLIP = {165: (135, 194), 250: (205, 294), 350: (305, 394), 450: (405, 700), 480: (405, 700), 600: (405, 900)}

# heart geometry (mm): ventricles below the atrioventricular plane, atria and great vessels above
_Z_AV = 12.0
_V_CENTRE = (-12.0, 14.0)  # (y, x)
_V_SEMI = (40.0, 50.0)
_V_LENGTH = 80.0  # base-to-apex, apex below the field of view
_AORTA_ROOT = (-8.0, 2.0, 13.0)  # (y, x, radius)
_DESC_AORTA = (40.0, 30.0, 11.0)


def _weight(hu: float) -> int:
    for lo, hi, w in _BANDS:
        if lo <= hu <= hi:
            return w
    return 0


def _risk_category(total: float) -> str:
    if total <= 0:
        return "0"
    if total <= 10:
        return "1-10"
    if total <= 100:
        return "11-100"
    if total <= 400:
        return "101-400"
    return ">400"


def _disc(rho2: int) -> list[tuple[int, int]]:
    """Pixel offsets of a digital disc ``dr^2 + dc^2 <= rho2`` (5, 9, 13, 21, 25, 29 pixels ...)."""
    r = int(math.isqrt(rho2)) + 1
    return [(dr, dc) for dr in range(-r, r + 1) for dc in range(-r, r + 1) if dr * dr + dc * dc <= rho2]


def _ventricle_scale(z: float) -> float:
    if z > _Z_AV:
        return 0.0
    t = (_Z_AV - z) / _V_LENGTH
    return math.sqrt(max(0.0, 1.0 - t * t))


def _surface_point(z: float, theta_deg: float, offset: float = 3.2) -> tuple[float, float, float]:
    """Point ``offset`` mm outside the ventricles' surface at height ``z`` and in-plane angle.

    theta = 0 points to the patient's left (+x), -90 anterior (-y), 90 posterior, 180 right.
    """
    s = _ventricle_scale(min(z, _Z_AV))
    th = math.radians(theta_deg)
    return (
        z,
        _V_CENTRE[0] + (s * _V_SEMI[0] + offset) * math.sin(th),
        _V_CENTRE[1] + (s * _V_SEMI[1] + offset) * math.cos(th),
    )


def _arc(z0: float, z1: float, th0: float, th1: float, n: int = 12) -> list[tuple[float, float, float]]:
    return [_surface_point(z0 + (z1 - z0) * t, th0 + (th1 - th0) * t) for t in np.linspace(0.0, 1.0, n)]


def _coronary_paths() -> dict[str, np.ndarray]:
    """Centre lines (z, y, x) mm of the four arteries, densely resampled (0.4 mm steps)."""
    bif = _surface_point(_Z_AV - 0.5, -62.0)
    lm = [(18.0, -14.0, 12.0), bif]
    lad = [bif, *_arc(_Z_AV - 2.0, -33.0, -72.0, -58.0)]
    lcx = [bif, *_arc(_Z_AV - 1.5, 1.0, -40.0, 55.0)]
    rca = [(15.0, -19.0, -4.0), (12.5, -34.0, -6.0), *_arc(_Z_AV - 1.5, -30.0, -116.0, -200.0, n=16)]
    out = {}
    for name, pts in {"LM": lm, "LAD": lad, "LCX": lcx, "RCA": rca}.items():
        p = np.asarray(pts, dtype=float)
        seg = np.linalg.norm(np.diff(p, axis=0), axis=1)
        s = np.concatenate([[0.0], np.cumsum(seg)])
        fine = np.arange(0.0, s[-1] + 1e-9, 0.4)
        out[name] = np.stack([np.interp(fine, s, p[:, d]) for d in range(3)], axis=1)
    return out


#: Designed calcified plaques: (artery, arc length from the artery's start in mm,
#: digital-disc radius^2 per slice (one entry per slice), designed HU).
_PLAQUES = (
    ("LM", 10.0, (4, 2), 350),
    ("LAD", 10.0, (2, 5, 4), 600),
    ("LAD", 27.0, (2, 4), 250),
    ("LAD", 45.0, (2,), 165),
    ("LCX", 16.0, (4, 2), 350),
    ("LCX", 48.0, (1, 2), 165),
    ("RCA", 26.0, (4, 5), 600),
    ("RCA", 62.0, (1, 4, 2), 250),
    ("RCA", 98.0, (4,), 165),
)
#: A speck below the minimum area: 2 pixels (0.98 mm^2) in one slice, dropped by the 1 mm^2 rule.
_SPECK = ("RCA", 118.0, ((0, 0), (0, 1)), 450)


class _Grid:
    def __init__(self) -> None:
        self.spacing = (SLICE_MM, PIXEL_MM, PIXEL_MM)
        self.origin = centred_origin(SHAPE, self.spacing)
        self.z = self.origin[0] + SLICE_MM * np.arange(SHAPE[0])
        y = (self.origin[1] + PIXEL_MM * np.arange(SHAPE[1], dtype=np.float32))[:, None]
        x = (self.origin[2] + PIXEL_MM * np.arange(SHAPE[2], dtype=np.float32))[None, :]
        self.y, self.x = y, x

    def ellipse(self, cy: float, cx: float, sy: float, sx: float) -> np.ndarray:
        return ((self.y - cy) / sy) ** 2 + ((self.x - cx) / sx) ** 2 <= 1.0

    def pixel(self, y: float, x: float) -> tuple[int, int]:
        return (int(round((y - self.origin[1]) / PIXEL_MM)), int(round((x - self.origin[2]) / PIXEL_MM)))

    def disc(self, img: np.ndarray, y: float, x: float, r: float, value: float) -> None:
        """Set pixels of a 2-D image whose centres lie within ``r`` mm of (y, x)."""
        r0, c0 = self.pixel(y, x)
        n = int(math.ceil(r / PIXEL_MM)) + 1
        rs, cs = slice(max(r0 - n, 0), min(r0 + n + 1, SHAPE[1])), slice(max(c0 - n, 0), min(c0 + n + 1, SHAPE[2]))
        if rs.start >= rs.stop or cs.start >= cs.stop:
            return
        m = (self.y[rs, :] - y) ** 2 + (self.x[:, cs] - x) ** 2 <= r * r
        img[rs, cs][m] = value

    def tube(self, vol: np.ndarray, path: np.ndarray, r: float, value: float) -> None:
        """Paint a tube of radius ``r`` mm around a densely sampled centre line."""
        for k, zk in enumerate(self.z):
            dz = np.abs(path[:, 0] - zk)
            for p, d in zip(path[dz < r], dz[dz < r]):
                self.disc(vol[k], p[1], p[2], math.sqrt(r * r - d * d), value)


def _anatomy(grid: _Grid, rng: np.random.Generator) -> np.ndarray:
    """Noise-free soft tissue, lungs and bone (float32 HU), without calcium."""
    g = grid
    base = np.full(SHAPE[1:], -1000.0, dtype=np.float32)
    base[g.ellipse(4.0, 0.0, 86.0, 150.0)] = -100.0  # subcutaneous fat
    base[g.ellipse(5.0, 0.0, 78.0, 141.0)] = 45.0  # chest wall muscle
    cavity = g.ellipse(6.0, 0.0, 70.0, 132.0)
    base[cavity] = -850.0
    mediastinum = (
        g.ellipse(_V_CENTRE[0], _V_CENTRE[1], _V_SEMI[0] + 7.0, _V_SEMI[1] + 7.0)
        | g.ellipse(-44.0, 2.0, 20.0, 22.0)
        | g.ellipse(40.0, 10.0, 17.0, 26.0)
    ) & cavity
    base[mediastinum] = -90.0
    lung = cavity & ~mediastinum
    # descending aorta, oesophagus
    base[g.ellipse(_DESC_AORTA[0], _DESC_AORTA[1], _DESC_AORTA[2], _DESC_AORTA[2])] = 40.0
    base[g.ellipse(30.0, -4.0, 5.0, 7.0)] = 30.0
    # spine: vertebral body (cortical rim + cancellous), canal, posterior arch and spinous process
    base[g.ellipse(58.0, 0.0, 16.0, 17.0)] = 750.0
    base[g.ellipse(58.0, 0.0, 14.0, 15.0)] = 320.0
    arch = g.ellipse(83.0, 0.0, 12.0, 13.0) | g.ellipse(95.0, 0.0, 9.0, 3.5)
    base[arch] = 650.0
    base[g.ellipse(82.0, 0.0, 8.0, 8.5)] = 15.0
    # sternum and ribs (cortical shell, cancellous core)
    base[g.ellipse(-69.0, 0.0, 5.5, 13.0)] = 700.0
    base[g.ellipse(-69.0, 0.0, 4.0, 11.5)] = 330.0
    for ang in (-128.0, -52.0, -155.0, -25.0, 160.0, 20.0, 130.0, 50.0):
        t = math.radians(ang)
        cy, cx = 6.0 + 73.5 * math.sin(t), 136.5 * math.cos(t)
        base[g.ellipse(cy, cx, 5.0, 6.5)] = 700.0
        base[g.ellipse(cy, cx, 3.5, 5.0)] = 330.0
    vol = np.repeat(base[None], SHAPE[0], axis=0)

    # lung texture and through-plane vessels
    texture = smooth_field(rng, SHAPE, (6, 14, 16))
    vol[:, lung] += (20.0 * texture[:, lung]).astype(np.float32)
    ly, lx = np.nonzero(lung)
    pick = rng.choice(ly.size, size=60, replace=False)
    for i in pick:
        y0 = g.origin[1] + PIXEL_MM * ly[i]
        x0 = g.origin[2] + PIXEL_MM * lx[i]
        r = rng.uniform(0.8, 2.4)
        dy, dx = rng.uniform(-1.2, 1.2, size=2)
        for k in range(SHAPE[0]):
            yk, xk = y0 + dy * (k - 12), x0 + dx * (k - 12)
            rr, cc = g.pixel(yk, xk)
            if 0 <= rr < SHAPE[1] and 0 <= cc < SHAPE[2] and lung[rr, cc]:
                g.disc(vol[k], yk, xk, r, 35.0)

    # heart: pericardial fat, ventricles (myocardium ~ blood ~ 40 HU without contrast), atria,
    # aortic root / ascending aorta, pulmonary trunk
    for k, zk in enumerate(g.z):
        sl = vol[k]
        s = _ventricle_scale(zk)
        if s > 0:
            sl[g.ellipse(_V_CENTRE[0], _V_CENTRE[1], s * _V_SEMI[0] + 5.0, s * _V_SEMI[1] + 5.0)] = -95.0
            sl[g.ellipse(_V_CENTRE[0], _V_CENTRE[1], s * _V_SEMI[0], s * _V_SEMI[1])] = 42.0
            sl[g.ellipse(_V_CENTRE[0] + 4.0, _V_CENTRE[1] - 2.0, s * 22.0, s * 30.0)] = 38.0  # blood pool
        if zk > _Z_AV - 2.0:
            sl[g.ellipse(14.0, 16.0, 19.0, 27.0)] = 40.0  # left atrium
            sl[g.ellipse(-6.0, -31.0, 22.0, 17.0)] = 40.0  # right atrium
        if zk > _Z_AV - 8.0:
            ay, ax, ar = _AORTA_ROOT
            shift = max(0.0, zk - _Z_AV)
            sl[g.ellipse(ay - 0.3 * shift, ax - 0.2 * shift, ar, ar)] = 40.0
        if zk > 17.0:
            sl[g.ellipse(-36.0, 26.0, 12.0, 12.0)] = 40.0
    return vol


def cardiac_ct_phantom(*, seed: int = 0, noise_sd: float = 9.0) -> dict[str, Volume]:
    """Non-contrast cardiac CT with calcified coronary plaques of known Agatston score.

    Parameters
    ----------
    seed
        Random seed (lung texture and vessels, image noise).
    noise_sd
        Standard deviation of the Gaussian image noise in HU (0 to 15, so soft tissue never
        reaches 130 HU).

    Returns
    -------
    dict of str to Volume
        ``ct`` (int16 HU, 0.7 x 0.7 mm pixels, 3 mm slices) and ``assignment`` (uint8 label map on the
        same grid: 1 LM, 2 LAD, 3 LCX, 4 RCA, 5 non-coronary calcium, 0 elsewhere including bone).
        ``assignment.meta['expected']`` holds, per artery and in total, the Agatston score,
        volume (mm^3), mass (calibration factor 1) and lesion count, and the risk category.

    Notes
    -----
    Scoring rules used for ``expected`` (stated in the meta too): threshold 130 HU; lesions are
    2-D 8-connected components per axial slice; lesions below 1 mm^2 are dropped; lesion score =
    area (mm^2) x weight of the lesion's peak HU (130-199: 1, 200-299: 2, 300-399: 3, >= 400: 4);
    volume = number of lesion voxels x voxel volume; mass = calibration factor x sum over lesions of
    lesion volume x mean lesion HU. Plaques are digital discs (whole pixels) whose noisy HU are clipped
    5 HU inside their density band, so each plaque pixel is >= 135 HU and every lesion's peak lies
    in its designed band. A 2-pixel (0.98 mm^2) RCA speck is labelled 4 but scores nothing.
    The expected values are computed from the design (plaque footprints and the HU placed in them),
    not by re-scoring the image.
    """
    seed = check_seed(seed)
    noise_sd = check_range(noise_sd, name="noise_sd", low=0.0, high=15.0)
    rng = np.random.default_rng(seed)
    grid = _Grid()
    vol = _anatomy(grid, rng)

    paths = _coronary_paths()
    for path in paths.values():
        grid.tube(vol, path, 4.0, -95.0)  # epicardial fat around the artery
    for name, path in paths.items():
        grid.tube(vol, path, 2.2 if name == "LM" else 1.9, 40.0)

    vol = ndimage.gaussian_filter(vol, sigma=(0.0, 0.6, 0.6))
    vol += rng.normal(0.0, noise_sd, size=SHAPE).astype(np.float32)
    ct = np.rint(vol)
    assignment = np.zeros(SHAPE, dtype=np.uint8)

    # ---- calcium: coronary plaques, the speck, aortic wall calcium
    lesions = []  # one entry per 2-D lesion: artery, slice, pixel count, sum of HU, peak HU
    plaques_meta = []

    def paste(artery: str, k: int, pixels: list[tuple[int, int]], hu: int) -> tuple[int, float, int]:
        rows = np.array([p[0] for p in pixels])
        cols = np.array([p[1] for p in pixels])
        lo, hi = _CLIP[hu]
        noise = rng.normal(0.0, noise_sd, size=rows.size)
        values = np.clip(np.rint(hu + noise), lo, hi)
        ct[k, rows, cols] = values
        assignment[k, rows, cols] = CODES[artery]
        return rows.size, float(values.sum()), int(values.max())

    for artery, s_mm, radii2, hu in _PLAQUES:
        slices = _plaque_slices(grid, paths[artery], s_mm, len(radii2))
        plaque = {
            "artery": artery, "designed_hu": hu, "slices": [], "area_mm2": [], "slice_centres_world_mm": [],
            "centre_world_mm": None,
        }
        for (k, r0, c0), rho2 in zip(slices, radii2):
            pixels = [(r0 + dr, c0 + dc) for dr, dc in _disc(rho2)]
            n, hu_sum, peak = paste(artery, k, pixels, hu)
            lesions.append({"artery": artery, "slice": k, "n": n, "hu_sum": hu_sum, "peak": peak})
            plaque["slices"].append(k)
            plaque["area_mm2"].append(round(n * PIXEL_MM * PIXEL_MM, 4))
            plaque["slice_centres_world_mm"].append(_world(grid, k, r0, c0))
        k_mid, r_mid, c_mid = slices[len(slices) // 2]
        plaque["centre_world_mm"] = _world(grid, k_mid, r_mid, c_mid)
        plaques_meta.append(plaque)

    artery, s_mm, offsets, hu = _SPECK
    (k, r0, c0), = _plaque_slices(grid, paths[artery], s_mm, 1)
    speck_pixels = [(r0 + dr, c0 + dc) for dr, dc in offsets]
    n, hu_sum, peak = paste(artery, k, speck_pixels, hu)
    lesions.append({"artery": artery, "slice": k, "n": n, "hu_sum": hu_sum, "peak": peak})  # scores 0
    speck = {
        "artery": artery, "slice": k, "n_pixels": len(speck_pixels),
        "area_mm2": len(speck_pixels) * PIXEL_MM * PIXEL_MM, "designed_hu": hu,
        "centre_world_mm": _world(grid, k, r0, c0),
    }

    non_coronary = _paste_aortic_calcium(grid, paste)
    lesions.extend(non_coronary)

    _check_isolated(ct, assignment)

    expected = _expected_scores(lesions)
    common = {"phantom": "cardiac_ct", "seed": seed}
    scoring = {
        "threshold_hu": THRESHOLD_HU,
        "connectivity": "2-D, 8-connected, per axial slice",
        "min_lesion_area_mm2": MIN_AREA_MM2,
        "density_weights": {"130-199": 1, "200-299": 2, "300-399": 3, ">=400": 4},
        "calibration_factor": 1.0,
        "mass_definition": "calibration factor x sum over lesions of (lesion volume mm^3 x mean HU)",
        "volume_definition": "number of lesion voxels x voxel volume (mm^3), lesions >= 1 mm^2 only",
        "lesion_count_definition": "number of scored 2-D lesions (slice-wise components)",
    }
    return {
        "ct": Volume(
            data=ct.astype(np.int16),
            spacing=grid.spacing,
            origin=grid.origin,
            modality="CT",
            units="HU",
            name="ct",
            meta={**common, "kind": "non-contrast ECG-gated cardiac CT", "noise_sd_hu": noise_sd,
                  "slice_thickness_mm": SLICE_MM},
        ),
        "assignment": Volume(
            data=assignment,
            spacing=grid.spacing,
            origin=grid.origin,
            is_label=True,
            modality="CT",
            name="assignment",
            label_names={1: "LM", 2: "LAD", 3: "LCX", 4: "RCA", 5: "non-coronary"},
            meta={
                **common,
                "expected": expected,
                "scoring": scoring,
                "plaques": plaques_meta,
                "speck": speck,
                "bone_label": 0,
                "note": "labels mark exactly the >= 130 HU pixels of each calcification; bone is 0",
            },
        ),
    }


def _world(grid: _Grid, k: int, r: int, c: int) -> tuple[float, float, float]:
    o = grid.origin
    return (round(o[0] + SLICE_MM * k, 3), round(o[1] + PIXEL_MM * r, 3), round(o[2] + PIXEL_MM * c, 3))


def _plaque_slices(grid: _Grid, path: np.ndarray, s_mm: float, n_slices: int) -> list[tuple[int, int, int]]:
    """Slices (and the artery's in-plane pixel in each) covered by a plaque centred at ``s_mm``."""
    i = min(int(round(s_mm / 0.4)), len(path) - 1)
    z = path[i, 0]
    k0 = int(round((z - grid.origin[0]) / SLICE_MM))
    if n_slices == 1:
        ks = [k0]
    elif n_slices == 2:
        k1 = k0 + 1 if (z - grid.z[k0]) >= 0 else k0 - 1
        ks = sorted([k0, k1])
    else:
        ks = [k0 - 1 + j for j in range(n_slices)]
    window = path[max(0, i - 15) : i + 16]  # +- 6 mm of centre line
    out = []
    for k in ks:
        j = int(np.argmin(np.abs(window[:, 0] - grid.z[k])))
        r, c = grid.pixel(window[j, 1], window[j, 2])
        out.append((k, r, c))
    return out


def _paste_aortic_calcium(grid: _Grid, paste: Callable[..., tuple[int, float, int]]) -> list[dict]:
    """Crescents of calcium in the descending-aorta wall and the aortic root (label 5)."""
    lesions = []
    specs = [
        # (centre y, x, radius mm, angle range deg, slices, HU)
        (_DESC_AORTA[0], _DESC_AORTA[1], _DESC_AORTA[2], (20.0, 55.0), (4, 5), 480),
        (_AORTA_ROOT[0] - 0.3 * 4.5, _AORTA_ROOT[1] - 0.2 * 4.5, _AORTA_ROOT[2], (120.0, 170.0), (18,), 250),
    ]
    for cy, cx, rad, (a0, a1), slices, hu in specs:
        dist = np.sqrt((grid.y - cy) ** 2 + (grid.x - cx) ** 2)
        ang = np.degrees(np.arctan2(grid.y - cy, grid.x - cx))
        ring = (dist <= rad) & (dist > rad - 1.5) & (ang >= a0) & (ang <= a1)
        rr, cc = np.nonzero(ring)
        pixels = list(zip(rr.tolist(), cc.tolist()))
        for k in slices:
            n, hu_sum, peak = paste("non-coronary", k, pixels, hu)
            lesions.append({"artery": "non-coronary", "slice": k, "n": n, "hu_sum": hu_sum, "peak": peak})
    return lesions


def _check_isolated(ct: np.ndarray, assignment: np.ndarray) -> None:
    """Guard the design: each calcification must be its own set of >= 130 HU pixels in each slice."""
    hot = ct >= THRESHOLD_HU
    if np.any(~hot & (assignment > 0)):
        raise MedaiError("cardiac phantom design error: a calcium pixel is below 130 HU")
    eight = np.ones((3, 3), dtype=bool)
    for k in np.unique(np.nonzero(assignment)[0]):
        lab, _ = ndimage.label(hot[k], structure=eight)
        comp = np.unique(lab[assignment[k] > 0])
        touching = np.isin(lab, comp) & (assignment[k] == 0)
        if np.any(touching):
            raise MedaiError(f"cardiac phantom design error: calcium in slice {k} touches other >= 130 HU pixels")
        for c in comp[comp > 0]:
            if np.unique(assignment[k][lab == c]).size != 1:
                raise MedaiError(f"cardiac phantom design error: deposits of two arteries touch in slice {k}")


def _expected_scores(lesions: list[dict]) -> dict:
    """Agatston, volume, mass and lesion counts from the designed lesions."""
    pixel_area = PIXEL_MM * PIXEL_MM
    voxel_volume = pixel_area * SLICE_MM
    keys = (*ARTERIES, "total")
    out = {name: dict.fromkeys(keys, 0.0) for name in ("agatston", "volume_mm3", "mass")}
    out["lesion_count"] = dict.fromkeys(keys, 0)
    nc = {"agatston": 0.0, "volume_mm3": 0.0, "mass": 0.0, "lesion_count": 0}
    # a plaque's footprint can share slice k with another deposit only if they are separate
    # lesions (checked by _check_isolated), so each entry is one 2-D lesion
    for les in lesions:
        area = les["n"] * pixel_area
        if area < MIN_AREA_MM2:
            continue
        score = area * _weight(les["peak"])
        volume = les["n"] * voxel_volume
        mass = 1.0 * volume * (les["hu_sum"] / les["n"])
        if les["artery"] == "non-coronary":
            nc["agatston"] += score
            nc["volume_mm3"] += volume
            nc["mass"] += mass
            nc["lesion_count"] += 1
            continue
        for key in (les["artery"], "total"):
            out["agatston"][key] += score
            out["volume_mm3"][key] += volume
            out["mass"][key] += mass
            out["lesion_count"][key] += 1
    out["risk_category"] = _risk_category(out["agatston"]["total"])
    out["non_coronary"] = nc
    return out
