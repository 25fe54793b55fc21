"""Benchmark of the agreement metrics against MONAI on CPU.

Every figure is printed with the machine's conditions (core count, load average, library versions,
git commit: ``benchmarks/_common.py``); ``--record FILE`` appends one JSON line per figure to a
history file. Ours and MONAI's calls are interleaved (ours, MONAI, ours, MONAI, ...) so that load
from other processes hits both alike; MONAI's input tensors are built outside the timed region, and
torch runs one thread (MONAI's distance transform is scipy's, single-threaded). Times are wall clock,
best and median of the repeats, with the CPU time of the process beside them (it moves much less
with the load of other processes).

HD95 alone, :func:`hausdorff95` next to MONAI's ``HausdorffDistanceMetric(percentile=95)``, on
binary pairs of every kind the agreement panel meets:

* brain mild: the 240x240x155 1 mm whole tumour of the real BraTS 2013 ``OTMultiClass`` labels of
  ``../shared/data`` (a synthetic brain tumour when absent) against a model-like copy (boundary one
  voxel in or out, core shifted one voxel, a false-positive blob far away);
* brain harsh: against the tumour eroded 2 voxels and shifted 2;
* far apart: against the tumour moved 20 voxels sideways (most distances beyond the short walk);
* anisotropic: the harsh pair with every third slice only, at 3 x 0.9 x 0.9 mm;
* CT-sized: a 512x512x300 organ at 1.25 x 0.7 x 0.7 mm against a shifted, resized copy;
* tiny lesion: a 5 mm lesion (and its shifted copy) in the same 512x512x300 volume;
* empty: an empty prediction against the brain tumour (ours: ``inf``; MONAI: NaN, both meaning
  "undefined"; the convention-aware table applies the convention's rule instead).

The values must agree within 0.01 mm (``tests/core/test_metrics_monai_pairs.py`` checks small
versions of every kind). Then the full table (:func:`compute_table`: every region and label, every
metric, lesion-wise scores included) of the brain pairs and the CT pair, and the live update: the
table recomputed after 10x10x1 brush strokes with a :class:`TableCache` told where the stroke is
(``note_change``, what the agreement panel does), checked equal to a recomputation from scratch.

Run: ``PYTHONPATH=src python benchmarks/bench_metrics.py [--repeats 5] [--skip-ct] [--skip-monai]
[--record FILE]``
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402

from napari_medai.core.metrics import TableCache, compute_table, hausdorff95  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "brats2013_flair_t1c"
#: Wanted speed-up of HD95 over MONAI and the largest difference of their values (mm).
TARGET_SPEEDUP = 10.0
TOLERANCE_MM = 0.01


def _monai_hd95(pm, gm, spacing):
    """A function computing MONAI's HD95 of one binary pair (tensors built here, outside the timing)."""
    import torch
    from monai.metrics import HausdorffDistanceMetric

    yp = torch.from_numpy(pm[None, None].astype(np.float32))
    yg = torch.from_numpy(gm[None, None].astype(np.float32))
    metric = HausdorffDistanceMetric(include_background=True, percentile=95)

    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = metric(yp, yg, spacing=list(spacing))
        metric.reset()
        return float(v[0, 0])

    return run


# ------------------------------------------------------------------------------------ data
def brain_pairs():
    """(description, gt labels, [(perturbation name, pred labels)], spacing, convention)."""
    files = sorted(DATA.glob("*/OTMultiClass.nii.gz")) if DATA.is_dir() else []
    if files:
        from napari_medai.core.io import read_volume

        vol = read_volume(files[0], as_label=True)
        gt = np.ascontiguousarray(vol.data).astype(np.uint8)
        desc = f"real BraTS 2013 labels {files[0].parent.name}, shape {gt.shape}, spacing {vol.spacing}"
        spacing = tuple(vol.spacing)
    else:
        gt = _synthetic_brain()
        desc = f"synthetic brain tumour labels (no ../shared/data), shape {gt.shape}, 1 mm"
        spacing = (1.0, 1.0, 1.0)
    return desc, gt, _perturb_brain(gt), spacing, "brats2013"


def _synthetic_brain():
    z, y, x = np.ogrid[:155, :240, :240]
    gt = np.zeros((155, 240, 240), np.uint8)
    r = ((z - 80) / 30.0) ** 2 + ((y - 110) / 40.0) ** 2 + ((x - 140) / 35.0) ** 2
    gt[r <= 1] = 2
    gt[r <= 0.35] = 4
    gt[r <= 0.15] = 1
    gt[((z - 80) / 6.0) ** 2 + ((y - 150) / 6.0) ** 2 + ((x - 150) / 6.0) ** 2 <= 1] = 3
    return gt


