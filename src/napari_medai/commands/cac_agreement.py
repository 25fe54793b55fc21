"""``napari-medai cac-agreement``: agreement of automatic with reference calcium scores over cases.

Both CSV files hold one row per case: a ``case`` column and Agatston scores in ``total`` and,
optionally, ``LM``, ``LAD``, ``LCX``, ``RCA`` (names are case-insensitive; an ``agatston_`` prefix
is allowed). Cases are matched by name; unmatched ones are listed as a warning. Printed and written:
Pearson r, ICC(2,1), Bland-Altman bias and 95 % limits of agreement per score, and on the risk
categories of the total the linearly weighted kappa and the confusion matrix (rows auto, columns
reference).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

NAME = "cac-agreement"
HELP = ("agreement of automatic with reference Agatston scores over cases (Pearson r, ICC(2,1), "
        "Bland-Altman, weighted kappa and confusion matrix of the risk categories)")

def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--auto", required=True, metavar="A.csv", help="automatic scores: case, total[, LM, LAD, LCX, RCA]")
    parser.add_argument("--ref", required=True, metavar="R.csv", help="reference scores, same columns")
    parser.add_argument("--json", default=None, metavar="OUT", help="write the statistics as JSON")
    parser.add_argument("--plot", default=None, metavar="OUT.png", help="write a Bland-Altman plot of the total")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.evaluate import check_output_path, write_json
    from ..core.metrics.agreement_stats import (
        RISK_CATEGORIES,
        agreement_summary,
        bland_altman,
        bland_altman_figure,
        icc_2_1,
        pearson_r,
    )
    from ..core.tasks.cac.report import SCORE_MEASURES as MEASURES
    from ..core.tasks.cac.report import read_scores

    a_path, r_path = Path(args.auto), Path(args.ref)
    inputs = [a_path, r_path]
    for out in (args.json, args.plot):
        if out is not None:
            check_output_path(out, inputs)
    auto = read_scores(a_path, what="--auto")
    ref = read_scores(r_path, what="--ref")
    cases = sorted(set(auto) & set(ref))
    only_auto = sorted(set(auto) - set(ref))
    only_ref = sorted(set(ref) - set(auto))
    if len(cases) < 2:
        raise InvalidInputError(f"{len(cases)} case(s) match between {a_path} and {r_path} ({len(only_auto)} only in "
                                f"--auto, {len(only_ref)} only in --ref); agreement needs at least 2 (name the cases "
                                "alike in the 'case' column)")
    if only_auto:
        print(f"napari-medai cac-agreement: warning: {len(only_auto)} automatic case(s) without reference, skipped: "
              + ", ".join(only_auto), file=sys.stderr)
    if only_ref:
        print(f"napari-medai cac-agreement: warning: {len(only_ref)} reference case(s) without automatic score, "
              "skipped: " + ", ".join(only_ref), file=sys.stderr)

    measures = [m for m in MEASURES if all(m in auto[c] and m in ref[c] for c in cases)]
    a_tot = [auto[c]["total"] for c in cases]
    r_tot = [ref[c]["total"] for c in cases]
    summary = agreement_summary(a_tot, r_tot)
    per_measure = {}
    for m in measures:
        a = [auto[c][m] for c in cases]
        r = [ref[c][m] for c in cases]
        ba = bland_altman(a, r)
        per_measure[m] = {"pearson_r": pearson_r(a, r), "icc_2_1": icc_2_1(a, r), "bland_altman": ba.as_dict()}

    print(f"CAC agreement: {len(cases)} cases matched ({a_path.name} vs {r_path.name})")
    print(f"{'score':<7}{'Pearson r':>10}{'ICC(2,1)':>10}{'bias':>10}{'SD':>10}{'LoA low':>10}{'LoA high':>10}")
    for m, st in per_measure.items():
        ba = st["bland_altman"]
        print(f"{m:<7}{_f(st['pearson_r'], '.3f'):>10}{_f(st['icc_2_1'], '.3f'):>10}{ba['bias']:>10.1f}"
              f"{ba['sd']:>10.1f}{ba['loa_low']:>10.1f}{ba['loa_high']:>10.1f}")
    print(f"risk categories of the total: linearly weighted kappa {_f(summary['weighted_kappa_linear'], '.3f')}, "
          f"exact agreement {summary['category_agreement']:.1%}")
    print("confusion matrix (rows auto, columns reference):")
    print(" " * 9 + "".join(f"{c:>9}" for c in RISK_CATEGORIES))
    for c, row in zip(RISK_CATEGORIES, summary["confusion_matrix"]):
        print(f"{c:>9}" + "".join(f"{v:>9d}" for v in row))

    if args.json:
        doc = {
            "n_cases": len(cases),
            "cases": [{"case": c, "auto": auto[c], "ref": ref[c],
                       "category_auto": ca, "category_ref": cr}
                      for c, ca, cr in zip(cases, summary["categories"]["auto"], summary["categories"]["ref"])],
            "unmatched": {"auto": only_auto, "ref": only_ref},
            "scores": per_measure,
            "risk_category": {
                "weighted_kappa_linear": summary["weighted_kappa_linear"],
                "exact_agreement": summary["category_agreement"],
                "confusion_matrix": summary["confusion_matrix"],
                "rows": "auto", "columns": "ref", "categories": list(RISK_CATEGORIES),
            },
            "conventions": {
                "bland_altman": "differences auto - ref; SD with ddof=1; limits bias +- 1.96 SD",
                "icc": "ICC(2,1): two-way random effects, absolute agreement, single measure",
                "kappa": "Cohen's kappa with linear weights |i-j|/(K-1) over the 5 risk categories",
            },
        }
        print(f"wrote {write_json(doc, args.json, protect=inputs)}")
    if args.plot:
        fig = bland_altman_figure(a_tot, r_tot, title="Agatston total", units="Agatston", labels=cases)
        out = check_output_path(args.plot, inputs)
        _save_figure(fig, out)
        print(f"wrote {out}")
    return 0


def _save_figure(fig, out: Path) -> None:
    from ..core.errors import MedaiError
    from ..core.io.atomic import FolderNotWritableError, atomic_path

    try:
        with atomic_path(out, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
    except FolderNotWritableError:
        raise  # as before: an unwritable folder surfaces as the OSError itself
    except OSError as exc:
        raise MedaiError(f"{out}: could not write the figure ({exc.strerror or exc})") from exc


def _f(v: float, spec: str) -> str:
    return "n/a" if v is None or not math.isfinite(v) else format(v, spec)
