"""The lesion table of a stroke segmentation: one row per connected lesion.

Lesions are connected components of the mask, 26-connected by default as in ISLES 2022
(:mod:`napari_medai.core.metrics.lesions`). Per lesion:

* ``volume_ml``: voxel count x voxel volume / 1000;
* ``centroid_index`` (array order, fractional) and ``centroid_world`` (mm, reversed LPS);
* ``max_diameter_mm``: the largest distance between two points of the voxelised lesion, i.e.
  between corners of its boundary voxels (the convex hull's vertices are compared pairwise,
  :class:`scipy.spatial.ConvexHull`); a box of n x m x k voxels gives its space diagonal;
* ``mean_adc``: mean ADC over the lesion (in the ADC map's unit; the task passes 10^-6 mm^2/s);
* ``side``: the patient's side of the centroid relative to the mid-sagittal plane (``"left"`` /
  ``"right"``; ``"midline"`` within half a voxel of it; ``"unknown"`` without a plane).
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage as ndi

from ...errors import InvalidInputError
from ...volume import Volume

__all__ = ["LesionRow", "connectivity_structure", "label_components", "lesion_table", "max_diameter_mm"]


@dataclass(frozen=True)
class LesionRow:
    """One lesion of a segmentation (see the module docstring for each field)."""

    id: int
    volume_ml: float
    centroid_world: tuple[float, float, float]
    centroid_index: tuple[float, float, float]
    max_diameter_mm: float
    mean_adc: float | None
    side: str
    n_voxels: int = 0

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly form (rounded for reading)."""
        d = asdict(self)
        d["volume_ml"] = round(self.volume_ml, 4)
        d["centroid_world"] = [round(float(v), 2) for v in self.centroid_world]
        d["centroid_index"] = [round(float(v), 2) for v in self.centroid_index]
        d["max_diameter_mm"] = round(self.max_diameter_mm, 2)
        d["mean_adc"] = None if self.mean_adc is None else round(self.mean_adc, 1)
        return d


def connectivity_structure(connectivity: int, ndim: int = 3) -> np.ndarray:
    """The neighbourhood of a connectivity: 6, 18 or 26 in 3-D (4 or 8 in 2-D)."""
    rank = {6: 1, 18: 2, 26: 3, 4: 1, 8: 2}.get(int(connectivity))
    valid = (6, 18, 26) if ndim == 3 else (4, 8)
    if rank is None or int(connectivity) not in valid:
        raise InvalidInputError(f"connectivity must be one of {valid} for {ndim}-D masks, got {connectivity!r}")
    return ndi.generate_binary_structure(ndim, rank)


def _mask(vol: Volume, role: str) -> np.ndarray:
    if not isinstance(vol, Volume):
        raise InvalidInputError(f"{role}: expected a Volume, got {type(vol).__name__}")
    if vol.channel_axis is not None:
        if vol.n_channels != 1:
            raise InvalidInputError(f"{role} {vol.name!r}: expected one label map, got {vol.n_channels} channels")
        vol = vol.channel(0)
    data = np.asarray(vol.data)
    if data.dtype.kind == "f" and not np.array_equal(data, np.rint(data)):
        raise InvalidInputError(f"{role} {vol.name!r}: a lesion mask holds whole numbers; threshold the probabilities first")
    if data.size and data.min() < 0:
        raise InvalidInputError(f"{role} {vol.name!r}: a lesion mask holds values >= 0")
    return data


def label_components(mask: Volume, *, connectivity: int = 26) -> Volume:
    """Each connected lesion of a mask its own id (1 = the largest, then by decreasing size).

    Parameters
    ----------
    mask
        Lesion mask (nonzero = lesion).
    connectivity
        6, 18 or 26 (ISLES 2022 uses 26).

    Returns
    -------
    Volume
        Label map (uint8, or uint16 / uint32 when there are more lesions) on the same grid.
    """
    data = _mask(mask, "mask") > 0
    lab, n = ndi.label(data, structure=connectivity_structure(connectivity, data.ndim))
    if n:
        sizes = np.bincount(lab.ravel(), minlength=n + 1)[1:]
        order = np.argsort(-sizes, kind="stable")  # old id order[k] + 1 becomes k + 1
        remap = np.zeros(n + 1, dtype=np.int64)
        remap[order + 1] = np.arange(1, n + 1)
        lab = remap[lab]
    dtype = np.uint8 if n < 256 else (np.uint16 if n < 65536 else np.uint32)
    names = {k: f"lesion {k}" for k in range(1, n + 1)}
    return mask.with_data(lab.astype(dtype), is_label=True, label_names=names, channel_axis=None,
                          channel_names=None, meta={**mask.meta, "n_lesions": int(n),
                                                    "connectivity": int(connectivity)})


