"""A weight-free intensity baseline for brain-tumour segmentation (no AI model).

It exists so that the pipeline (read -> segment -> compare with ground truth) runs before any
model is trained, and as the floor a trained model must beat. It is *not* a learned model and
says so in every output: ``Volume.meta["model"] = "threshold-baseline (no trained model)"``.

Method, per channel z-scored over brain voxels:

* whole tumour (WT): FLAIR z > ``flair_z`` or T1c z > ``t1c_z``, opened once, largest 3-D
  connected component, holes filled;
* enhancing tumour (ET): T1c z > ``t1c_z`` inside WT;
* tumour core (TC): ET with its enclosed interior filled (slice-wise hole filling), so the
  non-enhancing centre surrounded by an enhancing rim becomes necrosis.

Output labels follow BraTS 2017-2021: 1 NCR, 2 ED, 4 ET.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi

from ..errors import InvalidInputError
from ..volume import Volume

MODEL_NAME = "threshold-baseline (no trained model)"
LABEL_NAMES = {1: "NCR", 2: "ED", 4: "ET"}


def _zscore(data: np.ndarray, mask: np.ndarray) -> np.ndarray:
    vals = data[mask]
    sd = float(vals.std())
    if sd == 0 or not np.isfinite(sd):
        raise InvalidInputError("a channel is constant inside the brain mask; check the input image")
    return (data - float(vals.mean())) / sd


def _largest_component(mask: np.ndarray) -> np.ndarray:
    lab, n = ndi.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return lab == int(np.argmax(sizes))


def segment(
    flair: Volume,
    t1c: Volume,
    *,
    brainmask: Volume | None = None,
    flair_z: float = 1.5,
    t1c_z: float = 1.5,
) -> Volume:
    """Segment a brain tumour with intensity thresholds (see module docstring).

    Parameters
    ----------
    flair, t1c
        Co-registered FLAIR and contrast-enhanced T1 on one grid.
    brainmask
        Brain mask; defaults to the non-zero voxels of FLAIR (skull-stripped input).
    flair_z, t1c_z
        z-score thresholds for oedema/whole tumour and enhancement. The defaults were chosen on
        phantom seeds 1-4 (the demo runs seed 0, which they never saw).

    Returns
    -------
    Volume
        Label map on the input grid, BraTS 2021 labels, ``meta["model"]`` naming the baseline.
    """
    flair.require_same_grid(t1c, what="FLAIR and T1c")
    if brainmask is not None:
        flair.require_same_grid(brainmask, what="FLAIR and brain mask")
        brain = np.asarray(brainmask.data) > 0
    else:
        brain = np.asarray(flair.data) != 0
    if brain.sum() < 100:
        raise InvalidInputError("the brain mask has fewer than 100 voxels; is the image skull-stripped?")
    fz = _zscore(np.asarray(flair.data, dtype=np.float32), brain)
    tz = _zscore(np.asarray(t1c.data, dtype=np.float32), brain)
    bright = ((fz > flair_z) | (tz > t1c_z)) & brain
    wt = _largest_component(ndi.binary_opening(bright, iterations=1))
    wt = ndi.binary_fill_holes(wt)
    et = (tz > t1c_z) & wt
    tc = np.zeros_like(et)
    for z in range(et.shape[0]):
        if et[z].any():
            tc[z] = ndi.binary_fill_holes(et[z])
    tc |= et
    tc &= wt
    seg = np.zeros(flair.spatial_shape, dtype=np.uint8)
    seg[wt] = 2
    seg[tc] = 1
    seg[et] = 4
    return flair.with_data(
        seg,
        is_label=True,
        name="baseline_seg",
        label_names=dict(LABEL_NAMES),
        modality=flair.modality,
        units="",
        source=None,
        meta={"model": MODEL_NAME, "convention": "brats2021"},
    )
