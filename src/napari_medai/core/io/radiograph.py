"""2-D radiographs from ordinary picture files: PNG, JPEG and TIFF (Pillow and tifffile).

A picture file opens as a 2-D :class:`~napari_medai.core.volume.Volume` of one grey channel:

* grey files (8 or 16 bit, or float TIFF) keep their values and dtype;
* an RGB(A) file whose three colour channels are equal (a grey image saved in colour, as many
  exported radiographs and the Kermany chest X-ray JPEGs are) becomes one channel; JPEG's chroma
  rounding is tolerated up to :data:`GREY_TOLERANCE` grey levels. A file with real colour is refused
  with a message that says so (a radiograph has none; convert it or open it with napari's own reader);
* a palette file is expanded first; an alpha channel is dropped;
* the pixel size is unknown in such files (their "dpi" says nothing about the patient), so the
  spacing is 1 and ``meta["spacing_known"]`` is False. DICOM radiographs (CR / DX / MG) carry
  their spacing: see :func:`napari_medai.core.io.dicom.read_dicom_file`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import ImageReadError
from ..volume import Volume
from ._common import first_line
from .names import RASTER_EXTENSIONS

__all__ = ["GREY_TOLERANCE", "RASTER_EXTENSIONS", "grey_from_rgb", "read_raster"]

#: Largest difference between colour channels (in grey levels) that still counts as a grey image.
GREY_TOLERANCE = 3


def grey_from_rgb(rgb: np.ndarray, *, where: str | os.PathLike[str] = "image") -> np.ndarray:
    """One grey channel from ``(rows, columns, 3 or 4)`` data whose colour channels are (nearly) equal.

    Returns the mean of R, G and B in the input dtype (rounded for integers).

    Raises
    ------
    ImageReadError
        When the channels differ by more than :data:`GREY_TOLERANCE` somewhere (real colour).
    """
    a = np.asarray(rgb)
    if a.ndim != 3 or a.shape[-1] not in (3, 4):
        raise ImageReadError(where, f"has shape {a.shape}, not rows x columns x 3 (RGB) or 4 (RGBA)", None)
    c = a[..., :3].astype(np.float64)
    spread = float(np.max(c.max(axis=-1) - c.min(axis=-1))) if c.size else 0.0
    if spread > GREY_TOLERANCE:
        raise ImageReadError(
            where, f"holds a colour image (its red, green and blue differ by up to {spread:.0f} grey levels), "
            "not a grey radiograph",
            "convert it to greyscale first, or open it with napari's built-in reader to view it in colour",
        )
    grey = c.mean(axis=-1)
    if np.issubdtype(a.dtype, np.integer):
        return np.rint(grey).astype(a.dtype)
    return grey.astype(a.dtype)


def _read_pillow(p: Path) -> tuple[np.ndarray, str]:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(p) as im:
            mode = im.mode
            if mode == "P":
                im = im.convert("RGBA" if "transparency" in im.info else "RGB")
            elif mode in ("LA", "PA") or mode == "1":
                im = im.convert("L")
            elif mode == "CMYK":
                im = im.convert("RGB")
            arr = np.asarray(im)
            if mode.startswith("I;16"):
                arr = arr.astype(np.uint16)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageReadError(p, f"is not a readable picture file: {first_line(exc)}",
                             "the file is damaged or not what its extension says; export it again") from exc
    return arr, mode


def _read_tiff(p: Path) -> tuple[np.ndarray, str]:
    import tifffile

    try:
        with tifffile.TiffFile(p) as tf:
            arr = tf.asarray(key=0)
            photometric = tf.pages[0].photometric
    except (tifffile.TiffFileError, OSError, ValueError) as exc:
        raise ImageReadError(p, f"is not a readable TIFF file: {first_line(exc)}",
                             "the file is damaged or incomplete; export it again") from exc
    mode = getattr(photometric, "name", str(photometric))
    if mode == "MINISWHITE":  # 0 is white: invert so that bone (dense) is bright, as in MONOCHROME1
        info = np.iinfo(arr.dtype) if np.issubdtype(arr.dtype, np.integer) else None
        arr = (info.max - arr).astype(arr.dtype) if info is not None else (arr.max() + arr.min() - arr)
    return arr, mode


def read_raster(path: str | os.PathLike[str]) -> Volume:
    """Read a PNG, JPEG or TIFF picture as a 2-D grey :class:`Volume` (see the module docstring).

    ``meta["raster"]`` records the file's colour mode and whether the grey channel came from RGB.

    Raises
    ------
    ImageReadError
        A missing or damaged file, a colour picture, or a multi-page stack that is not one image.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ImageReadError(p, "does not exist" if not p.exists() else "is not a file", "check the path")
    ext = p.suffix.lower()
    arr, mode = _read_tiff(p) if ext in (".tif", ".tiff") else _read_pillow(p)
    from_rgb = False
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        arr = grey_from_rgb(arr, where=p)
        from_rgb = True
    elif arr.ndim == 3 and arr.shape[-1] == 2:  # grey + alpha (16-bit LA in TIFF)
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise ImageReadError(p, f"holds an image of shape {arr.shape}, not one 2-D picture",
                             "save one grey 2-D image per file (a multi-page stack is not a radiograph)")
    if arr.dtype == np.bool_:
        arr = arr.astype(np.uint8)
    meta = {"format": "raster", "raster": {"mode": str(mode), "grey_from_rgb": from_rgb, "file_type": ext[1:]},
            "spacing_known": False}
    return Volume(np.ascontiguousarray(arr), spacing=(1.0, 1.0), name=p.stem, source=str(p.resolve()), meta=meta)
