"""Run a segmentation model on images: :func:`predict` -> :class:`Prediction`.

Steps, all driven by the model's :class:`~napari_medai.core.models.ModelContract`:

1. match the given channels to the ones the model needs (``flair``/``t2f``, ``t1c``/``t1gd``/
   ``t1ce``, ``t1``/``t1n``, ``t2``/``t2w``; a clear error lists what is missing) and check that
   they share one voxel grid;
2. normalise each channel (see :mod:`napari_medai.core.models.contract`), optionally crop to the
   bounding box of the non-background voxels, reorient to the network's axis layout and resample
   to the contract spacing when it differs;
3. MONAI ``sliding_window_inference`` (progress per window, cancellation between windows), with
   optional test-time augmentation by flips (the mean of the probabilities; the spread across
   flips is the uncertainty);
4. back to the input grid (probabilities linearly, then thresholded / arg-maxed, so labels are
   never interpolated), into the model's label convention, with region volumes in ml.

Imports torch and MONAI when called, not on import.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from . import intensity, ood
from .callbacks import Cancelled, ProgressFn, StopFn
from .errors import InvalidInputError
from .models.contract import ModelContract, canonical_channel, channel_aliases, opposite
from .models.errors import MissingChannelError
from .volume import Volume

__all__ = [
    "Cancelled",
    "ClassPrediction",
    "InputGeometry",
    "Layout",
    "Prediction",
    "background_value",
    "classification_input",
    "classify_batch",
    "count_windows",
    "decide_classes",
    "foreground_masks",
    "infer_array",
    "labels_from_probabilities",
    "layout_for",
    "match_channels",
    "normalize_channels",
    "predict",
    "predict_classification",
    "prepare_input",
    "register_image_runner",
    "run_model",
    "region_volumes_ml",
    "volume_axis_codes",
]

UncertaintyKind = Literal["variance", "entropy"]


# ---------------------------------------------------------------------------------------------
# result
# ---------------------------------------------------------------------------------------------
@dataclass
class Prediction:
    """What :func:`predict` returns.

    Attributes
    ----------
    labels
        Label map on the input grid, in the model's convention (``meta["model"]``,
        ``meta["convention"]``, ``meta["is_trained"]`` say where it came from).
    probabilities
        Per-output-channel probabilities on the input grid (``channel_axis=0``,
        ``channel_names`` = the model's output channels), when asked for.
    uncertainty
        Voxel-wise uncertainty on the input grid (see :func:`predict`), or None.
    region_volumes_ml
        Volume of each region of the label convention (e.g. WT, TC, ET) in millilitres.
    label_volumes_ml
        Volume of each label in millilitres, by label name.
    model_name, is_trained, trained_on
        The model used and whether its weights were trained.
    device, amp
        Where it ran and whether mixed precision was on.
    tta_passes
        Number of flipped copies averaged (1 without TTA).
    n_windows
        Sliding windows evaluated in total.
    seconds
        Wall time of :func:`predict`.
    notes
        Things the user should know (untrained model, ignored options...).
    quality
        Whether the input is like the model's training cases (:class:`napari_medai.core.ood.Quality`:
        a plain verdict and the numbers behind it), or None.
    """

    labels: Volume
    probabilities: Volume | None
    uncertainty: Volume | None
    region_volumes_ml: dict[str, float]
    label_volumes_ml: dict[str, float]
    model_name: str
    is_trained: bool
    trained_on: str
    device: str
    amp: bool
    tta_passes: int
    n_windows: int
    seconds: float
    notes: list[str] = field(default_factory=list)
    quality: Any = None

    def summary(self) -> str:
        """A few lines for logs and the CLI."""
        lines = [
            f"model: {self.model_name} ({'trained on ' + self.trained_on if self.is_trained else 'NOT TRAINED'})",
            f"device: {self.device}{' + AMP' if self.amp else ''}; TTA passes: {self.tta_passes}; "
            f"windows: {self.n_windows}; {self.seconds:.1f} s",
        ]
        if self.region_volumes_ml:
            lines.append("regions (ml): " + ", ".join(f"{k} {v:.2f}" for k, v in self.region_volumes_ml.items()))
        if self.label_volumes_ml:
            lines.append("labels (ml): " + ", ".join(f"{k} {v:.2f}" for k, v in self.label_volumes_ml.items()))
        lines.extend(f"note: {n}" for n in self.notes)
        if self.quality is not None:
            lines.append(f"input: {self.quality.verdict}" + "".join(f"; {r}" for r in self.quality.reasons))
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# channels
# ---------------------------------------------------------------------------------------------
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


# ---------------------------------------------------------------------------------------------
# normalisation
# ---------------------------------------------------------------------------------------------
def background_value(data: np.ndarray) -> float:
    """The constant background of an image: the corner value when all corners share it, else 0
    (:func:`napari_medai.core.intensity.background_value`)."""
    return intensity.background_value(data)


def foreground_masks(data: np.ndarray, brainmask: np.ndarray | None = None) -> np.ndarray:
    """Per-channel masks of the voxels that differ from the background (``(C, *spatial)`` bool): the
    ``"channel-background"`` rule of :func:`napari_medai.core.intensity.brain_region_masks`."""
    return intensity.brain_region_masks(data, intensity.LEGACY_BRAIN_REGION, brainmask=brainmask)


def normalize_channels(
    data: np.ndarray, kind: str, *, brainmask: np.ndarray | None = None, brain_region: str = "channel-background"
) -> tuple[np.ndarray, np.ndarray]:
    """Normalise ``(C, *spatial)`` data per channel; returns ``(normalised float32, masks)``.

    ``"zscore-nonzero"`` z-scores each channel over the brain region the contract's ``brain_region``
    rule finds (:func:`napari_medai.core.intensity.normalize`; the default rule matches MONAI
    ``NormalizeIntensity(nonzero=True, channel_wise=True)`` on images whose background is 0, a
    constant non-zero background found at the corners, or a given brain mask). The background becomes 0.
    """
    return intensity.normalize(data, kind, brain_region=brain_region, brainmask=brainmask)


# ---------------------------------------------------------------------------------------------
# orientation
# ---------------------------------------------------------------------------------------------
_WORLD_LETTERS = (("S", "I"), ("P", "A"), ("L", "R"))  # Volume world axes (S, P, L): + letter, - letter


def volume_axis_codes(vol: Volume) -> str:
    """Orientation letters of a 3-D volume's array axes (the letter each axis points to).

    The Volume's world frame is reversed LPS ``(S, P, L)``; e.g. a NIfTI stored LPS reads as a
    Volume with codes ``"SPL"`` (its storage order reversed).
    """
    if vol.ndim_spatial != 3:
        raise InvalidInputError("orientation letters are defined for 3-D volumes only")
    d = np.asarray(vol.direction, dtype=float)
    codes = []
    for n in range(3):
        w = int(np.argmax(np.abs(d[:, n])))
        codes.append(_WORLD_LETTERS[w][0] if d[w, n] > 0 else _WORLD_LETTERS[w][1])
    if len({_axis(c) for c in codes}) != 3:
        raise InvalidInputError(
            f"{vol.name}: the grid is too oblique to tell its axes apart; resample it to an axis-aligned grid first"
        )
    return "".join(codes)


def _axis(letter: str) -> int:
    return {"S": 0, "I": 0, "P": 1, "A": 1, "L": 2, "R": 2}[letter]


@dataclass(frozen=True)
class Layout:
    """How a Volume's array axes map to the network's: network axis n = volume axis ``perm[n]``,
    flipped when ``flips[n]``."""

    perm: tuple[int, ...]
    flips: tuple[bool, ...]

    def to_net(self, arr: np.ndarray) -> np.ndarray:
        """``(C, *volume axes)`` -> ``(C, *network axes)`` (a view where possible)."""
        out = np.transpose(arr, (0, *(p + 1 for p in self.perm)))
        for n, f in enumerate(self.flips):
            if f:
                out = np.flip(out, axis=n + 1)
        return out

    def from_net(self, arr: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`to_net`."""
        out = arr
        for n, f in enumerate(self.flips):
            if f:
                out = np.flip(out, axis=n + 1)
        inv = np.argsort(self.perm)
        return np.transpose(out, (0, *(int(i) + 1 for i in inv)))

    def spacing(self, spacing: Sequence[float]) -> tuple[float, ...]:
        return tuple(float(spacing[p]) for p in self.perm)

    def shape(self, shape: Sequence[int]) -> tuple[int, ...]:
        return tuple(int(shape[p]) for p in self.perm)


