"""``napari-medai simulate-low-dose``: a reduced-dose CT scan simulated from a full-dose one.

Noise is inserted in the projection domain (:func:`napari_medai.core.simulation.simulate_low_dose`:
parallel-beam projection, Poisson counts at ``I0 x dose``, filtered back-projection), slice by
slice along the first array axis. ``--reference`` also writes the noise-free reconstruction of the
same geometry, the fair full-dose reference of the simulated image.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

NAME = "simulate-low-dose"
HELP = "simulate a reduced-dose CT scan (projection-domain Poisson noise) from a full-dose image"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ct", required=True, type=Path, metavar="CT",
                        help="full-dose CT in HU (NIfTI, NRRD, MHA, DICOM, .npy, or .raw with its shape in the name)")
    parser.add_argument("--dose-fraction", type=float, default=0.25, metavar="D",
                        help="dose relative to the input, in (0, 1] (default 0.25: quarter dose)")
    parser.add_argument("--i0", type=float, default=1e5, metavar="N",
                        help="full-dose photons per ray (default 1e5, clinical; lower = noisier)")
    parser.add_argument("--electronic-noise", type=float, default=0.0, metavar="SD",
                        help="SD of Gaussian electronic noise on the counts (default 0)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--pixel-size", type=float, default=None, metavar="MM",
                        help="in-plane pixel size in mm; needed for .npy/.raw inputs, which store none")
    parser.add_argument("--out", required=True, type=Path, metavar="OUT",
                        help="output file; its extension picks the format (.nii.gz, .nrrd, .mha, .npy, .raw)")
    parser.add_argument("--reference", type=Path, default=None, metavar="REF",
                        help="also write the noise-free reconstruction (same geometry) here")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output files (never the input)")


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError
    from ..core.evaluate import check_output_path
    from ..core.io import read_volume
    from ..core.simulation import simulate_low_dose, simulate_low_dose_pair
    from ..core.tasks.ldct._common import as_image, pixel_size_of
    from ..core.tasks.ldct.output import write_ct_image

    vol = read_volume(args.ct, as_label=False)
    image, _ = as_image(vol, what=str(args.ct))
    px = args.pixel_size if args.pixel_size is not None else pixel_size_of(vol)
    if px is None:
        raise InvalidInputError(
            f"{args.ct}: a {vol.meta.get('format')} file stores no pixel size, and the noise level depends on it; "
            "give --pixel-size MM (e.g. 0.7 for a 36 cm field of view at 512 pixels)"
        )
    protect = [str(args.ct)]
    for target in (args.out, args.reference):
        if target is None:
            continue
        check_output_path(target, protect)
        if target.exists() and not args.overwrite:
            raise InvalidInputError(f"{target}: already exists; pass --overwrite or choose another name")
    if args.reference is not None and args.reference.expanduser().absolute() == args.out.expanduser().absolute():
        raise InvalidInputError("--out and --reference name the same file; give two names")
    opts = {"pixel_size_mm": px, "dose_fraction": args.dose_fraction, "i0": args.i0,
            "electronic_noise_sd": args.electronic_noise, "seed": args.seed}
    n = 1 if image.ndim == 2 else image.shape[0]
    print(f"simulating {args.dose_fraction:g} x dose (I0 {args.i0:g}, seed {args.seed}) of {args.ct} "
          f"({n} slice(s) of {image.shape[-2]} x {image.shape[-1]} at {px:g} mm)", flush=True)
    t0 = time.perf_counter()
    ref = None
    if args.reference is not None:
        low, ref = simulate_low_dose_pair(image, **opts)
    else:
        low = simulate_low_dose(image, **opts)
    meta = {**vol.meta, "simulated_low_dose": dict(opts)}
    out_vol = vol.with_data(low, source=None, name=f"{vol.name}_dose{args.dose_fraction:g}", meta=meta,
                            modality="CT", units="HU")
    written = write_ct_image(out_vol, args.out, overwrite=args.overwrite, protect=protect)
    print(f"wrote {written} ({time.perf_counter() - t0:.1f} s)")
    if ref is not None:
        ref_vol = vol.with_data(ref, source=None, name=f"{vol.name}_noise_free", modality="CT", units="HU")
        print(f"wrote {write_ct_image(ref_vol, args.reference, overwrite=args.overwrite, protect=protect)} "
              "(noise-free reconstruction, the reference of the simulated image)")
    return 0
