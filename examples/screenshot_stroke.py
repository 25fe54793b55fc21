"""Screenshots of the stroke widget after a user's journey, taken in a real napari window.

File > Open Sample > napari-medai > Stroke MRI (DWI, ADC, FLAIR on its own grid, lesion truth), Plugins >
napari-medai > Stroke lesions with the clinical threshold baseline and "separate lesions", Run, a click on the
first row of the lesion table, then "Compare with ground truth" (the agreement panel in the ISLES convention).
The window at 1600 x 1000 and at 1280 x 800 is saved as ``docs/stroke-1600x1000.png`` and
``docs/stroke-1280x800.png``. When ``/work/shared/data/isles22_case0009`` (ISLES'22 case 9; its README) is
there, the same journey on it (File > Open of its DWI, ADC, FLAIR and expert mask) gives ``docs/stroke-isles.png``:
the baseline's lesions filled, the expert mask as an outline.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_stroke.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QApplication

import napari
from napari_medai._napari._widgets import centre_on

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1280, 800))
ISLES = Path(os.environ.get("MEDAI_SHARED_DATA", "/work/shared/data")) / "isles22_case0009"


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def run_widget(viewer: napari.Viewer, *, separate: bool) -> object:
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Stroke lesions")
    w.separate_check.setChecked(separate)
    w.run_button.click()
    if not w.wait_idle(600) or w.result is None:
        sys.exit(f"the stroke run failed: {w.jobs.status.text()}")
    print(w.total.text())
    print(w.jobs.status.text())
    return w


def compare(w: object) -> object:
    panel = w.compare()
    if panel is None or not panel.wait_idle(300) or panel.result is None:
        sys.exit(f"the agreement panel did not compute: {getattr(panel, 'status', w.jobs.status).text()}")
    print(panel.status.text())
    return panel


def show_metrics(panel: object) -> None:
    """Scroll the agreement panel (a short dock scrolls) so that its metrics table is in view."""
    from napari_medai._napari._widgets import VerticalScrollArea

    scroll = panel.findChild(VerticalScrollArea)
    if scroll is not None:
        pump()
        scroll.ensureWidgetVisible(panel.table, 0, 120)


def shoot(viewer: napari.Viewer, w: object, panel: object, path: Path, size: tuple[int, int]) -> None:
    viewer.window._qt_window.resize(*size)
    pump()
    viewer.reset_view()
    pump()
    if w.table.rowCount():
        w.table.go_to(0)  # a click on the first row: the slice through the largest lesion
    w.scroll_to_result()
    show_metrics(panel)
    pump()
    print(f"{path.name}: window {size}, stroke dock {w.width()}x{w.height()}, lesion table "
          f"{w.table.height()} px for {w.table.rowCount()} rows, agreement dock {panel.width()}x{panel.height()}")
    viewer.screenshot(str(path), canvas_only=False)


def phantom() -> None:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    viewer.open_sample("napari-medai", "stroke")
    for name in ("adc", "flair"):
        if name in viewer.layers:
            viewer.layers[name].visible = False
    w = run_widget(viewer, separate=True)
    panel = compare(w)
    for width, height in SIZES:
        shoot(viewer, w, panel, ROOT / "docs" / f"stroke-{width}x{height}.png", (width, height))
    viewer.close()


def isles() -> None:
    raw = ISLES / "rawdata" / "sub-strokecase0009" / "ses-0001"
    msk = ISLES / "derivatives" / "sub-strokecase0009" / "ses-0001" / "sub-strokecase0009_ses-0001_msk.nii.gz"
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    for kind in ("dwi", "adc", "flair"):
        viewer.open(str(raw / f"sub-strokecase0009_ses-0001_{kind}.nii.gz"), plugin="napari-medai")
    viewer.open(str(msk), plugin="napari-medai")
    for layer in viewer.layers:
        if not layer.name.endswith("_dwi") and type(layer).__name__ == "Image":
            layer.visible = False
    w = run_widget(viewer, separate=False)
    panel = compare(w)
    # the slice with the most expert-mask voxels
    truth = w.truth_layer()
    z = int(np.argmax(np.asarray(truth.data).reshape(truth.data.shape[0], -1).sum(axis=1)))
    viewer.window._qt_window.resize(*SIZES[0])
    pump()
    viewer.reset_view()
    # centred on the expert mask in that slice, zoomed so that both outlines can be told apart
    ys, xs = np.nonzero(np.asarray(truth.data)[z])
    centre_on(viewer, truth, (z, float(ys.mean()), float(xs.mean())))
    viewer.scene.camera.zoom *= 2.0
    truth.contour = 1  # the panel draws 2 voxels wide, which fills the expert's smallest lesions
    w.scroll_to_result()
    show_metrics(panel)
    pump()
    path = ROOT / "docs" / "stroke-isles.png"
    print(f"{path.name}: axial slice {z}, {w.table.rowCount()} lesions")
    viewer.screenshot(str(path), canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    phantom()
    if ISLES.is_dir():
        isles()
    else:
        print(f"{ISLES} is absent: no docs/stroke-isles.png")
