"""Speed of the LDCT denoisers on 512 x 512 slices, and the phantom tuning of the classical ones.

Default mode prints slices per second of every :func:`napari_medai.core.tasks.ldct.denoise`
method on a 512 x 512 CT slice (the real ``ldct_L506`` quarter-dose slice when ``../shared/data``
is present, else the project's ``ldct`` phantom at 512 px), next to scikit-image's own
:func:`skimage.restoration.denoise_nl_means` (fast mode, 5 x 5 patches, 13 x 13 search, h = 0.8
sigma) called directly as the reference point. Network methods run on the CPU with torch's
default threads; ``trained`` times a RED-CNN of 32 filters with random weights (speed depends on
the architecture only); ``noise2self`` is reported as training time for ``--n2s-iterations``
steps plus the time of the final pass.

``--tune`` instead runs the grid search that chose the classical defaults of
:mod:`napari_medai.core.tasks.ldct.classical`: the ``ldct`` phantom (seeds 0 and 1, 256 px,
one slice) at quarter dose with I0 = 1.5e6, 2e5 and 5e4 (about 25, 65 and 130 HU of noise),
every method's strength factor on a grid, scored by PSNR in [-160, 240] HU against the phantom's
noise-free reference; prints the mean PSNR per setting and the best one.

Run: ``PYTHONPATH=src nice -n 10 python benchmarks/bench_ldct.py [--repeat 3] [--methods ...]``
or ``... --tune``. Timings are medians of the repeats (wall clock, this process); the methods run in
turns. The machine's conditions are printed with the figures (``benchmarks/_common.py``) and
``--record FILE`` appends them to a JSON-lines history.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402

from napari_medai.core.tasks.ldct import METHODS, denoise, estimate_noise_sd  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
QD = DATA / "ldct_L506" / "L506_QD_slice32_HU_int16.npy"
SHARED = DATA / "weights" / "redcnn_shared_L1_25.pt"


def _slice() -> tuple[np.ndarray, str]:
    if QD.is_file():
        return np.load(QD).astype(np.float32), f"real quarter-dose slice {QD.name}"
    from napari_medai.core.phantoms import ldct_phantom

    ph = ldct_phantom(seed=0, n_slices=1, size=512)
    return ph["low_dose"].data[0], "ldct phantom, 512 px, quarter dose (shared data absent)"


def bench(args: argparse.Namespace, run: _common.BenchRun | None = None) -> None:
    import torch

    img, what = _slice()
    print(f"image: {what}, {img.shape[0]} x {img.shape[1]}")
    print(f"CPU cores visible: {os.cpu_count()}, torch threads: {torch.get_num_threads()}")
    from skimage.restoration import denoise_nl_means

    s = estimate_noise_sd(img)
    # every timed method with its note, the reference first; they run in turns (method after method,
    # ``--repeat`` rounds) so that load from other processes hits all alike
    timed: list[tuple[str, object, str]] = [
        ("skimage denoise_nl_means (reference)",
         lambda: denoise_nl_means(img.astype(np.float64), h=0.8 * s, sigma=s, patch_size=5, patch_distance=6,
                                  fast_mode=True), "")]
    rows: dict[str, tuple[float, str]] = {}
    order = [timed[0][0]]
    tmp = None
    for m in args.methods:
        order.append(m)
        if m == "redcnn":
            if not SHARED.is_file():
                rows[m] = (float("nan"), "shared weights absent")
                continue
            timed.append((m, lambda: denoise(img, method="redcnn", weights=SHARED, device="cpu"),
                          "shared RED-CNN, 96 filters"))
        elif m == "trained":
            import tempfile

            from napari_medai.core.models.contract import NetworkSpec
            from napari_medai.core.models.loading import save_model_folder
            from napari_medai.core.models.redcnn import build_redcnn
            from napari_medai.core.tasks.ldct import DenoiserContract

            tmp = tempfile.TemporaryDirectory()
            c = DenoiserContract(name="bench", network=NetworkSpec("REDCNN", {"filters": 32}))
            save_model_folder(tmp.name, build_redcnn("standard", filters=32), c)
            timed.append((m, lambda w=tmp.name: denoise(img, method="trained", weights=w, device="cpu"),
                          "RED-CNN 32 filters (random weights: speed only)"))
        elif m == "noise2self":
            r = denoise(img, method="noise2self", options={"iterations": args.n2s_iterations, "seed": 0},
                        device="cpu")
            train = r.parameters["train_seconds"]
            rows[m] = (r.seconds, f"{args.n2s_iterations} training steps: {train:.1f} s, "
                                  f"final pass {r.seconds - train:.2f} s")
        else:
            timed.append((m, lambda m=m: denoise(img, method=m), ""))
    timings, _ = _common.interleaved([fn for _, fn, _ in timed], args.repeat)
    for (name, _, note), t in zip(timed, timings):
        rows[name] = (t.median, note)
    ref = rows[order[0]][0]
    print()
    print("| method | s / slice | slices / s | vs skimage NLM | note |")
    print("|---|---:|---:|---:|---|")
    for name in order:
        t, note = rows[name]
        if not np.isfinite(t):
            print(f"| {name} | - | - | - | {note} |")
            continue
        print(f"| {name} | {t:.3f} | {1.0 / t:.2f} | {ref / t:.2f}x | {note} |")
        if run is not None:
            run.record(image=what, method=name, seconds_per_slice=round(t, 4), vs_skimage_nlm=round(ref / t, 3),
                       note=note)
    if tmp is not None:
        tmp.cleanup()


def tune(args: argparse.Namespace) -> None:
    from napari_medai.core.metrics.image_quality import psnr
    from napari_medai.core.phantoms import ldct_phantom

    cases = []
    for seed in (0, 1):
        for i0 in (1.5e6, 2e5, 5e4):
            ph = ldct_phantom(seed=seed, n_slices=1, size=256, i0=i0)
            cases.append((ph["low_dose"].data[0], ph["full_dose"].data[0]))
    grids = {
        "gaussian": ("sigma_px", None, [0.5, 0.7, 0.8, 0.9, 1.0, 1.1, 1.3, 1.6]),
        "tv": ("weight", "factor", [0.3, 0.6, 0.8, 1.0, 1.3, 1.6, 2.0, 2.5]),
        "nlm": ("h", "factor", [0.6, 0.8, 1.0, 1.2, 1.5, 2.0, 2.5]),
        "bilateral": ("sigma_color", "factor", [0.5, 1.0, 1.5, 2.0, 3.0, 4.0]),
    }
    for method, (param, kind, values) in grids.items():
        print(f"{method}: {param}" + (" = factor x estimated noise SD" if kind else " (pixels)"))
        best = None
        for v in values:
            scores = []
            for low, ref in cases:
                value = v * estimate_noise_sd(low) if kind else v
                out = denoise(low, method=method, options={param: value}).image
                scores.append(psnr(out, ref))
            mean = float(np.mean(scores))
            print(f"  {v:5.2f}: mean PSNR {mean:6.2f} dB  ({', '.join(f'{x:.1f}' for x in scores)})")
            if best is None or mean > best[1]:
                best = (v, mean)
        print(f"  best {best[0]} ({best[1]:.2f} dB)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS))
    ap.add_argument("--n2s-iterations", type=int, default=200)
    ap.add_argument("--tune", action="store_true", help="run the phantom grid search of the classical defaults")
    _common.add_record_option(ap)
    args = ap.parse_args()
    run = _common.start("ldct_tune" if args.tune else "ldct", args)
    if args.tune:
        tune(args)
    else:
        bench(args, run)
    run.finish()


if __name__ == "__main__":
    main()
