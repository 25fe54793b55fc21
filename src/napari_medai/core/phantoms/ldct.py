"""Abdominal CT slab at full and simulated quarter dose (low-dose CT denoising)."""

from __future__ import annotations

import math
from numbers import Integral

import numpy as np
from scipy import ndimage

from ..errors import InvalidInputError
from ..simulation import simulate_low_dose_pair
from ..volume import Volume
from ._common import centred_origin, check_range, check_seed, smooth_field

FOV_MM = 230.0
SLICE_MM = 3.0
#: Full-dose photons per ray used by the phantom (gives ~10-15 HU noise at full dose in the liver).
PHANTOM_I0 = 1.5e6

#: Low-contrast liver lesions: (y, x, z offset from the slab centre, radius, HU difference to liver).
_LESIONS = (
    (-20.0, -62.0, 0.0, 9.0, -18.0),
    (15.0, -40.0, 1.0, 6.0, -12.0),
    (-35.0, -30.0, -1.5, 4.5, -20.0),
    (5.0, -78.0, 0.5, 3.5, -10.0),
    (-45.0, -70.0, 0.0, 5.0, 12.0),
)


def ldct_phantom(
    *,
    seed: int = 0,
    n_slices: int = 3,
    size: int = 256,
    dose_fraction: float = 0.25,
    i0: float = PHANTOM_I0,
) -> dict[str, Volume]:
    """Portal-venous abdominal CT slab: noise-free full dose and a simulated low-dose scan.

    Parameters
    ----------
    seed
        Random seed (organ texture, liver vessels, and the low-dose noise).
    n_slices
        Number of 3 mm axial slices (1 to 8).
    size
        Pixels per side of each slice (64 to 512); the field of view is always 230 mm, so this sets
        the pixel size (256 -> 0.898 mm).
    dose_fraction
        Dose of the low-dose scan relative to full dose, in (0, 1].
    i0
        Full-dose photons per ray of the simulated scanner.

    Returns
    -------
    dict of str to Volume
        ``full_dose`` and ``low_dose`` (float32 HU, same grid). ``full_dose`` is the *noise-free*
        filtered back-projection of the phantom with the same geometry as ``low_dose`` (see
        :mod:`napari_medai.core.simulation`), so their difference is noise only. ``low_dose.meta``
        records the dose fraction, I0, seed and number of views; ``full_dose.meta`` lists the
        low-contrast liver lesions (centre in world mm, radius, contrast).

    Notes
    -----
    Anatomy at the level of the liver: subcutaneous fat, abdominal wall muscle, liver with enhancing
    vessels and five low-contrast lesions (-20 to +12 HU), spleen with a small calcified granuloma,
    stomach with fluid and an air pocket, bowel loops, aorta, inferior vena cava, kidney, vertebra with cortical
    shell, ribs, bowel gas bubbles. All of it lies inside the scanner's circular field of view.
    """
    seed = check_seed(seed)
    if isinstance(n_slices, bool) or not isinstance(n_slices, Integral) or not 1 <= n_slices <= 8:
        raise InvalidInputError(f"n_slices must be an integer from 1 to 8, got {n_slices!r}")
    if isinstance(size, bool) or not isinstance(size, Integral) or not 64 <= size <= 512:
        raise InvalidInputError(f"size must be an integer from 64 to 512 pixels, got {size!r}")
    dose_fraction = check_range(dose_fraction, name="dose_fraction", low=1e-6, high=1.0)
    i0 = check_range(i0, name="i0", low=1.0, high=1e12)
    rng = np.random.default_rng(seed)
    n_slices, size = int(n_slices), int(size)
    px = FOV_MM / size
    spacing = (SLICE_MM, px, px)
    shape = (n_slices, size, size)
    origin = centred_origin(shape, spacing)
    y = (origin[1] + px * np.arange(size, dtype=np.float32))[:, None]
    x = (origin[2] + px * np.arange(size, dtype=np.float32))[None, :]
    zs = origin[0] + SLICE_MM * np.arange(n_slices)

    def ell(cy: float, cx: float, sy: float, sx: float, angle_deg: float = 0.0) -> np.ndarray:
        t = math.radians(angle_deg)
        dy, dx = y - cy, x - cx
        u = dx * math.cos(t) + dy * math.sin(t)
        v = -dx * math.sin(t) + dy * math.cos(t)
        return (v / sy) ** 2 + (u / sx) ** 2 <= 1.0

    texture = smooth_field(rng, shape, (max(2, n_slices), 24, 24))
    fine = smooth_field(rng, shape, (max(2, n_slices), 64, 64))
    vessels = _liver_vessels(rng, n_slices)
    slab = np.empty(shape, dtype=np.float32)
    for k, z in enumerate(zs):
        s = np.full((size, size), -1000.0, dtype=np.float32)
        body = ell(6.0, 0.0, 82.0, 110.0)
        s[body] = -100.0
        s[ell(6.0, 0.0, 70.0, 98.0)] = 55.0  # abdominal wall muscle
        cavity = ell(7.0, 0.0, 62.0, 90.0)
        s[cavity] = -85.0  # intra-abdominal fat
        s[cavity] += 8.0 * fine[k][cavity]
        liver = ell(-4.0 + 0.3 * z, -42.0, 55.0, 50.0, angle_deg=-15.0) & cavity
        s[liver] = 105.0 + 4.0 * texture[k][liver]
        for vy, vx, vr in vessels[k]:
            vm = ((y - vy) ** 2 + (x - vx) ** 2 <= vr * vr) & liver
            s[vm] = 160.0
        for ly, lx, lz, lr, dhu in _LESIONS:
            dz = z - (zs.mean() + lz)
            if abs(dz) < lr:
                r = math.sqrt(lr * lr - dz * dz)
                s[((y - ly) ** 2 + (x - lx) ** 2 <= r * r) & liver] = 105.0 + dhu
        spleen = ell(30.0, 70.0, 30.0, 17.0, angle_deg=35.0) & cavity
        s[spleen] = 115.0 + 3.0 * texture[k][spleen]
        s[((y - 32.0) ** 2 + (x - 72.0) ** 2 <= 1.2**2)] = 420.0  # calcified granuloma
        stomach = ell(-28.0, 38.0, 26.0, 30.0) & cavity
        s[stomach] = 45.0
        s[ell(-28.0, 38.0, 23.0, 27.0) & cavity] = 8.0
        s[ell(-28.0, 38.0, 23.0, 27.0) & (y < -40.0)] = -1000.0  # air above the fluid level
        s[ell(28.0, 0.0 + 4.0, 10.5, 10.5)] = 165.0  # aorta
        s[ell(22.0, -22.0, 10.0, 13.0)] = 140.0  # inferior vena cava
        kidney = ell(48.0, -50.0, 20.0, 13.0, angle_deg=30.0)
        s[kidney] = 170.0
        s[ell(48.0, -50.0, 10.0, 5.0, angle_deg=30.0)] = 40.0  # renal sinus
        # vertebra: cortical shell, cancellous body, canal, posterior elements
        s[ell(50.0, 0.0, 17.0, 18.0)] = 800.0
        s[ell(50.0, 0.0, 15.0, 16.0)] = 210.0 + 25.0 * fine[k][ell(50.0, 0.0, 15.0, 16.0)]
        s[ell(76.0, 0.0, 11.0, 12.0) | ell(84.0, 0.0, 4.0, 3.0)] = 700.0
        s[ell(74.0, 0.0, 7.0, 7.5)] = 15.0
        for ang in (-150.0, -120.0, -60.0, -30.0, 200.0, 340.0):
            t = math.radians(ang)
            cy, cx = 6.0 + 66.0 * math.sin(t), 94.0 * math.cos(t)
            s[ell(cy, cx, 4.5, 6.0, angle_deg=ang)] = 750.0
            s[ell(cy, cx, 3.0, 4.5, angle_deg=ang)] = 250.0
        for by, bx, bs in ((-8.0, 22.0, 11.0), (12.0, 38.0, 9.0), (-45.0, 5.0, 10.0), (5.0, 2.0, 8.0)):
            loop = ell(by, bx, bs, 1.3 * bs) & cavity & ~stomach & ~liver
            s[loop] = 40.0  # bowel loops (wall and contents)
            s[ell(by, bx, 0.6 * bs, 0.8 * bs) & loop] = 15.0
        for gy, gx, gr in ((-10.0, 20.0, 3.0), (-5.0, 28.0, 1.8), (10.0, 35.0, 2.5)):
            s[((y - gy) ** 2 + (x - gx) ** 2 <= gr * gr) & cavity & ~stomach] = -1000.0  # bowel gas
        slab[k] = s
    slab = ndimage.gaussian_filter(slab, sigma=(0.0, 0.5, 0.5))
    n_angles = size
    low, full = simulate_low_dose_pair(
        slab,
        pixel_size_mm=px,
        dose_fraction=dose_fraction,
        i0=i0,
        n_angles=n_angles,
        seed=seed,
    )
    centre_z = float(zs.mean())
    lesions = [
        {"centre_world_mm": (round(centre_z + lz, 3), ly, lx), "radius_mm": lr, "contrast_hu": dhu}
        for ly, lx, lz, lr, dhu in _LESIONS
    ]
    common = {"phantom": "ldct", "seed": seed}
    return {
        "full_dose": Volume(
            data=full, spacing=spacing, origin=origin, modality="CT", units="HU", name="full_dose",
            meta={
                **common,
                "dose_fraction": 1.0,
                "reconstruction": "noise-free filtered back-projection (ramp), same geometry as low_dose",
                "n_angles": n_angles,
                "liver_hu": 105.0,
                "lesions": lesions,
            },
        ),
        "low_dose": Volume(
            data=low, spacing=spacing, origin=origin, modality="CT", units="HU", name="low_dose",
            meta={
                **common,
                "dose_fraction": dose_fraction,
                "i0": i0,
                "electronic_noise_sd": 0.0,
                "n_angles": n_angles,
                "reconstruction": "filtered back-projection (ramp) of Poisson-noisy parallel-beam projections",
            },
        ),
    }


