"""Files a classification run writes: a predictions table (CSV) and activation maps (PNG), atomically."""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np

from ...errors import InvalidInputError
from .predict import ImageClassification

__all__ = ["cam_file_names", "write_cam_pngs", "write_predictions_csv"]


def write_predictions_csv(results: Sequence[tuple[str, ImageClassification]], path: str | os.PathLike[str], *,
                          protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """One row per image: path, each class's probability, the decisions (``;``-joined), trained, the map's
    class and peak (row, column on the image grid)."""
    from ...evaluate import check_output_path, write_text_atomically

    if not results:
        raise InvalidInputError("no predictions to write")
    out = check_output_path(path, [*protect, *(p for p, _ in results)])
    names = results[0][1].class_names
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["path", *[f"p_{c}" for c in names], "decision", "trained", "model", "cam_class", "cam_peak_row",
                "cam_peak_column"])
    for p, r in results:
        peak = r.to_json()["cam_peak"] or ["", ""]
        w.writerow([p, *[f"{float(v):.6f}" for v in r.probabilities],
                    ";".join(r.decisions) if r.trained else "(model not trained)", r.trained, r.model_name,
                    r.cam_class or "", *peak])
    write_text_atomically(out, buf.getvalue())
    return out


def cam_file_names(paths: Sequence[str]) -> list[str]:
    """File stems for the maps of ``paths``: the image's stem, with its index added where stems repeat."""
    stems = [Path(p).name.split(".")[0] or f"image{i + 1}" for i, p in enumerate(paths)]
    return [s if stems.count(s) == 1 else f"{s}-{i + 1}" for i, s in enumerate(stems)]


def write_cam_pngs(result: ImageClassification, image: np.ndarray, folder: str | os.PathLike[str], stem: str, *,
                   protect: Iterable[str | os.PathLike[str]] = ()) -> list[Path]:
    """Write ``<stem>_cam.png`` (the map, 8-bit grey, on the image's pixel grid: 255 = the map's peak) and
    ``<stem>_cam_overlay.png`` (the image in grey with the map in colour on top) into ``folder``."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib import colormaps
    from PIL import Image

    from ...evaluate import check_output_path
    from ...io.atomic import atomic_path

    if result.cam is None:
        raise InvalidInputError(f"{result.source or stem}: has no activation map (untrained model, or maps not asked for)")
    img = np.asarray(image, dtype=np.float64)
    if img.shape != result.cam.shape:
        raise InvalidInputError(f"{stem}: image {img.shape} and map {result.cam.shape} differ in shape")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lo, hi = np.percentile(img, [0.5, 99.5]) if img.size else (0.0, 1.0)
    grey = np.clip((img - lo) / (hi - lo if hi > lo else 1.0), 0, 1)
    heat = colormaps["jet"](result.cam)[..., :3]
    alpha = 0.45 * result.cam[..., None]
    overlay = (1 - alpha) * grey[..., None] + alpha * heat
    out = []
    for name, arr in ((f"{stem}_cam.png", np.rint(result.cam * 255).astype(np.uint8)),
                      (f"{stem}_cam_overlay.png", np.rint(overlay * 255).astype(np.uint8))):
        target = check_output_path(folder / name, protect)
        with atomic_path(target, suffix=".png") as tmp:
            Image.fromarray(arr).save(tmp, format="PNG")
        out.append(target)
    return out
