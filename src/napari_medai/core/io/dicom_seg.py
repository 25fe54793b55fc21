"""DICOM Segmentation (SEG) objects: a label map written back to PACS beside its source series, and read again.

Writing (:func:`write_dicom_seg`) uses highdicom: a BINARY Segmentation that references the source
series and every source instance, with its frame of reference, one segment per label value present,
each segment coded (SNOMED CT / DICOM codes from :data:`SEGMENT_CODES`, the one table of this
package, keyed by the label conventions of :mod:`napari_medai.core.metrics.conventions` plus ``cac``)
and carrying the algorithm identification (name, version, model). The label map must lie on the
series' own voxel grid (checked; a mismatch is a one-line error).

DICOM numbers segments 1, 2, 3, ... without gaps, whereas a label convention may skip values (BraTS
2021: 1, 2, 4). Each segment therefore records its label value in its Segment Description
(``"ET (label value 4, convention brats2021)"``), and :func:`read_dicom_seg` gives the label values
back, so a round trip returns the same label map.

Reading (:func:`read_dicom_seg`) returns a label :class:`~napari_medai.core.volume.Volume`: on the
source series' grid when the series is given (each SEG frame placed on the slice of the instance it
references), else on the SEG's own grid (the slab of slices that hold a segment, positioned in the
patient frame, so it overlays the series in napari).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import GeometryMismatchError, ImageReadError, ImageWriteError, InvalidInputError
from ..volume import Volume
from ._common import first_line
from .atomic import atomic_path, same_file
from .names import is_dicom_file

__all__ = [
    "SEG_SOP_CLASS_UID",
    "SEGMENT_CODES",
    "Algorithm",
    "Code",
    "SegmentCode",
    "is_dicom_seg",
    "read_dicom_seg",
    "segment_code",
    "series_datasets",
    "write_dicom_seg",
]

#: SOP Class UID of the Segmentation Storage IOD.
SEG_SOP_CLASS_UID = "1.2.840.10008.5.1.4.1.1.66.4"

AlgorithmType = Literal["AUTOMATIC", "SEMIAUTOMATIC", "MANUAL"]


@dataclass(frozen=True)
class Code:
    """A coded concept: ``value``, coding ``scheme`` (``SCT`` = SNOMED CT, ``DCM``) and ``meaning``."""

    value: str
    scheme: str
    meaning: str

    def concept(self) -> Any:
        """The highdicom ``CodedConcept``."""
        from highdicom.sr import CodedConcept

        return CodedConcept(value=self.value, scheme_designator=self.scheme, meaning=self.meaning)


@dataclass(frozen=True)
class SegmentCode:
    """How one label is coded in a SEG: property category and type, optionally an anatomic region."""

    category: Code
    type: Code
    region: Code | None = None


# Codes (from the DICOM content-mapping resource, as pydicom's code dictionary lists them).
_MORPH = Code("49755003", "SCT", "Morphologically Abnormal Structure")
_NECROSIS = SegmentCode(_MORPH, Code("6574001", "SCT", "Necrosis"))
_OEDEMA = SegmentCode(_MORPH, Code("79654002", "SCT", "Edema"))
_NEOPLASM = SegmentCode(_MORPH, Code("108369006", "SCT", "Neoplasm"))
_INFARCT = SegmentCode(_MORPH, Code("55641003", "SCT", "Infarct"))
_LESION = SegmentCode(_MORPH, Code("52988006", "SCT", "Lesion"))
_PLAQUE = Code("29483008", "SCT", "Calcified atheromatous plaque")
_CALCIFICATION = SegmentCode(_MORPH, Code("18115005", "SCT", "Pathologic calcification"))


def _plaque_in(region: Code) -> SegmentCode:
    return SegmentCode(_MORPH, _PLAQUE, region)


#: Segment codes by convention, then by label name. Conventions are those of
#: :data:`napari_medai.core.metrics.CONVENTIONS`, plus ``cac`` (artery codes of the calcium
#: assignment, :data:`napari_medai.core.tasks.cac.CODES`). Tumour labels that mix tissue kinds
#: (NCR/NET, NETC) are coded as necrosis; enhancing and non-enhancing tumour as neoplasm (their
#: segment labels say which).
SEGMENT_CODES: dict[str, dict[str, SegmentCode]] = {
    "binary": {"foreground": _LESION},
    "brats2013": {"necrosis": _NECROSIS, "oedema": _OEDEMA, "non-enhancing": _NEOPLASM, "enhancing": _NEOPLASM},
    "brats2021": {"NCR/NET": _NECROSIS, "ED": _OEDEMA, "ET": _NEOPLASM},
    "brats2023": {"NETC": _NECROSIS, "SNFH": _OEDEMA, "ET": _NEOPLASM},
    "msd": {"oedema": _OEDEMA, "non-enhancing": _NEOPLASM, "enhancing": _NEOPLASM},
    "isles": {"lesion": _INFARCT, "infarct": _INFARCT},
    "cac": {
        "LM": _plaque_in(Code("3227004", "SCT", "Left Main Coronary Artery")),
        "LAD": _plaque_in(Code("59438005", "SCT", "Anterior Descending Branch of Left Coronary Artery")),
        "LCX": _plaque_in(Code("57396003", "SCT", "Circumflex Coronary Artery")),
        "RCA": _plaque_in(Code("13647002", "SCT", "Right Coronary Artery")),
        "non-coronary": _CALCIFICATION,
    },
}

_DESCRIPTION_RE = re.compile(r"\(label value (\d+)(?:, convention ([^)]*))?\)")


def segment_code(convention: str | None, name: str) -> SegmentCode:
    """The codes of label ``name`` in ``convention``.

    A name unknown to a convention whose labels all share one code takes that code (any lesion of
    ``isles`` is an infarct); otherwise it is looked up in the other conventions; a name found nowhere
    is coded as a lesion (a morphologically abnormal structure), which every SEG reader accepts.
    """
    if convention in SEGMENT_CODES:
        table = SEGMENT_CODES[convention]
        if name in table:
            return table[name]
        if len(set(table.values())) == 1:  # e.g. every lesion of a stroke is an infarct
            return next(iter(table.values()))
    for table in SEGMENT_CODES.values():
        if name in table:
            return table[name]
    return _LESION


@dataclass(frozen=True)
class Algorithm:
    """Who made the segmentation: written in every segment's Segment Algorithm Identification.

    Parameters
    ----------
    name
        The method (``"napari-medai cac"``, a model's name).
    version
        Its version (napari-medai's version by default in the commands).
    model
        The model or rule that produced the labels (a model name, ``"anatomical heuristic"``).
    family
        Algorithm family from DICOM CID 7162 (``"ArtificialIntelligence"``, ``"HistogramAnalysis"``,
        ``"ManualProcessing"``, ...).
    type
        ``"AUTOMATIC"``, ``"SEMIAUTOMATIC"`` (a reader corrected it) or ``"MANUAL"``.
    """

    name: str
    version: str
    model: str = ""
    family: str = "ArtificialIntelligence"
    type: AlgorithmType = "AUTOMATIC"

    def sequence(self) -> Any:
        from highdicom import AlgorithmIdentificationSequence
        from pydicom.sr.codedict import codes

        try:
            family = getattr(codes.cid7162, self.family)
        except AttributeError as exc:
            raise InvalidInputError(
                f"algorithm family {self.family!r} is not in DICOM CID 7162; use one of "
                + ", ".join(codes.cid7162.dir())
            ) from exc
        params = {"model": self.model} if self.model else None
        return AlgorithmIdentificationSequence(name=self.name[:64], family=family, version=self.version[:64],
                                               parameters=params)


def is_dicom_seg(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a DICOM file of the Segmentation Storage class (reads the header only)."""
    p = Path(path)
    if not p.is_file() or not is_dicom_file(p):
        return False
    import pydicom

    try:
        meta = pydicom.filereader.read_file_meta_info(p)
    except (OSError, ValueError, EOFError, pydicom.errors.InvalidDicomError):
        return False
    return str(meta.get("MediaStorageSOPClassUID", "")) == SEG_SOP_CLASS_UID


def _series_folder(series: Volume | str | os.PathLike[str]) -> Path:
    src = series.source if isinstance(series, Volume) else series
    if src is None:
        raise InvalidInputError("the image has no source folder; a DICOM SEG needs the DICOM series it was read from")
    p = Path(src)
    if not p.is_dir():
        raise InvalidInputError(
            f"{p}: a DICOM SEG or SR is written for an image read from a DICOM series folder, and this is not "
            "a folder of DICOM files; open the series folder (or write NIfTI instead)"
        )
    return p


def series_datasets(series: Volume | str | os.PathLike[str]) -> list[Any]:
    """Headers (no pixels) of the instances of the series ``series`` was read from, in slice order.

    The order is that of the Volume's slices (position along its slice axis). A dataset whose own
    SOP Class / Instance UID is empty takes it from its file meta (the same object). Files of other
    series in the folder are skipped.

    Raises
    ------
    InvalidInputError
        When the image was not read from a DICOM folder, the series lacks its Study or Series
        Instance UID (a SEG cannot reference it), or it is multi-frame.
    """
    import pydicom

    folder = _series_folder(series)
    uid = None
    if isinstance(series, Volume):
        uid = (series.meta.get("dicom") or {}).get("SeriesInstanceUID")
    out = []
    for f in sorted(folder.iterdir()):
        if not f.is_file() or not is_dicom_file(f):
            continue
        ds = pydicom.dcmread(f, stop_before_pixels=True)
        if "Rows" not in ds or str(ds.get("SOPClassUID", "") or ds.file_meta.get("MediaStorageSOPClassUID", "")) == SEG_SOP_CLASS_UID:
            continue
        if uid is not None and str(ds.get("SeriesInstanceUID", "") or "") != uid:
            continue
        for attr, meta_attr in (("SOPClassUID", "MediaStorageSOPClassUID"), ("SOPInstanceUID", "MediaStorageSOPInstanceUID")):
            if not str(ds.get(attr, "") or "") and meta_attr in ds.file_meta:
                setattr(ds, attr, ds.file_meta[meta_attr].value)
        out.append(ds)
    if not out:
        raise InvalidInputError(f"{folder}: holds no DICOM image of the series; point at the series folder")
    missing = [a for a in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "FrameOfReferenceUID")
               if any(not str(d.get(a, "") or "") for d in out)]
    if missing:
        raise InvalidInputError(
            f"{folder}: the series has no {', '.join(missing)} (removed by an earlier anonymisation?), so a DICOM "
            "SEG/SR cannot reference it; give it new identifiers first with: napari-medai deidentify "
            f"{folder} OUT_DIR (it fills missing UIDs), then use the series in OUT_DIR"
        )
    if any(int(d.get("NumberOfFrames", 1) or 1) > 1 for d in out):
        raise InvalidInputError(f"{folder}: a multi-frame source image is not supported for DICOM SEG; export it as single-frame slices")
    if isinstance(series, Volume):
        normal_axis = np.asarray(series.direction)[:, 0]
        origin = np.asarray(series.origin)
        key = [float(np.dot(np.asarray(d.ImagePositionPatient, dtype=float)[::-1] - origin, normal_axis)) for d in out]
        out = [d for _, d in sorted(zip(key, out), key=lambda kd: kd[0])]
    else:
        out.sort(key=lambda d: int(d.get("InstanceNumber", 0) or 0))
    return out


def _check_geometry(labels: Volume, series: Volume, where: str) -> None:
    diffs = series.grid_differences(labels)
    if diffs:
        raise GeometryMismatchError(
            f"{where}: the label map is not on the grid of the DICOM series it refers to ({'; '.join(diffs)}); "
            "a DICOM SEG must lie on its source images: resample the labels onto the series first"
        )


def _segment_items(labels: Volume, convention: str | None,
                   label_names: Mapping[int, str] | None) -> list[tuple[int, str, SegmentCode]]:
    """(label value, name, code) of every label value present, in increasing value."""
    data = np.asarray(labels.data)
    if data.dtype.kind not in "iub":
        if data.dtype.kind == "f" and np.all(data == np.round(data)):
            data = data.astype(np.int64)
        else:
            raise InvalidInputError(f"{labels.name}: a label map must hold whole numbers, not {data.dtype}")
    values = [int(v) for v in np.unique(data) if v != 0]
    if any(v < 0 for v in values):
        raise InvalidInputError(f"{labels.name}: label values must be >= 0 for a DICOM SEG")
    names = {int(k): str(v) for k, v in (label_names or labels.label_names or {}).items()}
    return [(v, names.get(v, f"label {v}"), segment_code(convention, names.get(v, ""))) for v in values]


def write_dicom_seg(
    labels: Volume,
    series: Volume,
    path: str | os.PathLike[str],
    *,
    algorithm: Algorithm,
    convention: str | None = None,
    label_names: Mapping[int, str] | None = None,
    series_description: str = "napari-medai segmentation",
    series_number: int = 901,
    overwrite: bool = False,
    protect: Iterable[str | os.PathLike[str]] = (),
) -> Path:
    """Write ``labels`` as a DICOM Segmentation of the DICOM series ``series`` was read from.

    Parameters
    ----------
    labels
        Label map on the series' grid (0 background; each other value one segment).
    series
        The image as read from its DICOM series folder (:func:`~napari_medai.core.io.read_volume`).
    path
        The ``.dcm`` file to write (atomically; never over a file of the series).
    algorithm
        Name, version and model recorded in each segment.
    convention
        Label convention naming the labels' codes (:data:`SEGMENT_CODES`); default
        ``labels.meta["convention"]``.
    label_names
        Names of the label values (default ``labels.label_names``).
    series_description, series_number
        Of the new SEG series.
    overwrite
        Replace an existing ``path``.
    protect
        Further files never to write over.

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    InvalidInputError
        No label to write, an image not read from a DICOM series, or a series a SEG cannot reference.
    GeometryMismatchError
        The labels are not on the series' grid.
    ImageWriteError
        An existing target, a target inside the series, or a failed write.
    """
    import highdicom as hd

    from ... import __version__

    target = Path(path).expanduser().absolute()
    folder = _series_folder(series)
    if target.is_dir():
        raise ImageWriteError(target, "is a folder", "give a file name ending in .dcm")
    if target.exists() and not overwrite:
        raise ImageWriteError(target, "already exists", "pass overwrite=True to replace it, or choose another name")
    if any(same_file(target, f) for f in folder.iterdir()):
        raise ImageWriteError(target, "is a file of the source series; refusing to overwrite an input", "write to another file name")
    _check_geometry(labels, series, str(target))
    conv = convention if convention is not None else labels.meta.get("convention")
    items = _segment_items(labels, conv, label_names)
    if not items:
        raise InvalidInputError(
            f"{labels.name}: the label map is empty (no label other than 0); a DICOM SEG needs at least one segment"
        )
    sources = series_datasets(series)
    if len(sources) != labels.spatial_shape[0]:
        raise GeometryMismatchError(
            f"{target}: the series folder {folder} holds {len(sources)} images but the label map has "
            f"{labels.spatial_shape[0]} slices; point at the folder the image was read from"
        )
    data = np.asarray(labels.data)
    relabel = np.zeros(int(data.max()) + 1, dtype=np.uint8 if len(items) < 256 else np.uint16)
    descriptions = []
    alg = algorithm.sequence()
    for number, (value, name, code) in enumerate(items, start=1):
        relabel[value] = number
        desc = hd.seg.SegmentDescription(
            segment_number=number,
            segment_label=name[:64],
            segmented_property_category=code.category.concept(),
            segmented_property_type=code.type.concept(),
            algorithm_type=algorithm.type,
            algorithm_identification=alg,
            anatomic_regions=[code.region.concept()] if code.region is not None else None,
        )
        desc.SegmentDescription = f"{name} (label value {value}{f', convention {conv}' if conv else ''})"[:64]
        descriptions.append(desc)
    pixel_array = relabel[data.astype(np.int64, copy=False)]
    try:
        seg = hd.seg.Segmentation(
            source_images=sources,
            pixel_array=pixel_array,
            segmentation_type=hd.seg.SegmentationTypeValues.BINARY,
            segment_descriptions=descriptions,
            series_instance_uid=hd.UID(),
            series_number=int(series_number),
            sop_instance_uid=hd.UID(),
            instance_number=1,
            manufacturer="napari-medai",
            manufacturer_model_name=algorithm.name[:64],
            software_versions=f"napari-medai {__version__}",
            device_serial_number="0",
            content_description=series_description[:64],
            content_label="SEGMENTATION",
            series_description=series_description[:64],
        )
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise InvalidInputError(f"{target}: highdicom refused the segmentation: {first_line(exc)}") from exc
    try:
        with atomic_path(target, suffix=".tmp.dcm", protect=[*protect, series.source]) as tmp:
            seg.save_as(tmp)
    except OSError as exc:
        raise ImageWriteError(target, f"could not be written: {first_line(exc)}", "check the disk space and the folder permissions") from exc
    return target


def _segment_values(seg: Any) -> tuple[dict[int, int], dict[int, str], str | None]:
    """``{segment number: label value}``, ``{label value: name}`` and the convention recorded."""
    value_of: dict[int, int] = {}
    names: dict[int, str] = {}
    convention = None
    for item in seg.SegmentSequence:
        number = int(item.SegmentNumber)
        m = _DESCRIPTION_RE.search(str(item.get("SegmentDescription", "") or ""))
        value = int(m.group(1)) if m else number
        if m and m.group(2):
            convention = m.group(2)
        value_of[number] = value
        names[value] = str(item.get("SegmentLabel", "") or f"segment {number}")
    if len(set(value_of.values())) != len(value_of):  # descriptions that do not come from us
        value_of = {n: n for n in value_of}
        names = {n: str(item.get("SegmentLabel", "")) for n, item in zip(value_of, seg.SegmentSequence)}
    return value_of, names, convention


def _combine(stack: np.ndarray, numbers: list[int], value_of: Mapping[int, int]) -> np.ndarray:
    """Segment-wise binary stack (..., n_segments) -> label map (later segments win where they overlap)."""
    dtype = np.uint8 if max(value_of.values(), default=0) < 256 else np.uint16
    out = np.zeros(stack.shape[:-1], dtype=dtype)
    for idx, number in enumerate(numbers):
        out[stack[..., idx] > 0] = value_of[number]
    return out


def read_dicom_seg(path: str | os.PathLike[str], *, series: Volume | None = None) -> Volume:
    """Read a DICOM Segmentation as a label :class:`Volume`.

    Parameters
    ----------
    path
        The SEG file.
    series
        The source image as read from its series folder: the labels are placed on its grid (frames
        matched to the instances they reference). Without it the labels come on the SEG's own grid.

    Returns
    -------
    Volume
        ``is_label=True``, label values as written by :func:`write_dicom_seg` (segment numbers for
        other SEGs), ``label_names`` from the segment labels; ``meta["dicom_seg"]`` records the
        referenced series, the SEG's UIDs and each segment's codes and algorithm.

    Raises
    ------
    ImageReadError
        Not a readable DICOM SEG, or it does not reference ``series``.
    """
    import highdicom as hd

    p = Path(path).expanduser()
    try:
        seg = hd.seg.segread(p)
    except (OSError, ValueError, AttributeError, KeyError, TypeError, EOFError) as exc:
        raise ImageReadError(p, f"is not a readable DICOM Segmentation: {first_line(exc)}",
                             "check the file is a DICOM SEG (SOP class 1.2.840.10008.5.1.4.1.1.66.4)") from exc
    value_of, names, convention = _segment_values(seg)
    numbers = sorted(value_of)
    refs = [str(s.SeriesInstanceUID) for s in seg.get("ReferencedSeriesSequence", [])]
    segments = []
    for item in seg.SegmentSequence:
        alg = item.get("SegmentAlgorithmName", "")
        segments.append({
            "number": int(item.SegmentNumber), "label": str(item.get("SegmentLabel", "")),
            "value": value_of[int(item.SegmentNumber)],
            "type": str(item.SegmentedPropertyTypeCodeSequence[0].CodeMeaning),
            "category": str(item.SegmentedPropertyCategoryCodeSequence[0].CodeMeaning),
            "algorithm_type": str(item.get("SegmentAlgorithmType", "")), "algorithm": str(alg),
        })
    meta = {"format": "dicom-seg", "convention": convention,
            "dicom_seg": {"SOPInstanceUID": str(seg.SOPInstanceUID), "SeriesInstanceUID": str(seg.SeriesInstanceUID),
                          "ReferencedSeriesInstanceUID": refs[0] if refs else "",
                          "FrameOfReferenceUID": str(seg.get("FrameOfReferenceUID", "")), "segments": segments}}
    if series is not None:
        sources = series_datasets(series)
        uids = [str(d.SOPInstanceUID) for d in sources]
        referenced = {str(r.ReferencedSOPInstanceUID) for s in seg.get("ReferencedSeriesSequence", [])
                      for r in s.ReferencedInstanceSequence}
        if not referenced & set(uids):
            raise ImageReadError(p, f"does not reference the series {series.source} (no instance in common)",
                                 "open the SEG on the series it was made for")
        try:
            stack = seg.get_pixels_by_source_instance(uids, segment_numbers=numbers, assert_missing_frames_are_empty=True)
        except (ValueError, KeyError, RuntimeError) as exc:
            raise ImageReadError(p, f"its frames cannot be placed on the series: {first_line(exc)}",
                                 "open the SEG on the series it was made for") from exc
        data = _combine(stack, numbers, value_of)
        if data.shape != series.spatial_shape:
            raise GeometryMismatchError(f"{p}: frames of {data.shape[1:]} pixels do not match the series' {series.spatial_shape[1:]}")
        return series.with_data(data, is_label=True, units="", name=p.stem, source=str(p.resolve()),
                                label_names=names, channel_axis=None, channel_names=None, meta=meta)
    try:
        vol = seg.get_volume(segment_numbers=numbers, combine_segments=False)
    except (ValueError, RuntimeError) as exc:
        raise ImageReadError(p, f"its frames do not form a regular volume: {first_line(exc)}",
                             "open it together with its source series (read_dicom_seg(path, series=...))") from exc
    arr = np.asarray(vol.array)
    if arr.ndim == 3:
        arr = arr[..., None]
    data = _combine(arr, numbers, value_of)
    # highdicom's affine maps (slice, row, column) indices to LPS (x, y, z); ours lists world axes reversed.
    aff = np.asarray(vol.affine, dtype=float)
    m = aff[:3, :3][::-1, :]
    spacing = np.linalg.norm(m, axis=0)
    return Volume(data=data, spacing=tuple(spacing), origin=tuple(aff[:3, 3][::-1]), direction=m / spacing,
                  is_label=True, modality="SEG", name=p.stem, source=str(p.resolve()), label_names=names, meta=meta)
