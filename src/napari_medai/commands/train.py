"""``napari-medai train TASK``: train a model on your own labelled cases.

``napari-medai train brain-tumour --data DIR`` trains the default brain-tumour recipe on the
case folders in ``DIR`` (BraTS 2013, 2021 or 2023 naming) and writes a self-describing model
folder, usable with ``napari-medai brain-tumour --model MODEL_DIR``. Progress is printed one
line per step group and per epoch; Ctrl-C stops after keeping the last finished epoch, and
``--resume`` continues from it.

``napari-medai train ldct --full-dose FD [--low-dose LD | --simulate-dose 0.25] --out DIR`` trains a
RED-CNN low-dose CT denoiser on (low dose, full dose) pairs -- real ones, or low-dose scans simulated
from the full-dose images -- and writes a model folder usable with
``napari-medai denoise --method trained --weights DIR``.

``napari-medai train stroke --data DIR --out MODEL_DIR [--network segresnet|deepmedic|<MONAI name>]`` trains a
stroke lesion network on ISLES'22 BIDS cases or one folder per case (DWI + ADC with a lesion mask) and
writes a model folder usable with ``napari-medai stroke --method model --model MODEL_DIR``.

``napari-medai train lesion-presence --out MODEL_DIR [--cases N --epochs E]`` trains the minimal
classification task (is there a bright lesion in this image?) on seeded phantoms, scores it on
held-out phantoms (ROC AUC) and writes a model folder that ``load_model`` opens.

``napari-medai train alzheimer --cohort DIR --labels CSV --out MODEL_DIR [--model landmarks|whole-brain]`` trains
an Alzheimer's disease classifier on a labelled T1 cohort (see :mod:`napari_medai.commands.alzheimer`).

``napari-medai train classify --data DIR --out MODEL_DIR [--arch --size --init-from --finetune --labels-csv]``
trains a 2-D image classifier on a folder with one sub-folder per class (see :mod:`napari_medai.commands.classify`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from . import alzheimer as alzheimer_command
from . import classify as classify_command

NAME = "train"
HELP = ("train a model: brain-tumour or stroke segmentation, an ldct denoiser or an image classifier (classify) on "
        "your data, lesion-presence on phantoms")

_DEFAULT_OUT = Path("brain-tumour-model")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="task", metavar="TASK", required=True)
    p = sub.add_parser(
        "brain-tumour", help="brain-tumour (glioma) segmentation from MR case folders",
        description="Train the default brain-tumour recipe (SegResNet, WT/TC/ET regions) on case folders "
                    "named as in BraTS 2013 (Flair_*, T1c_*, OTMultiClass*, brainmask*), 2021 (*_flair, *_t1ce, "
                    "*_seg) or 2023 (*-t2f, *-t1c, *-seg). The sequences present in every case are used.",
    )
    p.add_argument("--data", required=True, type=Path, metavar="DIR", help="folder with one sub-folder per case")
    p.add_argument("--out", type=Path, default=None, metavar="MODEL_DIR",
                   help="model folder to write (default: ./brain-tumour-model, or the next free "
                        "./brain-tumour-model-N when that one holds another run)")
    p.add_argument("--epochs", type=int, default=None, metavar="N", help="epoch limit (default: the recipe's 60)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--resume", action="store_true", help="continue the run found in --out")
    p.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device (default auto)")
    p.add_argument("--minutes", type=float, default=None, metavar="M",
                   help="wall-time budget; no epoch starts that would end after it (default 40)")
    p.add_argument("--val-fraction", type=float, default=None, metavar="F",
                   help="fraction of cases held out for validation and early stopping (default 0: every case "
                        "trains, as the recipe cross-validation measured; e.g. 0.2 for larger cohorts)")
    p.add_argument("--patch", type=int, default=None, metavar="P", help="training patch edge in voxels (default 64)")
    p.add_argument("--steps", type=int, default=None, metavar="S", help="training steps per epoch (default 40)")
    p.add_argument("--batch", type=int, default=None, metavar="B", help="patches per step (default 2)")
    p.add_argument("--init-filters", type=int, default=None, metavar="F", help="SegResNet width, multiple of 8 (default 8)")
    p.add_argument("--spacing", type=float, default=None, metavar="MM",
                   help="isotropic working voxel size in mm (default 2)")
    p.add_argument("--window", type=int, default=None, metavar="W", help="inference window edge in voxels (default 96)")
    p.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: torch's; on a busy shared machine 1 is often faster)")
    p.add_argument("--augmentation", default=None, choices=("light", "strong", "contrast"),
                   help="training augmentation: light (the default), strong (nnU-Net-style rotation, scaling, "
                        "noise, blur, brightness, contrast, gamma, bias field, simulated low resolution) or contrast "
                        "(per-sequence random intensity remapping, gamma and bias field, no spatial change)")
    _add_ldct_arguments(sub)
    _add_lesion_arguments(sub)
    _add_stroke_arguments(sub)
    alzheimer_command.add_train_arguments(sub)
    classify_command.add_train_arguments(sub)


def _add_stroke_arguments(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser(
        "stroke", help="stroke lesion segmentation (DeepMedic-style, SegResNet or a MONAI network) from DWI + ADC",
        description="Train a stroke lesion network on ISLES'22 BIDS cases (rawdata/sub-*/ses-*/*_dwi.nii.gz, *_adc.nii.gz, "
                    "derivatives/sub-*/ses-*/*_msk.nii.gz) or one folder per case (dwi*, adc*, lesion*/mask*/msk*/seg*; "
                    "cta* for CT angiography). The ADC unit of each case is detected and converted to 10^-6 mm^2/s.",
    )
    q.add_argument("--data", required=True, type=Path, metavar="DIR", help="ISLES'22 BIDS folder or folder of case folders")
    q.add_argument("--out", required=True, type=Path, metavar="MODEL_DIR", help="model folder to write")
    q.add_argument("--network", default="segresnet", metavar="NAME",
                   help="segresnet (default), deepmedic, or another MONAI segmentation network (e.g. unet)")
    q.add_argument("--epochs", type=int, default=None, metavar="N", help="epoch limit (default 40)")
    q.add_argument("--steps", type=int, default=None, metavar="S", help="training steps per epoch (default 40)")
    q.add_argument("--batch", type=int, default=None, metavar="B", help="patches per step (default 2)")
    q.add_argument("--patch", type=int, default=None, metavar="P",
                   help="training patch edge in voxels (default 25 for deepmedic, 48 otherwise)")
    q.add_argument("--window", type=int, default=None, metavar="W",
                   help="inference window edge in voxels (default 45 for deepmedic, 64 otherwise)")
    q.add_argument("--val-fraction", type=float, default=None, metavar="F",
                   help="fraction of cases held out for validation (default 0.25; 0 = none)")
    q.add_argument("--minutes", type=float, default=None, metavar="M",
                   help="wall-time budget; no epoch starts that would end after it (default 30)")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    q.add_argument("--resume", action="store_true", help="continue the run found in --out")
    q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device (default auto)")
    q.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: torch's; on a busy shared machine 1 is often faster)")


def _run_stroke(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.tasks.stroke.model import (
        LAYOUTS,
        STROKE_CHANNELS,
        find_stroke_cases,
        network_name,
        train_stroke,
    )

    recipe: dict = {}
    for name, key, lo in (("epochs", None, 1), ("steps", "iterations_per_epoch", 1), ("batch", "batch_size", 1),
                          ("patch", "patch_size", 8), ("window", "roi_size", 8), ("threads", "num_threads", 1)):
        value = getattr(args, name)
        if value is None:
            continue
        if value < lo:
            raise InvalidInputError(f"--{name} must be >= {lo}, got {value}")
        if key is not None:
            recipe[key] = (value,) * 3 if name in ("patch", "window") else value
    if args.minutes is not None:
        if args.minutes <= 0:
            raise InvalidInputError(f"--minutes must be > 0, got {args.minutes}")
        recipe["time_limit_s"] = args.minutes * 60.0
    if args.val_fraction is not None:
        recipe["val_fraction"] = args.val_fraction
    network = network_name(args.network)
    cases = find_stroke_cases(args.data, require_labels=True)
    layouts = sorted({LAYOUTS[c.layout].split(":")[0] for c in cases})
    modality = cases[0].modality
    print(f"found {len(cases)} stroke case(s) ({', '.join(layouts)}): {', '.join(c.name for c in cases)}")
    print(f"network {network}; inputs {' + '.join(STROKE_CHANNELS[modality])}; model folder: {args.out}", flush=True)
    t0 = time.perf_counter()

    def progress(fraction: float, message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s {100 * fraction:3.0f}%] {message}", flush=True)

    result = train_stroke(args.data, out_dir=args.out, network=network, cases=cases, seed=args.seed,
                          max_epochs=args.epochs, device=args.device, resume=args.resume, progress=progress, **recipe)
    print(result.summary())
    inputs = "--dwi DWI --adc ADC" if modality == "mri" else "--cta CTA --mirror"
    print(f"segment with: napari-medai stroke {inputs} --method model --model {args.out} --out LESIONS.nii.gz")
    return 0


def _add_lesion_arguments(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser(
        "lesion-presence", help="lesion-presence classifier on synthetic phantoms (the minimal classification task)",
        description="Train a small DenseNet to tell whether a 2-D phantom image holds a bright lesion, then report "
                    "its ROC AUC on held-out phantoms of another seed.",
    )
    q.add_argument("--out", required=True, type=Path, metavar="MODEL_DIR", help="model folder to write")
    q.add_argument("--cases", type=int, default=192, metavar="N", help="training phantoms (default 192)")
    q.add_argument("--test-cases", type=int, default=100, metavar="N", help="held-out phantoms scored (default 100)")
    q.add_argument("--epochs", type=int, default=8, metavar="E", help="epoch limit (default 8)")
    q.add_argument("--steps", type=int, default=15, metavar="S", help="training steps per epoch (default 15)")
    q.add_argument("--size", type=int, default=32, metavar="P", help="image edge in pixels (default 32)")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    q.add_argument("--resume", action="store_true", help="continue the run found in --out")
    q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device (default auto)")
    q.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: torch's; on a busy shared machine 1 is often faster)")


def _run_lesion(args: argparse.Namespace) -> int:
    import numpy as np

    from ..core.errors import InvalidInputError
    from ..core.inference.classification import classification_input, classify_batch
    from ..core.metrics.classification import roc_auc
    from ..core.models import load_model
    from ..core.tasks.lesion_presence import lesion_presence_cases, train_lesion_presence

    for name in ("cases", "test_cases", "epochs", "steps"):
        if getattr(args, name) < (4 if name.endswith("cases") else 1):
            raise InvalidInputError(f"--{name.replace('_', '-')} is too small: {getattr(args, name)}")
    print(f"{args.cases} training phantom(s), seed {args.seed}; model folder: {args.out}", flush=True)
    t0 = time.perf_counter()

    def progress(fraction: float, message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s {100 * fraction:3.0f}%] {message}", flush=True)

    result = train_lesion_presence(args.out, n_cases=args.cases, seed=args.seed, size=args.size,
                                   max_epochs=args.epochs, steps_per_epoch=args.steps, device=args.device,
                                   resume=args.resume, progress=progress, num_threads=args.threads)
    print(result.summary())
    model = load_model(args.out)
    test = lesion_presence_cases(args.test_cases, seed=args.seed + 1, size=args.size)
    x = np.concatenate([classification_input(model.contract, c.image)[0] for c in test])
    p = classify_batch(model.network, x, output_kind=model.contract.output_kind)[:, 1]
    auc = roc_auc(p, [1 if c.label == "present" else 0 for c in test])
    print(f"held-out phantoms (seed {args.seed + 1}, {len(test)}): ROC AUC {auc:.3f}")
    return 0


def _add_ldct_arguments(sub: argparse._SubParsersAction) -> None:
    q = sub.add_parser(
        "ldct", help="low-dose CT denoising (RED-CNN) from full-dose / low-dose pairs",
        description="Train a RED-CNN (Chen 2017) to turn low-dose CT slices into full-dose ones. Give the full-dose "
                    "images, and either their low-dose scans (--low-dose, same order, same grids) or a dose to "
                    "simulate them with (--simulate-dose; projection-domain Poisson noise, target = the noise-free "
                    "reconstruction). Every slice of a 3-D image is a training sample.",
    )
    q.add_argument("--full-dose", required=True, nargs="+", type=Path, metavar="FD",
                   help="full-dose CT image(s) in HU (any format napari-medai reads, incl. .npy and .raw)")
    q.add_argument("--low-dose", nargs="+", type=Path, default=None, metavar="LD",
                   help="their low-dose scans, one per full-dose image, in the same order")
    q.add_argument("--simulate-dose", type=float, default=None, metavar="D",
                   help="simulate the low-dose scans at this dose fraction instead (e.g. 0.25)")
    q.add_argument("--i0", type=float, default=1e5, metavar="N", help="full-dose photons per ray of the simulation "
                   "(default 1e5)")
    q.add_argument("--pixel-size", type=float, default=None, metavar="MM",
                   help="in-plane pixel size for .npy/.raw inputs (which store none); needed to simulate")
    q.add_argument("--out", required=True, type=Path, metavar="MODEL_DIR", help="model folder to write")
    q.add_argument("--epochs", type=int, default=30, metavar="N", help="epoch limit (default 30)")
    q.add_argument("--steps", type=int, default=50, metavar="S", help="training steps per epoch (default 50)")
    q.add_argument("--batch", type=int, default=8, metavar="B", help="patches per step (default 8)")
    q.add_argument("--patch", type=int, default=64, metavar="P", help="patch side in pixels (default 64)")
    q.add_argument("--filters", type=int, default=32, metavar="F",
                   help="RED-CNN channels (default 32 for CPU budgets; the paper uses 96)")
    q.add_argument("--lr", type=float, default=5e-4, metavar="LR", help="initial learning rate (default 5e-4)")
    q.add_argument("--val-fraction", type=float, default=0.2, metavar="F",
                   help="fraction of the pairs held out for validation (default 0.2; 0 = none)")
    q.add_argument("--patience", type=int, default=8, metavar="N",
                   help="epochs without improvement before stopping (default 8)")
    q.add_argument("--minutes", type=float, default=None, metavar="M",
                   help="wall-time budget; no epoch starts that would end after it")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    q.add_argument("--resume", action="store_true", help="continue the run found in --out")
    q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device (default auto)")


def _run_ldct(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.tasks.ldct import LdctPair, train_ldct

    if args.low_dose is not None and args.simulate_dose is not None:
        raise InvalidInputError("give either --low-dose or --simulate-dose, not both")
    if args.low_dose is None and args.simulate_dose is None:
        raise InvalidInputError("give the low-dose scans (--low-dose LD ...) or a dose to simulate them "
                                "(--simulate-dose 0.25)")
    if args.low_dose is not None and len(args.low_dose) != len(args.full_dose):
        raise InvalidInputError(f"{len(args.full_dose)} full-dose but {len(args.low_dose)} low-dose images; give one "
                                "low-dose scan per full-dose image, in the same order")
    if args.minutes is not None and args.minutes <= 0:
        raise InvalidInputError(f"--minutes must be > 0, got {args.minutes}")
    stems = [f.name.split(".")[0] or f"pair{i + 1}" for i, f in enumerate(args.full_dose)]
    names = [s if stems.count(s) == 1 else f"{s}-{i + 1}" for i, s in enumerate(stems)]
    lows = args.low_dose or [None] * len(args.full_dose)
    pairs = [LdctPair(full_dose=fd, low_dose=ld, name=n, pixel_size_mm=args.pixel_size)
             for fd, ld, n in zip(args.full_dose, lows, names)]
    print(f"{len(pairs)} pair(s): " + ", ".join(names)
          + (f"; low dose simulated at {args.simulate_dose:g} x dose, I0 {args.i0:g}" if args.simulate_dose else ""))
    print(f"model folder: {args.out}", flush=True)
    t0 = time.perf_counter()

    def progress(fraction: float, message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s {100 * fraction:3.0f}%] {message}", flush=True)

    result = train_ldct(
        pairs, out_dir=args.out, simulate_dose=args.simulate_dose, i0=args.i0, filters=args.filters,
        patch=args.patch, batch_size=args.batch, steps_per_epoch=args.steps, max_epochs=args.epochs,
        patience=args.patience, val_fraction=args.val_fraction, learning_rate=args.lr, seed=args.seed,
        device=args.device, time_limit_s=None if args.minutes is None else args.minutes * 60.0,
        resume=args.resume, progress=progress,
    )
    print(result.summary())
    print(f"denoise with: napari-medai denoise --method trained --weights {args.out} --ct LOW_DOSE --out OUT")
    return 0


def _free_default_out() -> Path:
    out = _DEFAULT_OUT
    n = 2
    while out.exists() and any(out.iterdir()):
        out = Path(f"{_DEFAULT_OUT}-{n}")
        n += 1
    return out


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    if args.task == "ldct":
        return _run_ldct(args)
    if args.task == "lesion-presence":
        return _run_lesion(args)
    if args.task == "stroke":
        return _run_stroke(args)
    if args.task == "alzheimer":
        return alzheimer_command.run_train(args)
    if args.task == "classify":
        return classify_command.run_train(args)
    from ..core.tasks.brain_tumour import LAYOUTS, common_channels, find_cases, train_brain_tumour

    if args.task != "brain-tumour":  # pragma: no cover - argparse restricts choices
        raise InvalidInputError(f"unknown task {args.task!r}")
    recipe: dict = {}
    if args.minutes is not None:
        if args.minutes <= 0:
            raise InvalidInputError(f"--minutes must be > 0, got {args.minutes}")
        recipe["time_limit_s"] = args.minutes * 60.0
    if args.val_fraction is not None:
        recipe["val_fraction"] = args.val_fraction
    if args.patch is not None:
        recipe["patch_size"] = (args.patch,) * 3
    if args.steps is not None:
        recipe["iterations_per_epoch"] = args.steps
    if args.batch is not None:
        recipe["batch_size"] = args.batch
    if args.init_filters is not None:
        recipe["init_filters"] = args.init_filters
    if args.spacing is not None:
        if args.spacing <= 0:
            raise InvalidInputError(f"--spacing must be > 0 mm, got {args.spacing}")
        recipe["target_spacing"] = (args.spacing,) * 3
    if args.window is not None:
        recipe["roi_size"] = (args.window,) * 3
    if args.threads is not None:
        recipe["num_threads"] = args.threads
    if args.augmentation is not None:
        recipe["augmentation"] = args.augmentation
    out = args.out
    if out is None:
        out = _DEFAULT_OUT if args.resume else _free_default_out()

    cases = find_cases(args.data, require_labels=True)
    layouts = sorted({LAYOUTS[c.layout].split(":")[0] for c in cases})
    print(f"found {len(cases)} case(s) ({', '.join(layouts)}): {', '.join(c.name for c in cases)}")
    print(f"channels used (present in every case): {', '.join(common_channels(cases))}")
    print(f"model folder: {out}", flush=True)
    t0 = time.perf_counter()

    def progress(fraction: float, message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s {100 * fraction:3.0f}%] {message}", flush=True)

    result = train_brain_tumour(
        args.data, out_dir=out, cases=cases, seed=args.seed, max_epochs=args.epochs, device=args.device,
        resume=args.resume, progress=progress, **recipe,
    )
    print(result.summary())
    print(f"segment with: napari-medai brain-tumour --model {out} --flair FLAIR ... --out SEG.nii.gz")
    return 0
