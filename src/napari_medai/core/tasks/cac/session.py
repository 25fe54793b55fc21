"""Live scoring while a reader corrects the assignment: only the slices an edit touches are re-scored.

Lesions are 2-D (connected per axial slice), so an edit confined to some slices can only change the
lesions of those slices. :class:`ScoringSession` keeps each slice's raw lesions and, on
:meth:`ScoringSession.update`, recomputes just the slices given (or found to differ), then builds the
result with the same code as :func:`~napari_medai.core.tasks.cac.scoring.score`; the result equals a
full :func:`score` exactly (``tests/core/test_cac_session.py``). On a real 61-slice 512 x 512 CT a
one-slice update takes a few milliseconds instead of a second.

:class:`CandidateIndex` finds the voxels of a clicked candidate (or of its 3-D group) from per-candidate
bounding boxes, so a click does not scan the whole volume; the voxels equal those
:func:`~napari_medai.core.tasks.cac.reassign` changes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ...errors import InvalidInputError
from ...volume import Volume
from ._common import (
    CODES,
    MIN_AREA_MM2,
    NAMES,
    THRESHOLD_HU,
    check_assignment,
    check_ct,
    check_positive,
    component_stats,
    structure_2d,
)
from .assign import pick_candidate
from .candidates import candidate_array
from .scoring import CACResult, build_result


class ScoringSession:
    """The scores of one CT, kept up to date slice by slice as its assignment is edited.

    Parameters are those of :func:`~napari_medai.core.tasks.cac.score`; ``assignment`` is the
    starting label map (a Volume on the CT grid, or an array of its shape). The session keeps its own
    copy of the codes; :meth:`update` copies the changed slices in.
    """

    def __init__(self, ct: Volume, assignment: Volume | np.ndarray, *, min_area_mm2: float = MIN_AREA_MM2,
                 calibration_factor: float | None = None, slice_correction: str = "scale",
                 threshold_hu: float = THRESHOLD_HU, connectivity: int = 8, warn: bool = False) -> None:
        self.ct = ct
        self.min_area_mm2 = check_positive(min_area_mm2, name="min_area_mm2", allow_zero=True)
        self.calibration_factor = (None if calibration_factor is None
                                   else check_positive(calibration_factor, name="calibration_factor"))
        self.slice_correction = slice_correction
        self.threshold_hu = float(threshold_hu)
        self.connectivity = connectivity
        self._check = check_ct(ct, slice_correction=slice_correction, warn=warn)
        self._structure = structure_2d(connectivity)[1]
        if not isinstance(assignment, Volume):
            assignment = ct.with_data(np.asarray(assignment), is_label=True)
        self.codes = np.array(check_assignment(assignment, ct), copy=True)
        self._data = np.asarray(ct.data)
        self._hot = self._data >= self.threshold_hu
        self._raw: list[list[tuple]] = [self._slice_raw(k) for k in range(self.codes.shape[0])]
        #: The current scores.
        self.result: CACResult = self._build()

    def changed_slices(self, codes: np.ndarray) -> np.ndarray:
        """Slices (axis 0) where ``codes`` differ from the session's."""
        codes = np.asarray(codes)
        self._check_shape(codes)
        return np.flatnonzero((codes != self.codes).reshape(codes.shape[0], -1).any(axis=1))

    def update(self, codes: np.ndarray, slices: Iterable[int] | None = None) -> CACResult:
        """Take ``codes`` (the whole current label map) and re-score the ``slices`` it changed.

        ``slices`` None: find them by comparing with the session's copy. Only those slices of ``codes``
        are read. Returns the new :attr:`result`.
        """
        codes = np.asarray(codes)
        self._check_shape(codes)
        ks = self.changed_slices(codes) if slices is None else sorted({int(k) for k in slices})
        return self.update_slices({int(k): codes[k] for k in ks})

    def update_slices(self, slices: Mapping[int, np.ndarray]) -> CACResult:
        """Replace the given slices of the codes (``{slice index: 2-D codes}``) and re-score them.

        Every slice is checked before any is taken, so a refused update changes nothing.
        """
        n = self.codes.shape[0]
        new = {}
        for k, arr in slices.items():
            k = int(k)
            if not 0 <= k < n:
                raise InvalidInputError(f"slice {k} is outside the assignment (0 to {n - 1})")
            arr = np.asarray(arr)
            if arr.shape != self.codes.shape[1:]:
                raise InvalidInputError(f"slice {k} has shape {arr.shape}, the assignment's slices {self.codes.shape[1:]}")
            if arr.size and (int(arr.min()) < 0 or int(arr.max()) > 5):
                bad = sorted(set(np.unique(arr).tolist()) - set(NAMES))
                raise InvalidInputError(f"slice {k} of the assignment holds codes {bad[:8]} outside 0-5 (0 unassigned, "
                                        + ", ".join(f"{v} {name}" for name, v in CODES.items()) + "); relabel it")
            new[k] = arr
        for k, arr in new.items():
            self.codes[k] = arr
            self._raw[k] = self._slice_raw(k)
        self.result = self._build()
        return self.result

    def _check_shape(self, codes: np.ndarray) -> None:
        if codes.shape != self.codes.shape:
            raise InvalidInputError(f"assignment shape {codes.shape} differs from the CT's {self.codes.shape}")

    def _slice_raw(self, k: int) -> list[tuple]:
        hot = self._hot[k]
        codes = self.codes[k]
        present = set(np.unique(codes[hot]).tolist()) if hot.any() else set()
        out = []
        for name, code in CODES.items():
            if code not in present:
                continue
            lab, n = ndi.label(hot & (codes == code), structure=self._structure)
            if n == 0:
                continue
            st = component_stats(lab, self._data[k], n)
            counts, sums, peaks = st["counts"], st["sums"], st["peaks"]
            rows, cols = st["centroid_sums"]
            for i in range(1, n + 1):
                c = int(counts[i])
                centroid = (float(k), float(rows[i] / c), float(cols[i] / c))
                stats = {"slice": k, "n": c, "sum": float(sums[i]), "peak": float(peaks[i]), "centroid": centroid}
                out.append((k, code, centroid[1], centroid[2], name, stats))
        out.sort(key=lambda t: t[:4])
        return out

    def _build(self) -> CACResult:
        raw = [r for per_slice in self._raw for r in per_slice]
        return build_result(self.ct, self._check, raw, min_area_mm2=self.min_area_mm2,
                            calibration_factor=self.calibration_factor, slice_correction=self.slice_correction,
                            threshold_hu=self.threshold_hu, connectivity=self.connectivity)


