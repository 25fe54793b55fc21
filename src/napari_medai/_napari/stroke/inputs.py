"""The stroke widget's inputs: which open layer is the DWI, the ADC, the FLAIR or the CTA (by name only),
the ADC sidecar JSON beside a file, and which Labels layer is the ground truth of a stroke result.

A row is filled only by an image whose name says what it is (``sub-strokecase0009_ses-0001_dwi`` -> DWI),
never by "the first layer"; a user's choice stays while its layer is open (also through a rename).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QComboBox, QFormLayout, QVBoxLayout, QWidget

from ...core.errors import InvalidInputError, MedaiError
from ...core.models.contract import guess_channel
from .._widgets import RED, watch_layer_names, wrapped
from ..layers import META_KEY, layer_to_volume

#: The inputs of each modality, in form order; FLAIR is optional.
MODALITY_INPUTS = {"MRI": ("dwi", "adc", "flair"), "CTA": ("cta",)}
OPTIONAL = ("flair",)
#: How each input is written on the form.
INPUT_LABELS = {"dwi": "DWI", "adc": "ADC", "flair": "FLAIR", "cta": "CTA"}
#: Name parts that say what an image is (compared lower-case, split at punctuation and spaces).
NAME_PARTS = {
    "dwi": ("dwi", "trace", "tracew", "b1000"),
    "adc": ("adc",),
    "cta": ("cta", "ctasi", "ctangio", "angio"),
}
#: Name parts that mark a stroke ground truth (a lesion mask); brain masks never are.
TRUTH_PARTS = ("gt", "msk", "mask", "lesion", "lesions", "infarct", "truth", "seg", "label", "labels", "manual",
               "reference", "core")
NOT_TRUTH = ("brainmask", "brain mask", "brain_mask", "brain-mask", "headmask", "head mask")
#: Placeholder of the optional FLAIR row.
NO_FLAIR = "(none)"


def _parts(name: str) -> list[str]:
    return [p for p in re.split(r"[^a-z0-9]+", name.lower()) if p]


def input_kind(name: str) -> str | None:
    """What an image layer's name says it is: ``"dwi"``, ``"adc"``, ``"flair"``, ``"cta"`` or None.

    A mirrored copy (``"cta mirrored"``) is no input of its own.
    """
    parts = _parts(name)
    if any(p.startswith("mirror") for p in parts):
        return None
    for kind, words in NAME_PARTS.items():
        if any(p in words for p in parts):
            return kind
    return "flair" if guess_channel(name) == "flair" else None


def is_truth_name(name: str) -> bool:
    """A Labels layer's name looks like a stroke lesion ground truth (``lesion``, ``..._msk``, ``gt``)."""
    low = name.lower()
    if any(n in low for n in NOT_TRUTH):
        return False
    return any(p in TRUTH_PARTS for p in _parts(name)) or "ground truth" in low


def truth_layer_for(viewer: Any, prediction: Any) -> Any:
    """The open Labels layer named like a stroke ground truth on ``prediction``'s grid, or None.

    Layers the stroke widget made (``role`` set in their napari-medai metadata) never count.
    """
    from napari.layers import Labels

    for ly in viewer.layers:
        md = (ly.metadata or {}).get(META_KEY, {})
        if (isinstance(ly, Labels) and ly.name != prediction.name and not md.get("role")
                and ly.data.shape == prediction.data.shape and is_truth_name(ly.name)):
            return ly
    return None


def sidecar_of(layer: Any) -> dict[str, Any] | None:
    """The BIDS sidecar JSON beside the file a layer was read from (``x_adc.nii.gz`` -> ``x_adc.json``), or None.

    Raises :class:`~napari_medai.core.errors.InvalidInputError` when the sidecar is there but unreadable.
    """
    from ...core.tasks.stroke.inputs import find_sidecar

    source = ((getattr(layer, "metadata", None) or {}).get(META_KEY, {}) or {}).get("source")
    return find_sidecar(source) if source else None


