"""NIfTI-1/2 (``.nii``, ``.nii.gz``) reading and writing with nibabel."""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImageReadError, ImageWriteError, InvalidInputError
from ..volume import Volume
from ._common import first_line, smallest_int_dtype
from .geometry import nifti_affine_to_volume_geometry, volume_geometry_to_nifti_affine

__all__ = ["read_nifti", "write_nifti"]

_SPATIAL_TO_MM = {"mm": 1.0, "meter": 1000.0, "micron": 0.001, "unknown": 1.0}
_TIME_UNITS = ("sec", "msec", "usec")
# Intents whose 4th/5th dimension is a vector of components, never time.
_VECTOR_INTENTS = ("vector", "rgb vector", "rgba vector", "symmetric matrix", "general matrix",
                   "displacement vector", "point set", "triangle", "quaternion", "dimensionless")
_NIFTI1_MAX_DIM = 32767


def _header_facts(img: Any) -> dict[str, Any]:
    hdr = img.header
    space_unit, time_unit = hdr.get_xyzt_units()
    intent_name, intent_params, intent_label = hdr.get_intent()
    descrip = hdr["descrip"].item()
    if isinstance(descrip, bytes):
        descrip = descrip.decode("latin-1", errors="replace").rstrip("\x00")
    zooms = hdr["pixdim"]
    return {
        "version": 2 if type(img).__name__ == "Nifti2Image" else 1,
        "qform_code": int(hdr["qform_code"]),
        "sform_code": int(hdr["sform_code"]),
        "xyzt_units": (space_unit, time_unit),
        "intent": intent_name,
        "intent_params": tuple(float(p) for p in intent_params),
        "intent_name": intent_label,
        "descrip": descrip,
        "time_step": float(zooms[4]) if len(zooms) > 4 else 0.0,
        "toffset": float(hdr["toffset"]),
        "datatype": str(hdr.get_data_dtype()),
        "scl_slope": float(img.dataobj.slope),
        "scl_inter": float(img.dataobj.inter),
    }


def _is_axial_plane(affine: np.ndarray) -> bool:
    """True when the first two voxel axes of a (RAS) affine have no S component."""
    return bool(np.all(np.abs(affine[2, :2]) < 1e-6 * max(1.0, float(np.abs(affine[:3, :2]).max()))))


def read_nifti(path: Path) -> Volume:
    """Read a NIfTI file into a :class:`Volume` (see :func:`napari_medai.core.io.read_volume`)."""
    import nibabel as nib
    from nibabel.filebasedimages import ImageFileError
    from nibabel.spatialimages import HeaderDataError

    lib_errors = (ImageFileError, HeaderDataError, OSError, EOFError, ValueError, zlib.error, TypeError)
    try:
        img = nib.load(str(path), mmap=False)
    except lib_errors as exc:
        text = first_line(exc)
        if "not a gzip file" in text.lower():
            problem = "is named .gz but is not gzip-compressed (not a NIfTI image)"
        else:
            problem = "is not a readable NIfTI image (its header is not a NIfTI-1/2 header)"
        raise ImageReadError(
            path, f"{problem}: {text}",
            "check that the file really is a NIfTI image; re-export or download it again",
        ) from exc
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise ImageReadError(
            path, f"opened as {type(img).__name__}, not as a NIfTI image",
            "save it as NIfTI (.nii/.nii.gz) or use the extension of its real format",
        )
    try:
        data = np.asanyarray(img.dataobj)
    except (OSError, EOFError, ValueError, zlib.error) as exc:
        raise ImageReadError(
            path, f"is truncated or corrupted: the header is fine but the voxel data cannot be read ({first_line(exc)})",
            "the file is incomplete (interrupted download or copy?); copy or export it again",
        ) from exc
    facts = _header_facts(img)
    space_unit, time_unit = facts["xyzt_units"]
    to_mm = _SPATIAL_TO_MM.get(space_unit, 1.0)
    affine = np.array(img.affine, dtype=float)
    affine[:3, :] *= to_mm

    shape = data.shape
    channel_axis: int | None = None
    kind = "channel"
    if data.ndim == 5:
        if shape[3] == 1:
            data = data[:, :, :, 0, :]
        elif shape[4] == 1:
            data = data[..., 0]
        else:
            raise ImageReadError(
                path, f"has 5-D shape {shape} (both time and components), which is not supported",
                "split it into one 4-D file per component",
            )
    if data.ndim == 4:
        if data.shape[3] == 1:
            data = data[..., 0]
        else:
            channel_axis = 0
            is_time = (
                time_unit in _TIME_UNITS
                and facts["time_step"] > 0
                and facts["intent"] not in _VECTOR_INTENTS
                and shape == data.shape  # a 5-D vector image holds components, never time
            )
            kind = "time" if is_time else "channel"
    if data.ndim > 5 or data.ndim < 2:
        raise ImageReadError(path, f"has {data.ndim}-D shape {shape}", "only 2-D to 5-D NIfTI images are supported")

    n_spatial = data.ndim - (1 if channel_axis is not None else 0)
    # nibabel returns (i, j, k[, c]) in Fortran order: the transpose is a C-ordered view in
    # Volume's array order, no copy.
    arr = data.T
    if n_spatial == 2 and not _is_axial_plane(affine):
        arr = arr[None]  # keep the full 3-D geometry of a non-axial single slice
        n_spatial = 3
    try:
        geom = nifti_affine_to_volume_geometry(affine, ndim=n_spatial)
    except InvalidInputError as exc:
        raise ImageReadError(path, f"has an unusable voxel-to-world affine: {exc}", "fix the qform/sform in the header") from exc
    meta: dict[str, Any] = {"format": "nifti", "nifti": facts}
    if kind == "time":
        meta["time_step"] = facts["time_step"]
        meta["time_unit"] = time_unit
    return Volume(
        data=arr,
        spacing=geom.spacing,
        origin=geom.origin,
        direction=geom.direction,
        channel_axis=channel_axis,
        channel_kind=kind,  # type: ignore[arg-type]
        meta=meta,
    )


