"""Train on three real BraTS 2013 cases, segment the fourth, and score it against the expert labels.

Usage::

    python examples/train_brats2013_leave_one_out.py \
        [--data ../shared/data/brats2013_flair_t1c] [--test brats_2013_pat0006_1] \
        [--out /tmp/brats2013_loo] [--minutes 25] [--seed 0] [--device auto]

The model is napari-medai's default brain-tumour recipe (SegResNet on FLAIR + T1c, WT/TC/ET
sigmoid regions, 2 mm working grid). With only three training cases, none is held out for
validation (``val_fraction=0``): training stops at the wall-time budget, at the epoch limit, or
when the training loss stops improving, and the held-out fourth case is never seen before the
final evaluation. Region Dice and HD95 come from napari-medai's agreement core (BraTS 2013
convention, BraTS empty-mask rules); the weight-free threshold baseline is scored alongside.

The data are the CC BY-NC-SA 3.0 BraTS 2013 cases described in ``shared/data/README.md``; the
trained weights stay in ``--out`` and must not be redistributed with the project.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

DEFAULT_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "brats2013_flair_t1c"


def _train(args: argparse.Namespace, brain_tumour, train_cases, test, t0: float) -> tuple[str, int, str, float]:
    result = brain_tumour.train_brain_tumour(
        args.data, out_dir=args.out, cases=train_cases, seed=args.seed, max_epochs=args.epochs,
        device=args.device, resume=args.resume, val_fraction=0.0, time_limit_s=args.minutes * 60.0,
        num_threads=args.threads,
        trained_on=f"BraTS 2013 leave-one-out: {', '.join(c.name for c in train_cases)} (test case {test.name} unseen)",
        progress=lambda f, m: print(f"[{time.perf_counter() - t0:7.0f} s] {m}", flush=True),
    )
    return result.summary(), result.epochs_run, result.stop_reason, result.wall_time_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA, help="folder of BraTS 2013 case folders")
    parser.add_argument("--test", default=None, help="case held out for testing (default: the last one)")
    parser.add_argument("--out", type=Path, default=Path("brats2013_loo_model"), help="model folder to write")
    parser.add_argument("--minutes", type=float, default=25.0, help="training wall-time budget (default 25)")
    parser.add_argument("--epochs", type=int, default=60, help="epoch limit (default 60)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--resume", action="store_true", help="continue a run found in --out")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--evaluate-only", action="store_true", help="skip training; evaluate the model in --out")
    args = parser.parse_args(argv)

    from napari_medai.core.evaluate import evaluate_volumes
    from napari_medai.core.io import read_volume
    from napari_medai.core.models import load_model
    from napari_medai.core.tasks import brain_tumour, brain_tumour_baseline

    cases = brain_tumour.find_cases(args.data, require_labels=True)
    names = [c.name for c in cases]
    test_name = args.test or names[-1]
    if test_name not in names:
        print(f"--test {test_name!r} is not one of {names}", file=sys.stderr)
        return 2
    train_cases = [c for c in cases if c.name != test_name]
    test = next(c for c in cases if c.name == test_name)
    print(f"training on {', '.join(c.name for c in train_cases)}; testing on {test.name}", flush=True)

    t0 = time.perf_counter()
    if args.evaluate_only:
        import json

        doc = json.loads((args.out / "model.json").read_text())["training"]
        summary = (f"model {args.out}: {doc['epochs_run']} epochs ({doc['stop_reason']}), "
                   f"{doc['wall_time_s'] / 60:.1f} min of training")
        epochs, stop, t_train = doc["epochs_run"], doc["stop_reason"], doc["wall_time_s"]
        if set(doc["cases"]["train"]) & {test.name}:
            print(f"{args.out} was trained on {test.name}; it cannot be evaluated on it", file=sys.stderr)
            return 2
    else:
        summary, epochs, stop, t_train = _train(args, brain_tumour, train_cases, test, t0)
    print(summary, flush=True)

    model = load_model(args.out)

    chans = {k: read_volume(p) for k, p in test.channels.items()}
    mask = read_volume(test.brainmask) if test.brainmask else None
    gt = read_volume(test.label, as_label=True)
    t1 = time.perf_counter()
    pred = brain_tumour.segment(chans, model=model, brainmask=mask, device=args.device)
    t_inf = time.perf_counter() - t1
    base = brain_tumour_baseline.segment(chans["flair"], chans["t1c"], brainmask=mask)

    from napari_medai.core.tasks.brain_tumour import drop_small_components

    cleaned, _ = drop_small_components(pred.labels, fraction=0.1)
    rows = []
    for label, vol in (("SegResNet (3 cases)", pred.labels), ("  + small comps. off", cleaned),
                       ("threshold baseline", base)):
        res = evaluate_volumes(vol, gt, convention="brats2013", case=test.name)
        rows.append((label, res))
    print()
    print(f"test case {test.name} (BraTS 2013 convention; training {t_train / 60:.1f} min, "
          f"{epochs} epochs, stop: {stop}; inference {t_inf:.1f} s)")
    print(f"{'method':22s} " + " ".join(f"{r + ' Dice':>9s} {r + ' HD95':>9s}" for r in ("WT", "TC", "ET")))
    for label, res in rows:
        cells = " ".join(f"{res.regions[r]['dice']:9.3f} {res.regions[r]['hd95_mm']:9.2f}" for r in ("WT", "TC", "ET"))
        print(f"{label:22s} {cells}")
    print("(HD95 in mm; '+ small comps. off': tumour components under 10% of the largest removed, "
          "napari-medai brain-tumour --min-component-fraction 0.1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
