"""The agreement table of one case: every metric for every region and label of a convention.

Work is shared: both label maps are cropped once to the bounding box of their foreground, each
distinct set of label values (a region or a label) is turned into masks once, and one surface /
distance computation feeds HD95, ASSD and NSD. A :class:`TableCache` passed to
:func:`compute_table` makes a recomputation after a small edit (a brush stroke) reuse every row
whose masks did not change.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ._arrays import BoundedMemo, as_spacing, bounding_box, crop_padded, fingerprint, union_box
from .conventions import BRATS_HD95_EMPTY_MM, Convention, get_convention
from .lesions import LESION_STYLES, _style_params, lesions_padded
from .overlap import ConfusionCounts
from .surface import MaskSurface, _tolerance, pair_distances, ring_pad

__all__ = ["METRICS", "TableCache", "compute_table", "empty_rule_values"]

#: Metric keys of a table row, in display order.
METRICS: tuple[str, ...] = (
    "dice",
    "iou",
    "hd95_mm",
    "assd_mm",
    "nsd",
    "sensitivity",
    "specificity",
    "volume_pred_ml",
    "volume_gt_ml",
    "volume_diff_ml",
    "lesion_tp",
    "lesion_fp",
    "lesion_fn",
    "lesion_f1",
    "lesion_dice",
    "lesion_hd95_mm",
)


@dataclass
class TableCache:
    """Rows of earlier :func:`compute_table` calls, keyed by a fingerprint of their masks.

    Pass the same instance to successive calls on edited versions of the same case (e.g. a
    label layer being painted): a row whose prediction and reference masks are unchanged is
    copied instead of recomputed, and for the rows that are recomputed the reference side
    (its surface, k-d tree and lesion labelling) is reused. ``hits`` and ``misses`` count
    reused and computed rows.
    """

    max_rows: int = 256
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0
    memo: BoundedMemo = field(default_factory=lambda: BoundedMemo(48))

    def get(self, key: str) -> dict[str, Any] | None:
        row = self.rows.get(key)
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return copy.deepcopy(row)

    def put(self, key: str, row: dict[str, Any]) -> None:
        if len(self.rows) >= self.max_rows:
            self.rows.pop(next(iter(self.rows)))
        self.rows[key] = copy.deepcopy(row)


def empty_rule_values(rule: str, empty: str) -> tuple[dict[str, float], str]:
    """Values a convention's empty rule assigns, and the note that says so.

    Parameters
    ----------
    rule
        ``"brats"``, ``"isles"`` or ``"nan"``.
    empty
        ``"both"`` (prediction and reference empty), ``"pred"`` (only the prediction) or
        ``"gt"`` (only the reference).

    Returns
    -------
    (dict, str)
        Metric values that replace the computed ones (undefined or infinite), and a note.
    """
    nan = math.nan
    cap = BRATS_HD95_EMPTY_MM
    who = {"both": "prediction and reference both empty", "pred": "prediction empty, reference not",
           "gt": "reference empty, prediction not"}[empty]
    if rule == "brats":
        if empty == "both":
            return ({"dice": 1.0, "iou": 1.0, "hd95_mm": 0.0, "assd_mm": 0.0, "nsd": 1.0,
                     "sensitivity": 1.0},
                    f"{who}: Dice=IoU=NSD=sensitivity=1, HD95=ASSD=0 mm by the BraTS rule")
        vals = {"hd95_mm": cap, "assd_mm": cap}
        note = f"{who}: HD95=ASSD={cap} mm by the BraTS rule"
        if empty == "gt":
            vals["sensitivity"] = 0.0
            note += ", sensitivity=0 (BraTS code)"
        return vals, note
    if rule == "isles":
        if empty == "both":
            return ({"dice": 1.0, "iou": 1.0, "hd95_mm": nan, "assd_mm": nan, "nsd": nan,
                     "sensitivity": nan},
                    f"{who}: Dice=IoU=1 by the ISLES'22 rule; surface distances undefined (NaN)")
        return ({"hd95_mm": nan, "assd_mm": nan},
                f"{who}: surface distances undefined (NaN) by the ISLES'22 rule")
    if rule == "nan":
        if empty == "both":
            return ({"dice": nan, "iou": nan, "hd95_mm": nan, "assd_mm": nan, "nsd": nan,
                     "sensitivity": nan},
                    f"{who}: Dice, IoU, NSD, sensitivity and distances undefined (NaN)")
        return ({"hd95_mm": nan, "assd_mm": nan}, f"{who}: HD95 and ASSD undefined (NaN)")
    raise InvalidInputError(f"unknown empty rule {rule!r}; use brats, isles or nan")


def _lesion_rule(rule: str, row: dict[str, Any], *, with_hd: bool) -> str | None:
    """Fill lesion scores left undefined because neither side has a lesion."""
    if not math.isnan(row["lesion_f1"]):
        return None
    if rule == "brats":
        row["lesion_f1"] = 1.0
        row["lesion_dice"] = 1.0
        if with_hd:
            row["lesion_hd95_mm"] = 0.0
            return ("no lesion in prediction or reference: lesion F1=lesion Dice=1, lesion HD95=0 mm "
                    "by the BraTS rule")
        return "no lesion in prediction or reference: lesion F1=lesion Dice=1 by the BraTS rule"
    if rule == "isles":
        row["lesion_f1"] = 1.0
        row["lesion_dice"] = 1.0
        return "no lesion in prediction or reference: lesion F1=lesion Dice=1 by the ISLES'22 rule"
    return "no lesion in prediction or reference: lesion F1 and lesion Dice undefined (NaN)"


def _as_labels(array: object, *, what: str) -> np.ndarray:
    arr = np.asarray(array)
    if arr.ndim not in (2, 3):
        raise InvalidInputError(
            f"{what} must be a 2-D or 3-D label map, got shape {arr.shape}; drop channel axes first"
        )
    if arr.dtype == bool:
        return arr.view(np.uint8)
    if arr.dtype.kind not in "iuf":
        raise InvalidInputError(f"{what} must hold integer labels, got dtype {arr.dtype}")
    return arr


def _integer_labels(crop: np.ndarray, conv: Convention, *, what: str) -> np.ndarray:
    """``crop`` as whole-number labels, checked against the convention (errors name the values)."""
    if crop.size == 0:
        return crop.astype(np.int64)
    if crop.dtype.kind == "f":
        if not np.isfinite(crop).all():
            raise InvalidInputError(f"{what} holds NaN or infinite values; it must be a label map")
        rounded = np.rint(crop)
        if not np.array_equal(rounded, crop):
            bad = np.unique(crop[rounded != crop])[:5]
            raise InvalidInputError(
                f"{what} holds non-integer values {bad.tolist()}; it looks like an intensity image "
                "or probabilities, not a label map (threshold or argmax it first)"
            )
        crop = rounded.astype(np.int64)
    lo, hi = int(crop.min()), int(crop.max())
    allowed = conv.values | {0}
    if lo < 0 or hi > max(allowed):
        conv.check_values(np.unique(crop).tolist(), what=what)
    gaps = [v for v in range(lo, hi + 1) if v not in allowed]
    if len(gaps) <= 4:
        bad = [v for v in gaps if (crop == v).any()]
    else:
        lut = np.zeros(hi - lo + 1, dtype=bool)
        lut[[v - lo for v in allowed if lo <= v <= hi]] = True
        ok = lut[crop - lo] if lo else lut[crop]
        bad = [] if ok.all() else np.unique(crop[~ok]).tolist()
    if bad:
        conv.check_values(bad, what=what)
    return crop


def _mask(crop: np.ndarray, values: tuple[int, ...]) -> np.ndarray:
    if len(values) <= 3:
        m = crop == values[0]
        for v in values[1:]:
            m |= crop == v
        return m
    return np.isin(crop, values)


def compute_table(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    spacing: object,
    convention: str | Convention,
    tolerance_mm: float = 1.0,
    lesion_style: str = "isles",
    include_labels: bool = True,
    cache: TableCache | None = None,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Every agreement metric for each region and each label of a convention.

    Parameters
    ----------
    pred, gt
        Label maps (2-D or 3-D, same shape, same voxel grid) holding 0 and the convention's
        label values only.
    spacing
        Voxel size in mm per array axis.
    convention
        A :class:`~napari_medai.core.metrics.conventions.Convention` or a name/custom spec
        accepted by :func:`~napari_medai.core.metrics.conventions.get_convention`.
    tolerance_mm
        Tolerance of the normalised surface Dice.
    lesion_style
        ``"isles"`` or ``"brats2023"`` (see :mod:`napari_medai.core.metrics.lesions`).
    include_labels
        Also compute one row per label value (``"labels"``); rows whose value set equals a
        region's are computed once.
    cache
        Optional :class:`TableCache` for fast recomputation after small edits.

    Returns
    -------
    dict
        ``{"regions": {REGION: row}, "labels": {LABEL_NAME: row}}`` where each row maps the keys
        of :data:`METRICS` to numbers (NaN when undefined) and also holds ``label_values``,
        ``empty`` (``None``, ``"both"``, ``"pred"`` or ``"gt"``) and ``notes`` (why a value comes
        from the convention's empty rule).

    Raises
    ------
    InvalidInputError
        Different shapes, bad spacing or tolerance, non-label data, or label values outside the
        convention (the message names them).
    """
    conv = get_convention(convention)
    p = _as_labels(pred, what="prediction")
    g = _as_labels(gt, what="reference")
    if p.shape != g.shape:
        raise InvalidInputError(
            f"prediction and reference have different shapes {p.shape} and {g.shape}; "
            "resample the prediction onto the reference grid first"
        )
    sp = as_spacing(spacing, p.ndim)
    tol = _tolerance(tolerance_mm)
    if lesion_style not in LESION_STYLES:
        raise InvalidInputError(f"lesion_style must be one of {', '.join(LESION_STYLES)}, got {lesion_style!r}")
    dil, min_mm3, with_hd = _style_params(lesion_style, None, None)
    total = int(p.size)
    voxel_ml = float(np.prod(sp)) / 1000.0

    box = union_box(bounding_box(p), bounding_box(g))
    pad = tuple(max(r, dil + 1) for r in ring_pad(sp))
    if box is None:
        pc = np.zeros((1,) * p.ndim, dtype=np.int64)
        gc = pc
    else:
        pc = crop_padded(p, box, pad)
        gc = crop_padded(g, box, pad)
    pc = _integer_labels(pc, conv, what="prediction")
    gc = _integer_labels(gc, conv, what="reference")

    params = (sp, tol, lesion_style, conv.empty_rule, total, p.ndim)
    computed: dict[tuple[int, ...], dict[str, Any]] = {}

    def row_for(values: tuple[int, ...]) -> dict[str, Any]:
        if values in computed:
            return copy.deepcopy(computed[values])
        pm = _mask(pc, values)
        gm = _mask(gc, values)
        key = None
        row = None
        if cache is not None:
            key = fingerprint(params, pm, gm)
            row = cache.get(key)
        if row is None:
            row = _structure_row(pm, gm, sp, tol=tol, total=total, voxel_ml=voxel_ml,
                                 rule=conv.empty_rule, lesion_style=lesion_style, dil=dil,
                                 min_mm3=min_mm3, with_hd=with_hd,
                                 memo=cache.memo if cache is not None else None)
            if cache is not None and key is not None:
                cache.put(key, row)
        row["label_values"] = list(values)
        computed[values] = row
        return copy.deepcopy(row)

    regions = {name: row_for(vals) for name, vals in conv.regions.items()}
    labels = {}
    if include_labels:
        labels = {name: row_for((value,)) for value, name in conv.labels.items()}
    return {"regions": regions, "labels": labels}


