"""The one place that converts between file geometry conventions and :class:`Volume` geometry.

Three conventions meet here:

* **Volume** (see :mod:`napari_medai.core.volume`): array order ``(k, j, i)`` (spatial axes
  reversed with respect to the file's index order), world coordinates in mm in the LPS frame listed
  reversed, ``(S, P, L)``, so that world axis *n* pairs with array axis *n*;
  ``world = direction @ (spacing * index) + origin``.
* **ITK / DICOM** (SimpleITK, NRRD, MetaImage, DICOM): index ``(i, j, k)``, world ``(L, P, S)``;
  ``world = direction @ (spacing * index) + origin``.
* **NIfTI**: a 4x4 affine mapping index ``(i, j, k, 1)`` to world ``(R, A, S, 1)`` in mm.

Reversing both the index and the world axes turns ITK geometry into Volume geometry:
``spacing`` and ``origin`` are reversed and ``direction`` is flipped along both of its axes
(``R @ D @ R`` with ``R`` the anti-diagonal permutation). NIfTI differs from ITK only by the sign of
the first two world axes (RAS versus LPS), and by storing ``direction * spacing`` together.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from ..errors import InvalidInputError

if TYPE_CHECKING:
    from ..volume import Volume

__all__ = [
    "Geometry",
    "dicom_to_volume_geometry",
    "dicom_slice_normal",
    "itk_to_volume_geometry",
    "nifti_affine_of",
    "nifti_affine_to_volume_geometry",
    "volume_geometry_to_nifti_affine",
    "volume_to_itk_geometry",
]

#: Sign flip between RAS (NIfTI) and LPS (ITK, DICOM) world axes, in (x, y, z) order.
_RAS_LPS = np.array([-1.0, -1.0, 1.0])


class Geometry(NamedTuple):
    """Spacing, origin and direction of a voxel grid, in one convention (see module docstring)."""

    spacing: tuple[float, ...]
    origin: tuple[float, ...]
    direction: np.ndarray


def _as_geometry(
    spacing: Sequence[float], origin: Sequence[float], direction: Sequence[float] | np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    sp = np.asarray(spacing, dtype=float).ravel()
    nd = sp.size
    if nd not in (2, 3, 4):
        raise InvalidInputError(f"geometry needs 2, 3 or 4 spacing values, got {sp.size}")
    org = np.asarray(origin, dtype=float).ravel()
    if org.size != nd:
        raise InvalidInputError(f"origin has {org.size} values but spacing has {nd}; give one per axis")
    d = np.asarray(direction, dtype=float)
    if d.size != nd * nd:
        raise InvalidInputError(
            f"direction has {d.size} values; a {nd}-D grid needs a {nd}x{nd} matrix ({nd * nd} values)"
        )
    return sp, org, d.reshape(nd, nd)


def itk_to_volume_geometry(
    spacing: Sequence[float], origin: Sequence[float], direction: Sequence[float] | np.ndarray
) -> Geometry:
    """Convert ITK geometry (index ``(i, j, k)``, world LPS) to Volume geometry.

    Parameters
    ----------
    spacing, origin
        Per-axis values in ITK order ``(x, y, z)`` (as ``SimpleITK.Image.GetSpacing()``).
    direction
        Row-major flat ``n*n`` tuple (as ``GetDirection()``) or an ``(n, n)`` matrix whose
        column *m* is the LPS direction of index axis *m*.

    Returns
    -------
    Geometry
        Spacing and origin reversed, direction ``R @ D @ R``.
    """
    sp, org, d = _as_geometry(spacing, origin, direction)
    return Geometry(
        tuple(float(x) for x in sp[::-1]),
        tuple(float(x) for x in org[::-1]),
        np.ascontiguousarray(d[::-1, ::-1]),
    )


def volume_to_itk_geometry(
    spacing: Sequence[float], origin: Sequence[float], direction: Sequence[float] | np.ndarray
) -> Geometry:
    """Convert Volume geometry to ITK geometry (the inverse of :func:`itk_to_volume_geometry`).

    The returned ``direction`` is an ``(n, n)`` matrix; pass ``direction.ravel()`` to
    ``SimpleITK.Image.SetDirection``.
    """
    # Reversing both axes is its own inverse.
    return itk_to_volume_geometry(spacing, origin, direction)


def nifti_affine_to_volume_geometry(affine: np.ndarray, *, ndim: int = 3) -> Geometry:
    """Convert a NIfTI (RAS) voxel-to-world affine to Volume geometry.

    Parameters
    ----------
    affine
        ``(4, 4)`` matrix mapping ``(i, j, k, 1)`` to ``(R, A, S, 1)`` in mm.
    ndim
        3 for a volume; 2 for an image whose two axes lie in the axial (L, P) plane, in which case
        only the in-plane part of the affine is kept.

    Returns
    -------
    Geometry
        In Volume conventions. Spacing is the length of each affine column; direction is each
        column divided by its length (a sheared affine gives a non-orthogonal direction).

    Raises
    ------
    InvalidInputError
        If the affine is not 4x4 and finite, or one of its columns has zero length.
    """
    a = np.asarray(affine, dtype=float)
    if a.shape != (4, 4) or not np.all(np.isfinite(a)):
        raise InvalidInputError(f"a NIfTI affine must be a finite 4x4 matrix, got shape {a.shape}")
    if ndim not in (2, 3):
        raise InvalidInputError(f"ndim must be 2 or 3, got {ndim}")
    m = a[:3, :3] * _RAS_LPS[:, None]
    t = a[:3, 3] * _RAS_LPS
    m, t = m[:ndim, :ndim], t[:ndim]
    sp = np.linalg.norm(m, axis=0)
    if not np.all(sp > 0):
        raise InvalidInputError(
            "the NIfTI affine has a zero-length voxel axis; fix the file's qform/sform or pixdim"
        )
    return itk_to_volume_geometry(sp, t, m / sp[None, :])


def volume_geometry_to_nifti_affine(
    spacing: Sequence[float], origin: Sequence[float], direction: Sequence[float] | np.ndarray
) -> np.ndarray:
    """Convert Volume geometry (2-D or 3-D) to a NIfTI (RAS) ``(4, 4)`` voxel-to-world affine.

    A 2-D grid is placed in the axial plane with a 1 mm third axis along S.
    """
    sp, org, d = _as_geometry(spacing, origin, direction)
    g = volume_to_itk_geometry(sp, org, d)
    nd = sp.size
    if nd not in (2, 3):
        raise InvalidInputError(f"a NIfTI affine describes 2 or 3 spatial axes, got {nd}")
    m = np.eye(3)
    m[:nd, :nd] = g.direction * np.asarray(g.spacing)[None, :]
    t = np.zeros(3)
    t[:nd] = g.origin
    out = np.eye(4)
    out[:3, :3] = m * _RAS_LPS[:, None]
    out[:3, 3] = t * _RAS_LPS
    return out


def nifti_affine_of(volume: Volume) -> np.ndarray:
    """The NIfTI (RAS, ``(i, j, k)``) affine of ``volume``'s spatial grid."""
    return volume_geometry_to_nifti_affine(volume.spacing, volume.origin, volume.direction)


