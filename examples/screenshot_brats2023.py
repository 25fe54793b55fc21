"""A trained brain-tumour model on the real BraTS 2023 case, in a real napari window, as a user runs it.

The four sequences of ``brats2023_gli_00001`` (BraTS 2023 names, raw int16, zero background, LPS; a
centre other than the BraTS 2013 training cases; no ground truth) opened with File > Open, Plugins >
napari-medai > Brain tumour segmentation (MRI), the model folder chosen, Segment. The window is saved
at 1600 x 1000 with an axial slice through the largest tumour extent; the volumes and the input check's
verdict are printed.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_brats2023.py \\
        --model M --out docs/brats2023-trained-model.png
"""
import argparse
import sys
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QApplication

import napari

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT.parent / "shared" / "data" / "brats2023_gli_00001"


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", required=True, help="model folder (model.json + model.pt)")
    ap.add_argument("--case", type=Path, default=CASE)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "brats2023-trained-model.png")
    a = ap.parse_args()
    files = sorted(a.case.glob("*.nii.gz"))
    if len(files) != 4:
        sys.exit(f"{a.case}: expected the 4 BraTS 2023 sequences, found {len(files)} NIfTI files")
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(1600, 1000)
    for f in files:
        viewer.open(str(f), plugin="napari-medai")
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Brain tumour segmentation (MRI)")
    if not w.load_model_source(a.model) or w.model is None:
        sys.exit(f"the model did not load: {w.jobs.status.text()}")
    w.run_button.click()
    if not w.wait_idle(1200) or w.prediction is None:
        sys.exit(f"segmentation failed: {w.jobs.status.text()}")
    print(w.jobs.status.text())
    print(w.volumes.text())
    print(w.input_check.text())
    q = w.prediction.quality
    if q is not None:
        print(q.details())
    out = w.output_layer
    for ly in viewer.layers:
        ly.visible = ly.name == out.name or ly.name.endswith("t2f")
    z = int(np.argmax((np.asarray(out.data) > 0).sum(axis=(1, 2))))
    viewer.dims.set_point(0, out.data_to_world([z, 0, 0])[0])
    viewer.layers.selection.active = out
    pump()
    viewer.reset_view()
    pump()
    viewer.screenshot(str(a.out), canvas_only=False)
    print(f"{a.out}: axial slice {z}")
    viewer.close()


if __name__ == "__main__":
    main()
