"""Coronary artery calcium scoring dock widget: wiring only; every number comes from
:mod:`napari_medai.core.tasks.cac`.

1. pick the CT Image layer (HU); the core's checks refuse an image that is not axial CT in HU and the
   slice-spacing note (with the convention applied) is shown;
2. **Find candidates**: every region >= 130 HU of at least the minimum area, coloured by 3-D group
   (layer ``CAC candidates``);
3. **Auto-assign**: an artery per candidate group (layer ``artery assignment``: 1 LM, 2 LAD, 3 LCX,
   4 RCA, 5 non-coronary, on the CT's grid; hovering shows the artery's name);
4. corrections: choose an artery and click a candidate (``click to assign``: its whole 3-D group), or
   paint / erase in the assignment layer with napari's brush (the chosen artery is the brush label).
   Only the slices edited are re-scored, off the GUI thread (:mod:`.live`);
5. export the report (JSON, CSV), save the assignment (format of your choice), or load one.
"""

from __future__ import annotations

import contextlib
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import InvalidInputError, MedaiError, MedaiWarning
from ...core.tasks import cac
from .._jobs import JobRunner
from .._widgets import LabelLegend, centre_on, scroll_vertically, spin, wrapped
from ..layers import label_colormap, layer_to_volume
from . import files
from .editing import AssignmentClicks
from .live import LiveScoring
from .steps import (
    ASSIGNMENT_LAYER,
    CANDIDATES_LAYER,
    CandidateSteps,
    describe_ct,
    image_choices,
    put_labels,
)
from .tables import ARTERY_NAMES, LesionTable, ScoreTable, artery_chooser, result_message

if TYPE_CHECKING:
    import napari

#: Artery chooser: (code, name), unassigned last.
CHOOSER = ((1, "LM"), (2, "LAD"), (3, "LCX"), (4, "RCA"), (5, "non-coronary"), (0, "unassigned"))
#: Keyboard shortcut of "Next lesion" (viewer key binding).
NEXT_KEY = "Shift-N"


