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
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402
from isles_baseline import CASE, case_files, run_case  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--model", default=None, help="also time --method model with this model folder")
    p.add_argument("--threads", type=int, default=1, help="torch threads for the model (default 1)")
    _common.add_record_option(p)
    args = p.parse_args(argv)
    run = _common.start("stroke", args)
    files = case_files()
    if not files["dwi"].exists():
        print(f"ISLES'22 case not found at {CASE}; nothing to time")
        return 0
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
        run.record(case="isles22_case0009", method=res.method, repeats=len(times), median_s=round(med, 3),
                   min_s=round(min(times), 3), max_s=round(max(times), 3))
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
