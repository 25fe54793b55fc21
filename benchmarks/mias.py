"""Mammography on the real MIAS images: abnormal vs normal (from scratch and by transfer from the chest X-ray
model), benign vs malignant, and how often the activation map's peak falls inside the lesion circle.

The data: ``../shared/data/mammography_mias`` (240 mammograms of 120 women, 512 x 512 PNG; ``labels.csv`` with
the lesion circles; see :mod:`napari_medai.core.tasks.classify.mias`). This script

1. builds the task's ``(image, class)`` list (``abnormal``: 97 abnormal vs 143 normal; ``malignancy``: 41
   malignant vs 56 benign abnormal images) and splits it into ``--folds`` patient-level folds (a woman's two
   images always in the same fold, classes balanced by :func:`~napari_medai.core.tasks.classify.mias.patient_folds`);
2. for each fold and each start (``scratch``: random weights; ``transfer``: ``init_from`` the chest X-ray model
   folder ``--cxr``, same architecture, all layers fine-tuned) lays the other folds out as class folders (links,
   nothing copied) and trains ``train_classify`` on them (validation: ``--val-fraction`` of the training women,
   ``groups=group_of``; early stopping on validation AUC; ``--minutes`` per training), then classifies the
   held-out fold with a Grad-CAM map of the positive class;
3. pools the out-of-fold probabilities (every image is scored once, by a model that never saw its woman) and
   reports the AUC with DeLong's 95 % CI per start, DeLong's paired test of transfer vs scratch, the per-fold
   AUCs, and for ``abnormal`` the share of abnormal images with a lesion circle whose map peak falls inside a
   circle, beside the share expected of a peak placed at random in the breast.

Each fold's result is kept in ``OUT/results/<task>-<start>-fold<k>.json``: a second run skips what is done
(so the transfer runs can come later, once the chest X-ray model is there). ``--figures DIR`` writes
``mias-roc-<task>.png`` (pooled ROC curves) and ``mias-cam.png`` (maps and circles of a few held-out images).

Usage::

    nice -n 10 python benchmarks/mias.py --out /tmp/mias --starts scratch --tasks abnormal
    nice -n 10 python benchmarks/mias.py --out /tmp/mias --cxr /work/models/cxr-default --figures docs

Measured (2026-12-03, 2 CPU cores shared with other jobs, load average 4-17; ``--size 128 --minutes 5
--patience 10``, resnet10-slim, transfer from the chest X-ray model of ``benchmarks/cxr_pneumonia.py`` after its
9 epochs): abnormal vs normal, pooled out-of-fold AUC 0.520 [DeLong 95 % CI 0.446, 0.594] from scratch and 0.550
[0.474, 0.625] by transfer (paired p = 0.51); benign vs malignant 0.460 [0.344, 0.577] and 0.469 [0.350, 0.587];
map peak inside the lesion circle in 1 / 94 (scratch) and 4 / 94 (transfer) abnormal images, 3.5 % expected at
random in the breast. With ``--size 64 --minutes 2.5 --patience 6`` (transfer from that model after 3 epochs):
0.489 / 0.513 and 0.522 / 0.500. With ``--size 256 --minutes 4.5 --patience 10 --tasks abnormal`` (5-7 epochs
per fold): 0.485 [0.411, 0.559] from scratch, 0.567 [0.493, 0.642] by transfer, paired p = 0.021; peaks in the
circle 0 and 1 of 94. The whole-image networks learned next to nothing at these sizes and budgets: only the
256 px transfer run is (barely) better than its scratch twin, and no run's CI excludes chance by much.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import _common
import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "mammography_mias"
STARTS = ("scratch", "transfer")


def fold_result(task: str, start: str, k: int, items: list, folds: list[list[int]], args: argparse.Namespace,
                out: Path) -> dict:
    """Train on every fold but ``k`` and score fold ``k``; the result as a JSON-ready dict."""
    import torch

    from napari_medai.core.tasks.classify import classify_image, load_classifier, train_classify
    from napari_medai.core.tasks.classify.mias import TASKS, group_of, write_class_folders

    neg, pos = TASKS[task]
    test = set(folds[k])
    split = {items[i][0].name: ("test" if i in test else "train") for i in range(len(items))}
    work = out / "work" / f"{task}-{start}-fold{k}"
    if work.exists():  # an interrupted run: start this fold again
        shutil.rmtree(work)
    data = write_class_folders(items, work / "data", split=split)
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    r = train_classify(data, work / "model", arch=args.arch, size=args.size,
                       init_from=args.cxr if start == "transfer" else None, groups=group_of,
                       val_fraction=args.val_fraction, max_epochs=args.max_epochs, patience=args.patience,
                       time_limit_s=60.0 * args.minutes, seed=args.seed, batch_size=args.batch, device="cpu",
                       num_threads=args.threads)
    train_s = time.perf_counter() - t0
    lm = load_classifier(work / "model")
    rows = []
    t1 = time.perf_counter()
    for i in sorted(test):
        im, cls = items[i]
        res = classify_image(lm, im.path, cam_class=pos, device="cpu")
        rows.append({"name": im.name, "truth": int(cls == pos), "p": res.probability(pos),
                     "cam_peak": [int(v) for v in np.unravel_index(int(np.argmax(res.cam)), res.cam.shape)]
                     if float(res.cam.max()) > 0 else None,
                     "cam_shape": list(res.cam.shape)})
        np.save(work / f"cam_{im.name}.npy", res.cam.astype(np.float16))
    infer_s = time.perf_counter() - t1
    return {"task": task, "start": start, "fold": k, "n_train": len(r.train_cases), "n_val": len(r.val_cases),
            "epochs": r.epochs_run, "best_epoch": r.best_epoch, "stop": r.stop_reason,
            "val": r.best_validation, "train_s": round(train_s, 1), "infer_s": round(infer_s, 1),
            "trained_on": r.contract.trained_on, "rows": rows, "load_avg": _common.load_average()}


def pooled(results: list[dict]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    rows = sorted((row for res in results for row in res["rows"]), key=lambda r: r["name"])
    return (np.array([r["p"] for r in rows]), np.array([r["truth"] for r in rows]), [r["name"] for r in rows])


def cam_hits(results: list[dict], images: dict, out: Path) -> object:
    from skimage.io import imread

    from napari_medai.core.tasks.classify.mias import cam_hit_rate

    triples = []
    for res in results:
        work = out / "work" / f"{res['task']}-{res['start']}-fold{res['fold']}"
        for row in res["rows"]:
            im = images[row["name"]]
            if row["truth"] and im.circles(row["cam_shape"]):
                cam = np.load(work / f"cam_{row['name']}.npy").astype(np.float32)
                triples.append((im, cam, imread(im.path)))
    return cam_hit_rate(triples)


def roc_figure(curves: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from napari_medai.core.io.atomic import atomic_path
    from napari_medai.core.metrics.roc import roc_curve

    fig = Figure(figsize=(4.6, 4.4), dpi=110, layout="constrained")
    ax = fig.add_subplot(1, 1, 1)
    for label, (scores, truth, est) in curves.items():
        c = roc_curve(scores, truth)
        ax.plot(c.fpr, c.tpr, label=f"{label}: AUC {est.auc:.3f} [{est.ci_low:.3f}, {est.ci_high:.3f}]")
    ax.plot([0, 1], [0, 1], ":", color="grey")
    ax.set_xlabel("1 - specificity")
    ax.set_ylabel("sensitivity")
    ax.set_title("MIAS, patient-level out-of-fold ROC", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")


def cam_figure(results: list[dict], images: dict, out: Path, path: Path, n: int = 6) -> None:
    """Held-out abnormal images with their lesion circles (red) and the map over them; the peak as a cross."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle
    from skimage.io import imread

    from napari_medai.core.io.atomic import atomic_path

    picks = []
    for res in results:
        for row in res["rows"]:
            if row["truth"] and images[row["name"]].circles(row["cam_shape"]):
                picks.append((res, row))
    picks = sorted(picks, key=lambda t: t[1]["name"])[:: max(1, len(picks) // n)][:n]
    fig = Figure(figsize=(2.3 * len(picks), 2.6), dpi=100, layout="constrained")
    for j, (res, row) in enumerate(picks, start=1):
        im = images[row["name"]]
        work = out / "work" / f"{res['task']}-{res['start']}-fold{res['fold']}"
        cam = np.load(work / f"cam_{row['name']}.npy").astype(np.float32)
        ax = fig.add_subplot(1, len(picks), j)
        ax.imshow(imread(im.path), cmap="gray")
        ax.imshow(cam, cmap="inferno", alpha=0.45, vmin=0, vmax=1)
        hit, peak = False, row["cam_peak"]
        for r, c, rad in im.circles(cam.shape):
            ax.add_patch(Circle((c, r), rad, fill=False, color="red", linewidth=1.2))
            hit |= peak is not None and (peak[0] - r) ** 2 + (peak[1] - c) ** 2 <= rad ** 2
        if peak is not None:
            ax.plot(peak[1], peak[0], "x", color="cyan", markersize=8, mew=2)
        les = im.lesions[0]
        where = "empty map" if peak is None else "peak in" if hit else "peak outside"
        ax.set_title(f"{im.name} {les.abnormality} {les.severity}\np(abnormal) {row['p']:.2f}, {where}", fontsize=7)
        ax.axis("off")
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=DATA)
    ap.add_argument("--out", type=Path, required=True, help="work folder (outside the repository)")
    ap.add_argument("--tasks", nargs="*", default=["abnormal", "malignancy"], choices=["abnormal", "malignancy"])
    ap.add_argument("--starts", nargs="*", default=list(STARTS), choices=list(STARTS))
    ap.add_argument("--cxr", type=Path, default=Path("/work/models/cxr-default"),
                    help="chest X-ray model folder to start the transfer runs from")
    ap.add_argument("--folds", type=int, default=5)
    ap.add_argument("--arch", default="resnet10-slim")
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--max-epochs", type=int, default=30)
    ap.add_argument("--patience", type=int, default=6)
    ap.add_argument("--minutes", type=float, default=3.0, help="training budget per fold and start")
    ap.add_argument("--val-fraction", type=float, default=0.2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--report-only", action="store_true", help="only pool and print the folds already done")
    ap.add_argument("--figures", type=Path, default=None, help="write mias-roc.png and mias-cam.png here")
    _common.add_record_option(ap)
    args = ap.parse_args()

    from napari_medai.core.metrics.roc import delong_auc, delong_test
    from napari_medai.core.tasks.classify.mias import TASKS, patient_folds, read_mias, task_items

    run = _common.start("mias", args)
    images = read_mias(args.data)
    by_name = {im.name: im for im in images}
    print(f"{len(images)} images of {len({im.patient for im in images})} women; {args.folds} patient-level folds; "
          f"{args.arch} at {args.size} px, batch {args.batch}, <= {args.max_epochs} epochs (patience "
          f"{args.patience}), {args.minutes:g} min per training, {args.threads} torch thread(s)", flush=True)
    if "transfer" in args.starts:
        if not (args.cxr / "model.json").is_file():
            raise SystemExit(f"{args.cxr}: no chest X-ray model folder for the transfer runs (--cxr)")
        cxr_doc = json.loads((args.cxr / "model.json").read_text())
        print(f"transfer from {args.cxr}: {cxr_doc['contract']['name']}, {cxr_doc['contract']['trained_on']}",
              flush=True)
    (args.out / "results").mkdir(parents=True, exist_ok=True)
    summary: dict = {}
    for task in args.tasks:
        items = task_items(images, task)
        folds = patient_folds(items, args.folds, seed=args.seed)
        neg, pos = TASKS[task]
        n_pos = sum(c == pos for _im, c in items)
        print(f"\n== {task}: {pos} {n_pos} vs {neg} {len(items) - n_pos} images; fold sizes "
              f"{[len(f) for f in folds]}", flush=True)
        per_start = {}
        for start in STARTS:
            results = []
            for k in range(args.folds):
                path = args.out / "results" / f"{task}-{start}-fold{k}.json"
                if not path.is_file():
                    if args.report_only or start not in args.starts:
                        continue
                    res = fold_result(task, start, k, items, folds, args, args.out)
                    path.write_text(json.dumps(res, indent=1))
                    print(f"  {start} fold {k}: {res['epochs']} epochs (best {res['best_epoch']}, {res['stop']}), "
                          f"val AUC {((res['val'] or {}).get('auc') or float('nan')):.3f}, train {res['train_s']:.0f} s, "
                          f"infer {res['infer_s']:.0f} s for {len(res['rows'])} images, load {res['load_avg'][0]:.1f}",
                          flush=True)
                results.append(json.loads(path.read_text()))
            if len(results) != args.folds:
                if results:
                    print(f"  {start}: {len(results)} of {args.folds} folds done; pooled figures wait for all")
                continue
            scores, truth, names = pooled(results)
            est = delong_auc(scores, truth)
            fold_aucs = []
            for res in results:
                s = np.array([r["p"] for r in res["rows"]])
                t = np.array([r["truth"] for r in res["rows"]])
                fold_aucs.append(delong_auc(s, t).auc if 0 < t.sum() < t.size else float("nan"))
            line = (f"  {start}: pooled out-of-fold AUC {est.auc:.3f} [DeLong 95% CI {est.ci_low:.3f}, "
                    f"{est.ci_high:.3f}] on {est.n_positive} {pos} / {est.n_negative} {neg}; per fold "
                    + ", ".join(f"{a:.2f}" for a in fold_aucs)
                    + f"; mean train {np.mean([r['train_s'] for r in results]):.0f} s, "
                      f"{np.mean([r['epochs'] for r in results]):.1f} epochs")
            print(line, flush=True)
            entry = {"auc": est.auc, "ci": [est.ci_low, est.ci_high], "fold_aucs": fold_aucs,
                     "n_pos": est.n_positive, "n_neg": est.n_negative}
            if task == "abnormal":
                hits = cam_hits(results, by_name, args.out)
                print(f"  {start}: activation-map peak inside the lesion circle in {hits.hits} of {hits.n_images} "
                      f"abnormal images with a circle ({hits.rate:.1%}; {hits.n_empty} maps empty, i.e. no evidence "
                      f"for '{pos}'); a peak at random in the breast: {hits.chance:.1%}", flush=True)
                entry["cam"] = {"hits": hits.hits, "n": hits.n_images, "rate": hits.rate, "chance": hits.chance,
                                "n_empty": hits.n_empty}
            per_start[start] = (scores, truth, names, est, results)
            summary[f"{task}-{start}"] = entry
            run.record(task=task, start=start, arch=args.arch, size=args.size, folds=args.folds, **entry)
        if set(per_start) == set(STARTS):
            sa, ta, na = per_start["scratch"][:3]
            sb, tb, nb = per_start["transfer"][:3]
            assert na == nb and (ta == tb).all()
            test = delong_test(sb, sa, ta)
            print(f"  transfer - scratch: AUC difference {test.difference:+.3f}, DeLong paired p = {test.p_value:.3f}",
                  flush=True)
            summary[f"{task}-paired"] = {"difference": test.difference, "p": test.p_value}
        if args.figures is not None and per_start:
            args.figures.mkdir(parents=True, exist_ok=True)
            roc_figure({f"{task} {s}": (v[0], v[1], v[3]) for s, v in per_start.items()},
                       args.figures / f"mias-roc-{task}.png")
            if task == "abnormal":
                best = per_start.get("transfer") or per_start.get("scratch")
                cam_figure(best[4], by_name, args.out, args.figures / "mias-cam.png")
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1, default=float))
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
