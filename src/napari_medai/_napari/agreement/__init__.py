"""The agreement panel (Plugins > napari-medai > Agreement with ground truth): the widget wires, the core
(:mod:`napari_medai.core.agreement_session`) computes; :mod:`.display` turns results into table cells."""

from __future__ import annotations

from .display import COLUMNS
from .pair_form import CUSTOM
from .panel import SHORTCUTS, AgreementWidget

__all__ = ["COLUMNS", "CUSTOM", "SHORTCUTS", "AgreementWidget"]