def _perturb_brain(gt):
    """A model-like error: boundary one voxel in/out by half, core shifted, a missed bit, a FP blob."""
    tumour = gt > 0
    half = np.zeros(gt.shape, bool)
    half[:, :, : gt.shape[2] // 2 + 5] = True
    grown = ndi.binary_dilation(tumour) & ~tumour
    shrunk = tumour & ~ndi.binary_erosion(tumour)
    mild = gt.copy()
    mild[grown & half] = 2
    mild[shrunk & ~half] = 0
    core = np.isin(gt, (1, 3, 4))
    mild[core] = 2
    shifted = np.roll(np.where(core, gt, 0), 1, axis=1)
    mild[shifted > 0] = shifted[shifted > 0]
    zc, yc, xc = (int(c) for c in ndi.center_of_mass(tumour))
    mild[max(zc - 40, 0) : max(zc - 40, 0) + 6, 20:26, 30:36] = 2  # a false-positive blob
    harsh = np.where(np.roll(ndi.binary_erosion(tumour, iterations=2), 2, axis=0), np.roll(gt, 2, axis=0), 0)
    return [("mild (boundary +-1 voxel, core shifted 1, FP blob)", mild.astype(np.uint8)),
            ("harsh (eroded 2 + shifted 2 voxels)", harsh.astype(np.uint8))]


def ct_pair(shape=(300, 512, 512)):
    """Synthetic CT-sized organ + lesions pair (labels 1 organ, 2 lesion), 1.25 x 0.7 x 0.7 mm."""
    spacing = (1.25, 0.7, 0.7)
    z, y, x = (np.arange(n, dtype=np.float32) * s for n, s in zip(shape, spacing))
    z, y, x = z[:, None, None], y[None, :, None], x[None, None, :]
    cz, cy, cx = (n * s / 2 for n, s in zip(shape, spacing))

    def ellipsoid(c, r):
        return ((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2 <= 1

    gt = np.zeros(shape, np.uint8)
    pred = np.zeros(shape, np.uint8)
    gt[ellipsoid((cz, cy, cx), (70, 90, 100))] = 1
    pred[ellipsoid((cz + 1.25, cy - 1.4, cx), (71, 89, 100))] = 1
    lesions = [((cz - 20, cy, cx - 30), 12.0), ((cz + 15, cy + 30, cx + 20), 8.0), ((cz, cy - 40, cx + 40), 5.0)]
    for i, (c, r) in enumerate(lesions):
        gt[ellipsoid(c, (r, r, r))] = 2
        if i < 2:  # the smallest lesion is missed
            pred[ellipsoid((c[0] + 1.25, c[1], c[2] + 0.7), (r * 0.9, r, r))] = 2
    pred[ellipsoid((cz + 40, cy + 10, cx - 50), (4, 4, 4))] = 2  # a false positive
    return gt, pred, spacing


def hd95_pairs(gt, pairs, spacing, *, ct):
    """[(name, pred mask, gt mask, spacing)] of every pair kind (the CT-sized ones unless ``ct`` is None)."""
    wt = gt > 0
    mild = pairs[0][1] > 0
    harsh = pairs[1][1] > 0
    far = np.roll(wt, 20, axis=2)
    out = [("brain mild (boundary +-1, core shifted 1, FP blob)", mild, wt, spacing),
           ("brain harsh (eroded 2 + shifted 2)", harsh, wt, spacing),
           ("brain far apart (moved 20 voxels sideways)", far, wt, spacing),
           ("anisotropic (harsh, every 3rd slice, 3 x 0.9 x 0.9 mm)", np.ascontiguousarray(harsh[::3]),
            np.ascontiguousarray(wt[::3]), (3.0, 0.9, 0.9))]
    if ct is not None:
        gt_ct, pred_ct, sp_ct = ct
        out.append(("CT-sized 512x512x300 organ, 1.25 x 0.7 x 0.7 mm", pred_ct > 0, gt_ct > 0, sp_ct))
        tiny_g, tiny_p = tiny_lesion_pair(gt_ct.shape, sp_ct)
        out.append(("tiny 5 mm lesion in 512x512x300, 1.25 x 0.7 x 0.7 mm", tiny_p, tiny_g, sp_ct))
    out.append(("empty prediction vs the brain tumour", np.zeros_like(wt), wt, spacing))
    return out


def tiny_lesion_pair(shape, spacing):
    """A 5 mm (diameter) lesion and a copy shifted by one voxel and 1 mm wider, in a big volume."""
    center = [int(n * 0.6) for n in shape]
    half = [int(np.ceil(4.0 / s)) + 2 for s in spacing]
    grids = np.meshgrid(*[np.arange(-h, h + 1) * s for h, s in zip(half, spacing)], indexing="ij", sparse=True)
    box = tuple(slice(c - h, c + h + 1) for c, h in zip(center, half))

    def place(offset_mm, r_mm):
        out = np.zeros(shape, bool)
        out[box] = sum((g - o) ** 2 for g, o in zip(grids, offset_mm)) <= r_mm ** 2
        return out

    return place((0.0, 0.0, 0.0), 2.5), place((spacing[0], 0.0, spacing[2]), 3.0)


# ------------------------------------------------------------------------------------ runs
def bench_hd95(run, name, pm, gm, spacing, *, repeats, monai):
    """HD95 of one binary pair, ours next to MONAI's, interleaved."""
    big = pm.size > 2e7
    reps = max(2, repeats // 2) if big else repeats
    fns = [lambda: hausdorff95(pm, gm, spacing=spacing)]
    if monai:
        fns.append(_monai_hd95(pm, gm, spacing))
    timings, values = _common.interleaved(fns, reps)
    ours = timings[0]
    line = (f"  {name:<58} ours {ours.ms_best:7.1f} / {ours.ms_median:7.1f} ms (CPU {ours.cpu_ms_best:6.1f})"
            f"  value {values[0]:8.4f} mm")
    rec = {"what": "hd95", "pair": name, "shape": list(pm.shape), "spacing": list(spacing), "repeats": reps,
           "value_mm": values[0], **ours.as_record("ours")}
    if monai:
        theirs = timings[1]
        both_nan = not (np.isfinite(values[0]) or np.isfinite(values[1]))
        diff = 0.0 if both_nan else abs(values[0] - values[1])
        speed = theirs.best / ours.best
        speed_med = theirs.median / ours.median
        ok = "ok" if speed >= TARGET_SPEEDUP and (diff <= TOLERANCE_MM or not np.isfinite(values[0])) else "MISSED"
        line += (f" | MONAI {theirs.ms_best:7.1f} / {theirs.ms_median:7.1f} ms (CPU {theirs.cpu_ms_best:6.1f})"
                 f"  value {values[1]:8.4f} mm | x{speed:5.1f} best, x{speed_med:5.1f} median, "
                 f"x{theirs.cpu_ms_best / ours.cpu_ms_best:5.1f} CPU  [{ok}]")
        rec.update(monai_value_mm=values[1], speedup_best=round(speed, 2), speedup_median=round(speed_med, 2),
                   **theirs.as_record("monai"))
    print(line, flush=True)
    run.record(**rec)


def bench_table(run, title, gt, pred, spacing, convention, *, lesion_style, repeats, live):
    """Time of the full table, and of a live update after brush strokes."""
    (t,), (table,) = _common.interleaved(
        [lambda: compute_table(pred, gt, spacing=spacing, convention=convention, lesion_style=lesion_style)],
        repeats)
    n_rows = len(table["regions"]) + len(table["labels"])
    hd = {r: round(row["hd95_mm"], 4) for r, row in table["regions"].items()}
    print(f"  {title:<58} full table ({n_rows} rows) {t.ms_best:7.1f} / {t.ms_median:7.1f} ms "
          f"(CPU {t.cpu_ms_best:6.1f}); HD95 by region {hd}", flush=True)
    run.record(what="table", pair=title, shape=list(gt.shape), spacing=list(spacing), convention=convention,
               lesion_style=lesion_style, repeats=repeats, **t.as_record("table"))
    if live:
        _bench_live(run, title, gt, pred, spacing, convention, lesion_style, max(5, repeats))


def _bench_live(run, title, gt, pred, spacing, convention, lesion_style, strokes):
    """Recompute after 10x10x1 brush strokes (paint, then erase) on the prediction's boundary."""
    fg = pred > 0
    edge = np.argwhere(fg & ~ndi.binary_erosion(fg))
    rng = np.random.default_rng(0)
    values = sorted(set(np.unique(pred).tolist()) - {0})
    kw = {"spacing": spacing, "convention": convention, "lesion_style": lesion_style}
    noted = TableCache()
    compute_table(pred, gt, cache=noted, **kw)
    t_noted, c_noted = [], []
    work = pred.copy()
    checked = 0
    for k in range(strokes):
        z, y, x = edge[rng.integers(len(edge))]
        box = ((int(z), int(z) + 1), (max(int(y) - 5, 0), int(y) + 5), (max(int(x) - 5, 0), int(x) + 5))
        sl = tuple(slice(a, b) for a, b in box)
        work[sl] = values[k % len(values)] if k % 2 == 0 else 0
        c0, t0 = time.process_time(), time.perf_counter()
        noted.note_change(pred=box, gt=None)
        a = compute_table(work, gt, cache=noted, **kw)
        t_noted.append(time.perf_counter() - t0)
        c_noted.append(time.process_time() - c0)
        if k < 3:  # the first strokes are checked against a recomputation from scratch
            assert _same_table(a, compute_table(work, gt, **kw)), "a live update differs from the full recompute"
            checked += 1
    med, worst = statistics.median(t_noted), max(t_noted)
    print(f"  {'':<58} live update after a 10x10x1 stroke (TableCache + note_change, {strokes} strokes): "
          f"median {med * 1e3:6.1f} ms, max {worst * 1e3:6.1f} ms, CPU median "
          f"{statistics.median(c_noted) * 1e3:6.1f} ms; first {checked} equal to a full recompute", flush=True)
    run.record(what="live_update", pair=title, strokes=strokes, live_ms_median=round(med * 1e3, 2),
               live_ms_max=round(worst * 1e3, 2), live_cpu_ms_median=round(statistics.median(c_noted) * 1e3, 2),
               live_ms_all=[round(x * 1e3, 2) for x in t_noted])


def _same_table(a, b):
    """Exact equality of two tables (NaN equals NaN)."""
    if isinstance(a, dict):
        return isinstance(b, dict) and list(a) == list(b) and all(_same_table(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same_table(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and a != a:
        return isinstance(b, float) and b != b
    return a == b


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--skip-ct", action="store_true", help="skip the 512x512x300 pairs")
    ap.add_argument("--skip-monai", action="store_true")
    ap.add_argument("--skip-table", action="store_true", help="HD95 only")
    ap.add_argument("--only", default="", help="run only the pairs whose name contains this text")
    _common.add_record_option(ap)
    args = ap.parse_args(argv)
    run = _common.start("metrics", args)
    monai = not args.skip_monai
    if monai:
        try:
            import monai as _m  # noqa: F401
            import torch

            torch.set_num_threads(1)
        except ImportError:
            print("MONAI/torch not installed: MONAI comparisons skipped")
            monai = False
    desc, gt, pairs, spacing, conv = brain_pairs()
    print(f"brain pair: {desc}")
    ct = None
    if not args.skip_ct:
        t0 = time.perf_counter()
        ct = ct_pair()
        print(f"CT-sized synthetic pair built in {time.perf_counter() - t0:.1f} s")
    print(f"\n== HD95 alone: ours (hausdorff95) vs MONAI HausdorffDistanceMetric(percentile=95); best / median of "
          f"{args.repeats} (2 for the 512x512x300 volumes), target x{TARGET_SPEEDUP:g}, same value within "
          f"{TOLERANCE_MM} mm", flush=True)
    for name, pm, gm, sp in hd95_pairs(gt, pairs, spacing, ct=ct):
        if args.only in name:
            bench_hd95(run, name, pm, gm, sp, repeats=args.repeats, monai=monai)
    if not args.skip_table:
        print("\n== full table and live update (best / median)", flush=True)
        for name, pred in pairs:
            title = f"brain {name.split(' (')[0]}, {conv}"
            if args.only in title:
                bench_table(run, title, gt, pred, spacing, conv, lesion_style="brats2023",
                            repeats=args.repeats, live=True)
        if ct is not None and args.only in "CT-sized organ + lesions":
            bench_table(run, "CT-sized organ + lesions", ct[0], ct[1], ct[2], "organ=1,2;lesion=2",
                        lesion_style="isles", repeats=max(1, min(args.repeats, 3)), live=True)
    run.finish()


if __name__ == "__main__":
    main()
