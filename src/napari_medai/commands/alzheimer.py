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
* ``predict`` -- P(AD) of one T1 from a model trained with ``napari-medai train alzheimer``
  (:mod:`napari_medai.core.tasks.alzheimer`): the T1 registered to MNI152, the probability,
  the decision at the model's threshold, each landmark's occlusion contribution; ``--json`` and
  ``--saliency`` (a map on the MNI grid). A research tool, not a diagnosis (said on every run).
* ``evaluate`` -- the model on a labelled cohort: ROC AUC with DeLong's 95 % interval, accuracy /
  sensitivity / specificity at the threshold, the ROC points (``--json``) and curve (``--roc-png``);
  subjects made from source scans the model trained on are counted (a held-out evaluation has none).

``napari-medai train alzheimer`` (:func:`add_train_arguments`, :func:`run_train`, called from
``commands/train.py``) trains the landmark-patch network or the whole-brain baseline.

Bad input is one line on stderr naming the file and the fix, exit code 2, before any long work.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

NAME = "alzheimer"
HELP = ("Alzheimer's disease from T1 MRI: register to MNI152, simulate a cohort, discover landmarks, predict, "
        "evaluate")


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

    pr = sub.add_parser("predict", help="P(AD) of one T1 from a trained Alzheimer model (research tool)",
                        description="Register a T1 to MNI152 and give P(AD), the decision at the model's threshold and "
                                    "each landmark's occlusion contribution. A research tool, not a diagnosis.")
    pr.add_argument("--t1", required=True, type=Path, metavar="F", help="T1-weighted image (skull on or off)")
    pr.add_argument("--model", required=True, type=Path, metavar="M", help="model folder from 'train alzheimer'")
    pr.add_argument("--json", default=None, type=Path, metavar="OUT", help="write the prediction as JSON")
    pr.add_argument("--saliency", default=None, type=Path, metavar="OUT.nii.gz",
                    help="write the saliency map (occlusion contributions) on the MNI grid")
    pr.add_argument("--aligned", action="store_true", help="the T1 already lies on the model's MNI grid")
    pr.add_argument("--template", default=None, type=Path, metavar="F",
                    help="MNI152 2009a T1 template (default: the copy inside nilearn)")
    pr.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device")
    pr.add_argument("--overwrite", action="store_true", help="replace existing output files (never an input)")
    pr.set_defaults(_alzheimer=_run_predict)

    ev = sub.add_parser("evaluate", help="ROC AUC (DeLong 95%% CI) of an Alzheimer model on a labelled cohort",
                        description="P(AD) of every subject of a labelled cohort, ROC curve, AUC with DeLong's 95%% "
                                    "interval, accuracy / sensitivity / specificity at the threshold.")
    ev.add_argument("--cohort", required=True, type=Path, metavar="DIR", help="folder of T1s (as for landmarks)")
    ev.add_argument("--labels", required=True, type=Path, metavar="CSV",
                    help="CSV with subject, diagnosis (AD / NC) and optionally source columns")
    ev.add_argument("--model", required=True, type=Path, metavar="M", help="model folder from 'train alzheimer'")
    ev.add_argument("--json", default=None, type=Path, metavar="OUT", help="write AUC, CI, ROC points, per subject")
    ev.add_argument("--roc-png", default=None, type=Path, metavar="OUT.png", help="draw the ROC curve")
    ev.add_argument("--threshold", type=float, default=None, metavar="T",
                    help="P(AD) at or above which AD is called (default: the model's, 0.5)")
    ev.add_argument("--subjects", default=None, metavar="A,B,...", help="evaluate only these subjects")
    ev.add_argument("--work", default=None, type=Path, metavar="DIR", help="alignment cache (as for landmarks)")
    ev.add_argument("--aligned", action="store_true", help="the T1s already lie on one common grid")
    ev.add_argument("--template", default=None, type=Path, metavar="F", help="MNI152 2009a T1 template")
    ev.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device")
    ev.add_argument("--overwrite", action="store_true", help="replace existing output files (never an input)")
    ev.set_defaults(_alzheimer=_run_evaluate)


