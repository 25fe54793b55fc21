"""Agreement of automatic with reference Agatston scores over a cohort: one function for the CLI and the GUI.

Cases are matched by name. Per score (``total`` and each artery both sides have): Pearson r,
ICC(2,1) and Bland-Altman bias / limits; on the risk categories of the total: the linearly weighted
kappa, the exact agreement and the confusion matrix (rows automatic, columns reference), from
:mod:`napari_medai.core.metrics.agreement_stats`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ...errors import InvalidInputError
from ...metrics.agreement_stats import (
    RISK_CATEGORIES,
    agreement_summary,
    bland_altman,
    icc_2_1,
    pearson_r,
)
from .report import SCORE_MEASURES

#: How the statistics are defined (written into the JSON document).
CONVENTIONS = {
    "bland_altman": "differences auto - ref; SD with ddof=1; limits bias +- 1.96 SD",
    "icc": "ICC(2,1): two-way random effects, absolute agreement, single measure",
    "kappa": "Cohen's kappa with linear weights |i-j|/(K-1) over the 5 risk categories",
}


@dataclass
class CohortAgreement:
    """The statistics of :func:`cohort_agreement`.

    Attributes
    ----------
    cases
        The matched case names, sorted.
    only_auto, only_ref
        Cases without a partner (skipped).
    per_measure
        ``{measure: {"n", "pearson_r", "icc_2_1", "bland_altman": {...}}}`` for ``total`` and every artery
        scored on both sides.
    summary
        :func:`~napari_medai.core.metrics.agreement_stats.agreement_summary` of the totals (categories,
        ``weighted_kappa_linear``, ``category_agreement``, ``confusion_matrix``).
    auto, ref
        The scores of the matched cases, ``{case: {measure: score}}``.
    """

    cases: list[str]
    only_auto: list[str]
    only_ref: list[str]
    per_measure: dict[str, dict[str, Any]]
    summary: dict[str, Any]
    auto: dict[str, dict[str, float]] = field(repr=False)
    ref: dict[str, dict[str, float]] = field(repr=False)

    def values(self, measure: str) -> tuple[list[float], list[float]]:
        """Automatic and reference scores of ``measure`` over the matched cases."""
        return [self.auto[c][measure] for c in self.cases], [self.ref[c][measure] for c in self.cases]

    def to_json_dict(self) -> dict[str, Any]:
        """The document ``napari-medai cac-agreement --json`` writes."""
        cats = self.summary["categories"]
        return {
            "n_cases": len(self.cases),
            "cases": [{"case": c, "auto": self.auto[c], "ref": self.ref[c], "category_auto": ca, "category_ref": cr}
                      for c, ca, cr in zip(self.cases, cats["auto"], cats["ref"])],
            "unmatched": {"auto": list(self.only_auto), "ref": list(self.only_ref)},
            "scores": {m: {k: v for k, v in st.items() if k != "n"} for m, st in self.per_measure.items()},
            "risk_category": {
                "weighted_kappa_linear": self.summary["weighted_kappa_linear"],
                "exact_agreement": self.summary["category_agreement"],
                "confusion_matrix": self.summary["confusion_matrix"],
                "rows": "auto", "columns": "ref", "categories": list(RISK_CATEGORIES),
            },
            "conventions": dict(CONVENTIONS),
        }


def cohort_agreement(auto: dict[str, dict[str, float]], ref: dict[str, dict[str, float]], *,
                     auto_name: str = "the automatic scores",
                     ref_name: str = "the reference scores") -> CohortAgreement:
    """Match ``auto`` and ``ref`` (``{case: {measure: Agatston}}``, e.g. from ``read_scores``) and compute
    the agreement statistics.

    Raises
    ------
    InvalidInputError
        Fewer than 2 cases match (the message names both sides, with ``auto_name`` / ``ref_name``), or a
        statistic is undefined for these scores.
    """
    cases = sorted(set(auto) & set(ref))
    only_auto = sorted(set(auto) - set(ref))
    only_ref = sorted(set(ref) - set(auto))
    if len(cases) < 2:
        raise InvalidInputError(
            f"{len(cases)} case(s) match between {auto_name} and {ref_name} ({len(only_auto)} only in "
            f"{auto_name}, {len(only_ref)} only in {ref_name}); agreement needs at least 2 (name the cases alike "
            "in the 'case' column)")
    for c in cases:
        for side, scores in (("automatic", auto), ("reference", ref)):
            if "total" not in scores[c]:
                raise InvalidInputError(f"case {c!r} has no total in the {side} scores")
    measures = [m for m in SCORE_MEASURES if all(m in auto[c] and m in ref[c] for c in cases)]
    per_measure: dict[str, dict[str, Any]] = {}
    for m in measures:
        a = [float(auto[c][m]) for c in cases]
        r = [float(ref[c][m]) for c in cases]
        per_measure[m] = {"n": len(cases), "pearson_r": pearson_r(a, r), "icc_2_1": icc_2_1(a, r),
                          "bland_altman": bland_altman(a, r).as_dict()}
    summary = agreement_summary([float(auto[c]["total"]) for c in cases], [float(ref[c]["total"]) for c in cases])
    return CohortAgreement(cases=cases, only_auto=only_auto, only_ref=only_ref, per_measure=per_measure,
                           summary=summary, auto={c: dict(auto[c]) for c in cases},
                           ref={c: dict(ref[c]) for c in cases})


__all__ = ["CONVENTIONS", "CohortAgreement", "cohort_agreement"]
