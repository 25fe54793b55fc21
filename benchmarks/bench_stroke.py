"""Seconds from files to lesion table for each stroke method on the real ISLES'22 case.

Case: ``../shared/data/isles22_case0009`` (DWI + ADC 112 x 112 x 73 at 2 mm, FLAIR 512 x 512 x 29 on
another grid; skipped when absent). Timed per run: reading the three NIfTI files and their sidecars,
the input checks (unit detection, FLAIR resampling), the mid-sagittal plane, the segmentation, the
lesion table and the DWI-FLAIR mismatch, i.e. what ``napari-medai stroke`` does before writing.
Methods: ``threshold`` always; ``model`` when ``--model DIR`` is given (loading the model is timed
separately and not included). Prints the median and range over ``--repeats`` runs, with the core
count, the load average and the library versions; ``--record FILE`` appends one JSON line per method.

Run: ``PYTHONPATH=src python benchmarks/bench_stroke.py [--repeats 3] [--model DIR] [--threads 1] [--record FILE]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from isles_baseline import CASE, case_files, run_case  # noqa: E402


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in ("numpy", "scipy", "skimage", "nibabel", "torch", "monai"):
        try:
            mod = __import__(name)
            out[name] = getattr(mod, "__version__", "?")
        except ImportError:
            out[name] = "absent"
    from napari_medai import __version__

    out["napari_medai"] = __version__
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default=None, help="also time --method model with this model folder")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the model (default 1)")
    p.add_argument("--record", default=None, help="append one JSON line per method to this file")
    args = p.parse_args(argv)
    files = case_files()
    if not files["dwi"].exists():
        print(f"ISLES'22 case not found at {CASE}; nothing to time")
        return 0
    versions = _versions()
    load = os.getloadavg()
    print(f"cores {os.cpu_count()}, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          + ", ".join(f"{k} {v}" for k, v in versions.items()))
    methods: list[tuple[str, object]] = [("threshold", None)]
    if args.model:
        import torch

        torch.set_num_threads(max(1, args.threads))
        from napari_medai.core.models import load_model

        t0 = time.perf_counter()
        model = load_model(args.model)
        print(f"model {args.model} loaded in {time.perf_counter() - t0:.2f} s (not included below)")
        methods.append(("model", model))
    print(f"{'method':<10}{'median s':>10}{'min s':>8}{'max s':>8}{'lesions':>9}{'total ml':>10}")
    for method, model in methods:
        times, res = [], None
        for _ in range(max(1, args.repeats)):
            res, secs = run_case(files, method=method, model=model)
            times.append(secs)
        med = statistics.median(times)
        print(f"{method:<10}{med:>10.2f}{min(times):>8.2f}{max(times):>8.2f}{len(res.lesions):>9}{res.total_volume_ml:>10.2f}")
        if args.record:
            line = {"bench": "stroke", "case": "isles22_case0009", "method": res.method, "repeats": len(times),
                    "median_s": round(med, 3), "min_s": round(min(times), 3), "max_s": round(max(times), 3),
                    "cores": os.cpu_count(), "loadavg": [round(x, 2) for x in os.getloadavg()],
                    "versions": versions, "time": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
            with open(args.record, "a", encoding="utf-8") as fh:
                fh.write(json.dumps(line) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
