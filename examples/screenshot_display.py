"""Screenshots of the display conventions after a user's journey, taken in a real napari window.

File > Open Sample > napari-medai > Brain tumour MRI, Plugins > napari-medai > View: windows and
orientation; the FLAIR selected, the ground truth drawn as outlines; then

* ``docs/display-views.png``: the canvas in the axial, coronal and sagittal views side by side (the
  Axial / Coronal / Sagittal buttons), with the R/L A/P S/I letters at the edges;
* ``docs/display-1600x1000.png``: the whole window at 1600 x 1000 in the coronal view;
* ``docs/display-1280x800.png``: the whole window at 1280 x 800 in the sagittal view.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_display.py
"""
import sys
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QApplication, QPushButton

import napari

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def click(widget, text: str) -> None:
    button = next(b for b in widget.findChildren(QPushButton) if b.text() == text)
    button.click()
    pump()


def main() -> None:
    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1600, 1000)
    viewer.open_sample("napari-medai", "brain_tumour")
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "View: windows and orientation")
    for name in ("t1", "t1c", "t2", "brainmask"):
        viewer.layers[name].visible = False
    seg = viewer.layers["seg"]
    seg.contour, seg.opacity = 1, 1.0
    flair = viewer.layers["flair"]
    viewer.layers.selection.active = flair
    # the slices through the tumour's centre
    centre = np.argwhere(np.asarray(seg.data) > 0).mean(axis=0).round().astype(int)
    world = flair.data_to_world(centre)
    for axis in range(3):
        viewer.dims.set_point(axis, world[axis])
    pump()

    shots = []
    for view in ("Axial", "Coronal", "Sagittal"):
        click(w, view)
        viewer.reset_view()
        pump()
        letters = {e: viewer.canvas.overlays[f"orientation_{e}"].text for e in ("top", "bottom", "left", "right")}
        print(f"{view}: dims order {viewer.dims.order}, camera {tuple(map(str, viewer.scene.camera.orientation2d))}, "
              f"edges {letters}")
        shots.append(viewer.screenshot(canvas_only=True, flash=False))
    h = min(s.shape[0] for s in shots)
    gap = np.full((h, 8, shots[0].shape[2]), 90, np.uint8)  # a grey bar between the views
    strip = np.concatenate([shots[0][:h], gap, shots[1][:h], gap, shots[2][:h]], axis=1)
    from PIL import Image

    img = Image.fromarray(strip[..., :3])
    img.thumbnail((1800, 700))
    img.save(DOCS / "display-views.png", optimize=True)

    for view, size in (("Coronal", (1600, 1000)), ("Sagittal", (1280, 800))):
        viewer.window._qt_window.resize(*size)
        pump()
        click(w, view)
        viewer.reset_view()
        pump()
        out = DOCS / f"display-{size[0]}x{size[1]}.png"
        print(f"{out.name}: window {viewer.window._qt_window.width()}x{viewer.window._qt_window.height()}, "
              f"dock {w.width()}x{w.height()}, label {w.layer_label.text()!r}")
        viewer.screenshot(str(out), canvas_only=False, flash=False)
    viewer.close()


if __name__ == "__main__":
    sys.exit(main())