def layout_for(vol: Volume, orientation: str) -> Layout:
    """The :class:`Layout` taking ``vol``'s array axes to a contract's ``orientation``."""
    nd = vol.ndim_spatial
    if orientation == "storage":
        return Layout(tuple(reversed(range(nd))), (False,) * nd)
    codes = volume_axis_codes(vol)
    perm, flips = [], []
    for t in orientation:
        for a, c in enumerate(codes):
            if c == t:
                perm.append(a)
                flips.append(False)
                break
            if c == opposite(t):
                perm.append(a)
                flips.append(True)
                break
    return Layout(tuple(perm), tuple(flips))


# ---------------------------------------------------------------------------------------------
# labels and volumes
# ---------------------------------------------------------------------------------------------
def labels_from_probabilities(probs: np.ndarray, contract: ModelContract) -> np.ndarray:
    """Label map from ``(C, *spatial)`` probabilities, following the contract.

    Sigmoid regions: a voxel takes the label of the first rule whose region probability is
    ``>= threshold`` (MONAI ``AsDiscrete(threshold=...)`` then the rules in order). Softmax: the
    label of the arg-max class.
    """
    p = np.asarray(probs)
    if p.shape[0] != len(contract.output_channels):
        raise InvalidInputError(
            f"{p.shape[0]} probability channels for a model with {len(contract.output_channels)} outputs"
        )
    top = max(contract.label_values, default=1)
    dtype = np.uint8 if top < 256 else np.uint16
    if contract.output_kind == "sigmoid-regions":
        out = np.zeros(p.shape[1:], dtype=dtype)
        idx = {name: i for i, name in enumerate(contract.output_channels)}
        for region, value in reversed(contract.label_rules):
            out[p[idx[region]] >= contract.threshold] = value
        return out
    lut = np.asarray(contract.class_labels, dtype=dtype)
    return lut[np.argmax(p, axis=0)]


