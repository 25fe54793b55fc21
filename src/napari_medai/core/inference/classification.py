"""Classify one image with a model: :func:`predict_classification` -> :class:`ClassPrediction`.

:func:`classification_input` cuts the batch a classifier sees (the whole prepared input, patches
around points or on a grid, or the patches at the contract's landmarks); training
(:mod:`napari_medai.core.recipes.classification`) uses the same function.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..callbacks import Cancelled, ProgressFn, StopFn
from ..errors import InvalidInputError
from ..models.contract import ModelContract
from ..volume import Volume
from .prepare import InputGeometry, prepare_input

__all__ = ["ClassPrediction", "classification_input", "classify_batch", "decide_classes", "predict_classification"]


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
        from ..landmark_patches import landmark_indices

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
    from ..device import resolve_device
    from ..models.errors import ModelLoadError
    from ..models.loading import load_model

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