def max_diameter_mm(mask: np.ndarray, affine: np.ndarray) -> float:
    """Largest distance (mm) between two points of a voxelised object.

    The object's surface voxels contribute their 8 corners; the largest pairwise distance of the
    corners' convex-hull vertices in world mm is the diameter.

    Parameters
    ----------
    mask
        Boolean 3-D mask of one object.
    affine
        The grid's index-to-world matrix (``Volume.affine``).
    """
    from scipy.spatial import ConvexHull, QhullError
    from scipy.spatial.distance import pdist

    m = np.asarray(mask, dtype=bool)
    if not m.any():
        return 0.0
    surface = m & ~ndi.binary_erosion(m, structure=ndi.generate_binary_structure(m.ndim, 1), border_value=0)
    idx = np.argwhere(surface).astype(float)
    offsets = np.array(np.meshgrid(*([(-0.5, 0.5)] * m.ndim), indexing="ij")).reshape(m.ndim, -1).T
    corners = np.unique((idx[:, None, :] + offsets[None, :, :]).reshape(-1, m.ndim), axis=0)
    world = corners @ affine[: m.ndim, : m.ndim].T + affine[: m.ndim, m.ndim]
    if len(world) > 4:
        with contextlib.suppress(QhullError):  # a flat (2-D) object: every corner is compared
            world = world[ConvexHull(world).vertices]
    return float(pdist(world).max()) if len(world) > 1 else 0.0


def _side(distance: float, tolerance: float) -> str:
    if distance > tolerance:
        return "left"
    if distance < -tolerance:
        return "right"
    return "midline"


def lesion_table(
    labels: Volume, *, adc: Volume | None = None, plane: Any = None, connectivity: int = 26
) -> list[LesionRow]:
    """One :class:`LesionRow` per lesion.

    Parameters
    ----------
    labels
        A mask with one nonzero value (its connected components become the lesions) or a label map whose
        nonzero values already number the lesions.
    adc
        Optional ADC map on the same grid (mean per lesion, in its unit).
    plane
        Optional mid-sagittal plane (``MidSagittalPlane`` of :mod:`.midline`, anything with
        ``signed_distance(world) -> mm``, > 0 = the patient's left).
    connectivity
        Connectivity used to split a binary mask (26 as ISLES).

    Returns
    -------
    list of LesionRow
        Ordered by id.
    """
    data = _mask(labels, "lesion labels")
    if labels.channel_axis is not None:
        labels = labels.channel(0)
    if adc is not None:
        if adc.channel_axis is not None:
            adc = adc.channel(0)
        if not labels.same_grid(adc):
            raise InvalidInputError(
                f"ADC {adc.name!r} and lesion labels {labels.name!r} are not on the same voxel grid "
                f"({'; '.join(labels.grid_differences(adc))}); give the ADC on the lesion grid"
            )
    ids = np.unique(data)
    ids = ids[ids > 0]
    if ids.size == 1:
        lab = np.asarray(label_components(labels, connectivity=connectivity).data)
    else:
        lab = data.astype(np.int64, copy=False)
    n = int(lab.max()) if lab.size else 0
    if n == 0:
        return []
    objects = ndi.find_objects(lab.astype(np.int64, copy=False))
    affine = labels.affine
    vox_ml = labels.voxel_volume_mm3 / 1000.0
    # half a voxel along the left-right world axis: a centroid closer to the plane is "midline"
    tol = 0.5 * float(np.min(labels.spacing))
    rows: list[LesionRow] = []
    for k, sl in enumerate(objects, start=1):
        if sl is None:
            continue
        sub = lab[sl] == k
        idx = np.argwhere(sub).astype(float) + np.array([s.start for s in sl], dtype=float)
        centroid_index = idx.mean(axis=0)
        centroid_world = labels.index_to_world(centroid_index[None, :])[0]
        box_affine = affine.copy()
        box_affine[:3, 3] = labels.index_to_world(np.array([[s.start for s in sl]], dtype=float))[0]
        diameter = max_diameter_mm(sub, box_affine)
        mean_adc = None
        if adc is not None:
            mean_adc = float(np.mean(np.asarray(adc.data)[sl][sub], dtype=np.float64))
        side = "unknown"
        if plane is not None:
            side = _side(float(np.asarray(plane.signed_distance(centroid_world[None, :]))[0]), tol)
        n_vox = int(sub.sum())
        rows.append(LesionRow(
            id=k, volume_ml=n_vox * vox_ml,
            centroid_world=tuple(float(v) for v in centroid_world),  # type: ignore[arg-type]
            centroid_index=tuple(float(v) for v in centroid_index),  # type: ignore[arg-type]
            max_diameter_mm=diameter, mean_adc=mean_adc, side=side, n_voxels=n_vox,
        ))
    return rows
