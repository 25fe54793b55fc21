"""Leave-one-case-out cross-validation of brain-tumour training recipes on the shared BraTS 2013 cases.

Each fold trains on 3 of the 4 cases (no validation split: all 3 train, the time limit ends the run)
and segments the 4th; Dice of WT / TC / ET is printed per fold and recipe, for the plain prediction
and for the inference-time options (flip TTA, connected-component clean-up), with the out-of-
distribution verdict of the held-out case, the time per epoch, the peak memory of the training
process and the load average (the machine is shared: times are inflated).

Each fold runs in its own process (so that peak memory is the fold's); finished folds are reused,
so the script can be stopped and started again::

    nice -n 10 python benchmarks/brats_recipe_cv.py --data ../shared/data/brats2013_flair_t1c \\
        --work /tmp/cv6 --recipes default,strong-aug+time-lr --time-limit 840 --jobs 2

Recipes (:data:`RECIPES`) are keyword overrides of ``train_brain_tumour``.

``--input-check`` needs no training: it prepares the four cases as the default contract does (FLAIR +
T1c, constant-background brain region, 2 mm RAS), prints each case's intensity distance and neighbour
correlation against the other three (leave one out) and the limits they give, the verdict of the
intensity signals on the BraTS 2023 case (raw int16, zero background, another centre), and the largest
difference between the normalised input of pat0003 as distributed (z-scored, constant background) and
of the same case made raw (de-z-scored, zero background) under each brain-region rule::

    nice -n 10 python benchmarks/brats_recipe_cv.py --data ../shared/data/brats2013_flair_t1c \
        --work /tmp/brats_cv --input-check --other ../shared/data/brats2023_gli_00001
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

#: Recipe name -> overrides of :data:`napari_medai.core.tasks.brain_tumour.DEFAULT_RECIPE`.
RECIPES: dict[str, dict] = {
    "default": {},
    "strong-aug": {"augmentation": "strong"},
    "strong-aug-pos0.66": {"augmentation": "strong", "pos_fraction": 0.66},
    "time-lr": {"lr_schedule": "time"},
    "strong-aug+time-lr": {"augmentation": "strong", "lr_schedule": "time"},
    "contrast-aug": {"augmentation": "contrast"},
}
#: Inference-time variants evaluated on every fold model.
VARIANTS = ("plain", "tta", "cc0.1", "tta+cc0.1")
REGIONS = ("WT", "TC", "ET")


def _dice(a, b) -> float:
    import numpy as np

    sa, sb = int(a.sum()), int(b.sum())
    return 1.0 if sa + sb == 0 else 2.0 * int(np.logical_and(a, b).sum()) / (sa + sb)


def train_fold(data: Path, work: Path, recipe: str, held_out: str, time_limit: float) -> None:
    import torch

    from napari_medai.core.tasks.brain_tumour import find_cases, train_brain_tumour

    torch.set_num_threads(1)
    cases = find_cases(data, require_labels=True)
    train_cases = [c for c in cases if c.name != held_out]
    out = work / recipe / held_out
    load0 = os.getloadavg()
    t0 = time.perf_counter()
    res = train_brain_tumour(data, out_dir=out / "model", cases=train_cases, val_fraction=0.0,
                             time_limit_s=time_limit, num_threads=1, device="cpu", resume=True, **RECIPES[recipe])
    secs = [h["seconds"] for h in res.history]
    rec = {"recipe": recipe, "held_out": held_out, "train": [c.name for c in train_cases],
           "epochs": res.epochs_run, "stop_reason": res.stop_reason, "wall_s": round(time.perf_counter() - t0, 1),
           "s_per_epoch": round(sum(secs) / max(len(secs), 1), 1),
           "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
           "load_before": [round(x, 2) for x in load0], "load_after": [round(x, 2) for x in os.getloadavg()]}
    (out / "train.json").write_text(json.dumps(rec, indent=1))


def eval_fold(data: Path, work: Path, recipe: str, held_out: str) -> None:
    import numpy as np
    import torch

    from napari_medai.core.io import read_volume
    from napari_medai.core.metrics import get_convention
    from napari_medai.core.models import load_model
    from napari_medai.core.tasks.brain_tumour import drop_small_components, find_cases, segment

    torch.set_num_threads(1)
    case = next(c for c in find_cases(data, require_labels=True) if c.name == held_out)
    out = work / recipe / held_out
    model = load_model(out / "model")
    chans = {k: read_volume(v, as_label=False) for k, v in case.channels.items() if k in model.contract.channels}
    truth = np.asarray(read_volume(case.label, as_label=True).data)
    conv = get_convention("brats2013")
    res: dict = {"recipe": recipe, "held_out": held_out, "dice": {}, "seconds": {}}
    preds = {}
    for tta in (False, True):
        t0 = time.perf_counter()
        p = segment(chans, model=model, convention="brats2013", tta=tta, uncertainty=None, device="cpu",
                    min_component_fraction=0)  # the raw prediction; the clean-up is a variant below
        res["seconds"]["tta" if tta else "plain"] = round(time.perf_counter() - t0, 1)
        preds["tta" if tta else "plain"] = p
    res["quality"] = preds["plain"].quality.as_dict()
    for v in VARIANTS:
        base = preds["tta" if v.startswith("tta") else "plain"].labels
        lab = drop_small_components(base, fraction=0.1)[0] if v.endswith("cc0.1") else base
        arr = np.asarray(lab.data)
        res["dice"][v] = {r: round(_dice(np.isin(arr, conv.regions[r]), np.isin(truth, conv.regions[r])), 4)
                          for r in REGIONS}
    res["volumes_ml"] = {"predicted_WT": round(preds["plain"].region_volumes_ml.get("WT", 0.0), 1),
                         "true_WT": round(float(np.isin(truth, conv.regions["WT"]).sum()) * 1e-3, 1)}
    (out / "eval.json").write_text(json.dumps(res, indent=1))


def input_check(data: Path, other: Path | None) -> None:
    import numpy as np

    from napari_medai.core.inference.prepare import prepare_input
    from napari_medai.core.io import read_volume
    from napari_medai.core.ood import assess, build_reference, intensity_profile
    from napari_medai.core.tasks.brain_tumour import brain_tumour_task, find_cases

    t0 = time.perf_counter()
    contract = brain_tumour_task(("flair", "t1c")).contract
    cases = find_cases(data, require_labels=True)
    recs, vols0 = [], None
    for c in cases:
        vols = {k: read_volume(c.channels[k], as_label=False) for k in ("flair", "t1c")}
        if vols0 is None:
            vols0, mask0 = vols, np.asarray(read_volume(c.brainmask).data) > 0.5
        x, _ = prepare_input(contract, vols)
        recs.append({"name": c.name, "profile": intensity_profile(x, contract.channels)})
    ref = build_reference(recs)
    print(f"input check on {len(recs)} cases ({time.perf_counter() - t0:.0f} s, load {os.getloadavg()[0]:.1f})")
    for r in ref["cases"]:
        print(f"  {r['name']:22s} LOO distance " + ", ".join(f"{k} {v:.3f}" for k, v in r["intensity_distance"].items())
              + "; neighbour correlation " + ", ".join(f"{k} {v:.3f}" for k, v in r["neighbour_correlation"].items()))
    lim = ref["limits"]
    print("  limits: distance " + ", ".join(f"{k} <= {v:.3f}" for k, v in lim["intensity_distance"].items())
          + "; correlation " + ", ".join(f"{k} {v[0]:.3f}..{v[1]:.3f}" for k, v in lim["neighbour_correlation"].items()))
    if other is not None:
        from napari_medai.core.tasks.brain_tumour import find_cases as fc

        oc = fc(other)[0]
        x, _ = prepare_input(contract, {k: read_volume(oc.channels[k], as_label=False) for k in ("flair", "t1c")})
        q = assess(ref, intensity_profile(x, contract.channels), {})
        print(f"  {oc.name}: {q.verdict}; " + "; ".join(q.details().splitlines()))
    # the same case in both preparations: de-z-scored to integers inside its brainmask.nii.gz, background 0
    raw = {k: v.with_data(np.where(mask0, np.round(np.asarray(v.data, np.float32) * 120.0 + 400.0), 0.0)
                          .astype(np.float32)) for k, v in vols0.items()}
    for rule in ("constant-background", "channel-background"):
        c2 = contract.with_changes(brain_region=rule)
        xa, _ = prepare_input(c2, vols0)
        xb, _ = prepare_input(c2, raw)
        diff = float(np.abs(xa - xb).max()) if xa.shape == xb.shape else float("nan")
        print(f"  {cases[0].name} distributed vs raw, rule {rule}: grids {xa.shape[1:]} / {xb.shape[1:]}, "
              f"largest difference of the normalised input {diff:.2e}")


def _run(args: list[str]) -> None:
    subprocess.run([sys.executable, __file__, *args], check=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--recipes", default="default,strong-aug")
    ap.add_argument("--time-limit", type=float, default=480.0, help="training seconds per fold")
    ap.add_argument("--jobs", type=int, default=1, help="folds trained at once (one thread each)")
    ap.add_argument("--folds", default=None, help="held-out case names (default: all)")
    ap.add_argument("--train-fold", nargs=2, metavar=("RECIPE", "CASE"), help=argparse.SUPPRESS)
    ap.add_argument("--eval-fold", nargs=2, metavar=("RECIPE", "CASE"), help=argparse.SUPPRESS)
    ap.add_argument("--report-only", action="store_true", help="print the table of finished folds")
    ap.add_argument("--input-check", action="store_true", help="the out-of-distribution statistics only (no training)")
    ap.add_argument("--other", type=Path, default=None, help="a case from elsewhere to check (with --input-check)")
    a = ap.parse_args()
    if a.input_check:
        input_check(a.data, a.other)
        return 0
    if a.train_fold:
        train_fold(a.data, a.work, *a.train_fold, a.time_limit)
        return 0
    if a.eval_fold:
        eval_fold(a.data, a.work, *a.eval_fold)
        return 0
    from napari_medai.core.tasks.brain_tumour import find_cases

    names = a.folds.split(",") if a.folds else [c.name for c in find_cases(a.data, require_labels=True)]
    recipes = a.recipes.split(",")
    if not a.report_only:
        from concurrent.futures import ThreadPoolExecutor

        def fold(r: str, n: str) -> None:
            d = a.work / r / n
            common = ["--data", str(a.data), "--work", str(a.work), "--time-limit", str(a.time_limit)]
            if not (d / "train.json").is_file():
                _run([*common, "--train-fold", r, n])
            if not (d / "eval.json").is_file():
                _run([*common, "--eval-fold", r, n])

        # each fold trains on one thread; --jobs 2 keeps both cores of a 2-core machine busy
        with ThreadPoolExecutor(max_workers=max(1, a.jobs)) as pool:
            for f in [pool.submit(fold, r, n) for r in recipes for n in names]:
                f.result()
    print(f"load average now {tuple(round(x, 2) for x in os.getloadavg())} (2 shared cores)")
    print(f"{'recipe':20s} {'held out':22s} {'variant':10s}  WT     TC     ET    epochs s/epoch peak MB  verdict")
    for r in recipes:
        means: dict[str, list] = {}
        for n in names:
            d = a.work / r / n
            if not (d / "eval.json").is_file():
                continue
            tr, ev = json.loads((d / "train.json").read_text()), json.loads((d / "eval.json").read_text())
            for v in VARIANTS:
                dv = ev["dice"][v]
                means.setdefault(v, []).append([dv[x] for x in REGIONS])
                extra = (f"  {tr['epochs']:5d} {tr['s_per_epoch']:7.1f} {tr['peak_rss_mb']:7.0f}  "
                         f"{ev['quality']['verdict'][:6]} (load {tr['load_before'][0]:.1f})") if v == "plain" else ""
                print(f"{r:20s} {n:22s} {v:10s} " + " ".join(f"{dv[x]:.3f}" for x in REGIONS) + extra)
        for v, rows in means.items():
            m = [sum(c) / len(rows) for c in zip(*rows)]
            print(f"{r:20s} {'MEAN of ' + str(len(rows)):22s} {v:10s} " + " ".join(f"{x:.3f}" for x in m))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
