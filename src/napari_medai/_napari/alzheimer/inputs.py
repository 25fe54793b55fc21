"""The Alzheimer widget's inputs: a path row with its file picker, where the MNI152 template is, which
open layers are subjects of a cohort, and what a chosen model folder holds (its contract only).

A cohort on disk is what landmark discovery, training and evaluation read (a folder of T1s and a labels
CSV). The sample "T1 brain cohort" opens as layers; :func:`open_cohort` and :func:`write_cohort` write those
that carry a diagnosis to a folder the user picks (never into the package, never over a file), in the layout
``read_cohort`` reads: ``t1/<subject>.nii.gz`` and ``labels.csv`` (subject, diagnosis, source).
"""

from __future__ import annotations

import csv
import io
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

from ...core.errors import InvalidInputError, MedaiError
from .._widgets import error_text
from ..layers import META_KEY, layer_to_volume

#: Diagnoses a subject layer may carry in its header (the sample cohort's ``diagnosis``).
DIAGNOSES = {"AD": "AD", "NC": "NC", "CN": "NC"}


class PathRow(QWidget):
    """A path field with a button that opens a file or folder picker (``kind``: "dir", "file" or "csv")."""

    #: The path changed (picked, or typed and confirmed).
    changed = Signal(str)

    def __init__(self, button_text: str, title: str, *, kind: str = "dir", placeholder: str = "",
                 tip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind, self.title = kind, title
        self.edit = QLineEdit()
        self.edit.setPlaceholderText(placeholder)
        self.edit.setToolTip(tip)
        self.button = QPushButton(button_text)
        self.button.setToolTip(tip)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.edit, stretch=1)
        row.addWidget(self.button)
        self.button.clicked.connect(self.browse)
        self.edit.editingFinished.connect(lambda: self.changed.emit(self.text()))

    def text(self) -> str:
        return self.edit.text().strip()

    def set_text(self, path: str | os.PathLike[str], *, emit: bool = True) -> None:
        self.edit.setText(str(path))
        if emit:
            self.changed.emit(self.text())

    def browse(self) -> None:
        """Ask for the path with Qt's picker; a cancelled dialog changes nothing."""
        start = self.text()
        if self.kind == "dir":
            path = QFileDialog.getExistingDirectory(self, self.title, start)
        else:
            filt = "CSV (*.csv);;All files (*)" if self.kind == "csv" else "Images (*.nii.gz *.nii *.nrrd *.mha);;All files (*)"
            path, _ = QFileDialog.getOpenFileName(self, self.title, start, filt)
        if path:
            self.set_text(path)


def default_template_path() -> str:
    """The MNI152 template if one is found: nilearn's copy, else ``shared/data/brain_t1`` beside the working
    folder or the package (``MEDAI_SHARED_DATA`` first); '' when none is (the user picks it)."""
    from ...core.tasks.alzheimer.registration import TEMPLATE_NAME, find_template

    try:
        return str(find_template())
    except MedaiError:
        pass
    roots = [Path(os.environ["MEDAI_SHARED_DATA"])] if os.environ.get("MEDAI_SHARED_DATA") else []
    here = Path(__file__).resolve()
    for parent in (Path.cwd().resolve(), *Path.cwd().resolve().parents, *here.parents):
        roots.append(parent / "shared" / "data")
    for root in roots:
        cand = root / "brain_t1" / TEMPLATE_NAME
        if cand.is_file():
            return str(cand)
    return ""


# ------------------------------------------------------------------ the T1 layer
#: Roles of the widget's own image layers, never offered as a T1.
OWN_ROLES = ("template", "p map", "saliency")


def t1_choices(viewer: Any, current: str) -> tuple[list[str], str]:
    """The open images a T1 may be (not the widget's own maps) and the one to choose: ``current`` while it is
    open, else one named like a T1, else the only image; never "the first layer" of several ('' then)."""
    from napari.layers import Image

    names = [ly.name for ly in viewer.layers if isinstance(ly, Image)
             and ((ly.metadata or {}).get(META_KEY, {}) or {}).get("role") not in OWN_ROLES]
    if current not in names:
        named = [n for n in names if "t1" in n.lower().replace("-", "").replace("_", "")]
        current = named[0] if named else (names[0] if len(names) == 1 else "")
    return names, current


# ------------------------------------------------------------------ the open cohort
def diagnosis_of(layer: Any) -> str | None:
    """The diagnosis (``AD`` / ``NC``) an Image layer carries in its header (the sample cohort's), else None."""
    header = ((getattr(layer, "metadata", None) or {}).get(META_KEY, {}) or {}).get("header") or {}
    dx = str(header.get("diagnosis", "")).strip().upper()
    return DIAGNOSES.get(dx)


