"""``napari-medai alzheimer``: the Alzheimer task's steps on the command line.

* ``register`` -- affine registration of a T1 (skull and neck on) to the MNI152 2009a template
  (:mod:`napari_medai.core.tasks.alzheimer.registration`): the T1 resampled onto the template grid,
  the correlation inside the template's brain before / after in the printed line and ``--json``, the
  transform as an ITK ``.tfm`` with ``--transform``. A fit that clearly failed writes no image, only
  the JSON (``accepted: false`` and the reason), and exits with code 2.
* ``simulate-cohort`` -- an AD / NC cohort simulated from the IXI T1s and their DLMUSE
  parcellations (:mod:`napari_medai.core.tasks.alzheimer.cohort`).

Bad input is one line on stderr naming the file and the fix, exit code 2, before any long work.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

NAME = "alzheimer"
HELP = "Alzheimer's disease from T1 MRI: register to MNI152, simulate a cohort from real anatomy"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="alzheimer_command", metavar="STEP", required=True)
    r = sub.add_parser("register", help="affine registration of a T1 to the MNI152 2009a template",
                       description="Affinely register a T1 head MRI (skull and neck may be on) to MNI152 2009a.")
    r.add_argument("--t1", required=True, type=Path, metavar="F", help="T1-weighted image (NIfTI, NRRD, MHA, DICOM)")
    r.add_argument("--out", required=True, type=Path, metavar="ALIGNED",
                   help="the T1 resampled onto the template grid (.nii.gz, .nrrd, .mha)")
    r.add_argument("--template", default=None, type=Path, metavar="F",
                   help="MNI152 2009a T1 template (mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz; its "
                        "_gm_/_wm_ maps beside it give the brain mask); default: the copy inside nilearn")
    r.add_argument("--json", default=None, type=Path, metavar="OUT", help="write the metrics and the matrix as JSON")
    r.add_argument("--transform", default=None, type=Path, metavar="OUT.tfm",
                   help="write the affine (template -> T1 points, LPS mm) as an ITK .tfm text file")
    r.add_argument("--min-correlation", type=float, default=0.3, metavar="R",
                   help="refuse a fit whose correlation inside the template's brain is under R (default 0.3)")
    r.add_argument("--seed", type=int, default=0, help="seed of the metric's sampling (default 0)")
    r.add_argument("--threads", type=int, default=None, metavar="N", help="ITK threads (default: all cores)")
    r.add_argument("--overwrite", action="store_true", help="replace existing output files (never the input)")
    r.set_defaults(_alzheimer=_run_register)

    s = sub.add_parser("simulate-cohort", help="simulate an AD / NC cohort from the IXI T1s and their parcellations",
                       description="Simulate an Alzheimer-like cohort from real anatomy (IXI T1s with DLMUSE "
                                   "parcellations): smooth deformations, intensity changes, planted atrophy.")
    s.add_argument("--out", required=True, type=Path, metavar="DIR", help="new or empty folder for the cohort")
    s.add_argument("--subjects", required=True, type=int, metavar="N", help="number of subjects (half AD)")
    s.add_argument("--severity", required=True, type=float, metavar="S",
                   help="mean fractional hippocampal volume loss of the AD subjects (e.g. 0.15)")
    s.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    s.add_argument("--source", default=None, type=Path, metavar="DIR",
                   help="the brain_t1_ixi folder (nifti/*.nii.gz, dlmuse/*_DLMUSE.nii.gz); default: "
                        "shared/data/brain_t1_ixi beside the repository")
    s.add_argument("--spread", type=float, default=0.4, metavar="F",
                   help="AD severities are S x U(1-F, 1+F) (default 0.4)")
    s.add_argument("--overwrite", action="store_true", help="write into a non-empty folder")
    s.set_defaults(_alzheimer=_run_simulate)


def run(args: argparse.Namespace) -> int:
    return int(args._alzheimer(args) or 0)


def _refuse_existing(paths: list[Path | None], inputs: list[Path], overwrite: bool) -> None:
    from ..core.errors import InvalidInputError
    from ..core.evaluate import check_output_path

    seen: set[Path] = set()
    for p in paths:
        if p is None:
            continue
        check_output_path(p, inputs)
        key = p.expanduser().absolute()
        if key in seen:
            raise InvalidInputError(f"{p}: named for two outputs; give each output its own file")
        seen.add(key)
        if p.exists() and not overwrite:
            raise InvalidInputError(f"{p}: already exists; pass --overwrite or choose another name")


def _run_register(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.evaluate import write_text_atomically
    from ..core.io import read_volume, write_volume
    from ..core.io.names import WRITE_EXTENSIONS, split_extension
    from ..core.tasks.alzheimer.registration import (
        RegistrationError,
        find_template,
        load_template,
        register_to_template,
    )

    if not args.t1.exists():
        raise InvalidInputError(f"--t1 {args.t1}: no such file or folder")
    template_path = find_template(args.template)
    if split_extension(args.out.name)[1].lower() not in WRITE_EXTENSIONS:
        raise InvalidInputError(f"--out {args.out}: give a file name ending in {', '.join(WRITE_EXTENSIONS)}")
    if args.transform is not None and args.transform.suffix.lower() != ".tfm":
        raise InvalidInputError(f"--transform {args.transform}: give a name ending in .tfm (ITK text transform)")
    inputs = [args.t1, template_path]
    _refuse_existing([args.out, args.json, args.transform], inputs, args.overwrite)
    t1 = read_volume(args.t1, as_label=False)
    template = load_template(template_path)
    print(f"registering {args.t1} to {template_path.name} (brain mask: {template.mask_source})", flush=True)
    t0 = time.perf_counter()
    result = register_to_template(
        t1, template, min_correlation=args.min_correlation, seed=args.seed, threads=args.threads, refuse=False,
        progress=lambda f, m: print(f"  [{time.perf_counter() - t0:5.1f} s] {m}", flush=True))
    m = result.metrics
    m["t1"] = str(args.t1)
    if args.json is not None:
        write_text_atomically(args.json, json.dumps(result.to_dict(), indent=1) + "\n")
        print(f"wrote {args.json}")
    if not m["accepted"]:
        raise RegistrationError(f"{args.t1}: registration to MNI152 failed: {m['reason']} (no image written)", m)
    written = write_volume(result.aligned, args.out, overwrite=args.overwrite, protect=inputs)
    print(f"wrote {written} (template grid {' x '.join(str(n) for n in result.aligned.spatial_shape)})")
    if args.transform is not None:
        print(f"wrote {result.save_transform(args.transform, overwrite=args.overwrite, protect=inputs)}")
    print(f"correlation inside the template's brain: {m['correlation_before']:.3f} after initialisation "
          f"({m['initialisation']}), {m['correlation_after']:.3f} after the affine fit; scales "
          f"{', '.join(f'{s:.3f}' for s in m['scales'])}; {m['seconds']:.1f} s")
    return 0


def _run_simulate(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core.tasks.alzheimer.cohort import (
        check_cohort_options,
        default_source_dir,
        load_sources,
        simulate_cohort,
    )

    # options first (cheap), then the sources, then the work
    check_cohort_options(args.out, n_subjects=args.subjects, severity=args.severity, spread=args.spread,
                         source_dir=args.source, overwrite=args.overwrite)
    source_dir = args.source if args.source is not None else default_source_dir()
    sources = load_sources(source_dir)
    print(f"simulating {args.subjects} subjects (severity {args.severity:g}, seed {args.seed}) from "
          f"{len(sources)} source scans into {args.out}", flush=True)
    t0 = time.perf_counter()
    res = simulate_cohort(args.out, n_subjects=args.subjects, severity=args.severity, seed=args.seed,
                          sources=sources, source_dir=source_dir, spread=args.spread, overwrite=args.overwrite,
                          progress=lambda f, m: print(f"  [{time.perf_counter() - t0:6.1f} s] {m}", flush=True))
    ad = [s for s in res.manifest["subjects"] if s["planted"]]
    if ad:
        errs = [abs(r["label_change"] - r["requested"]) for s in ad for r in s["planted"]["regions"].values()]
        print(f"planted change: label volumes within {max(errs):.4f} of the request "
              f"(mean {float(np.mean(errs)):.4f}) over {len(ad)} AD subjects")
    n = len(res.rows)
    dt = time.perf_counter() - t0
    print(f"wrote {n} subjects ({len(ad)} AD) to {res.folder}: labels.csv, manifest.json; "
          f"{dt:.1f} s ({dt / n:.1f} s per subject)")
    return 0
