"""Assign candidate lesions to arteries: automatically (heuristic or model) or by a reader.

Codes: 0 unassigned (bone, outside the chest, not read), 1 LM, 2 LAD, 3 LCX, 4 RCA, 5 non-coronary
calcium (aorta, aortic root and valve, other mediastinal calcium).

The automatic step works on whole 3-D candidate groups (candidates touching across slices), so a
plaque gets one artery. Without a model it uses the anatomical rules below on the landmarks of
:func:`~napari_medai.core.tasks.cac.anatomy.analyse_anatomy`; every rule is a plain geometric test
and its limits are those of the landmarks (see that module):

1. a group of more than :data:`BONE_ML` (spine, ribs, sternum), or with half its voxels outside the
   body, is left unassigned (0);
2. a group with at least half its voxels in the **heart region** or the mediastinum, in a slice where
   the **aortic root** was followed, is root or valve calcium (5) when it lies within the root radius
   + 2 mm of the root centre, and **LM** when it lies within 15 mm of the root wall on the patient-left
   side of the root centre; further left, up to 35 mm from the root wall, it is proximal **LAD** when
   its direction from the root centre is more anterior than -45 degrees and **LCX** otherwise;
   within 15 mm on the right it is coronary (rule 4);
3. any other group with at least half its voxels in the **heart region** is coronary;
4. other coronary groups get a territory from their direction, in the axial plane, from the heart
   centre (centroid of the ventricles; angle 0 = patient left, -90 = anterior, 90 = posterior):
   **LAD** from -110 to -50 degrees (anterior interventricular groove), **LCX** from -50 to +100
   (left atrioventricular groove, lateral and posterior), **RCA** elsewhere (right atrioventricular
   groove and the inferior surface up to the crux, i.e. right dominance is assumed). Posterior-right
   directions (beyond +100 degrees) count as RCA only below the heart centre (the inferior wall); above
   it they are the atria and pulmonary veins, and the group is non-coronary;
5. groups in the descending-aorta tube or, with half their voxels, in the mediastinum are
   non-coronary (5); anything else is left unassigned (0).

Limits, stated plainly: the territory sectors are fixed angles, so a heart that is rotated, an
unusually dominant left circumflex, a long left main, and calcium in the mitral annulus (which lies
in the left atrioventricular groove, like the LCX) are assigned wrongly; calcium touching both the
aortic root and a coronary ostium gets one label. A reader is expected to check and correct with
:func:`reassign`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ...volume import Volume
from ._common import CODES, NAMES, artery_code, check_ct
from .anatomy import CardiacAnatomy, analyse_anatomy
from .candidates import candidate_array

#: Candidate groups larger than this (ml) are bone.
BONE_ML = 2.0
#: Territory sectors (degrees; 0 = patient left, -90 = anterior, 90 = posterior).
LAD_SECTOR = (-110.0, -50.0)
LCX_SECTOR = (-50.0, 100.0)
#: Root calcium: within the root radius + this margin (mm) of its centre.
ROOT_WALL_MM = 2.0
#: Left main: within the root radius + this distance (mm), patient-left of the root centre.
LM_REACH_MM = 15.0
#: Proximal LAD / LCX: further left of the root, up to this distance (mm) from its wall; LAD when the
#: direction from the root centre is more anterior than this angle (degrees), else LCX.
PROXIMAL_REACH_MM = 35.0
PROXIMAL_LAD_BELOW = -45.0

METHOD_HEURISTIC = "anatomical heuristic (no trained model)"


def _group_stats(labels: np.ndarray, group_of: np.ndarray) -> dict[str, Any]:
    idx = np.nonzero(labels)
    groups = group_of[labels[idx]]
    ng = int(group_of.max()) if group_of.size else 0
    counts = np.bincount(groups, minlength=ng + 1)
    cents = [np.bincount(groups, weights=c.astype(np.float64), minlength=ng + 1) / np.maximum(counts, 1) for c in idx]
    return {"idx": idx, "groups": groups, "n": ng, "counts": counts, "centroid": np.stack(cents, axis=1)}


def _fraction(mask: np.ndarray, an: CardiacAnatomy, st: dict[str, Any]) -> np.ndarray:
    k, r, c = st["idx"]
    inside = mask[k, np.minimum(r // an.factor, mask.shape[1] - 1), np.minimum(c // an.factor, mask.shape[2] - 1)]
    hits = np.bincount(st["groups"], weights=inside.astype(np.float64), minlength=st["n"] + 1)
    return hits / np.maximum(st["counts"], 1)


def territory_angle(ct: Volume, point: Sequence[float], centre: Sequence[float]) -> float:
    """In-plane direction (degrees) from ``centre`` to ``point`` (array indices): 0 = patient left,
    -90 = anterior, 90 = posterior, +-180 = patient right."""
    w = ct.index_to_world(np.array([point, centre], dtype=float))
    v = w[0] - w[1]
    return math.degrees(math.atan2(v[1], v[2]))


def sector(angle: float) -> str:
    """Artery of a direction from the heart centre (see module docstring, rule 4)."""
    if LAD_SECTOR[0] <= angle < LAD_SECTOR[1]:
        return "LAD"
    if LCX_SECTOR[0] <= angle < LCX_SECTOR[1]:
        return "LCX"
    return "RCA"


def auto_assign(
    ct: Volume,
    candidates: Volume | tuple,
    *,
    model: Callable[[Volume, Volume], Volume | np.ndarray] | None = None,
    anatomy: CardiacAnatomy | None = None,
) -> Volume:
    """Assign every candidate (as whole 3-D groups) to an artery.

    Parameters
    ----------
    ct
        The axial CT in HU the candidates come from.
    candidates
        The label Volume of :func:`~napari_medai.core.tasks.cac.find_candidates` (or its pair).
    model
        Optional callable ``model(ct, candidates) -> territory map`` (a Volume or array on the CT grid
        holding codes 0-5, e.g. from a coronary-territory segmentation network). Each candidate group
        then takes the most frequent non-zero code among its voxels (0 when there is none). Without a
        model the anatomical heuristic of the module docstring runs.
    anatomy
        Landmarks already computed by :func:`analyse_anatomy` (saves their time when re-running).

    Returns
    -------
    Volume
        ``uint8`` assignment label map on the CT grid (codes on candidate voxels, 0 elsewhere);
        ``meta['method']`` names how it was made and ``meta['groups']`` records, per candidate group,
        its code and the reason.
    """
    check_ct(ct, warn=False)
    labels, group_of = candidate_array(candidates, ct=ct)
    st = _group_stats(labels, group_of)
    ng = st["n"]
    codes = np.zeros(ng + 1, dtype=np.uint8)
    reasons = [""] * (ng + 1)
    meta: dict[str, Any] = {}
    if model is not None:
        method = _assign_with_model(ct, candidates, model, st, codes, reasons)
    else:
        an = anatomy if anatomy is not None else analyse_anatomy(ct)
        _assign_heuristic(ct, an, st, codes, reasons)
        method = METHOD_HEURISTIC
        meta["anatomy_notes"] = list(an.notes)
        meta["heart_centre_index"] = list(an.heart_centre) if an.heart_centre else None
        meta["aortic_root_index"] = {int(k): list(v) for k, v in an.aortic_root.items()}
    out = codes[group_of[labels]]
    counts = {NAMES[c]: int((codes[1:] == c).sum()) for c in NAMES}
    groups = [
        {"group": g, "code": int(codes[g]), "artery": NAMES[int(codes[g])], "reason": reasons[g],
         "n_voxels": int(st["counts"][g]), "centroid_index": [float(v) for v in st["centroid"][g]]}
        for g in range(1, ng + 1)
    ]
    return ct.with_data(
        out.astype(np.uint8), is_label=True, name=f"{ct.name}_assignment", units="",
        label_names={0: "unassigned", **{v: k for k, v in CODES.items()}},
        meta={"kind": "cac-assignment", "method": method, "group_counts": counts, "groups": groups, **meta},
    )


def _assign_with_model(ct, candidates, model, st, codes, reasons) -> str:
    cand_vol = candidates[0] if isinstance(candidates, tuple) else candidates
    terr = model(ct, cand_vol)
    if isinstance(terr, Volume):
        ct.require_same_grid(terr, what="CT and model territory map")
        terr = terr.data
    terr = np.asarray(terr)
    if terr.shape != tuple(ct.spatial_shape):
        raise InvalidInputError(f"the model returned shape {terr.shape}; it must return a map on the CT grid "
                                f"{tuple(ct.spatial_shape)}")
    if not np.issubdtype(terr.dtype, np.integer) or (terr.size and (terr.min() < 0 or terr.max() > 5)):
        raise InvalidInputError("the model must return integer artery codes 0-5")
    vals = terr[st["idx"]].astype(np.int64)
    table = np.zeros((st["n"] + 1, 6), dtype=np.int64)
    np.add.at(table, (st["groups"], vals), 1)
    for g in range(1, st["n"] + 1):
        row = table[g, 1:]
        if row.any():
            codes[g] = int(np.argmax(row)) + 1
            reasons[g] = f"model: {row.max()} of {table[g].sum()} voxels"
        else:
            reasons[g] = "model: no territory"
    name = getattr(model, "name", None) or getattr(model, "__name__", type(model).__name__)
    return f"model: {name}"


def _assign_heuristic(ct: Volume, an: CardiacAnatomy, st: dict[str, Any], codes: np.ndarray, reasons: list[str]) -> None:
    voxel_ml = ct.voxel_volume_mm3 / 1000.0
    in_body = _fraction(an.body, an, st)
    in_region = _fraction(an.heart_region, an, st)
    in_aorta = _fraction(an.aorta, an, st)
    in_med = _fraction(an.mediastinum, an, st)
    pix = float(ct.spacing[1])
    for g in range(1, st["n"] + 1):
        vol_ml = st["counts"][g] * voxel_ml
        cent = st["centroid"][g]
        if vol_ml > BONE_ML:
            codes[g], reasons[g] = 0, f"bone ({vol_ml:.1f} ml)"
            continue
        if in_body[g] < 0.5:
            codes[g], reasons[g] = 0, "outside the body"
            continue
        root = an.aortic_root.get(int(round(cent[0])))
        near_root = False
        if root is not None and in_aorta[g] < 0.5 and (in_region[g] >= 0.5 or in_med[g] >= 0.5):
            d = math.hypot((cent[1] - root[0]) * pix, (cent[2] - root[1]) * float(ct.spacing[2]))
            if d <= root[2] + ROOT_WALL_MM:
                codes[g], reasons[g] = CODES["non-coronary"], f"aortic root wall ({d:.0f} mm from its centre)"
                continue
            ang = territory_angle(ct, cent, (cent[0], root[0], root[1]))
            if d <= root[2] + LM_REACH_MM and -90.0 <= ang <= 90.0:
                codes[g], reasons[g] = CODES["LM"], f"left of the aortic root, {d - root[2]:.0f} mm from its wall"
                continue
            near_root = d <= root[2] + LM_REACH_MM
            if d <= root[2] + PROXIMAL_REACH_MM and -90.0 <= ang <= 90.0 and (in_region[g] >= 0.5 or near_root):
                art = "LAD" if ang < PROXIMAL_LAD_BELOW else "LCX"
                codes[g], reasons[g] = CODES[art], (f"left of the aortic root, {d - root[2]:.0f} mm from its wall, "
                                                    f"{ang:.0f} degrees from its centre")
                continue
        if in_region[g] >= 0.5 or near_root:
            c = an.heart_centre[1:]
            ang = territory_angle(ct, cent, (cent[0], c[0], c[1]))
            art = sector(ang)
            above = (cent[0] - an.heart_centre[0]) * an.superior_sign > 0
            if art == "RCA" and ang > LCX_SECTOR[1] and above:
                codes[g], reasons[g] = CODES["non-coronary"], (
                    f"posterior-right ({ang:.0f} degrees) above the ventricles' centre: atria, not the RCA")
                continue
            codes[g], reasons[g] = CODES[art], f"heart region, {ang:.0f} degrees from the heart centre"
            continue
        if in_aorta[g] >= 0.5:
            codes[g], reasons[g] = CODES["non-coronary"], "descending aorta"
            continue
        if in_med[g] >= 0.5:
            codes[g], reasons[g] = CODES["non-coronary"], "mediastinum outside the heart"
            continue
        codes[g], reasons[g] = 0, "outside the heart and mediastinum"


def reassign(
    assignment: Volume,
    candidates: Volume | tuple,
    candidate_id_or_point: int | Sequence[float],
    artery: str | int,
    *,
    whole_group: bool = True,
    search_px: int = 3,
) -> Volume:
    """A reader's correction: give one candidate (by default its whole 3-D group) another artery.

    Parameters
    ----------
    assignment
        Current assignment label map (not modified; a new Volume is returned).
    candidates
        Candidate label Volume of :func:`~napari_medai.core.tasks.cac.find_candidates`.
    candidate_id_or_point
        A candidate id, or a (slice, row, column) array index (e.g. a click); a point off every
        candidate picks the nearest candidate voxel of that slice within ``search_px`` pixels.
    artery
        ``'LM'``, ``'LAD'``, ``'LCX'``, ``'RCA'``, ``'non-coronary'``, ``'unassigned'`` or a code 0-5.
    whole_group
        Reassign every candidate of the 3-D group (default), or only the 2-D candidate.

    Returns
    -------
    Volume
        The new assignment; ``meta['last_edit']`` records what changed.
    """
    code = artery_code(artery)
    labels, group_of = candidate_array(candidates)
    assignment.require_same_grid(candidates[0] if isinstance(candidates, tuple) else candidates,
                                 what="assignment and candidates")
    cid = pick_candidate(labels, candidate_id_or_point, search_px=search_px)
    if whole_group and group_of[cid] > 0:
        members = np.nonzero(group_of == group_of[cid])[0]
        region = np.isin(labels, members)
    else:
        members = np.array([cid])
        region = labels == cid
    data = np.array(assignment.data, copy=True)
    if np.issubdtype(data.dtype, np.integer) and np.iinfo(data.dtype).max < 5:
        data = data.astype(np.uint8)
    data[region] = code
    meta = dict(assignment.meta)
    meta["last_edit"] = {"candidate": int(cid), "candidates": [int(m) for m in members],
                         "group": int(group_of[cid]), "artery": NAMES[code], "voxels": int(region.sum())}
    return assignment.with_data(data, meta=meta)


def pick_candidate(labels: np.ndarray, what: int | Sequence[float], *, search_px: int = 3) -> int:
    """The candidate id given as is, or at a (slice, row, column) point (else the nearest within ``search_px``)."""
    n = int(labels.max()) if labels.size else 0
    if isinstance(what, (int, np.integer)) and not isinstance(what, (bool, np.bool_)):
        cid = int(what)
        if not 1 <= cid <= n:
            raise InvalidInputError(f"candidate id {cid} does not exist (ids are 1 to {n})")
        return cid
    try:
        p = [float(v) for v in what]  # type: ignore[union-attr]
    except (TypeError, ValueError) as exc:
        raise InvalidInputError(f"give a candidate id or a (slice, row, column) point, got {what!r}") from exc
    if len(p) != 3:
        raise InvalidInputError(f"a point needs 3 array indices (slice, row, column), got {len(p)}")
    k, r, c = (int(round(v)) for v in p)
    if not (0 <= k < labels.shape[0] and 0 <= r < labels.shape[1] and 0 <= c < labels.shape[2]):
        raise InvalidInputError(f"point {tuple(p)} lies outside the image {labels.shape}")
    if labels[k, r, c] > 0:
        return int(labels[k, r, c])
    r0, r1 = max(0, r - search_px), min(labels.shape[1], r + search_px + 1)
    c0, c1 = max(0, c - search_px), min(labels.shape[2], c + search_px + 1)
    win = labels[k, r0:r1, c0:c1]
    rr, cc = np.nonzero(win)
    if rr.size == 0:
        raise InvalidInputError(f"no candidate at or within {search_px} pixels of point {(k, r, c)}; click on a "
                                "highlighted calcium region")
    d = (rr + r0 - r) ** 2 + (cc + c0 - c) ** 2
    j = int(np.argmin(d))
    return int(win[rr[j], cc[j]])
