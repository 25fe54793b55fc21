"""Screenshots of five docks after their journeys, taken in a real napari window.

Each journey is its test's (``tests/napari/test_journey_*.py``) with tiny, fast settings (small phantoms, one
CPU thread, a few epochs); the window at 1600 x 1000 and at 1280 x 800 is saved as
``docs/<dock>-1600x1000.png`` and ``docs/<dock>-1280x800.png`` (the training docks scrolled down to the finished
run's plot and summary, as they scroll when a run ends):

``cac-agreement``
    Plugins > napari-medai > Calcium score agreement (cohort CSVs); "Reference scores CSV…" and "Automatic scores
    CSV…" given two CSV files of a made-up cohort (written here: 24 reference Agatston totals drawn from a
    seeded log-normal, with per-artery LM / LAD / LCX / RCA; the automatic scores are those with a seeded 15 %
    error, one missed small lesion and one false positive, so the statistics have something to show); the
    Statistics tab at 1600 x 1000, the Bland-Altman tab at 1280 x 800.
``stroke-training``
    File > Open Sample > Stroke MRI; Plugins > napari-medai > Stroke training (your labelled cases); three
    stroke phantoms (24 x 40 x 36, ISLES'22 BIDS names, ADC in 10^-3 mm^2/s) chosen with "Browse…"; DeepMedic,
    4 epochs of 2 steps, one case for validation, one CPU thread; Train; the finished run's summary and plot.
``alzheimer-training``
    File > Open Sample > T1 brain cohort; Plugins > napari-medai > Alzheimer training (labelled T1 cohort); a
    tiny labelled cohort (8 phantoms on one 2 mm grid, 24 x 28 x 24, labels.csv with sources) chosen with
    "Browse…", already aligned, L = 3 landmarks, 4 epochs of 2 steps, patch 16; Train; summary and plot.
``classify-training``
    Plugins > napari-medai > Image classification training (class folders); class folders of 40 x 48 grey PNGs
    (8 with a bright blob, 8 plain) chosen with "Browse…"; resnet10-slim, 4 epochs at 32 px, batch 8, one CPU
    thread; Train; summary and plot; then one image opened with File > Open.
``batch``
    Plugins > napari-medai > Cohort batch run; a cohort of three low-dose CT phantom slices (128 px, with their
    full-dose references) and one unreadable file; task denoise, method gaussian, a local Dask cluster of two
    workers; Run cohort; the filled table and summary; then a click on the row of case_001 (its CT, full-dose
    reference and denoised result opened as layers).

Run (needs a display; headless with Xvfb)::

    xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python examples/screenshot_docks.py [DOCK ...] [--out DIR]
"""

from __future__ import annotations

import argparse
import atexit
import csv
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = ((1600, 1000), (1280, 800))
TMP = Path(tempfile.mkdtemp(prefix="medai-dock-shots-"))
atexit.register(shutil.rmtree, TMP, ignore_errors=True)
os.environ["HOME"] = str(TMP / "home")  # default model folders go under ~/napari-medai/models: a temporary home

from qtpy.QtCore import Qt  # noqa: E402 - after HOME is set
from qtpy.QtTest import QTest  # noqa: E402
from qtpy.QtWidgets import QApplication, QFileDialog, QScrollArea  # noqa: E402

import napari  # noqa: E402


def pump(n: int = 50) -> None:
    for _ in range(n):
        QApplication.processEvents()


def pick(path: Path) -> None:
    """The user's choice in the next file or folder dialog."""
    QFileDialog.getExistingDirectory = staticmethod(lambda *a, **k: str(path))
    QFileDialog.getOpenFileName = staticmethod(lambda *a, **k: (str(path), "CSV (*.csv)"))


def finish(w: object, what: str, timeout_s: float = 300) -> None:
    wait = getattr(w, "wait_idle", w.jobs.wait_idle)  # the batch dock waits on its runner
    if not wait(timeout_s) or w.jobs.last_error:
        sys.exit(f"{what} failed: {w.jobs.status.text()}")
    print(f"{what}: {w.jobs.status.text()}")


def shoot(viewer: napari.Viewer, w: object, stem: str, out: Path,
          before: Callable[[tuple[int, int]], None] | None = None) -> None:
    """Save the whole window at each size (``before(size)`` sets the dock up for that size)."""
    for size in SIZES:
        viewer.window._qt_window.resize(*size)  # an example script may size the window
        if before is not None:
            before(size)
        pump(40)
        viewer.reset_view()  # the canvas' new size
        pump(40)
        path = out / f"{stem}-{size[0]}x{size[1]}.png"
        print(f"{path.name}: window {size}, dock {w.width()}x{w.height()}")
        viewer.screenshot(str(path), canvas_only=False)


def new_viewer() -> napari.Viewer:
    viewer = napari.Viewer(show=True)
    viewer.window._qt_window.resize(*SIZES[0])
    return viewer


