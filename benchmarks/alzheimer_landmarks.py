"""Does landmark discovery find the planted atrophy? A cohort simulated from the real IXI scans.

1. Simulate a cohort (``simulate_cohort``: ``--subjects`` 40, ``--severity`` 0.2, ``--seed`` 0) from
   ``shared/data/brain_t1_ixi`` into ``--dir``/cohort, or reuse ``--cohort DIR``.
2. Discover landmarks (:func:`napari_medai.core.tasks.alzheimer.landmarks.discover_landmarks`: every
   T1 affinely registered to MNI152 on the 2 mm cohort grid, one ITK thread, aligned volumes and
   transforms cached in ``--dir``/work; Welch t-test of 4 mm-smoothed intensity; ``--n`` 50 landmarks
   at least ``--min-distance`` 15 mm apart; a subject whose registration is refused is left out and
   listed).
3. Map every subject's parcellation (``dlmuse/<subject>.nii.gz``, the simulator's labels on the
   subject's grid) through the same transform onto the template grid (nearest neighbour); a region's
   centre is the centroid of its label counts over the subjects (a probability-weighted centroid),
   its template-space mask where at least half the subjects carry its label.
4. Print, per planted region and side, the distance from its centre to the nearest landmark (and that
   landmark's rank), and how many of the top ``--n`` landmarks fall inside, or within 2 voxels of, the
   planted regions (hippocampus, entorhinal area, amygdala, lateral and inferior lateral ventricles),
   beside the share of the analysis mask those dilated regions cover (what random points would score);
   then the registration seconds per subject and the whole run's.

Run: ``nice -n 10 python benchmarks/alzheimer_landmarks.py --dir /tmp/alz_landmarks`` (add
``--cohort DIR`` to reuse a simulated cohort). One run (no repeats); needs ``shared/data``. The
machine's conditions are printed with the figures (``benchmarks/_common.py``); ``--record FILE``
appends them to a JSON-lines history.
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

DATA = ROOT.parent / "shared" / "data"
TEMPLATE_DIR = DATA / "brain_t1"
IXI = DATA / "brain_t1_ixi"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, required=True, help="working folder (cohort, work, outputs)")
    ap.add_argument("--cohort", type=Path, default=None, help="reuse this simulated cohort")
    ap.add_argument("--subjects", type=int, default=40)
    ap.add_argument("--severity", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--n", type=int, default=50)
    ap.add_argument("--min-distance", type=float, default=15.0)
    ap.add_argument("--fwhm", type=float, default=4.0)
    _common.add_record_option(ap)
    args = ap.parse_args()
    run = _common.start("alzheimer_landmarks", args)

    import numpy as np
    import SimpleITK as sitk
    from scipy import ndimage

    from napari_medai.core.io import read_volume
    from napari_medai.core.io.itk import volume_to_sitk
    from napari_medai.core.tasks.alzheimer.cohort import MUSE_CODES, simulate_cohort
    from napari_medai.core.tasks.alzheimer.landmarks import discover_landmarks, write_landmarks

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    if not IXI.is_dir() or not TEMPLATE_DIR.is_dir():
        print(f"needs {IXI} and {TEMPLATE_DIR}")
        return 1
    t_start = time.perf_counter()
    cohort = args.cohort
    if cohort is None:
        cohort = args.dir / "cohort"
        t0 = time.perf_counter()
        simulate_cohort(cohort, n_subjects=args.subjects, severity=args.severity, seed=args.seed, source_dir=IXI)
        print(f"simulated {args.subjects} subjects (severity {args.severity}, seed {args.seed}) in "
              f"{time.perf_counter() - t0:.1f} s")
    labels = cohort / "labels.csv"
    res = discover_landmarks(cohort, labels, work_dir=args.dir / "work", template=TEMPLATE_DIR, n=args.n,
                             min_distance_mm=args.min_distance, fwhm_mm=args.fwhm, threads=1, drop_failed=True,
                             progress=lambda f, m: print(f"  [{time.perf_counter() - t_start:6.1f} s] {m}", flush=True))
    rows = [{"subject": s.subject} for s in res.cohort.subjects]
    out_csv = write_landmarks(res.landmarks, args.dir / "landmarks.csv")
    print(res.cohort.note)
    print(f"wrote {out_csv}")

    grid = res.cohort.grid
    ref = volume_to_sitk(grid)
    codes = {f"{side}_{region}": code for region, sides in MUSE_CODES.items() for side, code in sides.items()}
    counts = {name: np.zeros(grid.spatial_shape, np.float32) for name in codes}
    print(f"{len(res.cohort.dropped)} subject(s) left out: {res.cohort.dropped or 'none'}")
    for r in rows:
        lab = read_volume(cohort / "dlmuse" / f"{r['subject']}.nii.gz", as_label=True)
        tx = sitk.ReadTransform(str(res.cohort.transforms[r["subject"]]))
        moved = sitk.GetArrayFromImage(sitk.Resample(volume_to_sitk(lab), ref, tx, sitk.sitkNearestNeighbor, 0))
        for name, code in codes.items():
            counts[name] += moved == code
    n_sub = len(rows)
    lm_world = np.array([grid.index_to_world(np.asarray(lm.index, float)[None])[0] for lm in res.landmarks])
    print(f"\n{'planted region':<34}{'centre MNI (x, y, z) mm':>26}{'nearest landmark':>18}{'rank':>6}{'p':>10}")
    union = np.zeros(grid.spatial_shape, bool)
    dists = []
    for name in codes:
        mask = counts[name] >= n_sub / 2
        union |= mask
        if not counts[name].any():
            print(f"{name:<34}{'(not found)':>26}")
            continue
        idx = np.argwhere(counts[name] > 0)
        c_index = (idx * counts[name][tuple(idx.T)][:, None]).sum(0) / counts[name].sum()
        c_world = grid.index_to_world(c_index[None])[0]
        c_mni = (-c_world[2], -c_world[1], c_world[0])
        d = np.linalg.norm(lm_world - c_world, axis=1)
        k = int(np.argmin(d))
        dists.append(float(d[k]))
        print(f"{name:<34}{'({:.0f}, {:.0f}, {:.0f})'.format(*c_mni):>26}{d[k]:>15.1f} mm{res.landmarks[k].rank:>6}"
              f"{res.landmarks[k].p_value:>10.2g}")
    near = ndimage.binary_dilation(union, iterations=2)
    hits = [lm.rank for lm in res.landmarks if near[lm.index]]
    inside = [lm.rank for lm in res.landmarks if union[lm.index]]
    analysis = res.maps.mask
    chance = float((near & analysis).sum() / analysis.sum())
    top10 = sum(r <= 10 for r in hits)
    print(f"\ntop {len(res.landmarks)} landmarks: {len(inside)} inside the planted regions, {len(hits)} inside or "
          f"within 2 voxels ({2 * grid.spacing[0]:g} mm) of them (ranks {hits}); of the top 10: {top10}")
    print(f"the dilated planted regions cover {100 * chance:.1f} % of the {int(analysis.sum())} analysed voxels "
          f"(random points: {chance * len(res.landmarks):.1f} of {len(res.landmarks)} expected)")
    print(f"median distance planted centre -> nearest landmark: {statistics.median(dists):.1f} mm "
          f"(max {max(dists):.1f} mm) over {len(dists)} regions")
    secs = list(res.cohort.seconds_per_subject.values())
    cpu = list(res.cohort.cpu_seconds_per_subject.values()) or [float("nan")]
    print(f"registration per subject (one ITK thread, 2 mm grid): wall median {statistics.median(secs):.1f} s, "
          f"range {min(secs):.1f}-{max(secs):.1f} s; CPU median {statistics.median(cpu):.1f} s, range "
          f"{min(cpu):.1f}-{max(cpu):.1f} s ({res.cohort.reused} reused from the cache); discover: "
          f"align {res.seconds['align']:.1f} s, compare {res.seconds['compare']:.1f} s, select "
          f"{res.seconds['select']:.2f} s; whole run {time.perf_counter() - t_start:.1f} s")
    run.record(subjects=n_sub, dropped=len(res.cohort.dropped), landmarks=len(res.landmarks), inside=len(inside),
               near=len(hits), top10_near=top10, chance_fraction=round(chance, 4),
               median_centre_distance_mm=round(statistics.median(dists), 2), registration_s_median=round(
                   statistics.median(secs), 2), registration_cpu_s_median=round(statistics.median(cpu), 2),
               whole_run_s=round(time.perf_counter() - t_start, 1))
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
