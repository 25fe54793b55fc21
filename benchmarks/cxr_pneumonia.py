"""Pneumonia vs normal on real paediatric chest X-rays (Kermany et al. 2018), the default recipe.

The data: ``../shared/data/cxr_pneumonia/train/{NORMAL,PNEUMONIA}`` (5,216 JPEGs, 224 x 224; Kermany's
own training split -- their 624-image test split is not in the share). This script

1. holds out ``--test-fraction`` (15 %) of the *persons* as a test set the model never sees: the
   file names carry person ids (``person1234_bacteria_567.jpeg``; ``IM-0115-0001.jpeg`` and
   ``NORMAL2-IM-1427-0001.jpeg`` for normal studies), so every image of one id stays on one side
   (:data:`PERSON_REGEX`; normal and pneumonia ids are separate name spaces, so a child who appears
   in both classes under different ids cannot be matched -- the split is by person *within* a class);
2. trains with the default recipe of ``napari-medai train classify`` (architecture, input size,
   augmentation, epochs, patience, the 45-minute budget: ``train.DEFAULTS``), validating on 20 % of the
   remaining persons (early stopping on validation AUC);
3. evaluates the held-out persons: AUC with DeLong's 95 % CI, sensitivity / specificity / accuracy at
   the model's threshold, the confusion matrix, inference images/s; writes the ROC curve and
   ``heldout.json`` into ``--out``, and ``--cams`` Grad-CAM overlays (``docs/cxr-cam-*.png``).

Run (about 45 minutes on 2 CPU cores)::

    nice -n 10 python benchmarks/cxr_pneumonia.py --out /work/models/cxr-default

``--evaluate-only`` re-evaluates an existing model folder with the same held-out persons.

Measured 2026-12-03 (this command, 1 torch thread, the 2-core machine shared with other jobs: load average
6-19 during the run): 4,458 images of 2,419 persons for training (3,584 trained on, 874 validating),
resnet10-slim at 128 px, 10 epochs in 40.8 min (stopped by the 45-minute budget), best epoch 9
(validation AUC 0.999), 14.6 training images/s including validation. Held-out 758 images of 427 persons:
PNEUMONIA AUC 0.997 [0.994, 0.999] (DeLong 95 %); at p >= 0.5 sensitivity 0.888, specificity 0.995,
accuracy 0.917 (confusion NORMAL 202 / 1, PNEUMONIA 62 / 493); 34-40 inference images/s with reading.
Kermany et al. report AUC 0.968 / accuracy 92.8 % on their own (patient-disjoint) 624-image test split,
which is not in the share, so the figures are not a like-for-like comparison.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import _common
import numpy as np

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "cxr_pneumonia" / "train"
#: Person ids in Kermany's file names (pneumonia: ``person123_...``; normal: ``IM-0115-...``, ``NORMAL2-IM-1427-...``).
PERSON_REGEX = r"^(person\d+|NORMAL2-IM-\d+|IM-\d+)"


def cam_figures(model: str, paths: list[tuple[str, str]], out_dir: Path) -> list[str]:
    """Grad-CAM overlays (image | image + map) of held-out images, one PNG each."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from napari_medai.core.io import read_volume
    from napari_medai.core.io.atomic import atomic_path
    from napari_medai.core.tasks.classify import classify_image

    written = []
    for k, (path, truth) in enumerate(paths, start=1):
        res = classify_image(model, path, cam_class="PNEUMONIA")
        img = np.asarray(read_volume(path).data, dtype=float)
        fig = Figure(figsize=(6.4, 3.4), dpi=100)
        a0, a1 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2)
        for ax in (a0, a1):
            ax.imshow(img, cmap="gray")
            ax.set_axis_off()
        a1.imshow(res.cam, cmap="jet", alpha=0.4, vmin=0, vmax=1)
        a0.set_title(f"{Path(path).name}\ntruth {truth}", fontsize=8)
        a1.set_title(f"Grad-CAM for PNEUMONIA\np(PNEUMONIA) = {res.probability('PNEUMONIA'):.3f}", fontsize=8)
        fig.tight_layout()
        target = out_dir / f"cxr-cam-{k}.png"
        with atomic_path(target, suffix=".png") as tmp:
            fig.savefig(tmp, format="png")
        written.append(str(target))
        print(f"  CAM {target}: {Path(path).name} (truth {truth}) {res.summary()}; peak at row, column "
              f"{res.to_json()['cam_peak']} of {img.shape}", flush=True)
    return written


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=str(DATA), help="the NORMAL/ PNEUMONIA/ folder (default: the shared copy)")
    ap.add_argument("--out", default="/work/models/cxr-default", help="model folder to write (outside the repo)")
    ap.add_argument("--test-fraction", type=float, default=0.15, help="share of persons held out (default 0.15)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1: the machine is shared)")
    ap.add_argument("--evaluate-only", action="store_true", help="evaluate an existing --out model folder")
    ap.add_argument("--resume", action="store_true", help="continue a stopped run in --out")
    ap.add_argument("--cams", default=str(Path(__file__).resolve().parents[1] / "docs"),
                    help="folder for the CAM overlays cxr-cam-*.png ('' for none)")
    _common.add_record_option(ap)
    args = ap.parse_args()
    data = Path(args.data)
    if not data.is_dir():
        print(f"skipped: {data} is absent (the shared data are not on this machine)")
        return 0
    import torch

    torch.set_num_threads(int(args.threads))
    from napari_medai.core.tasks.classify import (
        DEFAULTS,
        FolderDataset,
        evaluate_classifier,
        find_class_folders,
        group_split,
        groups_from_regex,
        train_classify,
    )

    run = _common.start("cxr_pneumonia", args)
    ds = find_class_folders(data)
    groups = groups_from_regex(PERSON_REGEX)
    rest, test = group_split(ds.items, val_fraction=args.test_fraction, seed=1000 + args.seed, groups=groups)
    train_items = [ds.items[i] for i in rest]
    test_items = [ds.items[i] for i in test]
    n_groups = len({groups(p) for p, _ in ds.items})
    n_test_groups = len({groups(p) for p, _ in test_items})
    print(f"{len(ds.items)} images of {n_groups} persons; held out {len(test_items)} images of {n_test_groups} persons "
          f"({', '.join(f'{c} {sum(1 for _, y in test_items if y == c)}' for c in ds.classes)})", flush=True)
    assert not ({groups(p) for p, _ in train_items} & {groups(p) for p, _ in test_items})
    out = Path(args.out)
    if not args.evaluate_only:
        t0 = time.perf_counter()
        train_ds = FolderDataset(root=ds.root, classes=ds.classes, items=train_items)

        def on_epoch(e: dict) -> None:
            print(f"  epoch {e['epoch']}: loss {e['train_loss']:.4f}, val AUC {e.get('val_auc')}, "
                  f"val loss {e.get('val_loss')}, {e['seconds']:.0f} s, load {os.getloadavg()}", flush=True)

        res = train_classify(train_ds, out, groups=groups, time_limit_s=DEFAULTS["time_limit_s"], seed=args.seed,
                             resume=args.resume, on_epoch=on_epoch, num_threads=int(args.threads))
        wall = time.perf_counter() - t0
        doc = json.loads((out / "model.json").read_text())
        n_seen = sum(h.get("seconds", 0) for h in doc["training"]["history"])
        steps = doc["training"]["recipe"]["steps_per_epoch"] * doc["training"]["recipe"]["batch_size"]
        imgs_per_s = steps * res.epochs_run / n_seen if n_seen else float("nan")
        print(f"trained: {res.summary()}; wall {wall / 60:.1f} min; training {imgs_per_s:.1f} images/s "
              f"(augmented batches incl. validation passes); load {os.getloadavg()}", flush=True)
        run.record(what="training", epochs=res.epochs_run, best_epoch=res.best_epoch, wall_s=round(wall, 1),
                   train_images_per_s=round(imgs_per_s, 2), stop_reason=res.stop_reason)
    ev = evaluate_classifier(out, test_items, batch_size=64)
    print(ev.summary(), flush=True)
    pc = ev.per_class["PNEUMONIA"]
    print(f"held-out persons: PNEUMONIA AUC {pc['auc']:.3f} [{pc['auc_ci'][0]:.3f}, {pc['auc_ci'][1]:.3f}] (DeLong 95%), "
          f"sensitivity {pc['sensitivity']:.3f}, specificity {pc['specificity']:.3f}, accuracy {ev.accuracy:.3f}; "
          f"inference {ev.images_per_s:.1f} images/s (reading + preparing included); load {os.getloadavg()}", flush=True)
    ev.roc_png(out / "heldout_roc.png")
    (out / "heldout.json").write_text(json.dumps({**ev.to_json(), "test_images": [p for p, _ in test_items]}, indent=1))
    run.record(what="heldout", auc=pc["auc"], auc_ci=pc["auc_ci"], sensitivity=pc["sensitivity"],
               specificity=pc["specificity"], accuracy=ev.accuracy, confusion=ev.confusion.tolist(),
               n_images=ev.n_images, inference_images_per_s=round(ev.images_per_s, 1))
    if args.cams:
        p = ev.probabilities[:, 1]
        y = np.array([1 if t == "PNEUMONIA" else 0 for _, t in test_items])
        picks = [int(np.argmax(np.where(y == 1, p, -1))),                      # most confident pneumonia
                 int(np.argmax(np.where((y == 1) & (p < 0.9), p, -1))),         # a less certain true pneumonia
                 int(np.argmin(np.where(y == 0, p, 2))),                        # most confident normal
                 int(np.argmax(np.where(y == 0, p, -1)))]                       # the normal scored most like pneumonia
        cam_figures(str(out), [test_items[i] for i in picks], Path(args.cams))
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
