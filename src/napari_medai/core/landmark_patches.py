"""Patches at anatomical landmarks: where they are cut, what each contributes, and a saliency map.

A landmark classifier (contract ``input_mode="landmarks"``; Liu, Zhang, Adeli, Shen 2018) sees one
patch of ``roi_size`` around each of its ``landmark_points`` -- world points (mm, the core's
``(S, P, L)`` order) fixed in the template space the model was trained in, so the image must lie in
that space (a T1 affinely registered to MNI152). :func:`napari_medai.core.inference.classification.classification_input`
cuts the patches (zero-padded where a patch reaches past the image edge: 0 is the normalised
background) and stacks them along the channel axis into one bag per image.

* :func:`landmark_indices` -- world points -> voxel indices of an image grid, refusing points
  outside the image (an image in another space);
* :func:`occlusion_contributions` -- what each patch adds to a class probability: the probability
  with every patch minus the probability with that patch replaced by 0 (the normalised mean
  intensity), one network call per landmark (Zeiler & Fergus 2014's occlusion, one patch at a time);
* :func:`occlusion_map` -- the same for a whole-input network, one block of voxels at a time;
* :func:`splat_saliency` -- landmark values spread over an image grid as Gaussian blobs (standard
  deviation a quarter of the patch edge in mm), summed: a saliency layer for a viewer.

Imports torch only inside the functions that run a network.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .callbacks import Cancelled, StopFn
from .errors import InvalidInputError
from .volume import Volume

__all__ = ["landmark_indices", "occlusion_contributions", "occlusion_map", "splat_saliency"]


def landmark_indices(points_world: Sequence[Sequence[float]], grid: Volume) -> np.ndarray:
    """Voxel indices (array order, rounded to the nearest voxel) of world points on ``grid``.

    Raises
    ------
    InvalidInputError
        No points, or a point outside the image (the image is not in the landmarks' space).
    """
    pts = np.asarray(points_world, dtype=float).reshape(-1, grid.ndim_spatial)
    if pts.shape[0] == 0:
        raise InvalidInputError("no landmark points given")
    idx = np.rint(grid.world_to_index(pts)).astype(np.int64)
    shape = np.asarray(grid.spatial_shape)
    outside = np.any((idx < 0) | (idx >= shape), axis=1)
    if outside.any():
        k = int(np.argmax(outside))
        raise InvalidInputError(
            f"{grid.name or 'the image'}: landmark {k + 1} (world {np.round(pts[k], 1).tolist()} mm) lies outside the "
            f"image ({' x '.join(map(str, grid.spatial_shape))} voxels); give the T1 aligned to the template the "
            "model was trained on (or let the task register it)")
    return idx


def _probabilities(network: Any, x: np.ndarray, *, output_kind: str, device: str) -> np.ndarray:
    import torch

    with torch.inference_mode():
        logits = network(torch.from_numpy(np.ascontiguousarray(x)).to(device)).float()
        p = torch.softmax(logits, dim=1) if output_kind == "softmax" else torch.sigmoid(logits)
    return p.cpu().numpy()


def occlusion_contributions(network: Any, bag: np.ndarray, n_landmarks: int, *, target: int = 1,
                            output_kind: str = "softmax", device: str = "cpu", batch_size: int = 8,
                            should_stop: StopFn | None = None) -> tuple[float, np.ndarray]:
    """Occlusion of one landmark patch at a time.

    Parameters
    ----------
    network
        The landmark network (eval mode is set here).
    bag
        ``(1, L * C, *patch)`` as :func:`~napari_medai.core.inference.classification.classification_input` gives it.
    n_landmarks
        ``L``; the ``C`` channels of landmark ``l`` are ``bag[0, l * C:(l + 1) * C]``.
    target
        Index of the class whose probability is explained (1: AD for ``("NC", "AD")``).

    Returns
    -------
    (probability, contributions)
        The class probability with every patch, and per landmark that probability minus the one with
        the landmark's patch set to 0 (positive: the patch pushes towards ``target``).
    """
    x = np.asarray(bag, dtype=np.float32)
    if x.ndim < 3 or x.shape[0] != 1 or x.shape[1] % int(n_landmarks):
        raise InvalidInputError(f"a landmark bag of shape (1, L*C, ...) is needed, got {x.shape} for L={n_landmarks}")
    c = x.shape[1] // int(n_landmarks)
    network.to(device)
    network.eval()
    base = float(_probabilities(network, x, output_kind=output_kind, device=device)[0, target])
    out = np.empty(int(n_landmarks), dtype=np.float64)
    for start in range(0, int(n_landmarks), int(batch_size)):
        if should_stop is not None and should_stop():
            raise Cancelled("occlusion cancelled")
        ls = list(range(start, min(start + int(batch_size), int(n_landmarks))))
        occ = np.repeat(x, len(ls), axis=0)
        for i, lm in enumerate(ls):
            occ[i, lm * c:(lm + 1) * c] = 0.0
        out[ls] = base - _probabilities(network, occ, output_kind=output_kind, device=device)[:, target]
    return base, out


def occlusion_map(network: Any, x: np.ndarray, *, block: int = 8, target: int = 1, output_kind: str = "softmax",
                  device: str = "cpu", batch_size: int = 8, should_stop: StopFn | None = None) -> tuple[float, np.ndarray]:
    """Occlusion of one block of ``block`` voxels per axis at a time (a whole-input network).

    Parameters
    ----------
    x
        ``(1, C, *spatial)``, the network's prepared input.

    Returns
    -------
    (probability, map)
        The class probability of the whole input, and a ``spatial``-shaped map holding, in every
        block, the probability minus the one with that block set to 0.
    """
    import itertools

    x = np.asarray(x, dtype=np.float32)
    if x.ndim < 3 or x.shape[0] != 1:
        raise InvalidInputError(f"one prepared input (1, C, ...) is needed, got {x.shape}")
    if int(block) < 1:
        raise InvalidInputError(f"the occlusion block must be >= 1 voxel, got {block}")
    spatial = x.shape[2:]
    network.to(device)
    network.eval()
    base = float(_probabilities(network, x, output_kind=output_kind, device=device)[0, target])
    starts = list(itertools.product(*[range(0, n, int(block)) for n in spatial]))
    out = np.zeros(spatial, dtype=np.float32)
    for i in range(0, len(starts), int(batch_size)):
        if should_stop is not None and should_stop():
            raise Cancelled("occlusion cancelled")
        chunk = starts[i:i + int(batch_size)]
        occ = np.repeat(x, len(chunk), axis=0)
        sls = [tuple(slice(s, s + int(block)) for s in st) for st in chunk]
        for j, sl in enumerate(sls):
            occ[(j, slice(None), *sl)] = 0.0
        p = _probabilities(network, occ, output_kind=output_kind, device=device)[:, target]
        for j, sl in enumerate(sls):
            out[sl] = base - p[j]
    return base, out


def splat_saliency(values: Sequence[float], indices: np.ndarray, grid: Volume, *, patch_mm: float) -> np.ndarray:
    """Landmark values spread over ``grid`` as Gaussian blobs (sigma ``patch_mm / 4``), summed.

    Parameters
    ----------
    values
        One value per landmark (e.g. its occlusion contribution).
    indices
        ``(L, ndim)`` voxel indices of the landmarks on ``grid`` (:func:`landmark_indices`).
    grid
        The image grid (spacing used; data ignored).
    patch_mm
        Edge of a patch in mm.

    Returns
    -------
    np.ndarray
        float32 array of ``grid.spatial_shape``; each blob peaks at its landmark's value.
    """
    v = np.asarray(values, dtype=np.float64).ravel()
    idx = np.asarray(indices, dtype=float).reshape(len(v), -1)
    sp = np.asarray(grid.spacing, dtype=float)
    sigma = float(patch_mm) / 4.0
    if not sigma > 0:
        raise InvalidInputError(f"patch_mm must be > 0, got {patch_mm}")
    out = np.zeros(grid.spatial_shape, dtype=np.float64)
    half = np.ceil(3 * sigma / sp).astype(int)
    for val, c in zip(v, idx, strict=True):
        if val == 0 or not np.isfinite(val):
            continue
        lo = np.maximum(np.rint(c).astype(int) - half, 0)
        hi = np.minimum(np.rint(c).astype(int) + half + 1, grid.spatial_shape)
        if np.any(hi <= lo):
            continue
        axes = [((np.arange(a, b) - ci) * s) ** 2 for a, b, ci, s in zip(lo, hi, c, sp, strict=True)]
        d2 = axes[0][:, None, None] + axes[1][None, :, None] + axes[2][None, None, :] if len(axes) == 3 else \
            axes[0][:, None] + axes[1][None, :]
        out[tuple(slice(a, b) for a, b in zip(lo, hi, strict=True))] += val * np.exp(-d2 / (2 * sigma**2))
    return out.astype(np.float32)
