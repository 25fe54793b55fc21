"""Segment one case with a model: :func:`predict` -> :class:`Prediction`.

The steps (match the channels, prepare them, the sliding window with TTA, back to the input grid,
volumes) are listed in :mod:`napari_medai.core.inference`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from .. import ood
from ..callbacks import Cancelled, ProgressFn, StopFn
from ..errors import InvalidInputError
from ..volume import Volume
from .labels import labels_from_probabilities, region_volumes_ml
from .prepare import match_channels, prepare_input, resize_channels
from .sliding_window import entropy_map, flip_sets, infer_array

__all__ = ["Prediction", "UncertaintyKind", "predict"]

UncertaintyKind = Literal["variance", "entropy"]


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
    """Segment one case with a model (the steps: :mod:`napari_medai.core.inference`).

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

    from ..device import resolve_device
    from ..models.loading import LoadedModel, load_model, require_segmentation_model

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
    n_pass = len(flip_sets(c.spatial_dims, tta))
    quality = ood.check_prediction(net_in, mean.numpy(), output_kind=c.output_kind, threshold=c.threshold,
                                   reference=(lm.info.get("training") or {}).get(ood.REFERENCE_KEY),
                                   channels=c.channels)
    del net_in
    report(0.95, "back to the input grid")
    if resampled:
        mean = resize_channels(mean, net_shape)
        var = resize_channels(var, net_shape) if n_pass > 1 else var
    mean_np = np.ascontiguousarray(layout.from_net(mean.numpy()))
    unc_np = None
    if uncertainty == "variance" and n_pass > 1:
        unc_np = np.ascontiguousarray(layout.from_net(var.numpy())).max(axis=0)
    elif uncertainty == "entropy":
        unc_np = entropy_map(mean_np, c.output_kind).astype(np.float32)
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