# ---------------------------------------------------------------------------------------------- cac-agreement
def write_score_csvs(folder: Path, n: int = 24, seed: int = 0) -> tuple[Path, Path]:
    """Reference and automatic per-case Agatston scores of a made-up cohort (see the module docstring)."""
    rng = np.random.default_rng(seed)
    share = rng.dirichlet((1.0, 4.0, 2.0, 3.0), size=n)  # LM, LAD, LCX, RCA
    total = np.where(rng.random(n) < 0.25, 0.0, rng.lognormal(4.5, 1.6, n))
    ref = total[:, None] * share
    auto = ref * rng.normal(1.0, 0.15, ref.shape).clip(0.5, 1.6)
    small = int(np.argmin(np.where(total > 0, total, np.inf)))
    auto[small] = 0.0  # a missed small lesion
    zero = int(np.flatnonzero(total == 0)[0])
    auto[zero, 1] = 18.0  # a false positive in the LAD
    paths = []
    for name, scores in (("reference", ref), ("automatic", auto)):
        path = folder / f"{name}_scores.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as f:
            out = csv.writer(f)
            out.writerow(["case", "total", "LM", "LAD", "LCX", "RCA"])
            for i, row in enumerate(scores):
                out.writerow([f"case{i + 1:02d}", f"{row.sum():.1f}", *(f"{v:.1f}" for v in row)])
        paths.append(path)
    return paths[0], paths[1]


def cac_agreement(out: Path) -> None:
    ref, auto = write_score_csvs(TMP / "scores")
    viewer = new_viewer()
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Calcium score agreement (cohort CSVs)")
    pick(ref)
    w.ref_button.click()
    pick(auto)
    w.auto_button.click()
    finish(w, "agreement")
    print(w.kappa_label.text())

    def tab(size: tuple[int, int]) -> None:
        w.tabs.setCurrentIndex(0 if size == SIZES[0] else 1)  # Statistics, then Bland-Altman
        finish(w, "tab")

    shoot(viewer, w, "cac-agreement", out, tab)
    viewer.close()


# ---------------------------------------------------------------------------------------------- training docks
def set_recipe(w: object, **values: float) -> None:
    """The recipe a user types for a quick run: CPU, one thread, no time limit, ``values`` by spin name."""
    r = w.recipe
    r.device_combo.setCurrentText("cpu")
    r.threads_spin.setValue(1)
    r.minutes_spin.setValue(0)
    r.advanced_check.setChecked(True)
    for name, value in values.items():
        getattr(r, f"{name}_spin").setValue(value)


def train(w: object, what: str) -> None:
    t0 = time.perf_counter()
    w.train_button.click()
    finish(w, what, 600)
    print(f"{what}: {time.perf_counter() - t0:.0f} s (load {os.getloadavg()[0]:.1f}); {w.summary.text()}")


def scrolled_down(w: object) -> Callable[[tuple[int, int]], None]:
    """At each size, the dock scrolled down to the summary, as the widget scrolls it when the run ends (the
    window is resized after that here)."""
    def scroll(_size: tuple[int, int]) -> None:
        pump()
        bar = w.findChild(QScrollArea).verticalScrollBar()
        bar.setValue(bar.maximum())
    return scroll


def write_stroke_cases(folder: Path, seeds: tuple[int, ...] = (1, 2, 3)) -> Path:
    """Stroke phantoms as ISLES'22 BIDS (rawdata DWI and ADC in 10^-3 mm^2/s, derivatives mask)."""
    from napari_medai.core.io import write_volume
    from napari_medai.core.phantoms.stroke import stroke_phantom

    for s in seeds:
        p = stroke_phantom(seed=s, shape=(24, 40, 36), with_flair=False)
        adc = p["adc"].with_data(np.asarray(p["adc"].data, dtype=np.float32) * np.float32(1e-3))
        sub, ses = f"sub-strokecase{s:04d}", "ses-0001"
        write_volume(p["dwi"], folder / "rawdata" / sub / ses / f"{sub}_{ses}_dwi.nii.gz")
        write_volume(adc, folder / "rawdata" / sub / ses / f"{sub}_{ses}_adc.nii.gz")
        write_volume(p["lesion"], folder / "derivatives" / sub / ses / f"{sub}_{ses}_msk.nii.gz")
    return folder


def stroke_training(out: Path) -> None:
    cases = write_stroke_cases(TMP / "stroke_cases")
    viewer = new_viewer()
    viewer.open_sample("napari-medai", "stroke")
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Stroke training (your labelled cases)")
    w.network_combo.setCurrentText("DeepMedic")
    pick(cases)
    w.data_browse.click()
    print(w.cases_info.text())
    set_recipe(w, epochs=4, val=0.34, steps=2, batch=1, window=25)
    train(w, "stroke training")
    shoot(viewer, w, "stroke-training", out, scrolled_down(w))
    viewer.close()


