"""Agreement panel: a prediction Labels layer against a ground-truth Labels layer, live.

The numbers come from :class:`~napari_medai.core.agreement_session.AgreementSession` (the live,
incremental form of :func:`~napari_medai.core.evaluate.evaluate_volumes`); this panel picks the layers,
drives the session through the shared :class:`~napari_medai._napari._jobs.JobRunner`, and shows the
table, the lesions and the error map.

Live updates: an edit of either layer (``paint``, ``data`` or ``set_data`` event) is noted in the
session and starts a recomputation at once through a queued signal (napari emits ``paint`` before it
writes the data), one more after a running one, without waiting for the viewer to redraw. Only the
table cells whose text changed are rewritten.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QEvent, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.agreement_session import (
    AgreementSession,
    LayerInfo,
    guess_convention,
    label_values,
    pick_pair,
)
from ...core.callbacks import Cancelled
from ...core.error_map import ERROR_MAP_COLOURS, ERROR_MAP_NAMES, error_counts, error_map
from ...core.errors import GeometryMismatchError, InvalidInputError, MedaiError
from ...core.evaluate import CaseResult, resample_to_grid, write_csv, write_json
from ...core.metrics import CONVENTIONS
from .._jobs import JobRunner
from .._widgets import (
    RED,
    LabelLegend,
    as_outline,
    centre_on,
    process_events_until,
    scroll_vertically,
    spin,
    wrapped,
)
from ..layers import META_KEY, layer_to_volume, spatial_transform_kwargs
from . import display

if TYPE_CHECKING:
    import napari

CUSTOM = "custom…"
#: Viewer shortcuts while the panel is open: key -> (method, what it does).
SHORTCUTS = {"N": ("next_lesion", "next lesion"), "Shift-N": ("previous_lesion", "previous lesion"),
             "G": ("toggle_ground_truth", "show / hide the ground truth")}
ROLES = ("pred", "gt")


def _medai_meta(layer: Any) -> dict[str, Any]:
    md = getattr(layer, "metadata", None) or {}
    return {**md, **(md.get(META_KEY) or {})}


def _press(key_method: str, widget_ref: list[Any], _viewer: Any = None) -> None:
    if widget_ref:
        getattr(widget_ref[0], key_method)()


def _key_function(key_method: str, widget_ref: list[Any]) -> Any:
    """A plain named function for ``viewer.bind_key`` (napari reads ``__name__``: a partial breaks every key)."""

    def press(viewer: Any) -> None:
        _press(key_method, widget_ref, viewer)

    press.__name__ = press.__qualname__ = f"medai_agreement_{key_method}"
    return press


def _release(viewer: Any, keys: list[str], handlers: list[tuple[Any, Any]], widget_ref: list[Any],
             connected: list[tuple[Any, Any]], *_: Any) -> None:
    """Undo what the panel hooked into the viewer (when it is taken out of its dock or destroyed); idempotent."""
    if not widget_ref:
        return
    widget_ref.clear()
    for key in keys:
        with contextlib.suppress(KeyError, RuntimeError):  # the viewer went first
            viewer.bind_key(key, None)
    for emitter, handler in [*handlers, *connected]:
        emitter.disconnect(handler)
    handlers.clear()
    connected.clear()


def _reworded(exc: MedaiError) -> MedaiError:
    """The same error in the panel's words (controls, not command-line flags)."""
    text = display.gui_message(str(exc))
    try:
        return type(exc)(text)
    except TypeError:
        return MedaiError(text)


