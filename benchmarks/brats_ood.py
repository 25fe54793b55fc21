"""Does the out-of-distribution verdict separate the inputs where a brain-tumour model fails from those where it works?

For each fold model of a leave-one-case-out cross-validation (trained on all but one of the shared
BraTS 2013 cases), the held-out case is segmented as distributed and in versions a researcher meets
on other scanners or after other preparations, each with the truth known; one row per input gives
WT / TC / ET Dice, the predicted and true whole-tumour volume, the verdict of
:mod:`napari_medai.core.ood` (``Prediction.quality``) and the signals beyond their limits::

    nice -n 15 python benchmarks/brats_ood.py --models /tmp/cv6/default/*/model \\
        --data ../shared/data/brats2013_flair_t1c [--record FILE]

Runs split over processes are put together with ``--from-records FILE [FILE ...]`` (the rows and
one summary, no prediction); ``brats_recipe_cv.py``'s ``eval.json`` files count as the
"distributed" row of their fold.

The held-out case of a model is the one data case not named in its ``model.json``
(``training.cases``), else the case named by its folder (``.../<case>/model``).

Inputs (built from the held-out case with numpy / scipy / MONAI; fixed seeds; chosen before any
result was seen):

``distributed``
    The files as shipped: z-scored inside the brain, constant non-zero background.
``raw``
    The same case prepared like BraTS 2021/2023 or TCGA files: de-z-scored inside its
    ``brainmask`` to whole numbers (T1c ``1 + 150 (z - z_min)``, FLAIR ``1 + 120 (z - z_min)``,
    ``z_min`` the brain's lowest value: a linear map, nothing clipped) with a zero background. The model should work and say "like". Every version below starts from it.
``bias40``
    A multiplicative bias field spanning 0.6-1.4 over the brain (+-40 %), the same for both
    sequences (a receive-coil profile): the log-field of MONAI ``RandBiasField`` (degree 3,
    coefficients uniform in -1..1, seed 0), rescaled linearly so that its brain range maps to 0.6-1.4.
``gamma0.5`` / ``gamma2``
    A contrast change before normalisation: ``m * (raw / m) ** gamma`` per sequence, ``m`` its brain
    maximum.
``noise``
    Heavy Rician (magnitude-image) noise inside the brain: ``sqrt((raw + n1)^2 + n2^2)``, ``n1, n2``
    Gaussian with SD 0.25 x the sequence's brain median (SNR 4 per 1 mm voxel), seed 0; the
    background stays 0 (as after skull stripping).
``slices5mm``
    Thick slices: the mean over 5 mm slabs along the slice (superior) axis, one sample per slab,
    linearly interpolated back to the 1 mm grid (scipy ``map_coordinates``), background re-masked.
``swapped``
    The distributed FLAIR given as T1c and the T1c as FLAIR (a mislabelled series).
``isles-stroke`` (``--isles``; truth: no tumour)
    Another disease: the ISLES'22 stroke case's FLAIR resampled onto its DWI grid (2 mm) as FLAIR
    and the DWI (b=1000) as T1c.

"Fails" is fixed in advance: WT Dice < 0.5; for an input without tumour, more than 5 ml of
predicted tumour. The summary is the 2x2 table verdict (like / unlike) x outcome (works / fails)
over all rows, and for each signal the rows where it fired. Predictions are single passes (no TTA),
as in ``brats_recipe_cv.py``'s verdict, on the CPU with one thread (the machine is shared: the load
average is printed).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common  # noqa: E402

REGIONS = ("WT", "TC", "ET")
#: Outcome rule, fixed before looking at any row.
FAIL_WT_DICE = 0.5
FAIL_NO_TUMOUR_ML = 5.0
#: De-z-scoring of the "raw" preparation: sequence -> the brain's SD in the made-up scanner units.
RAW_SD = {"t1c": 150.0, "flair": 120.0}
BIAS_SPAN = 0.4
NOISE_SD_OF_MEDIAN = 0.25
SLAB_MM = 5
SEED = 0
DEFAULT_ISLES = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "isles22_case0009"
INPUT_NAMES = ("distributed", "raw", "bias40", "gamma0.5", "gamma2", "noise", "slices5mm", "swapped", "isles-stroke")


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = int(a.sum()), int(b.sum())
    return 1.0 if sa + sb == 0 else 2.0 * int(np.logical_and(a, b).sum()) / (sa + sb)


# ---------------------------------------------------------------------------------------------
# which case a model did not see
# ---------------------------------------------------------------------------------------------
def held_out_case(model_dir: Path, names: list[str]) -> str:
    """The data case a fold model was not trained on (``model.json``, else the folder name)."""
    info = json.loads((model_dir / "model.json").read_text())
    cases = (info.get("training") or {}).get("cases") or {}
    seen = set(cases.get("train", [])) | set(cases.get("validation", []))
    if seen:
        unseen = [n for n in names if n not in seen]
        if len(unseen) == 1:
            return unseen[0]
    for part in (model_dir.name, model_dir.parent.name):
        if part in names:
            return part
    raise SystemExit(f"{model_dir}: cannot tell its held-out case (model.json names {sorted(seen)}; "
                     f"data cases {names}); put the model in a folder named after the case")


# ---------------------------------------------------------------------------------------------
# the inputs
# ---------------------------------------------------------------------------------------------
def _slice_axis(vol: Any) -> int:
    """The array axis closest to the world superior direction (the axial slice axis; world axes are
    listed (S, P, L), see :mod:`napari_medai.core.volume`)."""
    return int(np.argmax(np.abs(np.asarray(vol.direction)[0, :])))


def _bias_field(shape: tuple[int, ...], brain: np.ndarray) -> np.ndarray:
    from monai.transforms import RandBiasField

    t = RandBiasField(degree=3, coeff_range=(-1.0, 1.0), prob=1.0)
    t.set_random_state(seed=SEED)
    log_field = np.log(np.asarray(t(np.ones((1, *shape), np.float32)))[0].astype(np.float64))
    lo, hi = float(log_field[brain].min()), float(log_field[brain].max())
    return (1.0 + BIAS_SPAN * (2.0 * (log_field - lo) / max(hi - lo, 1e-12) - 1.0)).astype(np.float32)


def _thick_slices(a: np.ndarray, axis: int, slab: int) -> np.ndarray:
    from scipy import ndimage as ndi

    n = a.shape[axis]
    slab_mean = ndi.uniform_filter1d(a.astype(np.float32), size=slab, axis=axis, mode="nearest")
    centres = np.arange(slab // 2, n, slab)
    thick = np.take(slab_mean, centres, axis=axis)
    # back to every 1 mm position: linear interpolation between slab centres
    pos = np.clip((np.arange(n) - slab // 2) / slab, 0, len(centres) - 1)
    grid = np.meshgrid(*[pos if ax == axis else np.arange(s, dtype=float) for ax, s in enumerate(a.shape)],
                       indexing="ij", sparse=True)
    coords = np.broadcast_arrays(*grid)
    return ndi.map_coordinates(thick, coords, order=1, mode="nearest").astype(np.float32)


def build_inputs(case: Any, which: set[str]) -> Iterator[tuple[str, dict[str, Any], np.ndarray | None]]:
    """``(name, {"flair": Volume, "t1c": Volume}, truth labels or None)`` for each input made from ``case``."""
    from napari_medai.core.io import read_volume

    dist = {k: read_volume(case.channels[k], as_label=False) for k in ("flair", "t1c")}
    truth = np.asarray(read_volume(case.label, as_label=True).data)
    brain = np.asarray(read_volume(case.brainmask).data) > 0.5
    if "distributed" in which:
        yield "distributed", dist, truth
    raw_arr = {}
    for k, v in dist.items():
        z = np.asarray(v.data, np.float32)
        # a linear map (to whole numbers), so nothing is clipped: the brain's lowest value becomes 1
        raw_arr[k] = np.where(brain, np.round((z - float(z[brain].min())) * RAW_SD[k]) + 1.0, 0.0).astype(np.float32)

    def vols(arrs: dict[str, np.ndarray]) -> dict[str, Any]:
        return {k: dist[k].with_data(np.where(brain, arrs[k], 0.0).astype(np.float32)) for k in arrs}

    if "raw" in which:
        yield "raw", vols(raw_arr), truth
    if "bias40" in which:
        field = _bias_field(brain.shape, brain)
        yield "bias40", vols({k: a * field for k, a in raw_arr.items()}), truth
    for g in (0.5, 2.0):
        if f"gamma{g:g}" in which:
            out = {}
            for k, a in raw_arr.items():
                m = float(a[brain].max())
                out[k] = m * (np.clip(a, 0, None) / m) ** g
            yield f"gamma{g:g}", vols(out), truth
    if "noise" in which:
        rng = np.random.default_rng(SEED)
        out = {}
        for k, a in raw_arr.items():
            sd = NOISE_SD_OF_MEDIAN * float(np.median(a[brain]))
            out[k] = np.sqrt((a + rng.normal(0, sd, a.shape)) ** 2 + rng.normal(0, sd, a.shape) ** 2)
        yield "noise", vols(out), truth
    if "slices5mm" in which:
        ax = _slice_axis(dist["flair"])
        yield "slices5mm", vols({k: _thick_slices(a, ax, SLAB_MM) for k, a in raw_arr.items()}), truth
    if "swapped" in which:
        yield "swapped", {"flair": dist["t1c"].with_data(np.asarray(dist["t1c"].data)),
                          "t1c": dist["flair"].with_data(np.asarray(dist["flair"].data))}, truth


def isles_input(folder: Path) -> tuple[str, dict[str, Any], None]:
    """The ISLES'22 case as a two-channel "brain-tumour" input: FLAIR on the DWI grid, DWI as T1c."""
    from napari_medai.core.io import read_volume
    from napari_medai.core.tasks.stroke.inputs import resample_linear

    files = {k: next(folder.rglob(f"*_{k}.nii.gz"), None) for k in ("flair", "dwi")}
    missing = [k for k, f in files.items() if f is None]
    if missing:
        raise SystemExit(f"{folder}: no *_{missing[0]}.nii.gz found (give the ISLES'22 case folder, or --isles none)")
    dwi = read_volume(files["dwi"], as_label=False)
    flair, _ = resample_linear(read_volume(files["flair"], as_label=False), dwi)
    return "isles-stroke", {"flair": flair, "t1c": dwi}, None


