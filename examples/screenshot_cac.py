"""Screenshots of the calcium scoring widget after a user's journey, taken in a real napari window.

File > Open Sample > napari-medai > cardiac CT phantom, Plugins > napari-medai > Coronary calcium scoring
(CT), Auto-assign, a reader's correction (the first LAD lesion of the list given to the RCA and back), Next
lesion; the window at 1600 x 1000 and at 1280 x 800, saved as ``docs/cac-1600x1000.png`` and
``docs/cac-1280x800.png``. ``--ct PATH``: the same journey on a CT file (e.g. the real lung2 CT), saved as
``docs/cac-<stem>-1600x1000.png`` only.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_cac.py [--ct PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qtpy.QtWidgets import QApplication

import napari

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1280, 800))


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def wait(w) -> None:
    if not w.wait_idle(600):
        sys.exit("the calcium widget did not finish")
    if w.jobs.last_error:
        sys.exit(w.jobs.last_error)


def shoot(viewer, w, out: Path, size: tuple[int, int]) -> None:
    viewer.window._qt_window.resize(*size)  # an example script may size the window
    pump()
    lesion = w.lesion_table.selected()
    if lesion is not None:
        w.go_to_lesion(lesion)
    pump()
    view = w.lesion_table.view
    print(f"{out.name}: window {size}, dock {w.width()}x{w.height()}, score table {w.score_table.height()} px, "
          f"lesion list {view.height()} px ({w.lesion_table.proxy.rowCount()} rows shown)")
    viewer.screenshot(str(out), canvas_only=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ct", default=None)
    args = p.parse_args(argv)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    if args.ct:
        viewer.open(args.ct, plugin="napari-medai")
    else:
        viewer.open_sample("napari-medai", "cardiac_ct")
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Coronary calcium scoring (CT)")
    w.assign_button.click()
    wait(w)
    lad = next((les for les in w.result.lesions if les.artery == "LAD"), None)
    if lad is not None:  # a correction and its undo, as a reader would try
        w.assign_at_index(lad.centroid, "RCA")
        wait(w)
        w.assign_at_index(lad.centroid, "LAD")
        wait(w)
    w.next_button.click()
    pump()
    for name in ("assignment", "CAC candidates"):  # the sample's ground truth and the candidates layer
        if name in viewer.layers:
            viewer.layers[name].visible = False
    viewer.layers.selection.active = viewer.layers["artery assignment"]
    print(w.jobs.status.text())
    print(w.category_label.text())
    sizes = SIZES[:1] if args.ct else SIZES
    stem = f"cac-{Path(args.ct).name.split('.')[0]}" if args.ct else "cac"
    for width, height in sizes:
        shoot(viewer, w, ROOT / "docs" / f"{stem}-{width}x{height}.png", (width, height))
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
