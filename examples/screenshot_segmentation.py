"""Screenshots of the brain-tumour segmentation widget after a user's journey, taken in a real napari window.

File > Open Sample > napari-medai > Brain tumour MRI, Plugins > napari-medai > Brain tumour segmentation
(MRI) with its default model (brain-tumour-default), Segment; the agreement panel opens on the prediction
and the sample's ground truth. The window at 1600 x 1000 and at 1280 x 800, saved as
``docs/segmentation-1600x1000.png`` and ``docs/segmentation-1280x800.png``.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_segmentation.py
"""
import sys
from pathlib import Path

from qtpy.QtWidgets import QApplication

import napari

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1280, 800))


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def main() -> None:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    viewer.open_sample("napari-medai", "brain_tumour")
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Brain tumour segmentation (MRI)")
    if not w.wait_idle(300) or w.model is None:
        sys.exit(f"the model did not load: {w.jobs.status.text()}")
    w.run_button.click()
    if not w.wait_idle(600) or w.prediction is None:
        sys.exit(f"segmentation failed: {w.jobs.status.text()}")
    panel = w.agreement
    if panel is None or not panel.wait_idle(300):
        sys.exit("the agreement panel did not open or finish")
    print(w.jobs.status.text())
    print(w.volumes.text())
    for name in ("t1", "t1c", "t2", "brainmask"):
        viewer.layers[name].visible = False
    out = w.output_layer
    viewer.dims.set_point(0, out.data_to_world([62, 0, 0])[0])  # an axial slice through the tumour
    viewer.layers.selection.active = out
    for width, height in SIZES:
        viewer.window._qt_window.resize(width, height)
        pump()
        viewer.reset_view()
        pump()
        path = ROOT / "docs" / f"segmentation-{width}x{height}.png"
        print(f"{path.name}: window {width}x{height}, segmentation dock {w.width()}x{w.height()}, "
              f"agreement dock {panel.width()}x{panel.height()}")
        viewer.screenshot(str(path), canvas_only=False)
    viewer.close()


if __name__ == "__main__":
    main()
