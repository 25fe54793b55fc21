"""``napari-medai classify``: classify 2-D radiographs with a trained model, or evaluate it on labelled folders.

::

    napari-medai classify --model MODEL_DIR INPUT [INPUT ...] [--csv OUT.csv] [--cam DIR] [--cam-class C]
    napari-medai classify evaluate --model MODEL_DIR --data DIR [--labels-csv CSV] [--json OUT] [--roc-png OUT]
    napari-medai classify xrv [--download NAME] [--xrv-cache DIR]

``INPUT`` is an image file (PNG, JPEG, TIFF, DICOM) or a folder (every image below it). Each image's
class probabilities and decision are printed; ``--csv`` writes them as a table and ``--cam`` writes a
Grad-CAM map per image (``<name>_cam.png`` on the image's pixel grid, and ``<name>_cam_overlay.png``).
An untrained model prints its probabilities but no decision.

``evaluate`` scores the model on a class-folder tree (its ``test/`` split if it has one, else ``val/``,
else every image) or a folder with a labels CSV: per class AUC with DeLong's 95 % CI, sensitivity,
specificity and accuracy at the model's threshold, the confusion matrix; ``--json`` and ``--roc-png``.

``MODEL_DIR`` may also be torchxrayvision's published chest X-ray DenseNet weights: ``xrv:<name>`` (a file in
torchxrayvision's cache, ``~/.torchxrayvision/models_data`` or ``$NAPARI_MEDAI_XRV_CACHE``) or the weights
file itself; its outputs are mapped onto the CheXNeXt findings by name (read without running anything in
the file). ``classify xrv`` lists the published weights and which are on this machine; ``--download NAME``
fetches one into the cache (only then, and only with internet).

``napari-medai train classify`` (in :mod:`napari_medai.commands.train`, defined here) trains such a model.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

NAME = "classify"
HELP = ("classify 2-D radiographs (probabilities, decision, activation maps) with a trained model, or "
        "'classify evaluate' it on labelled folders (AUC with DeLong CI, confusion matrix, ROC)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="image files or folders; or the word 'evaluate' (with --data) to score the model; or "
                             "'xrv' to list torchxrayvision's published chest X-ray weights")
    parser.add_argument("--model", type=Path, default=None, metavar="MODEL_DIR",
                        help="model folder made by 'napari-medai train classify', or torchxrayvision weights: "
                             "xrv:NAME (see 'classify xrv') or the weights file")
    parser.add_argument("--csv", type=Path, default=None, metavar="OUT", help="write the predictions as a CSV table")
    parser.add_argument("--cam", type=Path, default=None, metavar="DIR", help="write a Grad-CAM map per image into DIR")
    parser.add_argument("--cam-class", default=None, metavar="CLASS",
                        help="class whose map is drawn (default: each image's most probable class)")
    parser.add_argument("--data", type=Path, default=None, metavar="DIR",
                        help="evaluate: labelled folder (one sub-folder per class, or the images of --labels-csv)")
    parser.add_argument("--labels-csv", type=Path, default=None, metavar="CSV",
                        help="evaluate: multi-label truth (image -> findings)")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="evaluate: write the figures as JSON")
    parser.add_argument("--roc-png", type=Path, default=None, metavar="OUT", help="evaluate: draw the ROC curves")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device (default auto)")
    parser.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for torch")
    parser.add_argument("--download", default=None, metavar="NAME",
                        help="xrv: fetch torchxrayvision's published weights NAME into its cache (needs internet)")
    parser.add_argument("--xrv-cache", type=Path, default=None, metavar="DIR",
                        help="xrv: folder of torchxrayvision weights (default $NAPARI_MEDAI_XRV_CACHE or "
                             "~/.torchxrayvision/models_data)")


def _set_threads(n: int | None) -> None:
    from ..core.errors import InvalidInputError

    if n is None:
        return
    if n < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {n}")
    import torch

    torch.set_num_threads(int(n))


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError

    words = [str(x) for x in args.inputs]
    evaluate = words == ["evaluate"]
    eval_only = ("data", "labels_csv", "json", "roc_png")
    cls_only = ("csv", "cam", "cam_class")
    xrv_only = ("download", "xrv_cache")
    if words == ["xrv"]:
        bad = [o for o in (*eval_only, *cls_only, "model") if getattr(args, o) is not None]
        if bad:
            raise InvalidInputError(f"--{bad[0].replace('_', '-')} does not apply to 'classify xrv' (it lists and "
                                    "downloads torchxrayvision weights)")
        return _run_xrv(args)
    bad = [o for o in xrv_only if getattr(args, o) is not None]
    if bad:
        raise InvalidInputError(f"--{bad[0].replace('_', '-')} applies to 'napari-medai classify xrv' only")
    if args.model is None:
        raise InvalidInputError("give --model MODEL_DIR (a folder made by 'napari-medai train classify', or "
                                "xrv:NAME for torchxrayvision's weights: see 'napari-medai classify xrv')")
    if evaluate:
        if args.data is None:
            raise InvalidInputError("classify evaluate needs --data DIR (a folder with one sub-folder per class)")
        bad = [o for o in cls_only if getattr(args, o) is not None]
        if bad:
            raise InvalidInputError(f"--{bad[0].replace('_', '-')} applies to classifying images, not to 'evaluate'")
        _set_threads(args.threads)
        return _run_evaluate(args)
    bad = [o for o in eval_only if getattr(args, o) is not None]
    if bad:
        raise InvalidInputError(f"--{bad[0].replace('_', '-')} applies to 'napari-medai classify evaluate' only")
    _set_threads(args.threads)
    return _run_classify(args)


def _run_xrv(args: argparse.Namespace) -> int:
    from ..core.tasks.classify.xrv import (
        XRV_WEIGHTS,
        download_xrv_weights,
        find_xrv_weights,
        xrv_cache_dir,
    )

    folder = xrv_cache_dir(args.xrv_cache)
    if args.download is not None:
        t0 = time.perf_counter()

        def progress(fraction: float, message: str) -> None:
            print(f"[{time.perf_counter() - t0:5.0f} s {100 * fraction:3.0f}%] {message}", flush=True)

        path = download_xrv_weights(args.download, cache_dir=folder, progress=progress)
        print(f"{args.download}: {path}")
    here = {w.name: p for w, p in find_xrv_weights(folder)}
    print(f"torchxrayvision's published chest X-ray DenseNet-121 weights (224 px), cache {folder}:")
    for name, w in XRV_WEIGHTS.items():
        where = f"here: {here[name]}" if name in here else "not here (--download " + name + ")"
        print(f"  xrv:{name:28s} {w.datasets:42s} {len(w.trained):2d} outputs; {where}")
    if here:
        print("classify with: napari-medai classify --model xrv:NAME IMAGE_OR_FOLDER; "
              "fine-tune with: napari-medai train classify --arch densenet121 --init-from xrv:NAME ...")
    return 0


def _run_classify(args: argparse.Namespace) -> int:
    from ..core.tasks.classify import (
        as_radiograph,
        cam_file_names,
        classify_image,
        expand_inputs,
        load_classifier,
        write_cam_pngs,
        write_predictions_csv,
    )

    model = load_classifier(args.model)
    c = model.contract
    files = expand_inputs(args.inputs)  # checks every input before any work
    if args.cam_class is not None and args.cam_class not in c.output_channels:
        from ..core.errors import InvalidInputError

        raise InvalidInputError(f"--cam-class {args.cam_class!r} is not a class of the model "
                                f"({', '.join(c.output_channels)})")
    print(f"model {c.name} ({', '.join(c.output_channels)}); {len(files)} image(s)", flush=True)
    if not c.is_trained:
        print(f"note: model {c.name!r} is NOT TRAINED: probabilities are printed, no decision is made", flush=True)
    stems = cam_file_names([str(f) for f in files])
    results = []
    t0 = time.perf_counter()
    for f, stem in zip(files, stems):
        want_cam = args.cam is not None and c.is_trained
        res = classify_image(model, f, cam=want_cam, cam_class=args.cam_class, device=args.device)
        results.append((str(f), res))
        print(f"{f}: {res.summary()}", flush=True)
        if want_cam:
            write_cam_pngs(res, as_radiograph(f).data, args.cam, stem, protect=files)
    dt = time.perf_counter() - t0
    print(f"{len(files)} image(s) in {dt:.1f} s ({len(files) / dt if dt > 0 else float('nan'):.1f} images/s)")
    if args.csv is not None:
        print(f"wrote {write_predictions_csv(results, args.csv, protect=files)}")
    if args.cam is not None and c.is_trained:
        print(f"wrote {2 * len(files)} map file(s) to {args.cam}")
    return 0


def _run_evaluate(args: argparse.Namespace) -> int:
    from ..core.evaluate import check_output_path, write_text_atomically
    from ..core.tasks.classify import evaluate_classifier

    for out in (args.json, args.roc_png):
        if out is not None:
            check_output_path(out)
    t0 = time.perf_counter()
    last = [0.0]

    def progress(fraction: float, message: str) -> None:
        now = time.perf_counter()
        if now - last[0] > 5 or fraction >= 1.0:
            last[0] = now
            print(f"[{now - t0:6.0f} s {100 * fraction:3.0f}%] {message}", flush=True)

    ev = evaluate_classifier(args.model, args.data, labels_csv=args.labels_csv, device=args.device, progress=progress)
    print(ev.summary())
    print(f"{ev.images_per_s:.1f} images/s (reading and preparing included)")
    for n in ev.notes:
        print(f"note: {n}")
    if args.json is not None:
        write_text_atomically(check_output_path(args.json), json.dumps(ev.to_json(with_predictions=True), indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.roc_png is not None:
        print(f"wrote {ev.roc_png(args.roc_png)}")
    return 0


# ---------------------------------------------------------------------------------------------
# napari-medai train classify (registered by commands/train.py)
# ---------------------------------------------------------------------------------------------
def add_train_arguments(sub: argparse._SubParsersAction) -> None:
    """The ``classify`` task of ``napari-medai train``."""
    from ..core.tasks.classify.networks import ARCHITECTURES, DEFAULT_ARCH, DEFAULT_SIZE
    from ..core.tasks.classify.train import DEFAULTS

    q = sub.add_parser(
        "classify", help="2-D image classifier (e.g. chest X-ray) from a folder with one sub-folder per class",
        description="Train a 2-D CNN on images labelled by the folder they sit in (DATA/<class>/*.png|jpg|tif|dcm, "
                    "optionally DATA/train/<class>, DATA/val/<class>, DATA/test/<class>), or on a labels CSV "
                    "(image -> findings, multi-label). Class-balanced sampling, radiograph augmentation (small "
                    "rotations and scaling, brightness/contrast, no flips), early stopping on validation AUC.",
    )
    q.add_argument("--data", required=True, type=Path, metavar="DIR", help="the labelled image folder")
    q.add_argument("--out", required=True, type=Path, metavar="MODEL_DIR", help="model folder to write")
    q.add_argument("--arch", default=DEFAULT_ARCH, choices=ARCHITECTURES,
                   help=f"network (default {DEFAULT_ARCH}, fast on CPUs; densenet121 as CheXNeXt)")
    q.add_argument("--size", type=int, default=DEFAULT_SIZE, metavar="PX",
                   help=f"network input edge in pixels, a multiple of 32 (default {DEFAULT_SIZE})")
    q.add_argument("--init-from", type=Path, default=None, metavar="MODEL",
                   help="transfer learning: a model folder of the same architecture, a torchvision / MONAI / "
                        "torchxrayvision state_dict file (read with weights_only=True), or torchxrayvision's "
                        "published DenseNet weights (xrv:NAME or the file; see 'napari-medai classify xrv')")
    q.add_argument("--finetune", default="all", choices=("all", "head"),
                   help="with --init-from: train all layers (default) or only the last one")
    q.add_argument("--labels-csv", type=Path, default=None, metavar="CSV",
                   help="multi-label training: CSV of image -> findings (images under --data)")
    q.add_argument("--group-regex", default=None, metavar="RE",
                   help="patient id from the file name (first match or group), so one patient's images stay on one "
                        r"side of the validation split, e.g. '^(person\d+)'")
    q.add_argument("--epochs", type=int, default=DEFAULTS["max_epochs"], metavar="N",
                   help=f"epoch limit (default {DEFAULTS['max_epochs']})")
    q.add_argument("--minutes", type=float, default=DEFAULTS["time_limit_s"] / 60, metavar="M",
                   help=f"wall-time budget; no epoch starts that would end after it (default {DEFAULTS['time_limit_s'] / 60:g})")
    q.add_argument("--val-fraction", type=float, default=DEFAULTS["val_fraction"], metavar="F",
                   help=f"share held out for validation when there is no val/ folder (default {DEFAULTS['val_fraction']})")
    q.add_argument("--batch", type=int, default=DEFAULTS["batch_size"], metavar="B",
                   help=f"images per step (default {DEFAULTS['batch_size']})")
    q.add_argument("--steps", type=int, default=None, metavar="S",
                   help="steps per epoch (default: one pass over the training images)")
    q.add_argument("--lr", type=float, default=DEFAULTS["learning_rate"], metavar="LR",
                   help=f"initial learning rate (default {DEFAULTS['learning_rate']:g})")
    q.add_argument("--patience", type=int, default=DEFAULTS["patience"], metavar="N",
                   help=f"epochs without a better validation AUC before stopping (default {DEFAULTS['patience']})")
    q.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    q.add_argument("--resume", action="store_true", help="continue the run found in --out")
    q.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device (default auto)")
    q.add_argument("--threads", type=int, default=None, metavar="N",
                   help="CPU threads for torch (default: torch's; on a busy shared machine 1 is often faster)")


def run_train(args: argparse.Namespace) -> int:
    """``napari-medai train classify``."""
    from ..core.errors import InvalidInputError
    from ..core.tasks.classify import groups_from_regex, load_dataset, train_classify

    if args.minutes is not None and args.minutes <= 0:
        raise InvalidInputError(f"--minutes must be > 0, got {args.minutes}")
    if args.threads is not None and args.threads < 1:
        raise InvalidInputError(f"--threads must be >= 1, got {args.threads}")
    if args.steps is not None and args.steps < 1:
        raise InvalidInputError(f"--steps must be >= 1, got {args.steps}")
    if args.finetune == "head" and args.init_from is None:
        raise InvalidInputError("--finetune head trains only the last layer: give --init-from MODEL")
    ds = load_dataset(args.data, args.labels_csv)
    print(ds.describe(), flush=True)
    print(f"network {args.arch} at {args.size} px; model folder: {args.out}", flush=True)
    t0 = time.perf_counter()

    def progress(fraction: float, message: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s {100 * fraction:3.0f}%] {message}", flush=True)

    result = train_classify(
        ds, args.out, arch=args.arch, size=args.size, init_from=args.init_from, finetune=args.finetune,
        groups=None if args.group_regex is None else groups_from_regex(args.group_regex),
        labels_csv=args.labels_csv, val_fraction=args.val_fraction, max_epochs=args.epochs,
        time_limit_s=None if args.minutes is None else args.minutes * 60.0, seed=args.seed, device=args.device,
        resume=args.resume, progress=progress, batch_size=args.batch, steps_per_epoch=args.steps,
        learning_rate=args.lr, patience=args.patience, num_threads=args.threads,
    )
    print(result.summary())
    bv = result.best_validation or {}
    if bv.get("auc") is not None:
        print(f"best validation AUC {bv['auc']:.3f}, accuracy {bv['accuracy']:.3f}")
    print(f"classify with: napari-medai classify --model {args.out} IMAGE_OR_FOLDER [--csv OUT.csv] [--cam DIR]")
    return 0
