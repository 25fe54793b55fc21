"""File names: supported extensions, format detection, the label-name rule, raw-file name facts.

Only the standard library is imported here, so that the napari reader hook can ask
:func:`is_supported_path` without loading nibabel, SimpleITK or pydicom.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "RASTER_EXTENSIONS",
    "READ_FORMATS",
    "SUPPORTED_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "RawNameFacts",
    "format_of",
    "image_files_below",
    "image_files_in",
    "is_bids_folder",
    "is_dicom_file",
    "is_label_name",
    "is_supported_path",
    "raw_name_facts",
    "split_extension",
]

#: Extension (lower case) -> reader family.
READ_FORMATS: dict[str, str] = {
    ".nii.gz": "nifti",
    ".nii": "nifti",
    ".nrrd": "itk",
    ".nhdr": "itk",
    ".mha": "itk",
    ".mhd": "itk",
    ".dcm": "dicom",
    ".dicom": "dicom",
    ".ima": "dicom",
    ".npy": "npy",
    ".raw": "raw",
}

#: Every file extension :func:`read_volume` opens (folders of DICOM files open too).
SUPPORTED_EXTENSIONS: tuple[str, ...] = tuple(READ_FORMATS)

#: 2-D picture files :func:`read_volume` opens as grey radiographs (format ``"raster"``); kept apart from
#: :data:`READ_FORMATS` so that case folders never mistake a screenshot for a volume.
RASTER_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".tif", ".tiff")

#: Extensions :func:`write_volume` writes (the format follows the extension).
WRITE_EXTENSIONS: tuple[str, ...] = (".nii.gz", ".nii", ".nrrd", ".nhdr", ".mha", ".mhd")

# Words that mark a label map when they are a whole token of the file name (case-insensitive).
_LABEL_WORDS = frozenset(
    {
        "seg", "segs", "segmentation", "segmentations", "label", "labels", "labelmap", "labelmaps",
        "lbl", "mask", "masks", "msk", "gt", "groundtruth", "annotation", "annotations", "annot",
        "ot", "parc", "parcellation", "aparc", "assignment", "lesion", "lesions",
        # a model's output saved as case_pred.nii.gz (whole numbers only: probability maps stay images)
        "pred", "prediction", "predictions",
    }
)
# A token ending with one of these also marks a label map (brainmask, lungmask, aseg, dseg, ...).
_LABEL_SUFFIXES = ("mask", "seg", "label", "labels", "labelmap")
# Parent folder names that hold only label maps (nnU-Net / Medical Segmentation Decathlon layout).
_LABEL_FOLDERS = frozenset(
    {"labelstr", "labelsts", "labels", "masks", "segmentations", "groundtruth", "ground_truth", "gt"}
)
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_DICOM_MAGIC_OFFSET = 128


def split_extension(path: str | os.PathLike[str]) -> tuple[str, str]:
    """Split a file name into ``(stem, extension)`` knowing compound extensions like ``.nii.gz``.

    The extension is returned in lower case; it is ``""`` when the name has no suffix, and
    ``Path(path).suffix`` lowered for unknown suffixes.
    """
    name = Path(path).name
    low = name.lower()
    for ext in sorted(READ_FORMATS, key=len, reverse=True):
        if low.endswith(ext) and len(low) > len(ext):
            return name[: -len(ext)], ext
    suffix = Path(name).suffix
    return (name[: -len(suffix)] if suffix else name), suffix.lower()


def is_dicom_file(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a file with the DICOM Part 10 marker ``DICM`` after its preamble."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(_DICOM_MAGIC_OFFSET + 4)
    except OSError:
        return False
    return len(head) == _DICOM_MAGIC_OFFSET + 4 and head[_DICOM_MAGIC_OFFSET:] == b"DICM"


def format_of(path: str | os.PathLike[str]) -> str | None:
    """Reader family of ``path``: ``"nifti"``, ``"itk"``, ``"dicom"``, ``"npy"``, ``"raw"``, ``"raster"``,
    ``"dicom-folder"`` for a folder, or ``None`` when not supported.

    A file with an unknown extension counts as DICOM when it carries the DICOM marker (series
    exported with names like ``CT.1.3.12...`` or ``IM0001``).
    """
    p = Path(path)
    if p.is_dir():
        return "dicom-folder"
    _, ext = split_extension(p)
    fmt = READ_FORMATS.get(ext) or ("raster" if ext in RASTER_EXTENSIONS else None)
    if fmt is None and p.is_file() and is_dicom_file(p):
        return "dicom"
    return fmt


def _folder_has_dicom(folder: Path, *, max_checked: int = 64) -> bool:
    checked = 0
    try:
        entries = os.scandir(folder)
    except OSError:
        return False
    with entries:
        for entry in entries:
            if not entry.is_file():
                continue
            if is_dicom_file(entry.path):
                return True
            checked += 1
            if checked >= max_checked:
                return False
    return False


def is_supported_path(path: str | os.PathLike[str]) -> bool:
    """True when :func:`read_volume` can open ``path``: a file with a supported extension, a DICOM
    file (by its marker), or a folder holding DICOM files. Never raises."""
    try:
        p = Path(path)
        if p.is_dir():
            return _folder_has_dicom(p)
        _, ext = split_extension(p)
        if ext in READ_FORMATS or ext in RASTER_EXTENSIONS:
            return True
        return p.is_file() and is_dicom_file(p)
    except (OSError, TypeError, ValueError):
        return False


#: Extensions of image files that are opened one by one (never as a folder).
_FILE_IMAGE_FORMATS = ("nifti", "itk", "npy")
_BIDS_ENTITY = re.compile(r"^(sub|ses)-[A-Za-z0-9]+$")


def is_bids_folder(folder: str | os.PathLike[str]) -> bool:
    """True when ``folder`` looks like (part of) a BIDS dataset: it holds ``dataset_description.json``, is
    or holds a ``sub-<label>`` / ``ses-<label>`` folder, or holds ``rawdata`` / ``derivatives`` with such
    folders (e.g. the ISLES 2022 cases). Never raises."""
    try:
        p = Path(folder)
        if (p / "dataset_description.json").is_file() or _BIDS_ENTITY.match(p.name):
            return True
        children = [c for c in p.iterdir() if c.is_dir()]
        if any(_BIDS_ENTITY.match(c.name) for c in children):
            return True
        for c in children:
            if c.name in ("rawdata", "derivatives", "sourcedata") and any(
                _BIDS_ENTITY.match(g.name) for g in c.iterdir() if g.is_dir()
            ):
                return True
    except OSError:
        return False
    return False


def image_files_below(folder: str | os.PathLike[str], *, limit: int = 4, max_depth: int = 5) -> list[Path]:
    """Up to ``limit`` image files (NIfTI, NRRD, MetaImage, .npy) in ``folder`` and its sub-folders, raw
    data before derivatives, each folder's files sorted by name. Never raises."""
    found: list[Path] = []
    root = Path(folder)

    def visit(d: Path, depth: int) -> None:
        if len(found) >= limit or depth > max_depth:
            return
        try:
            entries = sorted(d.iterdir(), key=lambda e: (e.name == "derivatives", e.name))
        except OSError:
            return
        for e in entries:
            if len(found) >= limit:
                return
            if e.is_file() and READ_FORMATS.get(split_extension(e)[1]) in _FILE_IMAGE_FORMATS:
                found.append(e)
        for e in entries:
            if e.is_dir() and not e.name.startswith("."):
                visit(e, depth + 1)

    visit(root, 0)
    return found