def _nifti_data(volume: Volume, path: Path) -> np.ndarray:
    data = volume.data
    kind = data.dtype.kind
    if kind == "b":
        return data.astype(np.uint8)
    if data.dtype == np.float16:
        return data.astype(np.float32)
    if kind in "iu" and data.dtype.itemsize == 8 and data.size:
        # nibabel refuses 64-bit integers by default; most readers do not support them either.
        dt = smallest_int_dtype(int(data.min()), int(data.max()))
        return data.astype(dt) if dt.itemsize < 8 else data
    if kind not in "iufc":
        raise ImageWriteError(path, f"cannot store {data.dtype} data in NIfTI", "convert the data to a numeric dtype")
    return data


def write_nifti(volume: Volume, path: Path) -> None:
    """Write ``volume`` to ``path`` (``.nii`` or ``.nii.gz``) keeping its geometry and header facts.

    The qform and sform both hold the volume's affine. Their codes are taken from
    ``volume.meta["nifti"]`` when the volume came from a NIfTI file; a code of 0 (unknown) is
    replaced by the other form's code, or by 1 (scanner), so every reader finds the same geometry.
    """
    import nibabel as nib
    from nibabel.spatialimages import HeaderDataError

    facts: dict[str, Any] = dict(volume.meta.get("nifti") or {})
    data = _nifti_data(volume, path)
    affine = volume_geometry_to_nifti_affine(volume.spacing, volume.origin, volume.direction)
    arr = data.T  # Volume array order -> (i, j, k[, c]); a Fortran-ordered view, no copy
    if volume.channel_axis is not None and volume.ndim_spatial == 2:
        arr = arr[:, :, None, :]  # (i, j, c) -> (i, j, 1, c): the 4th NIfTI axis holds channels/time
    cls = nib.Nifti2Image if max(arr.shape) > _NIFTI1_MAX_DIM else nib.Nifti1Image
    img = cls(arr, affine)
    hdr = img.header
    hdr.set_data_dtype(arr.dtype)
    q = int(facts.get("qform_code", 0) or 0)
    s = int(facts.get("sform_code", 0) or 0)
    q = q or s or 1
    s = s or q
    hdr.set_qform(affine, code=q)
    hdr.set_sform(affine, code=s)
    time_unit = "unknown"
    if volume.channel_axis is not None and volume.channel_kind == "time":
        time_unit = str(volume.meta.get("time_unit") or facts.get("xyzt_units", ("mm", "sec"))[1])
        if time_unit not in _TIME_UNITS:
            time_unit = "sec"
        step = float(volume.meta.get("time_step") or facts.get("time_step") or 1.0)
        zooms = list(hdr.get_zooms())
        zooms[3] = step if step > 0 else 1.0
        hdr.set_zooms(zooms)
    elif volume.channel_axis is not None:
        zooms = list(hdr.get_zooms())
        zooms[3] = 0.0  # no time step: a reader sees components, not time points
        hdr.set_zooms(zooms)
    hdr.set_xyzt_units("mm", time_unit)
    if volume.is_label and volume.channel_axis is None:
        hdr.set_intent("label", (), name="")
    elif facts.get("intent") and facts.get("intent") != "none":
        try:
            hdr.set_intent(facts["intent"], facts.get("intent_params", ()), name=facts.get("intent_name", ""))
        except (KeyError, ValueError, TypeError):
            hdr.set_intent("none", (), name="")
    descrip = str(facts.get("descrip") or "")
    if descrip:
        hdr["descrip"] = descrip.encode("latin-1", errors="replace")[:79]
    if data.dtype.kind in "iu":
        hdr.set_slope_inter(1.0, 0.0)
    try:
        img.to_filename(str(path))
    except (OSError, ValueError, TypeError, HeaderDataError) as exc:
        raise ImageWriteError(path, f"nibabel could not write the image: {first_line(exc)}",
                              "check the disk space and the folder permissions") from exc
