"""The packaged ``brain-tumour-default`` network against the weight-free threshold baseline on
held-out brain-tumour phantoms (seeds 0-4: never used to train the network; the baseline's two
thresholds were chosen on seeds 1-4, so seed 0 is the only case unseen by both).

Run::

    .venv/bin/python examples/default_model_on_phantoms.py [--seeds 0 1 2 3 4] [--model brain-tumour-default]

Prints a markdown table of WT / TC / ET Dice and HD95 per seed and method, and the means.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from napari_medai.core.evaluate import evaluate_volumes  # noqa: E402
from napari_medai.core.inference.segmentation import predict  # noqa: E402
from napari_medai.core.models import load_model  # noqa: E402
from napari_medai.core.phantoms import make_phantom  # noqa: E402
from napari_medai.core.tasks import brain_tumour_baseline  # noqa: E402

REGIONS = ("WT", "TC", "ET")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--model", default="brain-tumour-default")
    args = ap.parse_args()
    model = load_model(args.model)
    print(f"model: {model.contract.name} - {model.contract.trained_on}\n")
    print("| seed | method | " + " | ".join(f"{r} Dice / HD95 mm" for r in REGIONS) + " |")
    print("|---|---|" + "---|" * len(REGIONS))
    scores: dict[str, list[list[float]]] = {"network": [], "baseline": []}
    for seed in args.seeds:
        v = make_phantom("brain_tumour", seed=seed)
        net = predict(model, {k: v[k] for k in ("flair", "t1", "t1c", "t2")}, brainmask=v["brainmask"]).labels
        base = brain_tumour_baseline.segment(v["flair"], v["t1c"], brainmask=v["brainmask"])
        for name, pred in (("network", net), ("baseline", base)):
            res = evaluate_volumes(pred, v["seg"], convention="brats2021", case=f"seed{seed}")
            row = [res.regions[r]["dice"] for r in REGIONS]
            scores[name].append(row)
            cells = " | ".join(f"{res.regions[r]['dice']:.3f} / {res.regions[r]['hd95_mm']:.1f}" for r in REGIONS)
            print(f"| {seed} | {name} | {cells} |")
    for name, rows in scores.items():
        m = np.mean(rows, axis=0)
        print(f"| mean | {name} | " + " | ".join(f"{x:.3f}" for x in m) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