def region_volumes_ml(labels: Volume, convention: str) -> tuple[dict[str, float], dict[str, float]]:
    """``(region volumes, label volumes)`` in ml of a label map in a named convention."""
    from .metrics import CONVENTIONS

    data = np.asarray(labels.data)
    ml = labels.voxel_volume_mm3 / 1000.0
    counts = np.bincount(data.ravel().astype(np.int64), minlength=1)

    def n_of(values: Sequence[int]) -> int:
        return int(sum(counts[v] for v in values if v < counts.size))

    names = labels.label_names or {}
    label_ml = {names.get(v, f"label {v}"): n_of([v]) * ml for v in sorted(names) if v > 0}
    regions: dict[str, float] = {}
    conv = CONVENTIONS.get(convention)
    if conv is not None:
        regions = {r: n_of(vals) * ml for r, vals in conv.regions.items()}
    return regions, label_ml


# ---------------------------------------------------------------------------------------------
# the network pass
# ---------------------------------------------------------------------------------------------
def _scan_interval(image_size: Sequence[int], roi: Sequence[int], overlap: float) -> tuple[int, ...]:
    out = []
    for s, r in zip(image_size, roi):
        if r == s:
            out.append(int(r))
        else:
            out.append(max(int(r * (1 - overlap)), 1))
    return tuple(out)


def count_windows(image_size: Sequence[int], roi_size: Sequence[int], overlap: float) -> int:
    """How many windows MONAI ``sliding_window_inference`` evaluates on an image of this size."""
    from monai.data.utils import dense_patch_slices

    size = tuple(max(int(s), int(r)) for s, r in zip(image_size, roi_size))
    return len(dense_patch_slices(size, tuple(int(r) for r in roi_size), _scan_interval(size, roi_size, overlap)))


def _flip_sets(spatial_dims: int, tta: bool | int) -> list[tuple[int, ...]]:
    """Spatial axes (of a ``(N, C, *spatial)`` tensor) to flip for each TTA pass."""
    axes = tuple(range(2, 2 + spatial_dims))
    sets = [c for k in range(len(axes) + 1) for c in itertools.combinations(axes, k)]
    if tta is True:
        return sets
    if tta is False or tta is None:
        return [()]
    n = int(tta)
    if n < 1:
        raise InvalidInputError(f"tta must be True/False or a number of flips >= 1, got {tta!r}")
    return sets[:n]


