"""A DICOM SEG re-opened in napari on its DICOM series: a screenshot.

File > Open Folder (the series), File > Open (the SEG .dcm): the series opens as an image, the SEG as
a Labels layer (segment labels as names), placed in the patient frame. The slice holding the most
labelled voxels is shown with the labels drawn as outlines.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_dicom_seg.py \\
        SERIES_DIR SEG.dcm docs/dicom-seg-reopened.png [--window C W]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QApplication

import napari


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("series", type=Path)
    ap.add_argument("seg", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("--window", type=float, nargs=2, default=(300.0, 1600.0), metavar=("CENTRE", "WIDTH"))
    ap.add_argument("--bright", action="store_true",
                    help="draw every segment in red (grey segments such as non-coronary calcium vanish on bone)")
    args = ap.parse_args()

    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1280, 900)
    viewer.open(str(args.series), plugin="napari-medai")
    image = viewer.layers[-1]
    c, w = args.window
    image.contrast_limits = (c - w / 2, c + w / 2)
    viewer.open(str(args.seg), plugin="napari-medai")
    seg = viewer.layers[-1]
    assert type(seg).__name__ == "Labels", type(seg).__name__
    seg.contour, seg.opacity = 1, 1.0
    if args.bright:
        from napari.utils.colormaps import DirectLabelColormap

        seg.colormap = DirectLabelColormap(color_dict={0: (0, 0, 0, 0), None: (1.0, 0.15, 0.15, 1.0)})
    data = np.asarray(seg.data)
    k = int(np.argmax((data > 0).reshape(data.shape[0], -1).sum(axis=1)))
    centre = np.argwhere(data[k] > 0).mean(axis=0)
    world = seg.data_to_world([k, *centre])
    viewer.dims.set_point(0, world[0])
    viewer.reset_view()
    pump()
    names = seg.features["name"].tolist() if "name" in seg.features else []
    print(f"series {image.name}: {image.data.shape}; SEG {seg.name}: {data.shape}, slice {k} of the SEG at "
          f"{world[0]:.1f} mm, {int((data[k] > 0).sum())} labelled pixels there; segments {names}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    viewer.screenshot(str(args.out), canvas_only=False, flash=False)
    print(f"wrote {args.out}")
    viewer.close()


if __name__ == "__main__":
    main()
