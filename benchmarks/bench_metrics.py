"""Benchmark of the agreement metrics against MONAI on CPU.

Prints, for a 240x240x155 brain pair at 1 mm (the real BraTS 2013 ``OTMultiClass`` labels of
``../shared/data`` against perturbed copies when the data is present, else a synthetic pair) and
for a 512x512x300 CT-sized synthetic pair at 1.25 x 0.7 x 0.7 mm:

* the time of the full table (:func:`compute_table`: every region and label, every metric,
  lesion-wise scores included);
* the time of HD95 alone next to MONAI's ``HausdorffDistanceMetric(percentile=95)`` on the same
  binary pair, their ratio, and the largest difference between the values (all regions);
* a "live update": the table recomputed after a 10x10x1 brush stroke, with a
  :class:`TableCache` (rows whose masks did not change are reused, edited rows follow the edit),
  with a :class:`TableCache` told where the stroke is (``note_change``, what the agreement panel
  does: only that box of the label maps is read again), and without a cache.

Run: ``PYTHONPATH=src python benchmarks/bench_metrics.py [--repeats 5] [--skip-ct] [--skip-monai]``
Timings are the best and the median of the repeats (wall clock, this process); ours and MONAI's
calls are interleaved so that load from other processes hits both alike, and MONAI's input
tensors are built outside the timed region.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import ndimage as ndi

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_medai.core.metrics import TableCache, compute_table, hausdorff95  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "brats2013_flair_t1c"


def _median_time(fn, repeats):
    """Median wall time of ``repeats`` calls (and the last result)."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def _interleaved(fns, repeats):
    """Best and median time of each function, calls interleaved so that load hits all alike."""
    times = [[] for _ in fns]
    outs = [None] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            t0 = time.perf_counter()
            outs[i] = fn()
            times[i].append(time.perf_counter() - t0)
    return [(min(t), statistics.median(t)) for t in times], outs


def _monai_hd95(masks_pred, masks_gt, spacing):
    """(function computing MONAI's HD95 of the first region, values of all regions)."""
    import torch
    from monai.metrics import HausdorffDistanceMetric

    yp = torch.from_numpy(np.stack(masks_pred)[None].astype(np.float32))
    yg = torch.from_numpy(np.stack(masks_gt)[None].astype(np.float32))
    metric = HausdorffDistanceMetric(include_background=True, percentile=95)

    def run(p=yp, g=yg):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            v = metric(p, g, spacing=list(spacing))
        metric.reset()
        return v[0].numpy().astype(float)

    return (lambda: float(run(yp[:, :1], yg[:, :1])[0])), run()


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


# ------------------------------------------------------------------------------------ runs
def bench_hd95(title, gt, pred, spacing, *, regions, repeats, monai):
    """HD95 of the first region alone, ours next to MONAI's, and the values of all regions."""
    print(f"\n== HD95: {title}")
    first = next(iter(regions))
    pm = [np.isin(pred, v) for v in regions.values()]
    gm = [np.isin(gt, v) for v in regions.values()]

    def ours():
        return hausdorff95(pm[0], gm[0], spacing=spacing)

    if not monai:
        t_hd, hd = _median_time(ours, repeats)
        print(f"   HD95 alone ({first}): ours {t_hd * 1e3:8.1f} ms   value {hd:.4f} mm")
        return
    monai_one, all_m = _monai_hd95(pm, gm, spacing)
    reps = repeats if gt.size < 2e7 else 1
    ((b_o, m_o), (b_m, m_m)), (hd, hd_m) = _interleaved([ours, monai_one], reps)
    print(f"   HD95 alone ({first}), best / median of {reps}:  ours {b_o * 1e3:7.1f} / {m_o * 1e3:7.1f} ms"
          f"   MONAI {b_m * 1e3:7.1f} / {m_m * 1e3:7.1f} ms   speed-up x{b_m / b_o:.1f} (best) "
          f"x{m_m / m_o:.1f} (median)")
    ours_all = np.array([hausdorff95(p, g, spacing=spacing) for p, g in zip(pm, gm)])
    print(f"   HD95 values {list(regions)}: ours {np.round(ours_all, 4).tolist()} mm, MONAI "
          f"{np.round(all_m, 4).tolist()} mm, max |difference| {np.max(np.abs(ours_all - all_m)):.2e} mm"
          f" (first region alone: {hd:.6f} vs {hd_m:.6f})")


