"""Coronary artery calcium scoring dock widget, and its cohort agreement dock.

Everything measured comes from :mod:`napari_medai.core.tasks.cac` (candidates, automatic assignment,
a reader's reassignment, Agatston / volume / mass scoring, reports) and
:mod:`napari_medai.core.metrics.agreement_stats`; these widgets only pick layers, run the core off the
GUI thread and show what it returns.

Workflow in the viewer:

1. pick the CT Image layer (HU); the core's checks refuse an image that is not axial CT in HU and the
   slice-spacing warning (with the convention applied) is shown;
2. **Candidates**: every region >= 130 HU of at least the minimum area, coloured by 3-D group
   (layer ``CAC candidates``);
3. **Auto-assign**: an artery per candidate group (layer ``artery assignment``: 1 LM, 2 LAD, 3 LCX,
   4 RCA, 5 non-coronary, on the CT's grid);
4. corrections: choose an artery and click a candidate (``click to assign``: its whole 3-D group is
   reassigned), or paint / erase in the assignment layer with napari's brush (the chosen artery is
   the brush label). Every edit re-scores;
5. export the report (JSON, CSV) and save the assignment next to the CT.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import MedaiError, MedaiWarning
from ..core.tasks import cac
from ._widgets import centre_on, process_events_until, scroll_vertically
from .layers import META_KEY, geometry_meta, label_colormap, layer_to_volume

if TYPE_CHECKING:
    import napari

#: Names of the layers the widget creates.
CANDIDATES_LAYER = "CAC candidates"
ASSIGNMENT_LAYER = "artery assignment"
#: Artery names by code, as shown in the chooser (unassigned last).
CHOOSER: tuple[tuple[int, str], ...] = ((1, "LM"), (2, "LAD"), (3, "LCX"), (4, "RCA"), (5, "non-coronary"),
                                         (0, "unassigned"))
ARTERY_NAMES = {code: name for code, name in CHOOSER if code}
#: Score table: rows (per_artery_rows order) and columns (key, header).
SCORE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("agatston", "Agatston"), ("volume_mm3", "vol. mm³"), ("mass_mg", "mass mg"), ("lesion_count", "lesions"),
)
SCORE_ROWS = (*cac.ARTERIES, "total", "non-coronary")
LESION_COLUMNS = ("slice", "area mm²", "peak HU", "weight", "score", "artery")
#: Pixels the mouse may move between press and release for a click (more is a pan).
CLICK_SLOP_PX = 4.0


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, MedaiError) else f"{type(exc).__name__}: {exc}"


def _num(v: Any, digits: int = 1) -> str:
    if v is None:
        return "–"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    if not math.isfinite(f):
        return "n/a"
    return f"{f:.{digits}f}"


def _item(text: str, *, right: bool = True) -> QTableWidgetItem:
    it = QTableWidgetItem(text)
    if right:
        it.setTextAlignment(int(Qt.AlignRight | Qt.AlignVCenter))
    return it


def _qcolor(rgba: tuple) -> QColor:
    r, g, b = (int(round(255 * float(c))) for c in rgba[:3])
    return QColor(r, g, b)


def _source_of(layer: Any) -> str | None:
    """The file a layer was read from (napari's source, else the geometry record), if any."""
    src = getattr(getattr(layer, "source", None), "path", None)
    if src:
        return str(src)
    md = (getattr(layer, "metadata", None) or {}).get(META_KEY, {})
    return md.get("source") or None


def _grid_kwargs(layer: Any) -> dict[str, Any]:
    """The full data-to-world transform of ``layer``, to put a new layer on exactly its grid."""
    return {
        "scale": tuple(layer.scale),
        "translate": tuple(layer.translate),
        "rotate": np.asarray(layer.rotate),
        "shear": np.asarray(layer.shear),
        "affine": np.asarray(layer.affine.affine_matrix),
    }


class CACWidget(QWidget):
    """Calcium scoring of a CT layer with reader corrections (see module docstring)."""

    #: Emitted (on the GUI thread) with each new :class:`~napari_medai.core.tasks.cac.CACResult`.
    scored = Signal(object)

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        #: Optional ``model(ct, candidates) -> territory map`` for auto-assign (None: the heuristic).
        self.territory_model: Any = None
        self.result: cac.CACResult | None = None
        self.candidates: Any = None  # candidate label Volume of the current CT
        self.candidate_lesions: list[dict[str, Any]] = []
        self.ct_check: cac.CTCheck | None = None
        self.method: str = ""
        self.agreement: CACAgreementWidget | None = None
        self.n_updates = 0
        self._cand_key: tuple | None = None
        self._assign_layer: Any = None
        self._job = None  # candidates / auto-assign worker
        self._worker = None  # scoring worker
        self._dirty = False
        self._buffer: np.ndarray | None = None
        self._last_scored: np.ndarray | None = None
        self._ct_warnings: list[str] = []
        self._colours = label_colormap(ARTERY_NAMES) or {}

        # -- inputs
        self.ct_combo = QComboBox()
        self.min_area_spin = QDoubleSpinBox()
        self.min_area_spin.setRange(0.0, 100.0)
        self.min_area_spin.setDecimals(2)
        self.min_area_spin.setSingleStep(0.5)
        self.min_area_spin.setValue(1.0)
        self.min_area_spin.setSuffix(" mm²")
        self.min_area_spin.setToolTip("Smallest lesion area; a lesion of exactly this area counts.")
        self.calibration_spin = QDoubleSpinBox()
        self.calibration_spin.setRange(0.00001, 100.0)
        self.calibration_spin.setDecimals(5)
        self.calibration_spin.setSingleStep(0.0001)
        self.calibration_spin.setValue(1.0)
        self.calibration_spin.setToolTip(
            "Mass calibration factor (mg per HU·mm³) from a calcium phantom scan. With 1.0 the mass column "
            "is uncalibrated (HU·mm³).")
        self.correction_combo = QComboBox()
        self.correction_combo.addItems(list(cac.SLICE_CORRECTIONS))
        self.correction_combo.setToolTip(
            "Slices that are not 3 mm: 'scale' multiplies each lesion's Agatston score by spacing / 3 mm; "
            "'none' leaves it uncorrected.")
        self.ct_info = QLabel("")
        self.ct_info.setWordWrap(True)
        self.ct_info.setTextInteractionFlags(Qt.TextSelectableByMouse)

        # -- steps
        self.candidates_button = QPushButton("Candidates")
        self.candidates_button.setToolTip("Every region >= 130 HU of at least the minimum area, by 3-D group.")
        self.assign_button = QPushButton("Auto-assign")
        self.assign_button.setToolTip("Assign every candidate group to an artery (heuristic unless a model is set).")
        self.method_label = QLabel("")
        self.method_label.setWordWrap(True)

        # -- corrections
        self.artery_group = QButtonGroup(self)
        self.artery_buttons: dict[int, QRadioButton] = {}
        arteries = QGridLayout()
        for n, (code, name) in enumerate(CHOOSER):
            button = QRadioButton(name)
            colour = self._colours.get(code) if code else None
            if colour is not None:
                c = _qcolor(colour)
                button.setStyleSheet(f"QRadioButton {{ color: rgb({c.red()}, {c.green()}, {c.blue()}); }}")
            self.artery_group.addButton(button, code)
            self.artery_buttons[code] = button
            arteries.addWidget(button, n // 3, n % 3)
        self.artery_buttons[2].setChecked(True)
        self.click_check = QCheckBox("click to assign (a click reassigns the whole 3-D candidate)")
        self.click_check.setToolTip(
            "Click a candidate in the viewer (2-D view) to give it the chosen artery. Paint or erase in the "
            "'artery assignment' layer to add or remove calcium by hand.")

        # -- results
        self.status = QLabel("Pick the CT image (HU) and press Candidates or Auto-assign.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.score_table = QTableWidget(0, len(SCORE_COLUMNS))
        self.score_table.setHorizontalHeaderLabels([h for _, h in SCORE_COLUMNS])
        self.score_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.score_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.score_table.setRowCount(len(SCORE_ROWS))
        self.score_table.setVerticalHeaderLabels(list(SCORE_ROWS))
        rows_header = self.score_table.verticalHeader()
        rows_header.setSectionResizeMode(QHeaderView.Fixed)
        rows_header.setDefaultSectionSize(max(20, self.fontMetrics().height() + 8))
        self.score_table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.score_table.setFixedHeight(  # all six rows, no scrolling
            self.score_table.horizontalHeader().sizeHint().height()
            + len(SCORE_ROWS) * rows_header.defaultSectionSize() + 2 * self.score_table.frameWidth() + 4)
        self.category_label = QLabel("")
        self.category_label.setWordWrap(True)
        self.lesion_table = QTableWidget(0, len(LESION_COLUMNS))
        self.lesion_table.setHorizontalHeaderLabels(list(LESION_COLUMNS))
        self.lesion_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.lesion_table.horizontalHeader().setStretchLastSection(True)
        self.lesion_table.setMinimumHeight(160)
        self.lesion_table.verticalHeader().setVisible(False)
        self.lesion_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.lesion_table.setSelectionBehavior(QTableWidget.SelectRows)
        self.json_button = QPushButton("Export JSON…")
        self.csv_button = QPushButton("Export CSV…")
        self.save_button = QPushButton("Save assignment…")
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
        exports = QGridLayout()
        exports.addWidget(self.json_button, 0, 0)
        exports.addWidget(self.csv_button, 0, 1)
        exports.addWidget(self.save_button, 1, 0)
        exports.addWidget(self.load_button, 1, 1)
        # Everything sits in a scroll area, so a short dock scrolls instead of squeezing the tables.
        content = QWidget()
        scroll_vertically(self, content)
        layout = QVBoxLayout(content)
        layout.addLayout(form)
        layout.addWidget(self.ct_info)
        layout.addLayout(steps)
        layout.addWidget(self.method_label)
        layout.addWidget(QLabel("Artery for clicks and the brush:"))
        layout.addLayout(arteries)
        layout.addWidget(self.click_check)
        layout.addWidget(self.status)
        layout.addWidget(self.score_table)
        layout.addWidget(self.category_label)
        layout.addWidget(QLabel("Lesions (click a row to go there)"))
        layout.addWidget(self.lesion_table, stretch=2)
        layout.addLayout(exports)
        layout.addWidget(self.agreement_button)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.compute)

        self.candidates_button.clicked.connect(lambda: self.find_candidates())
        self.assign_button.clicked.connect(lambda: self.auto_assign())
        self.artery_group.idToggled.connect(self._artery_toggled)
        self.click_check.toggled.connect(self._click_mode_toggled)
        self.min_area_spin.valueChanged.connect(self._options_changed)
        self.calibration_spin.valueChanged.connect(self._schedule)
        self.correction_combo.currentTextChanged.connect(self._options_changed)
        self.ct_combo.currentTextChanged.connect(self._ct_changed)
        self.lesion_table.cellClicked.connect(lambda row, _col: self.go_to_lesion(row))
        self.json_button.clicked.connect(lambda: self._export_dialog("json"))
        self.csv_button.clicked.connect(lambda: self._export_dialog("csv"))
        self.save_button.clicked.connect(self._save_dialog)
        self.load_button.clicked.connect(self._load_dialog)
        self.agreement_button.clicked.connect(lambda: self.open_agreement())
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.moved):
            ev.connect(self._layers_changed)
        viewer.mouse_drag_callbacks.append(self._on_mouse_drag)
        self._refresh_ct_choices()
        self._show_scores(None)

    # ------------------------------------------------------------------ layers
    def _layer(self, name: str) -> Any:
        return self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401 - no .get

    def ct_layer(self) -> Any:
        """The chosen CT Image layer (None when there is none)."""
        return self._layer(self.ct_combo.currentText())

    @property
    def assignment_layer(self) -> Any:
        """The ``artery assignment`` Labels layer of the current CT, once made."""
        layer = self._assign_layer
        if layer is not None and layer in self.viewer.layers:
            return layer
        return None

    def set_ct(self, name: str) -> None:
        """Choose the CT layer programmatically."""
        self._refresh_ct_choices()
        self.ct_combo.setCurrentText(name)

    def _image_layers(self) -> list[Any]:
        return [ly for ly in self.viewer.layers if type(ly).__name__ == "Image"]

    def _refresh_ct_choices(self) -> None:
        images = self._image_layers()
        names = [ly.name for ly in images]
        current = self.ct_combo.currentText()
        self.ct_combo.blockSignals(True)
        self.ct_combo.clear()
        self.ct_combo.addItems(names)
        if current in names:
            self.ct_combo.setCurrentText(current)
        else:
            ct_like = [ly.name for ly in images
                       if ((ly.metadata or {}).get(META_KEY, {}).get("modality") or "").upper() == "CT"
                       or "ct" in ly.name.lower().replace(".", " ").replace("_", " ").split()]
            if ct_like:
                self.ct_combo.setCurrentText(ct_like[0])
        self.ct_combo.blockSignals(False)
        if self.ct_combo.currentText() != current:
            self._ct_changed(self.ct_combo.currentText())

    def _layers_changed(self, event: Any = None) -> None:
        if self._assign_layer is not None and self._assign_layer not in self.viewer.layers:
            self._disconnect_assignment()
            self._schedule()
        self._refresh_ct_choices()

    def _ct_changed(self, *_: Any) -> None:
        self.candidates = None
        self.candidate_lesions = []
        self._cand_key = None
        self.ct_check = None
        self._last_scored = None
        layer = self.ct_layer()
        if layer is None:
            self.ct_info.setText("")
            return
        self.check_ct()
        self._schedule()

    def _connect_assignment(self, layer: Any) -> None:
        if self._assign_layer is not None and layer == self._assign_layer:  # == : layers may come proxied
            return
        self._disconnect_assignment()
        self._assign_layer = layer
        layer.events.paint.connect(self._on_assignment_edit)
        layer.events.data.connect(self._on_assignment_edit)
        layer.events.set_data.connect(self._on_assignment_refresh)
        layer.selected_label = self.artery_code()

    def _disconnect_assignment(self) -> None:
        layer = self._assign_layer
        self._assign_layer = None
        if layer is None:
            return
        for name, handler in (("paint", self._on_assignment_edit), ("data", self._on_assignment_edit),
                              ("set_data", self._on_assignment_refresh)):
            getattr(layer.events, name).disconnect(handler)

    def _on_assignment_edit(self, *_: Any) -> None:
        self._schedule()

    def _on_assignment_refresh(self, *_: Any) -> None:
        # ``set_data`` fires on every slice change too; undo/redo only show up here, so re-score only
        # when the data differ from what was last scored.
        layer = self.assignment_layer
        if layer is None or self._timer.isActive():
            return
        last = self._last_scored
        data = np.asarray(layer.data)
        if last is None or last.shape != data.shape or not np.array_equal(last, data):
            self._schedule()

    # ------------------------------------------------------------------ CT check
    def ct_volume(self) -> Any:
        """The CT layer as a Volume (refused with a MedaiError when it is not one 3-D image)."""
        layer = self.ct_layer()
        if layer is None:
            raise MedaiError("open a CT image in HU and pick it as 'CT (HU)'")
        try:
            return layer_to_volume(layer)
        except ValueError as exc:
            raise MedaiError(str(exc)) from exc

    def check_ct(self) -> Any:
        """Run the core's CT checks on the chosen layer; show the result. Returns the CT Volume or None."""
        self._ct_warnings = []
        try:
            ct = self.ct_volume()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", MedaiWarning)
                chk = cac.check_ct(ct, slice_correction=self.correction_combo.currentText())
        except MedaiError as exc:
            self.ct_check = None
            self.ct_info.setText("")
            self._set_status(f"Refused: {exc}", error=True)
            self._show_scores(None)
            return None
        self.ct_check = chk
        self._ct_warnings = [str(w.message) for w in caught if issubclass(w.category, MedaiWarning)]
        shape = " × ".join(str(s) for s in ct.spatial_shape)
        text = (f"{shape} voxels, slice spacing {chk.slice_spacing_mm:g} mm, pixel "
                f"{ct.spacing[1]:.3g} × {ct.spacing[2]:.3g} mm. HU: {chk.hu_evidence}.")
        if self._ct_warnings:
            text += " Warning: " + " ".join(self._ct_warnings)
            self.ct_info.setStyleSheet("color: #ffb347;")
        else:
            text += " Slices are 3 mm: no slice correction needed."
            self.ct_info.setStyleSheet("")
        self.ct_info.setText(text)
        if self.status.styleSheet():  # an earlier refusal: clear it
            self._set_status("CT accepted. Press Candidates or Auto-assign.")
        return ct

    def _options_changed(self, *_: Any) -> None:
        if self.ct_layer() is not None:
            self.check_ct()
        self._schedule()

    # ------------------------------------------------------------------ candidates / auto-assign
    def _candidate_key(self, layer: Any) -> tuple:
        return (layer.name, id(layer.data), float(self.min_area_spin.value()))

    def find_candidates(self) -> bool:
        """Find the candidate lesions of the CT off the GUI thread (layer ``CAC candidates``)."""
        return self._start_job("candidates")

    def auto_assign(self) -> bool:
        """Assign every candidate group to an artery off the GUI thread (layer ``artery assignment``)."""
        return self._start_job("assign")

    def _start_job(self, kind: str) -> bool:
        if self._job is not None:
            self._set_status("busy: wait for the running step to finish")
            return False
        ct = self.check_ct()
        if ct is None:
            return False
        layer = self.ct_layer()
        key = self._candidate_key(layer)
        reuse = self.candidates if (kind == "assign" and self._cand_key == key and self.candidates is not None) else None
        opts = {"min_area_mm2": float(self.min_area_spin.value()), "model": self.territory_model}
        from napari.qt.threading import create_worker

        self._set_status("finding candidates…" if kind == "candidates" else "assigning arteries…")
        self.candidates_button.setEnabled(False)
        self.assign_button.setEnabled(False)
        worker = create_worker(self._job_work, kind, ct, reuse, opts, _start_thread=False)
        worker.returned.connect(lambda payload: self._job_done(kind, layer, key, payload))
        worker.finished.connect(self._job_finished)
        self._job = worker
        worker.start()
        return True

    def _job_work(self, kind: str, ct: Any, reuse: Any, opts: dict) -> tuple[str, Any]:
        # Errors come back as values (see AgreementWidget._work).
        try:
            if reuse is not None:
                cand, lesions = reuse, self.candidate_lesions
            else:
                cand, lesions = cac.find_candidates(ct, min_area_mm2=opts["min_area_mm2"])
            groups = cac.candidate_groups(cand)
            assignment = cac.auto_assign(ct, cand, model=opts["model"]) if kind == "assign" else None
            return ("ok", (cand, lesions, groups, assignment))
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            return ("error", exc)

    def _job_finished(self) -> None:
        self._job = None
        self.candidates_button.setEnabled(True)
        self.assign_button.setEnabled(True)

    def _job_done(self, kind: str, ct_layer: Any, key: tuple, payload: tuple[str, Any]) -> None:
        try:
            self._show_job(kind, ct_layer, key, payload)
        except Exception as exc:  # noqa: BLE001 - shown in the status line, never raised into napari
            self._set_status(_error_text(exc), error=True)

    def _show_job(self, kind: str, ct_layer: Any, key: tuple, payload: tuple[str, Any]) -> None:
        status, value = payload
        if status == "error":
            self._set_status(_error_text(value), error=True)
            return
        if ct_layer != self.ct_layer():  # not `is`: napari hands plugins a new proxy per access
            self._set_status("The CT changed while computing; press the button again.", error=True)
            return
        cand, lesions, groups, assignment = value
        self.candidates, self.candidate_lesions, self._cand_key = cand, lesions, key
        n_groups = int(cand.meta.get("n_groups", 0))
        cl = self._put_labels(CANDIDATES_LAYER, np.asarray(groups.data), ct_layer, groups, colormap=None,
                              opacity=0.5)
        cl.metadata["cac"] = {"kind": "candidate groups", "n_candidates": len(lesions), "n_groups": n_groups}
        if assignment is None:
            self._set_status(
                f"{len(lesions)} candidate lesion(s) >= 130 HU and >= {self.min_area_spin.value():g} mm² in "
                f"{n_groups} 3-D group(s) (bone included). Press Auto-assign, or click candidates with an artery "
                "chosen.")
            return
        cl.visible = False
        al = self._put_labels(ASSIGNMENT_LAYER, np.asarray(assignment.data, dtype=np.uint8), ct_layer, assignment,
                              colormap=self._colours, opacity=0.8)
        al.metadata["cac"] = {k: assignment.meta.get(k) for k in ("method", "group_counts", "groups",
                                                                  "anatomy_notes") if k in assignment.meta}
        self._connect_assignment(al)
        self.method = str(assignment.meta.get("method", ""))
        counts = assignment.meta.get("group_counts", {})
        summary = ", ".join(f"{n} {name}" for name, n in counts.items() if n and name != "unassigned")
        if self.method == cac.METHOD_HEURISTIC:
            text = ("Method: heuristic (no model) — fixed anatomical rules; check every assignment and correct "
                    "it by clicking or painting.")
        else:
            text = f"Method: {self.method}."
        text += f" Groups: {summary or 'none assigned'}; {counts.get('unassigned', 0)} left unassigned (bone, outside)."
        notes = assignment.meta.get("anatomy_notes") or []
        self.method_label.setText(text)
        self.method_label.setToolTip("Landmarks found: " + "; ".join(str(n) for n in notes) if notes else "")
        self._set_status("Assigned; scoring…")
        self._schedule()

    def _put_labels(self, name: str, data: np.ndarray, ct_layer: Any, vol: Any, *, colormap: Any,
                    opacity: float) -> Any:
        """Create or update a Labels layer on the CT layer's grid."""
        meta = {META_KEY: geometry_meta(vol)}
        meta[META_KEY]["source"] = _source_of(ct_layer)  # so napari's writer never writes over the CT
        layer = self._layer(name)
        if layer is not None and type(layer).__name__ == "Labels" and layer.data.shape == data.shape:
            layer.metadata.update(meta)
            for attr, value in _grid_kwargs(ct_layer).items():
                setattr(layer, attr, value)
            layer.data = data
            return layer
        if layer is not None:
            self.viewer.layers.remove(layer)
        kw: dict[str, Any] = {"name": name, "metadata": meta, "opacity": opacity, **_grid_kwargs(ct_layer)}
        if colormap is not None:
            from napari.utils.colormaps import DirectLabelColormap

            kw["colormap"] = DirectLabelColormap(color_dict=colormap)
        return self.viewer.add_labels(data, **kw)

    def _ensure_assignment(self) -> Any:
        """The assignment layer, created empty (all unassigned) on the CT grid when missing."""
        layer = self.assignment_layer
        if layer is not None:
            return layer
        existing = self._layer(ASSIGNMENT_LAYER)
        ct_layer = self.ct_layer()
        if existing is not None and type(existing).__name__ == "Labels" and ct_layer is not None \
                and existing.data.shape == ct_layer.data.shape:
            self._connect_assignment(existing)
            return existing
        ct = self.ct_volume()
        empty = ct.with_data(np.zeros(ct.spatial_shape, np.uint8), is_label=True, units="", name=ASSIGNMENT_LAYER,
                             label_names={0: "unassigned", **ARTERY_NAMES}, meta={"kind": "cac-assignment"})
        layer = self._put_labels(ASSIGNMENT_LAYER, np.asarray(empty.data), ct_layer, empty, colormap=self._colours,
                                 opacity=0.8)
        self._connect_assignment(layer)
        return layer

    # ------------------------------------------------------------------ reader corrections
    def artery_code(self) -> int:
        """Code of the artery chosen for clicks and the brush."""
        code = self.artery_group.checkedId()
        return 0 if code < 0 else int(code)

    def set_artery(self, artery: str | int) -> None:
        """Choose the artery for clicks and the brush ('LAD', 'non-coronary', 'unassigned', or a code)."""
        self.artery_buttons[cac.artery_code(artery)].setChecked(True)

    def _artery_toggled(self, code: int, checked: bool) -> None:
        if checked and self.assignment_layer is not None:
            self.assignment_layer.selected_label = int(code)

    def _click_mode_toggled(self, on: bool) -> None:
        if not on:
            return
        active = self.viewer.layers.selection.active
        if active is not None and getattr(active, "mode", "pan_zoom") not in ("pan_zoom", "transform"):
            active.mode = "pan_zoom"
        self._set_status(f"Click a candidate to make it {self._artery_name()} (drag still pans).")

    def _artery_name(self, code: int | None = None) -> str:
        return cac.NAMES[self.artery_code() if code is None else code]

    def assign_at_index(self, index: Any, artery: str | int | None = None) -> bool:
        """Give the candidate at (slice, row, column) of the CT (and its 3-D group) an artery.

        ``artery`` defaults to the chooser's. The change goes through the assignment layer's
        ``data_setitem``, so napari's undo reverts it; the scores update.
        """
        code = self.artery_code() if artery is None else None
        try:
            if code is None:
                code = cac.artery_code(artery)
            if self.candidates is None:
                raise MedaiError("no candidates yet: press Candidates (or Auto-assign) first")
            layer = self._ensure_assignment()
            current = layer_to_volume(layer)
            new = cac.reassign(current, self.candidates, tuple(float(v) for v in index), code)
        except (MedaiError, ValueError) as exc:
            self._set_status(str(exc), error=True)
            return False
        old = np.asarray(layer.data)
        changed = np.nonzero(np.asarray(new.data) != old)
        edit = new.meta.get("last_edit", {})
        if changed[0].size == 0:
            self._set_status(f"Candidate group {edit.get('group', '?')} is already {self._artery_name(code)}.")
            return True
        layer.data_setitem(changed, code)
        self._set_status(f"Candidate group {edit.get('group', '?')} ({len(edit.get('candidates', []))} slice "
                         f"region(s), {edit.get('voxels', 0)} voxels) → {self._artery_name(code)}; re-scoring…")
        return True

    def assign_at_world(self, position: Any, artery: str | int | None = None) -> bool:
        """Like :meth:`assign_at_index` for a world position (a click), converted on the CT's grid."""
        layer = self.assignment_layer or self.ct_layer()
        if layer is None:
            self._set_status("open a CT image first", error=True)
            return False
        data_pos = np.asarray(layer.world_to_data(np.asarray(position, dtype=float)), dtype=float)
        return self.assign_at_index(data_pos[-3:], artery)

    def _on_mouse_drag(self, viewer: Any, event: Any) -> Any:
        """Viewer drag callback: a left click (no drag) in 2-D assigns the candidate under it."""
        try:
            active_click = self.click_check.isChecked()
        except RuntimeError:  # the widget was deleted: stop listening
            if self._on_mouse_drag in viewer.mouse_drag_callbacks:
                viewer.mouse_drag_callbacks.remove(self._on_mouse_drag)
            return
        if not active_click or getattr(event, "button", 1) != 1:
            return
        active = viewer.layers.selection.active
        if active is not None and getattr(active, "mode", "pan_zoom") != "pan_zoom":
            return  # the brush, fill or eraser of the active layer owns the click
        if viewer.dims.ndisplay != 2:
            self._set_status("Click-to-assign works in the 2-D view; switch off 3-D.", error=True)
            return
        position = tuple(event.position)
        press = np.asarray(getattr(event, "pos", (0.0, 0.0)), dtype=float)
        yield
        moved = False
        while event.type == "mouse_move":
            pos = getattr(event, "pos", None)
            if pos is not None and np.hypot(*(np.asarray(pos, float) - press)) > CLICK_SLOP_PX:
                moved = True
            yield
        if not moved:
            try:
                self.assign_at_world(position)
            except Exception as exc:  # noqa: BLE001 - a click must never raise into napari
                self._set_status(_error_text(exc), error=True)

    # ------------------------------------------------------------------ scoring
    def _schedule(self, *_: Any) -> None:
        self._timer.start()

    @property
    def busy(self) -> bool:
        """True while a step or a scoring runs or is scheduled."""
        return self._job is not None or self._worker is not None or self._timer.isActive() or self._dirty

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process Qt events until nothing runs or is scheduled (scripts, tests)."""
        return process_events_until(lambda: not self.busy, timeout_s)

    def score_options(self) -> dict[str, Any]:
        return {
            "min_area_mm2": float(self.min_area_spin.value()),
            "calibration_factor": float(self.calibration_spin.value()),
            "slice_correction": self.correction_combo.currentText(),
        }

    def compute(self) -> None:
        """Score the current assignment off the GUI thread (a running job is followed by one more)."""
        if self._worker is not None:
            self._dirty = True
            return
        layer = self.assignment_layer
        if layer is None or self.ct_layer() is None:
            return
        try:
            ct = self.ct_volume()
            assign = layer_to_volume(layer)
        except (MedaiError, ValueError) as exc:
            self._set_status(str(exc), error=True)
            return
        data = np.asarray(assign.data)
        if self._buffer is None or self._buffer.shape != data.shape or self._buffer.dtype != data.dtype:
            self._buffer = np.empty(data.shape, dtype=data.dtype)
        np.copyto(self._buffer, data)  # the worker reads a snapshot: painting meanwhile cannot tear it
        snap = assign.with_data(self._buffer)
        from napari.qt.threading import create_worker

        worker = create_worker(self._score_work, ct, snap, self.score_options(), _start_thread=False)
        worker.returned.connect(self._score_done)
        worker.finished.connect(self._score_finished)
        self._worker = worker
        worker.start()

    @staticmethod
    def _score_work(ct: Any, assignment: Any, options: dict) -> tuple[str, Any]:
        try:
            # warn=False: the spacing note is recorded in result.notes (and shown by check_ct)
            result = cac.score(ct, assignment, warn=False, **options)
            return ("ok", (result, np.array(assignment.data, copy=True)))
        except Exception as exc:  # noqa: BLE001 - shown in the status line
            return ("error", exc)

    def _score_finished(self) -> None:
        self._worker = None
        if self._dirty:
            self._dirty = False
            self.compute()

    def _score_done(self, payload: tuple[str, Any]) -> None:
        status, value = payload
        if status == "error":
            self.result = None
            self._show_scores(None)
            self._set_status(_error_text(value), error=True)
            return
        result, scored = value
        self.result = result
        self._last_scored = scored
        self.n_updates += 1
        self._show_scores(result)
        n_cor = sum(1 for les in result.lesions if les.artery in cac.ARTERIES)
        msg = (f"Scored {n_cor} coronary lesion(s) (threshold {result.threshold_hu:g} HU, min area "
               f"{result.min_area_mm2:g} mm², {result.connectivity}-connected per slice).")
        if result.n_dropped_small:
            msg += f" {result.n_dropped_small} region(s) under the minimum area dropped."
        if result.slice_factor != 1.0:
            msg += f" Slice correction '{result.slice_correction}': lesion scores × {result.slice_factor:.4g}."
        elif result.slice_correction == "none" and abs(result.slice_thickness_mm - cac.REFERENCE_SLICE_MM) > 1e-3:
            msg += " No slice correction: scores are not comparable with 3 mm scoring."
        self._set_status(msg)
        self.scored.emit(result)

    def _show_scores(self, result: Any) -> None:
        if result is None:
            self.score_table.clearContents()
            self.lesion_table.setRowCount(0)
            self.category_label.setText("")
            return
        rows = cac.per_artery_rows(result)
        self.score_table.setRowCount(len(rows))
        self.score_table.setVerticalHeaderLabels([r["artery"] for r in rows])
        for i, row in enumerate(rows):
            for j, (key, _) in enumerate(SCORE_COLUMNS):
                self.score_table.setItem(i, j, _item(_num(row[key])))
            if row["artery"] == "total":
                font = self.score_table.item(i, 0).font()
                font.setBold(True)
                for j in range(len(SCORE_COLUMNS)):
                    self.score_table.item(i, j).setFont(font)
        self.category_label.setText(
            f"Total Agatston {result.total:.1f}: risk category <b>{result.category}</b> "
            "(non-coronary calcium is not in the total).")
        self.lesion_table.setRowCount(len(result.lesions))
        self.lesion_table.setVerticalHeaderLabels([str(les.id) for les in result.lesions])
        code_of = {name: code for code, name in ARTERY_NAMES.items()}
        for i, les in enumerate(result.lesions):
            vals = [str(les.slice), _num(les.area_mm2, 2), _num(les.peak_hu, 0), str(les.weight),
                    _num(les.agatston, 2)]
            for j, v in enumerate(vals):
                self.lesion_table.setItem(i, j, _item(v))
            art = _item(les.artery, right=False)
            colour = self._colours.get(code_of.get(les.artery, -1))
            if colour is not None:
                art.setForeground(_qcolor(colour))
            self.lesion_table.setItem(i, len(vals), art)

    def go_to_lesion(self, row: int) -> None:
        """Move the viewer to the lesion in ``row`` of the lesion table (slice and camera centre)."""
        if self.result is None or not (0 <= row < len(self.result.lesions)):
            return
        layer = self.assignment_layer or self.ct_layer()
        if layer is None:
            return
        centre_on(self.viewer, layer, self.result.lesions[row].centroid)

    # ------------------------------------------------------------------ files
    def _protect(self) -> list[str]:
        layer = self.ct_layer()
        src = _source_of(layer) if layer is not None else None
        return [src] if src else []

    def export_json(self, path: str) -> str:
        """Write the report (core JSON layout) atomically; never over the CT file."""
        if self.result is None:
            raise MedaiError("nothing to export yet: auto-assign (or assign candidates) first")
        return str(cac.write_json(self.result, path, protect=self._protect()))

    def export_csv(self, path: str) -> str:
        """Write the per-artery and per-lesion CSV atomically; never over the CT file."""
        if self.result is None:
            raise MedaiError("nothing to export yet: auto-assign (or assign candidates) first")
        return str(cac.write_csv(self.result, path, protect=self._protect()))

    def default_assignment_path(self) -> Path | None:
        """``<ct stem>_cac_assignment.nii.gz`` next to the CT file (None when the CT has no file)."""
        layer = self.ct_layer()
        src = _source_of(layer) if layer is not None else None
        if not src:
            return None
        from ..core.io import split_extension

        p = Path(src)
        folder = p if p.is_dir() else p.parent  # a DICOM series folder: save beside its files
        stem = p.name if p.is_dir() else (split_extension(p)[0] or p.name)
        return folder / f"{stem}_cac_assignment.nii.gz"

    def save_assignment(self, path: str | None = None, *, overwrite: bool = False) -> str:
        """Save the assignment (codes 0-5, the CT's geometry) as a label file; never over the CT."""
        from ..core.io import write_volume

        layer = self.assignment_layer
        if layer is None:
            raise MedaiError("no assignment to save: auto-assign first")
        target = Path(path) if path else self.default_assignment_path()
        if target is None:
            raise MedaiError("the CT was not read from a file, so there is no folder to save next to; give a path")
        vol = layer_to_volume(layer)
        vol = vol.with_data(np.asarray(vol.data, dtype=np.uint8), is_label=True, units="",
                            label_names={0: "unassigned", **ARTERY_NAMES}, name=ASSIGNMENT_LAYER)
        return str(write_volume(vol, target, overwrite=overwrite, protect=self._protect()))

    def load_assignment(self, path: str) -> Any:
        """Read a saved assignment (a label file of codes 0-5 on the CT grid) into the assignment layer."""
        from ..core.io import read_volume

        ct_layer = self.ct_layer()
        if ct_layer is None:
            raise MedaiError("pick the CT first: the assignment must lie on its grid")
        vol = read_volume(path, as_label=True)
        ct = self.ct_volume()
        ct.require_same_grid(vol, what=f"CT and assignment {Path(path).name}")
        data = np.asarray(vol.data)
        if data.size and (int(data.min()) < 0 or int(data.max()) > 5):
            raise MedaiError(f"{path} holds values outside the artery codes 0-5; it is not a CAC assignment")
        vol = vol.with_data(data.astype(np.uint8), label_names={0: "unassigned", **ARTERY_NAMES})
        layer = self._put_labels(ASSIGNMENT_LAYER, np.asarray(vol.data), ct_layer, vol, colormap=self._colours,
                                 opacity=0.8)
        self._connect_assignment(layer)
        self.method = f"loaded from {Path(path).name}"
        self.method_label.setText(f"Assignment loaded from {path}.")
        self._schedule()
        return layer

    def _export_dialog(self, kind: str) -> None:
        layer = self.ct_layer()
        stem = layer.name if layer is not None else "cac"
        path, _ = QFileDialog.getSaveFileName(self, f"Export CAC report as {kind.upper()}", f"{stem}_cac.{kind}",
                                              f"{kind.upper()} (*.{kind})")
        if not path:
            return
        try:
            written = self.export_csv(path) if kind == "csv" else self.export_json(path)
            self._set_status(f"Wrote {written}")
        except MedaiError as exc:
            self._set_status(str(exc), error=True)

    def _save_dialog(self) -> None:
        default = self.default_assignment_path()
        layer = self.ct_layer()
        suggestion = str(default) if default else f"{layer.name if layer is not None else 'ct'}_cac_assignment.nii.gz"
        path, _ = QFileDialog.getSaveFileName(self, "Save artery assignment", suggestion,
                                              "Label image (*.nii.gz *.nii *.nrrd *.mha)")
        if not path:
            return
        try:
            # the dialog has asked before replacing a file; the CT stays protected
            self._set_status(f"Wrote {self.save_assignment(path, overwrite=True)}")
        except MedaiError as exc:
            self._set_status(str(exc), error=True)

    def _load_dialog(self) -> None:
        default = self.default_assignment_path()
        path, _ = QFileDialog.getOpenFileName(self, "Load artery assignment", str(default.parent) if default else "",
                                              "Label image (*.nii.gz *.nii *.nrrd *.mha *.mhd *.nhdr)")
        if not path:
            return
        try:
            self.load_assignment(path)
        except MedaiError as exc:
            self._set_status(str(exc), error=True)

    # ------------------------------------------------------------------ agreement
    def open_agreement(self) -> CACAgreementWidget:
        """Open (or show) the agreement dock fed with this widget's scores."""
        if self.agreement is None:
            self.agreement = CACAgreementWidget(self.viewer, cac_widget=self)
            self.viewer.window.add_dock_widget(self.agreement, name="CAC agreement", area="right", tabify=True)
        self.agreement.show()
        dock = self.agreement.parentWidget()
        if dock is not None and hasattr(dock, "raise_"):
            dock.raise_()  # tabified next to this dock: bring its tab forward
        return self.agreement

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #ff7070;" if error else "")


# ---------------------------------------------------------------------------------------------------
STAT_COLUMNS = ("n", "Pearson r", "ICC(2,1)", "bias", "SD", "LoA low", "LoA high")


class CACAgreementWidget(QWidget):
    """Agreement of automatic with reference Agatston scores over cases.

    Reference scores and (optionally) a cohort of automatic scores are CSV files in the format of
    ``napari-medai cac-agreement`` (``case``, ``total``, optional ``LM``/``LAD``/``LCX``/``RCA``);
    the current case's scores from the calcium widget can be added as one more automatic case.
    Shows Pearson r, ICC(2,1), Bland-Altman bias and limits (table and plot), the risk-category
    confusion matrix (rows automatic, columns reference) and the linearly weighted kappa.
    """

    def __init__(self, viewer: napari.viewer.Viewer | None = None, *, cac_widget: CACWidget | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.cac_widget = cac_widget
        self.reference: dict[str, dict[str, float]] = {}
        self.cohort: dict[str, dict[str, float]] = {}
        self.reference_path: str | None = None
        self.cohort_path: str | None = None
        self.summary: dict[str, Any] | None = None
        self.per_measure: dict[str, dict[str, Any]] = {}
        self.cases: list[str] = []
        self.canvas: Any = None
        self._auto: dict[str, dict[str, float]] = {}

        self.ref_button = QPushButton("Reference scores CSV…")
        self.ref_label = QLabel("no reference loaded")
        self.auto_button = QPushButton("Automatic scores CSV…")
        self.auto_label = QLabel("no cohort loaded (optional)")
        for lab in (self.ref_label, self.auto_label):
            lab.setWordWrap(True)
        self.current_check = QCheckBox("add the current case as")
        self.case_edit = QLineEdit()
        self.case_edit.setPlaceholderText("case name in the reference CSV")
        self.measure_combo = QComboBox()
        self.measure_combo.addItems(list(_measures()))
        self.status = QLabel("Load reference scores (CSV: case, total[, LM, LAD, LCX, RCA]).")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.stats_table = QTableWidget(0, len(STAT_COLUMNS))
        self.stats_table.setHorizontalHeaderLabels(list(STAT_COLUMNS))
        self.stats_table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeToContents)
        self.stats_table.horizontalHeader().setStretchLastSection(True)
        self.stats_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.kappa_label = QLabel("")
        self.kappa_label.setWordWrap(True)
        cats = list(cac.RISK_CATEGORIES)
        self.confusion_table = QTableWidget(len(cats), len(cats))
        self.confusion_table.setHorizontalHeaderLabels(cats)
        self.confusion_table.setVerticalHeaderLabels(cats)
        self.confusion_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.confusion_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.cases_table = QTableWidget(0, 4)
        self.cases_table.setHorizontalHeaderLabels(["auto total", "ref total", "auto cat.", "ref cat."])
        self.cases_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.cases_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.plot_box = QVBoxLayout()
        self.plot_placeholder = QLabel("The Bland-Altman plot appears once two or more cases match.")
        self.plot_placeholder.setWordWrap(True)
        self.plot_box.addWidget(self.plot_placeholder)

        stats_page = QWidget()
        sp = QVBoxLayout(stats_page)
        sp.addWidget(self.stats_table, stretch=1)
        sp.addWidget(self.kappa_label)
        sp.addWidget(QLabel("Risk categories of the total (rows automatic, columns reference):"))
        sp.addWidget(self.confusion_table, stretch=1)
        plot_page = QWidget()
        pp = QVBoxLayout(plot_page)
        row = QHBoxLayout()
        row.addWidget(QLabel("score"))
        row.addWidget(self.measure_combo, stretch=1)
        pp.addLayout(row)
        pp.addLayout(self.plot_box, stretch=1)
        self.tabs = QTabWidget()
        self.tabs.addTab(stats_page, "Statistics")
        self.tabs.addTab(plot_page, "Bland-Altman")
        self.tabs.addTab(self.cases_table, "Cases")

        grid = QGridLayout()
        grid.addWidget(self.ref_button, 0, 0)
        grid.addWidget(self.ref_label, 0, 1)
        grid.addWidget(self.auto_button, 1, 0)
        grid.addWidget(self.auto_label, 1, 1)
        current = QHBoxLayout()
        current.addWidget(self.current_check)
        current.addWidget(self.case_edit, stretch=1)
        layout = QVBoxLayout(self)
        layout.addLayout(grid)
        layout.addLayout(current)
        layout.addWidget(self.status)
        layout.addWidget(self.tabs, stretch=1)

        if cac_widget is not None:
            layer = cac_widget.ct_layer()
            self.case_edit.setText(layer.name if layer is not None else "")
            self.current_check.setChecked(True)
            cac_widget.scored.connect(lambda _r: self.compute() if self.current_check.isChecked() else None)
        else:
            self.current_check.setEnabled(False)
            self.case_edit.setEnabled(False)

        self.ref_button.clicked.connect(lambda: self._open_dialog("ref"))
        self.auto_button.clicked.connect(lambda: self._open_dialog("auto"))
        self.current_check.toggled.connect(lambda _on: self.compute())
        self.case_edit.editingFinished.connect(self.compute)
        self.measure_combo.currentTextChanged.connect(lambda _t: self._draw_plot())

    # ------------------------------------------------------------------ inputs
    def load_reference(self, path: str) -> bool:
        """Read the reference CSV and recompute (False, with the reason shown, when it is refused)."""
        return self._load(path, "ref")

    def load_auto(self, path: str) -> bool:
        """Read a cohort CSV of automatic scores and recompute."""
        return self._load(path, "auto")

    def _load(self, path: str, which: str) -> bool:
        from ..core.tasks.cac.report import read_scores

        try:
            scores = read_scores(Path(path), what="reference scores" if which == "ref" else "automatic scores")
        except MedaiError as exc:
            self._set_status(str(exc), error=True)
            return False
        text = f"{Path(path).name}: {len(scores)} case(s)"
        if which == "ref":
            self.reference, self.reference_path = scores, str(path)
            self.ref_label.setText(text)
        else:
            self.cohort, self.cohort_path = scores, str(path)
            self.auto_label.setText(text)
        self.compute()
        return True

    def _open_dialog(self, which: str) -> None:
        title = "Reference Agatston scores (CSV)" if which == "ref" else "Automatic Agatston scores (CSV)"
        path, _ = QFileDialog.getOpenFileName(self, title, "", "CSV (*.csv);;all files (*)")
        if path:
            self._load(path, which)

    def automatic_scores(self) -> dict[str, dict[str, float]]:
        """The cohort's automatic scores, plus the current case's when ticked."""
        auto = {k: dict(v) for k, v in self.cohort.items()}
        w = self.cac_widget
        if w is not None and self.current_check.isChecked() and w.result is not None:
            case = self.case_edit.text().strip() or (w.result.name or "current case")
            auto[case] = {m: float(w.result.agatston[m]) for m in _measures()}
        return auto

    # ------------------------------------------------------------------ statistics
    def compute(self) -> dict[str, Any] | None:
        """Match cases by name and compute the statistics (fast: on the GUI thread)."""
        from ..core.metrics.agreement_stats import (
            agreement_summary,
            bland_altman,
            icc_2_1,
            pearson_r,
        )

        self.summary, self.per_measure, self.cases = None, {}, []
        auto, ref = self.automatic_scores(), self.reference
        self._auto = auto
        if not ref:
            self._clear()
            self._set_status("Load reference scores (CSV: case, total[, LM, LAD, LCX, RCA]).")
            return None
        cases = sorted(set(auto) & set(ref))
        self.cases = cases
        self._fill_cases(cases)
        unmatched = sorted(set(auto) - set(ref))
        notes = []
        if unmatched:
            notes.append(f"{len(unmatched)} automatic case(s) without reference: {', '.join(unmatched[:8])}"
                         + ("…" if len(unmatched) > 8 else ""))
        if len(cases) < 2:
            self._clear(keep_cases=True)
            self._set_status(
                f"{len(cases)} case(s) match the reference; agreement statistics need at least 2. "
                + ("Name the current case as in the reference CSV's 'case' column, or load a cohort CSV. "
                   if not cases else "Load a cohort CSV of automatic scores for more. ")
                + " ".join(notes), error=not cases)
            return None
        try:
            a_tot = [auto[c]["total"] for c in cases]
            r_tot = [ref[c]["total"] for c in cases]
            summary = agreement_summary(a_tot, r_tot)
            per: dict[str, dict[str, Any]] = {}
            for m in _measures():
                if not all(m in auto[c] and m in ref[c] for c in cases):
                    continue
                a = [auto[c][m] for c in cases]
                r = [ref[c][m] for c in cases]
                per[m] = {"n": len(cases), "pearson_r": pearson_r(a, r), "icc_2_1": icc_2_1(a, r),
                          "bland_altman": bland_altman(a, r).as_dict()}
        except MedaiError as exc:
            self._clear(keep_cases=True)
            self._set_status(str(exc), error=True)
            return None
        self.summary, self.per_measure = summary, per
        self._fill_stats()
        self._draw_plot()
        self._set_status(f"{len(cases)} case(s) matched. " + " ".join(notes))
        return summary

    def _fill_stats(self) -> None:
        per, summary = self.per_measure, self.summary
        self.stats_table.setRowCount(len(per))
        self.stats_table.setVerticalHeaderLabels(list(per))
        for i, st in enumerate(per.values()):
            ba = st["bland_altman"]
            vals = [str(st["n"]), _num(st["pearson_r"], 3), _num(st["icc_2_1"], 3), _num(ba["bias"]),
                    _num(ba["sd"]), _num(ba["loa_low"]), _num(ba["loa_high"])]
            for j, v in enumerate(vals):
                self.stats_table.setItem(i, j, _item(v))
        self.kappa_label.setText(
            f"Risk categories of the total: linearly weighted kappa <b>{_num(summary['weighted_kappa_linear'], 3)}</b>, "
            f"exact agreement {summary['category_agreement']:.0%}.")
        for i, row in enumerate(summary["confusion_matrix"]):
            for j, v in enumerate(row):
                it = _item(str(v))
                if i == j:
                    it.setBackground(QColor(40, 90, 40))
                self.confusion_table.setItem(i, j, it)
        measures = list(per)
        current = self.measure_combo.currentText()
        self.measure_combo.blockSignals(True)
        self.measure_combo.clear()
        self.measure_combo.addItems(measures)
        if current in measures:
            self.measure_combo.setCurrentText(current)
        self.measure_combo.blockSignals(False)

    def _fill_cases(self, cases: list[str]) -> None:
        self.cases_table.setRowCount(len(cases))
        self.cases_table.setVerticalHeaderLabels(cases)
        for i, c in enumerate(cases):
            a, r = self._auto[c]["total"], self.reference[c]["total"]
            vals = [_num(a), _num(r), cac.risk_category(a), cac.risk_category(r)]
            for j, v in enumerate(vals):
                self.cases_table.setItem(i, j, _item(v))

    def _draw_plot(self) -> None:
        if self.summary is None:
            return
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

        from ..core.metrics.agreement_stats import bland_altman_figure

        m = self.measure_combo.currentText() or "total"
        if m not in self.per_measure:
            m = "total"
        a = [self._auto[c][m] for c in self.cases]
        r = [self.reference[c][m] for c in self.cases]
        try:
            fig = bland_altman_figure(a, r, title=f"Agatston {m}", units="Agatston", labels=self.cases,
                                      figsize=(4.5, 3.4))
        except MedaiError as exc:
            self._set_status(str(exc), error=True)
            return
        self._remove_canvas()
        self.plot_placeholder.setVisible(False)
        self.canvas = FigureCanvasQTAgg(fig)
        self.canvas.setMinimumHeight(260)
        self.plot_box.addWidget(self.canvas, stretch=1)
        self.canvas.draw_idle()

    def _remove_canvas(self) -> None:
        if self.canvas is not None:
            self.plot_box.removeWidget(self.canvas)
            self.canvas.setParent(None)
            self.canvas.deleteLater()
            self.canvas = None

    def _clear(self, *, keep_cases: bool = False) -> None:
        self.stats_table.setRowCount(0)
        self.kappa_label.setText("")
        self.confusion_table.clearContents()
        if not keep_cases:
            self.cases_table.setRowCount(0)
        self._remove_canvas()
        self.plot_placeholder.setVisible(True)

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #ff7070;" if error else "")


def _measures() -> tuple[str, ...]:
    from ..core.tasks.cac.report import SCORE_MEASURES as MEASURES

    return MEASURES


__all__ = ["ASSIGNMENT_LAYER", "CANDIDATES_LAYER", "CACAgreementWidget", "CACWidget"]
