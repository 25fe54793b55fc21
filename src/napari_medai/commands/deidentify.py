"""``napari-medai deidentify``: de-identify a DICOM folder (DICOM PS3.15 Basic Application Level
Confidentiality Profile) before anything leaves the hospital.

The input folder is never modified. Output files go to ``OUT_DIR/<series>/<instance>.dcm``, a CSV
report of what was removed or changed per attribute (never the values) to
``OUT_DIR/deidentification_report.csv``; images that may show identity in their pixels are held back
in ``OUT_DIR_review`` for a person to check. See ``docs/deidentification.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

NAME = "deidentify"
HELP = ("de-identify a DICOM folder (PS3.15 Basic Profile; shifted dates and cleaned descriptions as "
        "options; UIDs replaced consistently through a key file)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("in_dir", type=Path, metavar="IN_DIR", help="folder of DICOM files (searched recursively; never modified)")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR", help="new or empty output folder, outside IN_DIR")
    parser.add_argument("--keep-dates-shifted", action="store_true",
                        help="Retain Longitudinal Temporal Information with Modified Dates: shift every date by one "
                             "offset per patient (30-730 days back) instead of removing it")
    parser.add_argument("--clean-descriptors", action="store_true",
                        help="Clean Descriptors: keep descriptions and comments with names, IDs and long numbers "
                             "removed, instead of removing them")
    parser.add_argument("--key", type=Path, default=None, metavar="FILE",
                        help="key file (JSON): reused when it exists, so pseudonyms, UIDs and date offsets match an "
                             "earlier run (a SEG/SR made later still points at the right images); created otherwise. "
                             "It re-identifies the data: keep it private. Default: none (nothing links back)")
    parser.add_argument("--review-dir", type=Path, default=None, metavar="DIR",
                        help="where images to review go (burned-in annotation, ultrasound, secondary capture); "
                             "default OUT_DIR_review")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")


def run(args: argparse.Namespace) -> int:
    from ..core.deidentify import deidentify_folder

    last = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if not args.quiet and (fraction - last[0] >= 0.1 or fraction >= 1.0):
            last[0] = fraction
            print(f"[{100 * fraction:3.0f}%] {message}", flush=True)

    result = deidentify_folder(args.in_dir, args.out_dir, shift_dates=args.keep_dates_shifted,
                               clean_descriptors=args.clean_descriptors, key_file=args.key,
                               review_dir=args.review_dir, progress=progress)
    print(result.summary())
    print(f"wrote {args.out_dir} and the report {result.report}")
    if result.key_file is not None:
        print(f"key saved to {result.key_file} (keep it private: it re-identifies the data)")
    for rel, reasons in result.flagged:
        print(f"napari-medai deidentify: review: {result.review_dir / rel}: {'; '.join(reasons)}", file=sys.stderr)
    return 0
