"""The agreement table of one case: every metric for every region and label of a convention.

Work is shared: both label maps are cropped once to the bounding box of their foreground, each
distinct set of label values (a region or a label) is turned into masks once, and one surface /
distance computation feeds HD95, ASSD and NSD. A :class:`TableCache` passed to
:func:`compute_table` makes a recomputation after a small edit (a brush stroke) reuse every row
whose masks did not change; when the caller also tells the cache where the label maps changed
(:meth:`TableCache.note_change`), only that box of the arrays is read again and only the rows whose
masks differ inside it are recomputed. The values are always those of a computation from scratch.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import InvalidInputError
from ._arrays import (
    BoundedMemo,
    as_spacing,
    bounding_box,
    changed_box,
    crop_padded,
    fingerprint,
    merge_change,
    union_box,
)
from ._live import Components, LesionCounts, SurfaceState
from .conventions import BRATS_HD95_EMPTY_MM, Convention, get_convention
from .lesions import LESION_STYLES, lesion_style_params, lesions_padded, scores_from_counts
from .overlap import ConfusionCounts
from .surface import SurfaceDistances, check_tolerance
from .surface_grid import MaskSurface
from .surface_walk import nearest_surface_distances, ring_pad

__all__ = ["METRICS", "TableCache", "compute_table", "empty_rule_values"]

#: Metric keys of a table row, in display order. ``lesion_count_diff`` is predicted minus reference
#: lesions (connected components, as counted for the lesion-wise scores); ISLES 2022 ranks its
#: absolute value, as it does ``volume_diff_ml``'s.
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
    "lesion_count_diff",
)


@dataclass
class TableCache:
    """Rows of earlier :func:`compute_table` calls, keyed by a fingerprint of their masks.

    Pass the same instance to successive calls on edited versions of the same case (e.g. a
    label layer being painted): a row whose prediction and reference masks are unchanged is
    copied instead of recomputed, and for the rows that are recomputed the reference side
    (its surface, k-d tree and lesion labelling) is reused. For crops of up to
    ``_LIVE_MAX_VOXELS`` voxels each row also keeps the prediction's components and both
    surfaces with their distances (:mod:`~napari_medai.core.metrics._live`), so that an edit of
    the prediction is followed near the edit only; :meth:`note_change` spares reading the
    unchanged parts of the label maps. ``hits`` and ``misses`` count reused and computed rows.
    """

    max_rows: int = 256
    rows: dict[str, dict[str, Any]] = field(default_factory=dict)
    hits: int = 0
    misses: int = 0
    memo: BoundedMemo = field(default_factory=lambda: BoundedMemo(48))
    _notes: dict[str, Any] | None = field(default=None, init=False, repr=False, compare=False)
    _state: _TableState | None = field(default=None, init=False, repr=False, compare=False)

    def note_change(self, *, pred: Any = True, gt: Any = True) -> None:
        """Say where the label maps changed since the last :func:`compute_table` call with this cache.

        Each of ``pred`` and ``gt`` is ``None`` (unchanged), a box ``((start, stop), ...)`` of array
        indices (half-open, one pair per axis) outside which no voxel changed, or ``True``
        (anything may have changed, the default). Notes of several calls add up until the next
        :func:`compute_table` call, which uses and clears them; that call must get the same arrays
        (edited in place or copies) as the previous one. Without a note a call reads the whole
        arrays, which is always safe.
        """
        notes = self._notes if self._notes is not None else {"pred": None, "gt": None}
        notes["pred"] = merge_change(notes["pred"], pred)
        notes["gt"] = merge_change(notes["gt"], gt)
        self._notes = notes

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


Box = tuple[tuple[int, int], ...]


@dataclass
class _TableState:
    """What :func:`compute_table` keeps in a :class:`TableCache` for the next call.

    ``pc`` and ``gc`` are the label maps cropped to ``union(box_p, box_g)`` plus ``pad``;
    ``origin`` is the array index of their first voxel. ``box_p`` and ``box_g`` hold (at least)
    every non-zero voxel of each map; ``rows`` are the rows by label-value set.
    """

    key: tuple
    box_p: Box | None
    box_g: Box | None
    origin: tuple[int, ...]
    pad: tuple[int, ...]
    pc: np.ndarray
    gc: np.ndarray
    rows: dict[tuple[int, ...], dict[str, Any]]
    live: dict[tuple[int, ...], _RowLive] = field(default_factory=dict)


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
    # a few comparisons beat np.isin by far on label maps (which sorts or builds a table)
    if len(values) <= 8:
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
    tol = check_tolerance(tolerance_mm)
    if lesion_style not in LESION_STYLES:
        raise InvalidInputError(f"lesion_style must be one of {', '.join(LESION_STYLES)}, got {lesion_style!r}")
    dil, min_mm3, with_hd = lesion_style_params(lesion_style, None, None)
    total = int(p.size)
    voxel_ml = float(np.prod(sp)) / 1000.0

    pad = tuple(max(r, dil + 1) for r in ring_pad(sp))
    state_key = (p.shape, g.shape, p.dtype.str, g.dtype.str, sp, tol, lesion_style, include_labels,
                 conv.name, conv.empty_rule, tuple(conv.regions.items()), tuple(conv.labels.items()))
    notes = state = None
    if cache is not None:
        notes, cache._notes = cache._notes, None
        state, cache._state = cache._state, None  # kept again only when this call succeeds
    update = None
    if (state is not None and notes is not None and state.key == state_key and state.pad == pad
            and p.dtype.kind in "iu" and g.dtype.kind in "iu"):
        update = _update_crops(state, p, g, notes, conv)
    if update is not None:
        pc, gc, origin, box_p, box_g, changes = update
    else:
        box_p, box_g = bounding_box(p), bounding_box(g)
        box = union_box(box_p, box_g)
        changes = None
        if box is None:
            pc = np.zeros((1,) * p.ndim, dtype=np.int64)
            gc = pc.copy()
            origin = (0,) * p.ndim
        elif (state is not None and state.key[:5] == state_key[:5]
              and all(b0 - q >= o and b1 + q <= o + n
                      for (b0, b1), q, o, n in zip(box, pad, state.origin, state.pc.shape))):
            # the previous crop still holds the foreground with its margin: keep its place, so
            # that the live row states on it carry over
            frame = tuple((o, o + n) for o, n in zip(state.origin, state.pc.shape))
            pc = crop_padded(p, frame, (0,) * p.ndim)
            gc = crop_padded(g, frame, (0,) * p.ndim)
            origin = state.origin
        else:
            # with a cache the crop gets some slack, so that it (and the live row states on it)
            # can stay in place when an edit grows the foreground a little
            cpad = pad if cache is None else tuple(q + _SLACK for q in pad)
            pc = crop_padded(p, box, cpad)
            gc = crop_padded(g, box, cpad)
            origin = tuple(b0 - q for (b0, _), q in zip(box, cpad))
        pc = _integer_labels(pc, conv, what="prediction")
        gc = _integer_labels(gc, conv, what="reference")

    params = (sp, tol, lesion_style, conv.empty_rule, total, p.ndim)
    computed: dict[tuple[int, ...], dict[str, Any]] = {}
    # previous rows serve only under the same parameters; live row states (components and
    # surface distances of the masks) while the arrays, the spacing and the crop are the same
    same_key = state is not None and state.key == state_key
    live: dict[tuple[int, ...], _RowLive] | None = None
    if cache is not None and pc.dtype.kind in "iu" and 0 < pc.size <= _LIVE_MAX_VOXELS:
        live = {}
        if (state is not None and state.key[:5] == state_key[:5] and state.origin == origin
                and state.pc.shape == pc.shape):
            live = dict(state.live)

    def row_for(values: tuple[int, ...]) -> dict[str, Any]:
        if values in computed:
            return copy.deepcopy(computed[values])
        if changes is not None and values in state.rows and not _row_changed(changes, values):
            # no voxel of either mask changed: the previous row is the row of these masks
            cache.hits += 1
            computed[values] = state.rows[values]
            return copy.deepcopy(state.rows[values])
        key = None
        row = None
        edit: tuple[bool, Box | None, bool] | None = None
        held = live.get(values) if live is not None and changes is not None and "gt" not in changes else None
        if held is not None and held.gm.shape == pc.shape:
            # only the prediction changed, inside the noted windows: the row's masks are the held
            # ones with those windows made again (no pass over the whole crop)
            box = held.comps.edit([(sl, _mask(new, values)) for sl, _old, new in changes.get("pred", ())])
            pm = held.comps.mask  # edited in place: its components already follow the edit
            gm = held.gm
            edit = (True, box, True)
            if box is None and same_key and values in state.rows:
                cache.hits += 1
                computed[values] = state.rows[values]
                return copy.deepcopy(state.rows[values])
            cache.misses += 1
        elif cache is not None and live is not None and values in live:
            pm = _mask(pc, values)
            gm = _mask(gc, values)
            # the live state of this row holds the masks of the previous row: comparing them is
            # cheaper than hashing, and an edit is followed from there
            held = live[values]
            same_gm = held.gm.shape == gm.shape and np.array_equal(held.gm, gm)
            edit = (same_gm, changed_box(held.comps.mask, pm) if same_gm else None, False)
            if same_gm and edit[1] is None and same_key and values in state.rows:
                cache.hits += 1
                computed[values] = state.rows[values]
                return copy.deepcopy(state.rows[values])
            cache.misses += 1
        else:
            pm = _mask(pc, values)
            gm = _mask(gc, values)
        if cache is not None and key is None and edit is None and (live is None or values not in live):
            key = fingerprint(params, pm, gm)
            row = cache.get(key)
        if row is None:
            rl = None
            if live is not None:
                rl = live[values] = _live_row(live.get(values), pm, gm, edit)
            row = _structure_row(pm, gm, sp, tol=tol, total=total, voxel_ml=voxel_ml,
                                 rule=conv.empty_rule, lesion_style=lesion_style, dil=dil,
                                 min_mm3=min_mm3, with_hd=with_hd,
                                 memo=cache.memo if cache is not None else None, live=rl)
            if cache is not None and key is not None:
                cache.put(key, row)
        row["label_values"] = list(values)
        computed[values] = row
        return copy.deepcopy(row)

    regions = {name: row_for(vals) for name, vals in conv.regions.items()}
    labels = {}
    if include_labels:
        labels = {name: row_for((value,)) for value, name in conv.labels.items()}
    if cache is not None and pc.dtype.kind in "iu":
        cache._state = _TableState(key=state_key, box_p=box_p, box_g=box_g, origin=origin, pad=pad,
                                   pc=pc, gc=gc, rows=computed, live=live or {})
    return {"regions": regions, "labels": labels}


_Change = tuple[tuple[slice, ...], np.ndarray, np.ndarray]
#: Extra zero voxels around the crop kept between calls (room for edits to grow the foreground).
_SLACK = 8


def _row_changed(changes: dict[str, list[_Change]], values: tuple[int, ...]) -> bool:
    """Whether the mask of ``values`` differs between the old and new windows of either map."""
    for windows in changes.values():
        for _, old, new in windows:
            if not np.array_equal(_mask(old, values), _mask(new, values)):
                return True
    return False


def _update_crops(
    state: _TableState, p: np.ndarray, g: np.ndarray, notes: dict[str, Any], conv: Convention
) -> tuple[np.ndarray, np.ndarray, tuple[int, ...], Box | None, Box | None, dict[str, list[_Change]]] | None:
    """The crops of the edited label maps from the previous ones and the boxes of the notes.

    Only the noted boxes of ``p`` and ``g`` are read (and checked against the convention).
    Returns the crops, their origin, the foreground boxes (supersets) and, per map, the changed
    windows ``(slices into the crops, old values, new values)``; None when the edit cannot be
    applied (recompute from scratch).
    """
    nd = p.ndim
    boxes = {"pred": state.box_p, "gt": state.box_g}
    reads: dict[str, tuple[tuple[tuple[int, int], ...], np.ndarray]] = {}
    for which, arr, what in (("pred", p, "prediction"), ("gt", g, "reference")):
        note = notes[which]
        if note is None:
            continue
        if note is True or len(note) != nd:
            return None
        win_box = tuple((max(a, 0), min(b, n)) for (a, b), n in zip(note, arr.shape))
        if any(a >= b for a, b in win_box):
            continue
        win = np.asarray(arr[tuple(slice(a, b) for a, b in win_box)])
        _integer_labels(win, conv, what=what)
        inner = bounding_box(win)
        if inner is not None:
            shifted = tuple((a + w0, b + w0) for (a, b), (w0, _) in zip(inner, win_box))
            boxes[which] = union_box(boxes[which], shifted)
        reads[which] = (win_box, win)
    box = union_box(boxes["pred"], boxes["gt"])
    if box is None:
        return None
    # the old crop still serves when the new foreground keeps the margin ``pad`` inside it
    same = all(b0 - q >= o and b1 + q <= o + n
               for (b0, b1), q, o, n in zip(box, state.pad, state.origin, state.pc.shape))
    if same:
        pc, gc, origin = state.pc, state.gc, state.origin
    else:
        cpad = tuple(q + _SLACK for q in state.pad)
        pc = crop_padded(p, box, cpad)
        gc = crop_padded(g, box, cpad)
        origin = tuple(b0 - q for (b0, _), q in zip(box, cpad))
    changes: dict[str, list[_Change]] = {}
    for which, (win_box, win) in reads.items():
        crop, old_crop = (pc, state.pc) if which == "pred" else (gc, state.gc)
        # the part of the window inside the new crop (outside it both old and new values are 0)
        part = tuple((max(a, o), min(b, o + n)) for (a, b), o, n in zip(win_box, origin, crop.shape))
        if any(a >= b for a, b in part):
            continue
        new = win[tuple(slice(a - w0, b - w0) for (a, b), (w0, _) in zip(part, win_box))]
        old = _read_window(old_crop, state.origin, part)
        sl = tuple(slice(a - o, b - o) for (a, b), o in zip(part, origin))
        if same:
            crop[sl] = new
        changes[which] = [(sl, old, np.array(new, dtype=crop.dtype))]
    return pc, gc, origin, boxes["pred"], boxes["gt"], changes


def _read_window(crop: np.ndarray, origin: tuple[int, ...], box: Box) -> np.ndarray:
    """Values of ``crop`` (whose first voxel is the array index ``origin``) in the array box
    ``box``, zero where the box leaves the crop."""
    out = np.zeros(tuple(b - a for a, b in box), dtype=crop.dtype)
    src, dst = [], []
    for (a, b), o, n in zip(box, origin, crop.shape):
        lo, hi = max(a, o), min(b, o + n)
        if lo >= hi:
            return out
        src.append(slice(lo - o, hi - o))
        dst.append(slice(lo - a, hi - a))
    out[tuple(dst)] = crop[tuple(src)]
    return out


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
    live: _RowLive | None = None,
) -> dict[str, Any]:
    """One row from the two masks (crops of the label maps with a zero margin of the ring pad).

    With ``live`` (the masks are then on the frame of that state) the surface distances and the
    prediction's components come from the state, brought up to date by :func:`_live_row`.
    """
    les = None
    if live is not None:
        # the lesion counts follow the components near the edit; they also hold the voxel counts
        les = live.lesions
        if les is None or les.dilation != dil:
            les = live.lesions = LesionCounts(live.comps, gm, dil)
        else:
            les.follow(live.comps)
        n_p, n_g, tp = les.n_pred_voxels, les.n_ref, les.n_overlap
    else:
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
    if live is not None:
        if empty is None:
            if live.surf is None:
                live.surf = SurfaceState(pm, gm, sp, reference=_reference_surface(gm, sp, memo))
            _fill_distances(row, live.surf.distances(), tol)
        else:
            live.surf = None
            if n_p or n_g:
                row["nsd"] = 0.0
    dist = None
    if live is not None:
        if live.surf is not None and with_hd:
            st = live.surf
            dist = (st.pidx, st.d_pg, st.ref.idx, st.d_gp, st.nn_gp)
    elif n_p or n_g:
        box = union_box(bounding_box(pm), bounding_box(gm))
        pad = tuple(max(r, dil + 1) for r in ring_pad(sp))
        pm = crop_padded(pm, box, pad)
        gm = crop_padded(gm, box, pad)
        if empty is None:
            gs = _reference_surface(gm, sp, memo) or MaskSurface(gm, sp)
            ps = MaskSurface(pm, sp)
            d_pg = nearest_surface_distances(ps.idx, gs)
            d_gp, nn_gp = nearest_surface_distances(gs.idx, ps, want_nn=True)
            _fill_distances(row, SurfaceDistances(d_pg, d_gp), tol)
            dist = (ps.idx, d_pg, gs.idx, d_gp, nn_gp) if with_hd else None
        else:
            row["nsd"] = 0.0
    whole = row["hd95_mm"] if empty is None else None
    if les is not None:
        lw = scores_from_counts(les, live.comps.labels, live.comps.n, lesion_style, sp, min_mm3=min_mm3,
                                with_hd=with_hd, whole_hd95=whole, distances=dist)
    else:
        # the masks are crops with at least ``dil + 1`` zero voxels around their foreground
        lw = lesions_padded(pm, gm, sp, style=lesion_style, dilation=dil, min_mm3=min_mm3, with_hd=with_hd,
                            memo=memo, whole_hd95=whole, cropped=True, distances=dist)
    row.update(
        lesion_tp=lw.tp, lesion_fp=lw.fp, lesion_fn=lw.fn, lesion_f1=lw.f1,
        lesion_dice=lw.dice, lesion_hd95_mm=lw.hd95_mm, lesion_count_diff=lw.n_pred - lw.n_gt,
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


def _reference_surface(gm: np.ndarray, sp: tuple[float, ...], memo: BoundedMemo | None) -> MaskSurface | None:
    """The reference mask's surface, kept in ``memo`` (with its k-d tree) while it is unchanged."""
    if memo is None:
        return None
    key = ("surface", fingerprint(gm), sp)
    gsurf = memo.get(key)
    if gsurf is None:
        gsurf = memo[key] = MaskSurface(gm, sp)
    return gsurf


