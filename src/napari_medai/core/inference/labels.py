"""Label maps from a model's probabilities, and the volume of each label and region in ml."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import InvalidInputError
from ..models.contract import ModelContract
from ..volume import Volume

__all__ = ["labels_from_probabilities", "region_volumes_ml"]


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
    from ..metrics import CONVENTIONS

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
