"""What the network sees: the input channels prepared as the model's contract says.

:func:`prepare_input` is the one place that matches channels (:func:`match_channels`), normalises
them, crops, reorients and resamples them; training (:mod:`napari_medai.core.recipes`), segmentation
and classification all call it, so a model sees at inference exactly what it saw in training.
:class:`InputGeometry` says where the prepared array sits on the input grid, to map results back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import intensity
from ..errors import InvalidInputError
from ..models.contract import ModelContract, canonical_channel, channel_aliases
from ..models.errors import MissingChannelError
from ..volume import Volume
from .layout import Layout, layout_for

__all__ = ["InputGeometry", "bounding_box", "match_channels", "prepare_input", "resize_channels"]


def match_channels(
    contract: ModelContract, channels: Mapping[str, Volume] | Sequence[Volume]
) -> list[Volume]:
    """The input volumes in the order the model takes them.

    Parameters
    ----------
    contract
        The model's contract.
    channels
        ``{name: Volume}`` (names matched through :data:`~napari_medai.core.models.CHANNEL_ALIASES`,
        extra channels ignored) or a list already in the model's order.

    Raises
    ------
    MissingChannelError
        Naming the missing channels and the names accepted for them.
    GeometryMismatchError
        When the volumes are not on one voxel grid.
    InvalidInputError
        For label maps, multi-channel volumes or the wrong number of spatial axes.
    """
    need = contract.channels
    if isinstance(channels, Mapping):
        given: dict[str, tuple[str, Volume]] = {}
        for key, vol in channels.items():
            if vol is None:
                continue
            c = canonical_channel(str(key))
            if c in given:
                raise InvalidInputError(
                    f"channels {given[c][0]!r} and {key!r} are both {c}; give each MR sequence once"
                )
            given[c] = (str(key), vol)
        missing = [c for c in need if c not in given]
        if missing:
            spell = "; ".join(f"{c} (also accepted: {', '.join(a for a in channel_aliases(c) if a != c) or '-'})"
                              for c in missing)
            raise MissingChannelError(
                f"model {contract.name!r} needs the channels {', '.join(need)}; missing: {spell}. "
                f"Given: {', '.join(k for k, _ in given.values()) or 'nothing'}"
            )
        vols = [given[c][1] for c in need]
        names = [given[c][0] for c in need]
    else:
        vols = list(channels)
        if len(vols) != len(need):
            raise MissingChannelError(
                f"model {contract.name!r} takes {len(need)} channels in this order: {', '.join(need)}; "
                f"got {len(vols)} volumes (pass a dict {{name: volume}} to match by name)"
            )
        names = list(need)
    for n, v in zip(names, vols):
        if not isinstance(v, Volume):
            raise InvalidInputError(f"channel {n!r} must be a Volume, got {type(v).__name__}")
        if v.n_channels != 1:
            raise InvalidInputError(f"channel {n!r} has {v.n_channels} channels; give one MR sequence per channel")
        if v.is_label:
            raise InvalidInputError(f"channel {n!r} ({v.name}) is a label map, not an image; give the MR image")
        if v.ndim_spatial != contract.spatial_dims:
            raise InvalidInputError(
                f"channel {n!r} has {v.ndim_spatial} spatial axes; model {contract.name!r} needs {contract.spatial_dims}"
            )
    ref = vols[0]
    for n, v in zip(names[1:], vols[1:]):
        ref.require_same_grid(v, what=f"channels {names[0]!r} and {n!r}")
    return [v.channel(0) if v.channel_axis is not None else v for v in vols]


def bounding_box(mask: np.ndarray, margin: int) -> tuple[slice, ...] | None:
    """The slices of ``mask``'s bounding box grown by ``margin`` voxels (clipped to the array); None when empty."""
    if not mask.any():
        return None
    out = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        idx = np.flatnonzero(mask.any(axis=other))
        out.append(slice(max(int(idx[0]) - margin, 0), min(int(idx[-1]) + 1 + margin, mask.shape[ax])))
    return tuple(out)


