"""``napari-medai stroke``: ischaemic stroke lesions from MRI (DWI + ADC, optional FLAIR) or CTA.

Writes the lesion label map on the DWI (or CTA) grid and, with ``--json``, the report: method, the
ADC unit and how it was found, the parameters with their sources, the lesion table, the total
volume, the DWI-FLAIR mismatch when FLAIR is given, and notes. BIDS sidecars (``NAME.json``) and a
DWI's ``.bval`` beside the images are read. Bad input is one line on stderr and exit code 2, before
any output is written.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from .dicom_results import add_dicom_arguments, check_dicom_arguments, write_dicom_results

NAME = "stroke"
HELP = ("segment ischaemic stroke lesions from DWI + ADC (optional FLAIR: DWI-FLAIR mismatch) or CT "
        "angiography, with the weight-free clinical baseline or a trained model; lesion table as JSON")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dwi", type=Path, default=None, metavar="F",
                        help="diffusion-weighted image: the b = 1000 trace, or a 4-D series with its .bval beside it")
    parser.add_argument("--adc", type=Path, default=None, metavar="F", help="ADC map on the DWI grid")
    parser.add_argument("--flair", type=Path, default=None, metavar="F",
                        help="FLAIR on any grid (resampled onto the DWI grid): DWI-FLAIR mismatch")
    parser.add_argument("--adc-unit", default="auto", metavar="U",
                        help="ADC unit: auto (from the values and sidecar; default), 1e-6, 1e-3 (mm^2/s) or "
                             "scaled:K (stored value x K = 10^-6 mm^2/s)")
    parser.add_argument("--cta", type=Path, default=None, metavar="F", help="CT angiography in HU (instead of MRI)")
    parser.add_argument("--mirror", action="store_true",
                        help="CTA models: add the CTA mirrored about the mid-sagittal plane as a channel")
    parser.add_argument("--method", choices=("threshold", "model"), default="threshold",
                        help="threshold: the weight-free clinical baseline (default); model: a trained network")
    parser.add_argument("--model", default=None, metavar="M", help="model folder from 'napari-medai train stroke'")
    parser.add_argument("--separate-lesions", action="store_true",
                        help="give each connected lesion its own id in the label map (default: 0/1 mask)")
    parser.add_argument("--out", required=True, type=Path, metavar="LESIONS",
                        help="lesion label map to write (.nii.gz, .nrrd, .mha)")
    parser.add_argument("--probability", type=Path, default=None, metavar="P",
                        help="also write the probability (model) or score (threshold) map")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the report as JSON")
    add_dicom_arguments(parser)  # on the --dwi (or --cta) series


def _check_args(args: argparse.Namespace) -> tuple[dict[str, Path], list[Path]]:
    from ..core.errors import InvalidInputError
    from ..core.evaluate import check_output_path
    from ..core.io import WRITE_EXTENSIONS, split_extension

    mri = args.dwi is not None or args.adc is not None
    if mri and args.cta is not None:
        raise InvalidInputError("give either --dwi and --adc (MRI) or --cta, not both")
    if not mri and args.cta is None:
        raise InvalidInputError("no image: give --dwi and --adc (MRI) or --cta")
    if mri and (args.dwi is None or args.adc is None):
        raise InvalidInputError(f"MRI needs both --dwi and --adc; {'--adc' if args.adc is None else '--dwi'} is missing")
    if args.flair is not None and not mri:
        raise InvalidInputError("--flair goes with --dwi and --adc (DWI-FLAIR mismatch), not with --cta")
    if args.mirror and mri:
        raise InvalidInputError("--mirror is for CTA models; leave it out with --dwi/--adc")
    if args.method == "model" and args.model is None:
        raise InvalidInputError("--method model needs --model MODEL_DIR (from 'napari-medai train stroke')")
    if args.method == "threshold" and args.model is not None:
        raise InvalidInputError("--model is used with --method model; add --method model or leave --model out")
    inputs = {k: getattr(args, k) for k in ("dwi", "adc", "flair", "cta") if getattr(args, k) is not None}
    for k, p in inputs.items():
        if not p.exists():
            raise InvalidInputError(f"--{k} {p}: no such file")
    protect = list(inputs.values())
    outputs = [p for p in (args.out, args.probability, args.json) if p is not None]
    for o in outputs:
        check_output_path(o, protect)
    for o in (args.out, args.probability):
        if o is not None and split_extension(o)[1] not in WRITE_EXTENSIONS:
            raise InvalidInputError(f"{o}: cannot write this format; use one of {', '.join(sorted(WRITE_EXTENSIONS))}")
    if len({str(o.resolve()) for o in outputs}) != len(outputs):
        raise InvalidInputError("--out, --probability and --json must be different files")
    check_dicom_arguments(args, args.dwi if mri else args.cta, option="--dwi" if mri else "--cta", protect=protect)
    return inputs, protect


def run(args: argparse.Namespace) -> int:
    from ..core.evaluate import write_json
    from ..core.io import read_volume, write_volume
    from ..core.tasks.stroke.inputs import read_sidecars
    from ..core.tasks.stroke.segment import segment_stroke

    inputs, protect = _check_args(args)
    t0 = time.perf_counter()
    model = None
    if args.method == "model":  # a bad model folder fails before the images are read
        from ..core.models import load_model

        model = load_model(args.model)
    vols = {k: read_volume(p, as_label=False) for k, p in inputs.items()}
    sidecars = read_sidecars(**{k: inputs.get(k) for k in ("dwi", "adc", "flair")})
    result = segment_stroke(dwi=vols.get("dwi"), adc=vols.get("adc"), flair=vols.get("flair"),
                            cta=vols.get("cta"), mirror=args.mirror, method=args.method, model=model,
                            adc_unit=args.adc_unit, sidecars=sidecars, separate_lesions=args.separate_lesions)
    seconds = time.perf_counter() - t0
    print(result.summary() + f" ({seconds:.1f} s)")
    if result.adc_unit is not None:
        print(f"ADC unit: {result.adc_unit.unit} ({result.adc_unit.source}: {result.adc_unit.evidence})")
    for note in result.notes:
        if not note.startswith("ADC unit "):  # said on its own line above
            print(f"note: {note}")
    if result.lesions:
        print(f"{'id':>3} {'volume ml':>10} {'diameter mm':>12} {'mean ADC':>9} side     centroid (S, P, L) mm")
        for r in result.lesions:
            adc = "" if r.mean_adc is None else f"{r.mean_adc:.0f}"
            c = ", ".join(f"{v:.1f}" for v in r.centroid_world)
            print(f"{r.id:>3} {r.volume_ml:>10.3f} {r.max_diameter_mm:>12.1f} {adc:>9} {r.side:<8} ({c})")
    if result.mismatch is not None:
        m = result.mismatch
        overall = "n/a" if m.overall_rsi is None else f"{m.overall_rsi:.3f}"
        print(f"DWI-FLAIR mismatch: FLAIR rSI overall {overall} (published cut-offs {m.cutoffs[0]}-{m.cutoffs[1]}); {m.note}")
    written = write_volume(result.labels, args.out, overwrite=True, protect=protect)
    print(f"wrote {written}")
    if args.probability is not None and result.probability is not None:
        print(f"wrote {write_volume(result.probability, args.probability, overwrite=True, protect=protect)}")
    if args.json is not None:
        doc = result.to_json()
        doc["inputs"] = {k: str(p) for k, p in inputs.items()}
        doc["seconds"] = round(seconds, 3)
        print(f"wrote {write_json(doc, args.json, protect=protect)}")
    if args.dicom_seg is not None:
        from .. import __version__
        from ..core.io.dicom_seg import Algorithm
        from ..core.io.dicom_sr import stroke_groups

        alg = Algorithm("napari-medai stroke", __version__, model=args.model or result.method,
                        family="ArtificialIntelligence" if model is not None else "MorphologicalOperations")
        for p in write_dicom_results(args, labels=result.labels, series=vols.get("dwi", vols.get("cta")), algorithm=alg,
                                     task="stroke", convention="isles", groups=lambda _: stroke_groups(result),
                                     protect=protect):
            print(f"wrote {p}")
    return 0