class CACWidget(QWidget):
    """Calcium scoring of a CT layer with reader corrections (see the module docstring)."""

    #: Each new :class:`~napari_medai.core.tasks.cac.CACResult` (GUI thread).
    scored = Signal(object)

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        #: Optional ``model(ct, candidates) -> territory map`` for auto-assign (None: the heuristic).
        self.territory_model: Any = None
        self.result: cac.CACResult | None = None
        self.candidates: Any = None
        self.candidate_lesions: list[dict[str, Any]] = []
        self.index: cac.CandidateIndex | None = None
        self.agreement: Any = None
        self.candidates_key: tuple | None = None
        self._colours = label_colormap(ARTERY_NAMES) or {}

        self.ct_combo = QComboBox()
        self.min_area_spin = spin(0.0, 100.0, 1.0, decimals=2, step=0.5, suffix=" mm²",
                                  tip="Smallest lesion area; a lesion of exactly this area counts.")
        self.calibration_spin = spin(0.0, 10.0, 0.0, decimals=4, step=0.01, suffix=" mg/cm³ per HU", tip=(
            "Calcium mass calibration from a phantom scan (mg of calcium hydroxyapatite per cm³ per HU, about "
            "0.7-0.8 at 120 kVp). 'none': the mass column is an uncalibrated score in HU·mm³, not milligrams."))
        self.calibration_spin.setSpecialValueText("none (uncalibrated)")
        self.correction_combo = QComboBox()
        self.correction_combo.addItems(list(cac.SLICE_CORRECTIONS))
        self.correction_combo.setToolTip("Slices that are not 3 mm: 'scale' multiplies each lesion's Agatston "
                                         "score by spacing / 3 mm; 'none' leaves it uncorrected.")
        self.ct_info = wrapped()
        self.candidates_button = QPushButton("Find candidates")
        self.candidates_button.setToolTip("Every region >= 130 HU of at least the minimum area, by 3-D group.")
        self.assign_button = QPushButton("Auto-assign")
        self.assign_button.setToolTip("Assign every candidate group to an artery (heuristic unless a model is set).")
        self.method_label = wrapped()
        self.artery_group, self.artery_buttons, arteries = artery_chooser(CHOOSER, self._colours, self)
        self.artery_buttons[2].setChecked(True)
        self.click_check = QCheckBox("click to assign (a click reassigns the whole 3-D candidate)")
        self.click_check.setToolTip("Click a candidate in the 2-D view to give it the chosen artery. Paint or erase "
                                    "in the 'artery assignment' layer to add or remove calcium by hand.")
        self.legend = LabelLegend()
        self.jobs = JobRunner("Pick the CT image (HU) and press Find candidates or Auto-assign.")
        self.jobs.add_run_buttons(self.candidates_button, self.assign_button)
        self.score_table = ScoreTable()
        self.category_label = wrapped()
        self.lesion_table = LesionTable(self._colours)
        self.prev_button = QPushButton("◀ Previous lesion")
        self.next_button = QPushButton("Next lesion ▶")
        self.next_button.setToolTip(f"Go to the next lesion of the list (key {NEXT_KEY} in the viewer).")
        self.assign_selected_button = QPushButton("Assign selected lesion")
        self.assign_selected_button.setToolTip("Give the lesion selected in the list (its whole 3-D candidate) the "
                                               "chosen artery.")
        self.json_button = QPushButton("Export JSON…")
        self.csv_button = QPushButton("Export CSV…")
        self.save_button = QPushButton("Save assignment…")
        self.save_button.setToolTip("Save the artery assignment as a label file (NIfTI, NRRD or MetaImage) with "
                                    "the CT's geometry.")
        self.load_button = QPushButton("Load assignment…")
        self.agreement_button = QPushButton("Agreement with reference scores…")

        form = QFormLayout()
        form.addRow("CT (HU)", self.ct_combo)
        form.addRow("min lesion area", self.min_area_spin)
        form.addRow("mass calibration", self.calibration_spin)
        form.addRow("slice correction", self.correction_combo)
        steps = QHBoxLayout()
        steps.addWidget(self.candidates_button)
        steps.addWidget(self.assign_button)
        chooser = QHBoxLayout()
        chooser.addLayout(arteries, stretch=2)
        chooser.addWidget(self.legend, stretch=1)
        browse = QHBoxLayout()
        browse.addWidget(self.prev_button)
        browse.addWidget(self.next_button)
        browse.addWidget(self.assign_selected_button)
        exports = QGridLayout()
        for i, b in enumerate((self.json_button, self.csv_button, self.save_button, self.load_button)):
            exports.addWidget(b, i // 2, i % 2)
        content = QWidget()
        scroll_vertically(self, content)
        layout = QVBoxLayout(content)
        layout.addLayout(form)
        layout.addWidget(self.ct_info)
        layout.addLayout(steps)
        layout.addWidget(self.method_label)
        layout.addWidget(QLabel("Artery for clicks and the brush:"))
        layout.addLayout(chooser)
        layout.addWidget(self.click_check)
        layout.addWidget(self.jobs)
        layout.addWidget(self.score_table)
        layout.addWidget(self.category_label)
        layout.addWidget(QLabel("Lesions (click a row to go there; click a header to sort)"))
        layout.addWidget(self.lesion_table, stretch=1)
        layout.addLayout(browse)
        layout.addLayout(exports)
        layout.addWidget(self.agreement_button)

        self.live = LiveScoring(self.jobs, self)
        self.live.scored.connect(self._show_result)
        self.live.failed.connect(lambda: self._show_result(None))
        self.clicks = AssignmentClicks(self)
        self.steps = CandidateSteps(self)
        self.candidates_button.clicked.connect(lambda: self.find_candidates())
        self.assign_button.clicked.connect(lambda: self.auto_assign())
        self.artery_group.idToggled.connect(self._artery_toggled)
        self.click_check.toggled.connect(self.clicks.mode_toggled)
        for control in (self.min_area_spin, self.calibration_spin):
            control.valueChanged.connect(self._options_changed)
        self.correction_combo.currentTextChanged.connect(self._options_changed)
        self.ct_combo.currentTextChanged.connect(lambda _t: self._ct_changed())
        self.lesion_table.chosen.connect(self.go_to_lesion)
        self.prev_button.clicked.connect(lambda: self.lesion_table.next_lesion(-1))
        self.next_button.clicked.connect(lambda: self.lesion_table.next_lesion(1))
        self.assign_selected_button.clicked.connect(self._assign_selected)
        self.json_button.clicked.connect(lambda: self._file_action(lambda: files.export_dialog(
            self, self.result, "json", self.ct_layer())))
        self.csv_button.clicked.connect(lambda: self._file_action(lambda: files.export_dialog(
            self, self.result, "csv", self.ct_layer())))
        self.save_button.clicked.connect(lambda: self._file_action(lambda: files.save_dialog(
            self, self.assignment_layer, self.ct_layer())))
        self.load_button.clicked.connect(lambda: self._file_action(lambda: files.load_dialog(
            self, self.ct_layer(), self.load_assignment), "Read"))
        self.agreement_button.clicked.connect(lambda: self.open_agreement())
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed):
            ev.connect(self._layers_changed)
        viewer.mouse_drag_callbacks.append(self.clicks.on_mouse_drag)
        viewer.bind_key(NEXT_KEY, lambda _v: self.lesion_table.next_lesion(1), overwrite=True)
        self.destroyed.connect(lambda *_: _forget(viewer))
        self._refresh_ct_choices()

    # ------------------------------------------------------------------ layers
    def _layer(self, name: str) -> Any:
        return self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401 - no .get

    def ct_layer(self) -> Any:
        """The chosen CT Image layer (None when there is none)."""
        return self._layer(self.ct_combo.currentText())

    @property
    def assignment_layer(self) -> Any:
        """The ``artery assignment`` Labels layer being scored, once made."""
        layer = self.live.layer
        return layer if layer is not None and layer in self.viewer.layers else None

    @property
    def n_updates(self) -> int:
        return self.live.n_updates

    def set_ct(self, name: str) -> None:
        self._refresh_ct_choices()
        self.ct_combo.setCurrentText(name)

    def _refresh_ct_choices(self) -> None:
        names, ct_like = image_choices(self.viewer)
        current = self.ct_combo.currentText()
        self.ct_combo.blockSignals(True)
        self.ct_combo.clear()
        self.ct_combo.addItems(names)
        self.ct_combo.setCurrentText(current if current in names else (ct_like or names or [""])[0])
        self.ct_combo.blockSignals(False)
        if self.ct_combo.currentText() != current:
            self._ct_changed()

    def _layers_changed(self, _event: Any = None) -> None:
        if self.live.layer is not None and self.live.layer not in self.viewer.layers:
            self.live.detach()
            self.legend.show_layer(None)
        self._refresh_ct_choices()

    def _ct_changed(self) -> None:
        self.candidates, self.candidate_lesions, self.index, self.candidates_key = None, [], None, None
        if self.ct_layer() is None:
            self.ct_info.setText("")
            return
        ct = self.check_ct()
        if ct is not None and self.assignment_layer is not None:
            self.live.set_options(ct, self.score_options())

    # ------------------------------------------------------------------ CT check
    def ct_volume(self) -> Any:
        """The CT layer as a Volume (refused with a MedaiError when it is not one 3-D image)."""
        layer = self.ct_layer()
        if layer is None:
            raise InvalidInputError("open a CT image in HU and pick it as 'CT (HU)'")
        try:
            return layer_to_volume(layer)
        except ValueError as exc:
            raise InvalidInputError(str(exc)) from exc

    def check_ct(self) -> Any:
        """Run the core's CT checks on the chosen layer and show the result; the CT Volume or None."""
        try:
            ct = self.ct_volume()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MedaiWarning)
                chk = cac.check_ct(ct, slice_correction=self.correction_combo.currentText())
        except MedaiError as exc:
            self.ct_info.setText("")
            self.jobs.refuse(exc)
            return None
        notes = [str(w.message) for w in caught if issubclass(w.category, MedaiWarning)]
        self.ct_info.setStyleSheet("color: #ffb347;" if notes else "")
        self.ct_info.setText(describe_ct(ct, chk, notes))
        if self.jobs.last_error:
            self.jobs.last_error = ""
            self.jobs.set_status("CT accepted. Press Find candidates or Auto-assign.")
        return ct

    def score_options(self) -> dict[str, Any]:
        mg = float(self.calibration_spin.value())
        return {"min_area_mm2": float(self.min_area_spin.value()),
                "calibration_factor": cac.calibration_factor_from_phantom(mg) if mg > 0 else None,
                "slice_correction": self.correction_combo.currentText()}

    def _options_changed(self, *_: Any) -> None:
        ct = self.check_ct() if self.ct_layer() is not None else None
        if ct is not None and self.assignment_layer is not None:
            self.live.set_options(ct, self.score_options())

    # ------------------------------------------------------------------ candidates / auto-assign
    def find_candidates(self) -> bool:
        """Find the candidate lesions of the CT off the GUI thread (layer ``CAC candidates``)."""
        return self.steps.start(assign=False)

    def auto_assign(self) -> bool:
        """Assign every candidate group to an artery off the GUI thread (layer ``artery assignment``)."""
        return self.steps.start(assign=True)

    def score_layer(self, layer: Any, ct: Any) -> None:
        """Make ``layer`` the assignment being scored (brush label, legend, live scores)."""
        layer.selected_label = self.artery_code()
        self.legend.show_layer(layer, ARTERY_NAMES)
        self.live.attach(layer, ct, self.score_options())

    # ------------------------------------------------------------------ corrections
    def artery_code(self) -> int:
        """Code of the artery chosen for clicks and the brush."""
        return max(0, int(self.artery_group.checkedId()))

    def set_artery(self, artery: str | int) -> None:
        """Choose the artery for clicks and the brush ('LAD', 'non-coronary', 'unassigned', or a code)."""
        self.artery_buttons[cac.artery_code(artery)].setChecked(True)

    def _artery_toggled(self, code: int, checked: bool) -> None:
        if checked and self.assignment_layer is not None:
            self.assignment_layer.selected_label = int(code)

    def ensure_assignment(self) -> Any:
        """The assignment layer; an empty one (all unassigned) on the CT grid when there is none yet."""
        if self.assignment_layer is not None:
            return self.assignment_layer
        ct = self.ct_volume()
        vol = ct.with_data(np.zeros(ct.spatial_shape, np.uint8), is_label=True, units="", name=ASSIGNMENT_LAYER,
                           label_names=dict(files.ASSIGNMENT_NAMES), meta={"kind": "cac-assignment"})
        layer = put_labels(self.viewer, vol, self.ct_layer(), opacity=0.8)
        self.score_layer(layer, ct)
        return layer

    def assign_at_index(self, index: Any, artery: str | int | None = None) -> bool:
        """Give the candidate at (slice, row, column) of the CT (and its 3-D group) an artery (napari's undo
        reverts it); the scores of the slices it touches update."""
        return self.clicks.assign_at_index(index, artery)

    def assign_at_world(self, position: Any, artery: str | int | None = None) -> bool:
        """Like :meth:`assign_at_index` for a world position (a click)."""
        return self.clicks.assign_at_world(position, artery)

    def _assign_selected(self) -> bool:
        lesion = self.lesion_table.selected()
        if lesion is None:
            return self.jobs.refuse(InvalidInputError("select a lesion in the list first"))
        return self.assign_at_index(lesion.centroid)

    # ------------------------------------------------------------------ scores
    @property
    def busy(self) -> bool:
        """True while a step or a scoring runs or waits."""
        return self.jobs.busy or self.live.busy

    def wait_idle(self, timeout_s: float = 120.0) -> bool:
        """Process Qt events until nothing runs or waits (scripts, tests)."""
        from .._widgets import process_events_until

        return process_events_until(lambda: not self.busy, timeout_s)

    def _show_result(self, result: cac.CACResult | None) -> None:
        self.result = result
        self.score_table.show_result(result)
        self.lesion_table.set_lesions(result.lesions if result is not None else [])
        if result is None:
            self.category_label.setText("")
            return
        self.category_label.setText(f"Total Agatston {result.total:.1f}: risk category <b>{result.category}</b> "
                                    "(non-coronary calcium is not in the total).")
        self.jobs.set_status(result_message(result))
        self.scored.emit(result)

    def go_to_lesion(self, lesion: cac.Lesion) -> None:
        """Move the viewer to ``lesion`` (its slice and the camera centre)."""
        layer = self.assignment_layer or self.ct_layer()
        if layer is not None:
            centre_on(self.viewer, layer, lesion.centroid)

    # ------------------------------------------------------------------ files
    def export_json(self, path: str) -> str:
        return files.export_report(self.result, path, "json", self.ct_layer())

    def export_csv(self, path: str) -> str:
        return files.export_report(self.result, path, "csv", self.ct_layer())

    def save_assignment(self, path: str | None = None, *, overwrite: bool = False) -> str:
        """Save the assignment (codes 0-5 and their names, the CT's geometry); never over the CT."""
        return files.save_assignment(self.assignment_layer, self.ct_layer(), path, overwrite=overwrite)

    def load_assignment(self, path: str) -> Any:
        """Read a saved assignment (codes 0-5 on the CT grid) into the assignment layer and score it."""
        ct = self.ct_volume()
        vol = files.read_assignment(path, ct)
        layer = put_labels(self.viewer, vol.with_data(np.asarray(vol.data), name=ASSIGNMENT_LAYER),
                           self.ct_layer(), opacity=0.8)
        self.method_label.setText(f"Assignment loaded from {path}.")
        self.score_layer(layer, ct)
        return layer

    def _file_action(self, action: Any, verb: str = "Wrote") -> None:
        """Run a quick file action on the GUI thread; its error is shown once, in the status line."""
        self.jobs.run_now(action, lambda path: self.jobs.set_status(f"{verb} {path}") if path else None)

    # ------------------------------------------------------------------ agreement
    def open_agreement(self) -> Any:
        """Open (or show) the agreement dock fed with this widget's scores."""
        from .agreement import CACAgreementWidget

        if self.agreement is None:
            self.agreement = CACAgreementWidget(self.viewer, cac_widget=self)
            self.viewer.window.add_dock_widget(self.agreement, name="CAC agreement", area="right", tabify=True)
        self.agreement.show()
        dock = self.agreement.parentWidget()
        if dock is not None and hasattr(dock, "raise_"):
            dock.raise_()
        return self.agreement


def _forget(viewer: Any) -> None:
    """Drop the widget's key binding when it is closed."""
    with contextlib.suppress(KeyError, ValueError, TypeError, AttributeError):  # closing, or already gone
        viewer.bind_key(NEXT_KEY, None, overwrite=True)


__all__ = ["ASSIGNMENT_LAYER", "CANDIDATES_LAYER", "CACWidget"]
