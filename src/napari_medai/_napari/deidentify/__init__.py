"""De-identify DICOM folder (Plugins > napari-medai > De-identify DICOM folder): the widget wires, the core
(:mod:`napari_medai.core.deidentify`) de-identifies; :mod:`.folders` refuses wrong folders before any work,
:mod:`.results` shows the summary and the images held back for review."""

from __future__ import annotations

from .widget import DeidentifyWidget

__all__ = ["DeidentifyWidget"]
