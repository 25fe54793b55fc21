"""``napari-medai train TASK``: train a model on your own labelled cases.

``napari-medai train brain-tumour --data DIR`` trains the default brain-tumour recipe on the
case folders in ``DIR`` (BraTS 2013, 2021 or 2023 naming) and writes a self-describing model
folder, usable with ``napari-medai brain-tumour --model MODEL_DIR``. Progress is printed one
line per step group and per epoch; Ctrl-C stops after keeping the last finished epoch, and
``--resume`` continues from it.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

NAME = "train"
HELP = "train a segmentation model on your own labelled cases (brain-tumour)"

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
                   help="fraction of cases held out for validation (default 0.25; 0 = none)")
    p.add_argument("--patch", type=int, default=None, metavar="P", help="training patch edge in voxels (default 64)")
    p.add_argument("--steps", type=int, default=None, metavar="S", help="training steps per epoch (default 40)")
    p.add_argument("--batch", type=int, default=None, metavar="B", help="patches per step (default 2)")
    p.add_argument("--init-filters", type=int, default=None, metavar="F", help="SegResNet width, multiple of 8 (default 8)")
    p.add_argument("--spacing", type=float, default=None, metavar="MM",
                   help="isotropic working voxel size in mm (default 2)")
    p.add_argument("--window", type=int, default=None, metavar="W", help="inference window edge in voxels (default 96)")


def _free_default_out() -> Path:
    out = _DEFAULT_OUT
    n = 2
    while out.exists() and any(out.iterdir()):
        out = Path(f"{_DEFAULT_OUT}-{n}")
        n += 1
    return out


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
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
