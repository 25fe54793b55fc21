"""npe2 writer hooks: save Image and Labels layers to NIfTI, NRRD or MetaImage with their geometry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import ImageWriteError
from ..core.io import write_volume
from ..core.volume import Volume
from .layers import META_KEY


def attributes_to_volume(data: Any, attributes: dict[str, Any], *, is_label: bool) -> Volume:
    """Rebuild a Volume from the (data, attributes) pair napari hands a writer."""
    from napari.utils.transforms import Affine

    arr = np.asarray(data)
    nd = arr.ndim
    if nd not in (2, 3):
        raise ImageWriteError(
            attributes.get("name", "layer"),
            f"has {nd} dimensions; only 2-D and 3-D layers can be saved as medical images",
            "split channels or time points into separate layers first",
        )
    comp = Affine(
        scale=attributes.get("scale", (1.0,) * nd),
        translate=attributes.get("translate", (0.0,) * nd),
        rotate=attributes.get("rotate"),
        shear=attributes.get("shear"),
        ndim=nd,
    ).affine_matrix
    extra = attributes.get("affine")
    if extra is not None:
        extra = np.asarray(getattr(extra, "affine_matrix", extra), dtype=float)
        comp = extra @ comp
    cols = comp[:nd, :nd]
    spacing = np.linalg.norm(cols, axis=0)
    spacing[spacing == 0] = 1.0
    md = (attributes.get("metadata") or {}).get(META_KEY, {})
    label_names = {int(k): v for k, v in md.get("label_names", {}).items()} or None
    if is_label and not np.issubdtype(arr.dtype, np.integer):
        arr = arr.astype(np.int32)
    return Volume(
        data=arr,
        spacing=tuple(spacing),
        origin=tuple(comp[:nd, nd]),
        direction=cols / spacing,
        is_label=is_label,
        modality=md.get("modality", "unknown") or "unknown",
        units=md.get("units", "") or "",
        name=attributes.get("name", "layer"),
        meta=dict(md.get("header", {})),
        label_names=label_names,
    )


def _write(path: str, data: Any, attributes: dict, *, is_label: bool) -> list[str]:
    vol = attributes_to_volume(data, attributes, is_label=is_label)
    md = (attributes.get("metadata") or {}).get(META_KEY, {})
    protect = [md["source"]] if md.get("source") else []
    # napari's save dialog has already asked before replacing an existing file; the source of
    # the layer is still protected.
    out = write_volume(vol, Path(path), overwrite=True, protect=protect)
    return [str(out)]


def write_labels(path: str, data: Any, attributes: dict) -> list[str]:
    return _write(path, data, attributes, is_label=True)


def write_image(path: str, data: Any, attributes: dict) -> list[str]:
    return _write(path, data, attributes, is_label=False)


def write_dicom_seg(path: str, data: Any, attributes: dict) -> list[str]:
    """Save a Labels layer whose image came from a DICOM series as a DICOM SEG of that series.

    The series is the folder recorded in the layer's metadata (``source``); the labels must lie on its
    grid. Layers from other files are refused with a one-line message naming the fix.
    """
    from .. import __version__
    from ..core.io import read_volume
    from ..core.io.dicom_seg import Algorithm
    from ..core.io.dicom_seg import write_dicom_seg as write_seg

    md = (attributes.get("metadata") or {}).get(META_KEY, {})
    name = attributes.get("name", "layer")
    src = md.get("source")
    if not src or not Path(src).is_dir():
        raise ImageWriteError(
            name, "does not come from a DICOM series folder, so it cannot be saved as a DICOM SEG",
            "open the image as a DICOM series folder and segment it there, or save the labels as .nii.gz",
        )
    labels = attributes_to_volume(data, attributes, is_label=True)
    series = read_volume(src, as_label=False)
    header = md.get("header", {})
    model = str(header.get("model", "") or "")
    alg = Algorithm("napari-medai", __version__, model=model,
                    family="ArtificialIntelligence" if model else "ManualProcessing",
                    type="SEMIAUTOMATIC" if model else "MANUAL")
    out = write_seg(labels, series, Path(path), algorithm=alg,
                    convention=header.get("convention"), overwrite=True)
    return [str(out)]
