"""The settings form of the agreement panel: which two Labels layers, which convention, which options.

It picks the pair itself (:func:`~napari_medai.core.agreement_session.pick_pair`: a layer declared
``role="prediction"`` by a task widget, names like ``seg`` / ``gt`` / ``ground truth`` for the reference)
and the convention (the one the prediction declares, else guessed from the label values) until the user
chooses: what the user chose is kept.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Signal
from qtpy.QtWidgets import QCheckBox, QComboBox, QFormLayout, QLineEdit, QWidget

from ...core.agreement_session import LayerInfo, guess_convention, label_values, pick_pair
from ...core.metrics import CONVENTIONS
from .._widgets import spin
from ..layers import META_KEY

CUSTOM = "custom…"


def medai_meta(layer: Any) -> dict[str, Any]:
    """A layer's napari-medai metadata (role, convention, geometry), merged over its plain metadata."""
    md = getattr(layer, "metadata", None) or {}
    return {**md, **(md.get(META_KEY) or {})}


class PairForm(QWidget):
    """Prediction, Ground truth, Convention, Regions, NSD tolerance, Lesion matching and two check boxes."""

    #: The prediction or the ground-truth layer is another one (or gone).
    pair_changed = Signal()
    #: Convention, regions, tolerance or lesion matching changed.
    settings_changed = Signal()

    def __init__(self, viewer: Any, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        #: What the user chose (kept when layers come and go): "pred", "gt", "convention".
        self.chosen = {"pred": False, "gt": False, "convention": False}
        self._pair: tuple[Any, Any] = (None, None)
        self.pred_combo = QComboBox()
        self.pred_combo.setToolTip("The segmentation to measure (the newest model output by default).")
        self.gt_combo = QComboBox()
        self.gt_combo.setToolTip("The reference segmentation (a layer named like seg, gt, label, ground truth). "
                                 "Shortcut G in the viewer: show / hide it.")
        self.convention_combo = QComboBox()
        self.convention_combo.addItems([*CONVENTIONS.keys(), CUSTOM])
        self.convention_combo.setCurrentText("binary")
        self.convention_combo.setToolTip("Which label values exist and how they form regions (the model's, else "
                                         "guessed from the label values).")
        self.regions_edit = QLineEdit()
        self.regions_edit.setPlaceholderText("e.g. WT=1,2,4;TC=1,4;ET=4")
        self.regions_edit.setEnabled(False)
        self.tolerance_spin = spin(0.0, 50.0, 1.0, decimals=2, step=0.5, suffix=" mm",
                                   tip="Normalised surface Dice tolerance.")
        self.lesion_combo = QComboBox()
        self.lesion_combo.addItems(["isles", "brats2023"])
        self.live_check = QCheckBox("Update live while painting")
        self.live_check.setChecked(True)
        self.outline_check = QCheckBox("Ground truth as outline")
        self.outline_check.setChecked(True)
        self.outline_check.setToolTip("Draw the ground truth as contours so the prediction stays visible (G: "
                                      "show / hide the ground truth).")
        form = QFormLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for label, w in (("Prediction", self.pred_combo), ("Ground truth", self.gt_combo),
                         ("Convention", self.convention_combo), ("Regions", self.regions_edit),
                         ("NSD tolerance", self.tolerance_spin), ("Lesion matching", self.lesion_combo)):
            form.addRow(label, w)
        form.addRow("", self.live_check)
        form.addRow("", self.outline_check)
        self.convention_combo.currentTextChanged.connect(self._convention_changed)
        self.convention_combo.activated.connect(lambda *_: self.chosen.update(convention=True))
        self.regions_edit.editingFinished.connect(self._regions_edited)
        self.tolerance_spin.valueChanged.connect(lambda *_: self.settings_changed.emit())
        self.lesion_combo.currentTextChanged.connect(lambda *_: self.settings_changed.emit())
        for key, combo in (("pred", self.pred_combo), ("gt", self.gt_combo)):
            combo.currentTextChanged.connect(self._check_pair)
            combo.activated.connect(lambda *_, key=key: self._user_chose(key))

    # ------------------------------------------------------------------ layers
    def labels_layers(self) -> list[Any]:
        """The viewer's Labels layers that can be compared (not the error maps)."""
        from napari.layers import Labels

        return [ly for ly in self.viewer.layers if isinstance(ly, Labels) and "error_map" not in (ly.metadata or {})]

    def layer(self, name: str) -> Any:
        return next((ly for ly in self.labels_layers() if ly.name == name), None)

    def layers(self) -> tuple[Any, Any]:
        """The chosen (prediction, ground truth) layers; None where there is none."""
        return self.layer(self.pred_combo.currentText()), self.layer(self.gt_combo.currentText())

    def refresh(self, *_: Any, forget: bool = False) -> None:
        """List the Labels layers again and pick the pair (the user's choice stays while its layer does)."""
        if forget:
            self._pair = (None, None)
        layers = self.labels_layers()
        names = [ly.name for ly in layers]
        auto = pick_pair([LayerInfo(ly.name, medai_meta(ly).get("role")) for ly in layers])
        for combo, key, picked in ((self.pred_combo, "pred", auto[0]), (self.gt_combo, "gt", auto[1])):
            current = combo.currentText()
            if current not in names:
                self.chosen[key] = False
            keep = current if self.chosen[key] else picked
            if [combo.itemText(i) for i in range(combo.count())] == names and current == (keep or ""):
                continue
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentIndex(names.index(keep) if keep in names else -1)
            combo.blockSignals(False)
        self._check_pair()

    def choose(self, *, pred: str, gt: str, convention: str | None = None) -> None:
        """Choose as a user would (the choice is kept)."""
        self.chosen.update(pred=True, gt=True)
        self.refresh()
        if convention is not None:
            self.set_convention(convention)
            self.chosen["convention"] = True
        self.pred_combo.setCurrentText(pred)
        self.gt_combo.setCurrentText(gt)
        self._check_pair()

    def _user_chose(self, key: str) -> None:
        self.chosen[key] = True
        self._check_pair()

    def _check_pair(self, *_: Any) -> None:
        pred, gt = self.layers()
        pair = (getattr(pred, "unique_id", None), getattr(gt, "unique_id", None))
        if pair == self._pair:
            return
        self._pair = pair
        if pred is not None and gt is not None and not self.chosen["convention"]:
            declared = medai_meta(pred).get("convention") or medai_meta(gt).get("convention")
            spec = declared or guess_convention(set(label_values(pred.data)) | set(label_values(gt.data)))
            if spec:
                self.set_convention(str(spec))
        self.pair_changed.emit()

    # ------------------------------------------------------------------ convention
    def convention(self) -> str:
        """The convention's name, or the custom 'NAME=1,2;...' spec of 'Regions'."""
        text = self.convention_combo.currentText()
        return self.regions_edit.text().strip() if text == CUSTOM else text

    def set_convention(self, spec: str) -> None:
        if spec in CONVENTIONS:
            self.convention_combo.setCurrentText(spec)
        else:
            self.convention_combo.setCurrentText(CUSTOM)
            self.regions_edit.setText(spec)
            self.settings_changed.emit()

    def _convention_changed(self, text: str) -> None:
        self.regions_edit.setEnabled(text == CUSTOM)
        self.settings_changed.emit()

    def _regions_edited(self) -> None:
        self.chosen["convention"] = True
        self.settings_changed.emit()