def infer_array(
    network: Any,
    image: np.ndarray,
    *,
    roi_size: Sequence[int],
    output_kind: str,
    overlap: float = 0.5,
    blend_mode: str = "constant",
    sw_batch_size: int = 1,
    device: str = "cpu",
    amp: bool = False,
    tta: bool | int = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    progress_span: tuple[float, float] = (0.0, 1.0),
) -> tuple[Any, Any, int]:
    """Sliding-window probabilities of a prepared ``(C, *spatial)`` float32 array.

    Returns
    -------
    (mean, variance, n_windows)
        ``mean``/``variance`` are CPU float32 tensors ``(C_out, *spatial)`` (variance across TTA
        flips; zeros without TTA).

    Raises
    ------
    Cancelled
        When ``should_stop()`` returns True (checked before every window).
    """
    import torch
    from monai.inferers import sliding_window_inference

    spatial = image.shape[1:]
    flips = _flip_sets(len(spatial), tta)
    per_pass = count_windows(spatial, roi_size, overlap)
    total = per_pass * len(flips)
    done = [0]
    lo, hi = progress_span

    def predictor(x: torch.Tensor) -> torch.Tensor:
        if should_stop is not None and should_stop():
            raise Cancelled("inference cancelled")
        if amp and device == "cuda":
            with torch.autocast(device_type="cuda", dtype=torch.float16):
                y = network(x)
        else:
            y = network(x)
        if isinstance(y, (list, tuple)):
            y = y[0]
        done[0] += int(x.shape[0])
        if progress is not None:
            progress(lo + (hi - lo) * min(done[0] / max(total, 1), 1.0), f"window {done[0]}/{total}")
        return y.float()

    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None].to(device)
    s1 = s2 = None
    network.to(device)
    with torch.inference_mode():
        for dims in flips:
            if should_stop is not None and should_stop():
                raise Cancelled("inference cancelled")
            xi = torch.flip(x, dims) if dims else x
            logits = sliding_window_inference(
                xi, tuple(int(r) for r in roi_size), int(sw_batch_size), predictor, overlap=float(overlap),
                mode=blend_mode, sw_device=device, device=device,
            )
            if dims:
                logits = torch.flip(logits, dims)
            probs = torch.sigmoid(logits) if output_kind == "sigmoid-regions" else torch.softmax(logits, dim=1)
            probs = probs[0].float()
            if s1 is None:
                s1, s2 = probs.clone(), probs * probs
            else:
                s1 += probs
                s2 += probs * probs
            del logits, probs
    n = float(len(flips))
    mean = (s1 / n).cpu()
    var = (s2 / n - (s1 / n) ** 2).clamp_min_(0).cpu() if n > 1 else torch.zeros_like(mean)
    return mean, var, total


def _resize(t: Any, size: Sequence[int]) -> Any:
    """Linear resize of a ``(C, *spatial)`` float tensor to ``size`` (cell-centred)."""
    import torch.nn.functional as F

    if tuple(t.shape[1:]) == tuple(size):
        return t
    mode = "trilinear" if t.ndim == 4 else "bilinear"
    return F.interpolate(t[None], size=tuple(int(s) for s in size), mode=mode, align_corners=False)[0]


def _entropy(mean: np.ndarray, kind: str) -> np.ndarray:
    eps = 1e-7
    p = np.clip(mean, eps, 1 - eps)
    if kind == "sigmoid-regions":
        h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
        return h.max(axis=0)
    return -(p * np.log(p)).sum(axis=0) / math.log(max(mean.shape[0], 2))


