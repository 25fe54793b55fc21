"""The weight-free stroke baseline on the real ISLES'22 case, measured against the expert mask.

Case: ``../shared/data/isles22_case0009`` (BIDS: DWI and ADC 112 x 112 x 73 at 2 mm, FLAIR 512 x 512
x 29 at 0.45 x 0.45 x 5 mm on another grid, expert mask in ``derivatives/`` on the DWI grid). The
baseline's parameters (:data:`~napari_medai.core.tasks.stroke.baseline_mri.MRI_PARAMS`) were fixed
from the literature and the phantom before this script was first run; nothing here tunes them.

Prints: the ADC unit found and how, the notes, the ISLES-convention agreement with the expert mask
(voxel Dice, sensitivity, specificity, absolute volume difference in ml, lesion-wise F1 over
26-connected components with any-overlap matching, lesion-count difference), the DWI-FLAIR
mismatch figures and the wall time from files to lesion table.

Run: ``PYTHONPATH=src python benchmarks/isles_baseline.py [--method threshold|model --model DIR] [--json OUT]
[--record FILE]`` (the machine's conditions are printed first; ``--record`` appends the figures to a
JSON-lines history, ``benchmarks/_common.py``)
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402

CASE = ROOT.parent / "shared" / "data" / "isles22_case0009"


def case_files(case: Path = CASE) -> dict[str, Path]:
    """The case's DWI, ADC, FLAIR and expert mask paths (BIDS names)."""
    raw = case / "rawdata" / "sub-strokecase0009" / "ses-0001"
    der = case / "derivatives" / "sub-strokecase0009" / "ses-0001"
    stem = "sub-strokecase0009_ses-0001"
    return {"dwi": raw / f"{stem}_dwi.nii.gz", "adc": raw / f"{stem}_adc.nii.gz",
            "flair": raw / f"{stem}_flair.nii.gz", "mask": der / f"{stem}_msk.nii.gz"}