def cohort_layers(viewer: Any) -> list[Any]:
    """The open Image layers that carry a diagnosis, in layer order."""
    from napari.layers import Image

    return [ly for ly in viewer.layers if isinstance(ly, Image) and diagnosis_of(ly) is not None]


@dataclass(frozen=True)
class WrittenCohort:
    """A cohort :func:`write_open_cohort` wrote: its folder, labels CSV and group sizes."""

    folder: Path
    labels_csv: Path
    n_ad: int
    n_nc: int


def open_cohort(viewer: Any) -> list[tuple[str, str, Any]]:
    """``(subject, diagnosis, Volume)`` of each open subject layer with a diagnosis (GUI thread: reads layers).

    Raises
    ------
    InvalidInputError
        No subject layer is open, or fewer than two of a diagnosis.
    """
    layers = cohort_layers(viewer)
    if not layers:
        raise InvalidInputError("no open layer carries a diagnosis: open File > Open Sample > napari-medai > "
                                "T1 brain cohort (AD / NC) first, or choose a cohort folder and its labels CSV")
    groups = [diagnosis_of(ly) for ly in layers]
    n_ad, n_nc = groups.count("AD"), groups.count("NC")
    if min(n_ad, n_nc) < 2:
        raise InvalidInputError(f"the open layers hold {n_ad} AD and {n_nc} NC subjects; a cohort needs at least "
                                "2 of each")
    return [("".join(c if c.isalnum() or c in "-_" else "_" for c in ly.name), dx, layer_to_volume(ly))
            for ly, dx in zip(layers, groups, strict=True)]


def write_cohort(subjects: list[tuple[str, str, Any]], folder: str | os.PathLike[str]) -> WrittenCohort:
    """Write ``subjects`` (from :func:`open_cohort`) to ``folder`` (new or empty) as a cohort (any thread).

    Raises
    ------
    InvalidInputError
        ``folder`` is a file or not empty, or cannot be written.
    """
    from ...core.evaluate import write_text_atomically
    from ...core.io import write_volume

    out = Path(folder).expanduser()
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InvalidInputError(f"{out}: is not an empty folder; choose a new or empty folder for the cohort")
    rows = []
    try:
        for name, dx, vol in subjects:
            write_volume(vol, out / "t1" / f"{name}.nii.gz")
            rows.append({"subject": name, "diagnosis": dx, "source": name})
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["subject", "diagnosis", "source"], lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        write_text_atomically(out / "labels.csv", buf.getvalue())
    except OSError as exc:
        raise InvalidInputError(f"{out}: cannot write the cohort here ({exc.strerror or exc}); choose another "
                                "folder") from exc
    dx = [d for _n, d, _v in subjects]
    return WrittenCohort(folder=out, labels_csv=out / "labels.csv", n_ad=dx.count("AD"), n_nc=dx.count("NC"))


# ------------------------------------------------------------------ model folders
@dataclass(frozen=True)
class ModelInfo:
    """A model folder as the widget shows it: a paragraph, whether it is unusable or untrained (red)."""

    text: str
    error: bool
    usable: bool


def describe_model_folder(folder: str) -> ModelInfo:
    """Say what ``folder`` holds (its contract, no weights loaded): none, not a model, not Alzheimer, untrained."""
    folder = folder.strip()
    if not folder:
        return ModelInfo("No model chosen: choose a folder trained for Alzheimer's disease with 'Model folder…' "
                         "(train one with 'Alzheimer training' or 'napari-medai train alzheimer').", True, False)
    from ...core.models.contract import ModelContract
    from ...core.models.persistence import read_model_json

    try:
        contract = ModelContract.from_dict(read_model_json(Path(folder)).get("contract") or {})
    except (MedaiError, TypeError, ValueError, KeyError) as exc:
        return ModelInfo(f"{folder}: not a napari-medai model folder ({error_text(exc)})", True, False)
    if "alzheimer" not in contract.task.lower():
        return ModelInfo(f"{contract.name} is a {contract.task} model, not an Alzheimer model: choose a folder "
                         "trained with 'napari-medai train alzheimer'.", True, False)
    untrained = "" if contract.is_trained else "NOT TRAINED (random weights): no probability will be shown. "
    return ModelInfo(untrained + contract.summary(), not contract.is_trained, True)


__all__ = ["DIAGNOSES", "OWN_ROLES", "ModelInfo", "PathRow", "WrittenCohort", "cohort_layers", "default_template_path",
           "describe_model_folder", "diagnosis_of", "open_cohort", "t1_choices", "write_cohort"]