def _bbox(mask: np.ndarray, margin: int) -> tuple[slice, ...] | None:
    if not mask.any():
        return None
    out = []
    for ax in range(mask.ndim):
        other = tuple(a for a in range(mask.ndim) if a != ax)
        idx = np.flatnonzero(mask.any(axis=other))
        out.append(slice(max(int(idx[0]) - margin, 0), min(int(idx[-1]) + 1 + margin, mask.shape[ax])))
    return tuple(out)


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
    (:func:`normalize_channels`, over ``brainmask`` when given), crops to the bounding box of the
    non-background voxels plus ``crop_margin`` (``crop_foreground`` models), reorients to the
    network's axis layout (:func:`layout_for`) and resamples linearly to ``target_spacing``; a
    whole-input classifier's image is resized to its ``roi_size`` instead. Training
    (:mod:`napari_medai.core.recipes`) and :func:`predict` / :func:`predict_classification` all call
    it, so a model sees at inference exactly what it saw in training.

    Returns
    -------
    (array, geometry)
        ``(C, *network grid)`` float32, C-contiguous; :class:`InputGeometry`.
    """
    vols = match_channels(contract, channels)
    ref = vols[0]
    data = np.stack([np.asarray(v.data, dtype=np.float32) for v in vols])
    norm, masks = normalize_channels(data, contract.normalization, brainmask=brainmask,
                                     brain_region=contract.brain_region)
    del data
    box = _bbox(masks.any(axis=0), margin=int(crop_margin)) if contract.crop_foreground else None
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

        net_in = _resize(torch.from_numpy(net_in), size).numpy()
    geo = InputGeometry(reference=ref, box=box, layout=layout, net_shape=net_shape, net_spacing=net_spacing,
                        resampled=size is not None, masks=masks)
    return net_in, geo


def predict(
    model: Any,
    channels: Mapping[str, Volume] | Sequence[Volume],
    *,
    device: str = "auto",
    amp: bool | None = None,
    tta: bool | int = False,
    uncertainty: UncertaintyKind | None = "variance",
    overlap: float | None = None,
    sw_batch_size: int = 1,
    brainmask: Volume | None = None,
    mask_to_foreground: bool = True,
    return_probabilities: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Prediction:
    """Segment one case with a model (see the module docstring for the steps).

    Parameters
    ----------
    model
        A :class:`~napari_medai.core.models.LoadedModel`, or anything
        :func:`~napari_medai.core.models.load_model` accepts (registry name, path).
    channels
        ``{name: Volume}`` matched by MR sequence name, or a list in the model's channel order.
    device
        ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda"``.
    amp
        Mixed precision; ``None``: on with CUDA, off on the CPU (AMP is only used on CUDA).
    tta
        Test-time augmentation: ``True`` averages all ``2**d`` flip combinations, an integer the
        first *n* of them (identity first); ``False`` one pass.
    uncertainty
        ``"variance"``: with TTA, the largest across-flip variance over the output channels;
        ``"entropy"``: the entropy of the (mean) probabilities (binary entropy in bits, largest over
        regions, for sigmoid outputs; normalised categorical entropy for softmax); ``None``: none.
    overlap
        Sliding-window overlap (default: the contract's).
    sw_batch_size
        Windows per network call.
    brainmask
        Brain mask on the input grid: defines the voxels normalised (instead of the non-background
        rule) and sets labels outside it to 0.
    mask_to_foreground
        Without a brain mask, for ``"zscore-nonzero"`` models (skull-stripped MRI, background 0):
        set labels to 0 where every input channel is background, so that the resampling and the
        network's receptive field cannot put tumour outside the head (the number of voxels removed
        is noted). ``False`` keeps the network's raw output, as MONAI's bundle inference does.
    return_probabilities
        Also return the probabilities on the input grid.
    progress
        ``progress(fraction, message)``, called per window.
    should_stop
        Polled before every window; returning True raises :class:`Cancelled`.

    Returns
    -------
    Prediction

    Raises
    ------
    MissingChannelError, GeometryMismatchError, InvalidInputError, Cancelled
    """

    from .device import resolve_device
    from .models.loading import LoadedModel, load_model, require_segmentation_model

    t0 = time.perf_counter()
    lm: LoadedModel = require_segmentation_model(load_model(model))
    c = lm.contract
    vols = match_channels(c, channels)
    ref = vols[0]
    if brainmask is not None:
        ref.require_same_grid(brainmask, what="the images and the brain mask")
    if int(sw_batch_size) < 1:
        raise InvalidInputError(f"sw_batch_size must be >= 1, got {sw_batch_size}")
    ov = c.overlap if overlap is None else float(overlap)
    if not 0.0 <= ov < 1.0:
        raise InvalidInputError(f"overlap must lie in [0, 1), got {overlap}")
    if uncertainty not in (None, "variance", "entropy"):
        raise InvalidInputError(f"uncertainty must be 'variance', 'entropy' or None, got {uncertainty!r}")
    dev = resolve_device(device)
    notes: list[str] = list(lm.notes)
    if not c.is_trained:
        notes.append(f"model {c.name!r} is NOT TRAINED (random or missing weights): the segmentation means nothing")
    use_amp = (dev == "cuda") if amp is None else bool(amp)
    if use_amp and dev != "cuda":
        notes.append("AMP is only used on CUDA; ran in float32 on the CPU")
        use_amp = False

    def report(f: float, msg: str) -> None:
        if progress is not None:
            progress(float(min(max(f, 0.0), 1.0)), msg)

    if should_stop is not None and should_stop():
        raise Cancelled("inference cancelled")
    report(0.0, "preparing the images")
    bm = None if brainmask is None else np.asarray(brainmask.data) > 0
    net_in, geo = prepare_input(c, vols, brainmask=bm)
    full_shape, box, layout, masks = ref.spatial_shape, geo.box, geo.layout, geo.masks
    net_shape, resampled = geo.net_shape, geo.resampled
    if resampled:
        notes.append(
            "resampled from " + "x".join(f"{s:g}" for s in geo.net_spacing) + " mm to the model's "
            + "x".join(f"{s:g}" for s in c.target_spacing) + " mm and back"
        )
    report(0.02, "running the network")
    mean, var, n_win = infer_array(
        lm.network, net_in, roi_size=c.roi_size, output_kind=c.output_kind, overlap=ov,
        blend_mode=c.blend_mode, sw_batch_size=int(sw_batch_size), device=dev, amp=use_amp, tta=tta,
        progress=progress, should_stop=should_stop, progress_span=(0.02, 0.95),
    )
    n_pass = len(_flip_sets(c.spatial_dims, tta))
    quality = ood.check_prediction(net_in, mean.numpy(), output_kind=c.output_kind, threshold=c.threshold,
                                   reference=(lm.info.get("training") or {}).get(ood.REFERENCE_KEY),
                                   channels=c.channels)
    del net_in
    report(0.95, "back to the input grid")
    if resampled:
        mean = _resize(mean, net_shape)
        var = _resize(var, net_shape) if n_pass > 1 else var
    mean_np = np.ascontiguousarray(layout.from_net(mean.numpy()))
    unc_np = None
    if uncertainty == "variance" and n_pass > 1:
        unc_np = np.ascontiguousarray(layout.from_net(var.numpy())).max(axis=0)
    elif uncertainty == "entropy":
        unc_np = _entropy(mean_np, c.output_kind).astype(np.float32)
    if box is not None:
        full = np.zeros((mean_np.shape[0], *full_shape), dtype=np.float32)
        if c.output_kind == "softmax-labels":
            full[0] = 1.0  # background outside the box
        full[(slice(None), *box)] = mean_np
        mean_np = full
        if unc_np is not None:
            u = np.zeros(full_shape, dtype=np.float32)
            u[box] = unc_np
            unc_np = u
    labels = labels_from_probabilities(mean_np, c)
    if bm is not None:
        labels[~bm] = 0
    elif mask_to_foreground and c.normalization == "zscore-nonzero":
        outside = ~masks.any(axis=0)
        n_out = int(np.count_nonzero(labels[outside]))
        if n_out:
            labels[outside] = 0
            notes.append(f"{n_out} labelled voxel(s) where every input is background were set to 0")
    meta = {
        "model": c.name, "convention": c.label_convention, "is_trained": c.is_trained,
        "trained_on": c.trained_on if c.is_trained else "NOT TRAINED", "tta_passes": n_pass, "device": dev,
        "source": lm.source,
    }
    label_vol = ref.with_data(
        labels, is_label=True, name=f"{c.name}_seg", label_names=dict(c.label_names), source=None, units="",
        channel_axis=None, channel_names=None, meta=meta,
    )
    probs_vol = None
    if return_probabilities:
        probs_vol = ref.with_data(
            mean_np.astype(np.float32), channel_axis=0, channel_names=list(c.output_channels), is_label=False,
            name=f"{c.name}_probabilities", source=None, units="probability", label_names=None, meta=dict(meta),
        )
    unc_vol = None
    if unc_np is not None:
        unc_vol = ref.with_data(
            unc_np.astype(np.float32), is_label=False, name=f"{c.name}_uncertainty_{uncertainty}", source=None,
            units="variance" if uncertainty == "variance" else "entropy", label_names=None,
            channel_axis=None, channel_names=None, meta={**meta, "uncertainty": uncertainty},
        )
    regions, per_label = region_volumes_ml(label_vol, c.label_convention)
    report(1.0, "done")
    return Prediction(
        labels=label_vol, probabilities=probs_vol, uncertainty=unc_vol, region_volumes_ml=regions,
        label_volumes_ml=per_label, model_name=c.name, is_trained=c.is_trained, trained_on=c.trained_on,
        device=dev, amp=use_amp, tta_passes=n_pass, n_windows=n_win, seconds=time.perf_counter() - t0,
        notes=notes, quality=quality,
    )


# ---------------------------------------------------------------------------------------------
# classification
# ---------------------------------------------------------------------------------------------
@dataclass
class ClassPrediction:
    """What :func:`predict_classification` returns.

    Attributes
    ----------
    probabilities
        ``(n_classes,)`` for a whole-input model, ``(n_patches, n_classes)`` for a patch model.
    class_names
        The model's classes, in the order of the probabilities.
    present
        The classes called present: the arg-max class (softmax) or every class at or above its
        decision threshold (sigmoid); a list per patch for patch models.
    points
        Patch centres on the input grid (voxel indices), or ``None``.
    model_name, is_trained, trained_on, output_kind, device, seconds, notes
        Where the answer came from.
    """

    probabilities: np.ndarray
    class_names: tuple[str, ...]
    present: list[Any]
    points: np.ndarray | None
    model_name: str
    is_trained: bool
    trained_on: str
    output_kind: str
    device: str
    seconds: float
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly: ``{"probabilities": {class: p} (or a list of them per patch), "present": ...}``."""
        p = np.atleast_2d(self.probabilities)
        rows = [{c: float(v) for c, v in zip(self.class_names, row)} for row in p]
        return {"model": self.model_name, "is_trained": self.is_trained,
                "probabilities": rows[0] if self.points is None else rows, "present": self.present,
                "points": None if self.points is None else self.points.tolist(), "notes": list(self.notes)}

    def summary(self) -> str:
        """A line per input (or patch) for logs and the CLI."""
        p = np.atleast_2d(self.probabilities)
        pres = [self.present] if self.points is None else self.present
        lines = [", ".join(f"{c} {v:.3f}" for c, v in zip(self.class_names, row)) + f" -> {', '.join(x) or 'none'}"
                 for row, x in zip(p, pres)]
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)


