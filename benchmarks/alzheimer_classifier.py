"""Landmark-patch network vs whole-brain CNN on cohorts simulated from the real IXI scans.

For each severity (mean fractional hippocampal loss of the AD subjects, ``--spread`` 0.4 around it):

1. **Cohort.** ``simulate_cohort`` (``--subjects`` 40, seed ``--seed`` 0) from
   ``shared/data/brain_t1_ixi`` into ``--dir``/sev-S/cohort. One seed and subject count give the same
   NC subjects (and the same AD poses, warps and noise) at every severity: the first severity can be
   an existing simulated cohort with its alignment (``--first-cohort``, ``--first-work``; the run
   below used the 40-subject severity-0.2 cohort of ``benchmarks/alzheimer_landmarks.py``), and at
   later severities the NC subjects are links to the first one's files with their alignment copied
   (the cache of :func:`~napari_medai.core.tasks.alzheimer.landmarks.align_cohort` keys on the
   resolved T1 file). The AD subjects are simulated anew; they differ from the first severity's only
   by the planted atrophy, so each is resampled with the affine found for the same subject at the
   first severity (a registration takes 8 s of CPU when the machine is idle and minutes when it is
   shared; an affine fit of the whole head hardly moves with a few millilitres of atrophy). A subject
   whose registration was refused at the first severity is left out of every severity.
2. **Alignment** of every subject to MNI152 (2 mm grid, one ITK thread), cached in ``sev-S/work``.
3. **Split by source scan.** ``--test-sources`` (3) of the 10 real scans, drawn once with ``--seed``,
   give the test subjects; the models never see anything made from them. The other scans give the
   training subjects (``train_alzheimer`` holds out a quarter of them, whole sources, for validation
   -- the best epoch -- and discovers the landmarks on the rest).
4. **Both models trained the same way** (``train_alzheimer``: same subjects, split, epochs, steps,
   batch, learning rate, time limit, one torch thread): the landmark-patch network (``--landmarks``
   50 patches of ``--patch`` 12 voxels = 24 mm, the paper's patch in millimetres, at least
   ``--min-distance`` 15 mm apart) and the whole-brain DenseNet (the aligned image at 4 mm).
5. **Test**: ``evaluate_alzheimer`` on the test subjects: AUC with DeLong's 95 % interval, accuracy /
   sensitivity / specificity at 0.5, DeLong's paired test of the two AUCs, seconds per epoch.

Nothing is tuned on the test sources: the settings are the command line's defaults, fixed before the
run. Prints one row per severity and model, with the load average (the machine is shared: times are
inflated). Run::

    nice -n 10 python benchmarks/alzheimer_classifier.py --dir /tmp/alz_cls2 \\
        --first-cohort /tmp/alz_landmarks/cohort --first-work /tmp/alz_landmarks/work

Measured on 2026-12-03 (the 40-subject seed-0 cohort; 39 aligned, 20 training / 7 validation subjects from 7
sources, 12 test subjects from IXI014, IXI033, IXI039; load average 7-15 on 2 cores), AUC [DeLong 95 % CI]:

========  =====================  =====================  ===================
severity  landmarks (12 epochs)  whole-brain (12)       whole-brain (48)
========  =====================  =====================  ===================
0.20      0.778 [0.482, 1.000]   0.306 [0.000, 0.641]   0.306 [0.000, 0.641]
0.15      0.750 [0.440, 1.000]   0.528 [0.152, 0.903]   0.694 [0.338, 1.000]
0.10      0.500 [0.132, 0.868]   0.611 [0.250, 0.972]   0.611 [0.250, 0.972]
0.05      0.528 [0.143, 0.913]   0.444 [0.074, 0.815]   0.444 [0.074, 0.815]
========  =====================  =====================  ===================

DeLong's paired test, landmarks minus whole-brain (12 epochs): +0.472 (p 0.009), +0.222 (p 0.32),
-0.111 (p 0.60), +0.083 (p 0.71). Twelve test subjects make every interval wide: only the severity-0.2
difference is significant. The whole-brain network's training loss stayed near ln 2 for about 20
epochs (the landmark network's fell below 0.1 by epoch 7), and with 7 validation subjects its best
epoch was often the first (validation AUC 1.0 at epoch 1 at severity 0.2, by luck), so at 0.20, 0.10 and 0.05
its 12- and 48-epoch runs kept the same first-epoch weights. Seconds per epoch: landmarks 20-36,
whole-brain 3-14 (loaded machine).

5-fold cross-validation by source (``--cv-folds 5``, same settings, every one of the 39 subjects predicted
once by a model that never saw its source; load average 3-7): severity 0.2, landmarks 0.784 [0.640, 0.928]
vs whole-brain 0.539 [0.353, 0.726], paired p 0.065; severity 0.1, landmarks 0.508 [0.320, 0.696] vs
whole-brain 0.532 [0.343, 0.720], p 0.74.

``--prepare-only`` stops after step 2. A model whose result is recorded (``sev-S/models/<model>.result.json``)
with the same settings is not trained again, so a run can be resumed or split over severities. Needs
``shared/data``.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DATA = ROOT.parent / "shared" / "data"
TEMPLATE_DIR = DATA / "brain_t1"
IXI = DATA / "brain_t1_ixi"


def _load() -> str:
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} {b:.2f} {c:.2f}"


def _rows(labels: Path) -> list[dict[str, str]]:
    with labels.open() as f:
        return list(csv.DictReader(f))


def reuse_alignment(first: Path, d: Path, log) -> None:
    """Alignment of a later severity's cohort from the first severity's (module notes, step 1).

    NC subjects are identical: their T1 becomes a link to the first cohort's file and the aligned
    volume, transform and record are copied. AD subjects differ only by the planted atrophy (same
    seed: same pose, warp, noise): their new T1 is resampled with the transform found for the same
    subject at the first severity, and the record says so (``transform_reused_from``).
    """
    import SimpleITK as sitk

    from napari_medai.core.io import read_volume, write_volume
    from napari_medai.core.io.itk import volume_to_sitk

    n_link = n_tfm = 0
    for r in _rows(d / "cohort" / "labels.csv"):
        name = r["subject"]
        rec = first / "work" / "aligned" / f"{name}.json"
        if not rec.is_file():
            continue  # refused at the first severity: registered (or refused) anew
        dst = d / "cohort" / "t1" / f"{name}.nii.gz"
        for sub in ("aligned", "transforms"):
            (d / "work" / sub).mkdir(parents=True, exist_ok=True)
        shutil.copy2(first / "work" / "transforms" / f"{name}.tfm", d / "work" / "transforms" / f"{name}.tfm")
        doc = json.loads(rec.read_text())
        if r["diagnosis"] == "NC":
            dst.unlink()
            dst.symlink_to(first / "cohort" / "t1" / f"{name}.nii.gz")
            shutil.copy2(first / "work" / "aligned" / f"{name}.nii.gz", d / "work" / "aligned" / f"{name}.nii.gz")
            n_link += 1
        else:
            ref = read_volume(first / "work" / "aligned" / f"{name}.nii.gz", as_label=False)
            tx = sitk.ReadTransform(str(first / "work" / "transforms" / f"{name}.tfm"))
            moving = sitk.Cast(volume_to_sitk(read_volume(dst, as_label=False)), sitk.sitkFloat32)
            out = sitk.Resample(moving, volume_to_sitk(ref), tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32)
            write_volume(ref.with_data(sitk.GetArrayFromImage(out)), d / "work" / "aligned" / f"{name}.nii.gz",
                         overwrite=True)
            doc["metrics"]["transform_reused_from"] = str(first)
            n_tfm += 1
        st = dst.stat()
        doc["key"].update({"t1": str(dst.resolve()), "size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)})
        (d / "work" / "aligned" / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
    log(f"{d.name}: {n_link} NC alignments linked, {n_tfm} AD T1s resampled with their first-severity transform")


def _keep_aligned(d: Path, work: Path, log) -> None:
    """Leave out of ``d``'s labels the subjects without an alignment record in ``work`` (refused at the
    first severity: a refused registration is not cached, and redoing it costs minutes here)."""
    rows = _rows(d / "cohort" / "labels.csv")
    keep = [r for r in rows if (work / "aligned" / f"{r['subject']}.json").is_file()]
    if len(keep) < len(rows):
        with (d / "cohort" / "labels.csv").open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
            w.writeheader()
            w.writerows(keep)
        log(f"{d.name}: left out {', '.join(r['subject'] for r in rows if r not in keep)} "
            "(registration refused at the first severity)")


def link_first(first_cohort: Path, first_work: Path, d: Path, log) -> float:
    """The first severity from an existing aligned cohort (links to its T1s, a copy of its alignment)."""
    man = json.loads((first_cohort / "manifest.json").read_text())
    (d / "cohort" / "t1").mkdir(parents=True, exist_ok=True)
    for f in sorted((first_cohort / "t1").glob("*.nii.gz")):
        dst = d / "cohort" / "t1" / f.name
        if not dst.exists():
            dst.symlink_to(f.resolve())
    for name in ("labels.csv", "manifest.json"):
        shutil.copy2(first_cohort / name, d / "cohort" / name)
    for sub in ("aligned", "transforms"):
        shutil.copytree(first_work / sub, d / "work" / sub, dirs_exist_ok=True)
    _keep_aligned(d, d / "work", log)
    log(f"{d.name}: cohort {first_cohort} (seed {man['seed']}, {man['n_subjects']} subjects, severity "
        f"{man['severity']:g}, spread {man['spread']:g}) and its alignment {first_work}")
    return float(man["spread"])


def prepare(base: Path, severities: list[float], *, subjects: int, seed: int, spread: float, log,
            first_cohort: Path | None = None, first_work: Path | None = None) -> dict[float, Path]:
    """Simulate and align every severity's cohort (see the module notes, steps 1-2); returns the folders."""
    from napari_medai.core.tasks.alzheimer.cohort import load_sources, simulate_cohort
    from napari_medai.core.tasks.alzheimer.landmarks import align_cohort, read_cohort

    sources = load_sources(IXI)
    first: Path | None = None
    out: dict[float, Path] = {}
    for sev in severities:
        d = base / f"sev-{sev:.2f}"
        cohort = d / "cohort"
        if first is None and first_cohort is not None and not (cohort / "labels.csv").is_file():
            spread = link_first(first_cohort, first_work or first_cohort.parent / "work", d, log)
        elif not (cohort / "labels.csv").is_file():
            t0 = time.perf_counter()
            simulate_cohort(cohort, n_subjects=subjects, severity=sev, spread=spread, seed=seed, sources=sources,
                            source_dir=IXI, overwrite=True)
            log(f"sev {sev:g}: simulated {subjects} subjects in {time.perf_counter() - t0:.0f} s ({_load()})")
            if first is not None:
                reuse_alignment(first, d, log)
                _keep_aligned(d, first / "work", log)
        t0 = time.perf_counter()
        res = align_cohort(read_cohort(cohort, cohort / "labels.csv"), TEMPLATE_DIR, d / "work", drop_failed=True,
                           threads=1)
        log(f"sev {sev:g}: {res.note} ({time.perf_counter() - t0:.0f} s, {_load()})")
        (d / "dropped.json").write_text(json.dumps(res.dropped, indent=1) + "\n")
        first = first or d
        out[sev] = d
    return out