def add_train_arguments(sub: argparse._SubParsersAction) -> None:
    """``napari-medai train alzheimer`` (added to ``commands/train.py``'s sub-commands)."""
    q = sub.add_parser(
        "alzheimer", help="Alzheimer's disease vs normal control from T1s: landmark-patch network or whole-brain CNN",
        description="Register a labelled T1 cohort to MNI152 (2 mm), split it by source scan, discover landmarks on "
                    "the training subjects and train the landmark-patch network (Liu et al. 2018) or the whole-brain "
                    "DenseNet baseline. A research tool, not a diagnosis.")
    q.add_argument("--cohort", required=True, type=Path, metavar="DIR", help="folder of T1s (DIR/t1/<subject>.nii.gz)")
    q.add_argument("--labels", required=True, type=Path, metavar="CSV",
                   help="CSV with subject, diagnosis (AD / NC) and optionally source (kept on one side of the split)")
    q.add_argument("--out", required=True, type=Path, metavar="MODEL_DIR", help="model folder to write")
    q.add_argument("--model", default="landmarks", choices=("landmarks", "whole-brain"),
                   help="landmark-patch network (default) or the whole-brain baseline")
    q.add_argument("--landmarks", type=int, default=50, metavar="N", help="number of landmarks (default 50)")
    q.add_argument("--min-distance", type=float, default=15.0, metavar="MM",
                   help="smallest distance between two landmarks (default 15 mm)")
    q.add_argument("--patch", type=int, default=24, metavar="P", help="patch edge in voxels of the 2 mm grid (default 24)")
    q.add_argument("--epochs", type=int, default=30, metavar="N", help="epoch limit (default 30)")
    q.add_argument("--steps", type=int, default=10, metavar="S", help="training steps per epoch (default 10)")
    q.add_argument("--batch", type=int, default=8, metavar="B", help="subjects per step (default 8)")
    q.add_argument("--lr", type=float, default=1e-3, metavar="LR", help="learning rate (default 1e-3)")
    q.add_argument("--val-fraction", type=float, default=0.25, metavar="F",
                   help="share of subjects (whole sources) that validate (default 0.25)")
    q.add_argument("--minutes", type=float, default=None, metavar="M", help="wall-time budget of the training")
    q.add_argument("--work", default=None, type=Path, metavar="DIR",
                   help="alignment cache: aligned T1s and transforms, reused next time (default: nothing kept)")
    q.add_argument("--aligned", action="store_true", help="the T1s already lie on one common grid: skip registration")
    q.add_argument("--template", default=None, type=Path, metavar="F", help="MNI152 2009a T1 template")
    q.add_argument("--seed", type=int, default=0, help="random seed of the split and the training (default 0)")
    q.add_argument("--resume", action="store_true", help="continue the run found in --out")
    q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device (default auto)")
    q.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for torch (1 on a busy machine)")


def run_train(args: argparse.Namespace) -> int:
    """``napari-medai train alzheimer``: check, train, print the summary."""
    from ..core.errors import InvalidInputError
    from ..core.tasks.alzheimer.model import DISCLAIMER
    from ..core.tasks.alzheimer.registration import find_template
    from ..core.tasks.alzheimer.subjects import describe_alzheimer_cohort
    from ..core.tasks.alzheimer.train import train_alzheimer

    for name, lo in (("landmarks", 1), ("patch", 4), ("epochs", 1), ("steps", 1), ("batch", 1)):
        if getattr(args, name) < lo:
            raise InvalidInputError(f"--{name} must be >= {lo}, got {getattr(args, name)}")
    if not 0 < args.val_fraction < 1:
        raise InvalidInputError(f"--val-fraction must lie in (0, 1), got {args.val_fraction}")
    if not args.lr > 0:
        raise InvalidInputError(f"--lr must be > 0, got {args.lr}")
    if args.minutes is not None and not args.minutes > 0:
        raise InvalidInputError(f"--minutes must be > 0, got {args.minutes}")
    if args.work is not None and args.work.exists() and not args.work.is_dir():
        raise InvalidInputError(f"--work {args.work}: is a file; give a folder for the aligned volumes")
    template = find_template(args.template) if not args.aligned else args.template
    print(describe_alzheimer_cohort(args.cohort, args.labels), flush=True)
    print(f"model {args.model}; model folder: {args.out}", flush=True)
    t0 = time.perf_counter()
    options = {"time_limit_s": None if args.minutes is None else args.minutes * 60.0}
    if args.threads is not None:
        options["num_threads"] = args.threads
    result = train_alzheimer(
        args.cohort, args.labels, args.out, model=args.model, n_landmarks=args.landmarks,
        min_distance_mm=args.min_distance, patch=args.patch, work_dir=args.work, val_fraction=args.val_fraction,
        seed=args.seed, max_epochs=args.epochs, device=args.device, resume=args.resume, template=template,
        align="skip" if args.aligned else "auto", steps_per_epoch=args.steps, batch_size=args.batch,
        learning_rate=args.lr, progress=lambda f, m: print(f"[{time.perf_counter() - t0:6.0f} s {100 * f:3.0f}%] {m}",
                                                           flush=True), **options)
    print(result.summary())
    print(f"predict with: napari-medai alzheimer predict --t1 T1 --model {args.out}")
    print(DISCLAIMER)
    return 0


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