def run_case(files: dict[str, Path], *, method: str = "threshold", model=None, with_flair: bool = True):
    """Files to lesion table: read, segment, tabulate. Returns (result, seconds)."""
    from napari_medai.core.io import read_volume
    from napari_medai.core.tasks.stroke.inputs import read_sidecars
    from napari_medai.core.tasks.stroke.segment import segment_stroke

    t0 = time.perf_counter()
    dwi = read_volume(files["dwi"], as_label=False)
    adc = read_volume(files["adc"], as_label=False)
    flair = read_volume(files["flair"], as_label=False) if with_flair else None
    sidecars = read_sidecars(dwi=files["dwi"], adc=files["adc"], flair=files["flair"] if with_flair else None)
    res = segment_stroke(dwi=dwi, adc=adc, flair=flair, method=method, model=model, sidecars=sidecars)
    return res, time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--method", choices=("threshold", "model"), default="threshold")
    p.add_argument("--model", default=None, help="model folder for --method model")
    p.add_argument("--json", default=None, help="also write the figures as JSON")
    _common.add_record_option(p)
    args = p.parse_args(argv)
    run = _common.start("isles_baseline", args)
    files = case_files()
    if not files["dwi"].exists():
        print(f"ISLES'22 case not found at {CASE}; nothing to measure")
        return 0

    import numpy as np

    from napari_medai.core.evaluate import evaluate_volumes
    from napari_medai.core.io import read_volume

    res, seconds = run_case(files, method=args.method, model=args.model)
    gt = read_volume(files["mask"], as_label=True)
    case = evaluate_volumes(res.labels, gt, convention="isles", lesion_style="isles", case="isles22_case0009")
    row = case.regions["lesion"]
    n_gt = int(row["lesion_tp"] + row["lesion_fn"])
    n_pred = len(res.lesions)
    figures = {
        "method": res.method,
        "adc_unit": res.adc_unit.to_json() if res.adc_unit else None,
        "dice": row["dice"], "sensitivity": row["sensitivity"], "specificity": row["specificity"],
        "volume_pred_ml": row["volume_pred_ml"], "volume_gt_ml": row["volume_gt_ml"],
        "abs_volume_diff_ml": abs(row["volume_diff_ml"]),
        "lesion_f1": row["lesion_f1"], "lesion_tp": row["lesion_tp"], "lesion_fp": row["lesion_fp"],
        "lesion_fn": row["lesion_fn"], "n_lesions_gt": n_gt, "n_lesions_pred": n_pred,
        "abs_lesion_count_diff": abs(n_pred - n_gt),
        "mismatch_overall_rsi": None if res.mismatch is None else res.mismatch.overall_rsi,
        "mismatch_lesion_rsi": None if res.mismatch is None else [
            (m.id, None if m.rsi is None else round(m.rsi, 3)) for m in res.mismatch.lesions[:10]],
        "seconds_files_to_table": round(seconds, 2),
        "gt_voxels": int(np.count_nonzero(gt.data)),
    }
    print(f"case isles22_case0009, method {res.method}, {seconds:.2f} s from files to lesion table")
    for note in res.notes:
        print(f"  note: {note}")
    print(f"Dice {row['dice']:.3f}  sensitivity {row['sensitivity']:.3f}  specificity {row['specificity']:.5f}")
    print(f"volume pred {row['volume_pred_ml']:.2f} ml, expert {row['volume_gt_ml']:.2f} ml, "
          f"|difference| {abs(row['volume_diff_ml']):.2f} ml")
    print(f"lesion-wise F1 {row['lesion_f1']:.3f} (TP {row['lesion_tp']}, FP {row['lesion_fp']}, FN {row['lesion_fn']}); "
          f"lesions pred {n_pred} vs expert {n_gt}, |difference| {abs(n_pred - n_gt)}")
    if res.mismatch is not None and res.plane is not None:
        from napari_medai.core.tasks.stroke.baseline_mri import brain_mask_mri
        from napari_medai.core.tasks.stroke.inputs import prepare_mri_inputs, read_sidecars
        from napari_medai.core.tasks.stroke.mismatch import flair_mismatch

        # the same measure on the expert's lesions (what the rSI says when the outline is right)
        inp = prepare_mri_inputs(read_volume(files["dwi"], as_label=False), read_volume(files["adc"], as_label=False),
                                 read_volume(files["flair"], as_label=False),
                                 sidecars=read_sidecars(dwi=files["dwi"], adc=files["adc"]))
        expert = flair_mismatch(res.labels.with_data((np.asarray(gt.data) > 0).astype(np.uint8)), inp.flair,
                                res.plane, coverage=inp.flair_coverage, within=brain_mask_mri(inp.dwi, inp.adc))
        figures["mismatch_overall_rsi_expert_mask"] = expert.overall_rsi
        if res.method == "threshold-mri":  # why the rule agrees or not: the expert's voxels under its two tests
            from scipy import ndimage as ndi

            from napari_medai.core.tasks.stroke.baseline_mri import MRI_PARAMS, segment_mri_baseline

            base = segment_mri_baseline(inp.dwi, inp.adc)
            g = np.asarray(gt.data) > 0
            fp = (np.asarray(res.labels.data) > 0) & ~g
            rim = base.brain & ~ndi.binary_erosion(base.brain, iterations=3)
            figures["expert_fraction_adc_below_core_max"] = float((inp.adc.data[g] < MRI_PARAMS["adc_core_max"]).mean())
            figures["expert_fraction_dwi_bright"] = float(
                (inp.dwi.data[g] >= MRI_PARAMS["dwi_ratio_min"] * base.dwi_reference).mean())
            figures["false_positive_fraction_within_6mm_of_brain_edge"] = float((fp & rim).sum() / max(fp.sum(), 1))
            print(f"expert voxels with ADC < {MRI_PARAMS['adc_core_max']:.0f}: "
                  f"{figures['expert_fraction_adc_below_core_max']:.2f}; DWI-bright: {figures['expert_fraction_dwi_bright']:.2f}; "
                  f"false-positive voxels within 3 voxels of the brain edge: "
                  f"{figures['false_positive_fraction_within_6mm_of_brain_edge']:.2f}")
        shown = "n/a" if expert.overall_rsi is None else f"{expert.overall_rsi:.3f}"
        print(f"FLAIR rSI on the expert mask: overall {shown} ({expert.overall.interpretation})")
    if res.mismatch is not None:
        m = res.mismatch
        shown = "n/a" if m.overall_rsi is None else f"{m.overall_rsi:.3f}"
        print(f"DWI-FLAIR mismatch: overall FLAIR rSI {shown}; per lesion (first 10): {figures['mismatch_lesion_rsi']}; {m.note}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2, default=float) + "\n")
    run.record(case="isles22_case0009", **figures)
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