def write_alzheimer_cohort(root: Path, n: int = 8) -> Path:
    """A tiny labelled cohort on one 2 mm grid: t1/<subject>.nii.gz and labels.csv (sources pair one AD with
    one NC subject)."""
    from napari_medai.core.io import write_volume
    from napari_medai.core.phantoms import alzheimer_cohort_phantom

    rows, k = [], {"AD": 0, "NC": 0}
    for name, vol in alzheimer_cohort_phantom(seed=1, n_subjects=n, shape=(24, 28, 24)).items():
        write_volume(vol, root / "t1" / f"{name}.nii.gz")
        dx = vol.meta["diagnosis"]
        k[dx] += 1
        rows.append({"subject": name, "diagnosis": dx, "source": f"src{k[dx]}"})
    with open(root / "labels.csv", "w", newline="") as f:
        out = csv.DictWriter(f, fieldnames=["subject", "diagnosis", "source"])
        out.writeheader()
        out.writerows(rows)
    return root


def alzheimer_training(out: Path) -> None:
    cohort = write_alzheimer_cohort(TMP / "alz_cohort")
    viewer = new_viewer()
    viewer.open_sample("napari-medai", "alzheimer_cohort")
    for layer in viewer.layers:
        layer.visible = layer.name == "subject_00"
    viewer.layers.selection.active = viewer.layers["subject_00"]
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Alzheimer training (labelled T1 cohort)")
    pick(cohort)
    w.data_browse.click()  # the labels CSV beside the t1 folder is found
    print(w.cases_info.text())
    a = w.alzheimer
    a.align_combo.setCurrentIndex(2)  # already aligned (one grid)
    a.n_spin.setValue(3)
    a.distance_spin.setValue(8.0)
    set_recipe(w, epochs=4, steps=2, batch=4, patch=16)
    train(w, "alzheimer training")
    shoot(viewer, w, "alzheimer-training", out, scrolled_down(w))
    viewer.close()


def write_class_folders(root: Path, n: int = 8) -> Path:
    """Class folders of 40 x 48 grey PNGs: ``blob`` (a bright disc) and ``plain``."""
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    for cls in ("blob", "plain"):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img = rng.normal(70.0, 8.0, (40, 48))
            if cls == "blob":
                r, c = rng.integers(10, 30), rng.integers(10, 38)
                yy, xx = np.ogrid[:40, :48]
                img[(yy - r) ** 2 + (xx - c) ** 2 <= 30] += 140.0
            imsave(str(root / cls / f"{cls}_{i}.png"), np.clip(img, 0, 255).astype(np.uint8), check_contrast=False)
    return root


def classify_training(out: Path) -> None:
    data = write_class_folders(TMP / "classes")
    viewer = new_viewer()
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Image classification training (class folders)")
    pick(data)
    w.data_browse.click()
    print(w.cases_info.text())
    set_recipe(w, epochs=4, patch=32, batch=8)
    train(w, "classify training")
    viewer.open(str(data / "blob" / "blob_0.png"), plugin="napari-medai")
    shoot(viewer, w, "classify-training", out, scrolled_down(w))
    viewer.close()


# ---------------------------------------------------------------------------------------------- batch
def batch(out: Path) -> None:
    from napari_medai.core.cohort import write_phantom_cohort

    cohort = TMP / "cohort"
    write_phantom_cohort("denoise", cohort, seeds=(0, 1, 2), phantom_options={"n_slices": 1, "size": 128})
    (cohort / "broken.nii.gz").write_bytes(b"not an image")
    viewer = new_viewer()
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Cohort batch run")
    w.task_combo.setCurrentText("denoise")
    pick(cohort)
    w.cohort_button.click()
    pick(TMP / "batch_out")
    w.out_button.click()
    w.method_edit.setText("gaussian")
    w.workers_spin.setValue(2)
    t0 = time.perf_counter()
    w.run_button.click()
    finish(w, "cohort run", 300)
    print(f"cohort run: {time.perf_counter() - t0:.0f} s (load {os.getloadavg()[0]:.1f}); {w.summary.text()}")
    table = w.table
    row = next(i for i in range(table.rowCount()) if table.item(i, 0).text() == "case_001")
    table.scrollToItem(table.item(row, 0))
    pump()
    QTest.mouseClick(table.viewport(), Qt.LeftButton, pos=table.visualItemRect(table.item(row, 0)).center())
    finish(w, "open case")
    shoot(viewer, w, "batch", out)
    viewer.close()


DOCKS = {"cac-agreement": cac_agreement, "stroke-training": stroke_training, "alzheimer-training": alzheimer_training,
         "classify-training": classify_training, "batch": batch}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("docks", nargs="*", metavar="DOCK", help=f"any of {', '.join(DOCKS)} (default: all)")
    p.add_argument("--out", type=Path, default=ROOT / "docs")
    args = p.parse_args(argv)
    unknown = [d for d in args.docks if d not in DOCKS]
    if unknown:
        p.error(f"unknown dock(s) {', '.join(unknown)}; choose among {', '.join(DOCKS)}")
    args.out.mkdir(parents=True, exist_ok=True)
    import torch

    torch.set_num_threads(1)
    for name in args.docks or DOCKS:
        t0 = time.perf_counter()
        DOCKS[name](args.out)
        print(f"{name}: {time.perf_counter() - t0:.0f} s in all (load {os.getloadavg()[0]:.1f})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
