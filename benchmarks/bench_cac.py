"""Benchmark of coronary calcium scoring: candidates, automatic assignment, scoring.

Cases: the two real non-contrast chest CTs of ``../shared/data/ct_chest_noncontrast`` (512 x 512 x
48 and x 61 voxels, 5 mm slices; skipped when the folder is absent) and the ``cardiac_ct`` phantom
(24 x 272 x 320, 3 mm). For each: the median wall time over ``--repeats`` runs of
:func:`find_candidates`, :func:`auto_assign` (anatomy included) and :func:`score`, their sum, the
number of candidates and 3-D groups, how many groups were called coronary, and the total Agatston
score. Reading the file is not timed.

Run: ``PYTHONPATH=src python benchmarks/bench_cac.py [--repeats 3] [--record FILE]``

The machine's conditions are printed with the figures (``benchmarks/_common.py``); ``--record FILE``
appends one JSON line per case to a history file.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402

from napari_medai.core.errors import MedaiWarning  # noqa: E402
from napari_medai.core.io import read_volume  # noqa: E402
from napari_medai.core.phantoms import make_phantom  # noqa: E402
from napari_medai.core.tasks.cac import auto_assign, find_candidates, score  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "ct_chest_noncontrast"


def _median_time(fn, repeats):
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def bench(name, ct, repeats, run=None):
    t_c, (cand, lesions) = _median_time(lambda: find_candidates(ct), repeats)
    t_a, assignment = _median_time(lambda: auto_assign(ct, cand), repeats)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MedaiWarning)
        t_s, result = _median_time(lambda: score(ct, assignment), repeats)
    counts = assignment.meta["group_counts"]
    coronary = sum(counts[k] for k in ("LM", "LAD", "LCX", "RCA"))
    shape = "x".join(str(s) for s in ct.spatial_shape)
    print(f"{name:<10}{shape:>13}{t_c:>9.2f}{t_a:>9.2f}{t_s:>9.2f}{t_c + t_a + t_s:>9.2f}"
          f"{len(lesions):>8}{cand.meta['n_groups']:>8}{coronary:>6}{result.total:>10.1f}")
    if run is not None:
        run.record(case=name, shape=list(ct.spatial_shape), repeats=repeats, candidates_s=round(t_c, 3),
                   assign_s=round(t_a, 3), score_s=round(t_s, 3), total_s=round(t_c + t_a + t_s, 3),
                   agatston=float(result.total))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=3)
    _common.add_record_option(p)
    args = p.parse_args(argv)
    run = _common.start("cac", args)
    print(f"median of {args.repeats} runs, seconds; 'coronary' = 3-D candidate groups called LM/LAD/LCX/RCA")
    print(f"{'case':<10}{'shape':>13}{'cand':>9}{'assign':>9}{'score':>9}{'total':>9}"
          f"{'cands':>8}{'groups':>8}{'cor.':>6}{'Agatston':>10}")
    for name in ("lung1", "lung2"):
        path = DATA / f"{name}_image.nrrd"
        if not path.exists():
            print(f"{name:<10} skipped: {path} not found")
            continue
        bench(name, read_volume(path), args.repeats, run)
    bench("phantom", make_phantom("cardiac_ct", seed=0)["ct"], args.repeats, run)
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
