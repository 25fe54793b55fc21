"""Where the brain is and how its intensities are normalised: one function for training and inference.

A file's preparation must not change what the network sees. BraTS 2013 files are z-scored inside the
brain with a constant non-zero background; BraTS 2021/2023 and TCGA files hold raw intensities with a
zero background (and dark brain voxels that are exactly 0 too); a brain mask may come with a case or
not. A model's contract names the rule (:data:`BRAIN_REGIONS`) by which the brain region is found, and
:func:`normalize` applies it -- :func:`napari_medai.core.inference.prepare.prepare_input` calls it for training
(:mod:`napari_medai.core.recipes.segmentation`) and for inference alike.

Rules (``ModelContract.brain_region``)
--------------------------------------
``"channel-background"``
    Each channel on its own: the voxels that differ from that channel's background (its corner value
    when all corners share it, else 0); a given brain mask replaces the rule. This was the only
    behaviour before rules existed, so model folders written without the field read with it and
    behave exactly as before. Its weakness: a raw image's brain voxels that are exactly 0 are taken
    for background, while the same voxels of the z-scored copy are not.
``"constant-background"``
    One brain region for all channels: the voxels where *any* channel differs from its constant
    background (corner value, else 0), with enclosed holes filled
    (:func:`scipy.ndimage.binary_fill_holes`). Both the BraTS 2013 preparation (background -3.16 in
    FLAIR) and the raw one (background 0) give the same region, so both give the same normalised
    array. On the four BraTS 2013 cases it equals the distributed ``brainmask.nii.gz``
    voxel for voxel (pat0003: 1,690,470 voxels both). A brain mask given with a case does not
    replace the rule (the network must see at inference what it saw in training, where no mask is
    needed); inference still sets labels outside a given mask to 0.
``"nonzero"``
    As ``"constant-background"`` with the background fixed at 0 (MONAI ``nonzero=True``, but one region
    for all channels, holes filled).
``"given-mask"``
    The brain mask that comes with the case (training) or is given (inference); refused without one.

Skull-on clinical images need a brain extraction first (HD-BET, SynthStrip): no rule here strips a
skull; run on such an image, the out-of-distribution check (:mod:`napari_medai.core.ood`) sees the
difference in the intensity statistics.
"""

from __future__ import annotations

import itertools

import numpy as np

from .errors import InvalidInputError

__all__ = [
    "BRAIN_REGIONS",
    "LEGACY_BRAIN_REGION",
    "background_value",
    "brain_region_masks",
    "check_brain_region",
    "normalize",
]

#: How a model finds the brain region (see the module docstring).
BRAIN_REGIONS: tuple[str, ...] = ("channel-background", "constant-background", "nonzero", "given-mask")
#: The rule of model folders written before the field existed (their behaviour, unchanged).
LEGACY_BRAIN_REGION = "channel-background"


def background_value(data: np.ndarray) -> float:
    """The constant background of an image: the corner value when all corners share it, else 0."""
    corners = [data[idx] for idx in itertools.product(*[(0, -1)] * data.ndim)]
    c0 = corners[0]
    if all(c == c0 for c in corners) and np.isfinite(c0):
        return float(c0)
    return 0.0


def check_brain_region(rule: str) -> str:
    """``rule`` when it is one of :data:`BRAIN_REGIONS`, else a one-line error listing them."""
    if rule not in BRAIN_REGIONS:
        raise InvalidInputError(f"brain_region must be one of {', '.join(BRAIN_REGIONS)}, got {rule!r}")
    return rule


def brain_region_masks(
    data: np.ndarray, rule: str, *, brainmask: np.ndarray | None = None, what: str = "the images"
) -> np.ndarray:
    """The voxels each channel is normalised over, ``(C, *spatial)`` bool, by ``rule``.

    Parameters
    ----------
    data
        ``(C, *spatial)`` images (any preparation).
    rule
        One of :data:`BRAIN_REGIONS`.
    brainmask
        Brain mask on the same grid (used by ``"channel-background"`` and ``"given-mask"``).
    what
        Names the input in error messages.

    Raises
    ------
    InvalidInputError
        ``"given-mask"`` without a mask, or a mask on another grid.
    """
    from scipy import ndimage as ndi

    check_brain_region(rule)
    x = np.asarray(data)
    if brainmask is not None and tuple(np.shape(brainmask)) != tuple(x.shape[1:]):
        raise InvalidInputError(
            f"{what}: the brain mask has shape {tuple(np.shape(brainmask))}, the images {tuple(x.shape[1:])}; "
            "give the mask on the images' grid"
        )
    if rule == "given-mask" or (rule == "channel-background" and brainmask is not None):
        if brainmask is None:
            raise InvalidInputError(
                f"{what}: this model finds the brain from a given brain mask; give one (--brainmask, or a "
                "brainmask* file in the case folder)"
            )
        m = np.asarray(brainmask) > 0
        return np.broadcast_to(m, x.shape).copy()
    if rule == "channel-background":
        out = np.empty(x.shape, dtype=bool)
        for c in range(x.shape[0]):
            out[c] = x[c] != background_value(x[c])
        return out
    union = np.zeros(x.shape[1:], dtype=bool)
    for c in range(x.shape[0]):
        bg = background_value(x[c]) if rule == "constant-background" else 0.0
        union |= x[c] != bg
    union = ndi.binary_fill_holes(union)
    return np.broadcast_to(union, x.shape).copy()


def normalize(
    data: np.ndarray, kind: str, *, brain_region: str = LEGACY_BRAIN_REGION, brainmask: np.ndarray | None = None,
    what: str = "the images",
) -> tuple[np.ndarray, np.ndarray]:
    """Normalise ``(C, *spatial)`` data per channel; returns ``(normalised float32, masks)``.

    ``kind`` is the contract's ``normalization``: ``"zscore-nonzero"`` z-scores each channel over its
    brain region (:func:`brain_region_masks` with ``brain_region``) and sets everything else to 0;
    ``"zscore"`` uses all voxels; ``"none"`` copies. ``masks`` are the voxels normalised over.
    """
    x = np.asarray(data, dtype=np.float32)
    if kind == "none":
        return x.copy(), np.ones(x.shape, dtype=bool)
    if kind == "zscore":
        out = np.empty_like(x)
        for c in range(x.shape[0]):
            sd = float(x[c].std())
            out[c] = (x[c] - float(x[c].mean())) / (sd if sd > 0 else 1.0)
        return out, np.ones(x.shape, dtype=bool)
    if kind != "zscore-nonzero":
        raise InvalidInputError(f"unknown normalization {kind!r}")
    masks = brain_region_masks(x, brain_region, brainmask=brainmask, what=what)
    out = np.zeros_like(x)
    # the legacy rule keeps its float32 statistics bit for bit; the others use float64, so that the
    # z-score of a z-scored copy equals the z-score of the raw image to float32 rounding
    acc = np.float32 if brain_region == LEGACY_BRAIN_REGION else np.float64
    for c in range(x.shape[0]):
        vals = x[c][masks[c]].astype(acc)
        if vals.size == 0:
            continue
        sd = float(vals.std())
        out[c][masks[c]] = ((vals - float(vals.mean())) / (sd if sd > 0 else 1.0)).astype(np.float32)
    return out, masks
