"""Screenshots of the de-identification widget after a user's journey, taken in a real napari window.

A DICOM folder is written to a temporary folder: the cardiac CT phantom as a 24-slice series carrying a
patient's identifiers in 30-odd places (``tests/core/dicom_objects.py``), one image with burned-in
annotation and a text file. Plugins > napari-medai > De-identify DICOM folder; the input folder, a key
file, shifted dates and clean descriptions; De-identify; Open de-identified series. The window at 1600 x
1000 and at 1280 x 800 is saved as ``docs/deidentify-1600x1000.png`` and ``docs/deidentify-1280x800.png``.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_deidentify.py
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from qtpy.QtWidgets import QApplication

import napari

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1280, 800))


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def write_inbox(folder: Path) -> Path:
    """The phantom series with identifiers, a burned-in image and a text file, in ``folder/dicom_in``."""
    sys.path.insert(0, str(ROOT))
    from tests.core.dicom_objects import phantom_stack, write_ct_series

    from napari_medai.core.phantoms import make_phantom

    ct = make_phantom("cardiac_ct", seed=0)["ct"]
    o = ct.origin
    inbox = folder / "dicom_in"
    write_ct_series(inbox / "series3", np.clip(ct.data, -1024, 3000).astype(np.int16), spacing=ct.spacing,
                    origin_lps=(o[2], o[1], o[0]))
    write_ct_series(inbox / "capture", phantom_stack((1, 32, 40)), burned_in="YES", series_uid="1.2.3.44",
                    file_prefix="SC", sop_root="1.2.3.45.9")
    (inbox / "readme.txt").write_text("exported from the PACS")
    return inbox


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="deid-demo-"))
    inbox = write_inbox(work)
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "De-identify DICOM folder")
    w.set_input(str(inbox))
    w.key_edit.setText(str(work / "deid-key.json"))
    w.dates_check.setChecked(True)
    w.clean_check.setChecked(True)
    w.run_button.click()
    if not w.wait_idle(600) or w.jobs.last_error:
        sys.exit(w.jobs.last_error or "the de-identification did not finish")
    w.open_button.click()
    pump()
    image = viewer.layers[-1]
    image.contrast_limits = (-160, 240)
    viewer.dims.set_point(0, image.data_to_world([15, 0, 0])[0])
    viewer.reset_view()
    print(w.jobs.status.text())
    print(w.summary.text())
    print(w.review_label.text())
    print(w.report_label.text())
    for width, height in SIZES:
        viewer.window._qt_window.resize(width, height)  # an example script may size the window
        pump()
        viewer.reset_view()
        pump()
        out = ROOT / "docs" / f"deidentify-{width}x{height}.png"
        viewer.screenshot(str(out), canvas_only=False)
        print(f"{out.name}: window {width}x{height}, dock {w.width()}x{w.height()}")
    viewer.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
