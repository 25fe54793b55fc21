"""Screenshots of Classify image after a user's journey, taken in a real napari window.

File > Open of a real paediatric chest X-ray (``../shared/data/cxr_pneumonia``), Plugins > napari-medai >
Classify image, the chest X-ray model folder chosen (``--model``, default ``/work/models/cxr-default``, trained by
``benchmarks/cxr_pneumonia.py``), Classify with the map for PNEUMONIA; then the Folder tab on a folder of a few
chest X-rays (links in a temporary folder), classified, sorted by the probability of PNEUMONIA, and a click on the first row.
The window at 1600 x 1000 and at 1280 x 800 is saved as ``docs/classify-1600x1000.png`` and
``docs/classify-1280x800.png``. When the model folder holds ``heldout.json`` (``test_images``: the persons
``benchmarks/cxr_pneumonia.py`` kept out of training), the images come from it.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_classify.py
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QApplication

import napari

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1280, 800))
DATA = Path("/work/shared/data/cxr_pneumonia/train")


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def pick_images(model: Path, n: int) -> list[Path]:
    """``n`` chest X-rays, half of each class: held-out ones when the model folder lists them."""
    listed = model / "heldout.json"
    paths: list[Path] = []
    if listed.is_file():
        doc = json.loads(listed.read_text())
        rows = doc.get("test_images") or []
        paths = [Path(r["path"] if isinstance(r, dict) else r) for r in rows]
    if not paths:
        paths = sorted((DATA / "NORMAL").glob("*.jpeg"))[:50] + sorted((DATA / "PNEUMONIA").glob("*.jpeg"))[:50]
    normal = [p for p in paths if "NORMAL" in str(p.parent)][: n // 2]
    pneu = [p for p in paths if "PNEUMONIA" in str(p.parent)][: n - n // 2]
    return normal + pneu


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", type=Path, default=Path("/work/models/cxr-default"))
    ap.add_argument("--n", type=int, default=8, help="images in the folder table")
    args = ap.parse_args()
    if not (args.model / "model.json").is_file() or not DATA.is_dir():
        print(f"{args.model} or {DATA} is absent: no screenshots")
        return 1
    images = pick_images(args.model, args.n)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    first = next(p for p in images if "PNEUMONIA" in str(p.parent))
    viewer.open(str(first), plugin="napari-medai")
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Classify image")
    w.set_model_folder(str(args.model))
    w.class_combo.setCurrentText("PNEUMONIA")
    w.classify_button.click()
    if not w.wait_idle(300) or w.result is None:
        sys.exit(f"Classify failed: {w.status.text()}")
    print(w.status.text())
    with tempfile.TemporaryDirectory(prefix="classify_shot_") as tmp:
        for p in images:
            (Path(tmp) / p.name).symlink_to(p)
        w.tabs.setCurrentIndex(1)
        w.folder_edit.setText(tmp)
        w.run_folder_button.click()
        if not w.wait_idle(600):
            sys.exit(f"the folder run did not finish: {w.status.text()}")
        print(w.folder_info.text())
        w.table.sortItems(3, Qt.DescendingOrder)  # the probability of PNEUMONIA, highest first
        pump()
        w.open_row(w.table.path_at(0))
        if not w.wait_idle(300):
            sys.exit(f"the row did not open: {w.status.text()}")
        print(w.status.text())
        for width, height in SIZES:
            viewer.window._qt_window.resize(width, height)
            pump()
            viewer.reset_view()
            pump()
            path = ROOT / "docs" / f"classify-{width}x{height}.png"
            print(f"{path.name}: window {width}x{height}, dock {w.width()}x{w.height()}, table "
                  f"{w.table.rowCount()} rows")
            viewer.screenshot(str(path), canvas_only=False)
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
