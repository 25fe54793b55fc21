"""A live agreement session: one prediction against one reference label map while either is edited.

The agreement panel (and any script that edits label maps in place) drives an
:class:`AgreementSession`. It keeps snapshot buffers of the two label maps, so that a computation in
a worker thread never reads an array that is being painted, and finds after each edit the box in
which a map differs from its buffer; only that box is copied. The box is handed to the
:class:`~napari_medai.core.metrics.TableCache` and to the lesion list, so that only what the edit
can have changed is recomputed. The tables are those of a computation from scratch, bit for bit
(``tests/core/test_metrics_live.py``, ``tests/core/test_agreement_session.py``).

The cycle, on one thread or two that take turns::

    session = AgreementSession()
    session.note_edit("pred", box=box)     # after each edit event (box: where; note_edit() when unsure)
    snap = session.snapshot(pred, gt, convention="brats2021")   # copies the changed boxes
    if snap is not None:                   # None: nothing changed since the last snapshot
        live = session.recompute(snap)     # may run in a worker thread; snapshot() waits for it

Also here, because the panel and scripts share them: picking the prediction and the reference
among named label maps (:func:`pick_pair`) and guessing a label convention from the values a map
holds (:func:`guess_convention`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .error_map import lesion_list
from .errors import GeometryMismatchError, InvalidInputError
from .evaluate import CaseResult, evaluate_volumes
from .metrics import Convention, TableCache, changed_box, get_convention, merge_change
from .volume import Volume

__all__ = [
    "AgreementSession",
    "LayerInfo",
    "LiveResult",
    "Snapshot",
    "guess_convention",
    "label_values",
    "looks_like",
    "pick_pair",
]

#: A change note: ``None`` (unchanged), a box ``((start, stop), ...)`` or ``True`` (anything).
Change = Any
ROLES = ("pred", "gt")


@dataclass(frozen=True)
class Snapshot:
    """What one recomputation reads: the two maps (over the session's buffers) and the settings.

    ``full`` is True when the settings changed (or nothing was shown yet): a caller may then show
    that a new table is on its way; after a plain edit it keeps the old table until the new one.
    """

    pred: Volume
    gt: Volume
    convention: Convention
    tolerance_mm: float
    lesion_style: str
    changes: dict[str, Change]
    lesion_notes: dict[str, Change]
    full: bool


@dataclass(frozen=True)
class LiveResult:
    """The table of one recomputation and every lesion of both maps (see :func:`lesion_list`)."""

    result: CaseResult
    lesions: list[dict[str, Any]] = field(default_factory=list)


class AgreementSession:
    """Incremental agreement of a prediction with a reference that are edited in place.

    :meth:`snapshot` (on the thread that owns the arrays) and :meth:`recompute` (any thread) take
    turns: call :meth:`snapshot` again only after the previous :meth:`recompute` has returned.
    """

    def __init__(self) -> None:
        self.reset()

    # ------------------------------------------------------------------ what happened
    def reset(self) -> None:
        """Forget everything: another pair of maps is compared from now on."""
        self.cache = TableCache()
        self._buffers: dict[str, np.ndarray] = {}
        self._owners: dict[str, object] = {}
        self._stale: dict[str, Change] = {}
        self._verify_all = True
        self._settings_pending = True
        self._lesion_cache: dict = {}
        self._lesion_notes: dict[str, Change] = {"pred": True, "gt": True}
        self._running = False

    def note_edit(self, which: str | None = None, box: Sequence[Any] | None = None) -> None:
        """An edit of ``"pred"`` or ``"gt"`` (``None``: of either, not known which) since the last snapshot.

        Parameters
        ----------
        which
            The map that was edited; None when not known (then both are looked at).
        box
            Where the edit happened, one entry per array axis: a ``slice`` (step 1) or a
            ``(start, stop)`` pair of array indices. The next snapshot then compares the map with its
            buffer inside the (union of the noted) boxes only: the caller promises that nothing
            changed outside them. None: anywhere (the whole map is compared).
        """
        if which is not None and which not in ROLES:
            raise InvalidInputError(f"which must be 'pred', 'gt' or None, got {which!r}")
        note: Change = True if box is None else _as_box(box)
        for role in ROLES if which is None else (which,):
            self._stale[role] = merge_change(self._stale.get(role), note)

    def settings_changed(self) -> None:
        """The next snapshot is taken (and the table recomputed) even when no voxel changed."""
        self._verify_all = True
        self._settings_pending = True

    @property
    def pending(self) -> bool:
        """True when the next snapshot will certainly ask for a recomputation."""
        return self._settings_pending

    # ------------------------------------------------------------------ one update
    def snapshot(self, pred: Volume, gt: Volume, *, convention: str | Convention, tolerance_mm: float = 1.0,
                 lesion_style: str = "isles", pred_key: object = None, gt_key: object = None) -> Snapshot | None:
        """Bring the buffers up to date with ``pred`` and ``gt``; None when nothing needs recomputing.

        ``pred_key`` / ``gt_key`` name where the maps come from (e.g. a layer's id): another key
        means another map, whose buffer is copied afresh. Raises :class:`GeometryMismatchError` when
        the two maps are not on one voxel grid (the message lists the differences) and
        :class:`InvalidInputError` for a convention that cannot be read; the changes found are kept
        for the next snapshot.
        """
        if self._running:
            raise InvalidInputError("a recomputation is still running; take the next snapshot after it")
        for which, vol in (("pred", pred), ("gt", gt)):
            note = self._stale.get(which)
            if note is not None and note is not True and len(note) != np.ndim(vol.data):
                raise InvalidInputError(
                    f"the edit box noted for {which!r} has {len(note)} axes but the {which} map has "
                    f"{np.ndim(vol.data)}; pass one (start, stop) or slice per array axis to note_edit")
        verify = self._verify_all
        pbuf, pchange = self._sync("pred", pred.data, pred_key, verify)
        gbuf, gchange = self._sync("gt", gt.data, gt_key, verify)
        self._stale.clear()
        self._verify_all = False
        self.cache.note_change(pred=pchange, gt=gchange)
        for which, change in (("pred", pchange), ("gt", gchange)):
            self._lesion_notes[which] = merge_change(self._lesion_notes[which], change)
        if not self._settings_pending and pchange is None and gchange is None:
            return None  # e.g. a slice change, or an edit that wrote the values already there
        diffs = gt.grid_differences(pred)
        if diffs:
            raise GeometryMismatchError(
                "the prediction and the ground truth are on different voxel grids (prediction vs ground "
                "truth: " + "; ".join(diffs) + "); resample the prediction onto the ground-truth grid to compare"
            )
        conv = get_convention(convention)
        full = self._settings_pending
        self._settings_pending = False
        notes, self._lesion_notes = self._lesion_notes, {"pred": None, "gt": None}
        return Snapshot(pred=pred.with_data(pbuf), gt=gt.with_data(gbuf), convention=conv,
                        tolerance_mm=float(tolerance_mm), lesion_style=lesion_style,
                        changes={"pred": pchange, "gt": gchange}, lesion_notes=notes, full=full)

    def recompute(self, snap: Snapshot) -> LiveResult:
        """The table and lesion list of ``snap`` (equal to a computation from scratch); any thread."""
        self._running = True
        try:
            result = evaluate_volumes(snap.pred, snap.gt, convention=snap.convention,
                                      tolerance_mm=snap.tolerance_mm, lesion_style=snap.lesion_style,
                                      cache=self.cache, case=snap.gt.name)
            union = tuple(sorted({v for r in snap.convention.regions.values() for v in r}))
            lesions = lesion_list(snap.pred.data, snap.gt.data, spacing=snap.gt.spacing, labels=union,
                                  cache=self._lesion_cache, changed=snap.lesion_notes)
        except BaseException:
            # the caches did not take in these changes: start them afresh, and recompute all next time
            self._lesion_cache.clear()
            self._lesion_notes = {"pred": True, "gt": True}
            self._settings_pending = True
            raise
        finally:
            self._running = False
        return LiveResult(result, lesions)

    def _sync(self, key: str, data: np.ndarray, owner: object, verify: bool) -> tuple[np.ndarray, Change]:
        buf = self._buffers.get(key)
        if buf is None or self._owners.get(key) != owner or buf.shape != data.shape or buf.dtype != data.dtype:
            buf = np.array(data, copy=True, order="C")
            self._buffers[key] = buf
            self._owners[key] = owner
            return buf, True
        note = True if verify else self._stale.get(key)
        if note is None:
            return buf, None
        if note is True:
            box = changed_box(buf, data)
        else:
            # compare inside the noted box only (clipped to the array)
            win = tuple((max(lo, 0), min(hi, n)) for (lo, hi), n in zip(note, data.shape))
            if any(lo >= hi for lo, hi in win):
                return buf, None
            wsl = tuple(slice(lo, hi) for lo, hi in win)
            inner = changed_box(buf[wsl], np.asarray(data[wsl]))
            box = None if inner is None else tuple((a + lo, b + lo) for (a, b), (lo, _) in zip(inner, win))
        if box is not None:
            sl = tuple(slice(a, b) for a, b in box)
            buf[sl] = data[sl]
        return buf, box


def _as_box(box: Sequence[Any]) -> tuple[tuple[int, int], ...]:
    """``((start, stop), ...)`` of a box given as slices (step 1) or ``(start, stop)`` pairs."""
    out = []
    try:
        for entry in box:
            if isinstance(entry, slice):
                if entry.step not in (None, 1) or entry.start is None or entry.stop is None:
                    raise ValueError
                lo, hi = entry.start, entry.stop
            else:
                lo, hi = entry
            if int(lo) < 0 or int(hi) < 0:
                raise ValueError
            out.append((int(lo), int(hi)))
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"an edit box is one slice(start, stop) or (start, stop) pair of non-negative array indices per "
            f"axis, got {box!r}; pass box=None when the edit's place is not known") from None
    if not out:
        raise InvalidInputError("an edit box needs at least one axis; pass box=None when the place is not known")
    return tuple(out)


# ---------------------------------------------------------------------------------- picking
@dataclass(frozen=True)
class LayerInfo:
    """What picking needs to know of a label map: its name and the role its producer declared.

    ``role`` is ``"prediction"`` for a model's output, ``"ground_truth"`` for a reference, else None.
    """

    name: str
    role: str | None = None


_GT_WORDS = {"seg", "gt", "ground", "truth", "groundtruth", "label", "labels", "reference", "ref", "manual",
             "annotation", "otmulticlass"}
_MASK_WORDS = {"mask", "msk", "masks", "brainmask"}
_PRED_WORDS = {"pred", "prediction", "predicted", "segmentation", "output", "auto", "model"}


def _words(name: str) -> set[str]:
    return {w for w in re.split(r"[^a-z0-9]+", name.lower()) if w}


def looks_like(name: str) -> str:
    """``"gt"``, ``"mask"``, ``"pred"`` or ``""``: what a label map's name suggests it is.

    Whole words count (``case_seg``, ``ground truth``, ``OTMultiClass``), so a prediction named
    ``segmentation`` does not look like ground truth.
    """
    words = _words(name)
    if words & _PRED_WORDS:
        return "pred"
    if words & _GT_WORDS or "otmulticlass" in name.lower():
        return "gt"
    if words & _MASK_WORDS or name.lower().endswith(("mask", "msk")):
        return "mask"
    return ""


def pick_pair(layers: Sequence[LayerInfo]) -> tuple[str | None, str | None]:
    """Prediction and ground truth among label maps given oldest first; None where there is none.

    Prediction: the newest map declared ``role="prediction"``, else the newest whose name says
    prediction, else the newest whose name looks neither like ground truth nor like a mask.
    Ground truth: among the others, one declared ``role="ground_truth"``, else one named like ground
    truth, else one with a plain name, else a mask (oldest first within each kind).
    """
    newest_first = list(reversed(layers))
    kinds = {li.name: looks_like(li.name) for li in layers}
    pred = None
    for test in (lambda li: li.role == "prediction",
                 lambda li: li.role is None and kinds[li.name] == "pred",
                 lambda li: li.role is None and kinds[li.name] == ""):
        pred = next((li.name for li in newest_first if test(li)), None)
        if pred is not None:
            break
    others = [li for li in layers if li.name != pred and li.role != "prediction"]
    gt = None
    for test in (lambda li: li.role == "ground_truth",
                 lambda li: kinds[li.name] == "gt",
                 lambda li: kinds[li.name] == "",
                 lambda li: kinds[li.name] == "mask"):
        gt = next((li.name for li in others if test(li)), None)
        if gt is not None:
            break
    return pred, gt


def label_values(array: np.ndarray) -> tuple[int, ...]:
    """The distinct non-zero values of a label map (fast for small non-negative integer labels)."""
    a = np.asarray(array)
    if a.size == 0:
        return ()
    if a.dtype == bool:
        return (1,) if a.any() else ()
    if a.dtype.kind in "iu":
        lo, hi = int(a.min()), int(a.max())
        if lo >= 0 and hi < 65536:
            counts = np.bincount(a.ravel(), minlength=1)
            return tuple(int(v) for v in np.flatnonzero(counts) if v != 0)
    return tuple(int(v) for v in np.unique(a) if v != 0)


def guess_convention(values: Iterable[int]) -> str | None:
    """A label convention that allows ``values`` (name, or a custom ``'NAME=v;...'`` spec); None if none.

    ``{1}`` binary; 4 without 3 BraTS 2021 (``{1, 2, 4}``); 3 and 4 BraTS 2013 (``{1, 2, 3, 4}``); 3
    without 4 BraTS 2023 (``{1, 2, 3}``); ``{1, 2}`` alone is ambiguous and gets BraTS 2021 (all three
    share WT). Other values (5 and above) get one region per value.
    """
    v = {int(x) for x in values} - {0}
    if not v:
        return None
    if v == {1}:
        return "binary"
    if v <= {1, 2, 3, 4}:
        if 4 in v:
            return "brats2013" if 3 in v else "brats2021"
        return "brats2023" if 3 in v else "brats2021"
    if min(v) < 1 or len(v) > 20:
        return None
    return ";".join(f"label_{x}={x}" for x in sorted(v))
