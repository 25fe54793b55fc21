"""Screenshot of the low-dose CT widget on the real L506 slice (``docs/ldct-widget-L506.png``).

Opens the full- and quarter-dose ``.npy`` files from ``../shared/data/ldct_L506`` through the
plugin's reader, denoises the quarter dose with Gaussian and total variation in the widget, draws
the liver ROI of the L506 table as a Shapes rectangle and measures everything against the full dose.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python examples/screenshot_ldct_widget.py [OUT.png]
"""
import sys
from pathlib import Path

import numpy as np
import torch
from qtpy.QtWidgets import QApplication

import napari
from napari_medai._napari.ldct_widget import LdctWidget

torch.set_num_threads(1)
viewer = napari.Viewer(show=True)
viewer.window._qt_window.resize(1600, 1000)
ROOT = Path(__file__).resolve().parents[1]
D = str(ROOT.parent / "shared" / "data" / "ldct_L506") + "/"
OUT = sys.argv[1] if len(sys.argv) > 1 else str(ROOT / "docs" / "ldct-widget-L506.png")
viewer.open(D + "L506_FD_slice32_HU_int16.npy", plugin="napari-medai", name="full dose")
viewer.open(D + "L506_QD_slice32_HU_int16.npy", plugin="napari-medai", name="quarter dose")
for ly in viewer.layers:
    ly.contrast_limits = (-160, 240)
w = LdctWidget(viewer)
viewer.window.add_dock_widget(w, name="Low-dose CT denoising", area="right")
d = w.denoise_tab
d.input_combo.setCurrentText("quarter dose")
for m in ("gaussian", "tv"):
    d.method_combo.setCurrentText(m)
    d.denoise()
    if not w.wait_idle(300):
        sys.exit(f"{m} did not finish")
ly = viewer.layers["quarter dose"]
r0, c0 = ly.data_to_world([160, 120])
r1, c1 = ly.data_to_world([191, 159])
viewer.add_shapes([np.array([[r0, c0], [r1, c1]])], shape_type="rectangle", name="liver ROI",
                  edge_color="yellow", face_color="transparent", edge_width=1.5)
m = w.measure_tab
m.ref_combo.setCurrentText("full dose")
m.roi_combo.setCurrentText("liver ROI")
m.measure()
if not w.wait_idle(120):
    sys.exit("measuring did not finish")
print(w.jobs.status.text())
for r in m.rows:
    print(r)
viewer.layers.selection.active = viewer.layers["quarter dose_tv"]
for name in ("full dose", "quarter dose", "quarter dose_gaussian"):
    viewer.layers[name].visible = False
w.tabs.setCurrentIndex(3)
for _ in range(50):
    QApplication.processEvents()
viewer.screenshot(OUT, canvas_only=False)
print(f"screenshot: {OUT}")
viewer.close()