# ---------------------------------------------------------------------------------------------
# one row
# ---------------------------------------------------------------------------------------------
def fired_signals(numbers: dict[str, Any]) -> list[str]:
    """The signals of a :class:`~napari_medai.core.ood.Quality`'s numbers that lie beyond their limits."""
    out = []
    for sig, val in numbers.items():
        if not isinstance(val, dict):
            continue
        items = [(None, val)] if "value" in val else list(val.items())
        for ch, v in items:
            x, lim = v.get("value"), v.get("limit")
            if x is None or lim is None or not np.isfinite(x):
                continue
            lo, hi = (lim if isinstance(lim, (list, tuple)) else (None, lim))
            tag = sig if ch is None else f"{sig}:{ch}"
            if hi is not None and x > hi:
                out.append(tag + ("+" if lo is not None else ""))
            elif lo is not None and x < lo:
                out.append(tag + "-")
    return out


def run_row(model: Any, model_label: str, name: str, chans: dict[str, Any], truth: np.ndarray | None) -> dict[str, Any]:
    from napari_medai.core.metrics import get_convention
    from napari_medai.core.tasks.brain_tumour import segment

    conv = get_convention("brats2013")
    t0 = time.perf_counter()
    pred = segment(chans, model=model, convention="brats2013", tta=False, uncertainty=None, device="cpu")
    secs = time.perf_counter() - t0
    lab = np.asarray(pred.labels.data)
    ml = float(pred.region_volumes_ml.get("WT", 0.0))
    row: dict[str, Any] = {"model": model_label, "input": name, "seconds": round(secs, 1),
                           "pred_WT_ml": round(ml, 1)}
    if truth is not None:
        row["dice"] = {r: round(_dice(np.isin(lab, conv.regions[r]), np.isin(truth, conv.regions[r])), 4)
                       for r in REGIONS}
        vox_ml = float(np.prod(pred.labels.spacing)) * 1e-3
        row["true_WT_ml"] = round(float(np.isin(truth, conv.regions["WT"]).sum()) * vox_ml, 1)
        row["fails"] = row["dice"]["WT"] < FAIL_WT_DICE
    else:
        row["dice"] = None
        row["true_WT_ml"] = 0.0
        row["fails"] = ml > FAIL_NO_TUMOUR_ML
    q = pred.quality
    row["verdict"] = q.verdict
    row["like"] = q.like
    row["fired"] = fired_signals(q.numbers)
    row["reasons"] = list(q.reasons)
    row["numbers"] = q.numbers
    return row


