"""Stroke lesions (Plugins > napari-medai > Stroke lesions): the GUI of ``napari-medai stroke``.

The widget only wires. It picks the DWI, ADC and optional FLAIR (MRI) or the CTA by their layer names
(:mod:`.inputs`), shows the ADC unit the core finds (:func:`~napari_medai.core.tasks.stroke.units.detect_adc_unit`)
with an override, and runs :func:`~napari_medai.core.tasks.stroke.segment.segment_stroke` off the GUI thread
through the shared :class:`~napari_medai._napari._jobs.JobRunner` (progress, Cancel, an error shown once in
red; a failed or cancelled run adds nothing). The result is a lesion Labels layer marked as a prediction in
the ISLES convention, a probability layer, the total infarct volume, a lesion table whose rows jump to their
lesion, the core's notes, and with FLAIR the DWI-FLAIR mismatch (a research measure, not a treatment
decision). "Save segmentation…" writes the lesions with the image's geometry; "Compare with ground truth"
opens the agreement panel (through its Plugins menu entry) on the lesions and the ground truth in the ISLES
convention.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QShortcut,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import InvalidInputError, MedaiError
from .._jobs import JobRunner
from .._widgets import (
    RED,
    LabelLegend,
    error_text,
    process_events_until,
    save_labels_dialog,
    scroll_vertically,
    spin,
    watch,
    wrapped,
)
from ..layers import META_KEY, layer_to_volume, volume_to_layer_data
from .inputs import InputRows, sidecar_of, truth_layer_for
from .results import LesionTable, mismatch_text, rsi_by_lesion, total_text
from .words import METHOD_TIPS, METHODS, SOURCE_WORDS, UNIT_CHOICES, UNIT_WORDS, gui_words, reworded

if TYPE_CHECKING:
    import napari

#: The keys that run the stroke segmentation (not used by napari itself).
RUN_SHORTCUT = "Ctrl+Shift+K"
#: The Plugins menu's names (the agreement panel is opened through its entry, so there is one panel).
PLUGIN = "napari-medai"
AGREEMENT_WIDGET = "Agreement with ground truth"
#: Label convention of the lesion layer (ISLES: 1 = lesion).
CONVENTION = "isles"
#: Names of the layers the widget adds.
LESIONS = "stroke lesions"
LESION_IDS = "stroke lesion ids"
PROBABILITY = "stroke lesion probability"
SCORE = "stroke lesion score"
class StrokeWidget(QWidget):
    """Segment ischaemic stroke lesions on MRI (DWI + ADC [+ FLAIR]) or CT angiography (see module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.result: Any = None  # StrokeResult of the last run
        self.output_layer: Any = None
        self.agreement: Any = None
        self.model_contract: Any = None  # ModelContract of the chosen model folder (None: none, or unusable)
        self._pending: list[Any] = []  # result layers added one per event-loop turn (each holds the GUI thread)
        self.unit: Any = None  # AdcUnit found for the chosen ADC layer (None: none chosen, or it failed)

        self.jobs = JobRunner("Choose the images (layers named dwi, adc, flair or cta are chosen for you), then Run.")
        self.status = self.jobs.status
        self.modality_combo = QComboBox()
        self.modality_combo.addItems(["MRI", "CTA"])
        self.modality_combo.setToolTip("MRI: DWI (b=1000) and ADC, optionally FLAIR. CTA: one CT angiography "
                                       "volume in HU.")
        self.inputs = InputRows(viewer)
        self.mirror_check = QCheckBox("add mirrored copy")
        self.mirror_check.setToolTip("For a trained model: give it the CTA mirrored about the head's mid-sagittal "
                                     "plane (found from the image) as an extra channel, as Öman et al. 2019 did.")
        self.unit_combo = QComboBox()
        for text, value in UNIT_CHOICES:
            self.unit_combo.addItem(text, value)
        self.unit_combo.setToolTip("The ADC map's unit: found from its values (and the sidecar JSON), or set by you. "
                                   "The 620 × 10⁻⁶ mm²/s threshold never runs in the wrong unit.")
        self.scale_spin = spin(1e-6, 1e6, 1.0, decimals=6, step=0.1, tip=(
            "Scanner-scaled ADC: 10⁻⁶ mm²/s per stored unit (e.g. 0.1 when the map stores ADC × 10⁷ mm²/s)"))
        self.scale_spin.setPrefix("× ")
        self.scale_spin.setVisible(False)
        self.unit_info = wrapped()
        self.method_combo = QComboBox()
        for text, value in METHODS:
            self.method_combo.addItem(text, value)
        self.model_edit = QLineEdit()
        self.model_edit.setPlaceholderText("a model folder trained for stroke")
        self.model_edit.setReadOnly(True)
        self.model_button = QPushButton("Model folder…")
        self.model_button.setToolTip("Choose a napari-medai model folder (model.json + model.pt) trained with "
                                     "'napari-medai train stroke' or the training widget")
        self.model_info = wrapped()
        self.separate_check = QCheckBox("separate lesions")
        self.separate_check.setToolTip("Also add a layer where each connected lesion has its own id")
        self.run_button = QPushButton("Run")
        self.run_button.setToolTip(f"Segment the lesions ({RUN_SHORTCUT}; off the GUI thread, Cancel stops it "
                                   "and adds nothing)")
        self.save_button = QPushButton("Save segmentation…")
        self.save_button.setToolTip("Write the lesions with the image's geometry (NIfTI, NRRD, MetaImage)")
        self.save_button.setEnabled(False)
        self.compare_button = QPushButton("Compare with ground truth")
        self.compare_button.setToolTip("Open the agreement panel on the lesions and the open ground truth in the "
                                       "ISLES convention (Dice, sensitivity, specificity, volume difference, "
                                       "lesion-wise F1)")
        self.compare_button.setEnabled(False)
        self.total = wrapped()
        font = self.total.font()
        font.setBold(True)
        self.total.setFont(font)
        self.legend = LabelLegend()
        self.table = LesionTable(viewer)
        self.mismatch = wrapped()
        self.notes = wrapped()

        self._build()
        self.modality_combo.currentTextChanged.connect(self._modality_changed)
        self.method_combo.currentIndexChanged.connect(lambda _i: self._method_changed())
        self.unit_combo.currentIndexChanged.connect(lambda _i: self._unit_chosen())
        self.scale_spin.editingFinished.connect(self.detect_unit)
        self.inputs.changed.connect(self._input_changed)
        self.model_button.clicked.connect(self.choose_model_folder)
        self.run_button.clicked.connect(self.run)
        self.save_button.clicked.connect(self.save_segmentation)
        self.compare_button.clicked.connect(self.compare)
        QShortcut(QKeySequence(RUN_SHORTCUT), self).activated.connect(
            lambda: self.run_button.isEnabled() and self.run())
        for emitter in (viewer.layers.events.inserted, viewer.layers.events.removed):
            watch(self, emitter, self._update_compare)
        self._modality_changed("MRI")

    def _build(self) -> None:
        top = QFormLayout()
        top.addRow("modality", self.modality_combo)
        options = QFormLayout()
        options.addRow("", self.mirror_check)
        unit_row = QHBoxLayout()
        unit_row.addWidget(self.unit_combo, stretch=1)
        unit_row.addWidget(self.scale_spin)
        options.addRow("ADC unit", unit_row)
        self._unit_row = unit_row
        options.addRow(self.unit_info)  # the whole width: a long layer name wraps less
        options.addRow("method", self.method_combo)
        model_row = QHBoxLayout()
        model_row.addWidget(self.model_edit, stretch=1)
        model_row.addWidget(self.model_button)
        options.addRow("model", model_row)
        self._model_row = model_row
        self._options = options
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.separate_check)
        buttons.addStretch(1)
        after = QHBoxLayout()
        after.addWidget(self.save_button)
        after.addWidget(self.compare_button)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(top)
        layout.addWidget(self.inputs)
        layout.addLayout(options)
        layout.addWidget(self.model_info)
        layout.addLayout(buttons)
        layout.addWidget(self.jobs)
        layout.addWidget(self.total)
        layout.addWidget(self.legend)
        layout.addWidget(self.table)
        layout.addWidget(self.mismatch)
        layout.addWidget(self.notes)
        layout.addLayout(after)
        layout.addStretch(1)
        self._scroll = scroll_vertically(self, content)
        self.jobs.add_run_buttons(self.run_button)
        self.table.setVisible(False)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        QTimer.singleShot(0, self._scroll.updateGeometry)  # napari's theme, applied now, widens some fields

    # ------------------------------------------------------------------ choices
    @property
    def modality(self) -> str:
        return self.modality_combo.currentText()

    @property
    def method(self) -> str:
        return str(self.method_combo.currentData())

    def _modality_changed(self, modality: str) -> None:
        self.inputs.set_modality(modality)
        mri = modality == "MRI"
        self._options.setRowVisible(self.mirror_check, not mri)
        self._options.setRowVisible(self._unit_row, mri)  # shows every widget of the row
        self.scale_spin.setVisible(mri and self.unit_combo.currentData() == "scaled")
        self._options.setRowVisible(self.unit_info, mri)
        self.method_combo.setItemText(0, "clinical threshold baseline")
        self.method_combo.setItemData(0, METHOD_TIPS[modality], 3)  # Qt.ToolTipRole
        self.detect_unit()
        self._method_changed()

    def _method_changed(self) -> None:
        model = self.method == "model"
        self.mirror_check.setEnabled(model)
        self._options.setRowVisible(self._model_row, model)
        self.model_info.setVisible(model)
        self.method_combo.setToolTip(METHOD_TIPS[self.modality] if not model else
                                     "A network you trained on your own cases (SegResNet or DeepMedic).")
        if model:
            self._describe_model()

    def _input_changed(self, key: str) -> None:
        if key == "adc":
            self.detect_unit()

    def choose_model_folder(self) -> None:
        """Ask for a stroke model folder."""
        path = QFileDialog.getExistingDirectory(self, "Stroke model folder (model.json + model.pt)")
        if path:
            self.set_model_folder(path)

    def use_model_folder(self, path: str) -> None:
        """Choose the 'trained model' method with the model in ``path`` (the training widget's hand-over)."""
        self.method_combo.setCurrentIndex([v for _t, v in METHODS].index("model"))
        self.set_model_folder(path)

    def set_model_folder(self, path: str) -> None:
        """Use the model in ``path`` (read when Run is pressed; its description is shown at once)."""
        self.model_edit.setText(str(path))
        self._describe_model()

    def _describe_model(self) -> None:
        """Say what the chosen folder holds (its contract, no weights loaded): not given, not trained, not stroke."""
        self.model_contract = None
        folder = self.model_edit.text().strip()
        if not folder:
            self._say(self.model_info, "No model chosen: choose a folder trained for stroke with 'Model folder…' "
                      "(train one with 'napari-medai train stroke' or the training widget).", error=True)
            return
        from ...core.models.contract import ModelContract
        from ...core.models.persistence import read_model_json

        try:
            contract = ModelContract.from_dict(read_model_json(Path(folder)).get("contract") or {})
        except (MedaiError, TypeError, ValueError, KeyError) as exc:
            self._say(self.model_info, f"{folder}: not a napari-medai model folder ({error_text(exc)})", error=True)
            return
        if "stroke" not in contract.task:
            self._say(self.model_info, f"{contract.name} is a {contract.task} model, not a stroke model: choose a "
                      "folder trained with 'napari-medai train stroke'.", error=True)
            return
        self.model_contract = contract
        self._say(self.model_info, ("NOT TRAINED (random weights): its output is meaningless. "
                                    if not contract.is_trained else "") + contract.summary(),
                  error=not contract.is_trained)

    @staticmethod
    def _say(label: Any, text: str, *, error: bool = False) -> None:
        label.setText(text)
        label.setStyleSheet(RED if error else "")

    # ------------------------------------------------------------------ the ADC unit
    def unit_override(self) -> str:
        """The unit passed to the core: "auto", "1e-6", "1e-3" or "scaled:K"."""
        value = str(self.unit_combo.currentData())
        return f"scaled:{self.scale_spin.value():g}" if value == "scaled" else value

    def _unit_chosen(self) -> None:
        self.scale_spin.setVisible(self.unit_combo.currentData() == "scaled")
        self.detect_unit()

    def detect_unit(self) -> None:
        """Find the chosen ADC layer's unit (values, sidecar JSON, or the override) and say it in words."""
        self.unit = None
        name = self.inputs.chosen("adc") if self.modality == "MRI" else None
        if name is None or name not in self.viewer.layers:
            self._say(self.unit_info, "")
            return
        from ...core.tasks.stroke.units import detect_adc_unit

        layer = self.viewer.layers[name]
        override = self.unit_override()
        try:
            unit = detect_adc_unit(layer_to_volume(layer), sidecar=sidecar_of(layer),
                                   override=None if override == "auto" else override)
        except MedaiError as exc:
            self._say(self.unit_info, gui_words(str(exc)), error=True)
            return
        self.unit = unit
        self._say(self.unit_info, f"'{name}' is in {UNIT_WORDS.get(unit.unit, unit.unit)} "
                  f"({SOURCE_WORDS.get(unit.source, unit.source)}: {unit.evidence}).")

    # ------------------------------------------------------------------ running
    @property
    def busy(self) -> bool:
        """A job runs, or result layers still wait to be added."""
        return self.jobs.busy or bool(self._pending)

    def wait_idle(self, timeout_s: float = 120.0) -> bool:
        """Process events until no job runs (tests, scripts); False when the time is up."""
        return process_events_until(lambda: not self.busy, timeout_s)

    def run(self) -> bool:
        """Segment the lesions off the GUI thread; False (and why, in red) when refused."""
        problem = self.inputs.problem()
        if problem:
            return self.jobs.refuse(InvalidInputError(problem))
        self._pending.clear()  # layers of an earlier result not added yet: superseded
        method = self.method
        folder = self.model_edit.text().strip()
        if method == "model" and (not folder or self.model_contract is None):
            return self.jobs.refuse(InvalidInputError(
                "no stroke model chosen: choose a folder trained for stroke with 'Model folder…', or use the "
                "clinical threshold baseline" if not folder else self.model_info.text()))
        chosen = {key: self.viewer.layers[name] for key, name in self.inputs.assignment().items() if name is not None}
        try:
            vols = {key: layer_to_volume(layer) for key, layer in chosen.items()}
            sidecars = {key: sc for key, layer in chosen.items() for sc in [sidecar_of(layer)] if sc is not None}
        except MedaiError as exc:
            return self.jobs.refuse(exc)
        except ValueError as exc:  # a layer that is no 3-D volume
            return self.jobs.refuse(InvalidInputError(str(exc)))
        kwargs: dict[str, Any] = {"method": method, "separate_lesions": self.separate_check.isChecked(),
                                  "sidecars": sidecars or None}
        if self.modality == "MRI":
            kwargs["adc_unit"] = self.unit_override()
        else:
            kwargs["mirror"] = self.mirror_check.isChecked() and method == "model"
        names = dict(self.inputs.assignment())

        def work() -> Any:
            from ...core.tasks.stroke.segment import segment_stroke

            try:
                return segment_stroke(**vols, **kwargs, model=folder if method == "model" else None,
                                      progress=self.jobs.progress_callback, should_stop=self.jobs.cancelled)
            except MedaiError as exc:  # the same error in the widget's words (controls, not flags)
                raise reworded(exc) from exc

        return self.jobs.start(work, lambda result: self._show(result, names), "segmenting the lesions…")

    # ------------------------------------------------------------------ the result
    def _show(self, result: Any, names: dict[str, str | None]) -> None:
        self.result = result
        source = names.get("dwi") or names.get("cta")  # its layer may have been closed meanwhile
        binary = (np.asarray(result.labels.data) > 0).astype(np.uint8)
        model = result.method
        lesions = result.labels.with_data(binary, name=LESIONS, is_label=True, label_names={1: "infarct"})
        self.output_layer = self._add(lesions, role="prediction", convention=CONVENTION, model=model)
        for old in (LESION_IDS, PROBABILITY, SCORE):
            if old in self.viewer.layers:
                self.viewer.layers.remove(old)
        # napari holds the GUI thread for each new layer (its visuals, a few hundred ms on 2 busy cores): the
        # other layers come one per event-loop turn, so the viewer answers in between
        if self.separate_check.isChecked():
            ids = result.labels.with_data(np.asarray(result.labels.data), name=LESION_IDS, is_label=True,
                                          label_names={int(r.id): f"lesion {r.id}" for r in result.lesions})
            self._later(lambda: self._show_ids(ids, model))
        if result.probability is not None:  # the baseline's is a score (how far below the threshold), not calibrated
            name = PROBABILITY if result.method == "model" else SCORE
            prob = result.probability.with_data(np.asarray(result.probability.data, dtype=np.float32),
                                                name=name, is_label=False)
            self._later(lambda: self._add(prob, role="probability", model=model, colormap="magma", visible=False,
                                          contrast_limits=(0.0, 1.0)))
        self._later(self._select_result)  # napari selects each new layer: the lesions again, last
        shown = self.output_layer
        self.legend.show_layer(shown)
        self.total.setText(total_text(result))
        self.table.show_rows(result.lesions, shown, rsi_by_lesion(result.mismatch))
        self.table.setVisible(bool(result.lesions))
        self._say(self.mismatch, mismatch_text(result.mismatch))
        self.mismatch.setVisible(result.mismatch is not None)
        self.notes.setText("\n".join(f"• {n}" for n in result.notes))
        self.save_button.setEnabled(True)
        QTimer.singleShot(0, self._scroll.updateGeometry)  # the table may need a wider dock
        QTimer.singleShot(0, self, self.scroll_to_result)
        trained = result.method != "model" or (self.model_contract is not None and self.model_contract.is_trained)
        self.jobs.set_status(("" if trained else "NOT TRAINED model: this output is meaningless. ")
                             + f"Done: {result.method} on '{source}'.", error=not trained)
        self._update_compare()

    def _later(self, add: Any) -> None:
        """Queue ``add()`` for a later event-loop turn, one at a time."""
        self._pending.append(add)
        if len(self._pending) == 1:
            QTimer.singleShot(0, self, self._next_pending)

    def _next_pending(self) -> None:
        if not self._pending:
            return
        self._pending.pop(0)()
        if self._pending:
            QTimer.singleShot(0, self, self._next_pending)

    def _show_ids(self, ids: Any, model: str) -> None:
        """The lesion-id layer over the 0/1 lesions (hidden then); the legend shows each lesion's colour."""
        layer = self._add(ids, role="lesion ids", model=model)
        if self.output_layer is not None and self.output_layer.name in self.viewer.layers:
            self.output_layer.visible = False
        self.legend.show_layer(layer)

    def _select_result(self) -> None:
        """Select the lesion layer shown (its controls, e.g. opacity and contour, in napari's layer panel)."""
        for name in (LESION_IDS, LESIONS):
            if name in self.viewer.layers and self.viewer.layers[name].visible:
                self.viewer.layers.selection.active = self.viewer.layers[name]
                return

    def scroll_to_result(self) -> None:
        """Bring the total and the lesion table into view (a short dock scrolls)."""
        bar = self._scroll.verticalScrollBar()
        bar.setValue(min(bar.maximum(), max(0, self.total.y() - 8)))

    def _add(self, vol: Any, *, role: str, model: str, convention: str | None = None, **extra: Any) -> Any:
        """Add ``vol`` as a layer (replacing one of its name) with the widget's metadata; returns the layer."""
        data, kw, kind = volume_to_layer_data(vol)[0]
        kw["metadata"][META_KEY].update(role=role, model=model, **({"convention": convention} if convention else {}))
        kw.update(extra)
        if vol.name in self.viewer.layers:
            self.viewer.layers.remove(vol.name)
        return getattr(self.viewer, f"add_{kind}")(data, **kw)

    # ------------------------------------------------------------------ after a run
    def truth_layer(self) -> Any:
        """The open ground truth on the lesions' grid (a Labels layer named like lesion / msk / gt), or None."""
        if self.output_layer is None or self.output_layer.name not in self.viewer.layers:
            return None
        return truth_layer_for(self.viewer, self.output_layer)

    def _update_compare(self, *_: Any) -> None:
        truth = self.truth_layer()
        self.compare_button.setEnabled(truth is not None)
        self.compare_button.setToolTip(
            f"Open the agreement panel on '{LESIONS}' and '{truth.name}' in the ISLES convention" if truth is not None
            else "Open a ground-truth Labels layer (named like lesion, msk or gt) on the lesions' grid first")

    def compare(self) -> Any:
        """Open the agreement panel (its Plugins menu entry) on the lesions and the ground truth, ISLES convention."""
        truth = self.truth_layer()
        if truth is None:
            self.jobs.refuse(InvalidInputError("no ground truth to compare with: open a Labels layer named like "
                                               "lesion, msk or gt on the lesions' grid"))
            return None
        dock, panel = self.viewer.window.add_plugin_dock_widget(PLUGIN, AGREEMENT_WIDGET)
        _share_height(self, dock)
        panel.set_pair(pred=self.output_layer.name, gt=truth.name, convention=CONVENTION)
        self.agreement = panel
        return panel

    def save_segmentation(self) -> bool:
        """Ask where, then write the lesions with their image's geometry."""
        layer = self.output_layer
        if layer is None or layer.name not in self.viewer.layers:
            return self.jobs.refuse(InvalidInputError("run first: there are no lesions to save"))
        first = next((self.viewer.layers[n] for n in self.inputs.assignment().values()
                      if n is not None and n in self.viewer.layers), None)
        source = ((first.metadata or {}).get(META_KEY, {}).get("source") or "") if first is not None else ""
        start = str(Path(source).parent) if source else ""
        return self.jobs.run_now(lambda: save_labels_dialog(self, layer, start_dir=start),
                                 lambda path: path and self.jobs.set_status(f"Saved {path}"))


def _share_height(widget: QWidget, dock: Any) -> None:
    """Give the agreement panel's dock half of the height it shares with ``widget``'s dock (the stroke widget
    scrolls; the panel's table would otherwise be squeezed to a few pixels)."""
    from qtpy.QtWidgets import QDockWidget, QMainWindow

    mine, main = widget.parentWidget(), dock.parentWidget()
    if not (isinstance(mine, QDockWidget) and isinstance(main, QMainWindow)) or mine is dock:
        return

    def share() -> None:  # once the main window has placed the new dock
        total = mine.height() + dock.height()
        if dock.height() < 0.4 * total and main.dockWidgetArea(mine) == main.dockWidgetArea(dock):
            main.resizeDocks([mine, dock], [total // 2, total - total // 2], Qt.Vertical)

    QTimer.singleShot(0, dock, share)


__all__ = ["CONVENTION", "RUN_SHORTCUT", "LESIONS", "LESION_IDS", "PROBABILITY", "SCORE", "StrokeWidget"]
