"""Training recipes: what differs per kind of model, run by :func:`napari_medai.core.training.run_training`.

* :class:`Recipe` (:mod:`.base`) -- the hooks a recipe fills in;
* :class:`SegmentationRecipe` (:mod:`.segmentation`) -- label maps, balanced patches, Dice+CE,
  sliding-window Dice validation (brain tumour);
* :class:`ClassificationRecipe` (:mod:`.classification`) -- class labels, class-balanced sampling,
  cross-entropy (softmax) or BCE (sigmoid), validation AUC.

The LDCT denoiser's image-to-image recipe lives with its task
(:mod:`napari_medai.core.tasks.ldct.supervised`).
"""

from __future__ import annotations

from .base import Recipe, TrainState, Validation, split_cases
from .classification import ClassificationCase, ClassificationRecipe
from .segmentation import SegmentationRecipe, TaskSpec, TrainingCase

__all__ = [
    "ClassificationCase",
    "ClassificationRecipe",
    "Recipe",
    "SegmentationRecipe",
    "TaskSpec",
    "TrainState",
    "TrainingCase",
    "Validation",
    "split_cases",
]
