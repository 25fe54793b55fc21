"""JSON, CSV and text reports of a :class:`~napari_medai.core.tasks.cac.scoring.CACResult`.

Files are written atomically and never over an input (the writers of
:mod:`napari_medai.core.evaluate` are reused).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ...errors import InvalidInputError
from ...evaluate import check_output_path, write_text_atomically
from ...evaluate import write_json as _write_json_document
from ._common import ARTERIES, SCORE_KEYS
from .scoring import CACResult, per_artery_rows

#: Score columns of a per-case score CSV (:func:`read_scores`).
SCORE_MEASURES = ("total", "LM", "LAD", "LCX", "RCA")

#: Columns of the CSV export (one table: per-artery summary rows, then per-lesion rows).
CSV_COLUMNS = (
    "kind", "artery", "id", "slice", "area_mm2", "peak_hu", "weight", "agatston", "volume_mm3", "mass_mg",
    "lesion_count", "mean_hu", "n_voxels", "centroid_slice", "centroid_row", "centroid_col",
)


def to_json_dict(result: CACResult) -> dict[str, Any]:
    """The JSON document of a result.

    Layout (these keys always, in this order; the rest are extras)::

        {"agatston": {"total", "LM", "LAD", "LCX", "RCA"}, "volume_mm3": {...}, "mass_mg": {...},
         "category": "0|1-10|11-100|101-400|>400", "slice_thickness_mm": float,
         "lesions": [{"id", "artery", "slice", "area_mm2", "peak_hu", "weight", "agatston", ...}],
         "lesion_count": {...}, "non_coronary": {...}, "conventions": {...}, "notes": [...]}
    """
    def keyed(d: dict[str, Any]) -> dict[str, Any]:
        return {k: d[k] for k in SCORE_KEYS}

    return {
        "agatston": keyed(result.agatston),
        "volume_mm3": keyed(result.volume_mm3),
        "mass_mg": keyed(result.mass_mg),
        "category": result.category,
        "slice_thickness_mm": result.slice_thickness_mm,
        "lesions": [les.as_dict() for les in result.lesions],
        "lesion_count": keyed(result.lesion_count),
        "non_coronary": dict(result.non_coronary),
        "name": result.name,
        "pixel_spacing_mm": list(result.pixel_spacing_mm),
        "min_area_mm2": result.min_area_mm2,
        "calibration_factor": result.calibration_factor,
        "mass_unit": "mg" if result.mass_calibrated else "HU*mm^3 (uncalibrated)",
        "slice_correction": result.slice_correction,
        "slice_factor": result.slice_factor,
        "n_dropped_small": result.n_dropped_small,
        "conventions": {
            "threshold_hu": result.threshold_hu,
            "lesion": f"2-D {result.connectivity}-connected components per artery and axial slice",
            "min_area_rule": "lesions with area < min_area_mm2 are dropped (exactly the minimum counts)",
            "density_weights": {"130-199": 1, "200-299": 2, "300-399": 3, ">=400": 4},
            "slice_correction": (
                "lesion Agatston x slice spacing / 3 mm" if result.slice_correction == "scale"
                else "none (Agatston not corrected for slice spacing)"
            ),
            "volume": "lesion voxels x voxel volume (mm^3)",
            "mass": ("calibration factor x sum over lesions of lesion volume x mean HU (mg)" if result.mass_calibrated
                     else "sum over lesions of lesion volume x mean HU (HU*mm^3, uncalibrated: no calibration "
                          "factor was given; the key stays 'mass_mg' for file compatibility)"),
            "total": "LM + LAD + LCX + RCA (non-coronary reported separately)",
            "hu_evidence": result.hu_evidence,
        },
        "notes": list(result.notes),
    }


def write_json(result: CACResult, path: str | os.PathLike[str], *,
               protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write :func:`to_json_dict` of ``result`` atomically, never over a path in ``protect``."""
    return _write_json_document(to_json_dict(result), path, protect=protect)


