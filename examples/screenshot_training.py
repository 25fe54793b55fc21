"""Screenshots of the brain-tumour training widget after a short run on phantom cases
(``docs/training-1600x1000.png`` and ``docs/training-1280x800.png``).

The journey of ``tests/napari/test_journey_training.py`` in a real window: the brain-tumour sample opened,
the widget opened from the Plugins menu, three 48^3 phantom cases (BraTS 2021 names, written to a temporary
folder) chosen as the data folder, a tiny recipe typed in (16^3 patches, 8 filters, one CPU thread), Train,
and the finished run's summary, status and loss / Dice plot. The model folder goes to a temporary home.

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_training.py [OUT_DIR]
"""

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs"
OUT.mkdir(parents=True, exist_ok=True)
TMP = Path(tempfile.mkdtemp(prefix="medai-training-shot-"))
os.environ["HOME"] = str(TMP / "home")  # the default model folder goes under ~/napari-medai/models

from qtpy.QtWidgets import QApplication  # noqa: E402 - after HOME is set

import napari  # noqa: E402
from napari_medai.core.io import write_volume  # noqa: E402
from napari_medai.core.phantoms import brain_tumour_phantom  # noqa: E402

cases = TMP / "cases"
for seed in (1, 2, 3):
    vols = brain_tumour_phantom(seed=seed, shape=(48, 48, 48))
    name = f"BraTS2021_{seed:05d}"
    (cases / name).mkdir(parents=True)
    for key, suffix in (("flair", "flair"), ("t1", "t1"), ("t1c", "t1ce"), ("t2", "t2"), ("seg", "seg")):
        write_volume(vols[key], cases / name / f"{name}_{suffix}.nii.gz")

viewer = napari.Viewer(show=True)
viewer.window._qt_window.resize(1600, 1000)
viewer.open_sample("napari-medai", "brain_tumour")
_dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Brain tumour training (your labelled cases)")
w.set_data_folder(cases)
r = w.recipe
for spin, value in ((r.epochs_spin, 6), (r.val_spin, 0.34), (r.threads_spin, 1), (r.minutes_spin, 0),
                    (r.patch_spin, 16), (r.steps_spin, 4), (r.batch_spin, 1), (r.window_spin, 16),
                    (r.spacing_spin, 2.0), (r.filters_spin, 8)):
    spin.setValue(value)
r.device_combo.setCurrentText("cpu")
r.advanced_check.setChecked(True)
w.train_button.click()
if not w.wait_idle(600):
    sys.exit("training did not finish")
print(w.jobs.status.text())
print(w.summary.text())


def shoot(width: int, height: int) -> None:
    viewer.window._qt_window.resize(width, height)
    for _ in range(60):
        QApplication.processEvents()
    path = OUT / f"training-{width}x{height}.png"
    viewer.screenshot(str(path), canvas_only=False)
    print(f"screenshot: {path}")


shoot(1600, 1000)
r.advanced_check.setChecked(False)  # closed again, as after setting up: the plot stays in view at 800 px
shoot(1280, 800)
viewer.close()
