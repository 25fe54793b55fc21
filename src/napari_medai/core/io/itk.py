"""NRRD (``.nrrd``, ``.nhdr``) and MetaImage (``.mha``, ``.mhd``) with SimpleITK.

A 4-D scalar ITK image opens as time points (the usual meaning of ITK's 4th axis, e.g. 4-D CT);
a multi-component (vector) image opens as channels. Writing follows the same rule.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImageReadError, ImageWriteError
from ..volume import Volume
from ._common import first_line
from .geometry import itk_to_volume_geometry, volume_to_itk_geometry
from .identity import without_patient_tags

__all__ = ["read_itk", "volume_to_sitk", "write_itk"]

_MET_MODALITY = {"MET_MOD_CT": "CT", "MET_MOD_MR": "MR", "MET_MOD_NM": "NM", "MET_MOD_US": "US", "MET_MOD_OTHER": "unknown"}


def read_itk(path: Path) -> Volume:
    """Read an NRRD or MetaImage file into a :class:`Volume`."""
    import SimpleITK as sitk

    reader = sitk.ImageFileReader()
    reader.SetFileName(str(path))
    try:
        reader.ReadImageInformation()
    except RuntimeError as exc:
        raise ImageReadError(
            path, f"is not a readable {path.suffix.lower()} image: {_itk_message(exc, path)}",
            "check that the file really is an NRRD/MetaImage file (and that a detached data file sits beside its header)",
        ) from exc
    keys = without_patient_tags({k: reader.GetMetaData(k) for k in reader.GetMetaDataKeys()})
    try:
        img = reader.Execute()
    except RuntimeError as exc:
        raise ImageReadError(
            path, f"is truncated or corrupted: the header is fine but the voxel data cannot be read ({_itk_message(exc, path)})",
            "the file (or its detached data file) is incomplete; copy or export it again",
        ) from exc
    data = sitk.GetArrayFromImage(img)
    dim = img.GetDimension()
    n_comp = img.GetNumberOfComponentsPerPixel()
    spacing, origin = img.GetSpacing(), img.GetOrigin()
    direction = np.asarray(img.GetDirection(), dtype=float).reshape(dim, dim)
    channel_axis: int | None = None
    kind = "channel"
    meta: dict[str, Any] = {"format": "itk", "itk": keys}
    if dim == 4:
        if n_comp != 1:
            raise ImageReadError(path, "is a 4-D image of vectors, which is not supported",
                                 "save one 4-D file per component")
        channel_axis, kind = 0, "time"
        meta["time_step"] = float(spacing[3])
        meta["time_unit"] = ""
        spacing, origin, direction = spacing[:3], origin[:3], direction[:3, :3]
    elif dim not in (2, 3):
        raise ImageReadError(path, f"has {dim} dimensions", "only 2-D, 3-D and 4-D images are supported")
    if n_comp > 1:
        data = np.moveaxis(data, -1, 0)  # (k, j, i, c) -> (c, k, j, i)
        channel_axis, kind = 0, "channel"
    geom = itk_to_volume_geometry(spacing, origin, direction)
    modality = _MET_MODALITY.get(keys.get("Modality", "").strip(), "unknown")
    return Volume(
        data=data,
        spacing=geom.spacing,
        origin=geom.origin,
        direction=geom.direction,
        channel_axis=channel_axis,
        channel_kind=kind,  # type: ignore[arg-type]
        modality=modality,
        units="HU" if modality == "CT" else "",
        meta=meta,
    )


def _itk_message(exc: RuntimeError, path: Path | None = None) -> str:
    """The informative part of an ITK exception (without source locations and object ids)."""
    lines = [ln.strip() for ln in str(exc).splitlines() if ln.strip()]
    keep = []
    for ln in lines:
        if ln.startswith("Exception thrown in SimpleITK") or re.match(r"^\S+\.(cxx|h|hxx):\d+:?$", ln):
            continue
        ln = re.sub(r"^(ITK ERROR|sitk::ERROR|itk::ERROR):\s*(\w+\(0x[0-9a-f]+\):\s*)?", "", ln)
        if ln.startswith("Reason: No such file") and path is not None and path.exists():
            continue  # a stale errno from ITK, misleading for a file that exists
        keep.append(ln)
    text = " ".join(keep)
    if "[nrrd]" in text:  # teem's error chain: the last link names the cause
        text = "[nrrd]" + text.rsplit("[nrrd]", 1)[1]
        keep = [text]
    return first_line(RuntimeError(" ".join(keep) if keep else type(exc).__name__))


def volume_to_sitk(volume: Volume) -> Any:
    """A ``SimpleITK.Image`` with ``volume``'s data and geometry (channels -> vector pixels,
    time -> a 4-D image)."""
    import SimpleITK as sitk

    data = volume.data
    if data.dtype.kind == "b":
        data = data.astype(np.uint8)
    elif data.dtype == np.float16:
        data = data.astype(np.float32)
    g = volume_to_itk_geometry(volume.spacing, volume.origin, volume.direction)
    spacing, origin, direction = list(g.spacing), list(g.origin), g.direction
    if volume.channel_axis is None:
        img = sitk.GetImageFromArray(data, isVector=False)
    elif volume.channel_kind == "time":
        if volume.ndim_spatial == 2:  # (t, j, i) -> (t, 1, j, i) with a 1 mm third axis
            data = data[:, None]
            spacing.append(1.0)
            origin.append(0.0)
            d3 = np.eye(3)
            d3[:2, :2] = direction
            direction = d3
        img = sitk.GetImageFromArray(data, isVector=False)
        step = float(volume.meta.get("time_step") or 1.0)
        spacing.append(step if step > 0 else 1.0)
        origin.append(0.0)
        d4 = np.eye(len(spacing))
        d4[: direction.shape[0], : direction.shape[1]] = direction
        direction = d4
    else:
        img = sitk.GetImageFromArray(np.moveaxis(data, 0, -1), isVector=True)
    img.SetSpacing(spacing)
    img.SetOrigin(origin)
    img.SetDirection(direction.ravel().tolist())
    return img


def write_itk(volume: Volume, path: Path, *, compress: bool = True) -> None:
    """Write ``volume`` as NRRD or MetaImage (chosen by ``path``'s extension)."""
    import SimpleITK as sitk

    if volume.data.dtype.kind not in "biuf":
        raise ImageWriteError(path, f"cannot store {volume.data.dtype} data in {path.suffix}",
                              "convert the data to an integer or float dtype")
    try:
        img = volume_to_sitk(volume)
    except RuntimeError as exc:
        raise ImageWriteError(path, f"SimpleITK refused the volume: {_itk_message(exc)}",
                              "check the volume's direction matrix is invertible") from exc
    writer = sitk.ImageFileWriter()
    writer.SetFileName(str(path))
    writer.SetUseCompression(bool(compress))
    try:
        writer.Execute(img)
    except RuntimeError as exc:
        raise ImageWriteError(path, f"SimpleITK could not write the image: {_itk_message(exc)}",
                              "check the disk space and the folder permissions") from exc