def chosen_volumes(viewer: Any, assignment: dict[str, str | None]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The chosen layers as Volumes, and the sidecar JSON of those that have one: ``({key: Volume}, {key: dict})``.

    Raises :class:`~napari_medai.core.errors.InvalidInputError` for a layer that is no 3-D volume or an
    unreadable sidecar.
    """
    chosen = {key: viewer.layers[name] for key, name in assignment.items() if name is not None}
    try:
        vols = {key: layer_to_volume(layer) for key, layer in chosen.items()}
    except MedaiError:
        raise
    except ValueError as exc:  # a layer that is no 3-D volume
        raise InvalidInputError(str(exc)) from exc
    sidecars = {key: sc for key, layer in chosen.items() for sc in [sidecar_of(layer)] if sc is not None}
    return vols, sidecars


def source_folder(viewer: Any, assignment: dict[str, str | None]) -> str:
    """The folder of the file the first chosen input was read from ('' when it was not read from a file)."""
    first = next((viewer.layers[n] for n in assignment.values() if n is not None and n in viewer.layers), None)
    source = ((first.metadata or {}).get(META_KEY, {}).get("source") or "") if first is not None else ""
    return str(Path(source).parent) if source else ""


class InputRows(QWidget):
    """One form row per input of the chosen modality, each offering the open image layers named like it."""

    #: The chosen layer of a row changed (the row's key).
    changed = Signal(str)

    def __init__(self, viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.modality = "MRI"
        self.combos: dict[str, QComboBox] = {}
        self.form = QFormLayout()
        self.form.setContentsMargins(0, 0, 0, 0)
        for key in ("dwi", "adc", "flair", "cta"):
            combo = QComboBox()
            combo.setPlaceholderText("choose a layer")
            optional = " (optional: brought onto the DWI grid)" if key in OPTIONAL else ""
            combo.setToolTip(f"The {INPUT_LABELS[key]} image{optional}; filled only by a layer named like it")
            combo.currentTextChanged.connect(lambda _t, key=key: self._chosen(key))
            self.combos[key] = combo
            self.form.addRow(INPUT_LABELS[key], combo)
        self.note = wrapped()
        self.note.setVisible(False)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(self.form)
        layout.addWidget(self.note)
        watch_layer_names(self, viewer, self.refresh)
        self.set_modality("MRI")

    # ------------------------------------------------------------------ modality and choices
    def set_modality(self, modality: str) -> None:
        """Show the rows of ``modality`` ("MRI" or "CTA")."""
        self.modality = modality
        for key, combo in self.combos.items():
            self.form.setRowVisible(combo, key in MODALITY_INPUTS[modality])
        self.refresh()

    def keys(self) -> tuple[str, ...]:
        return MODALITY_INPUTS[self.modality]

    def chosen(self, key: str) -> str | None:
        """The layer name chosen for ``key``, or None (FLAIR's "(none)" included)."""
        text = self.combos[key].currentText()
        return text if text and text != NO_FLAIR else None

    def assignment(self) -> dict[str, str | None]:
        """``{input: layer name or None}`` of the shown rows."""
        return {k: self.chosen(k) for k in self.keys()}

    def problem(self) -> str:
        """One line: what stops a run (a missing input, one image in two rows), '' when nothing."""
        chosen = self.assignment()
        missing = [INPUT_LABELS[k] for k, v in chosen.items() if v is None and k not in OPTIONAL]
        names = [v for v in chosen.values() if v is not None]
        twice = sorted({n for n in names if names.count(n) > 1})
        parts = [f"'{n}' is chosen twice: each input needs its own image" for n in twice]
        if missing:
            parts.append("choose a layer for " + ", ".join(missing))
        return "; ".join(parts)

    def refresh(self, *_: Any) -> None:
        """Offer the open images in every row; keep each choice while its layer is open (also renamed)."""
        from napari.layers import Image

        names = [ly.name for ly in self.viewer.layers if isinstance(ly, Image)]
        before = {k: self.chosen(k) for k in self.combos}
        for key, combo in self.combos.items():
            current = combo.currentText()
            offered = [combo.itemText(i) for i in range(combo.count())]
            items = ([NO_FLAIR] if key in OPTIONAL else []) + names
            if current and current != NO_FLAIR and current not in names:
                new = [n for n in names if n not in offered]
                gone = [n for n in offered if n not in names and n != NO_FLAIR]
                current = new[0] if len(new) == 1 and len(gone) == 1 else ""  # renamed, or removed
            if not current or current == NO_FLAIR:
                taken = {c.currentText() for k, c in self.combos.items() if k != key}
                current = next((n for n in names if input_kind(n) == key and n not in taken), current)
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(items)
            combo.setCurrentIndex(items.index(current) if current in items else (0 if key in OPTIONAL else -1))
            combo.blockSignals(False)
        self._show_problem()
        for key in self.combos:
            if self.chosen(key) != before[key]:
                self.changed.emit(key)

    def _chosen(self, key: str) -> None:
        self._show_problem()
        self.changed.emit(key)

    def _show_problem(self) -> None:
        text = self.problem()
        self.note.setText(text)
        self.note.setVisible(bool(text))
        self.note.setStyleSheet(RED if "twice" in text else "")


__all__ = ["INPUT_LABELS", "MODALITY_INPUTS", "NO_FLAIR", "InputRows", "chosen_volumes", "input_kind",
           "is_truth_name", "sidecar_of", "source_folder", "truth_layer_for"]
