"""Measure a segmentation against expert labels, the way the agreement panel does, from a script.

Builds the brain-tumour phantom, writes it as NIfTI, segments it with the weight-free baseline,
reads everything back through napari-medai's readers (geometry included) and prints the
agreement table in the BraTS 2021 convention; then writes JSON and CSV.

    .venv/bin/python examples/evaluate_segmentation.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

from napari_medai.core.evaluate import evaluate_volumes, format_case, write_csv, write_json
from napari_medai.core.io import read_volume, write_volume
from napari_medai.core.phantoms import make_phantom
from napari_medai.core.tasks import brain_tumour_baseline


def main(out: Path) -> int:
    out.mkdir(parents=True, exist_ok=True)
    case = make_phantom("brain_tumour", seed=3)
    paths = {name: write_volume(vol, out / f"{name}.nii.gz", overwrite=True) for name, vol in case.items()}
    flair, t1c = read_volume(paths["flair"]), read_volume(paths["t1c"])
    gt = read_volume(paths["seg"])  # recognised as a label map by its name
    pred = brain_tumour_baseline.segment(flair, t1c, brainmask=read_volume(paths["brainmask"]))
    pred_path = write_volume(pred, out / "baseline_pred.nii.gz", overwrite=True)
    result = evaluate_volumes(read_volume(pred_path, as_label=True), gt, convention="brats2021",
                              tolerance_mm=1.0, case="phantom-seed3")
    print(format_case(result, show_labels=True))
    print("wrote", write_json([result], out / "agreement.json"), "and", write_csv([result], out / "agreement.csv"))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__)
        sys.exit(2)
    sys.exit(main(Path(sys.argv[1])))
