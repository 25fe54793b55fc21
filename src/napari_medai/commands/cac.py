"""``napari-medai cac``: coronary artery calcium score of a non-contrast CT.

With ``--assignment`` (a label file on the CT grid: 0 unassigned, 1 LM, 2 LAD, 3 LCX, 4 RCA,
5 non-coronary) the calcium is scored as assigned; without it the candidates are assigned by the
automatic anatomical heuristic (no trained model), which a reader should check. Errors (missing
file, an image not in HU, slices that are not axial, grids that differ) are one line on stderr and
exit code 2; a slice spacing other than 3 mm is a warning on stderr naming the correction applied.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from .dicom_results import add_dicom_arguments, check_dicom_arguments, write_dicom_results

NAME = "cac"
HELP = ("coronary artery calcium score (Agatston, volume, mass per artery, risk category) of a "
        "non-contrast CT, with an assignment file or the automatic assignment")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ct", required=True, metavar="CT", help="CT image in HU (file or DICOM folder)")
    parser.add_argument("--assignment", default=None, metavar="LABELS",
                        help="artery label map on the CT grid (0 unassigned, 1 LM, 2 LAD, 3 LCX, 4 RCA, "
                             "5 non-coronary); default: assign automatically")
    parser.add_argument("--min-area-mm2", type=float, default=1.0, metavar="A",
                        help="smallest lesion area counted, mm^2 (default 1)")
    parser.add_argument("--calibration-factor", type=float, default=None, metavar="F",
                        help="mass calibration factor, mg per (HU x mm^3), from a calcium phantom scan "
                             "(mg/cm^3 per HU divided by 1000); default: none, the mass is an uncalibrated "
                             "score in HU x mm^3")
    parser.add_argument("--slice-correction", choices=("scale", "none"), default="scale",
                        help="for slices not 3 mm apart: 'scale' multiplies lesion Agatston scores by "
                             "spacing / 3 mm (default), 'none' leaves them uncorrected")
    parser.add_argument("--connectivity", type=int, choices=(4, 8), default=8,
                        help="in-plane connectivity of a lesion (default 8)")
    parser.add_argument("--json", default=None, metavar="OUT", help="write the scores and lesions as JSON")
    parser.add_argument("--csv", default=None, metavar="OUT",
                        help="write the per-artery summary and per-lesion table as CSV")
    parser.add_argument("--save-assignment", default=None, metavar="OUT",
                        help="write the assignment used (e.g. the automatic one) as a label file "
                             "(.nii.gz, .nrrd, .mha)")
    parser.add_argument("--max-lesions", type=int, default=40, metavar="N",
                        help="lesions listed in the printed table (default 40)")
    add_dicom_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError, MedaiWarning
    from ..core.evaluate import check_output_path
    from ..core.io import read_volume, write_volume
    from ..core.tasks.cac import (
        auto_assign,
        find_candidates,
        format_result,
        score,
        write_csv,
        write_json,
    )

    ct_path = Path(args.ct)
    if not ct_path.exists():
        raise InvalidInputError(f"--ct {ct_path}: no such file or folder")
    inputs = [ct_path]
    if args.assignment is not None:
        a_path = Path(args.assignment)
        if not a_path.exists():
            raise InvalidInputError(f"--assignment {a_path}: no such file")
        inputs.append(a_path)
    for out in (args.json, args.csv, args.save_assignment):
        if out is not None:
            check_output_path(out, inputs)  # fail before the work
    check_dicom_arguments(args, ct_path, option="--ct", protect=inputs)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MedaiWarning)
        ct = read_volume(ct_path, as_label=False)
        if args.assignment is not None:
            assignment = read_volume(inputs[1], as_label=True)
            method = f"assignment {inputs[1].name}"
        else:
            candidates, lesions = find_candidates(ct, min_area_mm2=args.min_area_mm2,
                                                  connectivity=args.connectivity)
            assignment = auto_assign(ct, candidates)
            counts = assignment.meta["group_counts"]
            method = (f"automatic assignment ({assignment.meta['method']}): {len(lesions)} candidates in "
                      f"{candidates.meta['n_groups']} groups -> " + ", ".join(f"{k} {v}" for k, v in counts.items()))
        result = score(ct, assignment, min_area_mm2=args.min_area_mm2,
                       calibration_factor=args.calibration_factor, slice_correction=args.slice_correction,
                       connectivity=args.connectivity)
    for w in caught:
        if issubclass(w.category, MedaiWarning):
            print(f"napari-medai cac: warning: {w.message}", file=sys.stderr)
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    print(method)
    print(format_result(result, max_lesions=args.max_lesions))
    if args.json:
        print(f"wrote {write_json(result, args.json, protect=inputs)}")
    if args.csv:
        print(f"wrote {write_csv(result, args.csv, protect=inputs)}")
    if args.save_assignment:
        path = write_volume(assignment, args.save_assignment, overwrite=True, protect=inputs)
        print(f"wrote {path}")
    if args.dicom_seg is not None:  # the scored calcium (>= threshold) of each artery, and the scores
        from .. import __version__
        from ..core.io.dicom_seg import Algorithm
        from ..core.io.dicom_sr import cac_groups
        from ..core.tasks.cac import CODES, scored_calcium

        calcium = scored_calcium(ct, assignment, result)
        alg = Algorithm("napari-medai cac", __version__, model=method.split(":")[0], family="MorphologicalOperations",
                        type="SEMIAUTOMATIC" if args.assignment is not None else "AUTOMATIC")
        for p in write_dicom_results(args, labels=calcium, series=ct, algorithm=alg, task="cac", convention="cac",
                                     groups=lambda present: cac_groups(result, codes=CODES, present=present),
                                     protect=inputs):
            print(f"wrote {p}")
    return 0