class CandidateIndex:
    """Where each candidate lies (bounding boxes), to find a clicked candidate's voxels quickly."""

    def __init__(self, candidates: Volume | tuple) -> None:
        self.labels, self.group_of = candidate_array(candidates)
        self._boxes = ndi.find_objects(self.labels)

    def region(self, candidate_id_or_point: int | Sequence[float], *, whole_group: bool = True,
               search_px: int = 3) -> tuple[tuple[np.ndarray, ...], dict[str, Any]]:
        """The voxel index arrays of the candidate (by default its whole 3-D group) and what was picked.

        The second value holds ``candidate``, ``candidates`` (the members), ``group`` and ``voxels``, as
        ``meta['last_edit']`` of :func:`~napari_medai.core.tasks.cac.reassign`.
        """
        cid = pick_candidate(self.labels, candidate_id_or_point, search_px=search_px)
        group = int(self.group_of[cid])
        members = np.nonzero(self.group_of == group)[0] if whole_group and group > 0 else np.array([cid])
        parts = []
        for m in members:
            box = self._boxes[int(m) - 1] if 0 < m <= len(self._boxes) else None
            if box is None:
                continue
            local = np.nonzero(self.labels[box] == m)
            parts.append(tuple(i + s.start for i, s in zip(local, box)))
        if parts:
            index = tuple(np.concatenate([p[a] for p in parts]) for a in range(self.labels.ndim))
        else:
            index = tuple(np.zeros(0, np.intp) for _ in range(self.labels.ndim))
        edit = {"candidate": int(cid), "candidates": [int(m) for m in members], "group": group,
                "voxels": int(index[0].size)}
        return index, edit


def touched_slices(index: tuple[np.ndarray, ...]) -> list[int]:
    """The slices (axis 0) of a voxel index tuple, sorted."""
    return sorted(set(np.unique(index[0]).tolist())) if len(index) and index[0].size else []


__all__ = ["CandidateIndex", "ScoringSession", "touched_slices"]
