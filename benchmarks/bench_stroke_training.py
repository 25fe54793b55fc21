"""Train the stroke networks on phantoms and score them on held-out phantoms and the real ISLES'22 case.

For each network (DeepMedic-style and SegResNet by default):

1. writes stroke phantoms (``core.phantoms.stroke.stroke_phantom`` as installed, i.e. the current one; or as
   committed at ``--phantom-commit`` to repeat an older measurement) as one-folder-per-case NIfTI
   cases -- ``--train-seeds`` (default 1-12) for training, ``--test-seeds`` (default 13-16) held out --
   into ``OUT/data`` (outside the repository);
2. trains through ``napari_medai.core.tasks.stroke.model.train_stroke`` (the engine's one loop) into
   ``OUT/<network>`` within ``--minutes`` of wall time, with ``--threads`` torch threads;
3. reports: parameters, epochs run, seconds per epoch (mean of the history), best validation Dice,
   Dice on each held-out phantom, and on the real case ``../shared/data/isles22_case0009`` (DWI and
   ADC, the ADC unit detected and converted by ``prepare_mri_inputs``): Dice, lesion-wise F1 (ISLES
   style), predicted and expert volume and their absolute difference, inference seconds.

Training stops after ``--cpu-minutes`` of this process's CPU time (``stop_training``: the best
finished epoch is kept) or the ``--minutes`` wall cap, whichever comes first. Figures are printed (after
the machine's conditions, ``benchmarks/_common.py``) and written to
``OUT/bench_stroke_training_<networks>.json``; ``--record FILE`` also appends one JSON line per network
to a history file.

Usage::

    nice -n 10 python benchmarks/bench_stroke_training.py --out /tmp/stroke_models --cpu-minutes 10 --threads 1
    nice -n 10 python benchmarks/bench_stroke_training.py --out /tmp/stroke_models --evaluate-only
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

import _common  # noqa: E402

ISLES = REPO.parent / "shared" / "data" / "isles22_case0009"
PHANTOM_FILE = REPO / "src" / "napari_medai" / "core" / "phantoms" / "stroke.py"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def phantom_at(commit: str):
    """``stroke_phantom`` as committed at ``commit`` (the phantom may be changing in the working tree).

    The module's source is read with ``git show`` and run as a module of ``napari_medai.core.phantoms``,
    so its relative imports (``._brain``, ``._common``) resolve to the package's helpers.
    """
    import importlib.util
    import sys

    rel = PHANTOM_FILE.relative_to(REPO).as_posix()
    src = subprocess.run(["git", "show", f"{commit}:{rel}"], cwd=REPO, capture_output=True, text=True, check=True).stdout
    name = "napari_medai.core.phantoms._stroke_at_" + commit
    spec = importlib.util.spec_from_loader(name, loader=None)
    mod = importlib.util.module_from_spec(spec)
    mod.__package__ = "napari_medai.core.phantoms"
    sys.modules[name] = mod
    exec(compile(src, f"{commit}:{rel}", "exec"), mod.__dict__)
    return mod.stroke_phantom


def write_phantoms(folder: Path, seeds: list[int], stroke_phantom) -> Path:
    from napari_medai.core.io import write_volume

    for s in seeds:
        case = folder / f"phantom{s:02d}"
        if (case / "lesion.nii.gz").is_file():
            continue
        p = stroke_phantom(seed=s)
        write_volume(p["dwi"], case / "dwi.nii.gz")
        write_volume(p["adc"], case / "adc.nii.gz")
        write_volume(p["lesion"], case / "lesion.nii.gz")
    return folder


def _scores(mask: np.ndarray, ref: np.ndarray, spacing) -> dict:
    from napari_medai.core.metrics.lesions import lesion_wise
    from napari_medai.core.metrics.overlap import dice

    ml = float(np.prod(spacing)) / 1000.0
    lw = lesion_wise(mask > 0, ref > 0, spacing=spacing, style="isles")
    pv, rv = float((mask > 0).sum()) * ml, float((ref > 0).sum()) * ml
    return {"dice": round(float(dice(mask > 0, ref > 0)), 4), "lesion_f1": round(float(lw.f1), 4),
            "tp": lw.tp, "fp": lw.fp, "fn": lw.fn, "pred_ml": round(pv, 2), "ref_ml": round(rv, 2),
            "abs_volume_diff_ml": round(abs(pv - rv), 2)}


def evaluate(model_dir: Path, test_seeds: list[int], stroke_phantom) -> dict:
    import torch

    from napari_medai.core.io import read_volume
    from napari_medai.core.models.loading import load_model
    from napari_medai.core.tasks.stroke.inputs import prepare_mri_inputs, read_sidecars
    from napari_medai.core.tasks.stroke.model import predict_stroke_model

    model = load_model(model_dir)
    training = model.info.get("training", {})
    hist = training.get("history", [])
    out: dict = {
        "model": str(model_dir), "network": model.contract.network.name,
        "parameters": int(sum(p.numel() for p in model.network.parameters())),
        "epochs_run": training.get("epochs_run"), "best_epoch": training.get("best_epoch"),
        "stop_reason": training.get("stop_reason"), "train_wall_s": training.get("wall_time_s"),
        "seconds_per_epoch": round(float(np.mean([h["seconds"] for h in hist])), 1) if hist else None,
        "best_val_dice": training.get("best_metric"),
        "patch_size": training.get("recipe", {}).get("patch_size"), "roi_size": list(model.contract.roi_size),
    }
    held = {}
    for s in test_seeds:
        p = stroke_phantom(seed=s)
        mask, _ = predict_stroke_model(model, {"dwi": p["dwi"], "adc": p["adc"]}, device="cpu")
        held[s] = _scores(np.asarray(mask.data), np.asarray(p["lesion"].data), p["lesion"].spacing)
    out["held_out"] = held
    out["held_out_mean_dice"] = round(float(np.mean([v["dice"] for v in held.values()])), 4)
    out["held_out_mean_lesion_f1"] = round(float(np.mean([v["lesion_f1"] for v in held.values()])), 4)
    if ISLES.is_dir():
        ses = ISLES / "rawdata" / "sub-strokecase0009" / "ses-0001"
        dwi_p, adc_p = ses / "sub-strokecase0009_ses-0001_dwi.nii.gz", ses / "sub-strokecase0009_ses-0001_adc.nii.gz"
        msk_p = ISLES / "derivatives" / "sub-strokecase0009" / "ses-0001" / "sub-strokecase0009_ses-0001_msk.nii.gz"
        t0 = time.perf_counter()
        mri = prepare_mri_inputs(read_volume(dwi_p, as_label=False), read_volume(adc_p, as_label=False),
                                 sidecars=read_sidecars(dwi=dwi_p, adc=adc_p))
        t1 = time.perf_counter()
        mask, prob = predict_stroke_model(model, {"dwi": mri.dwi, "adc": mri.adc}, device="cpu")
        t2 = time.perf_counter()
        ref = read_volume(msk_p, as_label=False)
        out["isles22_case0009"] = {
            **_scores(np.asarray(mask.data), np.asarray(ref.data), ref.spacing),
            "adc_unit": mri.adc_unit.unit, "read_and_check_s": round(t1 - t0, 2),
            "inference_s": round(t2 - t1, 2), "windows": mask.meta.get("n_windows"),
            "torch_threads": torch.get_num_threads(), "max_probability": round(float(prob.data.max()), 3),
        }
    else:
        out["isles22_case0009"] = f"not found at {ISLES}"
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("/tmp/stroke_models"), help="working folder (outside the repo)")
    ap.add_argument("--networks", nargs="+", default=["DeepMedic", "SegResNet"])
    ap.add_argument("--cpu-minutes", type=float, default=10.0,
                    help="training budget per network in CPU time of this process (the machine may be shared)")
    ap.add_argument("--minutes", type=float, default=45.0, help="wall-time cap per network")
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    ap.add_argument("--train-seeds", type=int, nargs=2, default=[1, 12], metavar=("FIRST", "LAST"))
    ap.add_argument("--test-seeds", type=int, nargs=2, default=[13, 16], metavar=("FIRST", "LAST"))
    ap.add_argument("--steps", type=int, default=20, help="training steps per epoch")
    ap.add_argument("--val-fraction", type=float, default=0.1, help="share of the training phantoms validated on")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--phantom-commit", default=None,
                    help="commit whose core/phantoms/stroke.py makes the phantoms (default: the current phantom, "
                         "napari_medai.core.phantoms.stroke as imported)")
    ap.add_argument("--evaluate-only", action="store_true", help="score the models already in --out")
    _common.add_record_option(ap)
    args = ap.parse_args()
    run = _common.start("stroke_training", args)

    import torch

    from napari_medai.core.tasks.stroke.model import train_stroke

    torch.set_num_threads(args.threads)
    train_seeds = list(range(args.train_seeds[0], args.train_seeds[1] + 1))
    test_seeds = list(range(args.test_seeds[0], args.test_seeds[1] + 1))
    if set(train_seeds) & set(test_seeds):
        raise SystemExit("training and held-out seeds overlap")
    args.out.mkdir(parents=True, exist_ok=True)
    if args.phantom_commit:
        stroke_phantom = phantom_at(args.phantom_commit)
    else:
        from napari_medai.core.phantoms.stroke import stroke_phantom
    data = write_phantoms(args.out / "data", train_seeds, stroke_phantom)
    report: dict = {
        "command": "nice -n 10 python benchmarks/bench_stroke_training.py " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in (("out", args.out), ("networks", " ".join(args.networks)),
                                                        ("cpu_minutes", args.cpu_minutes), ("minutes", args.minutes),
                                                        ("threads", args.threads), ("steps", args.steps))),
        "repo_commit": _git("rev-parse", "--short", "HEAD"),
        "phantom_commit": args.phantom_commit or "working tree",
        "phantom_last_change": _git("log", "-1", "--format=%h", args.phantom_commit or "HEAD", "--", str(PHANTOM_FILE)),
        "phantom_uncommitted_changes": "no" if args.phantom_commit else (
            _git("diff", "--stat", "HEAD", "--", str(PHANTOM_FILE.parent)) or "no"),
        "phantom_helpers_changed_since": _git("diff", "--stat", args.phantom_commit or "HEAD", "--",
                                              str(PHANTOM_FILE.parent / "_brain.py"),
                                              str(PHANTOM_FILE.parent / "_common.py")) or "no",
        "train_seeds": train_seeds, "test_seeds": test_seeds, "threads": args.threads,
        "cpu": platform.processor() or platform.machine(), "results": {},
    }
    train_cpu: dict[str, float] = {}
    train_wall: dict[str, float] = {}
    for net in args.networks:
        folder = args.out / net.lower()
        if not args.evaluate_only:
            t0 = time.perf_counter()
            c0 = time.process_time()
            print(f"== training {net} on {len(train_seeds)} phantoms for {args.cpu_minutes:g} CPU-min "
                  f"(wall cap {args.minutes:g} min)", flush=True)

            def cpu_spent(_c0: float = c0) -> bool:
                return time.process_time() - _c0 > args.cpu_minutes * 60.0

            def progress(f: float, msg: str, _t0: float = t0) -> None:
                if msg.startswith("epoch") or msg.startswith("finished"):
                    print(f"[{time.perf_counter() - _t0:6.0f} s] {msg}", flush=True)

            result = train_stroke(data, out_dir=folder, network=net, seed=args.seed, max_epochs=200, patience=200,
                                  iterations_per_epoch=args.steps, val_fraction=args.val_fraction,
                                  time_limit_s=args.minutes * 60.0, num_threads=args.threads, device="cpu",
                                  resume=True, progress=progress, stop_training=cpu_spent)
            print(result.summary(), flush=True)
            print(f"training CPU time {time.process_time() - c0:.0f} s, wall {time.perf_counter() - t0:.0f} s", flush=True)
            train_cpu[net] = round(time.process_time() - c0, 1)
            train_wall[net] = round(time.perf_counter() - t0, 1)
        res = evaluate(folder, test_seeds, stroke_phantom)
        res["train_cpu_s_this_session"] = train_cpu.get(net)
        res["train_wall_s_this_session"] = train_wall.get(net)
        report["results"][net] = res
        run.record(network=net, threads=args.threads, cpu_minutes=args.cpu_minutes, steps=args.steps, **res)
        print(json.dumps({net: res}, indent=1), flush=True)
    (args.out / f"bench_stroke_training_{'_'.join(n.lower() for n in args.networks)}.json").write_text(
        json.dumps(report, indent=1))
    print("\n== summary")
    for net, r in report["results"].items():
        isl = r["isles22_case0009"]
        real = (f"ISLES case0009 Dice {isl['dice']:.3f}, lesion F1 {isl['lesion_f1']:.3f}, volume {isl['pred_ml']:.1f} "
                f"vs {isl['ref_ml']:.1f} ml (|diff| {isl['abs_volume_diff_ml']:.1f}), inference {isl['inference_s']:.1f} s"
                if isinstance(isl, dict) else isl)
        print(f"{net}: {r['parameters']:,} parameters; {r['epochs_run']} epochs ({r['stop_reason']}), "
              f"{r['seconds_per_epoch']} s/epoch; held-out phantom Dice {r['held_out_mean_dice']:.3f} "
              f"(lesion F1 {r['held_out_mean_lesion_f1']:.3f}); {real}")
    print(f"phantom: core/phantoms/stroke.py at {report['phantom_commit']} (last changed in "
          f"{report['phantom_last_change']}; _brain/_common changed since: {report['phantom_helpers_changed_since']}); "
          f"repo {report['repo_commit']}")
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