class AgreementWidget(QWidget):
    """Dock widget measuring a prediction against ground truth (see module docstring)."""

    #: Emitted after a layer edit; queued, so the update starts once napari has written the edit.
    _edited = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.session = AgreementSession()
        self.result: CaseResult | None = None
        self.lesions: list[dict[str, Any]] = []
        self.n_updates = 0
        self._pair: tuple[Any, Any] = (None, None)  # unique ids of the layers the session follows
        self._chosen = {"pred": False, "gt": False, "convention": False}  # set by the user: kept
        self._connected: list[tuple[Any, Any]] = []
        self._outlined: Any = None
        self._remarks: list[str] = []
        self._shown: dict[str, Any] = {}
        self._dirty = self._kick_pending = self._after_pending = False
        self._lesion_row = -1
        self._unhook: Any = None
        self._build()
        self._hook_viewer()
        self._refresh_layer_choices()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self.pred_combo = QComboBox()
        self.pred_combo.setToolTip("The segmentation to measure (newest model output by default).")
        self.gt_combo = QComboBox()
        self.gt_combo.setToolTip("The reference segmentation (a layer named like seg, gt, label, ground truth). "
                                 "Shortcut G in the viewer: show / hide it.")
        self.convention_combo = QComboBox()
        self.convention_combo.addItems([*CONVENTIONS.keys(), CUSTOM])
        self.convention_combo.setCurrentText("binary")
        self.convention_combo.setToolTip("Which label values exist and how they form regions (from the model, "
                                         "else guessed from the label values).")
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
        self.compute_button = QPushButton("Compute")
        self.resample_button = QPushButton("Resample prediction onto ground-truth grid")
        self.resample_button.setVisible(False)
        self.jobs = JobRunner("Pick a prediction and a ground-truth Labels layer.")
        self.jobs.add_run_buttons(self.compute_button, self.resample_button)
        self.status = self.jobs.status
        self.table = display.metrics_table()
        self.legend = LabelLegend()
        self.lesion_table = display.lesion_table()
        keys = ", ".join(f"{k.replace('-', '+')}: {what}" for k, (_, what) in SHORTCUTS.items())
        self.lesion_table.setToolTip(f"Click a row to go to the lesion. Viewer shortcuts: {keys}.")
        self.region_combo = QComboBox()
        self.error_map_button = QPushButton("Add error map")
        self.error_key = LabelLegend()
        self.error_counts = wrapped("")
        self.csv_button = QPushButton("Export CSV…")
        self.json_button = QPushButton("Export JSON…")

        form = QFormLayout()
        for label, w in (("Prediction", self.pred_combo), ("Ground truth", self.gt_combo),
                         ("Convention", self.convention_combo), ("Regions", self.regions_edit),
                         ("NSD tolerance", self.tolerance_spin), ("Lesion matching", self.lesion_combo)):
            form.addRow(label, w)
        form.addRow("", self.live_check)
        form.addRow("", self.outline_check)
        buttons = QHBoxLayout()
        buttons.addWidget(self.compute_button)
        buttons.addWidget(self.resample_button)
        errs = QHBoxLayout()
        errs.addWidget(self.region_combo, stretch=1)
        errs.addWidget(self.error_map_button)
        exports = QHBoxLayout()
        exports.addWidget(self.csv_button)
        exports.addWidget(self.json_button)
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(form)
        layout.addLayout(buttons)
        layout.addWidget(self.jobs)
        layout.addWidget(self.table)
        layout.addWidget(self.legend)
        layout.addWidget(QLabel(f"Lesions (click a row; {keys})"))
        layout.addWidget(self.lesion_table)
        layout.addWidget(QLabel("Error map (voxels of one region)"))
        layout.addLayout(errs)
        layout.addWidget(self.error_key)
        layout.addWidget(self.error_counts)
        layout.addLayout(exports)
        layout.addStretch(1)
        scroll_vertically(self, content)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.compute)
        self._edited.connect(self._live_update, Qt.QueuedConnection)
        self.compute_button.clicked.connect(self.compute)
        self.resample_button.clicked.connect(self.resample_prediction)
        self.error_map_button.clicked.connect(lambda: self.add_error_map())
        self.csv_button.clicked.connect(lambda: self._export_dialog("csv"))
        self.json_button.clicked.connect(lambda: self._export_dialog("json"))
        self.lesion_table.cellClicked.connect(lambda row, _col: self.go_to_lesion(row))
        self.convention_combo.currentTextChanged.connect(self._convention_changed)
        self.convention_combo.activated.connect(lambda *_: self._chosen.update(convention=True))
        self.regions_edit.editingFinished.connect(self._regions_edited)
        self.tolerance_spin.valueChanged.connect(self._schedule)
        self.lesion_combo.currentTextChanged.connect(self._schedule)
        self.outline_check.toggled.connect(lambda *_: self._show_outline())
        for key, combo in (("pred", self.pred_combo), ("gt", self.gt_combo)):
            combo.currentTextChanged.connect(self._pair_changed)
            combo.activated.connect(partial(self._user_chose, key))

    def event(self, ev: QEvent) -> bool:
        # napari's remove_dock_widget takes the panel out of its dock without deleting it: let go of the
        # viewer's keys and events then, and take them again if the panel is docked again
        if ev.type() == QEvent.ParentChange:
            if self.parent() is None and self._unhook is not None:
                self._unhook()
                self._unhook = None
            elif self.parent() is not None and self._unhook is None:
                self._hook_viewer()
                self._pair = (None, None)
                self._refresh_layer_choices()
        return super().event(ev)

    def _hook_viewer(self) -> None:
        ref: list[Any] = [self]
        for key, (method, _what) in SHORTCUTS.items():
            self.viewer.bind_key(key, _key_function(method, ref), overwrite=True)
        handlers = []
        events = self.viewer.layers.events
        for emitter in (events.inserted, events.removed, events.moved):
            handler = partial(_press, "_refresh_layer_choices", ref)
            emitter.connect(handler)
            handlers.append((emitter, handler))
        # the layer-edit connections too (self._connected is only ever changed in place)
        self._unhook = partial(_release, self.viewer, list(SHORTCUTS), handlers, ref, self._connected)
        self.destroyed.connect(self._unhook)

    # ------------------------------------------------------------------ layer choices
    def _labels_layers(self) -> list[Any]:
        from napari.layers import Labels

        return [ly for ly in self.viewer.layers
                if isinstance(ly, Labels) and "error_map" not in (ly.metadata or {})]

    def _layer(self, name: str) -> Any:
        return next((ly for ly in self._labels_layers() if ly.name == name), None)

    def _refresh_layer_choices(self, *_: Any) -> None:
        layers = self._labels_layers()
        names = [ly.name for ly in layers]
        auto = pick_pair([LayerInfo(ly.name, _medai_meta(ly).get("role")) for ly in layers])
        for combo, key, picked in ((self.pred_combo, "pred", auto[0]), (self.gt_combo, "gt", auto[1])):
            current = combo.currentText()
            if current not in names:
                self._chosen[key] = False
            keep = current if self._chosen[key] else picked
            if [combo.itemText(i) for i in range(combo.count())] == names and combo.currentText() == (keep or ""):
                continue
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            combo.setCurrentIndex(names.index(keep) if keep in names else -1)
            combo.blockSignals(False)
        self._pair_changed()

    def _user_chose(self, key: str, *_: Any) -> None:
        self._chosen[key] = True
        self._pair_changed()

    def set_pair(self, *, pred: str, gt: str, convention: str | None = None, compute: bool = True) -> None:
        """Choose the two layers (and convention) as a user would, then compute."""
        self._chosen.update(pred=True, gt=True)
        self._refresh_layer_choices()
        if convention is not None:
            self._set_convention(convention)
            self._chosen["convention"] = True
        self.pred_combo.setCurrentText(pred)
        self.gt_combo.setCurrentText(gt)
        self._pair_changed()
        if compute:
            self.compute()

    def _pair_changed(self, *_: Any) -> None:
        pred, gt = self._layer(self.pred_combo.currentText()), self._layer(self.gt_combo.currentText())
        pair = (getattr(pred, "unique_id", None), getattr(gt, "unique_id", None))
        if pair == self._pair:
            return
        self._pair = pair
        self._remarks = [r for r in self._remarks if self.pred_combo.currentText() in r]
        for emitter, handler in self._connected:
            emitter.disconnect(handler)
        self._connected.clear()
        for layer in {id(x): x for x in (pred, gt) if x is not None}.values():
            for evname in ("paint", "data", "set_data"):
                emitter = getattr(layer.events, evname, None)
                if emitter is not None:
                    emitter.connect(self._on_layer_edit)
                    self._connected.append((emitter, self._on_layer_edit))
        self.session.reset()
        self._show_outline()
        if pred is not None and gt is not None and not self._chosen["convention"]:
            self._auto_convention(pred, gt)
        self._schedule()

    def _auto_convention(self, pred: Any, gt: Any) -> None:
        declared = _medai_meta(pred).get("convention") or _medai_meta(gt).get("convention")
        spec = declared or guess_convention(set(label_values(pred.data)) | set(label_values(gt.data)))
        if spec:
            self._set_convention(str(spec))

    def _set_convention(self, spec: str) -> None:
        if spec in CONVENTIONS:
            self.convention_combo.setCurrentText(spec)
        else:
            self.convention_combo.setCurrentText(CUSTOM)
            self.regions_edit.setText(spec)
            self._schedule()

    def _convention_changed(self, text: str) -> None:
        self.regions_edit.setEnabled(text == CUSTOM)
        self._schedule()

    def _regions_edited(self) -> None:
        self._chosen["convention"] = True
        self._schedule()

    def _show_outline(self) -> None:
        gt = self._layer(self.gt_combo.currentText())
        old = self._outlined
        if old is not None and (gt is None or old.unique_id != gt.unique_id or not self.outline_check.isChecked()):
            if any(ly.unique_id == old.unique_id for ly in self.viewer.layers):
                old.contour = 0
            self._outlined = None
        if gt is not None and self.outline_check.isChecked():
            as_outline(gt)
            self._outlined = gt

    # ------------------------------------------------------------------ live updates
    def _on_layer_edit(self, event: Any = None) -> None:
        name = getattr(getattr(event, "source", None), "name", None)
        which = {self.pred_combo.currentText(): "pred", self.gt_combo.currentText(): "gt"}.get(name)
        self.session.note_edit(which)
        if self.live_check.isChecked() and not self._kick_pending:
            # one queued kick for the several events of one edit (paint, set_data, ...)
            self._kick_pending = True
            self._edited.emit()

    def _live_update(self) -> None:
        self._kick_pending = False
        self._run()

    def _schedule(self, *_: Any) -> None:
        self._timer.start()

    @property
    def busy(self) -> bool:
        """True while a computation runs or is scheduled."""
        return (self.jobs.busy or self._timer.isActive() or self._dirty or self._kick_pending
                or self._after_pending)

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process Qt events until no computation is running or scheduled (scripts, screenshots)."""
        return process_events_until(lambda: not self.busy, timeout_s)

    # ------------------------------------------------------------------ computing
    def convention(self) -> str:
        text = self.convention_combo.currentText()
        return self.regions_edit.text().strip() if text == CUSTOM else text

    def compute(self) -> None:
        """Recompute the whole table off the GUI thread (a running job is followed by one more)."""
        self._timer.stop()
        self.session.settings_changed()
        self._run()

    def _run(self) -> None:
        if self.jobs.busy:
            self._dirty = True
            if not self._after_pending:
                self._after_job()  # polls until the runner is idle, then runs again
            return
        pred, gt = self._layer(self.pred_combo.currentText()), self._layer(self.gt_combo.currentText())
        if pred is None or gt is None or pred.unique_id == gt.unique_id:
            self._refuse(InvalidInputError(
                "Choose two different Labels layers in 'Prediction' and 'Ground truth'." if pred is not None
                and gt is not None else "Choose a Labels layer in 'Prediction' and one in 'Ground truth'."))
            return
        try:
            snap = self.session.snapshot(
                layer_to_volume(pred), layer_to_volume(gt), convention=self.convention(),
                tolerance_mm=float(self.tolerance_spin.value()), lesion_style=self.lesion_combo.currentText(),
                pred_key=pred.unique_id, gt_key=gt.unique_id)
        except GeometryMismatchError as exc:
            self.resample_button.setVisible(True)
            self._refuse(exc)
            return
        except MedaiError as exc:
            self._refuse(exc)
            return
        if snap is None:
            return  # e.g. a slice change, or an edit that wrote the values already there
        self.resample_button.setVisible(False)
        # a live update keeps the last table and status on screen until the new one is there
        message = "computing…" if snap.full or self.result is None else self.status.text()
        self.jobs.start(partial(self._work, snap), self._show, message, on_error=self._failed)

    def _work(self, snap: Any) -> Any:
        try:
            live = self.session.recompute(snap)
        except MedaiError as exc:
            raise _reworded(exc) from exc
        if self.jobs.cancelled():
            raise Cancelled("the table was not updated")
        return live

    def _refuse(self, exc: MedaiError) -> None:
        self._clear_tables()
        text = display.gui_message(str(exc))
        self.jobs.last_error = text
        self._set_status(text, error=True)

    def _show(self, live: Any) -> None:
        result = live.result
        self.result = result
        self.lesions = live.lesions
        self.n_updates += 1
        names, cells, ruled = display.result_rows(result)
        display.fill_table(self.table, self._shown, names, cells)
        regions = list(result.regions)
        if regions != [self.region_combo.itemText(i) for i in range(self.region_combo.count())]:
            self.region_combo.clear()
            self.region_combo.addItems(regions)
        display.fill_lesions(self.lesion_table, self._shown, display.lesion_rows(live.lesions))
        conv = result.convention
        if self._shown.get("legend") != (self._pair, conv):
            self._shown["legend"] = (self._pair, conv)
            self.legend.show_layer(self._layer(self.pred_combo.currentText()), names=dict(conv.labels))
        msg = f"{conv.name} convention, NSD tolerance {result.tolerance_mm:g} mm."
        if ruled:
            msg += " * value set by the empty-mask rule: " + " | ".join(ruled)
        msg += "".join(f" {n}" for n in [*result.notes, *self._remarks])
        self._set_status(msg)
        self._after_job()

    def _failed(self, exc: BaseException) -> None:
        self._clear_tables()
        if isinstance(exc, Cancelled):
            self.session.settings_changed()
        self._after_job()

    def _after_job(self) -> None:
        """Once the runner is idle: run again if an edit came in meanwhile."""
        if self.jobs.busy:
            self._after_pending = True
            QTimer.singleShot(1, self._after_job)
            return
        self._after_pending = False
        if self._dirty:
            self._dirty = False
            self._run()

    def _clear_tables(self) -> None:
        self.result = None
        self.lesions = []
        self.table.setRowCount(0)
        self.lesion_table.setRowCount(0)
        self._shown = {}

    def _set_status(self, text: str, *, error: bool = False) -> None:
        # only what changed: a style sheet set again re-polishes the label and repaints the window
        if self.status.text() != text:
            self.status.setText(text)
        style = RED if error else ""
        if self.status.styleSheet() != style:
            self.status.setStyleSheet(style)

    # ------------------------------------------------------------------ actions
    def resample_prediction(self) -> str | None:
        """Add the prediction resampled (nearest neighbour) onto the ground-truth grid as a layer.

        Returns the name the new layer gets (it is added when the resampling has finished).
        """
        pred, gt = self._layer(self.pred_combo.currentText()), self._layer(self.gt_combo.currentText())
        if pred is None or gt is None:
            return None
        pv, gv = layer_to_volume(pred), layer_to_volume(gt)
        name = f"{pred.name} (on {gt.name} grid)"
        diffs = gv.grid_differences(pv)

        def done(out: Any) -> None:
            layer = self.viewer.add_labels(np.asarray(out.data).astype(np.int32, copy=False), name=name,
                                           metadata=dict(gt.metadata), opacity=pred.opacity,
                                           **spatial_transform_kwargs(gv))
            self._remarks = [f"Resampled '{pred.name}' onto the grid of '{gt.name}' with nearest neighbour "
                             f"(it differed: {'; '.join(diffs)}); comparing the new layer '{layer.name}'."]
            self._chosen["pred"] = True
            self.pred_combo.setCurrentText(layer.name)
            self.compute()

        self.jobs.start(partial(resample_to_grid, pv, gv), done, f"resampling '{pred.name}'…")
        return name

    def add_error_map(self, region: str | None = None) -> Any:
        """Add (or update) a TP/FP/FN Labels layer for one region; returns the layer (None on failure)."""
        if self.result is None:
            self.jobs.refuse(InvalidInputError("Compute the table first."))
            return None
        region = region or self.region_combo.currentText() or next(iter(self.result.regions))
        values = tuple(self.result.convention.regions[region])
        pred, gt = self._layer(self.pred_combo.currentText()), self._layer(self.gt_combo.currentText())
        name = f"error map {region}"
        added: list[Any] = []

        def done(emap: np.ndarray) -> None:
            from napari.utils.colormaps import DirectLabelColormap

            if name in self.viewer.layers:
                layer = self.viewer.layers[name]
                layer.data = emap
            else:
                cmap = DirectLabelColormap(color_dict={0: (0, 0, 0, 0), **ERROR_MAP_COLOURS, None: (0, 0, 0, 0)})
                layer = self.viewer.add_labels(emap, name=name, colormap=cmap, opacity=0.8,
                                               metadata={"error_map": {}},
                                               **spatial_transform_kwargs(layer_to_volume(gt)))
            counts = error_counts(emap)
            layer.metadata["error_map"] = {"region": region, "codes": ERROR_MAP_NAMES, **counts}
            self.error_key.show_layer(layer, names=ERROR_MAP_NAMES)
            self.error_counts.setText(f"{region}: {counts['tp']} true-positive, {counts['fp']} false-positive, "
                                      f"{counts['fn']} false-negative voxels.")
            added.append(layer)

        self.jobs.run_now(lambda: error_map(np.asarray(pred.data), np.asarray(gt.data), labels=values), done)
        return added[0] if added else None

    def go_to_lesion(self, row: int) -> None:
        """Centre the viewer on the lesion in ``row`` of the lesion table."""
        gt = self._layer(self.gt_combo.currentText())
        if gt is None or not (0 <= row < len(self.lesions)):
            return
        self._lesion_row = row
        if self.lesion_table.currentRow() != row:
            self.lesion_table.selectRow(row)
        centre_on(self.viewer, gt, self.lesions[row]["centroid"])

    def next_lesion(self) -> None:
        """Go to the next lesion of the list (shortcut N)."""
        if self.lesions:
            self.go_to_lesion((self._lesion_row + 1) % len(self.lesions))

    def previous_lesion(self) -> None:
        """Go to the previous lesion of the list (shortcut Shift+N)."""
        if self.lesions:
            self.go_to_lesion((self._lesion_row - 1) % len(self.lesions))

    def toggle_ground_truth(self) -> None:
        """Show or hide the ground-truth layer (shortcut G)."""
        gt = self._layer(self.gt_combo.currentText())
        if gt is not None:
            gt.visible = not gt.visible

    def export_csv(self, path: str) -> str:
        if self.result is None:
            raise MedaiError("nothing to export yet: compute the table first")
        return str(write_csv([self.result], path, protect=self._inputs()))

    def export_json(self, path: str) -> str:
        if self.result is None:
            raise MedaiError("nothing to export yet: compute the table first")
        return str(write_json([self.result], path, protect=self._inputs()))

    def _inputs(self) -> list[str]:
        out = []
        for name in (self.pred_combo.currentText(), self.gt_combo.currentText()):
            layer = self._layer(name)
            if layer is None:
                continue
            src = getattr(layer.source, "path", None) or _medai_meta(layer).get("source")
            if src:
                out.append(str(src))
        return out

    def _export_dialog(self, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export agreement as {kind.upper()}", f"agreement.{kind}",
                                              f"{kind.upper()} (*.{kind})")
        if not path:
            return

        def done(written: str) -> None:
            self._set_status(f"Wrote {written}")

        self.jobs.run_now(lambda: self.export_csv(path) if kind == "csv" else self.export_json(path), done)
