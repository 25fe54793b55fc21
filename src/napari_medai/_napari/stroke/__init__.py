"""Stroke lesions (Plugins > napari-medai > Stroke lesions): the widget wires, the core
(:mod:`napari_medai.core.tasks.stroke`) computes; :mod:`.inputs` picks the layers by name, :mod:`.results`
shows the lesion table and the figures beside it."""

from __future__ import annotations

from .widget import StrokeWidget

__all__ = ["StrokeWidget"]
