"""Lesion presence: is there a bright lesion in this image? The minimal classification task.

It proves the classification path end to end on synthetic data
(:mod:`napari_medai.core.phantoms.lesion_presence`): a contract of kind ``classification``
(:func:`lesion_presence_contract`), training through the one loop with the classification recipe
(:func:`train_lesion_presence`), a model folder that :func:`~napari_medai.core.models.load_model`
opens, and probabilities from :func:`~napari_medai.core.inference.classification.predict_classification`
(:func:`predict_lesion_presence`). ``napari-medai train lesion-presence --out MODEL_DIR`` runs the
training from the command line. It is the worked example of ``docs/adding-a-task.md``.

The network is a small MONAI ``DenseNet`` (two dense blocks, global average pooling, so a lesion
counts wherever it lies; a flattening classifier such as MONAI's ``Classifier`` memorises
positions instead): 2-D images resized to ``size`` x ``size`` pixels, z-scored, two softmax classes
``absent`` / ``present``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..callbacks import ProgressFn, StopFn
from ..errors import InvalidInputError
from ..models.contract import ModelContract, NetworkSpec

__all__ = ["CLASSES", "TASK", "lesion_presence_cases", "lesion_presence_contract", "predict_lesion_presence",
           "train_lesion_presence"]

TASK = "lesion_presence"
CLASSES = ("absent", "present")


def lesion_presence_contract(*, size: int = 32, spatial_dims: int = 2, width: int = 8,
                             name: str = "lesion-presence") -> ModelContract:
    """The (untrained) contract: one ``image`` channel, softmax over ``absent``/``present``.

    Parameters
    ----------
    size
        Edge of the network's input in pixels; images of other sizes are resized to it.
    spatial_dims
        2 or 3.
    width
        DenseNet initial features and growth rate.
    name
        Model name.
    """
    if int(size) < 16 or int(size) % 8:
        raise InvalidInputError(f"size must be a multiple of 8 and at least 16 (DenseNet pools by 8), got {size}")
    return ModelContract(
        name=name, task=TASK, kind="classification", channels=("image",), output_kind="softmax",
        output_channels=CLASSES, roi_size=(int(size),) * int(spatial_dims), spatial_dims=int(spatial_dims),
        network=NetworkSpec("DenseNet", {
            "spatial_dims": int(spatial_dims), "in_channels": 1, "out_channels": 2, "init_features": int(width),
            "growth_rate": int(width), "block_config": [2, 2], "bn_size": 2,
        }),
        normalization="zscore", input_mode="whole", decision_thresholds=(0.5, 0.5),
        description="napari-medai lesion-presence classifier (phantom task; not for real images)",
    )


def lesion_presence_cases(n: int, *, seed: int = 0, size: int = 32, spatial_dims: int = 2) -> list[Any]:
    """``n`` phantom cases (:class:`~napari_medai.core.recipes.ClassificationCase`), half with a lesion."""
    from ..phantoms.lesion_presence import lesion_presence_cohort
    from ..recipes.classification import ClassificationCase

    return [ClassificationCase(name, image, CLASSES[label])
            for name, image, label in lesion_presence_cohort(n, seed=seed, size=size, spatial_dims=spatial_dims)]


def train_lesion_presence(
    out_dir: str | os.PathLike[str],
    *,
    cases: Sequence[Any] | None = None,
    n_cases: int = 192,
    seed: int = 0,
    size: int = 32,
    max_epochs: int = 8,
    steps_per_epoch: int = 15,
    batch_size: int = 16,
    learning_rate: float = 3e-3,
    device: str = "auto",
    resume: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    **options: Any,
) -> Any:
    """Train the lesion-presence classifier (on ``n_cases`` phantoms unless ``cases`` are given).

    ``options`` go to :func:`napari_medai.core.training.train_classifier` (``val_fraction``,
    ``patience``, ``time_limit_s``, ``num_threads``, ``on_epoch``, ...).

    Returns
    -------
    napari_medai.core.training.ClassifierTrainingResult
    """
    from ..training import train_classifier

    trained_on = options.pop("trained_on", None)
    if cases is None:
        cases = lesion_presence_cases(int(n_cases), seed=seed, size=size)
        trained_on = trained_on or f"{len(cases)} synthetic lesion-presence phantoms (seed {seed})"
    return train_classifier(
        lesion_presence_contract(size=size), cases, out_dir=out_dir, seed=seed, max_epochs=max_epochs,
        steps_per_epoch=steps_per_epoch, batch_size=batch_size, learning_rate=learning_rate, device=device,
        resume=resume, progress=progress, should_stop=should_stop, trained_on=trained_on, **options,
    )


def predict_lesion_presence(model: Any, image: Any, *, device: str = "auto") -> float:
    """The probability that ``image`` (array or Volume) holds a lesion, from a lesion-presence model."""
    from ..inference.classification import predict_classification

    p = predict_classification(model, image, device=device)
    if tuple(p.class_names) != CLASSES:
        raise InvalidInputError(f"{p.model_name} predicts {', '.join(p.class_names)}, not lesion presence")
    return float(np.asarray(p.probabilities)[1])
