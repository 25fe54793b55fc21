"""What an Alzheimer classifier is: its classes, the contracts of its two networks, its model folder.

``"landmarks"`` (:func:`landmark_contract`): one ``patch``^3 patch per landmark on the 2 mm MNI grid
(:mod:`napari_medai.core.models.landmark_net`); ``"whole-brain"`` (:func:`whole_brain_contract`): the
baseline, a small MONAI ``DenseNet`` on the whole aligned image resized to 4 mm voxels.
:func:`load_alzheimer_model` refuses any other model; :func:`read_model_info` reads the training record
(``alzheimer.json``: the subjects and sources it trained and validated on) beside its weights.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ...errors import InvalidInputError
from ...models.contract import ModelContract, NetworkSpec
from ...volume import Volume

__all__ = [
    "CLASSES",
    "DISCLAIMER",
    "GRID_MM",
    "INFO_FILE",
    "MODEL_KINDS",
    "TASK",
    "WHOLE_BRAIN_MM",
    "landmark_contract",
    "load_alzheimer_model",
    "read_model_info",
    "whole_brain_contract",
]

TASK = "alzheimer"
#: Class names in the network's output order (index 1 is AD).
CLASSES = ("NC", "AD")
MODEL_KINDS = ("landmarks", "whole-brain")
DISCLAIMER = ("Research tool, not a diagnosis: the model learned from a simulated cohort (atrophy planted in "
              "real healthy scans) and has never been validated on patients.")
#: The MNI grid (mm) the cohort is aligned on and the landmark patches are cut from.
GRID_MM = 2.0
#: Voxel size (mm) of the whole-brain baseline's input.
WHOLE_BRAIN_MM = 4.0
#: The training record written beside the weights (see :func:`read_model_info`).
INFO_FILE = "alzheimer.json"


def landmark_contract(landmark_points: Sequence[Sequence[float]], *, patch: int = 24, spacing_mm: float = GRID_MM,
                      features: Sequence[int] = (16, 32, 64), embedding: int = 8, patch_fc: int = 32,
                      fc: Sequence[int] = (64,), dropout: float = 0.25, name: str = "alzheimer-landmarks",
                      description: str = "") -> ModelContract:
    """The (untrained) contract of a landmark-patch network: one ``patch``^3 patch per landmark.

    ``landmark_points`` are world points (mm, the core's ``(S, P, L)`` order) on the MNI grid of
    ``spacing_mm`` voxels, which the input is resampled to.
    """
    if int(patch) < 4:
        raise InvalidInputError(f"the patch edge must be at least 4 voxels, got {patch}")
    pts = [tuple(float(v) for v in p) for p in landmark_points]
    return ModelContract(
        name=name, task=TASK, kind="classification", channels=("t1",), output_kind="softmax",
        output_channels=CLASSES, decision_thresholds=(0.5, 0.5), roi_size=(int(patch),) * 3, spatial_dims=3,
        target_spacing=(float(spacing_mm),) * 3, normalization="zscore-nonzero", input_mode="landmarks",
        landmark_points=tuple(pts),
        network=NetworkSpec("LandmarkNet", {
            "n_landmarks": len(pts), "in_channels": 1, "out_channels": 2, "features": [int(f) for f in features],
            "embedding": int(embedding), "patch_fc": int(patch_fc), "fc": [int(u) for u in fc],
            "dropout": float(dropout)}),
        description=description or "napari-medai Alzheimer landmark-patch classifier (research tool, not a diagnosis)",
    )


def whole_brain_contract(grid: Volume, *, voxel_mm: float = WHOLE_BRAIN_MM, width: int = 16,
                         name: str = "alzheimer-whole-brain", description: str = "") -> ModelContract:
    """The (untrained) whole-brain baseline: a DenseNet on the aligned image resized to ``voxel_mm`` voxels.

    ``grid`` is the aligned cohort's grid (its shape and spacing give the input size, network axis
    order ``storage``: the Volume's axes reversed; at least 16 voxels per axis). Three dense blocks of
    two layers (two when an axis is under 32 voxels), ``width`` initial features, growth ``width / 2``.
    """
    from ...inference.layout import layout_for

    layout = layout_for(grid, "storage")
    shape, sp = layout.shape(grid.spatial_shape), layout.spacing(grid.spacing)
    roi = tuple(max(16, 2 * int(round(n * s / float(voxel_mm) / 2))) for n, s in zip(shape, sp, strict=True))
    blocks = [2, 2, 2] if min(roi) >= 32 else [2, 2]  # each block after the first halves the input
    return ModelContract(
        name=name, task=TASK, kind="classification", channels=("t1",), output_kind="softmax",
        output_channels=CLASSES, decision_thresholds=(0.5, 0.5), roi_size=roi, spatial_dims=3,
        target_spacing=tuple(float(s) for s in sp), normalization="zscore-nonzero", input_mode="whole",
        network=NetworkSpec("DenseNet", {
            "spatial_dims": 3, "in_channels": 1, "out_channels": 2, "init_features": int(width),
            "growth_rate": max(4, int(width) // 2), "block_config": blocks, "bn_size": 2, "dropout_prob": 0.25}),
        description=description or "napari-medai Alzheimer whole-brain baseline (research tool, not a diagnosis)",
    )


def load_alzheimer_model(model: Any) -> Any:
    """A loaded Alzheimer classifier (a model folder or a loaded model); anything else is refused."""
    from ...models.loading import load_model

    lm = load_model(model)
    c = lm.contract
    if getattr(c, "task", None) != TASK or getattr(c, "kind", None) != "classification":
        raise InvalidInputError(f"{lm.source}: is a {getattr(c, 'task', '?')} {getattr(c, 'kind', '')} model, not an "
                                "Alzheimer classifier; give a folder written by train_alzheimer")
    return lm


def read_model_info(lm: Any) -> dict[str, Any]:
    """The training record beside a loaded model's weights (:data:`INFO_FILE`); ``{}`` when there is none."""
    p = getattr(lm, "path", None)
    if p is None:
        return {}
    f = Path(p) / INFO_FILE if Path(p).is_dir() else Path(p).parent / INFO_FILE
    try:
        return json.loads(f.read_text()) if f.is_file() else {}
    except (OSError, ValueError):
        return {}