def split_by_source(labels: Path, test_sources: list[str], out_csv: Path) -> tuple[list[str], list[str]]:
    """Write the training labels (subjects of the other sources); return (training, test) subject names."""
    rows = _rows(labels)
    train = [r for r in rows if r["source"] not in test_sources]
    with out_csv.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        w.writeheader()
        w.writerows(train)
    return [r["subject"] for r in train], [r["subject"] for r in rows if r["source"] in test_sources]


def train_and_test(d: Path, sev: float, model: str, test_sources: list[str], args, log) -> dict:
    """Train one model on the training sources of severity ``sev`` and evaluate it on the test sources."""
    from napari_medai.core.tasks.alzheimer.evaluate import evaluate_alzheimer
    from napari_medai.core.tasks.alzheimer.train import train_alzheimer

    cohort = d / "cohort"
    settings = {k: getattr(args, k) for k in ("landmarks", "min_distance", "patch", "epochs", "steps", "batch", "lr",
                                              "minutes", "seed")}
    settings["test_sources"] = test_sources
    record = d / "models" / f"{model}{args.tag}.result.json"
    if record.is_file():
        row = json.loads(record.read_text())
        if row.get("settings") == settings:
            log(f"sev {sev:g} {model}: result of an earlier run with the same settings ({record})")
            return row
    train_names, test_names = split_by_source(cohort / "labels.csv", test_sources, d / "train_labels.csv")
    out = d / "models" / f"{model}{args.tag}"
    if out.exists():
        shutil.rmtree(out)
    epochs: list[dict] = []
    t0 = time.perf_counter()
    c0 = time.process_time()
    res = train_alzheimer(
        cohort, d / "train_labels.csv", out, model=model, n_landmarks=args.landmarks, min_distance_mm=args.min_distance,
        patch=args.patch, work_dir=d / "work", template=TEMPLATE_DIR, val_fraction=0.25, seed=args.seed,
        max_epochs=args.epochs, steps_per_epoch=args.steps, batch_size=args.batch, learning_rate=args.lr,
        patience=args.epochs, time_limit_s=args.minutes * 60.0, num_threads=1, device="cpu",
        on_epoch=lambda e: epochs.append(dict(e)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    load = _load()
    ev = evaluate_alzheimer(out, cohort, cohort / "labels.csv", subjects=test_names, work_dir=d / "work",
                            template=TEMPLATE_DIR, device="cpu")
    sec = [e["seconds"] for e in epochs if not e.get("replayed")]
    info = json.loads((out / "alzheimer.json").read_text())
    row = {"severity": sev, "model": f"{model}{args.tag}", "auc": ev.auc, "ci": ev.auc_ci, "accuracy": ev.accuracy,
           "sensitivity": ev.sensitivity, "specificity": ev.specificity, "n_test": len(ev.subjects),
           "n_train": len(info["train_subjects"]), "n_val": len(info["val_subjects"]),
           "val_sources": info["val_sources"], "epochs": res.epochs_run, "best_epoch": res.best_epoch,
           "stop": res.stop_reason, "s_per_epoch": (sum(sec) / len(sec)) if sec else float("nan"),
           "train_wall_s": wall, "train_cpu_s": cpu, "load": load, "notes": ev.notes,
           "subjects": ev.subjects, "truth": ev.truth.tolist(), "probabilities": ev.probabilities.tolist(),
           "settings": settings}
    record.write_text(json.dumps(row, indent=1) + "\n")
    log(f"sev {sev:g} {model}: AUC {ev.auc:.3f} [{ev.auc_ci[0]:.3f}, {ev.auc_ci[1]:.3f}] on {len(ev.subjects)} test "
        f"subjects; {res.epochs_run} epochs ({res.stop_reason}, best {res.best_epoch}), "
        f"{row['s_per_epoch']:.1f} s/epoch; {load}; {ev.notes[-1] if ev.notes else ''}")
    return row


def cross_validate(d: Path, sev: float, model: str, args, log) -> dict:
    """``--cv-folds`` K: K-fold cross-validation by source scan over the whole cohort (pooled out-of-fold ROC)."""
    from napari_medai.core.tasks.alzheimer.cross_validation import cross_validate_alzheimer

    out = d / "cv" / f"{model}{args.tag}"
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    ev = cross_validate_alzheimer(
        d / "cohort", d / "cohort" / "labels.csv", out, folds=args.cv_folds, seed=args.seed, work_dir=d / "work",
        template=TEMPLATE_DIR, device="cpu", model=model, n_landmarks=args.landmarks,
        min_distance_mm=args.min_distance, patch=args.patch, max_epochs=args.epochs, steps_per_epoch=args.steps,
        batch_size=args.batch, learning_rate=args.lr, patience=args.epochs, time_limit_s=args.minutes * 60.0,
        num_threads=1)
    row = {"severity": sev, "model": f"{model}{args.tag}", "folds": args.cv_folds, "auc": ev.auc, "ci": ev.auc_ci,
           "accuracy": ev.accuracy, "sensitivity": ev.sensitivity, "specificity": ev.specificity,
           "n": len(ev.subjects), "wall_s": time.perf_counter() - t0, "load": _load(),
           "subjects": ev.subjects, "truth": ev.truth.tolist(), "probabilities": ev.probabilities.tolist()}
    (d / "cv" / f"{model}{args.tag}.result.json").write_text(json.dumps(row, indent=1) + "\n")
    log(f"sev {sev:g} {model}{args.tag} {args.cv_folds}-fold CV by source: AUC {ev.auc:.3f} [{ev.auc_ci[0]:.3f}, "
        f"{ev.auc_ci[1]:.3f}] on {len(ev.subjects)} subjects; accuracy {ev.accuracy:.2f}, sensitivity "
        f"{ev.sensitivity:.2f}, specificity {ev.specificity:.2f}; {row['wall_s']:.0f} s; {row['load']}")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dir", type=Path, required=True, help="working folder (cohorts, aligned volumes, models)")
    ap.add_argument("--severities", default="0.2,0.15,0.1,0.05")
    ap.add_argument("--subjects", type=int, default=40, help="subjects per severity (half AD)")
    ap.add_argument("--spread", type=float, default=0.4, help="AD severities are S x U(1 - spread, 1 + spread)")
    ap.add_argument("--first-cohort", type=Path, default=None,
                    help="use this simulated cohort (same seed and subjects) as the first severity's")
    ap.add_argument("--first-work", type=Path, default=None, help="its alignment work folder")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--prepare-only", action="store_true")
    ap.add_argument("--test-sources", type=int, default=3, help="source scans held out for testing")
    ap.add_argument("--models", default="landmarks,whole-brain")
    ap.add_argument("--landmarks", type=int, default=50)
    ap.add_argument("--min-distance", type=float, default=15.0)
    ap.add_argument("--patch", type=int, default=12, help="patch edge in 2 mm voxels (12: the paper's 24 mm)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--cv-folds", type=int, default=0,
                    help="K > 1: K-fold cross-validation by source over each whole cohort instead of the held-out split")
    ap.add_argument("--tag", default="", help="suffix of the model folders and result records (a second setting)")
    ap.add_argument("--minutes", type=float, default=20.0, help="training time limit per model (a safety net: the "
                    "epochs, the same for both models, are the budget)")
    args = ap.parse_args()

    import SimpleITK as sitk

    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    if not IXI.is_dir() or not TEMPLATE_DIR.is_dir():
        print(f"needs {IXI} and {TEMPLATE_DIR}")
        return 1
    t_start = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t_start:7.0f} s] {msg}", flush=True)

    import numpy as np
    import torch

    from napari_medai.core.metrics.roc import delong_test

    torch.set_num_threads(1)
    severities = [float(s) for s in args.severities.split(",")]
    dirs = prepare(args.dir, severities, subjects=args.subjects, seed=args.seed, spread=args.spread, log=log,
                   first_cohort=args.first_cohort, first_work=args.first_work)
    if args.prepare_only:
        return 0
    sources = sorted({r["source"] for r in _rows(dirs[severities[0]] / "cohort" / "labels.csv")})
    test_sources = sorted(np.random.default_rng(args.seed).permutation(sources)[: args.test_sources].tolist())
    log(f"test sources (never seen in training): {', '.join(test_sources)}; training sources: "
        f"{', '.join(s for s in sources if s not in test_sources)}")
    models = args.models.split(",")
    if args.cv_folds > 1:
        cv = {(sev, m): cross_validate(dirs[sev], sev, m, args, log) for sev in severities for m in models}
        for sev in severities:
            pair = [cv[(sev, m)] for m in models]
            if len(pair) == 2:
                t = delong_test(pair[0]["probabilities"], pair[1]["probabilities"], pair[0]["truth"])
                print(f"severity {sev:g} ({args.cv_folds}-fold CV): {pair[0]['model']} - {pair[1]['model']} AUC "
                      f"difference {t.difference:+.3f}, DeLong paired p = {t.p_value:.3g}")
        return 0
    rows = []
    for sev in severities:
        for model in models:
            rows.append(train_and_test(dirs[sev], sev, model, test_sources, args, log))
            (args.dir / "results.json").write_text(json.dumps(rows, indent=1) + "\n")
    print()
    print(f"Held-out test: subjects made from {', '.join(test_sources)} (never seen in training); "
          f"{args.subjects} subjects per severity, spread {args.spread:g}; patch {args.patch} voxels of 2 mm, {args.landmarks} landmarks "
          f"{args.min_distance:g} mm apart; {args.epochs} epochs x {args.steps} steps x {args.batch} subjects, lr "
          f"{args.lr:g}, {args.minutes:g} min limit per model, one torch thread")
    print(f"{'severity':>8}  {'model':<16} {'AUC [DeLong 95% CI]':<24} {'acc':>5} {'sens':>5} {'spec':>5} "
          f"{'n test':>6} {'train/val':>9} {'epochs':>6} {'s/epoch':>7}  load (1/5/15 min)")
    for r in rows:
        print(f"{r['severity']:>8g}  {r['model']:<16} {r['auc']:.3f} [{r['ci'][0]:.3f}, {r['ci'][1]:.3f}]"
              f"{'':<6} {r['accuracy']:>5.2f} {r['sensitivity']:>5.2f} {r['specificity']:>5.2f} {r['n_test']:>6} "
              f"{r['n_train']:>4}/{r['n_val']:<4} {r['epochs']:>6} {r['s_per_epoch']:>7.1f}  "
              f"{r['load'].replace('load average ', '')}")
    for sev in severities:
        pair = [r for r in rows if r["severity"] == sev]
        if len(pair) == 2 and pair[0]["subjects"] == pair[1]["subjects"]:
            t = delong_test(pair[0]["probabilities"], pair[1]["probabilities"], pair[0]["truth"])
            print(f"severity {sev:g}: {pair[0]['model']} - {pair[1]['model']} AUC difference {t.difference:+.3f}, "
                  f"DeLong paired p = {t.p_value:.3g}")
    log(f"done ({_load()})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
