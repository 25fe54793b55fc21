"""DICOM: a series given as a folder, or a single (possibly multi-frame) file, with pydicom.

Slices are ordered by their ImagePositionPatient projected on the slice normal (never by file
name); RescaleSlope/RescaleIntercept are applied, so CT comes out in Hounsfield units.
Compressed transfer syntaxes (JPEG 2000, JPEG, RLE, ...) are decoded by pydicom's plugins
(``pylibjpeg`` + ``pylibjpeg-openjpeg`` for JPEG 2000).
"""

from __future__ import annotations

import os
import struct
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ImageReadError, InvalidInputError
from ..volume import Volume
from ._common import first_line
from .geometry import dicom_slice_normal, dicom_to_volume_geometry
from .identity import series_description
from .names import image_files_below, is_bids_folder, is_dicom_file

__all__ = ["PROJECTION_MODALITIES", "is_projection_radiograph", "list_dicom_series", "read_dicom_file", "read_dicom_series"]

#: A gap between consecutive slices larger than this times the median spacing is a missing slice.
GAP_FACTOR = 1.5
_DUPLICATE_MM = 1e-3
_ORIENTATION_TOL = 1e-3
_DECODE_FIX = (
    "install the decoders: pip install pylibjpeg pylibjpeg-openjpeg pylibjpeg-libjpeg "
    "(or python-gdcm), or convert the series to uncompressed DICOM"
)


@dataclass
class _Slice:
    """One 2-D image of a series: a single-frame file, or one frame of a multi-frame file."""

    path: str
    ds: Any
    frame: int | None
    position: np.ndarray | None
    orientation: np.ndarray | None
    pixel_spacing: tuple[float, float] | None
    slope: float
    intercept: float
    instance: int
    shape: tuple[int, ...]


def _read_errors() -> tuple[type[BaseException], ...]:
    from pydicom.errors import InvalidDicomError

    return (InvalidDicomError, OSError, EOFError, ValueError, KeyError, struct.error, TypeError)


def _dcmread(path: str, *, stop_before_pixels: bool = False, force: bool = False) -> Any:
    import pydicom

    try:
        return pydicom.dcmread(path, stop_before_pixels=stop_before_pixels, force=force)
    except _read_errors() as exc:
        raise ImageReadError(
            path, f"is not a readable DICOM file: {first_line(exc)}",
            "the file is damaged or incomplete; copy or export it again (or remove it from the folder)",
        ) from exc


