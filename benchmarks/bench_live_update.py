"""Live agreement update in the real napari panel: time from a brush stroke to the new table.

Opens a viewer (on a virtual display when none is set), loads a ground-truth label map and a
perturbed prediction (the real BraTS 2013 pat0003 labels when ../shared/data is present, else the
brain-tumour phantom), lets the panel compute once, then paints brush strokes through the layer
API and measures the wall time until the table shows the new values. Prints the figures, and
where the time goes: the snapshot of the layers on the GUI thread and the core recomputation in
the worker thread (which runs while the viewer redraws the stroke, so the two overlap).

    .venv/bin/python benchmarks/bench_live_update.py [--strokes 10]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _load_pair():
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
    wt = pred > 0
    pred[wt & ~ndi.binary_erosion(wt)] = 0  # drop the outer rim: a realistic disagreement
    return gt, pred, source, convention


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
    args = ap.parse_args()
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

        gt, pred, source, convention = _load_pair()
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
    finally:
        if display is not None:
            display.stop()


if __name__ == "__main__":
    main()
