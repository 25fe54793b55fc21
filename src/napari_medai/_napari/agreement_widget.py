"""Agreement panel: a prediction Labels layer against a ground-truth Labels layer, live.

All numbers come from :func:`napari_medai.core.evaluate.evaluate_volumes`; this widget only
picks layers, runs the core off the GUI thread, and shows the table, lesions and error map.

Live updates: an edit of either layer (``paint``, ``data`` or ``set_data`` event) starts a
recomputation at once when none is running (and one more after a running one), without waiting
for the viewer to redraw. The worker reads snapshot buffers of the two label maps; only the box
in which a layer differs from its buffer is copied, and that box is passed to the
:class:`~napari_medai.core.metrics.TableCache` so that the core recomputes only what the edit can
have changed (the values are those of a full recomputation). Only table cells whose text changed
are rewritten.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..core.error_map import (
    ERROR_MAP_COLOURS,
    ERROR_MAP_NAMES,
    error_counts,
    error_map,
    lesion_list,
)
from ..core.errors import MedaiError
from ..core.evaluate import CaseResult, evaluate_volumes, resample_to_grid, write_csv, write_json
from ..core.metrics import CONVENTIONS, TableCache, get_convention
from ..core.metrics._arrays import changed_box, merge_change
from ._widgets import centre_on, process_events_until
from .layers import layer_to_volume, spatial_transform_kwargs

if TYPE_CHECKING:
    import napari

#: Columns of the table: (metric key, header).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("dice", "Dice"),
    ("iou", "IoU"),
    ("hd95_mm", "HD95 mm"),
    ("assd_mm", "ASSD mm"),
    ("nsd", "NSD"),
    ("sensitivity", "Sens"),
    ("specificity", "Spec"),
    ("volume_pred_ml", "Vol pred ml"),
    ("volume_gt_ml", "Vol GT ml"),
    ("volume_diff_ml", "ΔVol ml"),
    ("lesion_tp", "TP les"),
    ("lesion_fp", "FP les"),
    ("lesion_fn", "FN les"),
    ("lesion_f1", "Lesion F1"),
    ("lesion_dice", "Lesion Dice"),
)
CUSTOM = "custom…"


def _fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"


class AgreementWidget(QWidget):
    """Dock widget measuring a prediction against ground truth (see module docstring)."""

    #: Emitted after a layer edit; connected with a queued connection, so the live update starts
    #: once the edit is written (napari emits ``paint`` before it writes the data) and before the
    #: viewer redraws.
    _edited = Signal()

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.result: CaseResult | None = None
        self.lesions: list[dict[str, Any]] = []
        self._cache = TableCache()
        self._worker = None
        self._dirty = False
        self._connected: list[Any] = []
        self._grid_ok = True
        self._remarks: list[str] = []
        self._buffers: dict[str, np.ndarray] = {}
        self._buffer_layers: dict[str, int] = {}
        self._stale: set[int] = set()  # ids of layers edited since their snapshot
        self._verify_all = True  # compare both layers with their snapshot at the next computation
        self._settings_pending = True  # the next computation must run even if no voxel changed
        self._kick_pending = False
        self._lesion_cache: dict = {}
        self._lesion_notes: dict[str, Any] = {"pred": True, "gt": True}
        self._shown: dict[str, Any] = {}
        self.n_updates = 0

        self.pred_combo = QComboBox()
        self.gt_combo = QComboBox()
        self.convention_combo = QComboBox()
        self.convention_combo.addItems([*CONVENTIONS.keys(), CUSTOM])
        self.convention_combo.setCurrentText("binary")
        self.regions_edit = QLineEdit()
        self.regions_edit.setPlaceholderText("e.g. WT=1,2,4;TC=1,4;ET=4")
        self.regions_edit.setEnabled(False)
        self.tolerance_spin = QDoubleSpinBox()
        self.tolerance_spin.setRange(0.0, 50.0)
        self.tolerance_spin.setSingleStep(0.5)
        self.tolerance_spin.setValue(1.0)
        self.tolerance_spin.setSuffix(" mm")
        self.lesion_combo = QComboBox()
        self.lesion_combo.addItems(["isles", "brats2023"])
        self.live_check = QCheckBox("update live while painting")
        self.live_check.setChecked(True)

        self.compute_button = QPushButton("Compute")
        self.resample_button = QPushButton("Resample prediction onto ground-truth grid")
        self.resample_button.setVisible(False)
        self.region_combo = QComboBox()
        self.error_map_button = QPushButton("Add error map")
        self.csv_button = QPushButton("Export CSV…")
        self.json_button = QPushButton("Export JSON…")
        self.status = QLabel("Pick a prediction and a ground-truth Labels layer.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)

        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels([h for _, h in COLUMNS])
        # resized to the contents once per update (ResizeToContents re-measures at every cell)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.lesion_table = QTableWidget(0, 5)
        self.lesion_table.setHorizontalHeaderLabels(["#", "status", "in", "volume ml", "voxels"])
        self.lesion_table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.lesion_table.setSelectionBehavior(QTableWidget.SelectRows)
        self.lesion_table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)

        form = QFormLayout()
        form.addRow("prediction", self.pred_combo)
        form.addRow("ground truth", self.gt_combo)
        form.addRow("convention", self.convention_combo)
        form.addRow("regions", self.regions_edit)
        form.addRow("NSD tolerance", self.tolerance_spin)
        form.addRow("lesion matching", self.lesion_combo)
        form.addRow("", self.live_check)
        errs = QHBoxLayout()
        errs.addWidget(self.region_combo)
        errs.addWidget(self.error_map_button)
        exports = QHBoxLayout()
        exports.addWidget(self.csv_button)
        exports.addWidget(self.json_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.compute_button)
        layout.addWidget(self.resample_button)
        layout.addWidget(self.status)
        layout.addWidget(self.table, stretch=2)
        layout.addWidget(QLabel("Lesions (click a row to go there)"))
        layout.addWidget(self.lesion_table, stretch=1)
        layout.addLayout(errs)
        layout.addLayout(exports)

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
        self.regions_edit.editingFinished.connect(self._schedule)
        self.tolerance_spin.valueChanged.connect(self._schedule)
        self.lesion_combo.currentTextChanged.connect(self._schedule)
        self.pred_combo.currentTextChanged.connect(self._layers_changed)
        self.gt_combo.currentTextChanged.connect(self._layers_changed)
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.moved):
            ev.connect(self._refresh_layer_choices)
        self._refresh_layer_choices()

    # ------------------------------------------------------------------ layer choices
    def _labels_layers(self) -> list[str]:
        return [ly.name for ly in self.viewer.layers if type(ly).__name__ == "Labels"]

    def _refresh_layer_choices(self, *_: Any) -> None:
        names = self._labels_layers()
        for combo, default_index in ((self.pred_combo, 0), (self.gt_combo, 1)):
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            if current in names:
                combo.setCurrentText(current)
            elif names:
                combo.setCurrentIndex(min(default_index, len(names) - 1))
            combo.blockSignals(False)
        self._layers_changed()

    def _layer(self, name: str) -> Any:
        return self.viewer.layers[name] if name in self.viewer.layers else None  # noqa: SIM401 - LayerList has no .get

    def set_pair(self, *, pred: str, gt: str, convention: str | None = None, compute: bool = True) -> None:
        """Choose the two layers (and convention) programmatically, then compute."""
        self._refresh_layer_choices()
        if convention is not None:
            if convention in CONVENTIONS:
                self.convention_combo.setCurrentText(convention)
            else:
                self.convention_combo.setCurrentText(CUSTOM)
                self.regions_edit.setText(convention)
        self.pred_combo.setCurrentText(pred)
        self.gt_combo.setCurrentText(gt)
        if compute:
            self.compute()

    def _layers_changed(self, *_: Any) -> None:
        self._remarks = [r for r in self._remarks if self.pred_combo.currentText() in r]
        for layer, handler in self._connected:
            for name in ("paint", "data", "set_data"):
                ev = getattr(layer.events, name, None)
                if ev is not None:
                    ev.disconnect(handler)
        self._connected = []
        self._buffers = {}
        self._buffer_layers = {}
        self._stale = set()
        self._lesion_cache = {}
        self._lesion_notes = {"pred": True, "gt": True}
        for name in {self.pred_combo.currentText(), self.gt_combo.currentText()}:
            layer = self._layer(name)
            if layer is None:
                continue
            for evname in ("paint", "data", "set_data"):
                ev = getattr(layer.events, evname, None)
                if ev is not None:
                    ev.connect(self._on_layer_edit)
            self._connected.append((layer, self._on_layer_edit))
        self._cache = TableCache()
        self._schedule()

    def _convention_changed(self, text: str) -> None:
        self.regions_edit.setEnabled(text == CUSTOM)
        self._schedule()

    def _on_layer_edit(self, event: Any = None) -> None:
        source = getattr(event, "source", None)
        if source is None:
            self._verify_all = True
        else:
            self._stale.add(id(source))
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
        return self._worker is not None or self._timer.isActive() or self._dirty or self._kick_pending

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process Qt events until no computation is running or scheduled (scripts, screenshots)."""
        return process_events_until(lambda: not self.busy, timeout_s)

    # ------------------------------------------------------------------ computing
    def convention(self) -> str:
        text = self.convention_combo.currentText()
        return self.regions_edit.text().strip() if text == CUSTOM else text

    def _snapshot(self) -> tuple[Any, Any, dict[str, Any]] | None:
        """Volumes over the snapshot buffers, and per layer what changed since the last snapshot.

        The change is ``None`` (nothing), a box ``((start, stop), ...)`` or ``True`` (anything).
        """
        pred = self._layer(self.pred_combo.currentText())
        gt = self._layer(self.gt_combo.currentText())
        if pred is None or gt is None:
            self._set_status("Pick a prediction and a ground-truth Labels layer.", error=True)
            return None
        if pred is gt:
            self._set_status("Prediction and ground truth are the same layer; pick two layers.", error=True)
            return None
        pv = layer_to_volume(pred)
        gv = layer_to_volume(gt)
        # The worker reads a snapshot, so painting during a computation cannot tear it. The
        # snapshot buffers are kept between updates; a layer that sent an edit event is compared
        # with its buffer and only the box where they differ is copied (a 36 MB copy per stroke
        # costs more than the comparison).
        verify = self._verify_all
        pbuf, pchange = self._sync_buffer("pred", pred, pv.data, verify)
        gbuf, gchange = self._sync_buffer("gt", gt, gv.data, verify)
        self._stale.clear()
        self._verify_all = False
        return pv.with_data(pbuf), gv.with_data(gbuf), {"pred": pchange, "gt": gchange}

    def _sync_buffer(self, key: str, layer: Any, data: np.ndarray, verify: bool) -> tuple[np.ndarray, Any]:
        buf = self._buffers.get(key)
        if (buf is None or self._buffer_layers.get(key) != id(layer) or buf.shape != data.shape
                or buf.dtype != data.dtype):
            buf = np.array(data, copy=True, order="C")
            self._buffers[key] = buf
            self._buffer_layers[key] = id(layer)
            return buf, True
        if not (verify or id(layer) in self._stale):
            return buf, None
        box = changed_box(buf, data)
        if box is not None:
            sl = tuple(slice(a, b) for a, b in box)
            buf[sl] = data[sl]
        return buf, box

    def compute(self) -> None:
        """Recompute the table off the GUI thread (a running job is followed by one more)."""
        self._verify_all = True
        self._settings_pending = True
        self._run()

    def _run(self) -> None:
        if self._worker is not None:
            self._dirty = True
            return
        try:
            snap = self._snapshot()
            if snap is None:
                return
            pv, gv, changes = snap
            self._cache.note_change(pred=changes["pred"], gt=changes["gt"])
            for which in ("pred", "gt"):
                self._lesion_notes[which] = merge_change(self._lesion_notes[which], changes[which])
            if not self._settings_pending and changes["pred"] is None and changes["gt"] is None:
                return  # e.g. a slice change (set_data) or an edit that wrote the same values
            diffs = gv.grid_differences(pv)
            if diffs:
                self._grid_ok = False
                self.resample_button.setVisible(True)
                self._clear_tables()
                self._set_status(
                    "Not compared: the layers are on different voxel grids (prediction vs ground truth: "
                    + "; ".join(diffs) + "). Resample the prediction onto the ground-truth grid to compare.",
                    error=True,
                )
                return
            self._grid_ok = True
            self.resample_button.setVisible(False)
            conv = get_convention(self.convention())
        except MedaiError as exc:
            self._set_status(str(exc), error=True)
            return
        from napari.qt.threading import create_worker

        kwargs = {
            "convention": conv,
            "tolerance_mm": float(self.tolerance_spin.value()),
            "lesion_style": self.lesion_combo.currentText(),
        }
        if self._settings_pending or self.result is None:
            # a live update after an edit keeps the last table and status on screen: changing
            # the status line re-lays out the dock, and the whole window is repainted
            self._set_status("computing…")
            self.compute_button.setEnabled(False)
        self._settings_pending = False
        kwargs["lesion_notes"], self._lesion_notes = self._lesion_notes, {"pred": None, "gt": None}
        worker = create_worker(self._work, pv, gv, kwargs, _start_thread=False)
        worker.returned.connect(self._show)
        worker.errored.connect(self._failed)
        worker.finished.connect(self._finished)
        self._worker = worker
        worker.start()

    def _work(self, pv: Any, gv: Any, kwargs: dict) -> Any:
        # Errors come back wrapped as values: napari 0.9's task-status hook on ``errored`` fails
        # with a TypeError of its own, and superqt re-raises a bare returned exception.
        try:
            return ("ok", self._evaluate(pv, gv, kwargs))
        except Exception as exc:  # noqa: BLE001 - shown to the user in the status line
            return ("error", exc)

    def _evaluate(self, pv: Any, gv: Any, kwargs: dict) -> tuple[CaseResult, list[dict]]:
        kwargs = dict(kwargs)
        notes = kwargs.pop("lesion_notes")
        try:
            result = evaluate_volumes(pv, gv, cache=self._cache, case=gv.name, **kwargs)
            conv = kwargs["convention"]
            regions = list(conv.regions.values())
            union = tuple(sorted({v for r in regions for v in r}))
            lesions = lesion_list(pv.data, gv.data, spacing=gv.spacing, labels=union, cache=self._lesion_cache,
                                  changed=notes)
        except BaseException:
            # the lesion cache did not see these changes: start it afresh next time
            self._lesion_cache.clear()
            raise
        return result, lesions

    def _show(self, payload: Any) -> None:
        kind, value = payload
        if kind == "error":
            self._failed(value)
            return
        result, lesions = value
        self.result = result
        self.lesions = lesions
        self.n_updates += 1
        rows = [(f"{name}", row) for name, row in result.regions.items()]
        rows += [(f"label {name}", row) for name, row in result.labels.items()
                 if tuple(row.get("label_values", ())) not in
                 {tuple(r.get("label_values", ())) for r in result.regions.values()}]
        ruled = []
        cells = []
        for name, row in rows:
            notes = row.get("notes") or []
            tip = "\n".join(str(n) for n in notes)
            cells.append([
                (_fmt(row.get(key)) + ("*" if notes and key in ("dice", "hd95_mm", "assd_mm", "nsd") else ""), tip)
                for key, _ in COLUMNS
            ])
            if notes:
                ruled.append(f"{name}: {'; '.join(str(n) for n in notes)}")
        self._fill_table([name for name, _ in rows], cells)
        regions = list(result.regions.keys())
        if regions != [self.region_combo.itemText(i) for i in range(self.region_combo.count())]:
            self.region_combo.clear()
            self.region_combo.addItems(regions)
        lesion_rows = [
            [str(v) for v in (les["id"], les["status"], "GT" if les["source"] == "gt" else "pred",
                              f"{les['volume_ml']:.3f}", les["voxels"])]
            for les in lesions
        ]
        if lesion_rows != self._shown.get("lesions"):
            self._shown["lesions"] = lesion_rows
            self.lesion_table.setRowCount(len(lesion_rows))
            for i, vals in enumerate(lesion_rows):
                for j, v in enumerate(vals):
                    self.lesion_table.setItem(i, j, QTableWidgetItem(v))
        msg = f"{result.convention.name} convention, NSD tolerance {result.tolerance_mm:g} mm."
        if ruled:
            msg += " * value set by the empty-mask rule: " + " | ".join(ruled)
        if result.notes:
            msg += " " + " ".join(result.notes)
        if self._remarks:
            msg += " " + " ".join(self._remarks)
        self._set_status(msg)

    def _fill_table(self, names: list[str], cells: list[list[tuple[str, str]]]) -> None:
        """Show ``cells[row][column] = (text, tooltip)``, rewriting only the cells that changed."""
        table = self.table
        changed = False
        if names != self._shown.get("names"):
            table.setRowCount(len(names))
            table.setVerticalHeaderLabels(names)
            self._shown["names"] = names
            changed = True
        align = int(Qt.AlignRight | Qt.AlignVCenter)
        for i, row in enumerate(cells):
            for j, (text, tip) in enumerate(row):
                item = table.item(i, j)
                if item is None:
                    item = QTableWidgetItem(text)
                    item.setTextAlignment(align)
                    item.setToolTip(tip)
                    table.setItem(i, j, item)
                    changed = True
                    continue
                if item.text() != text:
                    item.setText(text)
                    changed = True
                if item.toolTip() != tip:
                    item.setToolTip(tip)
        if changed:
            table.resizeColumnsToContents()

    def _failed(self, exc: Exception) -> None:
        self._clear_tables()
        self._set_status(str(exc) if isinstance(exc, MedaiError) else f"{type(exc).__name__}: {exc}", error=True)

    def _finished(self) -> None:
        self._worker = None
        self.compute_button.setEnabled(True)
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
        style = "color: #ff7070;" if error else ""
        if self.status.styleSheet() != style:
            self.status.setStyleSheet(style)

    # ------------------------------------------------------------------ actions
    def resample_prediction(self) -> str | None:
        """Add the prediction resampled (nearest neighbour) onto the ground-truth grid as a layer."""
        pred = self._layer(self.pred_combo.currentText())
        gt = self._layer(self.gt_combo.currentText())
        if pred is None or gt is None:
            return None
        pv, gv = layer_to_volume(pred), layer_to_volume(gt)
        diffs = gv.grid_differences(pv)
        out = resample_to_grid(pv, gv)
        name = f"{pred.name} (on {gt.name} grid)"
        kw = spatial_transform_kwargs(gv)
        layer = self.viewer.add_labels(np.asarray(out.data).astype(np.int32, copy=False), name=name,
                                       metadata=dict(gt.metadata), opacity=pred.opacity, **kw)
        self._remarks = [
            f"Resampled '{pred.name}' onto the grid of '{gt.name}' with nearest neighbour "
            f"(it differed: {'; '.join(diffs)}); comparing the new layer '{layer.name}'."
        ]
        self.pred_combo.setCurrentText(layer.name)
        self.compute()
        return layer.name

    def add_error_map(self, region: str | None = None) -> Any:
        """Add (or update) a TP/FP/FN Labels layer for one region."""
        if self.result is None:
            self._set_status("Compute the table first.", error=True)
            return None
        region = region or self.region_combo.currentText() or next(iter(self.result.regions))
        values = tuple(self.result.convention.regions[region])
        pred = self._layer(self.pred_combo.currentText())
        gt = self._layer(self.gt_combo.currentText())
        emap = error_map(np.asarray(pred.data), np.asarray(gt.data), labels=values)
        name = f"error map {region}"
        from napari.utils.colormaps import DirectLabelColormap

        cmap = DirectLabelColormap(color_dict={0: (0, 0, 0, 0), **ERROR_MAP_COLOURS, None: (0, 0, 0, 0)})
        gv = layer_to_volume(gt)
        if name in self.viewer.layers:
            layer = self.viewer.layers[name]
            layer.data = emap
        else:
            layer = self.viewer.add_labels(emap, name=name, colormap=cmap, opacity=0.8,
                                           **spatial_transform_kwargs(gv))
        counts = error_counts(emap)
        layer.metadata["error_map"] = {"region": region, "codes": ERROR_MAP_NAMES, **counts}
        self._set_status(
            f"Error map of {region}: {counts['tp']} true-positive, {counts['fp']} false-positive "
            f"(red), {counts['fn']} false-negative (blue) voxels."
        )
        return layer

    def go_to_lesion(self, row: int) -> None:
        """Centre the viewer on the lesion in ``row`` of the lesion table."""
        if not (0 <= row < len(self.lesions)):
            return
        gt = self._layer(self.gt_combo.currentText())
        if gt is None:
            return
        centre_on(self.viewer, gt, self.lesions[row]["centroid"])

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
            src = getattr(getattr(layer, "source", None), "path", None) if layer is not None else None
            if src:
                out.append(str(src))
        return out

    def _export_dialog(self, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export agreement as {kind.upper()}", f"agreement.{kind}",
                                              f"{kind.upper()} (*.{kind})")
        if not path:
            return
        try:
            written = self.export_csv(path) if kind == "csv" else self.export_json(path)
            self._set_status(f"Wrote {written}")
        except MedaiError as exc:
            self._set_status(str(exc), error=True)
