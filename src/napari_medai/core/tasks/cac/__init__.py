"""Coronary artery calcium (CAC) scoring on non-contrast CT (GUI-free).

Workflow (each step a plain function on :class:`~napari_medai.core.volume.Volume`)::

    from napari_medai.core.tasks import cac

    candidates, lesions = cac.find_candidates(ct)          # every 2-D region >= 130 HU, >= 1 mm^2
    assignment = cac.auto_assign(ct, candidates)            # artery per 3-D candidate group
    assignment = cac.reassign(assignment, candidates, (k, j, i), "LAD")   # a reader's correction
    result = cac.score(ct, assignment)                      # Agatston / volume / mass per artery
    cac.write_json(result, "cac.json"); cac.write_csv(result, "cac.csv")

* :func:`check_ct` refuses images that are not axial CT in HU and warns about slices that are not
  3 mm (``slice_correction='scale'`` multiplies lesion scores by spacing / 3 mm, the default;
  ``'none'`` does not);
* :func:`find_candidates` labels candidate lesions and groups those touching across slices;
* :func:`auto_assign` assigns groups with an anatomical heuristic (no trained model; see
  :mod:`~napari_medai.core.tasks.cac.assign` for the rules and their limits) or a territory model;
* :func:`score` applies the Agatston rule (see :mod:`~napari_medai.core.tasks.cac.scoring`);
* :func:`to_json_dict`, :func:`write_json`, :func:`write_csv`, :func:`format_result` report it;
  :func:`read_scores` reads per-case score CSVs and :func:`cohort_agreement` computes the agreement
  over a cohort (the CLI and the widget share it);
* :class:`ScoringSession` keeps the scores up to date while a reader edits (only the touched slices
  are re-scored; equal to :func:`score`), :class:`CandidateIndex` finds a clicked candidate's voxels.

Assignment codes: 0 unassigned, 1 LM, 2 LAD, 3 LCX, 4 RCA, 5 non-coronary (:data:`CODES`).
Agreement statistics across cases live in :mod:`napari_medai.core.metrics.agreement_stats`.
"""

from __future__ import annotations

from ...metrics.agreement_stats import RISK_CATEGORIES, risk_category
from ._common import (
    ARTERIES,
    CODES,
    NAMES,
    REFERENCE_SLICE_MM,
    SLICE_CORRECTIONS,
    CTCheck,
    artery_code,
    check_ct,
    density_weight,
)
from .agreement import CohortAgreement, cohort_agreement
from .anatomy import CardiacAnatomy, analyse_anatomy
from .assign import METHOD_HEURISTIC, auto_assign, reassign, sector, territory_angle
from .candidates import candidate_groups, find_candidates
from .report import (
    SCORE_MEASURES,
    csv_rows,
    format_result,
    read_scores,
    to_json_dict,
    write_csv,
    write_json,
)
from .scoring import (
    CACResult,
    Lesion,
    calibration_factor_from_phantom,
    per_artery_rows,
    score,
    scored_calcium,
)
from .session import CandidateIndex, ScoringSession, touched_slices

__all__ = [
    "ARTERIES",
    "CODES",
    "NAMES",
    "REFERENCE_SLICE_MM",
    "RISK_CATEGORIES",
    "SCORE_MEASURES",
    "SLICE_CORRECTIONS",
    "METHOD_HEURISTIC",
    "CACResult",
    "CandidateIndex",
    "CohortAgreement",
    "ScoringSession",
    "CTCheck",
    "CardiacAnatomy",
    "Lesion",
    "analyse_anatomy",
    "artery_code",
    "auto_assign",
    "calibration_factor_from_phantom",
    "cohort_agreement",
    "candidate_groups",
    "check_ct",
    "csv_rows",
    "density_weight",
    "find_candidates",
    "format_result",
    "per_artery_rows",
    "read_scores",
    "reassign",
    "risk_category",
    "score",
    "scored_calcium",
    "sector",
    "territory_angle",
    "touched_slices",
    "to_json_dict",
    "write_csv",
    "write_json",
]