def _floats(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    try:
        arr = np.asarray([float(v) for v in value], dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if np.all(np.isfinite(arr)) else None


def _num(value: Any, default: float) -> float:
    """A finite float from a DICOM value (the first of a multi-value), else ``default``."""
    if value is None or value == "":
        return default
    if not isinstance(value, (str, bytes, int, float)) and hasattr(value, "__getitem__"):
        if len(value) == 0:
            return default
        value = value[0]
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if np.isfinite(out) else default


def _group_value(groups: Any, seq: str, attr: str) -> Any:
    if groups is None or seq not in groups:
        return None
    items = groups[seq].value
    if not items:
        return None
    item = items[0]
    return item[attr].value if attr in item else None


def _slices_of(ds: Any, path: str) -> list[_Slice]:
    """The 2-D images held by one dataset (several for a multi-frame file)."""
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    spp = int(ds.get("SamplesPerPixel", 1) or 1)
    shape = (rows, cols) if spp == 1 else (rows, cols, spp)
    n_frames = int(_num(ds.get("NumberOfFrames"), 1))
    instance = int(_num(ds.get("InstanceNumber"), 0))
    top_ps = _floats(ds.get("PixelSpacing")) if "PixelSpacing" in ds else _floats(ds.get("ImagerPixelSpacing"))
    top = {
        "position": _floats(ds.get("ImagePositionPatient")),
        "orientation": _floats(ds.get("ImageOrientationPatient")),
        "pixel_spacing": top_ps,
        "slope": _num(ds.get("RescaleSlope"), 1.0),
        "intercept": _num(ds.get("RescaleIntercept"), 0.0),
    }
    if n_frames <= 1:
        ps = top["pixel_spacing"]
        return [_Slice(path, ds, None, top["position"], top["orientation"],
                       None if ps is None or ps.size != 2 else (float(ps[0]), float(ps[1])),
                       top["slope"], top["intercept"], instance, shape)]
    shared = ds.SharedFunctionalGroupsSequence[0] if "SharedFunctionalGroupsSequence" in ds else None
    per_frame = ds.PerFrameFunctionalGroupsSequence if "PerFrameFunctionalGroupsSequence" in ds else None
    out = []
    step = _num(ds.get("SpacingBetweenSlices"), 0.0)
    for f in range(n_frames):
        own = per_frame[f] if per_frame is not None and f < len(per_frame) else None

        def pick(seq: str, attr: str, own: Any = own) -> Any:
            v = _group_value(own, seq, attr)
            return v if v is not None else _group_value(shared, seq, attr)

        pos = _floats(pick("PlanePositionSequence", "ImagePositionPatient"))
        ori = _floats(pick("PlaneOrientationSequence", "ImageOrientationPatient"))
        ps = _floats(pick("PixelMeasuresSequence", "PixelSpacing"))
        if pos is None and top["position"] is not None and top["orientation"] is not None and step > 0:
            pos = top["position"] + f * step * dicom_slice_normal(top["orientation"])
        ori = ori if ori is not None else top["orientation"]
        ps = ps if ps is not None else top["pixel_spacing"]
        slope = _num(pick("PixelValueTransformationSequence", "RescaleSlope"), top["slope"])
        inter = _num(pick("PixelValueTransformationSequence", "RescaleIntercept"), top["intercept"])
        out.append(_Slice(path, ds, f, pos, ori,
                          None if ps is None or ps.size != 2 else (float(ps[0]), float(ps[1])),
                          slope, inter, f, shape))
    return out


def _native_pixels(ds: Any) -> np.ndarray | None:
    """Pixels of an uncompressed little-endian single-frame grey image without pydicom's decoder
    (a plain view of the bytes), or None when the fast path does not apply."""
    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts is None or ts.is_compressed or not ts.is_little_endian:
        return None
    bits, stored = int(ds.get("BitsAllocated", 0) or 0), int(ds.get("BitsStored", 0) or 0)
    if (
        int(ds.get("SamplesPerPixel", 1) or 1) != 1
        or int(_num(ds.get("NumberOfFrames"), 1)) != 1
        or bits not in (8, 16, 32)
        or stored != bits
        or "PixelData" not in ds
    ):
        return None
    rows, cols = int(ds.Rows), int(ds.Columns)
    dt = np.dtype(f"<{'i' if int(ds.get('PixelRepresentation', 0) or 0) else 'u'}{bits // 8}")
    raw = ds.PixelData
    if len(raw) < rows * cols * dt.itemsize:
        return None
    return np.frombuffer(raw, dtype=dt, count=rows * cols).reshape(rows, cols)


def _decode(ds: Any, path: str) -> np.ndarray:
    fast = _native_pixels(ds)
    if fast is not None:
        return fast
    try:
        return ds.pixel_array
    except (RuntimeError, NotImplementedError, ValueError, AttributeError, TypeError, KeyError, OSError, EOFError) as exc:
        ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        tsname = getattr(ts, "name", str(ts)) if ts is not None else "unknown transfer syntax"
        if ts is not None and not ts.is_compressed:
            raise ImageReadError(
                path, f"pixel data cannot be read ({tsname}): {first_line(exc)}",
                "the file is damaged or incomplete; copy or export it again",
            ) from exc
        raise ImageReadError(
            path, f"pixel data ({tsname}) could not be decoded: {first_line(exc)}", _DECODE_FIX,
        ) from exc


def _median_spacing_checks(dist: np.ndarray, where: str) -> float:
    """Check sorted slice positions ``dist`` (mm along the normal); return the slice spacing."""
    diffs = np.diff(dist)
    dup = np.flatnonzero(diffs < _DUPLICATE_MM)
    if dup.size:
        raise ImageReadError(
            where,
            f"has {dup.size} slice(s) at the same position as another slice "
            f"(e.g. at {dist[dup[0]]:.4g} mm along the slice normal); the series mixes several "
            "acquisitions, echoes or phases",
            "export each acquisition as its own series/folder",
        )
    med = float(np.median(diffs))
    gaps = np.flatnonzero(diffs > GAP_FACTOR * med)
    if gaps.size:
        g = int(gaps[0])
        missing = int(sum(round(diffs[i] / med) - 1 for i in gaps))
        raise ImageReadError(
            where,
            f"has {gaps.size} gap(s) in its slice positions: slices are {med:.4g} mm apart but jump "
            f"{diffs[g]:.4g} mm between {dist[g]:.4g} and {dist[g + 1]:.4g} mm along the slice normal "
            f"(about {max(missing, 1)} slice(s) missing of {dist.size + max(missing, 1)})",
            "the series is incomplete; copy or export all of its slices",
        )
    return float((dist[-1] - dist[0]) / (dist.size - 1))


def _assemble(slices: list[_Slice], *, where: str, name: str, source: str, extra_meta: dict[str, Any]) -> Volume:
    n = len(slices)
    shapes = Counter(s.shape for s in slices)
    if len(shapes) > 1:
        listing = ", ".join(f"{c} of {'x'.join(map(str, sh))}" for sh, c in shapes.most_common())
        raise ImageReadError(
            where, f"slices have different sizes ({listing}), so they do not form one volume",
            "the folder mixes images (e.g. a localizer or a derived series); point at a folder holding one series",
        )
    geometric = all(s.position is not None and s.orientation is not None and s.orientation.size == 6 for s in slices)
    ps0 = next((s.pixel_spacing for s in slices if s.pixel_spacing is not None), None)
    pixel_spacing = ps0 or (1.0, 1.0)
    if any(s.pixel_spacing is not None and not np.allclose(s.pixel_spacing, pixel_spacing, atol=1e-4) for s in slices):
        raise ImageReadError(where, "slices have different pixel spacings", "point at a folder holding one series")
    first = slices[0].ds
    geometry_note = "position"
    if geometric:
        ori0 = np.asarray(slices[0].orientation)
        bad = [s for s in slices if not np.allclose(s.orientation, ori0, atol=_ORIENTATION_TOL)]
        if bad:
            raise ImageReadError(
                where,
                f"{len(bad)} of {n} slices have another orientation than the first one "
                "(a localizer or a reformatted series mixed in?)",
                "point at a folder holding one series with one orientation",
            )
        try:
            normal = dicom_slice_normal(ori0)
        except InvalidInputError as exc:
            raise ImageReadError(where, f"has an unusable ImageOrientationPatient: {exc}", None) from exc
        dist = np.array([float(np.dot(s.position, normal)) for s in slices])  # type: ignore[arg-type]
        order = np.argsort(dist, kind="stable")
        dist = dist[order]
        if n > 1:
            step = _median_spacing_checks(dist, where)
        else:
            step = _num(first.get("SpacingBetweenSlices"), 0.0) or _num(first.get("SliceThickness"), 0.0) or 1.0
        slices = [slices[i] for i in order]
        geom = dicom_to_volume_geometry(
            orientation=ori0, position=slices[0].position,  # type: ignore[arg-type]
            pixel_spacing=pixel_spacing, slice_spacing=step,
        )
        spacing, origin, direction = geom.spacing, geom.origin, geom.direction
    else:
        geometry_note = "instance-number (no ImagePositionPatient/ImageOrientationPatient)"
        slices = sorted(slices, key=lambda s: s.instance)
        step = _num(first.get("SpacingBetweenSlices"), 0.0) or _num(first.get("SliceThickness"), 0.0) or 1.0
        spacing = (step, pixel_spacing[0], pixel_spacing[1])
        origin, direction = None, None

    data = _decode_compressed_series(slices)
    if data is None:
        data = _decode_slices(slices, n=n, where=where)
    channel_axis = None
    if data.ndim == 4:  # colour samples last -> channels first
        data = np.moveaxis(data, -1, 0)
        channel_axis = 0

    modality = str(first.get("Modality", "") or "unknown")
    rescale_type = str(first.get("RescaleType", "") or "")
    if modality == "CT" and rescale_type in ("", "HU"):
        units = "HU"
    else:
        units = rescale_type if rescale_type not in ("", "US") else ""
    meta = {
        "format": "dicom",
        "dicom": {
            "SeriesInstanceUID": str(first.get("SeriesInstanceUID", "")),
            "StudyInstanceUID": str(first.get("StudyInstanceUID", "")),
            "SeriesDescription": series_description(first),
            "Modality": modality,
            "Manufacturer": str(first.get("Manufacturer", "")),
            "SliceThickness": _num(first.get("SliceThickness"), 0.0),
            "WindowCenter": _num(first.get("WindowCenter"), float("nan")),
            "WindowWidth": _num(first.get("WindowWidth"), float("nan")),
            "TransferSyntaxUID": str(first.file_meta.get("TransferSyntaxUID", "")) if hasattr(first, "file_meta") else "",
            "PhotometricInterpretation": str(first.get("PhotometricInterpretation", "")),
            "sorted_by": geometry_note,
            "n_slices": n,
            "files": [os.path.basename(s.path) for s in slices if s.frame in (None, 0)],
            **extra_meta,
        },
    }
    return Volume(
        data=data, spacing=spacing, origin=origin, direction=direction, channel_axis=channel_axis,
        modality=modality, units=units, name=name, source=source, meta=meta,
    )



def _decode_slices(slices: list[_Slice], *, n: int, where: str) -> np.ndarray:
    """Decode every slice with pydicom (once per file) into one stack, then rescale."""
    # Pixels: each file is decoded once, straight into one preallocated stack.
    cache: dict[int, np.ndarray] = {}
    stack: np.ndarray | None = None
    for idx, s in enumerate(slices):
        if s.frame is None:
            img = _decode(s.ds, s.path)
        else:
            key = id(s.ds)
            if key not in cache:
                cache = {key: _decode(s.ds, s.path)}
            img = cache[key][s.frame]
        if stack is None:
            stack = np.empty((n, *img.shape), dtype=img.dtype)
        if img.shape != stack.shape[1:]:
            raise ImageReadError(s.path, f"decoded to shape {img.shape}, not {stack.shape[1:]}",
                                 "point at a folder holding one series")
        stack[idx] = img
    if stack is None:  # pragma: no cover - callers never pass an empty list
        raise ImageReadError(where, "holds no slices", None)
    data = _rescale(stack, np.array([s.slope for s in slices]), np.array([s.intercept for s in slices]))
    return data



def _decode_compressed_series(slices: list[_Slice]) -> np.ndarray | None:
    """Compressed single-frame grey series: decode with SimpleITK/GDCM, which decodes on several
    threads (pylibjpeg holds the GIL). Files are passed in our sorted order; SimpleITK applies the
    rescale. Returns None (the pydicom path is used) whenever this fast path does not apply."""
    first = slices[0].ds
    meta = getattr(first, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if (
        ts is None
        or not ts.is_compressed
        or len(slices) < 2
        or any(s.frame is not None or len(s.shape) != 2 for s in slices)
        or len({(s.slope, s.intercept) for s in slices}) != 1
        or int(first.get("BitsAllocated", 0) or 0) not in (8, 16)
    ):
        return None
    try:
        import SimpleITK as sitk
    except ImportError:  # pragma: no cover - SimpleITK is a dependency
        return None
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames([s.path for s in slices])
    try:
        arr = sitk.GetArrayFromImage(reader.Execute())
    except RuntimeError:
        return None
    if arr.shape != (len(slices), *slices[0].shape):
        return None
    slope, intercept = slices[0].slope, slices[0].intercept
    if slope == 1.0 and intercept == round(intercept):
        lo, hi = float(arr.min()), float(arr.max())
        for dt in (np.int16, np.int32):
            if np.iinfo(dt).min <= lo and hi <= np.iinfo(dt).max:
                return arr.astype(dt, copy=False)
    return arr.astype(np.float32, copy=False)


def _rescale(stack: np.ndarray, slopes: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """Apply per-slice RescaleSlope/Intercept; integer output when both are whole numbers."""
    if np.all(slopes == 1.0) and np.all(intercepts == 0.0):
        return stack
    expand = (slice(None),) + (None,) * (stack.ndim - 1)
    if np.all(slopes == 1.0) and np.all(intercepts == np.round(intercepts)) and stack.dtype.kind in "iu":
        lo = float(stack.min()) + float(intercepts.min())
        hi = float(stack.max()) + float(intercepts.max())
        for dt in (np.int16, np.int32, np.int64):
            info = np.iinfo(dt)
            if info.min <= lo and hi <= info.max:
                out = stack.astype(dt)
                if np.all(intercepts == intercepts[0]):
                    out += dt(intercepts[0])
                else:
                    out += intercepts.astype(dt)[expand]
                return out
    out = stack.astype(np.float32)
    out *= slopes.astype(np.float32)[expand]
    out += intercepts.astype(np.float32)[expand]
    return out


def _scan_folder(folder: Path) -> tuple[list[Path], int]:
    files = sorted(p for p in folder.iterdir() if p.is_file())
    return [p for p in files if is_dicom_file(p)], len(files)


def _check_folder(folder: str | os.PathLike[str]) -> Path:
    p = Path(folder).expanduser()
    if not p.exists():
        raise ImageReadError(p, "does not exist", "check the path (a DICOM series is read from its folder)")
    if not p.is_dir():
        raise ImageReadError(p, "is a file, not a folder", "use read_dicom_file() or read_volume() for a single file")
    return p


def _no_dicom_error(folder: Path, n_files: int) -> ImageReadError:
    images = image_files_below(folder)
    examples = ", ".join(str(f.relative_to(folder)) for f in images)
    if is_bids_folder(folder):
        fix = (f"this is a BIDS folder; open the NIfTI files inside it, e.g. {examples}" if images
               else "this is a BIDS folder; open the NIfTI files inside its sub-*/ses-* folders one by one")
        return ImageReadError(folder, "holds no DICOM files", fix)
    sub = [d for d in sorted(folder.iterdir()) if d.is_dir() and any(is_dicom_file(f) for f in list(d.iterdir())[:32] if f.is_file())]
    if sub:
        fix = f"point at a subfolder that holds DICOM files, e.g. {sub[0]}"
    elif images:
        fix = f"it holds image files, which open one by one, e.g. {examples}"
    else:
        fix = "point at a folder of DICOM files (with the DICM marker), or at a single image file"
    return ImageReadError(folder, f"holds no DICOM files ({n_files} files checked)", fix)


def _describe_series(uid: str, items: list[tuple[str, Any]]) -> str:
    ds = items[0][1]
    desc = series_description(ds)
    mod = str(ds.get("Modality", "") or "")
    return f"{uid or '<no SeriesInstanceUID>'} ({len(items)} files{', ' + mod if mod else ''}{', ' + repr(desc) if desc else ''})"


def _sop_class(ds: Any) -> str:
    meta = getattr(ds, "file_meta", None)
    value = meta.get("MediaStorageSOPClassUID") if meta is not None else None
    return str(value or ds.get("SOPClassUID", "") or "")


def _check_damaged(items: list[tuple[str, Any]], without_pixels: list[tuple[str, Any]], uid: str) -> None:
    """A file of the series that lacks its pixel data is damaged (pydicom stops silently at the end
    of a truncated file): refuse rather than return a volume with a slice missing."""
    sop = _sop_class(items[0][1])
    for path, ds in without_pixels:
        same_series = str(ds.get("SeriesInstanceUID", "") or "") == uid and uid != ""
        looks_like_image = "Rows" in ds or (sop != "" and _sop_class(ds) == sop and "SeriesInstanceUID" not in ds)
        if same_series or looks_like_image:
            raise ImageReadError(
                path, "is damaged or incomplete: it belongs to the series but holds no pixel data",
                "copy or export the file again (or remove it to read the other slices)",
            )


def read_dicom_series(folder: str | os.PathLike[str], *, series_uid: str | None = None) -> Volume:
    """Read the DICOM series stored in ``folder`` as one :class:`Volume`.

    Parameters
    ----------
    folder
        Folder holding the series' files (any names; files are recognised by the DICOM marker).
        Sub-folders are not searched.
    series_uid
        SeriesInstanceUID to read when the folder holds several series.

    Returns
    -------
    Volume
        Slices sorted by position along the slice normal, RescaleSlope/Intercept applied (CT in
        HU, ``units="HU"``), geometry from ImagePositionPatient / ImageOrientationPatient /
        PixelSpacing. ``meta["dicom"]`` keeps series facts (UIDs, description, window, files).

    Raises
    ------
    ImageReadError
        For a missing folder, a folder without DICOM files, several series without
        ``series_uid``, missing or duplicated slices, inconsistent slice sizes or orientations,
        and pixel data that cannot be decoded.
    """
    p = _check_folder(folder)
    paths, n_files = _scan_folder(p)
    if not paths:
        raise _no_dicom_error(p, n_files)
    groups: dict[str, list[tuple[str, Any]]] = defaultdict(list)
    without_pixels: list[tuple[str, Any]] = []
    for path in paths:
        ds = _dcmread(str(path))
        if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
            without_pixels.append((str(path), ds))
            continue
        groups[str(ds.get("SeriesInstanceUID", "") or "")].append((str(path), ds))
    if not groups:
        raise ImageReadError(
            p, f"holds {len(paths)} DICOM files but none of them holds an image (reports, DICOMDIR, ...)",
            "point at the folder holding the image files",
        )
    if series_uid is not None:
        if series_uid not in groups:
            listing = "; ".join(_describe_series(u, it) for u, it in groups.items())
            raise ImageReadError(p, f"holds no series {series_uid!r}", f"choose one of: {listing}")
        uid = series_uid
    elif len(groups) > 1:
        listing = "; ".join(_describe_series(u, it) for u, it in sorted(groups.items(), key=lambda kv: -len(kv[1])))
        raise ImageReadError(
            p,
            f"holds {len(groups)} DICOM series: {listing}",
            "point at a folder holding one series, or choose one with read_dicom_series(folder, series_uid=...)",
        )
    else:
        uid = next(iter(groups))
    items = groups[uid]
    _check_damaged(items, without_pixels, uid)
    slices: list[_Slice] = []
    for path, ds in items:
        slices.extend(_slices_of(ds, path))
    first = items[0][1]
    name = series_description(first) or p.name
    return _assemble(
        slices, where=str(p), name=name, source=str(p.resolve()),
        extra_meta={"n_files": len(items), "n_series_in_folder": len(groups), "n_files_without_image": len(without_pixels)},
    )


def read_dicom_file(path: str | os.PathLike[str]) -> Volume:
    """Read one DICOM file (single- or multi-frame) as a 3-D :class:`Volume`, or a projection
    radiograph (CR / DX / MG ...: :func:`is_projection_radiograph`) as a 2-D one.

    A single-frame file gives one slice (shape ``(1, rows, columns)``) keeping its position and
    orientation; a multi-frame file gives its frames sorted along the slice normal.

    Raises
    ------
    ImageReadError
        When the file does not exist, is not DICOM, holds no image, or cannot be decoded.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ImageReadError(p, "does not exist" if not p.exists() else "is not a file",
                             "check the path, or use read_dicom_series() for a folder")
    marked = is_dicom_file(p)
    ds = _dcmread(str(p), force=not marked)
    if "PixelData" not in ds:
        if not marked:
            raise ImageReadError(p, "is not a DICOM file (no DICM marker and no image data)",
                                 "check the file really is DICOM, or use the extension of its real format")
        raise ImageReadError(p, "is not a DICOM image (it holds no pixel data: a DICOMDIR, report or presentation state?)",
                             "point at an image file or a folder holding the series")
    name = series_description(ds) or p.stem
    if is_projection_radiograph(ds):
        return _read_projection(ds, p, name=name)
    return _assemble(_slices_of(ds, str(p)), where=str(p), name=name, source=str(p.resolve()), extra_meta={"n_files": 1})


# ---------------------------------------------------------------------------------------------
# projection radiographs (CR, DX, MG, ...): one 2-D image
# ---------------------------------------------------------------------------------------------
#: Modalities of projection radiography: a single-frame file of these opens as a 2-D image.
PROJECTION_MODALITIES = frozenset({"CR", "DX", "MG", "RG", "IO", "PX", "RF", "XA"})
_PROJECTION_SOP_PREFIXES = (
    "1.2.840.10008.5.1.4.1.1.1",  # CR and the DX / MG / IO family (1.1.1, 1.1.1.1, 1.1.1.2, ...)
)


def is_projection_radiograph(ds: Any) -> bool:
    """True for a single-frame grey projection radiograph (CR / DX / MG / ...; by Modality or SOP class)."""
    if int(_num(ds.get("NumberOfFrames"), 1)) > 1 or int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        return False
    modality = str(ds.get("Modality", "") or "").upper()
    sop = str(ds.get("SOPClassUID", "") or "")
    sop_match = any(sop == x or sop.startswith(x + ".") for x in _PROJECTION_SOP_PREFIXES)
    return modality in PROJECTION_MODALITIES or sop_match


def _read_projection(ds: Any, p: Path, *, name: str) -> Volume:
    """A projection radiograph as a 2-D Volume: spacing from ``PixelSpacing`` (calibrated to the patient)
    or else ``ImagerPixelSpacing`` (at the detector), rescale applied, ``MONOCHROME1`` inverted so that
    dense tissue (bone) is bright. The window (``WindowCenter``/``WindowWidth``, mapped through the
    inversion) and any VOI LUT are kept in ``meta["dicom"]`` for display only; the data are never windowed.
    """
    img = np.asarray(_decode(ds, str(p)))
    if img.ndim != 2:
        raise ImageReadError(p, f"decoded to shape {img.shape}, not one 2-D radiograph",
                             "export the radiograph as a single-frame grey DICOM image")
    slope, intercept = _num(ds.get("RescaleSlope"), 1.0), _num(ds.get("RescaleIntercept"), 0.0)
    data = _rescale(img[None], np.array([slope]), np.array([intercept]))[0]
    photometric = str(ds.get("PhotometricInterpretation", "") or "").upper()
    bits = int(ds.get("BitsStored", 0) or ds.get("BitsAllocated", 16) or 16)
    signed = bool(int(ds.get("PixelRepresentation", 0) or 0))
    stored_lo, stored_hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2 ** bits - 1)
    lo, hi = sorted((stored_lo * slope + intercept, stored_hi * slope + intercept))
    center, width = _num(ds.get("WindowCenter"), float("nan")), _num(ds.get("WindowWidth"), float("nan"))
    inverted = photometric == "MONOCHROME1"
    if inverted:
        flipped = (lo + hi) - data.astype(np.float64)
        keep = data.dtype.kind in "iu" and float(lo + hi) == round(lo + hi)
        if keep and flipped.size:
            info = np.iinfo(data.dtype)
            keep = info.min <= flipped.min() and flipped.max() <= info.max
        data = flipped.astype(data.dtype if keep else np.float32)
        if np.isfinite(center):
            center = (lo + hi) - center
    spacing_source = "PixelSpacing" if "PixelSpacing" in ds else "ImagerPixelSpacing" if "ImagerPixelSpacing" in ds else None
    ps = _floats(ds.get(spacing_source)) if spacing_source else None
    if ps is None or ps.size != 2 or np.any(ps <= 0):
        ps, spacing_source = np.array([1.0, 1.0]), None
    voi = ds.get("VOILUTSequence")
    modality = str(ds.get("Modality", "") or "unknown")
    meta = {
        "format": "dicom",
        "spacing_known": spacing_source is not None,
        "dicom": {
            "SeriesInstanceUID": str(ds.get("SeriesInstanceUID", "")),
            "StudyInstanceUID": str(ds.get("StudyInstanceUID", "")),
            "SOPInstanceUID": str(ds.get("SOPInstanceUID", "")),
            "SeriesDescription": series_description(ds),
            "Modality": modality,
            "Manufacturer": str(ds.get("Manufacturer", "")),
            "ViewPosition": str(ds.get("ViewPosition", "") or ""),
            "Laterality": str(ds.get("ImageLaterality", "") or ds.get("Laterality", "") or ""),
            "WindowCenter": center,
            "WindowWidth": width,
            "VOILUT": bool(voi),
            "TransferSyntaxUID": str(ds.file_meta.get("TransferSyntaxUID", "")) if hasattr(ds, "file_meta") else "",
            "PhotometricInterpretation": photometric,
            "inverted": inverted,
            "pixel_spacing_source": spacing_source or "none (1 mm assumed)",
            "n_slices": 1,
            "files": [p.name],
            "n_files": 1,
        },
    }
    return Volume(data=np.array(data, order="C"), spacing=(float(ps[0]), float(ps[1])), modality=modality,
                  units="", name=name, source=str(p.resolve()), meta=meta)


def list_dicom_series(folder: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The image series in ``folder`` (headers only), largest first.

    Returns
    -------
    list of dict
        Each with ``series_uid``, ``n_files``, ``modality``, ``description``, ``rows``, ``columns``.
    """
    p = _check_folder(folder)
    paths, _ = _scan_folder(p)
    groups: dict[str, list[Any]] = defaultdict(list)
    for path in paths:
        ds = _dcmread(str(path), stop_before_pixels=True)
        if "Rows" not in ds:
            continue
        groups[str(ds.get("SeriesInstanceUID", "") or "")].append(ds)
    out = [
        {
            "series_uid": uid,
            "n_files": len(dss),
            "modality": str(dss[0].get("Modality", "") or ""),
            "description": series_description(dss[0]),
            "rows": int(dss[0].get("Rows", 0) or 0),
            "columns": int(dss[0].get("Columns", 0) or 0),
        }
        for uid, dss in groups.items()
    ]
    return sorted(out, key=lambda d: -d["n_files"])
