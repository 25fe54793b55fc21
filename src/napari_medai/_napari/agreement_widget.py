"""Where napari.yaml finds the agreement panel; it lives in :mod:`napari_medai._napari.agreement`."""

from __future__ import annotations

from .agreement import COLUMNS, CUSTOM, SHORTCUTS, AgreementWidget

__all__ = ["COLUMNS", "CUSTOM", "SHORTCUTS", "AgreementWidget"]
