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

from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QTimer
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
    QWidget,
)

from ...core.errors import InvalidInputError, MedaiError
from .._jobs import JobRunner
from .._widgets import (
    RED,
    LabelLegend,
    button_row,
    field_row,
    process_events_until,
    save_labels_dialog,
    scroll_column,
    spin,
    watch,
    wrapped,
)
from ..layers import layer_to_volume
from ..prediction_layers import share_height
from . import result_layers as rl
from .inputs import InputRows, chosen_volumes, sidecar_of, source_folder, truth_layer_for
from .model_folder import NO_MODEL_REFUSAL, describe_model_folder
from .result_layers import CONVENTION, LESION_IDS, LESIONS, PROBABILITY, SCORE, TurnQueue
from .results import LesionTable, mismatch_text, notes_text, rsi_by_lesion, status_text, total_text
from .words import (
    METHOD_TIPS,
    METHODS,
    MODEL_TIP,
    RUN_SHORTCUT,
    TIPS,
    UNIT_CHOICES,
    compare_tip,
    gui_words,
    reworded,
    unit_text,
)

if TYPE_CHECKING:
    import napari

#: The Plugins menu's names (the agreement panel is opened through its entry, so there is one panel).
PLUGIN = "napari-medai"
AGREEMENT_WIDGET = "Agreement with ground truth"