def image_files_in(folder: str | os.PathLike[str]) -> list[Path]:
    """The volume files directly in ``folder`` (any readable single-file format; DICOM slices and ``.raw``
    excluded, since a case folder names one file per channel), sorted by name, hidden files skipped."""
    out = []
    for p in sorted(Path(folder).iterdir()):
        if p.is_file() and not p.name.startswith("."):
            ext = split_extension(p)[1]
            if ext in SUPPORTED_EXTENSIONS and ext not in (".dcm", ".dicom", ".ima", ".raw"):
                out.append(p)
    return out


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    for part in re.split(r"[^A-Za-z0-9]+", text):
        if not part:
            continue
        out.append(part.lower())
        camel = [w.lower() for w in _CAMEL.findall(part)]
        if len(camel) > 1:
            out.extend(camel)
    return out


def is_label_name(path: str | os.PathLike[str]) -> bool:
    """True when the file name says the file is a label map (segmentation, mask, ground truth).

    The rule: split the file name (without extension) into tokens at every non-alphanumeric
    character and at camelCase boundaries, case-insensitively. It is a label name when a token is
    one of ``seg, segs, segmentation(s), label(s), labelmap(s), lbl, mask(s), msk, gt, groundtruth,
    annotation(s), annot, ot, parc, parcellation, aparc, pred, prediction(s)``, when a token ends with
    ``mask, seg, label(s)`` or ``labelmap`` (``brainmask``, ``aseg``, ``dseg``), when two
    consecutive tokens are ``ground truth``, or when the parent folder is named ``labelsTr``,
    ``labelsTs``, ``labels``, ``masks``, ``segmentations``, ``groundtruth`` or ``gt``.

    Examples: ``OTMultiClass.nii.gz`` (BraTS ``OT``), ``case_seg.nii.gz``, ``lung1_label.nrrd``,
    ``sub-01_msk.nii.gz``, ``brainmask.nii.gz`` are label names; ``T1c_subtrMeanDivStd.nii.gz``,
    ``segment_ct.nii`` are not.

    :func:`read_volume` treats a file as a label map automatically only when its name passes
    this rule **and** its values are whole numbers.
    """
    p = Path(path)
    stem, _ = split_extension(p)
    toks = _tokens(stem)
    for a, b in zip(toks, toks[1:]):
        if a == "ground" and b == "truth":
            return True
    for t in toks:
        if t in _LABEL_WORDS:
            return True
        if any(t.endswith(s) and len(t) > len(s) for s in _LABEL_SUFFIXES):
            return True
    return p.parent.name.lower() in _LABEL_FOLDERS