def _as_channels(contract: ModelContract, image: Any) -> Mapping[str, Volume] | Sequence[Volume]:
    if isinstance(image, Volume):
        return [image]
    if isinstance(image, np.ndarray):
        if image.ndim == contract.spatial_dims:
            return [Volume(np.asarray(image, dtype=np.float32), name=contract.channels[0])]
        if image.ndim == contract.spatial_dims + 1:
            return [Volume(np.asarray(a, dtype=np.float32), name=n) for a, n in zip(image, contract.channels)]
        raise InvalidInputError(
            f"an image of shape {image.shape} for a {contract.spatial_dims}-D model with "
            f"{len(contract.channels)} channel(s); give {contract.spatial_dims} axes (or channels first)"
        )
    return image


def _to_network_points(points: np.ndarray, geo: InputGeometry, out_shape: Sequence[int]) -> np.ndarray:
    """Voxel indices on the input grid -> indices on the network grid :func:`prepare_input` made."""
    p = np.asarray(points, dtype=float).copy()
    if geo.box is not None:
        p -= np.array([s.start for s in geo.box], dtype=float)
    q = p[:, list(geo.layout.perm)]
    for n, f in enumerate(geo.layout.flips):
        if f:
            q[:, n] = geo.net_shape[n] - 1 - q[:, n]
    if geo.resampled:
        q = (q + 0.5) * np.asarray(out_shape, float) / np.asarray(geo.net_shape, float) - 0.5
    return np.rint(q).astype(np.int64)