def resize_channels(t: Any, size: Sequence[int]) -> Any:
    """Linear resize of a ``(C, *spatial)`` float tensor to ``size`` (cell-centred)."""
    import torch.nn.functional as F

    if tuple(t.shape[1:]) == tuple(size):
        return t
    mode = "trilinear" if t.ndim == 4 else "bilinear"
    return F.interpolate(t[None], size=tuple(int(s) for s in size), mode=mode, align_corners=False)[0]


@dataclass(frozen=True)
class InputGeometry:
    """Where the array :func:`prepare_input` made sits on the input grid (to map results back).

    Attributes
    ----------
    reference
        The first input channel (its grid is the input grid).
    box
        The crop of the input grid that was kept (``None``: all of it).
    layout
        Input array axes -> network axes (:class:`Layout`).
    net_shape, net_spacing
        Shape and voxel size (mm) of the cropped input in network axis order, before resampling.
    resampled
        Whether the array was resized (to the contract's spacing, or a classifier's input size).
    masks
        ``(C, *input grid)``: the voxels each channel was normalised over (non-background).
    """

    reference: Volume
    box: tuple[slice, ...] | None
    layout: Layout
    net_shape: tuple[int, ...]
    net_spacing: tuple[float, ...]
    resampled: bool
    masks: np.ndarray


def prepare_input(
    contract: ModelContract,
    channels: Mapping[str, Volume] | Sequence[Volume],
    *,
    brainmask: np.ndarray | None = None,
    crop_margin: int = 8,
) -> tuple[np.ndarray, InputGeometry]:
    """What the network sees: the input channels prepared as the contract says (training and inference).

    The one place that matches channels (:func:`match_channels`), normalises them
    (:func:`napari_medai.core.intensity.normalize` by the contract's ``normalization`` and
    ``brain_region``, over ``brainmask`` when given), crops to the bounding box of the
    non-background voxels plus ``crop_margin`` (``crop_foreground`` models), reorients to the
    network's axis layout (:func:`layout_for`) and resamples linearly to ``target_spacing``; a
    whole-input classifier's image is resized to its ``roi_size`` instead. Training
    (:mod:`napari_medai.core.recipes`), :func:`~.segmentation.predict` and
    :func:`~.classification.predict_classification` all call it, so a model sees at inference
    exactly what it saw in training.

    Returns
    -------
    (array, geometry)
        ``(C, *network grid)`` float32, C-contiguous; :class:`InputGeometry`.
    """
    vols = match_channels(contract, channels)
    ref = vols[0]
    data = np.stack([np.asarray(v.data, dtype=np.float32) for v in vols])
    norm, masks = intensity.normalize(data, contract.normalization, brainmask=brainmask,
                                      brain_region=contract.brain_region)
    del data
    box = bounding_box(masks.any(axis=0), margin=int(crop_margin)) if contract.crop_foreground else None
    if box is not None:
        norm = norm[(slice(None), *box)]
    layout = layout_for(ref, contract.orientation)
    net_in = np.ascontiguousarray(layout.to_net(norm))
    del norm
    net_shape = tuple(int(n) for n in net_in.shape[1:])
    net_spacing = layout.spacing(ref.spacing)
    size = None
    if contract.kind == "classification" and contract.input_mode == "whole":
        if net_shape != tuple(contract.roi_size):
            size = list(contract.roi_size)
    elif (contract.target_spacing is not None
          and not np.allclose(net_spacing, contract.target_spacing, rtol=1e-3, atol=1e-4)):
        size = [max(1, int(round(n * s / t))) for n, s, t in zip(net_shape, net_spacing, contract.target_spacing)]
    if size is not None:
        import torch

        net_in = resize_channels(torch.from_numpy(net_in), size).numpy()
    geo = InputGeometry(reference=ref, box=box, layout=layout, net_shape=net_shape, net_spacing=net_spacing,
                        resampled=size is not None, masks=masks)
    return net_in, geo
