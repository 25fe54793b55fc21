"""``napari-medai demo``: the main job on built-in sample data.

Builds a sample case (seeded phantom), runs the task that exists for it, compares the result with
the case's ground truth through the agreement core, and shows it in napari — or, with
``--headless``, writes the inputs, the result, the metrics (JSON) and a screenshot to ``--out``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

NAME = "demo"
HELP = "run the main job on built-in sample data (open napari, or --headless --out DIR)"

CASES = ("brain_tumour",)
#: ``--model`` value that selects the weight-free intensity baseline instead of a network.
BASELINE = "threshold-baseline"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--case", choices=CASES, default="brain_tumour", help="sample case (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="phantom seed (default: %(default)s)")
    parser.add_argument("--headless", action="store_true", help="no window: write outputs and a screenshot to --out")
    parser.add_argument("--out", type=Path, default=None, help="output folder (required with --headless)")
    parser.add_argument("--tolerance-mm", type=float, default=1.0, help="NSD tolerance in mm (default: %(default)s)")
    parser.add_argument("--model", default="brain-tumour-default",
                        help="segmentation model: a registry name or model folder (default: %(default)s, the "
                             f"network trained on the project's phantoms), or '{BASELINE}' for the weight-free "
                             "FLAIR/T1c threshold baseline")


def run_case(case: str, *, seed: int = 0, tolerance_mm: float = 1.0, model: str = BASELINE) -> dict:
    """Build the sample case, segment it with ``model`` and evaluate it. Returns volumes and results."""
    from ..core.evaluate import evaluate_volumes
    from ..core.phantoms import make_phantom
    from ..core.tasks import brain_tumour_baseline

    if case != "brain_tumour":  # pragma: no cover - argparse restricts choices
        raise ValueError(case)
    t0 = time.perf_counter()
    vols = make_phantom("brain_tumour", seed=seed)
    t1 = time.perf_counter()
    if model == BASELINE:
        pred = brain_tumour_baseline.segment(vols["flair"], vols["t1c"], brainmask=vols.get("brainmask"))
    else:
        from ..core.inference.segmentation import predict

        p = predict(model, {k: vols[k] for k in ("flair", "t1", "t1c", "t2")}, brainmask=vols.get("brainmask"))
        what = p.trained_on if p.is_trained else "NOT TRAINED (random weights)"
        pred = p.labels.with_data(p.labels.data, meta={**p.labels.meta, "model": f"{p.model_name} ({what})"})
    t2 = time.perf_counter()
    result = evaluate_volumes(
        pred, vols["seg"], convention="brats2021", tolerance_mm=tolerance_mm, case=f"{case}-seed{seed}"
    )
    t3 = time.perf_counter()
    return {
        "inputs": vols,
        "prediction": pred,
        "ground_truth": vols["seg"],
        "result": result,
        "timings_s": {"phantom": t1 - t0, "segment": t2 - t1, "evaluate": t3 - t2},
        "model": pred.meta.get("model"),
        "convention": "brats2021",
    }


def write_outputs(job: dict, out: Path) -> dict[str, str]:
    """Write inputs, prediction and metrics JSON into ``out``; returns the written paths."""
    from ..core.evaluate import to_json_dict, write_json
    from ..core.io import write_volume

    out.mkdir(parents=True, exist_ok=True)
    (out / "inputs").mkdir(exist_ok=True)
    written: dict[str, str] = {}
    for key, vol in job["inputs"].items():
        written[key] = str(write_volume(vol, out / "inputs" / f"{key}.nii.gz", overwrite=True))
    written["prediction"] = str(write_volume(job["prediction"], out / "prediction.nii.gz", overwrite=True))
    doc = to_json_dict([job["result"]])
    doc["model"] = job["model"]
    doc["timings_s"] = {k: round(v, 3) for k, v in job["timings_s"].items()}
    write_json(doc, out / "metrics.json")
    written["metrics"] = str(out / "metrics.json")
    return written


def _print_summary(job: dict) -> None:
    regions = job["result"].regions
    print(f"model: {job['model']}")
    print(f"{'region':8s} {'Dice':>6s} {'HD95 mm':>8s} {'ASSD mm':>8s} {'vol pred ml':>12s} {'vol GT ml':>10s}")
    for name, row in regions.items():
        print(
            f"{name:8s} {row['dice']:6.3f} {row['hd95_mm']:8.2f} {row['assd_mm']:8.2f} "
            f"{row['volume_pred_ml']:12.2f} {row['volume_gt_ml']:10.2f}"
        )


def run(args: argparse.Namespace) -> int:
    from ..core.errors import InvalidInputError

    if args.headless and args.out is None:
        raise InvalidInputError("--headless needs --out DIR (where the outputs and screenshot go)")
    job = run_case(args.case, seed=args.seed, tolerance_mm=args.tolerance_mm, model=args.model)
    _print_summary(job)
    if args.out is not None:
        written = write_outputs(job, args.out)
        print(f"wrote {len(written)} files to {args.out}")
    if args.headless:
        shot = args.out / "screenshot.png"
        how = headless_screenshot(job, shot)
        print(f"screenshot: {shot} ({how})")
        return 0
    return show_in_napari(job)


def _build_viewer(job: dict, *, show: bool):
    import napari

    from .._napari.layers import volume_to_layer_data

    viewer = napari.Viewer(show=show, title="napari-medai demo")
    for vol in job["inputs"].values():
        if vol.is_label:
            continue
        for data, kw, kind in volume_to_layer_data(vol):
            kw = dict(kw)
            kw["visible"] = vol.name in ("flair", "t1c")
            getattr(viewer, f"add_{kind}")(data, **kw)
    for vol, name in ((job["ground_truth"], "ground truth"), (job["prediction"], "prediction")):
        for data, kw, kind in volume_to_layer_data(vol.with_data(vol.data, name=name)):
            getattr(viewer, f"add_{kind}")(data, **kw)
    try:
        from .._napari.agreement_widget import AgreementWidget
    except ImportError:
        AgreementWidget = None  # noqa: N806 - the panel arrives with the agreement issue
    if AgreementWidget is not None:
        widget = AgreementWidget(viewer)
        viewer.window.add_dock_widget(widget, name="Agreement", area="right")
        widget.set_pair(pred="prediction", gt="ground truth", convention=job["convention"])
        viewer.window._medai_agreement = widget
    # centre on the tumour
    gt = job["ground_truth"]
    import numpy as np

    zs = np.nonzero(gt.data.any(axis=(1, 2)))[0]
    if zs.size:
        z = int(zs[len(zs) // 2])
        viewer.dims.set_point(0, gt.index_to_world(np.array([z, 0, 0]))[0])
    return viewer


def headless_screenshot(job: dict, path: Path) -> str:
    """Screenshot of the napari window (on a virtual display when none is set)."""
    display = None
    if not os.environ.get("DISPLAY"):
        try:
            from pyvirtualdisplay import Display

            display = Display(visible=False, size=(1280, 1024), color_depth=24)
            display.start()
        except Exception as exc:  # noqa: BLE001 - report and fall back, the rest is written
            print(f"no virtual display ({exc}); install xvfb for a napari screenshot", file=sys.stderr)
            return _matplotlib_snapshot(job, path)
    try:
        viewer = _build_viewer(job, show=True)
        try:
            from qtpy.QtWidgets import QApplication

            QApplication.processEvents()
            viewer.window.resize(1400, 900)
            widget = getattr(viewer.window, "_medai_agreement", None)
            if widget is not None:
                widget.wait_idle()
            QApplication.processEvents()
            viewer.screenshot(str(path), canvas_only=False)
        finally:
            viewer.close()
        return "napari window"
    finally:
        if display is not None:
            display.stop()


def _matplotlib_snapshot(job: dict, path: Path) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    flair = job["inputs"]["flair"].data
    gt = job["ground_truth"].data
    pred = job["prediction"].data
    z = int(np.argmax((gt > 0).sum(axis=(1, 2))))
    fig, axes = plt.subplots(1, 2, figsize=(8, 4))
    for ax, lab, title in ((axes[0], gt, "ground truth"), (axes[1], pred, "prediction")):
        ax.imshow(flair[z], cmap="gray")
        ax.contour(lab[z] > 0, colors="lime", linewidths=0.8)
        ax.set_title(title)
        ax.axis("off")
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return "matplotlib fallback (no display for napari)"


def show_in_napari(job: dict) -> int:
    import napari

    _build_viewer(job, show=True)
    napari.run()
    return 0
