"""Classify image (Plugins > napari-medai > Classify image): the widget wires, the core
(:mod:`napari_medai.core.tasks.classify`) computes; :mod:`.chart` draws the probabilities, :mod:`.layers` the
activation map, :mod:`.results` the folder table."""

from __future__ import annotations

from .widget import ClassifyWidget

__all__ = ["ClassifyWidget"]