def dicom_slice_normal(orientation: Sequence[float]) -> np.ndarray:
    """Unit normal (LPS) of a slice with DICOM ImageOrientationPatient ``orientation``.

    Raises
    ------
    InvalidInputError
        If the orientation does not hold two non-parallel 3-vectors.
    """
    o = np.asarray(orientation, dtype=float).ravel()
    if o.size != 6 or not np.all(np.isfinite(o)):
        raise InvalidInputError(f"ImageOrientationPatient needs 6 finite numbers, got {list(o)}")
    n = np.cross(o[:3], o[3:])
    norm = np.linalg.norm(n)
    if norm < 1e-6:
        raise InvalidInputError(f"ImageOrientationPatient {list(o)} has parallel row and column vectors")
    return n / norm


def dicom_to_volume_geometry(
    *,
    orientation: Sequence[float],
    position: Sequence[float],
    pixel_spacing: Sequence[float],
    slice_spacing: float,
) -> Geometry:
    """Volume geometry of a stack of DICOM slices sorted along the slice normal.

    Parameters
    ----------
    orientation
        ImageOrientationPatient: row direction (along increasing column index) then column
        direction (along increasing row index), LPS.
    position
        ImagePositionPatient of the first slice (the centre of its first pixel), LPS mm.
    pixel_spacing
        PixelSpacing: ``(distance between rows, distance between columns)`` in mm.
    slice_spacing
        Distance between consecutive slices along the normal, mm (positive).

    Returns
    -------
    Geometry
        For data stacked as ``(slice, row, column)``.
    """
    o = np.asarray(orientation, dtype=float).ravel()
    n = dicom_slice_normal(o)
    ps = np.asarray(pixel_spacing, dtype=float).ravel()
    if ps.size != 2 or not np.all(ps > 0):
        raise InvalidInputError(f"PixelSpacing needs 2 positive numbers, got {list(ps)}")
    if not (np.isfinite(slice_spacing) and slice_spacing > 0):
        raise InvalidInputError(f"slice spacing must be positive, got {slice_spacing}")
    row = o[:3] / np.linalg.norm(o[:3])
    col = o[3:] / np.linalg.norm(o[3:])
    d_itk = np.column_stack([row, col, n])
    return itk_to_volume_geometry((ps[1], ps[0], float(slice_spacing)), position, d_itk)