def _structure_row(
    pm: np.ndarray,
    gm: np.ndarray,
    sp: tuple[float, ...],
    *,
    tol: float,
    total: int,
    voxel_ml: float,
    rule: str,
    lesion_style: str,
    dil: int,
    min_mm3: float | None,
    with_hd: bool,
    memo: BoundedMemo | None = None,
) -> dict[str, Any]:
    n_p = int(np.count_nonzero(pm))
    n_g = int(np.count_nonzero(gm))
    tp = int(np.count_nonzero(pm & gm)) if n_p and n_g else 0
    cc = ConfusionCounts(tp=tp, fp=n_p - tp, fn=n_g - tp, tn=total - n_p - n_g + tp)
    row: dict[str, Any] = {
        "dice": cc.dice(),
        "iou": cc.iou(),
        "hd95_mm": math.nan,
        "assd_mm": math.nan,
        "nsd": math.nan,
        "sensitivity": cc.sensitivity(),
        "specificity": cc.specificity(),
        "volume_pred_ml": n_p * voxel_ml,
        "volume_gt_ml": n_g * voxel_ml,
        "volume_diff_ml": (n_p - n_g) * voxel_ml,
    }
    notes: list[str] = []
    empty = "both" if not (n_p or n_g) else "pred" if not n_p else "gt" if not n_g else None
    box = union_box(bounding_box(pm), bounding_box(gm)) if (n_p or n_g) else None
    if box is not None:
        pad = tuple(max(r, dil + 1) for r in ring_pad(sp))
        pm = crop_padded(pm, box, pad)
        gm = crop_padded(gm, box, pad)
        if empty is None:
            gsurf = None
            if memo is not None:
                key = ("surface", fingerprint(gm), sp)
                gsurf = memo.get(key)
                if gsurf is None:
                    gsurf = memo[key] = MaskSurface(gm, sp)
            sd = pair_distances(pm, gm, sp, gt_surface=gsurf)
            row["hd95_mm"] = sd.hausdorff(percentile=95.0)
            row["assd_mm"] = sd.average_symmetric()
            row["nsd"] = sd.surface_dice(tolerance_mm=tol)
        else:
            row["nsd"] = 0.0
    lw = lesions_padded(pm, gm, sp, style=lesion_style, dilation=dil, min_mm3=min_mm3, with_hd=with_hd,
                        memo=memo, whole_hd95=row["hd95_mm"] if empty is None else None)
    row.update(
        lesion_tp=lw.tp, lesion_fp=lw.fp, lesion_fn=lw.fn, lesion_f1=lw.f1,
        lesion_dice=lw.dice, lesion_hd95_mm=lw.hd95_mm,
    )
    if lesion_style == "brats2023":
        row["lesion_ignored"] = lw.n_ignored
    if empty is not None:
        vals, note = empty_rule_values(rule, empty)
        row.update(vals)
        notes.append(note)
    lnote = _lesion_rule(rule, row, with_hd=with_hd)
    if lnote:
        notes.append(lnote)
    row["empty"] = empty
    row["notes"] = notes
    return row


def table_rows(table: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """Flatten a table to ``(kind, name, row)`` with kind ``"region"`` or ``"label"``."""
    out = [("region", name, row) for name, row in table.get("regions", {}).items()]
    out += [("label", name, row) for name, row in table.get("labels", {}).items()]
    return out