class StrokeWidget(QWidget):
    """Segment ischaemic stroke lesions on MRI (DWI + ADC [+ FLAIR]) or CT angiography (see module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.result: Any = None  # StrokeResult of the last run
        self.output_layer: Any = None
        self.agreement: Any = None
        self.model_contract: Any = None  # ModelContract of the chosen model folder (None: none, or unusable)
        self._pending = TurnQueue(self)  # result layers added one per event-loop turn (each holds the GUI thread)
        self.unit: Any = None  # AdcUnit found for the chosen ADC layer (None: none chosen, or it failed)

        self.jobs = JobRunner("Choose the images (layers named dwi, adc, flair or cta are chosen for you), then Run.")
        self.status = self.jobs.status
        self.modality_combo = QComboBox()
        self.modality_combo.addItems(["MRI", "CTA"])
        self.inputs = InputRows(viewer)
        self.mirror_check = QCheckBox("add mirrored copy")
        self.unit_combo = QComboBox()
        for text, value in UNIT_CHOICES:
            self.unit_combo.addItem(text, value)
        self.scale_spin = spin(1e-6, 1e6, 1.0, decimals=6, step=0.1, tip=TIPS["scale"])
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
        self.model_info = wrapped()
        self.separate_check = QCheckBox("separate lesions")
        self.run_button = QPushButton("Run")
        self.save_button = QPushButton("Save segmentation…")
        self.save_button.setEnabled(False)
        self.compare_button = QPushButton("Compare with ground truth")
        self.compare_button.setEnabled(False)
        self.total = wrapped()
        font = self.total.font()
        font.setBold(True)
        self.total.setFont(font)
        self.legend = LabelLegend()
        self.table = LesionTable(viewer)
        self.mismatch = wrapped()
        self.notes = wrapped()
        for control, key in ((self.modality_combo, "modality"), (self.mirror_check, "mirror"), (self.unit_combo, "unit"),
                             (self.model_button, "model"), (self.separate_check, "separate"), (self.run_button, "run"),
                             (self.save_button, "save"), (self.compare_button, "compare")):
            control.setToolTip(TIPS[key])

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
        unit_row = field_row(self.unit_combo, self.scale_spin)
        options.addRow("ADC unit", unit_row)
        self._unit_row = unit_row
        options.addRow(self.unit_info)  # the whole width: a long layer name wraps less
        options.addRow("method", self.method_combo)
        model_row = field_row(self.model_edit, self.model_button)
        options.addRow("model", model_row)
        self._model_row = model_row
        self._options = options
        after = QHBoxLayout()
        after.addWidget(self.save_button)
        after.addWidget(self.compare_button)
        self._scroll = scroll_column(self, top, self.inputs, options, self.model_info,
                                     button_row(self.run_button, self.separate_check), self.jobs, self.total,
                                     self.legend, self.table, self.mismatch, self.notes, after)
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
        self.method_combo.setToolTip(MODEL_TIP if model else METHOD_TIPS[self.modality])
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
        info = describe_model_folder(self.model_edit.text())
        self.model_contract = info.contract
        self._say(self.model_info, info.text, error=info.error)

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
        self._say(self.unit_info, unit_text(name, unit))

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
            return self.jobs.refuse(InvalidInputError(NO_MODEL_REFUSAL if not folder else self.model_info.text()))
        try:
            vols, sidecars = chosen_volumes(self.viewer, self.inputs.assignment())
        except MedaiError as exc:
            return self.jobs.refuse(exc)
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
        model = result.method
        self.output_layer = rl.add_lesions(self.viewer, result)
        # napari holds the GUI thread for each new layer (its visuals, a few hundred ms on 2 busy cores): the
        # other layers come one per event-loop turn, so the viewer answers in between
        if self.separate_check.isChecked():
            ids = rl.ids_volume(result)  # the legend shows each lesion's colour
            self._pending.add(lambda: self.legend.show_layer(rl.add_ids(self.viewer, ids, model, self.output_layer)))
        prob = rl.probability_volume(result)
        if prob is not None:
            self._pending.add(lambda: rl.add_probability(self.viewer, prob, model))
        self._pending.add(lambda: rl.select_shown_lesions(self.viewer))  # napari selects each new layer: lesions last
        shown = self.output_layer
        self.legend.show_layer(shown)
        self.total.setText(total_text(result))
        self.table.show_rows(result.lesions, shown, rsi_by_lesion(result.mismatch))
        self.table.setVisible(bool(result.lesions))
        self._say(self.mismatch, mismatch_text(result.mismatch))
        self.mismatch.setVisible(result.mismatch is not None)
        self.notes.setText(notes_text(result))
        self.save_button.setEnabled(True)
        QTimer.singleShot(0, self._scroll.updateGeometry)  # the table may need a wider dock
        QTimer.singleShot(0, self, self.scroll_to_result)
        trained = result.method != "model" or (self.model_contract is not None and self.model_contract.is_trained)
        self.jobs.set_status(status_text(result, source, trained=trained), error=not trained)
        self._update_compare()

    def scroll_to_result(self) -> None:
        """Bring the total and the lesion table into view (a short dock scrolls)."""
        bar = self._scroll.verticalScrollBar()
        bar.setValue(min(bar.maximum(), max(0, self.total.y() - 8)))

    # ------------------------------------------------------------------ after a run
    def truth_layer(self) -> Any:
        """The open ground truth on the lesions' grid (a Labels layer named like lesion / msk / gt), or None."""
        if self.output_layer is None or self.output_layer.name not in self.viewer.layers:
            return None
        return truth_layer_for(self.viewer, self.output_layer)

    def _update_compare(self, *_: Any) -> None:
        truth = self.truth_layer()
        self.compare_button.setEnabled(truth is not None)
        self.compare_button.setToolTip(compare_tip(LESIONS, None if truth is None else truth.name))

    def compare(self) -> Any:
        """Open the agreement panel (its Plugins menu entry) on the lesions and the ground truth, ISLES convention."""
        truth = self.truth_layer()
        if truth is None:
            self.jobs.refuse(InvalidInputError("no ground truth to compare with: open a Labels layer named like "
                                               "lesion, msk or gt on the lesions' grid"))
            return None
        dock, panel = self.viewer.window.add_plugin_dock_widget(PLUGIN, AGREEMENT_WIDGET)
        share_height(self, dock)
        panel.set_pair(pred=self.output_layer.name, gt=truth.name, convention=CONVENTION)
        self.agreement = panel
        return panel

    def save_segmentation(self) -> bool:
        """Ask where, then write the lesions with their image's geometry."""
        layer = self.output_layer
        if layer is None or layer.name not in self.viewer.layers:
            return self.jobs.refuse(InvalidInputError("run first: there are no lesions to save"))
        start = source_folder(self.viewer, self.inputs.assignment())
        return self.jobs.run_now(lambda: save_labels_dialog(self, layer, start_dir=start),
                                 lambda path: path and self.jobs.set_status(f"Saved {path}"))


__all__ = ["CONVENTION", "RUN_SHORTCUT", "LESIONS", "LESION_IDS", "PROBABILITY", "SCORE", "StrokeWidget"]
