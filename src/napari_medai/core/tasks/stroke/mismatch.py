"""DWI-FLAIR mismatch: the FLAIR relative signal intensity (rSI) of each lesion.

An acute lesion that is bright on DWI but not yet on FLAIR suggests onset within about 4.5 hours
(reference.md). Its quantitative form is the FLAIR relative signal intensity::

    rSI = mean FLAIR in the lesion / mean FLAIR in the lesion's mirror image

where the mirror image is the lesion reflected about the head's mid-sagittal plane
(:func:`.midline.mirror`), minus any lesion voxel and any voxel outside the FLAIR's field of view.
It is given per lesion and for all lesions together. Published cut-offs lie around 1.1-1.2
(:data:`RSI_CUTOFFS`): below them the lesion is not clearly FLAIR-hyperintense (a mismatch).

This is a research measure, not a treatment decision (:data:`RESEARCH_NOTE`, in every report).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ...volume import Volume
from .lesions import label_components
from .midline import MidSagittalPlane, mirror

__all__ = ["RESEARCH_NOTE", "RSI_CUTOFFS", "LesionMismatch", "MismatchReport", "flair_mismatch", "interpret_rsi"]

#: Published FLAIR rSI cut-offs for onset within 4.5 h lie around 1.1-1.2 (reference.md).
RSI_CUTOFFS = (1.1, 1.2)
RESEARCH_NOTE = "research measure, not a treatment decision"
#: A mirror region smaller than this fraction of its lesion gives no rSI (too little contralateral tissue).
MIN_MIRROR_FRACTION = 0.25


def interpret_rsi(rsi: float | None) -> str:
    """A context sentence for one rSI against :data:`RSI_CUTOFFS`."""
    lo, hi = RSI_CUTOFFS
    if rsi is None or not np.isfinite(rsi):
        return "no rSI (no usable contralateral region or FLAIR coverage)"
    if rsi < lo:
        return f"below the published cut-offs ({lo}-{hi}): not clearly FLAIR-hyperintense (DWI-FLAIR mismatch pattern)"
    if rsi > hi:
        return f"above the published cut-offs ({lo}-{hi}): FLAIR-hyperintense (no mismatch)"
    return f"within the published cut-off range ({lo}-{hi}): indeterminate"


@dataclass(frozen=True)
class LesionMismatch:
    """FLAIR rSI of one lesion (``id`` 0 = all lesions together)."""

    id: int
    rsi: float | None
    mean_flair_lesion: float | None
    mean_flair_mirror: float | None
    n_lesion_voxels: int
    n_mirror_voxels: int
    interpretation: str

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for k in ("rsi", "mean_flair_lesion", "mean_flair_mirror"):
            if d[k] is not None:
                d[k] = round(float(d[k]), 4 if k == "rsi" else 2)
        return d


@dataclass
class MismatchReport:
    """DWI-FLAIR mismatch of a segmentation.

    Attributes
    ----------
    lesions
        One entry per lesion (ids as in the lesion table).
    overall
        All lesions together (``id`` 0).
    cutoffs
        The published cut-off range used as context.
    plane
        How the mirror plane was found (one line).
    note
        Always :data:`RESEARCH_NOTE`.
    """

    lesions: list[LesionMismatch]
    overall: LesionMismatch
    cutoffs: tuple[float, float] = RSI_CUTOFFS
    plane: str = ""
    note: str = RESEARCH_NOTE
    notes: list[str] = field(default_factory=list)

    @property
    def overall_rsi(self) -> float | None:
        return self.overall.rsi

    def to_json(self) -> dict[str, Any]:
        return {
            "measure": "FLAIR relative signal intensity (mean FLAIR in lesion / mean FLAIR in its mirror image "
                       "about the mid-sagittal plane)",
            "overall_rsi": None if self.overall.rsi is None else round(float(self.overall.rsi), 4),
            "overall": self.overall.to_json(),
            "lesions": [m.to_json() for m in self.lesions],
            "cutoffs": list(self.cutoffs),
            "cutoffs_source": "published cut-offs around 1.1-1.2 for onset within 4.5 h (reference.md)",
            "plane": self.plane,
            "note": self.note,
            "notes": list(self.notes),
        }


def _ratio(flair: np.ndarray, lesion: np.ndarray, region: np.ndarray, ident: int) -> LesionMismatch:
    n_l, n_m = int(lesion.sum()), int(region.sum())
    if n_l == 0 or n_m < MIN_MIRROR_FRACTION * n_l or n_m == 0:
        return LesionMismatch(ident, None, float(flair[lesion].mean()) if n_l else None, None, n_l, n_m,
                              interpret_rsi(None))
    a = float(flair[lesion].mean(dtype=np.float64))
    b = float(flair[region].mean(dtype=np.float64))
    rsi = a / b if b > 0 else None
    return LesionMismatch(ident, rsi, a, b, n_l, n_m, interpret_rsi(rsi))


def flair_mismatch(
    labels: Volume,
    flair: Volume,
    plane: MidSagittalPlane,
    *,
    coverage: np.ndarray | None = None,
    within: np.ndarray | None = None,
    connectivity: int = 26,
) -> MismatchReport:
    """FLAIR rSI per lesion and overall.

    Parameters
    ----------
    labels
        Lesion mask (split into 26-connected lesions) or lesion ids, on the FLAIR's grid.
    flair
        FLAIR on the lesion grid (e.g. resampled onto the DWI grid).
    plane
        The head's mid-sagittal plane.
    coverage
        Boolean mask of voxels where the FLAIR is defined (its field of view); default: all.
    within
        Optional boolean mask (e.g. the brain) the mirror region must stay inside, so a mirror
        image that reaches beyond the brain does not compare the lesion with the skull or air.
    connectivity
        Used to split a binary mask into lesions.

    Returns
    -------
    MismatchReport
    """
    if not labels.same_grid(flair):
        raise InvalidInputError(
            f"FLAIR {flair.name!r} is not on the lesion grid ({'; '.join(labels.grid_differences(flair))}); "
            "resample it onto the DWI grid first (inputs.resample_linear)"
        )
    data = np.asarray(labels.data)
    ids = np.unique(data)
    ids = ids[ids > 0]
    if ids.size <= 1:
        lab_vol = label_components(labels, connectivity=connectivity)
    else:
        lab_vol = labels.with_data(data.astype(np.int32), is_label=True)
    lab = np.asarray(lab_vol.data)
    cov = np.ones(lab.shape, dtype=bool) if coverage is None else np.asarray(coverage, dtype=bool)
    if cov.shape != lab.shape:
        raise InvalidInputError(f"coverage mask shape {cov.shape} differs from the lesion grid {lab.shape}")
    mirrored = np.asarray(mirror(lab_vol.with_data(lab_vol.data, is_label=True), plane, order=0).data)
    f = np.asarray(flair.data, dtype=np.float32)
    any_lesion = lab > 0
    usable = cov & ~any_lesion
    if within is not None:
        inside = np.asarray(within, dtype=bool)
        if inside.shape != lab.shape:
            raise InvalidInputError(f"'within' mask shape {inside.shape} differs from the lesion grid {lab.shape}")
        usable &= inside
    rows = [
        _ratio(f, (lab == k) & cov, (mirrored == k) & usable, int(k))
        for k in np.unique(lab[lab > 0])
    ]
    overall = _ratio(f, any_lesion & cov, (mirrored > 0) & usable, 0)
    notes = []
    outside = int(np.count_nonzero(any_lesion & ~cov))
    if outside:
        notes.append(f"{outside} lesion voxel(s) outside the FLAIR's field of view left out")
    return MismatchReport(lesions=rows, overall=overall, plane=plane.describe() if hasattr(plane, "describe") else plane.method,
                          notes=notes)
