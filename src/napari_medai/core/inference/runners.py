"""Run any model on its inputs, by the kind its contract declares: :func:`run_model`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import InvalidInputError
from .classification import predict_classification
from .segmentation import predict

__all__ = ["register_image_runner", "run_model"]

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
    from ..models.loading import load_model

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
