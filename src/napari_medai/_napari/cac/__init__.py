"""Coronary calcium dock widgets: scoring with reader corrections (:mod:`.scoring`) and the cohort
agreement (:mod:`.agreement`). Tables, click-to-assign, live re-scoring and file actions are modules of
their own; every number comes from :mod:`napari_medai.core.tasks.cac`."""

from .agreement import CACAgreementWidget
from .scoring import ASSIGNMENT_LAYER, CANDIDATES_LAYER, CACWidget

__all__ = ["ASSIGNMENT_LAYER", "CANDIDATES_LAYER", "CACAgreementWidget", "CACWidget"]