def _fill_distances(row: dict[str, Any], sd: SurfaceDistances, tol: float) -> None:
    row["hd95_mm"] = sd.hausdorff(percentile=95.0)
    row["assd_mm"] = sd.average_symmetric()
    row["nsd"] = sd.surface_dice(tolerance_mm=tol)


#: Largest crop (voxels) for which rows keep live state between calls (masks, labels, surfaces): about
#: 7 bytes per voxel and row, e.g. some 100 MB per row for a CT organ crop of 300 x 290 x 150.
_LIVE_MAX_VOXELS = 1 << 24


@dataclass
class _RowLive:
    """What a row keeps for the next call: the prediction's components (and its mask), the
    reference mask, the surface distances (None while a mask is empty) and the counts behind the
    lesion-wise scores."""

    gm: np.ndarray
    comps: Components
    surf: SurfaceState | None = None
    lesions: LesionCounts | None = None


def _live_row(
    prev: _RowLive | None, pm: np.ndarray, gm: np.ndarray, edit: tuple[bool, Box | None, bool] | None = None
) -> _RowLive:
    """``prev`` brought up to the masks ``pm``/``gm`` (same frame), or a new state.

    Only an edit of the prediction is followed; a changed reference starts a new state. ``edit``
    is what comparing with ``prev`` gave, when known: (reference unchanged, box of the
    prediction's changes, whether ``prev.comps`` already follows them).
    """
    if edit is None and prev is not None:
        same_gm = prev.gm.shape == gm.shape and np.array_equal(prev.gm, gm)
        edit = (same_gm, changed_box(prev.comps.mask, pm) if same_gm else None, False)
    if prev is None or edit is None or not edit[0]:
        return _RowLive(gm=gm, comps=Components(pm, compact=False))
    box = edit[1]
    if box is not None:
        if not edit[2]:
            prev.comps.update(pm, box)
        if prev.surf is not None:
            prev.surf.update(pm, box)
            if prev.surf.empty:
                prev.surf = None
    return prev


def table_rows(table: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> list[tuple[str, str, Mapping[str, Any]]]:
    """Flatten a table to ``(kind, name, row)`` with kind ``"region"`` or ``"label"``."""
    out = [("region", name, row) for name, row in table.get("regions", {}).items()]
    out += [("label", name, row) for name, row in table.get("labels", {}).items()]
    return out