def _cell(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if not math.isfinite(v) else repr(v)
    return v


def csv_rows(result: CACResult) -> list[dict[str, Any]]:
    """Rows of the CSV export: ``kind='artery'`` summary rows, then ``kind='lesion'`` rows."""
    rows: list[dict[str, Any]] = [{"kind": "artery", **r} for r in per_artery_rows(result)]
    for les in result.lesions:
        rows.append({
            "kind": "lesion", "artery": les.artery, "id": les.id, "slice": les.slice, "area_mm2": les.area_mm2,
            "peak_hu": les.peak_hu, "weight": les.weight, "agatston": les.agatston,
            "volume_mm3": les.volume_mm3, "mass_mg": les.mass_mg, "mean_hu": les.mean_hu,
            "n_voxels": les.n_voxels, "centroid_slice": les.centroid[0], "centroid_row": les.centroid[1],
            "centroid_col": les.centroid[2],
        })
    return rows


def write_csv(result: CACResult, path: str | os.PathLike[str], *,
              protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Write the per-artery summary and the per-lesion table as one CSV (column ``kind``), atomically."""
    out = check_output_path(path, protect)
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(CSV_COLUMNS), lineterminator="\n")
    w.writeheader()
    for row in csv_rows(result):
        w.writerow({k: _cell(row.get(k)) for k in CSV_COLUMNS})
    write_text_atomically(out, buf.getvalue())
    return out


def format_result(result: CACResult, *, max_lesions: int = 40) -> str:
    """A readable fixed-width report: per-artery table, category, conventions, then lesions."""
    lines = [
        f"CAC score {result.name}  (slice spacing {result.slice_thickness_mm:g} mm, pixel "
        f"{result.pixel_spacing_mm[0]:.3g} x {result.pixel_spacing_mm[1]:.3g} mm, threshold "
        f"{result.threshold_hu:g} HU, min area {result.min_area_mm2:g} mm^2, {result.connectivity}-connected)",
        f"{'artery':<13}{'Agatston':>10}{'volume mm3':>12}{'mass ' + _mass_unit_ascii(result):>11}{'lesions':>9}",
    ]
    for r in per_artery_rows(result):
        if r["artery"] == "total":
            lines.append("-" * 55)
        lines.append(f"{r['artery']:<13}{r['agatston']:>10.1f}{r['volume_mm3']:>12.1f}{r['mass_mg']:>11.1f}"
                     f"{r['lesion_count']:>9d}")
    lines.append(f"risk category: {result.category}   (non-coronary calcium is not in the total)")
    if not result.mass_calibrated:
        lines.append("mass: uncalibrated score in HU x mm^3 (give --calibration-factor from a phantom scan for mg)")
    if result.slice_factor != 1.0:
        lines.append(f"slice correction: {result.slice_correction} (lesion Agatston x {result.slice_factor:.4g})")
    elif result.slice_correction == "none" and abs(result.slice_thickness_mm - 3.0) > 1e-3:
        lines.append("slice correction: none (scores not comparable with 3 mm scoring)")
    if result.n_dropped_small:
        lines.append(f"{result.n_dropped_small} lesion(s) under {result.min_area_mm2:g} mm^2 dropped")
    if result.lesions:
        lines.append("")
        lines.append(f"{'id':>4} {'artery':<13}{'slice':>6}{'area mm2':>10}{'peak HU':>9}{'w':>3}{'Agatston':>10}")
        coronary = [les for les in result.lesions if les.artery in ARTERIES]
        other = [les for les in result.lesions if les.artery not in ARTERIES]
        shown = (coronary + other)[:max_lesions]
        for les in shown:
            lines.append(f"{les.id:>4} {les.artery:<13}{les.slice:>6}{les.area_mm2:>10.2f}{les.peak_hu:>9g}"
                         f"{les.weight:>3}{les.agatston:>10.2f}")
        if len(result.lesions) > len(shown):
            lines.append(f"... {len(result.lesions) - len(shown)} more lesion(s) in the JSON/CSV export")
    return "\n".join(lines)


def _mass_unit_ascii(result: CACResult) -> str:
    return "mg" if result.mass_calibrated else "HUmm3"


def read_scores(path: Path, *, what: str) -> dict[str, dict[str, float]]:
    """``{case: {measure: score}}`` from a per-case score CSV.

    The file holds one row per case: a ``case`` column and Agatston scores in ``total`` and,
    optionally, ``LM``, ``LAD``, ``LCX``, ``RCA`` (case-insensitive; an ``agatston_`` prefix and a
    bare ``agatston`` column for the total are accepted). ``what`` names the file in errors.

    Raises
    ------
    InvalidInputError
        Missing or unreadable file, missing columns, repeated or empty case names, and scores that
        are not finite numbers >= 0, each with the file, line and fix.
    """
    if not path.is_file():
        raise InvalidInputError(f"{what} {path}: no such file")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInputError(f"{what} {path}: cannot read it as a text CSV ({exc})") from exc
    rows = list(csv.reader(text.splitlines()))
    if not rows:
        raise InvalidInputError(f"{what} {path}: the file is empty; it needs a header 'case,total,...'")
    header = [h.strip() for h in rows[0]]
    names = {}
    for i, h in enumerate(header):
        key = h.lower()
        if key.startswith("agatston_"):
            key = key[len("agatston_"):]
        if key == "agatston":
            key = "total"
        for m in ("case", *SCORE_MEASURES):
            if key == m.lower():
                names[m] = i
    if "case" not in names or "total" not in names:
        raise InvalidInputError(f"{what} {path}: the header needs columns 'case' and 'total' (got {', '.join(header)})")
    out: dict[str, dict[str, float]] = {}
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) < len(header):
            raise InvalidInputError(f"{what} {path}, line {n}: {len(row)} cells for {len(header)} columns")
        case = row[names["case"]].strip()
        if not case:
            raise InvalidInputError(f"{what} {path}, line {n}: empty case name")
        if case in out:
            raise InvalidInputError(f"{what} {path}, line {n}: case {case!r} appears twice")
        vals = {}
        for m in SCORE_MEASURES:
            if m not in names:
                continue
            cell = row[names[m]].strip()
            try:
                v = float(cell)
            except ValueError as exc:
                raise InvalidInputError(f"{what} {path}, line {n}: {m} {cell!r} is not a number") from exc
            if not math.isfinite(v) or v < 0:
                raise InvalidInputError(f"{what} {path}, line {n}: {m} must be a finite score >= 0, got {cell!r}")
            vals[m] = v
        out[case] = vals
    if not out:
        raise InvalidInputError(f"{what} {path}: no cases")
    return out
