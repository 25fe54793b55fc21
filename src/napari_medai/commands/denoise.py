"""``napari-medai denoise``: reduce the noise of a (low-dose) CT scan, optionally scored against a reference.

Methods (see :mod:`napari_medai.core.tasks.ldct`): ``gaussian``, ``tv``, ``nlm``, ``bilateral``
(classical, strength from the image's own noise), ``redcnn`` (a RED-CNN state_dict, ``--weights``),
``trained`` (a model folder from ``napari-medai train ldct``, ``--weights``) and ``noise2self``
(a network trained on the input image itself). 3-D images are denoised slice by slice along the
first array axis. With ``--reference`` (the full-dose scan) PSNR, SSIM and RMSE of the input and
of the output are computed in the ``--window`` (default [-160, 240] HU, range 400) and printed;
``--json`` writes them as ``{"method", "input": {psnr, ssim, rmse}, "output": {...}, "window_hu"}``
plus extras (noise SD in ``--roi``, seconds, parameters).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

NAME = "denoise"
HELP = "denoise a (low-dose) CT scan: classical filters, RED-CNN, noise2self or your trained model"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..core.tasks.ldct import METHODS

    parser.add_argument("--ct", required=True, type=Path, metavar="CT",
                        help="CT in HU (NIfTI, NRRD, MHA, DICOM, .npy, or .raw with its shape in the name)")
    parser.add_argument("--method", required=True, choices=METHODS, help="denoising method")
    parser.add_argument("--weights", default=None, metavar="W",
                        help="redcnn: a RED-CNN state_dict (.pt); trained: the model folder of 'train ldct'")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="method parameter, repeatable (e.g. weight=120 for tv, iterations=800 for noise2self)")
    parser.add_argument("--blend", type=float, default=0.0, metavar="B",
                        help="keep this fraction of the removed noise (0-1; e.g. the dose ratio 0.25 to estimate "
                             "the full-dose image; default 0)")
    parser.add_argument("--seed", type=int, default=None, help="seed of noise2self (default 0)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"), help="compute device")
    parser.add_argument("--reference", type=Path, default=None, metavar="FD",
                        help="full-dose (reference) image on the same grid: report PSNR/SSIM/RMSE")
    parser.add_argument("--window", type=float, nargs=2, default=(-160.0, 240.0), metavar=("LO", "HI"),
                        help="HU window of the metrics (default -160 240)")
    parser.add_argument("--roi", type=int, nargs=4, default=None, metavar=("R0", "R1", "C0", "C1"),
                        help="rows R0:R1 and columns C0:C1 (every slice) of a uniform region: report its noise SD")
    parser.add_argument("--json", type=Path, default=None, metavar="OUT", help="write the metrics as JSON")
    parser.add_argument("--out", required=True, type=Path, metavar="OUT",
                        help="denoised image; its extension picks the format (.nii.gz, .nrrd, .mha, .npy, .raw)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files (never an input)")


def _roi_mask(shape: tuple[int, ...], roi: list[int]):
    import numpy as np

    from ..core.errors import InvalidInputError

    r0, r1, c0, c1 = roi
    rows, cols = shape[-2:]
    if not (0 <= r0 < r1 <= rows and 0 <= c0 < c1 <= cols):
        raise InvalidInputError(f"--roi {r0} {r1} {c0} {c1} lies outside the {rows} x {cols} slices; give "
                                "0 <= R0 < R1 <= rows and 0 <= C0 < C1 <= columns")
    m = np.zeros(shape[-2:], dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.evaluate import check_output_path, write_json
    from ..core.io import read_volume
    from ..core.metrics.image_quality import image_quality, noise_sd
    from ..core.tasks.ldct import denoise
    from ..core.tasks.ldct.output import write_ct_image
    from .options import parse_option_items

    inputs = [str(args.ct)] + ([str(args.reference)] if args.reference else []) + (
        [str(args.weights)] if args.weights else [])
    for target in (args.out, args.json):
        if target is not None and target.exists() and not args.overwrite:
            raise InvalidInputError(f"{target}: already exists; pass --overwrite or choose another name")
    if args.json is not None:
        if args.json.expanduser().absolute() == args.out.expanduser().absolute():
            raise InvalidInputError("--out and --json name the same file; give two names")
        check_output_path(args.json, inputs)
    options = parse_option_items(args.option, example="weight=120")
    if args.seed is not None:
        if args.method != "noise2self":
            raise InvalidInputError("--seed applies to noise2self only (the other methods are deterministic)")
        options.setdefault("seed", args.seed)
    vol = read_volume(args.ct, as_label=False)
    ref = None
    if args.reference is not None:
        ref = read_volume(args.reference, as_label=False)
        if ref.data.shape != vol.data.shape:
            raise InvalidInputError(
                f"--reference {args.reference} has shape {ref.data.shape} but --ct has {vol.data.shape}; give the "
                "full-dose image of the same slices"
            )
    roi = _roi_mask(vol.data.shape, args.roi) if args.roi else None

    t0 = time.perf_counter()
    last = [-1.0]

    def progress(fraction: float, message: str) -> None:
        if fraction - last[0] >= 0.1 or fraction >= 1.0:
            last[0] = fraction
            print(f"[{time.perf_counter() - t0:6.1f} s {100 * fraction:3.0f}%] {message}", flush=True)

    result = denoise(vol, method=args.method, weights=args.weights, options=options, blend=args.blend,
                     device=args.device, progress=progress)
    for note in result.notes:
        print(f"note: {note}")
    written = write_ct_image(result.volume, args.out, overwrite=args.overwrite, protect=inputs)
    print(f"wrote {written} ({args.method}, {result.seconds:.1f} s)")

    window = [float(args.window[0]), float(args.window[1])]
    doc: dict = {"method": args.method, "input": {}, "output": {}, "window_hu": window}
    if ref is not None:
        doc["input"] = image_quality(vol.data, ref.data, window=window)
        doc["output"] = image_quality(result.image, ref.data, window=window)
    if roi is not None:
        doc["input"]["noise_sd"] = noise_sd(vol.data, roi)
        doc["output"]["noise_sd"] = noise_sd(result.image, roi)
        doc["roi"] = {"rows": [args.roi[0], args.roi[1]], "columns": [args.roi[2], args.roi[3]]}
    doc.update({"seconds": round(result.seconds, 3), "parameters": result.parameters, "ct": str(args.ct),
                "reference": None if args.reference is None else str(args.reference), "out": str(written),
                "notes": result.notes})
    if ref is not None or roi is not None:
        print(f"{'':8s} {'PSNR dB':>8s} {'SSIM':>6s} {'RMSE HU':>8s} {'noise SD':>9s}   (window {window[0]:g} to "
              f"{window[1]:g} HU)")
        for key in ("input", "output"):
            m = doc[key]
            cells = [f"{m['psnr']:8.2f}" if "psnr" in m else f"{'-':>8s}",
                     f"{m['ssim']:6.3f}" if "ssim" in m else f"{'-':>6s}",
                     f"{m['rmse']:8.1f}" if "rmse" in m else f"{'-':>8s}",
                     f"{m['noise_sd']:9.1f}" if "noise_sd" in m else f"{'-':>9s}"]
            print(f"{key:8s} " + " ".join(cells))
    if args.json is not None:
        print(f"wrote {write_json(doc, args.json, protect=inputs + [str(written)])}")
    return 0
