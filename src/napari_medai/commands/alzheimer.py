"""``napari-medai alzheimer``: the Alzheimer task's steps on the command line.

* ``register`` -- affine registration of a T1 (skull and neck on) to the MNI152 2009a template
  (:mod:`napari_medai.core.tasks.alzheimer.registration`): the T1 resampled onto the template grid,
  the correlation inside the template's brain before / after in the printed line and ``--json``, the
  transform as an ITK ``.tfm`` with ``--transform``. A fit that clearly failed writes no image, only
  the JSON (``accepted: false`` and the reason), and exits with code 2.
* ``simulate-cohort`` -- an AD / NC cohort simulated from the IXI T1s and their DLMUSE
  parcellations (:mod:`napari_medai.core.tasks.alzheimer.cohort`).
* ``landmarks`` -- landmark discovery from a labelled cohort
  (:mod:`napari_medai.core.tasks.alzheimer.landmarks`): every T1 registered to MNI152 (2 mm grid,
  cached in ``--work``), a voxel-wise Welch t-test AD vs NC of smoothed intensity, the ``--n`` most
  significant centres at least ``--min-distance`` mm apart, written as CSV; ``--pmap`` writes the
  p-value map (and ``--tmap`` the signed t map).

Bad input is one line on stderr naming the file and the fix, exit code 2, before any long work.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

NAME = "alzheimer"
HELP = "Alzheimer's disease from T1 MRI: register to MNI152, simulate a cohort, discover landmarks"


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

    lm = sub.add_parser("landmarks", help="discover AD landmarks from a labelled cohort (Liu et al. 2018)",
                        description="Register every T1 of a cohort to MNI152, compare AD with NC voxel-wise (Welch "
                                    "t-test of smoothed intensity) and keep the most significant, mutually "
                                    "separated centres.")
    lm.add_argument("--cohort", required=True, type=Path, metavar="DIR",
                    help="folder of T1s: DIR/t1/<subject>.nii.gz (as simulate-cohort writes) or DIR/<subject>.nii.gz")
    lm.add_argument("--labels", required=True, type=Path, metavar="CSV",
                    help="CSV with 'subject' and 'diagnosis' (AD, NC or CN) columns")
    lm.add_argument("--out", required=True, type=Path, metavar="LANDMARKS.csv",
                    help="the landmarks: rank, MNI x/y/z (RAS mm), array index, p-value, t")
    lm.add_argument("--n", type=int, default=50, metavar="L", help="number of landmarks (default 50, as the paper)")
    lm.add_argument("--min-distance", type=float, default=15.0, metavar="MM",
                    help="smallest distance between two landmarks in mm (default 15)")
    lm.add_argument("--fwhm", type=float, default=4.0, metavar="MM",
                    help="Gaussian smoothing before the t-test, full width at half maximum (default 4 mm)")
    lm.add_argument("--work", default=None, type=Path, metavar="DIR",
                    help="folder that keeps the aligned T1s, transforms and metrics and reuses them next time "
                         "(default: nothing kept)")
    lm.add_argument("--pmap", default=None, type=Path, metavar="OUT.nii.gz", help="write the p-value map")
    lm.add_argument("--tmap", default=None, type=Path, metavar="OUT.nii.gz",
                    help="write the signed Welch t map (AD minus NC)")
    lm.add_argument("--template", default=None, type=Path, metavar="F",
                    help="MNI152 2009a T1 template (default: the copy inside nilearn)")
    lm.add_argument("--grid", type=float, default=2.0, metavar="MM",
                    help="template grid of registration and analysis in mm (default 2, the cohort preset; 1: "
                         "the template's own)")
    lm.add_argument("--aligned", action="store_true",
                    help="the T1s already lie on one common grid: skip registration")
    lm.add_argument("--max-anisotropy", type=float, default=1.5, metavar="A",
                    help="refuse a subject's fit whose largest / smallest scale exceeds A (default 1.5; real heads "
                         "reach 1.34)")
    lm.add_argument("--min-correlation", type=float, default=0.25, metavar="R",
                    help="refuse a subject's fit whose correlation inside the template's brain is under R "
                         "(default 0.25)")
    lm.add_argument("--drop-failed", action="store_true",
                    help="leave subjects whose registration is refused out of the comparison (default: stop)")
    lm.add_argument("--threads", type=int, default=1, metavar="N", help="ITK threads per registration (default 1)")
    lm.add_argument("--seed", type=int, default=0, help="seed of the registration's sampling (default 0)")
    lm.add_argument("--overwrite", action="store_true", help="replace existing output files (never an input)")
    lm.set_defaults(_alzheimer=_run_landmarks)


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


def _run_landmarks(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.io import write_volume
    from ..core.io.names import WRITE_EXTENSIONS, split_extension
    from ..core.tasks.alzheimer.landmarks import discover_landmarks, read_cohort, write_landmarks
    from ..core.tasks.alzheimer.registration import find_template

    if args.out.suffix.lower() != ".csv":
        raise InvalidInputError(f"--out {args.out}: give a file name ending in .csv")
    for opt, p in (("--pmap", args.pmap), ("--tmap", args.tmap)):
        if p is not None and split_extension(p.name)[1].lower() not in WRITE_EXTENSIONS:
            raise InvalidInputError(f"{opt} {p}: give a file name ending in {', '.join(WRITE_EXTENSIONS)}")
    if args.n < 1:
        raise InvalidInputError(f"--n must be at least 1, got {args.n}")
    if not args.min_distance >= 0:
        raise InvalidInputError(f"--min-distance must be >= 0 mm, got {args.min_distance}")
    if not args.max_anisotropy >= 1:
        raise InvalidInputError(f"--max-anisotropy must be >= 1, got {args.max_anisotropy}")
    if not args.grid > 0:
        raise InvalidInputError(f"--grid must be > 0 mm, got {args.grid}")
    subjects = read_cohort(args.cohort, args.labels)
    template_path = find_template(args.template) if (args.template is not None or not args.aligned) else None
    inputs = [args.labels, *(s.path for s in subjects), *([template_path] if template_path else [])]
    _refuse_existing([args.out, args.pmap, args.tmap], inputs, args.overwrite)
    if args.work is not None and args.work.exists() and not args.work.is_dir():
        raise InvalidInputError(f"--work {args.work}: is a file; give a folder for the aligned volumes")
    n_ad = sum(s.diagnosis == "AD" for s in subjects)
    print(f"{len(subjects)} subjects ({n_ad} AD, {len(subjects) - n_ad} NC) from {args.cohort}", flush=True)
    t0 = time.perf_counter()
    res = discover_landmarks(
        args.cohort, args.labels, work_dir=args.work, template=template_path, n=args.n,
        min_distance_mm=args.min_distance, fwhm_mm=args.fwhm, align="skip" if args.aligned else "auto",
        spacing_mm=args.grid, max_anisotropy=args.max_anisotropy, min_correlation=args.min_correlation,
        drop_failed=args.drop_failed, seed=args.seed, threads=args.threads,
        progress=lambda f, m: print(f"  [{time.perf_counter() - t0:6.1f} s] {m}", flush=True))
    print(res.cohort.note)
    written = write_landmarks(res.landmarks, args.out, protect=tuple(inputs))
    print(f"wrote {written}: {len(res.landmarks)} landmarks at least {args.min_distance:g} mm apart")
    if args.pmap is not None:
        print(f"wrote {write_volume(res.p_map(), args.pmap, overwrite=args.overwrite, protect=inputs)} (p-values)")
    if args.tmap is not None:
        print(f"wrote {write_volume(res.t_map(), args.tmap, overwrite=args.overwrite, protect=inputs)} (t, AD - NC)")
    top = res.landmarks[0]
    sec = res.seconds
    n = len(subjects)
    print(f"most significant: MNI ({top.mni_mm[0]:.0f}, {top.mni_mm[1]:.0f}, {top.mni_mm[2]:.0f}) mm, "
          f"p {top.p_value:.3g}, t {top.t:.2f}; {res.maps.mask.sum()} voxels compared (FWHM {args.fwhm:g} mm); "
          f"align {sec['align']:.1f} s ({sec['align'] / n:.1f} s per subject), compare {sec['compare']:.1f} s, "
          f"select {sec['select']:.1f} s")
    return 0
