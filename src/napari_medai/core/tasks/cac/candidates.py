"""Candidate calcium lesions: every 2-D region >= 130 HU of at least the minimum area.

A candidate is a connected region (per axial slice; 8-connected by default, 4 on request) of voxels
``>= threshold_hu`` whose area is at least ``min_area_mm2``. Bone is a candidate too: deciding what is
coronary calcium is the assignment step's job (automatic or by a reader).

Candidates that touch across neighbouring slices (a voxel of one lies directly above a voxel of the
other, same row and column) form one *3-D group*, so that one click assigns a whole plaque.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ...errors import InvalidInputError
from ...volume import Volume
from ._common import (
    AREA_RTOL,
    MIN_AREA_MM2,
    THRESHOLD_HU,
    check_ct,
    check_positive,
    component_stats,
    structure_2d,
)


def structure_3d(connectivity: int) -> np.ndarray:
    """In-plane ``connectivity`` (4 or 8) plus the face neighbours in the slices above and below."""
    s = structure_2d(connectivity)
    s[0, 1, 1] = s[2, 1, 1] = True
    return s


def find_candidates(
    ct: Volume,
    *,
    threshold_hu: float = THRESHOLD_HU,
    min_area_mm2: float = MIN_AREA_MM2,
    connectivity: int = 8,
) -> tuple[Volume, list[dict[str, Any]]]:
    """Label every candidate calcium lesion of a CT.

    Parameters
    ----------
    ct
        Axial CT in HU (checked; no slice-spacing warning here, :func:`score` gives it).
    threshold_hu
        Calcium threshold, 130 HU.
    min_area_mm2
        Smallest candidate area (default 1 mm^2; a region of exactly this area is kept).
    connectivity
        In-plane connectivity, 8 (default) or 4.

    Returns
    -------
    candidates
        ``int32`` label Volume on the CT grid: 0 background, 1..N candidate ids ordered by slice
        (then raster order). ``meta['group_of']`` lists the 3-D group id of each candidate id
        (index 0 unused) and ``meta['n_groups']`` their number.
    lesions
        One dict per candidate: ``id``, ``group``, ``slice``, ``area_mm2``, ``n_voxels``, ``peak_hu``,
        ``mean_hu``, ``centroid`` (slice, row, column array index).
    """
    chk = check_ct(ct, warn=False)
    min_area = check_positive(min_area_mm2, name="min_area_mm2", allow_zero=True)
    structure = structure_2d(connectivity)
    data = np.asarray(ct.data)
    hot = data >= float(threshold_hu)
    lab, n = ndi.label(hot, structure=structure)
    idx = np.nonzero(lab)
    ids = lab[idx]
    counts = np.bincount(ids, minlength=n + 1)
    keep = counts * chk.pixel_area_mm2 >= min_area * (1.0 - AREA_RTOL)
    keep[0] = False
    new_id = np.zeros(n + 1, dtype=np.int32)
    new_id[keep] = np.arange(1, int(keep.sum()) + 1, dtype=np.int32)
    labels = new_id[lab]

    groups, group_of = _groups(labels, connectivity)
    lesions = _describe(labels, data, chk.pixel_area_mm2, group_of)
    vol = ct.with_data(
        labels, is_label=True, name=f"{ct.name}_candidates", units="", label_names=None,
        meta={
            "kind": "cac-candidates", "threshold_hu": float(threshold_hu), "min_area_mm2": min_area,
            "connectivity": connectivity, "group_of": group_of.tolist(), "n_groups": int(groups),
        },
    )
    return vol, lesions


def _groups(labels: np.ndarray, connectivity: int) -> tuple[int, np.ndarray]:
    n = int(labels.max()) if labels.size else 0
    glab, ng = ndi.label(labels > 0, structure=structure_3d(connectivity))
    group_of = np.zeros(n + 1, dtype=np.int64)
    m = labels > 0
    group_of[labels[m]] = glab[m]
    return int(ng), group_of


def _describe(labels: np.ndarray, data: np.ndarray, pixel_area: float, group_of: np.ndarray) -> list[dict[str, Any]]:
    n = len(group_of) - 1
    if n <= 0:
        return []
    st = component_stats(labels, data, n)
    counts, sums, peaks = st["counts"], st["sums"], st["peaks"]
    cents = st["centroid_sums"]
    integer = bool(np.issubdtype(data.dtype, np.integer))
    out = []
    for i in range(1, n + 1):
        c = int(counts[i])
        peak = float(peaks[i])
        out.append({
            "id": i, "group": int(group_of[i]), "slice": int(round(cents[0][i] / c)),
            "area_mm2": c * pixel_area, "n_voxels": c,
            "peak_hu": int(peak) if integer else peak, "mean_hu": float(sums[i] / c),
            "centroid": tuple(float(cc[i] / c) for cc in cents),
        })
    return out


def candidate_array(candidates: Volume | tuple, *, ct: Volume | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Candidate labels and their ``group_of`` table from a candidates Volume (or the pair
    :func:`find_candidates` returns); the table is rebuilt when the metadata lacks it."""
    if isinstance(candidates, tuple) and candidates and isinstance(candidates[0], Volume):
        candidates = candidates[0]
    if not isinstance(candidates, Volume):
        raise InvalidInputError("candidates must be the label Volume returned by find_candidates "
                                f"(or its (volume, lesions) pair), got {type(candidates).__name__}")
    if ct is not None:
        ct.require_same_grid(candidates, what="CT and candidates")
    labels = np.asarray(candidates.data)
    if not np.issubdtype(labels.dtype, np.integer):
        raise InvalidInputError("candidates must hold integer candidate ids; use find_candidates")
    group_of = candidates.meta.get("group_of")
    n = int(labels.max()) if labels.size else 0
    if group_of is None or len(group_of) != n + 1:
        _, g = _groups(labels, int(candidates.meta.get("connectivity", 8)))
        return labels, g
    return labels, np.asarray(group_of, dtype=np.int64)


def candidate_groups(candidates: Volume | tuple) -> Volume:
    """The 3-D group id of every candidate voxel as a label Volume (for display)."""
    labels, group_of = candidate_array(candidates)
    vol = candidates[0] if isinstance(candidates, tuple) else candidates
    return vol.with_data(group_of[labels].astype(np.int32), name=f"{vol.name}_groups",
                         meta={"kind": "cac-candidate-groups"})