@dataclass(frozen=True)
class RawNameFacts:
    """What a ``.raw`` file name says about its content (``None`` where it says nothing)."""

    shape: tuple[int, ...] | None
    dtype: str | None
    offset: int | None


_SHAPE_RE = re.compile(r"(?<![0-9])(\d+)x(\d+)(?:x(\d+))?(?![0-9])", re.IGNORECASE)
_DTYPE_RE = re.compile(r"(?<![a-z])(uint8|uint16|uint32|int8|int16|int32|float32|float64)(?![0-9])", re.IGNORECASE)
_OFFSET_RE = re.compile(r"hu\s*([+-])\s*(\d+)", re.IGNORECASE)


def raw_name_facts(path: str | os.PathLike[str]) -> RawNameFacts:
    """Shape, dtype and value offset encoded in a raw file's name.

    * shape: the last ``WxH`` or ``WxHxD`` group (``_512x512``, ``_512x512x100``), written in
      ITK order (x first, as image sizes are usually quoted) and returned in array order
      (reversed: ``(H, W)``, ``(D, H, W)``);
    * dtype: a token like ``uint16``, ``int16``, ``float32``;
    * offset: ``hu+1024`` means the file stores HU + 1024, so offset 1024 (subtracted on read);
      ``hu-1000`` gives -1000.
    """
    stem, _ = split_extension(path)
    shape = None
    matches = list(_SHAPE_RE.finditer(stem))
    if matches:
        groups = [int(g) for g in matches[-1].groups() if g is not None]
        shape = tuple(reversed(groups))
    m = _DTYPE_RE.search(stem)
    dtype = m.group(1).lower() if m else None
    o = _OFFSET_RE.search(stem)
    offset = None
    if o:
        offset = int(o.group(2)) * (1 if o.group(1) == "+" else -1)
    return RawNameFacts(shape=shape, dtype=dtype, offset=offset)
