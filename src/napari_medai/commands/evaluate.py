"""``napari-medai evaluate``: agreement of predicted label maps with expert labels.

Two files evaluate one case; two folders evaluate a cohort, pairing files by case name (the
file stem without extensions and suffixes such as ``_seg``, ``_pred``, ``_gt``, ``-seg``).
Errors (missing file, grids that differ without ``--resample``, labels outside the convention)
are raised as :class:`~napari_medai.core.errors.MedaiError`, which ``napari-medai`` prints as one
line and exits with code 2.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "evaluate"
HELP = (
    "compare predicted label maps with expert labels (Dice, IoU, HD95, ASSD, NSD, sensitivity, "
    "specificity, volumes, lesion-wise scores) for one case or a cohort"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..core.metrics import CONVENTIONS, EMPTY_RULES, LESION_STYLES

    parser.add_argument("--pred", required=True, metavar="P",
                        help="predicted label file, or a folder of them (cohort mode)")
    parser.add_argument("--gt", required=True, metavar="G",
                        help="reference (expert) label file, or a folder of them")
    parser.add_argument("--convention", default=None, metavar="NAME",
                        help=f"label convention: {', '.join(CONVENTIONS)} or a custom 'NAME=1,2;NAME2=3' "
                             "(default: binary, or custom when only --regions is given)")
    parser.add_argument("--regions", default=None, metavar="'NAME=1,2;...'",
                        help="named regions as unions of label values (replaces the convention's regions)")
    parser.add_argument("--empty-rule", default=None, choices=EMPTY_RULES,
                        help="values for empty masks (default: the convention's: brats for BraTS, "
                             "isles for ISLES, nan otherwise)")
    parser.add_argument("--tolerance-mm", type=float, default=1.0, metavar="T",
                        help="tolerance of the normalised surface Dice in mm (default 1)")
    parser.add_argument("--lesion-style", default="auto", choices=("auto", *LESION_STYLES),
                        help="lesion matching: isles (any overlap) or brats2023 (dilated, lesions <= 50 mm^3 "
                             "ignored); auto = brats2023 for BraTS conventions, isles otherwise")
    parser.add_argument("--resample", action="store_true",
                        help="resample the prediction onto the reference grid (nearest neighbour) when "
                             "shape, spacing, origin or orientation differ, instead of failing")
    parser.add_argument("--json", default=None, metavar="OUT", help="write the full results as JSON")
    parser.add_argument("--csv", default=None, metavar="OUT",
                        help="write one row per case and region/label as CSV")
    parser.add_argument("--show-labels", action="store_true", help="also print the per-label rows")
    parser.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                        help="bootstrap resamples of the cohort CI (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")


def _convention(args: argparse.Namespace):
    from ..core.metrics import custom_convention, get_convention

    if args.convention is None and args.regions:
        return custom_convention(args.regions, empty_rule=args.empty_rule or "nan")
    return get_convention(args.convention or "binary", regions=args.regions, empty_rule=args.empty_rule)


def run(args: argparse.Namespace) -> int:
    from ..core.errors import GeometryMismatchError, InvalidInputError, MedaiError
    from ..core.evaluate import (
        collect_cases,
        evaluate_volumes,
        format_case,
        format_summary,
        match_cases,
        summarize_cases,
        to_json_dict,
        write_csv,
        write_json,
    )

    conv = _convention(args)
    style = args.lesion_style
    if style == "auto":
        style = "brats2023" if conv.name.startswith("brats") else "isles"
    if args.bootstrap < 1:
        raise InvalidInputError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    pred, gt = Path(args.pred), Path(args.gt)
    for what, p in (("--pred", pred), ("--gt", gt)):
        if not p.exists():
            raise InvalidInputError(f"{what} {p}: no such file or folder")

    unmatched: dict[str, list[str]] | None = None
    if pred.is_dir() and gt.is_dir():
        pairs, only_pred, only_gt = match_cases(
            collect_cases(pred, what="--pred folder"), collect_cases(gt, what="--gt folder")
        )
        unmatched = {"pred": only_pred, "gt": only_gt}
        if only_pred:
            print(f"warning: {len(only_pred)} prediction(s) without reference, skipped: "
                  + ", ".join(only_pred), file=sys.stderr)
        if only_gt:
            print(f"warning: {len(only_gt)} reference(s) without prediction, skipped: "
                  + ", ".join(only_gt), file=sys.stderr)
        if not pairs:
            raise InvalidInputError(
                f"no case names match between {pred} and {gt}; name files alike, e.g. case1_pred.nii.gz "
                "and case1_seg.nii.gz"
            )
    elif pred.is_dir() or gt.is_dir():
        raise InvalidInputError("give --pred and --gt as two files (one case) or two folders (a cohort)")
    else:
        from ..core.evaluate import case_name

        pairs = [(case_name(gt), pred, gt)]

    inputs = [p for _, a, b in pairs for p in (a, b)]
    for out in (args.json, args.csv):
        if out is not None:
            # fail before the work when an output would overwrite an input
            from ..core.evaluate import check_output_path

            check_output_path(out, inputs)

    from ..core.io import read_volume

    results = []
    for case, pfile, gfile in pairs:
        try:
            p_vol = read_volume(pfile, as_label=True)
            g_vol = read_volume(gfile, as_label=True)
            res = evaluate_volumes(
                p_vol, g_vol, convention=conv, tolerance_mm=args.tolerance_mm,
                resample=args.resample, lesion_style=style, case=case,
            )
        except (GeometryMismatchError, InvalidInputError) as exc:
            if len(pairs) == 1:
                raise
            raise type(exc)(f"case {case}: {exc}") from exc
        except MedaiError as exc:
            if len(pairs) == 1:
                raise
            raise MedaiError(f"case {case}: {exc}") from exc
        results.append(res)
        print(format_case(res, show_labels=args.show_labels))
        print()

    summary = summarize_cases(results, n_resamples=args.bootstrap, seed=args.seed)
    if len(results) > 1:
        print(format_summary(summary, n_cases=len(results)))
    doc = to_json_dict(results, summary=summary, unmatched=unmatched, n_resamples=args.bootstrap,
                       seed=args.seed)
    if args.json:
        path = write_json(doc, args.json, protect=inputs)
        print(f"wrote {path}")
    if args.csv:
        path = write_csv(results, args.csv, protect=inputs)
        print(f"wrote {path}")
    return 0
