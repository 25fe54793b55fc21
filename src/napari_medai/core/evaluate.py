"""Evaluate segmentations against expert labels: one case, a cohort, and the exports.

* :func:`evaluate_volumes` checks that prediction and reference share a voxel grid (or resamples
  the prediction onto the reference grid with nearest neighbour when asked) and computes the
  table of :func:`~napari_medai.core.metrics.compute_table`.
* :func:`case_name`, :func:`collect_cases` and :func:`match_cases` pair files of two folders by
  case name.
* :func:`to_json_dict`, :func:`write_json`, :func:`write_csv` and :func:`format_case` /
  :func:`format_summary` are shared by the CLI and the napari widget. Files are written
  atomically (a temporary file in the same folder, then :func:`os.replace`) and never over an
  input.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import GeometryMismatchError, InvalidInputError, MedaiError
from .io.atomic import FolderNotWritableError, atomic_path
from .metrics import METRICS, Convention, TableCache, compute_table, get_convention, summarize
from .volume import Volume

__all__ = [
    "CASE_SUFFIXES",
    "CaseResult",
    "case_name",
    "check_output_path",
    "collect_cases",
    "evaluate_volumes",
    "format_case",
    "format_summary",
    "match_cases",
    "resample_to_grid",
    "summarize_cases",
    "to_csv_rows",
    "to_json_dict",
    "write_csv",
    "write_json",
]

#: Suffixes stripped from file stems to get a case name (case-insensitive, repeatedly).
CASE_SUFFIXES: tuple[str, ...] = (
    "_segmentation", "_prediction", "_groundtruth", "_reference", "_labels", "_label", "_mask",
    "_pred", "_seg", "_gt", "_ref",
    "-segmentation", "-prediction", "-labels", "-label", "-mask", "-pred", "-seg", "-gt", "-ref",
    ".seg", ".pred", ".gt",
)


@dataclass
class CaseResult:
    """The agreement table of one case, with how it was obtained.

    Attributes
    ----------
    case
        Case name.
    convention
        The label convention used.
    regions, labels
        ``{name: row}`` as returned by :func:`~napari_medai.core.metrics.compute_table`.
    tolerance_mm
        NSD tolerance.
    lesion_style
        ``"isles"`` or ``"brats2023"``.
    resampled
        True when the prediction was resampled onto the reference grid.
    spacing, shape
        Voxel grid (the reference's) on which the metrics were computed.
    notes
        Case-level remarks (e.g. the grid differences a resampling removed).
    pred_source, gt_source
        Paths of the inputs, when known.
    """

    case: str
    convention: Convention
    regions: dict[str, dict[str, Any]]
    labels: dict[str, dict[str, Any]]
    tolerance_mm: float
    lesion_style: str
    resampled: bool = False
    spacing: tuple[float, ...] = ()
    shape: tuple[int, ...] = ()
    notes: list[str] = field(default_factory=list)
    pred_source: str | None = None
    gt_source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON entry of this case (NaN kept; :func:`to_json_dict` turns it into null)."""
        return {
            "case": self.case,
            "regions": self.regions,
            "labels": self.labels,
            "resampled": self.resampled,
            "spacing_mm": list(self.spacing),
            "shape": list(self.shape),
            "notes": list(self.notes),
            "pred": self.pred_source,
            "gt": self.gt_source,
        }


# ---------------------------------------------------------------------------------- one case
def _label_volume(vol: Volume, *, what: str) -> Volume:
    if not isinstance(vol, Volume):
        raise InvalidInputError(f"{what} must be a Volume, got {type(vol).__name__}")
    if vol.channel_axis is not None and vol.n_channels != 1:
        raise InvalidInputError(
            f"{what} {vol.name!r} has {vol.n_channels} channels; a label map has one "
            "(pick a channel or argmax the probabilities first)"
        )
    return vol.channel(0) if vol.channel_axis is not None else vol


def resample_to_grid(moving: Volume, reference: Volume) -> Volume:
    """Nearest-neighbour resampling of ``moving`` onto the voxel grid of ``reference``.

    Every reference voxel centre is mapped to world coordinates (``reference.affine``) and from
    there into ``moving``'s index space; the nearest voxel is taken, and 0 outside ``moving``.

    Parameters
    ----------
    moving
        Label map to resample (single channel).
    reference
        Volume whose grid (shape, spacing, origin, direction) the result takes.

    Returns
    -------
    Volume
        ``moving``'s data on ``reference``'s grid (same dtype).
    """
    from scipy import ndimage as ndi

    mov = _label_volume(moving, what="volume to resample")
    ref = _label_volume(reference, what="reference volume")
    if mov.ndim_spatial != ref.ndim_spatial:
        raise GeometryMismatchError(
            f"cannot resample a {mov.ndim_spatial}-D volume onto a {ref.ndim_spatial}-D grid"
        )
    n = ref.ndim_spatial
    m = np.linalg.inv(mov.affine) @ ref.affine
    data = mov.data
    if data.dtype == bool:
        data = data.view(np.uint8)
    out = ndi.affine_transform(
        data, m[:n, :n], offset=m[:n, n], output_shape=ref.spatial_shape, order=0,
        mode="constant", cval=0, output=data.dtype,
    )
    if mov.data.dtype == bool:
        out = out.astype(bool)
    return ref.with_data(out, name=mov.name, source=mov.source, is_label=True,
                         label_names=mov.label_names, modality=mov.modality, units="")


def evaluate_volumes(
    pred: Volume,
    gt: Volume,
    *,
    convention: str | Convention,
    tolerance_mm: float = 1.0,
    resample: bool = False,
    lesion_style: str = "isles",
    case: str | None = None,
    include_labels: bool = True,
    cache: TableCache | None = None,
) -> CaseResult:
    """Agreement of a predicted label map with a reference label map.

    Parameters
    ----------
    pred, gt
        Label maps (single channel). Metrics are computed on ``gt``'s voxel grid.
    convention
        Label convention (name, custom ``'NAME=1,2;...'`` spec or object).
    tolerance_mm
        NSD tolerance in mm.
    resample
        When the grids differ (shape, spacing, origin or orientation): False raises
        :class:`GeometryMismatchError` listing the differences; True resamples the prediction
        onto the reference grid (nearest neighbour, via world coordinates) and records it.
    lesion_style
        ``"isles"`` or ``"brats2023"``.
    case
        Case name (default: the reference's name).
    include_labels
        Also compute one row per label.
    cache
        Optional :class:`~napari_medai.core.metrics.TableCache` (live updates).

    Returns
    -------
    CaseResult
    """
    conv = get_convention(convention)
    p = _label_volume(pred, what="prediction")
    g = _label_volume(gt, what="reference")
    notes: list[str] = []
    resampled = False
    if p.ndim_spatial != g.ndim_spatial:
        raise GeometryMismatchError(
            f"prediction is {p.ndim_spatial}-D and reference {g.ndim_spatial}-D; they must match"
        )
    diffs = g.grid_differences(p)
    if diffs:
        if not resample:
            raise GeometryMismatchError(
                "prediction and reference are not on the same voxel grid (prediction vs reference: "
                + "; ".join(diffs)
                + "); resample the prediction onto the reference grid (resample=True, CLI --resample)"
            )
        p = resample_to_grid(p, g)
        resampled = True
        notes.append(
            "prediction resampled onto the reference grid (nearest neighbour) because "
            + "; ".join(diffs)
        )
    table = compute_table(
        p.data, g.data, spacing=g.spacing, convention=conv, tolerance_mm=tolerance_mm,
        lesion_style=lesion_style, include_labels=include_labels, cache=cache,
    )
    return CaseResult(
        case=case if case is not None else g.name,
        convention=conv,
        regions=table["regions"],
        labels=table["labels"],
        tolerance_mm=float(tolerance_mm),
        lesion_style=lesion_style,
        resampled=resampled,
        spacing=tuple(g.spacing),
        shape=tuple(g.spatial_shape),
        notes=notes,
        pred_source=pred.source,
        gt_source=gt.source,
    )


# ---------------------------------------------------------------------------------- cohorts
def case_name(path: str | os.PathLike[str]) -> str:
    """Case name of a label file: the stem without image extensions and role suffixes.

    ``BraTS-GLI-00001-000-seg.nii.gz`` -> ``BraTS-GLI-00001-000``; ``case7_pred.nrrd`` ->
    ``case7``; ``sub-01_gt.nii`` -> ``sub-01``.
    """
    from .io.names import split_extension

    stem, _ = split_extension(path)
    changed = True
    while changed:
        changed = False
        low = stem.lower()
        for suf in CASE_SUFFIXES:
            if low.endswith(suf) and len(stem) > len(suf):
                stem = stem[: -len(suf)]
                changed = True
                break
    return stem


def collect_cases(folder: str | os.PathLike[str], *, what: str = "folder") -> dict[str, Path]:
    """``{case name: file}`` of the image files directly inside ``folder``.

    Raises
    ------
    InvalidInputError
        When the folder holds no image file, or two files give the same case name.
    """
    from .io.names import READ_FORMATS, split_extension

    root = Path(folder)
    if not root.is_dir():
        raise InvalidInputError(f"{what} {root}: not a folder")
    out: dict[str, Path] = {}
    for f in sorted(root.iterdir()):
        if f.name.startswith(".") or not f.is_file():
            continue
        if split_extension(f)[1] not in READ_FORMATS:
            continue
        name = case_name(f)
        if name in out:
            raise InvalidInputError(
                f"{what} {root}: {out[name].name} and {f.name} both give case {name!r}; "
                "keep one file per case"
            )
        out[name] = f
    if not out:
        raise InvalidInputError(
            f"{what} {root}: no label files found (expected e.g. .nii.gz, .nrrd, .mha files)"
        )
    return out


def match_cases(
    pred: Mapping[str, Path], gt: Mapping[str, Path]
) -> tuple[list[tuple[str, Path, Path]], list[str], list[str]]:
    """Pair prediction and reference files by case name.

    Returns
    -------
    (list, list, list)
        ``(case, pred_path, gt_path)`` for matched cases (sorted by name), then the case names
        found only among the predictions, then those found only among the references.
    """
    both = sorted(set(pred) & set(gt))
    return (
        [(c, Path(pred[c]), Path(gt[c])) for c in both],
        sorted(set(pred) - set(gt)),
        sorted(set(gt) - set(pred)),
    )


def summarize_cases(
    results: Sequence[CaseResult], *, n_resamples: int = 2000, seed: int = 0, kind: str = "regions"
) -> dict[str, dict[str, dict[str, Any]]]:
    """Cohort summary (mean, median, SD, bootstrap CI, counts) of the region (or label) rows."""
    if kind not in ("regions", "labels"):
        raise InvalidInputError(f"kind must be 'regions' or 'labels', got {kind!r}")
    rows = [getattr(r, kind) for r in results]
    return summarize(rows, metrics=_summary_metrics(rows), n_resamples=n_resamples, seed=seed)


def _summary_metrics(rows: Sequence[Mapping[str, Mapping[str, Any]]]) -> list[str]:
    present = {k for case in rows for row in case.values() for k in row}
    extra = sorted(k for k in present if k not in METRICS and k.startswith("lesion_"))
    return [m for m in METRICS if m in present] + extra


# ---------------------------------------------------------------------------------- exports
def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN/inf -> None, numpy scalars -> Python numbers, tuples -> lists."""
    if isinstance(value, Mapping):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, np.ndarray):
        return _clean(value.tolist())
    if isinstance(value, Path):
        return str(value)
    return value


def to_json_dict(
    results: Sequence[CaseResult],
    *,
    summary: Mapping[str, Any] | None = None,
    unmatched: Mapping[str, Sequence[str]] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """The JSON document of an evaluation.

    Layout: ``{"convention": NAME, "cases": [{"case", "regions": {REGION: {metric: value}},
    "labels": {...}, ...}], "summary": {REGION: {METRIC: {"mean", "median", "sd", "ci95":
    [lo, hi], "n", "n_nan"}}}, ...}``; NaN and infinity become ``null``.

    Parameters
    ----------
    results
        Case results (all with the same convention).
    summary
        Precomputed region summary; computed with ``n_resamples``/``seed`` when None.
    unmatched
        Optional ``{"pred": [...], "gt": [...]}`` case names without a partner.
    """
    if not results:
        raise InvalidInputError("no case results to export")
    conv = results[0].convention
    if any(r.convention != conv for r in results):
        raise InvalidInputError("all cases of one export must use the same label convention")
    if summary is None:
        summary = summarize_cases(results, n_resamples=n_resamples, seed=seed)
    doc: dict[str, Any] = {
        "convention": conv.name,
        "convention_detail": conv.to_dict(),
        "settings": {
            "tolerance_mm": results[0].tolerance_mm,
            "lesion_style": results[0].lesion_style,
            "hd_percentile": 95,
            "bootstrap_resamples": n_resamples,
            "bootstrap_seed": seed,
            "surface_definition": "voxels removed by a 6-neighbour binary erosion (MONAI get_mask_edges)",
        },
        "cases": [r.to_dict() for r in results],
        "summary": summary,
        "summary_labels": summarize_cases(results, n_resamples=n_resamples, seed=seed, kind="labels"),
    }
    if unmatched is not None:
        doc["unmatched"] = {k: list(v) for k, v in unmatched.items()}
    return _clean(doc)


def check_output_path(path: str | os.PathLike[str], protect: Iterable[str | os.PathLike[str]] = ()) -> Path:
    """Refuse an output path that is a folder or one of the ``protect`` (input) files."""
    out = Path(path)
    if out.is_dir():
        raise InvalidInputError(f"{out}: is a folder; give a file name for the output")
    target = out.resolve()
    for p in protect:
        if p is not None and Path(p).resolve() == target:
            raise InvalidInputError(f"{out}: refusing to overwrite an input file; choose another output name")
    return out


def write_text_atomically(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, newlines as given) to ``path`` through a temporary file beside it.

    Raises
    ------
    MedaiError
        The folder is not writable, or the write failed (nothing is left under ``path``'s name).
    """
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8", newline="")
    except FolderNotWritableError as exc:
        raise MedaiError(f"{path}: cannot write here ({exc.strerror or exc})") from exc
    except OSError as exc:
        raise MedaiError(f"{path}: could not write ({exc.strerror or exc})") from exc


def write_json(
    document: Mapping[str, Any] | Sequence[CaseResult],
    path: str | os.PathLike[str],
    *,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write an evaluation as JSON, atomically, never over a path in ``protect``.

    Parameters
    ----------
    document
        A document from :func:`to_json_dict`, or case results to convert with it.
    path
        Output file.
    protect
        Input files that must not be overwritten.
    """
    out = check_output_path(path, protect)
    doc = to_json_dict(document) if _is_results(document) else _clean(document)
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    write_text_atomically(out, text)
    return out


def _is_results(obj: Any) -> bool:
    return isinstance(obj, (list, tuple)) and all(isinstance(r, CaseResult) for r in obj)


def to_csv_rows(results: Sequence[CaseResult]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of the CSV export: one row per case and region or label."""
    extra: list[str] = []
    for r in results:
        for rows in (r.regions, r.labels):
            for row in rows.values():
                for k in row:
                    if k not in METRICS and k not in ("label_values", "empty", "notes") and k not in extra:
                        extra.append(k)
    header = ["case", "kind", "name", "label_values", *METRICS, *extra, "empty", "resampled", "notes"]
    out: list[list[Any]] = []
    for r in results:
        for kind, rows in (("region", r.regions), ("label", r.labels)):
            for name, row in rows.items():
                line: list[Any] = [r.case, kind, name, ";".join(str(v) for v in row.get("label_values", []))]
                for k in (*METRICS, *extra):
                    line.append(_csv_value(row.get(k)))
                line += [row.get("empty") or "", str(r.resampled).lower(), " | ".join(row.get("notes", []))]
                out.append(line)
    return header, out


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, (float, np.floating)):
        f = float(v)
        return "" if not math.isfinite(f) else repr(f)
    if isinstance(v, (np.integer,)):
        return int(v)
    return v


def write_csv(
    results: Sequence[CaseResult],
    path: str | os.PathLike[str],
    *,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write one CSV row per case and region/label (NaN as an empty cell), atomically."""
    out = check_output_path(path, protect)
    header, rows = to_csv_rows(results)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    write_text_atomically(out, buf.getvalue())
    return out


# ---------------------------------------------------------------------------------- text
_COLUMNS = (
    ("Dice", "dice", "{:.3f}"),
    ("IoU", "iou", "{:.3f}"),
    ("HD95 mm", "hd95_mm", "{:.2f}"),
    ("ASSD mm", "assd_mm", "{:.2f}"),
    ("NSD", "nsd", "{:.3f}"),
    ("Sens", "sensitivity", "{:.3f}"),
    ("Spec", "specificity", "{:.4f}"),
    ("Vpred ml", "volume_pred_ml", "{:.2f}"),
    ("Vgt ml", "volume_gt_ml", "{:.2f}"),
)


def _fmt(v: Any, spec: str) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "n/a"
    return spec.format(v)


def format_case(result: CaseResult, *, show_labels: bool = False) -> str:
    """A readable fixed-width table of one case (regions, optionally labels, then notes)."""
    lines = [
        f"case {result.case}  (convention {result.convention.name}, NSD tolerance "
        f"{result.tolerance_mm:g} mm, lesions {result.lesion_style}"
        + (", prediction resampled" if result.resampled else "") + ")"
    ]
    sections = [("region", result.regions)]
    if show_labels:
        sections.append(("label", result.labels))
    notes: list[str] = list(result.notes)
    for title, rows in sections:
        width = max([len(title)] + [len(n) for n in rows])
        head = f"  {title:<{width}}" + "".join(f" {h:>9}" for h, _, _ in _COLUMNS) + "  lesions TP/FP/FN  F1"
        lines.append(head)
        for name, row in rows.items():
            cells = "".join(f" {_fmt(row.get(k), spec):>9}" for _, k, spec in _COLUMNS)
            les = f"{row.get('lesion_tp')}/{row.get('lesion_fp')}/{row.get('lesion_fn')}"
            lines.append(f"  {name:<{width}}{cells}  {les:>16}  {_fmt(row.get('lesion_f1'), '{:.3f}')}")
            notes += [f"{name}: {n}" for n in row.get("notes", [])]
    lines += [f"  note: {n}" for n in notes]
    return "\n".join(lines)


def format_summary(summary: Mapping[str, Mapping[str, Mapping[str, Any]]], *, n_cases: int) -> str:
    """A readable cohort summary: mean, SD, median and 95 % CI of the main metrics per region."""
    keys = ("dice", "hd95_mm", "assd_mm", "nsd", "sensitivity", "lesion_f1")
    lines = [f"cohort summary over {n_cases} case(s): mean (SD) median [95% bootstrap CI] (n)"]
    for region, metrics in summary.items():
        lines.append(f"  {region}")
        for k in keys:
            s = metrics.get(k)
            if not s:
                continue
            ci = s.get("ci95") or [None, None]
            lines.append(
                f"    {k:<12} {_fmt(s.get('mean'), '{:.3f}')} ({_fmt(s.get('sd'), '{:.3f}')}) "
                f"{_fmt(s.get('median'), '{:.3f}')} [{_fmt(ci[0], '{:.3f}')}, {_fmt(ci[1], '{:.3f}')}] "
                f"(n={s.get('n')}" + (f", {s.get('n_nan')} undefined" if s.get("n_nan") else "") + ")"
            )
    return "\n".join(lines)