def _run_predict(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.evaluate import write_text_atomically
    from ..core.io import read_volume, write_volume
    from ..core.io.names import WRITE_EXTENSIONS, split_extension
    from ..core.models import load_model
    from ..core.tasks.alzheimer.predict import predict_alzheimer
    from ..core.tasks.alzheimer.registration import find_template

    if not args.t1.exists():
        raise InvalidInputError(f"--t1 {args.t1}: no such file or folder")
    if not args.model.is_dir():
        raise InvalidInputError(f"--model {args.model}: no such folder; give a model folder from 'train alzheimer'")
    if args.json is not None and args.json.suffix.lower() != ".json":
        raise InvalidInputError(f"--json {args.json}: give a file name ending in .json")
    if args.saliency is not None and split_extension(args.saliency.name)[1].lower() not in WRITE_EXTENSIONS:
        raise InvalidInputError(f"--saliency {args.saliency}: give a file name ending in {', '.join(WRITE_EXTENSIONS)}")
    template = find_template(args.template) if not args.aligned else None
    inputs = [args.t1, *([template] if template else []), *args.model.glob("*")]
    _refuse_existing([args.json, args.saliency], inputs, args.overwrite)
    model = load_model(args.model)
    t1 = read_volume(args.t1, as_label=False)
    t0 = time.perf_counter()
    p = predict_alzheimer(model, t1, already_aligned=args.aligned, template=template, device=args.device,
                          progress=lambda f, m: print(f"  [{time.perf_counter() - t0:5.1f} s] {m}", flush=True))
    reg = p.registration
    if not reg.get("skipped"):
        print(f"registered to MNI152: correlation inside the template's brain {reg['correlation_before']:.3f} -> "
              f"{reg['correlation_after']:.3f}")
    print(p.summary())
    if p.trained and len(p.contributions):
        top = sorted(range(len(p.contributions)), key=lambda i: -p.contributions[i])[:5]
        print("most contributing landmarks (rank: MNI x, y, z mm, drop of P(AD) when occluded): " + "; ".join(
            f"{i + 1}: ({', '.join(f'{v:.0f}' for v in p.landmarks_mni[i])}) {p.contributions[i]:+.3f}" for i in top))
    if args.json is not None:
        write_text_atomically(args.json, json.dumps(p.to_json(), indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.saliency is not None:
        print(f"wrote {write_volume(p.saliency, args.saliency, overwrite=args.overwrite, protect=inputs)} (saliency)")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.evaluate import write_text_atomically
    from ..core.tasks.alzheimer.evaluate import evaluate_alzheimer
    from ..core.tasks.alzheimer.landmarks import read_cohort
    from ..core.tasks.alzheimer.registration import find_template

    if not args.model.is_dir():
        raise InvalidInputError(f"--model {args.model}: no such folder; give a model folder from 'train alzheimer'")
    if args.json is not None and args.json.suffix.lower() != ".json":
        raise InvalidInputError(f"--json {args.json}: give a file name ending in .json")
    if args.roc_png is not None and args.roc_png.suffix.lower() != ".png":
        raise InvalidInputError(f"--roc-png {args.roc_png}: give a file name ending in .png")
    if args.threshold is not None and not 0 <= args.threshold <= 1:
        raise InvalidInputError(f"--threshold must lie in [0, 1], got {args.threshold}")
    subjects = read_cohort(args.cohort, args.labels)
    template = find_template(args.template) if not args.aligned else None
    inputs = [args.labels, *(s.path for s in subjects), *([template] if template else []), *args.model.glob("*")]
    _refuse_existing([args.json, args.roc_png], inputs, args.overwrite)
    if args.work is not None and args.work.exists() and not args.work.is_dir():
        raise InvalidInputError(f"--work {args.work}: is a file; give a folder for the aligned volumes")
    chosen = [s.strip() for s in args.subjects.split(",") if s.strip()] if args.subjects else None
    t0 = time.perf_counter()
    ev = evaluate_alzheimer(args.model, args.cohort, args.labels, subjects=chosen, threshold=args.threshold,
                            work_dir=args.work, template=template, align="skip" if args.aligned else "auto",
                            device=args.device,
                            progress=lambda f, m: print(f"  [{time.perf_counter() - t0:6.1f} s] {m}", flush=True))
    print(ev.summary())
    for n in ev.notes:
        print(f"note: {n}")
    if args.json is not None:
        write_text_atomically(args.json, json.dumps(ev.to_json(), indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.roc_png is not None:
        print(f"wrote {ev.roc_png(args.roc_png, protect=inputs)}")
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
