"""Screenshots of the Alzheimer widget after a user's journeys, taken in a real napari window.

1. **Phantom journey** (``docs/alzheimer-1600x1000.png``, ``docs/alzheimer-1280x800.png``): File > Open Sample >
   napari-medai > T1 brain cohort (12 subjects, half AD); Plugins > napari-medai > Alzheimer's disease (T1 MRI);
   Landmarks: "Write open cohort to a folder…" (a temporary folder), L = 10, Find landmarks; a small landmark
   model trained on that cohort with ``train_alzheimer`` (a few epochs, the cohort's own grid: the phantom is
   no MNI brain); Predict on ``subject_00`` (already aligned); Evaluate on the same cohort (the widget says in
   red that this is not a held-out evaluation: the model trained on these subjects).
2. **Real T1** (``docs/alzheimer-chris_t1-overlay.png``): File > Open of ``/work/shared/data/brain_t1/chris_t1.nii.gz``
   (skull and neck on), the MNI152 template found beside it, Align to MNI152 on the template's own 1 mm grid:
   the aligned T1 (grey) over the template (magenta, additive: white where they agree) and the template brain's
   outline; the correlation inside the template's brain before and after is printed and shown in the dock.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_alzheimer.py
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from qtpy.QtWidgets import QApplication, QFileDialog

import napari

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1280, 800))
SHARED = Path(os.environ.get("MEDAI_SHARED_DATA", "/work/shared/data"))
CHRIS = SHARED / "brain_t1" / "chris_t1.nii.gz"


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def finish(w: object, what: str) -> None:
    if not w.wait_idle(1200) or w.jobs.last_error:
        sys.exit(f"{what} failed: {w.jobs.status.text()}")
    print(f"{what}: {w.jobs.status.text()}")


def train_small_model(cohort: Path, out: Path) -> None:
    import torch

    from napari_medai.core.tasks.alzheimer.train import train_alzheimer

    torch.set_num_threads(1)
    r = train_alzheimer(cohort, cohort / "labels.csv", out, n_landmarks=10, min_distance_mm=15.0, patch=16,
                        align="skip", max_epochs=8, device="cpu", batch_size=4, steps_per_epoch=4,
                        network={"features": [8, 16], "fc": [16], "patch_fc": 16}, seed=0)
    print("trained:", r.summary())


def phantom() -> None:
    tmp = Path(tempfile.mkdtemp(prefix="medai-alz-shots-"))
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    viewer.open_sample("napari-medai", "alzheimer_cohort")
    for layer in viewer.layers:
        layer.visible = layer.name == "subject_00"
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Alzheimer's disease (T1 MRI)")
    lp = w.landmark_page
    w.tabs.setCurrentWidget(lp)
    QFileDialog.getExistingDirectory = staticmethod(lambda *a, **k: str(tmp / "cohort"))  # the user's pick
    lp.write_button.click()
    finish(w, "write the cohort")
    lp.n_spin.setValue(10)
    lp.find_button.click()
    finish(w, "landmarks")
    train_small_model(tmp / "cohort", tmp / "model")
    w.use_model_folder(str(tmp / "model"))
    w.t1_combo.setCurrentText("subject_00")
    w.predict_page.aligned_check.setChecked(True)
    w.predict_page.predict_button.click()
    finish(w, "predict")
    ep = w.evaluate_page
    w.tabs.setCurrentWidget(ep)
    ep.cohort.set_text(str(tmp / "cohort"))
    ep.align_combo.setCurrentIndex(2)  # already aligned (the cohort's one grid)
    ep.evaluate_button.click()
    finish(w, "evaluate")
    ep.threshold_spin.setValue(0.4)
    print(ep.auc.text().replace("\n", " | "))
    print(ep.figures.text())
    print("predict:", w.predict_page.headline.text())
    for name in ("AD saliency",):
        viewer.layers[name].visible = False
    for width, height in SIZES:
        viewer.window._qt_window.resize(width, height)
        pump()
        viewer.reset_view()
        pump()
        path = ROOT / "docs" / f"alzheimer-{width}x{height}.png"
        print(f"{path.name}: window {width}x{height}, dock {w.width()}x{w.height()}")
        viewer.screenshot(str(path), canvas_only=False)
    viewer.close()


def chris() -> None:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    viewer.open(str(CHRIS), plugin="napari-medai")
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Alzheimer's disease (T1 MRI)")
    print("template:", w.template.text())
    w.align_page.grid_combo.setCurrentIndex(1)  # the template's own 1 mm grid
    w.align_page.align_button.click()
    finish(w, "align chris_t1")
    print(w.align_page.info.text())
    pump()
    viewer.reset_view()
    pump()
    path = ROOT / "docs" / "alzheimer-chris_t1-overlay.png"
    viewer.screenshot(str(path), canvas_only=False)
    print(f"{path.name}: written")
    viewer.close()


if __name__ == "__main__":
    which = sys.argv[1:] or ["phantom", "chris"]
    if "phantom" in which:
        phantom()
    if "chris" in which:
        if CHRIS.is_file():
            chris()
        else:
            print(f"{CHRIS} is absent: no docs/alzheimer-chris_t1-overlay.png")
