"""Voxel-wise agreement map: true positive / false positive / false negative per region."""

from __future__ import annotations

import numpy as np

from .errors import InvalidInputError

#: Codes of the error map (0 = true negative / background).
TP, FP, FN = 1, 2, 3
ERROR_MAP_NAMES = {TP: "true positive", FP: "false positive", FN: "false negative"}
ERROR_MAP_COLOURS = {TP: (0.2, 0.8, 0.2, 1.0), FP: (1.0, 0.25, 0.25, 1.0), FN: (0.25, 0.5, 1.0, 1.0)}


def error_map(pred: np.ndarray, gt: np.ndarray, *, labels: tuple[int, ...]) -> np.ndarray:
    """Error map of the region made of ``labels`` (TP=1, FP=2, FN=3, else 0).

    Parameters
    ----------
    pred, gt
        Label maps of the same shape.
    labels
        Label values that make up the region (e.g. ``(1, 2, 4)`` for BraTS 2021 whole tumour).
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise InvalidInputError(
            f"prediction shape {pred.shape} differs from ground truth {gt.shape}; resample first"
        )
    if not labels:
        raise InvalidInputError("a region needs at least one label value")
    p = np.isin(pred, labels)
    g = np.isin(gt, labels)
    out = np.zeros(pred.shape, dtype=np.uint8)
    out[p & g] = TP
    out[p & ~g] = FP
    out[~p & g] = FN
    return out


def error_counts(emap: np.ndarray) -> dict[str, int]:
    """Voxel counts per error class."""
    counts = np.bincount(np.asarray(emap, dtype=np.uint8).ravel(), minlength=4)
    return {"tp": int(counts[TP]), "fp": int(counts[FP]), "fn": int(counts[FN])}


def _components(
    mask: np.ndarray, cache: dict | None, role: str = "", window: tuple | None = None
) -> tuple[np.ndarray, int, np.ndarray, np.ndarray, np.ndarray]:
    """26-connected components of ``mask``: labels, count, sizes, centroids, and the order.

    Component ``order[i]`` (a value of the labels) is the ``i``-th in the numbering of
    :func:`scipy.ndimage.label` (order of first voxel); sizes and centroids are in that order.
    With a ``cache`` the components of each ``role`` (``"gt"``, ``"pred"``) and their statistics
    are kept, and brought up to date after an edit near the edit only
    (:class:`~napari_medai.core.metrics._live.Components`); ``window`` is then the box outside
    which ``mask`` did not change since the last call (None: find it by comparing).
    """
    from scipy import ndimage as ndi

    from .metrics._live import Components

    key = ("components", role)
    held = cache.get(key) if cache is not None else None
    if held is not None and held.mask.shape == mask.shape:
        comps = held
        comps.update(mask, window)
    elif cache is not None:
        comps = cache[key] = Components(mask, stats=True)
    else:
        lab, n = ndi.label(mask, structure=np.ones((3,) * mask.ndim, dtype=bool))
        fg = np.flatnonzero(mask)
        which = lab.ravel()[fg]
        sizes = np.bincount(which, minlength=n + 1)
        sums = np.stack([np.bincount(which, weights=c, minlength=n + 1)
                         for c in np.unravel_index(fg, mask.shape)], axis=1)
        order = np.arange(1, n + 1)
        return lab, n, sizes[order], sums[order] / np.maximum(sizes[order, None], 1), order
    # the kept labels are numbered in no particular order: sort them by their first voxel
    order = np.argsort(comps.first[1:], kind="stable") + 1
    sizes = comps.sizes[order]
    return comps.labels, comps.n, sizes, comps.sums[order] / np.maximum(sizes[:, None], 1), order


def lesion_list(
    pred: np.ndarray,
    gt: np.ndarray,
    *,
    spacing: tuple[float, ...],
    labels: tuple[int, ...] | None = None,
    cache: dict | None = None,
    changed: dict[str, object] | None = None,
) -> list[dict[str, object]]:
    """Every connected lesion of both masks with its status, for a clickable lesion table.

    Parameters
    ----------
    pred, gt
        Masks, or label maps when ``labels`` is given.
    spacing
        Voxel size in mm per array axis.
    labels
        Label values that make up the lesion mask (default: any non-zero value).
    cache
        Optional dict reused between calls on edited versions of the same pair: components of an
        unchanged mask (e.g. the ground truth while the prediction is painted) are not
        recomputed, and those of an edited one are updated near the edit only (same result).
    changed
        With ``cache``: ``{"pred": ..., "gt": ...}``, each ``None`` (unchanged since the previous
        call with this cache), a box ``((start, stop), ...)`` of array indices outside which
        nothing changed, or ``True`` (anything may have changed). Then only those boxes of the
        arrays are read again. Without it the whole arrays are read (always safe).

    Lesions are 26-connected (8 in 2-D) components. A reference lesion overlapping any predicted
    voxel is ``TP`` (ISLES 2022 matching), else ``FN``; a predicted lesion overlapping no
    reference voxel is ``FP``. Centroids are array indices (float), volumes in ml.
    """
    pred = np.asarray(pred)
    gt = np.asarray(gt)
    if pred.shape != gt.shape:
        raise InvalidInputError(f"masks differ in shape {pred.shape} vs {gt.shape}; resample first")
    out: list[dict[str, object]] = []
    # only the bounding box of all foreground matters (a brain volume is mostly background)
    box, p, g, windows = _lesion_masks(pred, gt, labels, cache, changed)
    if box is None:
        return out
    offset = np.asarray([a for a, _ in box], dtype=float)
    voxel_ml = float(np.prod(spacing)) / 1000.0
    befores = cache.pop("masks_before", None) if cache is not None else None
    for source, mask, other, hit, miss in (("gt", g, p, "TP", "FN"), ("pred", p, g, None, "FP")):
        lab, n, sizes, centroids, order = _components(mask, cache, source, windows.get(source))
        before = None if befores is None else befores["pred" if source == "gt" else "gt"]
        counts = _overlap_counts(lab, n, other, cache, source, before)
        if n == 0:
            continue
        overlap = counts[order]
        for i in range(n):
            found = overlap[i] > 0
            if source == "pred" and found:
                continue  # a predicted lesion touching the reference is listed as that TP lesion
            out.append({
                "source": source,
                "status": hit if found else miss,
                "voxels": int(sizes[i]),
                "volume_ml": float(sizes[i]) * voxel_ml,
                "centroid": tuple(float(c) for c in centroids[i] + offset),
            })
    order = {"FN": 0, "FP": 1, "TP": 2}
    out.sort(key=lambda d: (order[str(d["status"])], -float(d["volume_ml"])))
    for i, d in enumerate(out, 1):
        d["id"] = i
    return out


def _lesion_masks(
    pred: np.ndarray, gt: np.ndarray, labels: tuple[int, ...] | None, cache: dict | None,
    changed: dict[str, object] | None,
) -> tuple[tuple | None, np.ndarray | None, np.ndarray | None, dict[str, tuple | None]]:
    """A box holding the foreground of both maps (with a cache: with some slack, and kept while it
    still holds it), the two lesion masks cropped to it, and per mask the box (in the crop) outside
    which it equals the previous call's (None: compare; only with a cache).

    With ``changed`` and the previous call's state in ``cache``, only the changed boxes and the
    previous foreground box are read.
    """
    from .metrics._arrays import bounding_box, union_box

    def masks_of(arr: np.ndarray) -> np.ndarray:
        if labels is None:
            return arr != 0
        if len(labels) == 0 or len(labels) > 8:
            return np.isin(arr, labels)
        m = arr == labels[0]  # a few comparisons beat np.isin by far
        for v in labels[1:]:
            m |= arr == v
        return m

    state = cache.pop("masks", None) if cache is not None else None
    key = (pred.shape, gt.shape, labels)
    if (state is None or changed is None or state["key"] != key
            or any(changed.get(w) is True for w in ("pred", "gt"))):
        state = None  # no usable note: read everything
        boxes = {"pred": bounding_box(pred), "gt": bounding_box(gt)}
    else:
        boxes = {w: _edited_box(arr, state[w + "_box"], changed.get(w)) for w, arr in (("pred", pred), ("gt", gt))}
    box = union_box(boxes["pred"], boxes["gt"])
    if box is None:
        return None, None, None, {}
    if state is not None and all(c0 <= a and b <= c1 for (a, b), (c0, c1) in zip(box, state["crop"])):
        box = state["crop"]  # the crop still holds the foreground: keep it (and the components on it)
    elif cache is not None:
        # a little slack, so that a stroke at the foreground's edge does not change the crop
        box = tuple((max(a - _CROP_SLACK, 0), min(b + _CROP_SLACK, n)) for (a, b), n in zip(box, pred.shape))
    sl = tuple(slice(a, b) for a, b in box)
    windows: dict[str, tuple | None] = {"pred": None, "gt": None}
    befores: dict[str, tuple] | None = None
    if state is not None and changed is not None and state["crop"] == box:
        masks = {}
        befores = {}
        for which, arr in (("pred", pred), ("gt", gt)):
            m = state[which]
            b = changed.get(which)
            win = None
            if b is not None:
                win = tuple((max(int(lo), a), min(int(hi), c)) for (lo, hi), (a, c) in zip(b, box))
                if any(lo >= hi for lo, hi in win):
                    win = None
                else:
                    local = tuple((lo - a, hi - a) for (lo, hi), (a, _) in zip(win, box))
                    lsl = tuple(slice(lo, hi) for lo, hi in local)
                    befores[which] = (local, m[lsl].copy())
                    m[lsl] = masks_of(arr[tuple(slice(lo, hi) for lo, hi in win)])
                    win = local
            befores.setdefault(which, ())
            # the mask equals the previous one outside ``win`` (an empty box when unchanged)
            windows[which] = win if win is not None else tuple((0, 0) for _ in box)
            masks[which] = m
        p, g = masks["pred"], masks["gt"]
    else:
        p, g = masks_of(pred[sl]), masks_of(gt[sl])
    if cache is not None:
        cache["masks_before"] = befores
        cache["masks"] = {"key": key, "pred_box": boxes["pred"], "gt_box": boxes["gt"], "crop": box,
                          "pred": p, "gt": g}
    return box, p, g, windows


def _overlap_counts(
    lab: np.ndarray, n: int, other: np.ndarray, cache: dict | None, role: str, before: tuple | None
) -> np.ndarray:
    """Per label ``0..n`` of ``lab``: its voxels where ``other`` is set.

    With a ``cache`` the counts are kept and brought up to date near the edit only: ``before`` is
    ``(box, the other mask's previous values there)`` for an edit of ``other`` since the last call,
    ``()`` when it did not change, None when not known (then everything is counted). The labels'
    own change is read from their :class:`~napari_medai.core.metrics._live.Components`.
    """
    comps = cache.get(("components", role)) if cache is not None else None
    held = cache.get(("overlap", role)) if cache is not None else None
    counts = None
    if comps is not None and held is not None and before is not None and held["comps"] is comps:
        counts = _follow_counts(held, comps, lab, n, other, before)
    if counts is None:
        counts = np.bincount(lab[other].ravel(), minlength=n + 1)
    if comps is not None and comps.labels is lab:
        cache[("overlap", role)] = {"comps": comps, "version": comps.version, "counts": counts}  # type: ignore[index]
    return counts


def _follow_counts(held: dict, comps: object, lab: np.ndarray, n: int, other: np.ndarray,
                   before: tuple) -> np.ndarray | None:
    """The counts of :func:`_overlap_counts` from the previous ones; None when they cannot be followed."""
    from .metrics._arrays import union_box

    version = getattr(comps, "version", None)
    last = getattr(comps, "last", None)
    if version == held["version"]:
        last = None  # the labels did not change
    elif version != held["version"] + 1 or last is None:
        return None  # labelled again (or several updates): count everything
    counts = held["counts"]
    region = None
    if last is not None:
        near, _, old_lab, lut = last
        region = near
        if lut is not None:
            moved = np.zeros(max(n + 1, int(lut.max()) + 1), dtype=np.int64)
            np.add.at(moved, lut, counts[: lut.size])
            counts = moved
    wo = None
    if before:
        wo, old_other = before
        if any(lo >= hi for lo, hi in wo):
            wo = None
        else:
            region = union_box(region, wo)
    if region is None:
        return counts if counts.size == n + 1 else None
    rs = tuple(slice(a, b) for a, b in region)
    new_lab = lab[rs]
    new_other = other[rs]
    old_lab_r = new_lab.astype(np.int64)  # outside the labels' window: the old labels, renumbered
    if last is not None:
        inner = tuple(slice(a - r0, b - r0) for (a, b), (r0, _) in zip(near, region))
        old_win = old_lab.astype(np.int64)
        old_lab_r[inner] = old_win if lut is None else lut[old_win]
    old_other_r = new_other.copy()
    if wo is not None:
        old_other_r[tuple(slice(a - r0, b - r0) for (a, b), (r0, _) in zip(wo, region))] = old_other
    size = max(n + 1, counts.size)
    out = np.zeros(size, dtype=np.int64)
    out[: counts.size] += counts
    out -= np.bincount(old_lab_r[old_other_r], minlength=size)[:size]
    out += np.bincount(new_lab[new_other].astype(np.int64), minlength=size)[:size]
    if out.size > n + 1:
        if out[n + 1:].any():
            return None  # not expected: count everything
        out = out[: n + 1]
    return out


#: Extra voxels around the lesion list's crop when a cache keeps it between calls.
_CROP_SLACK = 8


def _edited_box(arr: np.ndarray, old: tuple | None, change: object) -> tuple | None:
    """Exact box of the non-zero voxels of ``arr``, whose box was ``old`` before an edit inside
    ``change`` (None: no edit); reads only what the edit can have moved."""
    from .metrics._arrays import bounding_box, union_box

    if change is None:
        return old
    b = tuple((max(int(lo), 0), min(int(hi), n)) for (lo, hi), n in zip(change, arr.shape))  # type: ignore[union-attr]
    if any(lo >= hi for lo, hi in b):
        return old
    if old is not None and all(o0 < b0 and b1 < o1 for (b0, b1), (o0, o1) in zip(b, old)):
        return old  # every face of the box keeps its voxels and nothing new lies outside
    region = union_box(old, b)
    inner = bounding_box(arr[tuple(slice(lo, hi) for lo, hi in region)])
    if inner is None:
        return None
    return tuple((lo + r0, hi + r0) for (lo, hi), (r0, _) in zip(inner, region))
