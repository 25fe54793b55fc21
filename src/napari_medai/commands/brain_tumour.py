"""``napari-medai brain-tumour``: segment a brain tumour from MR images with a trained model.

The label map is written on the grid of the input images, atomically, in the model's label
convention (or ``--convention``), and never over an input file. Every run says whether the input is
like the model's training cases (:mod:`napari_medai.core.ood`); ``--json`` writes that verdict, the
numbers behind it and the volumes.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from ..core.tasks.brain_tumour import DEFAULT_INFERENCE
from .dicom_results import add_dicom_arguments, check_dicom_arguments, write_dicom_results

NAME = "brain-tumour"
HELP = "segment a brain tumour (glioma) from co-registered MR sequences with a trained model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--flair", required=True, type=Path, metavar="F", help="FLAIR image (T2-FLAIR, t2f)")
    parser.add_argument("--t1", type=Path, default=None, metavar="F", help="native T1 image (t1n)")
    parser.add_argument("--t1c", type=Path, default=None, metavar="F", help="contrast-enhanced T1 (t1ce, t1gd)")
    parser.add_argument("--t2", type=Path, default=None, metavar="F", help="T2 image (t2w)")
    parser.add_argument("--brainmask", type=Path, default=None, metavar="F",
                        help="brain mask: keep labels inside it (and normalise inside it for models whose "
                             "brain-region rule uses a mask; newer models find the brain themselves)")
    parser.add_argument("--model", default="brain-tumour-default", metavar="M",
                        help="model folder, MONAI bundle folder/zip, TorchScript file or registry name "
                             "(brain-tumour-default, brats_mri_segmentation); default brain-tumour-default")
    parser.add_argument("--out", required=True, type=Path, metavar="SEG", help="label map to write (.nii.gz, .nrrd, .mha)")
    parser.add_argument("--convention", default=None, choices=("brats2013", "brats2021", "brats2023"),
                        help="write labels in this BraTS convention (default: the model's)")
    parser.add_argument("--tta", action=argparse.BooleanOptionalAction, default=DEFAULT_INFERENCE["tta"],
                        help="test-time augmentation by 8 flips (about 5x slower; on by default: it raised the held-out "
                             "WT Dice in 3 of 4 cross-validation folds); --no-tta for one pass")
    parser.add_argument("--min-component-fraction", type=float, default=DEFAULT_INFERENCE["min_component_fraction"],
                        metavar="F", help="drop tumour components smaller than F times the largest (default "
                        f"{DEFAULT_INFERENCE['min_component_fraction']:g}, chosen by cross-validation; 0 keeps all)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device (default auto)")
    parser.add_argument("--probabilities", type=Path, default=None, metavar="P",
                        help="also write the per-region probabilities (one channel per region)")
    parser.add_argument("--uncertainty", type=Path, default=None, metavar="U",
                        help="also write a voxel-wise uncertainty map (flip variance with --tta, else entropy)")
    parser.add_argument("--json", type=Path, default=None, metavar="J",
                        help="also write the volumes and the input check (like the training cases or not, with "
                             "the numbers behind it) as JSON")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files (never inputs)")
    parser.add_argument("--quiet", action="store_true", help="no progress lines")
    add_dicom_arguments(parser)  # on the --flair series


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.evaluate import check_output_path
    from ..core.io import read_volume, write_volume
    from ..core.models import load_model
    from ..core.tasks.brain_tumour import segment

    inputs = {k: getattr(args, k) for k in ("flair", "t1", "t1c", "t2") if getattr(args, k) is not None}
    protect = [p for p in (*inputs.values(), args.brainmask) if p is not None]
    outputs = [p for p in (args.out, args.probabilities, args.uncertainty, args.json) if p is not None]
    if args.json is not None and args.json.suffix.lower() != ".json":
        raise InvalidInputError(f"--json {args.json}: give a file name ending in .json")
    for o in outputs:
        check_output_path(o, protect)
        if o.exists() and not args.overwrite:
            raise InvalidInputError(f"{o}: already exists; pass --overwrite to replace it or choose another name")
    if len({str(o.resolve()) for o in outputs}) != len(outputs):
        raise InvalidInputError("--out, --probabilities, --uncertainty and --json must be different files")
    for k, p in inputs.items():
        if not p.exists():
            raise InvalidInputError(f"--{k} {p}: no such file")
    check_dicom_arguments(args, args.flair, option="--flair", protect=protect)
    t0 = time.perf_counter()
    last = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if args.quiet:
            return
        if fraction - last[0] >= 0.1 or fraction >= 1.0:
            last[0] = fraction
            print(f"[{time.perf_counter() - t0:6.1f} s {100 * fraction:3.0f}%] {message}", flush=True)

    model = load_model(args.model, progress=progress)
    print(model.describe(), flush=True)
    channels = {k: read_volume(p, as_label=False) for k, p in inputs.items()}
    mask = read_volume(args.brainmask) if args.brainmask is not None else None
    uncertainty = "variance" if args.tta else "entropy"
    pred = segment(
        channels, model=model, brainmask=mask, convention=args.convention, device=args.device, tta=args.tta,
        uncertainty=uncertainty if args.uncertainty is not None else None,
        return_probabilities=args.probabilities is not None, min_component_fraction=args.min_component_fraction,
        progress=progress,
    )
    written = write_volume(pred.labels, args.out, overwrite=args.overwrite, protect=protect)
    print(pred.summary())
    print(f"wrote {written} ({pred.labels.meta['convention']} labels: "
          + ", ".join(f"{k} {v}" for k, v in (pred.labels.label_names or {}).items()) + ")")
    if args.probabilities is not None and pred.probabilities is not None:
        print(f"wrote {write_volume(pred.probabilities, args.probabilities, overwrite=args.overwrite, protect=protect)}")
    if args.uncertainty is not None and pred.uncertainty is not None:
        print(f"wrote {write_volume(pred.uncertainty, args.uncertainty, overwrite=args.overwrite, protect=protect)}")
    if args.json is not None:
        from ..core.evaluate import write_text_atomically

        doc = {"model": pred.model_name, "is_trained": pred.is_trained, "trained_on": pred.trained_on,
               "convention": pred.labels.meta.get("convention"), "segmentation": str(written),
               "region_volumes_ml": pred.region_volumes_ml, "label_volumes_ml": pred.label_volumes_ml,
               "input_check": None if pred.quality is None else pred.quality.as_dict(),
               "tta_passes": pred.tta_passes, "device": pred.device, "seconds": round(pred.seconds, 2),
               "notes": list(pred.notes)}
        write_text_atomically(args.json, json.dumps(doc, indent=1) + "\n")
        print(f"wrote {args.json}")
    if args.dicom_seg is not None:
        from .. import __version__
        from ..core.io.dicom_seg import Algorithm
        from ..core.io.dicom_sr import brain_tumour_groups

        conv = pred.labels.meta.get("convention")
        alg = Algorithm("napari-medai brain-tumour", __version__, model=pred.model_name)
        for p in write_dicom_results(
                args, labels=pred.labels, series=channels["flair"], algorithm=alg, task="brain-tumour", convention=conv,
                groups=lambda _: brain_tumour_groups(pred.region_volumes_ml, pred.label_volumes_ml,
                                                     pred.labels.label_names or {}, convention=conv), protect=protect):
            print(f"wrote {p}")
    return 0