HEADER = f"{'held out (model)':22s} {'input':12s}  WT    TC    ET   pred ml true ml outcome verdict signals fired"


def print_row(r: dict[str, Any]) -> None:
    d = r["dice"]
    dice = " ".join(f"{d[x]:.3f}" for x in REGIONS) if d else "  -     -     -  "
    verdict = {True: "like", False: "UNLIKE", None: "no-ref"}[r["like"]]
    print(f"{r['model']:22s} {r['input']:12s} {dice}  {r['pred_WT_ml']:7.1f} {r['true_WT_ml']:6.1f}  "
          f"{'FAILS' if r['fails'] else 'works':5s}  {verdict:6s}  {', '.join(r['fired']) or '-'}  ({r['seconds']:.0f} s)",
          flush=True)


def summarise(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The 2x2 table verdict x outcome and, per signal, the rows where it fired."""
    table = {(v, o): [] for v in ("like", "unlike") for o in ("works", "fails")}
    for r in rows:
        if r["like"] is None:
            continue
        table[("like" if r["like"] else "unlike", "fails" if r["fails"] else "works")].append(r)
    n = {k: len(v) for k, v in table.items()}
    print("\nverdict x outcome over all rows (fails: WT Dice < 0.5, or > 5 ml of tumour where there is none)")
    print(f"{'':10s} {'works':>6s} {'fails':>6s}")
    for v in ("like", "unlike"):
        print(f"{v:10s} {n[(v, 'works')]:6d} {n[(v, 'fails')]:6d}")
    fails = n[("like", "fails")] + n[("unlike", "fails")]
    works = n[("like", "works")] + n[("unlike", "works")]
    if fails:
        print(f"failures flagged 'unlike' (sensitivity): {n[('unlike', 'fails')]}/{fails}")
    if works:
        print(f"working rows passed as 'like' (specificity): {n[('like', 'works')]}/{works}")
    no_ref = sum(1 for r in rows if r["like"] is None)
    if no_ref:
        print(f"{no_ref} row(s) from models without reference statistics are left out")
    for v in ("like", "unlike"):
        for o in ("works", "fails"):
            if table[(v, o)]:
                print(f"  {v}/{o}: " + ", ".join(f"{r['model']}:{r['input']}" for r in table[(v, o)]))
    sigs: dict[str, list[dict[str, Any]]] = {}
    for r in rows:
        for s in r["fired"]:
            sigs.setdefault(s.rstrip("+-"), []).append(r)
    print("\nper signal: the rows where it fired (fails / works among them)")
    for s in sorted(sigs):
        rs = sigs[s]
        nf = sum(r["fails"] for r in rs)
        print(f"  {s:30s} fails {nf:2d}, works {len(rs) - nf:2d}: "
              + ", ".join(f"{r['model']}:{r['input']}{'(F)' if r['fails'] else ''}" for r in rs))
    if not sigs:
        print("  none fired")
    return {"table": {f"{v}/{o}": n[(v, o)] for v, o in n}, "signals": {s: len(v) for s, v in sigs.items()}}


def cv_row(ev: dict[str, Any], fold: Path) -> dict[str, Any]:
    """The row of a ``brats_recipe_cv.py`` fold's ``eval.json`` (plain prediction of the distributed held-out case)."""
    q = ev["quality"]
    d = ev["dice"]["plain"]
    return {"model": f"{ev['held_out'].replace('brats_2013_', '')}@{ev['recipe']}", "input": "distributed",
            "model_dir": str(fold / "model"), "dice": d, "pred_WT_ml": ev["volumes_ml"]["predicted_WT"],
            "true_WT_ml": ev["volumes_ml"]["true_WT"], "fails": d["WT"] < FAIL_WT_DICE,
            "like": q["like_training_cases"], "fired": fired_signals(q["numbers"]), "reasons": q["reasons"],
            "seconds": ev["seconds"]["plain"], "conditions": {"git": "(brats_recipe_cv eval.json)"}}


def from_records(files: list[Path]) -> int:
    """Print the rows of earlier runs' ``--record`` files (their last run per model and input) and of
    ``brats_recipe_cv.py`` folds' ``eval.json`` files (their distributed held-out case), and the summary."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for f in files:
        if f.name == "eval.json":  # a fold of brats_recipe_cv.py: its held-out case as distributed, one pass
            ev = json.loads(f.read_text(encoding="utf-8"))
            if "quality" not in ev:
                continue
            r = cv_row(ev, f.parent)
            rows[(r["model_dir"], r["input"])] = r
            continue
        for line in f.read_text(encoding="utf-8").splitlines():
            rec = json.loads(line) if line.strip() else {}
            if rec.get("bench") == "brats_ood" and "input" in rec:
                rows[(rec.get("model_dir", rec["model"]), rec["input"])] = rec
    gits = {r["conditions"]["git"] for r in rows.values()}
    if not rows:
        raise SystemExit(f"no brats_ood rows in {', '.join(map(str, files))}")
    print(f"{len(rows)} recorded row(s) from {len(files)} file(s); git {', '.join(sorted(gits))}")
    print(HEADER)
    for r in rows.values():
        print_row(r)
    summarise(list(rows.values()))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", type=Path, nargs="+", help="fold model folders")
    ap.add_argument("--data", type=Path, help="the BraTS 2013 case folders the folds came from")
    ap.add_argument("--from-records", type=Path, nargs="+", metavar="FILE",
                    help="no prediction: print the rows recorded (--record) by earlier runs, or brats_recipe_cv.py "
                         "folds' eval.json, and their summary together")
    ap.add_argument("--isles", default=str(DEFAULT_ISLES),
                    help="ISLES'22 case folder for the no-tumour input ('none' to skip)")
    ap.add_argument("--inputs", default=",".join(INPUT_NAMES),
                    help="which inputs, in this order (comma-separated; default all)")
    _common.add_record_option(ap)
    a = ap.parse_args()
    which = set(a.inputs.split(","))
    unknown = which - set(INPUT_NAMES)
    if unknown:
        ap.error(f"unknown input(s) {sorted(unknown)}; choose from {', '.join(INPUT_NAMES)}")
    if a.from_records:
        return from_records(a.from_records)
    if not a.models or a.data is None:
        ap.error("--models and --data are required (or --from-records)")
    run = _common.start("brats_ood", a)

    import torch

    from napari_medai.core.models import load_model
    from napari_medai.core.tasks.brain_tumour import find_cases

    torch.set_num_threads(1)
    cases = {c.name: c for c in find_cases(a.data, require_labels=True)}
    isles = None
    if "isles-stroke" in which and a.isles.lower() != "none":
        isles = isles_input(Path(a.isles).resolve())
    rows: list[dict[str, Any]] = []
    print(HEADER)
    names = sorted(cases)
    held = {md: held_out_case(md, names) for md in a.models}
    unique = len(set(held.values())) == len(a.models)
    models = {md: load_model(md) for md in a.models}
    # input by input (every model each), so that a run cut short leaves a balanced table
    for name in list(dict.fromkeys(a.inputs.split(","))):
        for md in a.models:
            if name == "isles-stroke":
                if isles is None:
                    continue
                _, chans, truth = isles
            else:
                _, chans, truth = next(build_inputs(cases[held[md]], {name}))
            short = held[md].replace("brats_2013_", "")
            label = short if unique else f"{short}@{md.parent.parent.name}"
            r = run_row(models[md], label, name, chans, truth)
            r["model_dir"] = str(md)
            rows.append(r)
            print_row(r)
            run.record(**{k: v for k, v in r.items() if k != "numbers"}, quality_numbers=r["numbers"])
            del chans
    summary = summarise(rows)
    run.record(summary=summary, n_rows=len(rows), models=[str(m) for m in a.models])
    print(f"\nload average {' '.join(f'{x:.2f}' for x in os.getloadavg())} (1/5/15 min; 2 shared cores, times inflated)")
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
