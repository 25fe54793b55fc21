"""The CT-angiography baseline rule on CTA stroke phantoms: Dice, sensitivity, specificity per seed.

The rule's parameters (``core/tasks/stroke/baseline_cta.py``, ``CTA_PARAMS``) were chosen on seeds 0-4;
the default seeds 10-14 were not looked at while choosing them. For each seed the phantom's infarct-free
twin (``with_infarct=False``) is also segmented and its false-positive volume
printed.

    .venv/bin/python benchmarks/stroke_cta_phantoms.py [--seeds 10 11 12 13 14] [--record FILE]

The machine's conditions are printed with the figures (``benchmarks/_common.py``); ``--record FILE``
appends one JSON line per seed to a history file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[10, 11, 12, 13, 14])
    _common.add_record_option(ap)
    args = ap.parse_args(argv)
    run = _common.start("stroke_cta_phantoms", args)

    import numpy as np

    from napari_medai.core.metrics.overlap import dice, sensitivity, specificity
    from napari_medai.core.phantoms.stroke import stroke_cta_phantom
    from napari_medai.core.tasks.stroke.baseline_cta import segment_cta_baseline

    rows = []
    print("seed   Dice   sens    spec(all)  seconds  twin FP ml")
    for seed in args.seeds:
        case = stroke_cta_phantom(seed=seed)
        t0 = time.perf_counter()
        mask = segment_cta_baseline(case["cta"])[0]
        sec = time.perf_counter() - t0
        pred, truth = np.asarray(mask.data) > 0, np.asarray(case["lesion"].data) > 0
        d, se, sp = dice(pred, truth), sensitivity(pred, truth), specificity(pred, truth)
        fp = segment_cta_baseline(stroke_cta_phantom(seed=seed, with_infarct=False)["cta"])[0]
        twin = f"{np.count_nonzero(np.asarray(fp.data)) * fp.voxel_volume_mm3 / 1000:.2f}"
        rows.append((d, se, sp))
        print(f"{seed:4d}  {d:.3f}  {se:.3f}  {sp:.5f}    {sec:6.2f}   {twin}")
        run.record(seed=seed, dice=d, sensitivity=se, specificity=sp, seconds=round(sec, 3), twin_fp_ml=float(twin))
    print(f"mean  {statistics.mean(r[0] for r in rows):.3f}  {statistics.mean(r[1] for r in rows):.3f}  "
          f"{statistics.mean(r[2] for r in rows):.5f}")
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
