"""Lesion presence: small images with or without one bright round lesion (a classification phantom).

Each image is a smooth random background texture plus white noise; half of them (at random) hold
one bright disc (2-D) or ball (3-D) of random radius and position, softly edged. The answer --
whether a lesion is present, where and how big -- is known exactly, so a classifier's AUC can be
checked. The same seed always gives the same images.
"""

from __future__ import annotations

import numpy as np

from ..errors import InvalidInputError
from ..volume import Volume
from ._common import check_range, check_seed, smooth_field

__all__ = ["lesion_presence_cohort", "lesion_presence_phantom"]


def _one(rng: np.random.Generator, shape: tuple[int, ...], present: bool, contrast: float,
         noise_sd: float) -> tuple[np.ndarray, dict]:
    img = 0.3 * smooth_field(rng, shape, [3] * len(shape)).astype(np.float32)
    img += rng.normal(0.0, noise_sd, shape).astype(np.float32)
    info: dict = {"present": bool(present)}
    if present:
        lo = max(2.0, min(shape) / 12)
        radius = float(rng.uniform(lo, 1.8 * lo))
        centre = [float(rng.uniform(radius + 1, s - radius - 1)) for s in shape]
        grids = np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij")
        d = np.sqrt(sum((g - c) ** 2 for g, c in zip(grids, centre)))
        img += (contrast / (1.0 + np.exp((d - radius) / 0.7))).astype(np.float32)
        info.update({"centre": centre, "radius": radius})
    return img, info


def lesion_presence_phantom(
    *, seed: int = 0, size: int = 32, spatial_dims: int = 2, present: bool | None = None,
    contrast: float = 1.5, noise_sd: float = 0.35,
) -> dict[str, Volume]:
    """One image, and its answer in ``image.meta["lesion"]`` (``present``, ``centre``, ``radius``).

    Parameters
    ----------
    seed
        Random seed.
    size
        Edge of the image in pixels/voxels (16 to 256).
    spatial_dims
        2 or 3.
    present
        Force a lesion (True) or none (False); ``None`` draws it (probability 1/2).
    contrast, noise_sd
        Lesion brightness above the background, and the white-noise SD (the texture's SD is 0.3).

    Returns
    -------
    dict
        ``{"image": Volume}`` (1 mm pixels, modality ``"phantom"``).
    """
    rng = np.random.default_rng(check_seed(seed))
    if spatial_dims not in (2, 3):
        raise InvalidInputError(f"spatial_dims must be 2 or 3, got {spatial_dims}")
    size = int(check_range(size, name="size", low=16, high=256))
    contrast = check_range(contrast, name="contrast", low=0.0, high=100.0)
    noise_sd = check_range(noise_sd, name="noise_sd", low=0.0, high=100.0)
    has = bool(rng.random() < 0.5) if present is None else bool(present)
    img, info = _one(rng, (size,) * spatial_dims, has, contrast, noise_sd)
    vol = Volume(img, spacing=(1.0,) * spatial_dims, name=f"lesion-phantom-{seed}", modality="phantom",
                 meta={"lesion": info, "phantom": "lesion_presence", "seed": int(seed)})
    return {"image": vol}


def lesion_presence_cohort(
    n: int, *, seed: int = 0, size: int = 32, spatial_dims: int = 2, contrast: float = 1.5, noise_sd: float = 0.35,
) -> list[tuple[str, np.ndarray, int]]:
    """``n`` images, half with a lesion (alternating, so classes are balanced): ``(name, array, label)``.

    ``label`` is 1 when a lesion is present. Image *i* is :func:`lesion_presence_phantom` with seed
    ``seed * 100003 + i`` and ``present = (i % 2 == 1)``.
    """
    if int(n) < 1:
        raise InvalidInputError(f"give at least one case, got n={n}")
    out = []
    for i in range(int(n)):
        vol = lesion_presence_phantom(seed=int(seed) * 100_003 + i, size=size, spatial_dims=spatial_dims,
                                      present=bool(i % 2), contrast=contrast, noise_sd=noise_sd)["image"]
        out.append((f"lesion{i:04d}", np.asarray(vol.data), int(i % 2)))
    return out
