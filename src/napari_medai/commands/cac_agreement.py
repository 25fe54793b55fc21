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
    from ..core.evaluate import check_output_path, write_json
    from ..core.metrics.agreement_stats import RISK_CATEGORIES, bland_altman_figure
    from ..core.tasks.cac.agreement import cohort_agreement
    from ..core.tasks.cac.report import read_scores

    a_path, r_path = Path(args.auto), Path(args.ref)
    inputs = [a_path, r_path]
    for out in (args.json, args.plot):
        if out is not None:
            check_output_path(out, inputs)
    auto = read_scores(a_path, what="--auto")
    ref = read_scores(r_path, what="--ref")
    ag = cohort_agreement(auto, ref, auto_name=f"{a_path} (--auto)", ref_name=f"{r_path} (--ref)")
    if ag.only_auto:
        print(f"napari-medai cac-agreement: warning: {len(ag.only_auto)} automatic case(s) without reference, "
              "skipped: " + ", ".join(ag.only_auto), file=sys.stderr)
    if ag.only_ref:
        print(f"napari-medai cac-agreement: warning: {len(ag.only_ref)} reference case(s) without automatic score, "
              "skipped: " + ", ".join(ag.only_ref), file=sys.stderr)

    summary = ag.summary
    print(f"CAC agreement: {len(ag.cases)} cases matched ({a_path.name} vs {r_path.name})")
    print(f"{'score':<7}{'Pearson r':>10}{'ICC(2,1)':>10}{'bias':>10}{'SD':>10}{'LoA low':>10}{'LoA high':>10}")
    for m, st in ag.per_measure.items():
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
        print(f"wrote {write_json(ag.to_json_dict(), args.json, protect=inputs)}")
    if args.plot:
        a_tot, r_tot = ag.values("total")
        fig = bland_altman_figure(a_tot, r_tot, title="Agatston total", units="Agatston", labels=ag.cases)
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
