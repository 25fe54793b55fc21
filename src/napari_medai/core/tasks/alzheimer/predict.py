"""P(AD) of one T1 with the landmarks' occlusion contributions and a saliency map: :func:`predict_alzheimer`."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import ProgressFn, StopFn
from ...errors import InvalidInputError
from ...volume import Volume
from .landmarks import COHORT_MAX_ANISOTROPY, COHORT_MIN_CORRELATION
from .model import DISCLAIMER, GRID_MM, load_alzheimer_model

__all__ = ["AlzheimerPrediction", "predict_alzheimer"]


@dataclass
class AlzheimerPrediction:
    """What :func:`predict_alzheimer` gives for one subject (see the package notes)."""

    probability: float
    threshold: float
    decision: str
    model_name: str
    trained_on: str
    trained: bool
    aligned_t1: Volume
    registration: dict[str, Any]
    landmarks_mm: np.ndarray
    contributions: np.ndarray
    saliency: Volume
    disclaimer: str = DISCLAIMER
    model_kind: str = "landmarks"
    seconds: float = 0.0

    @property
    def landmarks_mni(self) -> np.ndarray:
        """Landmarks in MNI RAS mm (x right, y anterior, z superior)."""
        w = np.atleast_2d(self.landmarks_mm).reshape(-1, 3)
        return np.stack([-w[:, 2], -w[:, 1], w[:, 0]], axis=1)

    def summary(self) -> str:
        if not self.trained:
            return f"{self.model_name}: this model is NOT TRAINED; it gives no probability. {self.disclaimer}"
        return (f"P(AD) {self.probability:.3f} -> {self.decision} at threshold {self.threshold:g} "
                f"({self.model_name}, {self.model_kind}). {self.disclaimer}")

    def to_json(self) -> dict[str, Any]:
        def num(v: float) -> float | None:
            return None if not math.isfinite(float(v)) else round(float(v), 6)

        order = np.argsort(-np.nan_to_num(self.contributions, nan=-np.inf)) if len(self.contributions) else []
        return {
            "probability_ad": num(self.probability) if self.trained else None, "threshold": self.threshold,
            "decision": self.decision, "trained": self.trained, "model": self.model_name,
            "model_kind": self.model_kind, "trained_on": self.trained_on, "registration": self.registration,
            "landmarks": [{"rank": i + 1, "mni_mm": [round(float(v), 2) for v in m],
                           "contribution": num(c)} for i, (m, c) in enumerate(zip(self.landmarks_mni,
                                                                                   self.contributions, strict=True))],
            "most_contributing": [int(i) + 1 for i in list(order)[:5]] if self.trained else [],
            "disclaimer": self.disclaimer, "seconds": round(self.seconds, 2),
        }


def _register(t1: Volume, spacing: float, template: Any, progress: ProgressFn | None) -> tuple[Volume, dict]:
    from .registration import coarse_template, load_template, register_to_template

    tpl = load_template(template) if not hasattr(template, "brain_mask") else template
    if spacing > min(tpl.image.spacing) + 1e-6:
        tpl = coarse_template(tpl, spacing)
    res = register_to_template(t1, tpl, min_correlation=COHORT_MIN_CORRELATION, max_anisotropy=COHORT_MAX_ANISOTROPY,
                               threads=1, progress=progress)
    return res.aligned, res.to_dict()


def predict_alzheimer(
    model: Any,
    t1: Volume | str | os.PathLike[str],
    *,
    already_aligned: bool = False,
    template: Any = None,
    device: str = "auto",
    occlusion_block: int = 8,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> AlzheimerPrediction:
    """P(AD) of one T1, with the landmarks' occlusion contributions and a saliency map (package notes).

    Parameters
    ----------
    model
        A model folder written by :func:`train_alzheimer` (or a loaded model).
    t1
        The T1 (a Volume or a path), skull on or off.
    already_aligned
        The T1 already lies on the model's MNI grid: skip the registration.
    template
        The MNI152 template (path or :class:`~.registration.Template`; None: nilearn's copy).
    occlusion_block
        Block edge (network voxels) of a whole-brain model's occlusion map.

    Raises
    ------
    RegistrationError
        The registration clearly failed (its metrics in the error).
    InvalidInputError
        Not an Alzheimer model, or a T1 that is not in the landmarks' space.
    """
    from ...device import resolve_device
    from ...inference.classification import classification_input, classify_batch
    from ...inference.layout import layout_for
    from ...io import read_volume
    from ...landmark_patches import (
        landmark_indices,
        occlusion_contributions,
        occlusion_map,
        splat_saliency,
    )

    t0 = time.perf_counter()
    lm = load_alzheimer_model(model)
    c = lm.contract
    if not isinstance(t1, Volume):
        p = Path(t1).expanduser()
        if not p.exists():
            raise InvalidInputError(f"--t1 {p}: no such file")
        t1 = read_volume(p, as_label=False)
    if t1.channel_axis is not None or t1.ndim_spatial != 3:
        raise InvalidInputError(f"{t1.name or 'the T1'}: give one 3-D T1 image, got shape {t1.data.shape}")
    say = progress or (lambda f, m: None)
    kind = "landmarks" if c.input_mode == "landmarks" else "whole-brain"
    spacing = float(min(c.target_spacing)) if c.target_spacing else GRID_MM
    if already_aligned:
        aligned, registration = t1, {"skipped": True, "reason": "the T1 was given already aligned to MNI152"}
    else:
        say(0.0, "registering the T1 to MNI152")
        aligned, registration = _register(t1, spacing, template, lambda f, m: say(0.6 * f, m))
    say(0.6, "classifying")
    x, _ = classification_input(c, aligned)
    dev = resolve_device(device)
    th = float(c.decision_thresholds[1])
    pts = np.asarray(c.landmark_points, dtype=float).reshape(-1, 3)
    n = pts.shape[0]
    common: dict[str, Any] = {"threshold": th, "model_name": c.name, "trained_on": c.trained_on,
                              "aligned_t1": aligned, "registration": registration, "landmarks_mm": pts,
                              "model_kind": kind}
    if not c.is_trained:
        say(1.0, "the model is not trained: no probability")
        return AlzheimerPrediction(probability=float("nan"), decision="not trained", trained=False,
                                   contributions=np.full(n, np.nan), seconds=time.perf_counter() - t0,
                                   saliency=aligned.with_data(np.zeros(aligned.spatial_shape, np.float32),
                                                              name="AD saliency (untrained model: none)"), **common)
    if kind == "landmarks":
        prob, contrib = occlusion_contributions(lm.network, x, n, target=1, output_kind=c.output_kind, device=dev,
                                                should_stop=should_stop)
        idx = landmark_indices(pts, aligned)
        sal = splat_saliency(contrib, idx, aligned, patch_mm=float(c.roi_size[0]) * spacing)
    else:
        prob = float(classify_batch(lm.network, x, output_kind=c.output_kind, device=dev)[0, 1])
        _, omap = occlusion_map(lm.network, x, block=int(occlusion_block), target=1, output_kind=c.output_kind,
                                device=dev, should_stop=should_stop)
        from scipy import ndimage

        layout = layout_for(aligned, c.orientation)
        net_shape = layout.shape(aligned.spatial_shape)
        zoomed = ndimage.zoom(omap, [a / b for a, b in zip(net_shape, omap.shape, strict=True)], order=0,
                              grid_mode=True, mode="nearest")
        sal = np.ascontiguousarray(layout.from_net(zoomed[None])[0]).astype(np.float32)
        contrib = np.zeros(0)
    lm.network.to("cpu")
    say(1.0, f"P(AD) {prob:.3f}")
    return AlzheimerPrediction(probability=float(prob), decision="AD" if prob >= th else "NC", trained=True,
                               contributions=np.asarray(contrib, dtype=np.float64),
                               saliency=aligned.with_data(sal, name="AD saliency (occlusion)"),
                               seconds=time.perf_counter() - t0, **common)