def bench_table(title, gt, pred, spacing, convention, *, regions, lesion_style, repeats, live):
    """Time of the full table, and of a live update after brush strokes."""
    print(f"\n== table: {title}")
    print(f"   shape {gt.shape}, spacing {spacing} mm, convention {convention}, lesions {lesion_style}")
    ((b_t, m_t),), (table,) = _interleaved(
        [lambda: compute_table(pred, gt, spacing=spacing, convention=convention, lesion_style=lesion_style)],
        repeats,
    )
    n_rows = len(table["regions"]) + len(table["labels"])
    print(f"   full table ({n_rows} rows x {len(next(iter(table['regions'].values())))} fields), "
          f"best / median of {repeats}: {b_t * 1e3:8.1f} / {m_t * 1e3:8.1f} ms")
    hd = {r: round(table["regions"][r]["hd95_mm"], 4) for r in regions}
    print(f"   table HD95 per region (mm): {hd}")
    if live:
        _bench_live(gt, pred, spacing, convention, lesion_style, repeats)


def _bench_live(gt, pred, spacing, convention, lesion_style, repeats):
    """Recompute after 10x10x1 brush strokes painted on the prediction's tumour boundary."""
    fg = pred > 0
    edge = np.argwhere(fg & ~ndi.binary_erosion(fg))
    rng = np.random.default_rng(0)
    values = sorted(set(np.unique(pred).tolist()) - {0})
    kw = {"spacing": spacing, "convention": convention, "lesion_style": lesion_style}
    cache, noted = TableCache(), TableCache()
    compute_table(pred, gt, cache=cache, **kw)
    compute_table(pred, gt, cache=noted, **kw)
    t_cached, t_noted, t_full = [], [], []
    work = pred.copy()
    for k in range(max(3, repeats)):
        z, y, x = edge[rng.integers(len(edge))]
        box = ((z, z + 1), (max(y - 5, 0), y + 5), (max(x - 5, 0), x + 5))
        work[tuple(slice(a, b) for a, b in box)] = values[k % len(values)]
        t0 = time.perf_counter()
        a = compute_table(work, gt, cache=cache, **kw)
        t_cached.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        noted.note_change(pred=box, gt=None)
        c = compute_table(work, gt, cache=noted, **kw)
        t_noted.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        b = compute_table(work, gt, **kw)
        t_full.append(time.perf_counter() - t0)
        same = _same_table(a, b) and _same_table(c, b)
        assert same, "a live update differs from the full recompute"
    print(f"   live update after a 10x10x1 brush stroke (median of {len(t_full)}): with TableCache "
          f"{statistics.median(t_cached) * 1e3:7.1f} ms (reused {cache.hits} of {cache.hits + cache.misses} rows), "
          f"with TableCache + note_change(stroke box) {statistics.median(t_noted) * 1e3:7.1f} ms, full recompute "
          f"{statistics.median(t_full) * 1e3:7.1f} ms; all three tables identical")


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
    ap.add_argument("--skip-ct", action="store_true", help="skip the 512x512x300 pair")
    ap.add_argument("--skip-monai", action="store_true")
    args = ap.parse_args(argv)
    monai = not args.skip_monai
    if monai:
        try:
            import monai as _m  # noqa: F401
            import torch

            torch.set_num_threads(min(2, os.cpu_count() or 1))
        except ImportError:
            print("MONAI/torch not installed: MONAI comparisons skipped")
            monai = False
    print(f"numpy {np.__version__}, {os.cpu_count()} CPU cores")
    desc, gt, pairs, spacing, conv = brain_pairs()
    regions = {"WT": (1, 2, 3, 4), "TC": (1, 3, 4), "ET": (4,)}
    print(f"brain pair: {desc}")
    ct = None
    if not args.skip_ct:
        t0 = time.perf_counter()
        ct = ct_pair()
        print(f"CT-sized synthetic pair built in {time.perf_counter() - t0:.1f} s")
    ct_regions = {"organ": (1, 2), "lesion": (2,)}
    ct_title = "CT-sized 512x512x300 synthetic organ + lesions, 1.25 x 0.7 x 0.7 mm"
    # HD95 comparisons first, in a fresh process state (MONAI's timings were seen to drift
    # upwards after many large allocations by the table runs)
    for name, pred in pairs:
        bench_hd95(f"brain 240x240x155 vs {name}", gt, pred, spacing, regions=regions,
                   repeats=args.repeats, monai=monai)
    if ct is not None:
        bench_hd95(ct_title, ct[0], ct[1], ct[2], regions=ct_regions, repeats=1, monai=monai)
    for name, pred in pairs:
        bench_table(f"brain 240x240x155 vs {name}", gt, pred, spacing, conv, regions=regions,
                    lesion_style="brats2023", repeats=args.repeats, live=True)
    if ct is not None:
        bench_table(ct_title, ct[0], ct[1], ct[2], "organ=1,2;lesion=2", regions=ct_regions,
                    lesion_style="isles", repeats=max(1, min(args.repeats, 3)), live=True)


if __name__ == "__main__":
    main()
