"""Alzheimer's disease (Plugins > napari-medai > Alzheimer's disease (T1 MRI)): the widget wires, the core
(:mod:`napari_medai.core.tasks.alzheimer`) computes; :mod:`.pages` holds the four tabs, :mod:`.inputs` the
path rows and the sample cohort's writer, :mod:`.result_layers` the layers, :mod:`.words` the sentences."""

from __future__ import annotations

from .widget import AlzheimerWidget

__all__ = ["AlzheimerWidget"]
