"""Screenshots of the agreement panel after a user's journey, taken in a real napari window.

File > Open Sample > napari-medai > brain tumour (MRI, brain mask, ground truth ``seg``), a model's output
added as a task widget adds it (``role="prediction"``, BraTS 2021 labels; here the ground truth with its rim
missed, a small false positive and some necrosis called enhancing), then Plugins > napari-medai > Agreement
with ground truth: the panel picks the prediction (not the brain mask) and ``seg``, computes, adds the WT
error map; N goes to the first lesion. The window at 1600 x 1000 and at 1280 x 800 is saved as
``docs/agreement-1600x1000.png`` and ``docs/agreement-1280x800.png``.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_agreement.py
"""

import sys
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QApplication
from scipy import ndimage as ndi

import napari
from napari_medai._napari.layers import META_KEY

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1280, 800))


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def prediction(seg: np.ndarray) -> np.ndarray:
    pred = seg.copy()
    wt = pred > 0
    z, y, x = (int(v) for v in np.argwhere(wt).mean(axis=0))
    rim = wt & ~ndi.binary_erosion(wt, iterations=2)
    pred[rim & (np.indices(pred.shape)[2] < x)] = 0  # half of the rim missed
    pred[(pred == 1) & (np.indices(pred.shape)[1] % 7 == 0)] = 4  # some necrosis called enhancing
    pred[z - 1 : z + 2, 8:13, 8:13] = 2  # a small false positive far from the tumour
    return pred


def shoot(viewer, panel, out: Path, size: tuple[int, int]) -> None:
    viewer.window._qt_window.resize(*size)
    pump()
    panel.go_to_lesion(max(panel.lesion_table.currentRow(), 0))
    pump()
    table = panel.table
    print(f"{out.name}: window {size}, dock {panel.width()}x{panel.height()}, metrics table {table.height()} px "
          f"for {table.rowCount()} rows, lesions {panel.lesion_table.rowCount()}")
    viewer.screenshot(str(out), canvas_only=False)
    print(f"  {out.stat().st_size // 1024} KB")


def main() -> None:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    viewer.open_sample("napari-medai", "brain_tumour")
    for name in ("t1", "t1c", "t2"):
        viewer.layers[name].visible = False
    seg = viewer.layers["seg"]
    viewer.add_labels(prediction(np.asarray(seg.data)), name="brain tumour", scale=seg.scale,
                      translate=seg.translate, opacity=0.6, colormap=seg.colormap,
                      metadata={META_KEY: {"role": "prediction", "convention": "brats2021",
                                           "label_names": {1: "NCR", 2: "ED", 4: "ET"}}})
    viewer.layers["brainmask"].visible = False
    _dock, panel = viewer.window.add_plugin_dock_widget("napari-medai", "Agreement with ground truth")
    if not panel.wait_idle(300) or panel.result is None:
        sys.exit(panel.status.text())
    panel.add_error_map("WT")
    panel.wait_idle(120)
    viewer.layers["error map WT"].visible = False  # the key stays in the panel; the canvas shows pred + outline
    panel.next_lesion()
    panel.next_lesion()  # N, N: the tumour (the first lesion is the false positive)
    viewer.scene.camera.zoom *= 1.4
    viewer.layers.selection.active = viewer.layers["brain tumour"]
    print(panel.status.text())
    for width, height in SIZES:
        shoot(viewer, panel, ROOT / "docs" / f"agreement-{width}x{height}.png", (width, height))
    viewer.close()


if __name__ == "__main__":
    main()