def _liver_vessels(rng: np.random.Generator, n_slices: int) -> list[list[tuple[float, float, float]]]:
    """Enhancing liver vessel cross-sections per slice: (y, x, radius) mm, drifting between slices."""
    out: list[list[tuple[float, float, float]]] = [[] for _ in range(n_slices)]
    # a few branching in-plane vessels drawn as chains of discs, plus through-plane dots
    for _ in range(5):
        y0, x0 = rng.uniform(-35.0, 25.0), rng.uniform(-75.0, -25.0)
        ang = rng.uniform(0.0, 2.0 * math.pi)
        r = rng.uniform(1.2, 2.6)
        length = rng.uniform(15.0, 35.0)
        k_sel = int(rng.integers(0, n_slices))
        for t in np.arange(0.0, length, 0.6):
            out[k_sel].append((y0 + t * math.sin(ang), x0 + t * math.cos(ang), r * (1.0 - 0.4 * t / length)))
    for _ in range(14):
        y0, x0 = rng.uniform(-45.0, 35.0), rng.uniform(-85.0, -15.0)
        dy, dx = rng.uniform(-1.5, 1.5, size=2)
        r = rng.uniform(0.8, 2.2)
        for k in range(n_slices):
            out[k].append((y0 + dy * k, x0 + dx * k, r))
    return out
