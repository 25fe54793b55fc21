"""The calcium widget's file actions: export the report, save and load the artery assignment.

The report writers and the label-file writer are the core's (atomic, never over the CT); this module
asks for the path and turns the layers into Volumes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtWidgets import QFileDialog, QWidget

from ...core.errors import MedaiError
from ...core.tasks import cac
from .._widgets import save_labels_dialog
from ..layers import META_KEY, layer_to_volume
from .tables import ARTERY_NAMES

#: Names of the assignment's values (0 included), for files and hover.
ASSIGNMENT_NAMES = {0: "unassigned", **ARTERY_NAMES}
#: File types a saved assignment may be read from.
LOAD_FILTER = "Label image (*.nii.gz *.nii *.nrrd *.mha *.mhd *.nhdr)"


def source_of(layer: Any) -> str | None:
    """The file a layer was read from (napari's source, else the geometry record), if any."""
    src = getattr(getattr(layer, "source", None), "path", None)
    if src:
        return str(src)
    md = (getattr(layer, "metadata", None) or {}).get(META_KEY, {})
    return md.get("source") or None


def protect(ct_layer: Any) -> list[str]:
    """The CT's file, never to be written over."""
    src = source_of(ct_layer) if ct_layer is not None else None
    return [src] if src else []


def default_assignment_path(ct_layer: Any) -> Path | None:
    """``<ct stem>_cac_assignment.nii.gz`` next to the CT file (None when the CT has no file)."""
    src = source_of(ct_layer) if ct_layer is not None else None
    if not src:
        return None
    from ...core.io import split_extension

    p = Path(src)
    folder = p if p.is_dir() else p.parent  # a DICOM series folder: save beside its files
    stem = p.name if p.is_dir() else (split_extension(p)[0] or p.name)
    return folder / f"{stem}_cac_assignment.nii.gz"


def export_report(result: cac.CACResult | None, path: str, kind: str, ct_layer: Any) -> str:
    """Write the report as ``kind`` ('json' or 'csv') atomically; never over the CT file."""
    if result is None:
        raise MedaiError("nothing to export yet: auto-assign (or assign candidates) first")
    writer = cac.write_csv if kind == "csv" else cac.write_json
    return str(writer(result, path, protect=protect(ct_layer)))


def export_dialog(parent: QWidget, result: cac.CACResult | None, kind: str, ct_layer: Any) -> str | None:
    """Ask where to export the report; returns the path written (None when the dialog was closed)."""
    stem = ct_layer.name if ct_layer is not None else "cac"
    path, _ = QFileDialog.getSaveFileName(parent, f"Export CAC report as {kind.upper()}", f"{stem}_cac.{kind}",
                                          f"{kind.upper()} (*.{kind})")
    return export_report(result, path, kind, ct_layer) if path else None


def save_assignment(layer: Any, ct_layer: Any, path: str | None = None, *, overwrite: bool = False) -> str:
    """Save the assignment (codes 0-5 with their names, the CT's geometry) as a label file; never over the CT."""
    from ...core.io import write_volume

    if layer is None:
        raise MedaiError("no assignment to save: auto-assign first")
    target = Path(path) if path else default_assignment_path(ct_layer)
    if target is None:
        raise MedaiError("the CT was not read from a file, so there is no folder to save next to; give a path")
    vol = layer_to_volume(layer)
    vol = vol.with_data(np.asarray(vol.data, dtype=np.uint8), is_label=True, units="",
                        label_names=dict(ASSIGNMENT_NAMES), name=layer.name)
    return str(write_volume(vol, target, overwrite=overwrite, protect=protect(ct_layer)))


def read_assignment(path: str, ct: Any) -> Any:
    """Read a saved assignment (a label file of codes 0-5 on the CT Volume's grid) as a Volume."""
    from ...core.io import read_volume

    vol = read_volume(path, as_label=True)
    ct.require_same_grid(vol, what=f"CT and assignment {Path(path).name}")
    data = np.asarray(vol.data)
    if data.size and (int(data.min()) < 0 or int(data.max()) > 5):
        raise MedaiError(f"{path} holds values outside the artery codes 0-5; it is not a CAC assignment")
    return vol.with_data(data.astype(np.uint8), label_names=dict(ASSIGNMENT_NAMES))


def load_dialog(parent: QWidget, ct_layer: Any, load: Callable[[str], Any]) -> str | None:
    """Ask for a saved assignment file and ``load`` it; returns its path (None when the dialog was closed)."""
    default = default_assignment_path(ct_layer)
    path, _ = QFileDialog.getOpenFileName(parent, "Load artery assignment", str(default.parent) if default else "",
                                          LOAD_FILTER)
    if path:
        load(path)
    return path or None


def save_dialog(parent: QWidget, layer: Any, ct_layer: Any) -> str | None:
    """The "Save assignment…" action: the shared Save dialog (format of the user's choice, the CT's geometry)."""
    if layer is None:
        raise MedaiError("no assignment to save: auto-assign first")
    default = default_assignment_path(ct_layer)
    return save_labels_dialog(parent, layer, start_dir=str(default.parent) if default else "")