def classification_input(
    contract: ModelContract, image: Any, *, points: Sequence[Sequence[float]] | None = None
) -> tuple[np.ndarray, np.ndarray | None]:
    """The batch a classifier sees for one image: ``(N, C, *roi_size)`` float32 and the patch centres.

    Whole-input models give one item (the image prepared by :func:`prepare_input`, resized to
    ``roi_size``). Patch models give one patch of ``roi_size`` per centre: ``points`` (voxel
    indices on the input grid, array axis order) or, for ``patch_source="grid"`` without points,
    a grid of centres one patch apart; patches reaching outside the image are padded with 0 (the
    normalised background).

    Landmark models (``input_mode="landmarks"``) give one item: the patch at each of the contract's
    ``landmark_points`` (:func:`napari_medai.core.landmark_patches.landmark_indices`), stacked along
    the channel axis (``(1, L * C, *roi_size)``), and no centres (one answer per image).

    ``image`` is a :class:`Volume`, a list or ``{name: Volume}`` of channels, or an array
    (``spatial_dims`` axes, or channels first).
    """
    x, geo = prepare_input(contract, _as_channels(contract, image))
    if contract.input_mode == "whole":
        if points is not None:
            raise InvalidInputError(f"model {contract.name!r} classifies the whole input; it takes no points")
        return x[None], None
    shape = geo.reference.spatial_shape
    if contract.input_mode == "landmarks":
        from .landmark_patches import landmark_indices

        if points is not None and any(p is not None for p in points):
            raise InvalidInputError(f"model {contract.name!r} cuts its patches at its own landmarks; it takes no points")
        pts = landmark_indices(contract.landmark_points, geo.reference)
    elif points is None:
        if contract.patch_source != "grid":
            raise InvalidInputError(f"model {contract.name!r} classifies patches around given points; give points")
        axes = [np.arange(r // 2, max(s, 1), r) for s, r in zip(shape, reversed(contract.roi_size))]
        pts = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(shape))
    else:
        pts = np.asarray(points, dtype=float).reshape(-1, len(shape))
    q = _to_network_points(pts, geo, x.shape[1:])
    roi = tuple(int(r) for r in contract.roi_size)
    padded = np.pad(x, [(0, 0), *[(r, r) for r in roi]])
    out = np.empty((len(q), x.shape[0], *roi), dtype=np.float32)
    for i, c in enumerate(q):
        sl = tuple(slice(int(ci) + r - r // 2, int(ci) + r - r // 2 + r) for ci, r in zip(c, roi))
        out[i] = padded[(slice(None), *sl)]
    if contract.input_mode == "landmarks":
        return out.reshape(1, -1, *roi), None
    return out, pts


def classify_batch(network: Any, x: np.ndarray, *, output_kind: str, device: str = "cpu",
                   batch_size: int = 64, should_stop: StopFn | None = None) -> np.ndarray:
    """Class probabilities ``(N, n_classes)`` of a prepared batch (softmax or sigmoid of the logits)."""
    import torch

    out = []
    network.to(device)
    network.eval()
    with torch.inference_mode():
        for i in range(0, len(x), int(batch_size)):
            if should_stop is not None and should_stop():
                raise Cancelled("inference cancelled")
            logits = network(torch.from_numpy(np.ascontiguousarray(x[i : i + int(batch_size)])).to(device)).float()
            p = torch.softmax(logits, dim=1) if output_kind == "softmax" else torch.sigmoid(logits)
            out.append(p.cpu().numpy())
    return np.concatenate(out, axis=0) if out else np.zeros((0, 0), np.float32)


def decide_classes(probs: np.ndarray, contract: ModelContract) -> list[str]:
    """The classes called present for one probability vector (arg-max, or thresholds for sigmoid)."""
    names = contract.output_channels
    if contract.output_kind == "softmax":
        return [names[int(np.argmax(probs))]]
    return [n for n, p, t in zip(names, probs, contract.decision_thresholds) if p >= t]


def predict_classification(
    model: Any,
    image: Any,
    *,
    points: Sequence[Sequence[float]] | None = None,
    device: str = "auto",
    batch_size: int = 64,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> ClassPrediction:
    """Class probabilities of one image (whole-input models) or of patches of it (patch models).

    Parameters
    ----------
    model
        A classification model (:class:`~napari_medai.core.models.LoadedModel` or anything
        :func:`~napari_medai.core.models.load_model` accepts).
    image
        See :func:`classification_input`.
    points
        Patch centres (voxel indices on the input grid) for patch models.
    device, batch_size
        ``"auto"``/``"cpu"``/``"cuda"``; patches per network call.
    progress, should_stop
        ``progress(fraction, message)``; ``should_stop()`` before every batch (raises :class:`Cancelled`).

    Raises
    ------
    ModelLoadError
        The model is not a classifier.
    """
    from .device import resolve_device
    from .models.errors import ModelLoadError
    from .models.loading import load_model

    t0 = time.perf_counter()
    lm = load_model(model)
    c = lm.contract
    if getattr(c, "kind", None) != "classification":
        raise ModelLoadError(f"{lm.source} is a {getattr(c, 'kind', '?')} model, not a classifier; use run_model")
    dev = resolve_device(device)
    if progress is not None:
        progress(0.0, "preparing the image")
    x, pts = classification_input(c, image, points=points)
    probs = classify_batch(lm.network, x, output_kind=c.output_kind, device=dev, batch_size=batch_size,
                           should_stop=should_stop)
    lm.network.to("cpu")
    notes = list(lm.notes)
    if not c.is_trained:
        notes.append(f"model {c.name!r} is NOT TRAINED (random weights): its probabilities mean nothing")
    present: list[Any] = [decide_classes(p, c) for p in probs]
    if progress is not None:
        progress(1.0, "done")
    return ClassPrediction(
        probabilities=probs[0] if pts is None else probs, class_names=c.output_channels,
        present=present[0] if pts is None else present, points=pts, model_name=c.name, is_trained=c.is_trained,
        trained_on=c.trained_on, output_kind=c.output_kind, device=dev, seconds=time.perf_counter() - t0, notes=notes,
    )


# ---------------------------------------------------------------------------------------------
# every kind through one entry point
# ---------------------------------------------------------------------------------------------
#: ``runner(model, inputs, **options)`` for image-to-image models, by contract task (tasks register theirs).
_IMAGE_RUNNERS: dict[str, Callable[..., Any]] = {}


def register_image_runner(task: str, runner: Callable[..., Any]) -> None:
    """Make :func:`run_model` run image-to-image models of ``task`` with ``runner(model, image, **options)``."""
    _IMAGE_RUNNERS[str(task)] = runner


def run_model(model: Any, inputs: Any, **options: Any) -> Any:
    """Run any model on its inputs, by the kind its contract declares.

    ``segmentation`` -> :func:`predict` (a :class:`Prediction`); ``classification`` ->
    :func:`predict_classification` (a :class:`ClassPrediction`); ``image-to-image`` -> the runner
    its task registered (:func:`register_image_runner`; e.g. the LDCT denoiser's). ``options`` go
    to that function.
    """
    from .models.loading import load_model

    lm = load_model(model)
    kind = getattr(lm.contract, "kind", "segmentation")
    if kind == "segmentation":
        return predict(lm, inputs, **options)
    if kind == "classification":
        return predict_classification(lm, inputs, **options)
    task = getattr(lm.contract, "task", "")
    if task not in _IMAGE_RUNNERS:
        raise InvalidInputError(f"no runner is registered for {kind} models of task {task!r}; use the task's function")
    return _IMAGE_RUNNERS[task](lm, inputs, **options)
