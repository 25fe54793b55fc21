"""Live agreement update in the real napari panel: time from a brush stroke to the new table.

Opens a viewer (on a virtual display when none is set), loads a ground-truth label map and a
perturbed prediction (the real BraTS 2013 pat0003 labels when ../shared/data is present, else the
brain-tumour phantom), lets the panel compute once, then paints brush strokes through the layer
API and measures the wall time until the table shows the new values. Prints the figures, and
where the time goes: the snapshot of the layers on the GUI thread and the core recomputation in
the worker thread (which runs while the viewer redraws the stroke, so the two overlap).

    .venv/bin/python benchmarks/bench_live_update.py [--strokes 10] [--pair rim|mild|harsh] [--record FILE]

``--pair``: ``rim`` (default) drops the reference's outer rim; ``mild`` and ``harsh`` are the
perturbations of ``benchmarks/bench_metrics.py`` (boundary one voxel in/out with a false-positive
blob; eroded 2 and shifted 2). The core update is also timed on that script's CT-sized pair (a
512x512x300 organ with lesions; ``--skip-ct`` leaves it out); each stroke is noted with its box, as
the panel notes napari's ``paint`` event (``--no-box``: without, so the whole maps are compared). The machine's conditions (cores, load average, versions) are printed
with the figures (``benchmarks/_common.py``), and ``--record FILE`` appends them to a JSON-lines
history.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402


def _load_pair(kind: str = "rim"):
    if kind == "ct":
        from bench_metrics import ct_pair

        from napari_medai.core.volume import Volume

        gt, pred, spacing = ct_pair()
        source = "CT-sized synthetic organ + lesions pair of bench_metrics.py (300, 512, 512), 1.25 x 0.7 x 0.7 mm"
        return Volume(data=gt, spacing=spacing, name="gt"), pred, source, "organ=1,2;lesion=2"
    from napari_medai.core.io import read_volume

    path = SHARED / "brats2013_flair_t1c" / "brats_2013_pat0003_1" / "OTMultiClass.nii.gz"
    if path.exists():
        gt = read_volume(path, as_label=True)
        source = f"real BraTS 2013 labels {path.parent.name} {gt.spatial_shape}"
        convention = "brats2013"
    else:
        from napari_medai.core.phantoms import make_phantom

        gt = make_phantom("brain_tumour")["seg"]
        source = f"brain-tumour phantom {gt.spatial_shape}"
        convention = "brats2021"
    from scipy import ndimage as ndi

    pred = gt.data.copy()
    if kind == "rim":
        wt = pred > 0
        pred[wt & ~ndi.binary_erosion(wt)] = 0  # drop the outer rim: a realistic disagreement
    else:
        from bench_metrics import _perturb_brain

        pred = {name.split(" ")[0]: p for name, p in _perturb_brain(np.asarray(gt.data))}[kind]
        source += f", prediction: the {kind} perturbation of bench_metrics.py"
    return gt, pred, source, convention


def _stroke_boxes(gt_data, pred, n, seed=0):
    """10x10x1 boxes on the middle slice where the reference has tumour and the prediction has not
    (where the panel benchmark paints), with the value to write: 2, then 0 (erase), in turns."""
    zs = np.nonzero(gt_data.any(axis=(1, 2)))[0]
    z = int(zs[len(zs) // 2])
    ys, xs = np.nonzero((gt_data[z] > 0) & (pred[z] == 0))
    if ys.size == 0:  # the prediction covers the reference here: paint on its boundary instead
        ys, xs = np.nonzero(gt_data[z] > 0)
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        if k % 2 == 0:
            i = int(rng.integers(len(ys)))
            cy, cx = int(ys[i]), int(xs[i])
        out.append(((z, z + 1), (cy - 5, cy + 5), (cx - 5, cx + 5), 2 if k % 2 == 0 else 0))
    return out


def core_update(gt, pred, convention, lesion_style, strokes, box=True):
    """The panel's cycle without the viewer: note_edit, snapshot, recompute, per stroke (ms).

    ``box``: note the stroke's box with the edit, as the panel does from napari's ``paint`` event
    (False: note the edit without a place, so the whole map is compared)."""
    from napari_medai.core.agreement_session import AgreementSession

    session = AgreementSession()
    data = np.asarray(pred, dtype=np.int32).copy()
    ref = gt.with_data(np.asarray(gt.data, dtype=np.int32))
    kw = {"convention": convention, "lesion_style": lesion_style, "pred_key": "pred", "gt_key": "gt"}
    session.recompute(session.snapshot(gt.with_data(data), ref, **kw))
    wall, cpu = [], []
    for z, y, x, value in _stroke_boxes(np.asarray(gt.data), data, strokes):
        data[z[0]:z[1], y[0]:y[1], x[0]:x[1]] = value
        c0, t0 = time.process_time(), time.perf_counter()
        session.note_edit("pred", box=(z, y, x) if box else None)
        snap = session.snapshot(gt.with_data(data), ref, **kw)
        if snap is not None:
            session.recompute(snap)
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return wall, cpu


def _timed(fn, spent):
    """``fn`` that appends its wall time to ``spent``."""
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            spent.append(time.perf_counter() - t)
    return wrapper


def main() -> None:
    import faulthandler

    faulthandler.dump_traceback_later(90, exit=True)
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--strokes", type=int, default=10)
    ap.add_argument("--pair", choices=("rim", "mild", "harsh"), default="rim",
                    help="the pair the panel is timed on (the core is timed on these three and the CT-sized one)")
    ap.add_argument("--core-only", action="store_true", help="time the core update only, without the viewer")
    ap.add_argument("--skip-ct", action="store_true", help="leave out the CT-sized pair of the core timing")
    ap.add_argument("--no-box", action="store_true",
                    help="core timing: note each stroke without its box (the whole map is compared), as "
                         "for an edit event that does not say where")
    _common.add_record_option(ap)
    args = ap.parse_args()
    run = _common.start("live_update", args)
    how = "no edit box (whole maps compared)" if args.no_box else "edit box noted as the panel does"
    print(f"core live update (AgreementSession snapshot + recompute, no viewer), {args.strokes} strokes of "
          f"10x10x1 voxels (paint 2 / erase), {how}, target < 50 ms:")
    for kind in ("rim", "mild", "harsh") + (() if args.skip_ct else ("ct",)):
        gt_k, pred_k, source_k, conv_k = _load_pair(kind)
        for style in ("isles", "brats2023"):
            wall, cpu = core_update(gt_k, pred_k, conv_k, style, args.strokes, box=not args.no_box)
            print(f"  {kind:<6} lesions {style:<10} median {statistics.median(wall) * 1000:6.1f} ms, max "
                  f"{max(wall) * 1000:6.1f} ms (CPU median {statistics.median(cpu) * 1000:6.1f} ms)", flush=True)
            run.record(what="core_update", pair=kind, source=source_k, convention=conv_k, lesion_style=style,
                       edit_box=not args.no_box, strokes=len(wall), core_ms_median=round(statistics.median(wall) * 1000, 2),
                       core_ms_max=round(max(wall) * 1000, 2),
                       core_cpu_ms_median=round(statistics.median(cpu) * 1000, 2),
                       core_ms_all=[round(t * 1000, 2) for t in wall])
    if args.core_only:
        run.finish()
        return
    display = None
    if not os.environ.get("DISPLAY"):
        from pyvirtualdisplay import Display

        display = Display(visible=False, size=(1280, 1024), color_depth=24)
        display.start()
    try:
        from qtpy.QtWidgets import QApplication

        import napari
        from napari_medai._napari.agreement_widget import AgreementWidget
        from napari_medai._napari.layers import spatial_transform_kwargs

        gt, pred, source, convention = _load_pair(args.pair)
        viewer = napari.Viewer(show=True)
        kw = spatial_transform_kwargs(gt)
        viewer.add_labels(np.asarray(gt.data, dtype=np.int32), name="gt", **kw)
        layer = viewer.add_labels(pred.astype(np.int32), name="pred", **kw)
        widget = AgreementWidget(viewer)
        viewer.window.add_dock_widget(widget)
        t0 = time.perf_counter()
        widget.set_pair(pred="pred", gt="gt", convention=convention)
        widget.wait_idle(120)
        first = time.perf_counter() - t0
        # where the time goes: the session's snapshot (GUI thread) and recomputation (worker thread)
        parts: dict[str, list[float]] = {"snapshot": [], "recompute": []}
        for name, spent in parts.items():
            setattr(widget.session, name, _timed(getattr(widget.session, name), spent))
        zs = np.nonzero(gt.data.any(axis=(1, 2)))[0]
        z = int(zs[len(zs) // 2])
        # strokes on the rim the prediction lacks: painting 2 then erasing always changes data
        ys, xs = np.nonzero((gt.data[z] > 0) & (pred[z] == 0))
        times = []
        rng = np.random.default_rng(0)
        for k in range(args.strokes):
            if k % 2 == 0:
                i = int(rng.integers(len(ys)))
                cy, cx = int(ys[i]), int(xs[i])
                yy, xx = np.mgrid[cy - 5:cy + 5, cx - 5:cx + 5]
            n = widget.n_updates
            t0 = time.perf_counter()
            layer.data_setitem((np.full(yy.size, z), yy.ravel(), xx.ravel()), 2 if k % 2 == 0 else 0)
            while (widget.n_updates == n or widget.busy) and time.perf_counter() - t0 < 20:
                QApplication.processEvents()
                time.sleep(0.001)
            times.append(time.perf_counter() - t0)
        viewer.close()
        print(f"pair: {source}, convention {convention}")
        print(f"first full table in the panel: {first * 1000:.0f} ms")
        print(f"brush stroke (10x10 voxels, paint / erase) -> table updated: median {statistics.median(times) * 1000:.0f} ms, "
              f"min {min(times) * 1000:.0f}, max {max(times) * 1000:.0f} ms over {len(times)} strokes "
              "(target < 100 ms)")
        snap, core = parts["snapshot"][-len(times):], parts["recompute"][-len(times):]
        if snap and core:
            print(f"  of which: layer snapshot (GUI thread) median {statistics.median(snap) * 1000:.1f} ms, "
                  f"table + lesion list recomputed (worker thread, overlapping the redraw) median "
                  f"{statistics.median(core) * 1000:.1f} ms")
        run.record(what="panel", pair=args.pair, source=source, convention=convention, strokes=len(times),
                   first_table_ms=round(first * 1000, 1),
                   stroke_to_table_ms_median=round(statistics.median(times) * 1000, 1),
                   stroke_to_table_ms_min=round(min(times) * 1000, 1),
                   stroke_to_table_ms_max=round(max(times) * 1000, 1),
                   snapshot_ms_median=round(statistics.median(snap) * 1000, 2) if snap else None,
                   recompute_ms_median=round(statistics.median(core) * 1000, 2) if core else None,
                   stroke_to_table_ms_all=[round(t * 1000, 1) for t in times])
        run.finish()
    finally:
        if display is not None:
            display.stop()


if __name__ == "__main__":
    main()
