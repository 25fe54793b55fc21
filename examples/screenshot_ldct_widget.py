"""Screenshots of the low-dose CT widget after a user's journey, taken in a real napari window.

Default: File > Open Sample > napari-medai > Low-dose / full-dose CT pair, Plugins > napari-medai >
Low-dose CT denoising, denoise the low dose with total variation, draw a liver ROI, Measure; the window
at 1600 x 1000 and at 1280 x 800, saved as ``docs/ldct-1600x1000.png`` and ``docs/ldct-1280x800.png``.

``--l506 [OUT.png]``: the same on the real L506 slice (full- and quarter-dose ``.npy`` files from
``../shared/data/ldct_L506``, opened with the plugin's reader; Gaussian and total variation; the liver ROI
of the README's L506 table), saved as ``docs/ldct-widget-L506.png`` at 1600 x 1000.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_ldct_widget.py [--l506 [OUT.png]]
"""
import sys
from pathlib import Path

import numpy as np
import torch
from qtpy.QtWidgets import QApplication, QTableWidget

import napari

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1280, 800))


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def run(w, tab: str, method: str | None = None) -> None:
    """Run one tab's job as a click would, and wait for it."""
    if method is not None:
        w.denoise_tab.method_combo.setCurrentText(method)
    button = {"denoise": w.denoise_tab.denoise_button, "measure": w.measure_tab.measure_button}[tab]
    button.click()
    if not w.wait_idle(300):
        sys.exit(f"{tab} {method or ''} did not finish")
    if w.jobs.last_error:
        sys.exit(w.jobs.last_error)


def roi(viewer, layer, first: tuple[int, int], last: tuple[int, int], name: str = "liver ROI") -> None:
    """A rectangle over pixel rows/columns ``first`` to ``last`` of ``layer``'s displayed plane."""
    lead = (0,) * (layer.ndim - 2)
    a = np.asarray(layer.data_to_world((*lead, *first)))[-2:]
    b = np.asarray(layer.data_to_world((*lead, *last)))[-2:]
    viewer.add_shapes([np.array([a, [a[0], b[1]], b, [b[0], a[1]]])], shape_type="rectangle", name=name,
                      edge_color="yellow", face_color="transparent", edge_width=1.5)


def shoot(viewer, w, out: Path, size: tuple[int, int]) -> None:
    viewer.window._qt_window.resize(*size)
    pump()
    viewer.reset_view()
    pump()
    table = w.measure_tab.findChildren(QTableWidget)[0]
    print(f"{out.name}: window {size}, dock {w.width()}x{w.height()}, table {table.height()} px high "
          f"({table.rowCount()} rows)")
    viewer.screenshot(str(out), canvas_only=False)


def sample_journey() -> None:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    viewer.open_sample("napari-medai", "ldct")
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Low-dose CT denoising")
    w.tabs.setCurrentIndex(1)
    run(w, "denoise", "tv")
    roi(viewer, viewer.layers["low_dose"], (100, 60), (120, 85))
    w.tabs.setCurrentIndex(3)
    run(w, "measure")
    print(w.jobs.status.text())
    viewer.layers["full_dose"].visible = False
    viewer.layers["low_dose"].visible = False
    viewer.layers.selection.active = viewer.layers["low_dose_tv"]
    for width, height in SIZES:
        shoot(viewer, w, ROOT / "docs" / f"ldct-{width}x{height}.png", (width, height))
    viewer.close()


def l506(out: Path) -> None:
    data = ROOT.parent / "shared" / "data" / "ldct_L506"
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    viewer.open(str(data / "L506_FD_slice32_HU_int16.npy"), plugin="napari-medai", name="full dose")
    viewer.open(str(data / "L506_QD_slice32_HU_int16.npy"), plugin="napari-medai", name="quarter dose")
    for ly in viewer.layers:
        ly.contrast_limits = (-160, 240)
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Low-dose CT denoising")
    w.tabs.setCurrentIndex(1)
    w.denoise_tab.input_combo.setCurrentText("quarter dose")
    for m in ("gaussian", "tv"):
        run(w, "denoise", m)
    roi(viewer, viewer.layers["quarter dose"], (160, 120), (191, 159))
    w.measure_tab.ref_combo.setCurrentText("full dose")
    w.measure_tab.roi_combo.setCurrentText("liver ROI")
    w.tabs.setCurrentIndex(3)
    run(w, "measure")
    print(w.jobs.status.text())
    for r in w.measure_tab.rows:
        print(r)
    viewer.layers.selection.active = viewer.layers["quarter dose_tv"]
    for name in ("full dose", "quarter dose", "quarter dose_gaussian"):
        viewer.layers[name].visible = False
    shoot(viewer, w, out, SIZES[0])
    viewer.close()


if __name__ == "__main__":
    torch.set_num_threads(1)
    args = sys.argv[1:]
    if args[:1] == ["--l506"]:
        l506(Path(args[1]) if len(args) > 1 else ROOT / "docs" / "ldct-widget-L506.png")
    else:
        sample_journey()
