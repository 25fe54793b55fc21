"""Agreement panel: a prediction Labels layer against a ground-truth Labels layer, live.

The numbers come from the core :class:`~napari_medai.core.agreement_session.AgreementSession`, driven
through the shared :class:`~napari_medai._napari._jobs.JobRunner`. An edit of either layer (``paint``,
``data`` or ``set_data``) is noted in the session and starts a quiet recomputation through a queued signal
(napari emits ``paint`` before it writes the data), one more after a running one; only changed cells are
rewritten."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QEvent, Qt, QTimer, Signal
from qtpy.QtWidgets import (
    QFileDialog,
    QHBoxLayout,
    QPushButton,
    QWidget,
)

from ...core.agreement_session import (
    AgreementSession,
)
from ...core.callbacks import Cancelled
from ...core.error_map import error_map
from ...core.errors import GeometryMismatchError, InvalidInputError, MedaiError
from ...core.evaluate import CaseResult, resample_to_grid, write_csv, write_json
from .._jobs import JobRunner
from .._widgets import (
    RED,
    LabelLegend,
    as_outline,
    process_events_until,
    scroll_column,
    wrapped,
)
from ..layers import layer_to_volume, spatial_transform_kwargs
from . import display
from .error_map_box import ErrorMapBox
from .navigation import LesionNavigator
from .pair_form import PairForm, medai_meta
from .viewer_hooks import ViewerHooks, paint_box

if TYPE_CHECKING:
    import napari

#: Viewer shortcuts while the panel is open: key -> (method, what it does).
SHORTCUTS = {"N": ("next_lesion", "next lesion"), "Shift-N": ("previous_lesion", "previous lesion"),
             "G": ("toggle_ground_truth", "show / hide the ground truth")}
ROLES = ("pred", "gt")


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
        self._outlined: tuple[Any, float] = (None, 1.0)  # the layer drawn as outline, its own opacity
        self._remarks: list[str] = []
        self._shown: dict[str, Any] = {}
        self._summary = ""
        self._dirty = self._kick_pending = self._after_pending = False
        self._build()
        self.hooks = ViewerHooks(viewer, self, {k: m for k, (m, _) in SHORTCUTS.items()}, "_refresh_layer_choices")
        self.hooks.hook()
        self.destroyed.connect(self.hooks.release)
        self._refresh_layer_choices()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        self.form = PairForm(self.viewer)
        f = self.form
        self.pred_combo, self.gt_combo, self.convention_combo = f.pred_combo, f.gt_combo, f.convention_combo
        self.regions_edit, self.tolerance_spin, self.lesion_combo = f.regions_edit, f.tolerance_spin, f.lesion_combo
        self.live_check, self.outline_check = f.live_check, f.outline_check
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
        self.navigator = LesionNavigator(self.viewer, self.lesion_table, self.form.layers, lambda: self.lesions)
        self.error_box = ErrorMapBox()
        self.region_combo, self.error_key, self.error_counts = (self.error_box.region_combo, self.error_box.key,
                                                                self.error_box.counts)
        self.csv_button = QPushButton("Export CSV…")
        self.json_button = QPushButton("Export JSON…")

        buttons = QHBoxLayout()
        buttons.addWidget(self.compute_button)
        buttons.addWidget(self.resample_button)
        exports = QHBoxLayout()
        exports.addWidget(self.csv_button)
        exports.addWidget(self.json_button)
        scroll_column(self, self.form, buttons, self.jobs, self.table, self.legend,
                      wrapped(f"Lesions (click a row; {keys})"), self.lesion_table, self.error_box, exports)

        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(150)
        self._timer.timeout.connect(self.compute)
        self._edited.connect(self._live_update, Qt.QueuedConnection)
        self.compute_button.clicked.connect(self.compute)
        self.resample_button.clicked.connect(self.resample_prediction)
        self.error_box.button.clicked.connect(lambda: self.add_error_map())
        self.csv_button.clicked.connect(lambda: self._export_dialog("csv"))
        self.json_button.clicked.connect(lambda: self._export_dialog("json"))
        self.lesion_table.cellClicked.connect(lambda row, _col: self.go_to_lesion(row))
        self.form.settings_changed.connect(self._schedule)
        self.form.pair_changed.connect(self._pair_changed)
        self.outline_check.toggled.connect(lambda *_: self._show_outline())

    def event(self, ev: QEvent) -> bool:
        # napari's remove_dock_widget takes the panel out of its dock without deleting it: let go of the
        # viewer's keys and events then, and take them again if the panel is docked again
        if ev.type() == QEvent.ParentChange and hasattr(self, "hooks"):
            if self.parent() is None:
                self.hooks.release()
            elif not self.hooks.hooked:
                self.hooks.hook()
                self.form.refresh(forget=True)
        return super().event(ev)

    # ------------------------------------------------------------------ layer choices
    def _refresh_layer_choices(self, *_: Any) -> None:
        self.form.refresh()

    def set_pair(self, *, pred: str, gt: str, convention: str | None = None, compute: bool = True) -> None:
        """Choose the two layers (and convention) as a user would, then compute."""
        self.form.choose(pred=pred, gt=gt, convention=convention)
        if compute:
            self.compute()

    def _pair_changed(self) -> None:
        pred, gt = self.form.layers()
        self._remarks = [r for r in self._remarks if self.pred_combo.currentText() in r]
        if self.hooks.hooked:
            self.hooks.follow_edits([x for x in (pred, gt) if x is not None], self._on_layer_edit)
        self.session.reset()
        self._show_outline()
        self._schedule()

    def _show_outline(self) -> None:
        gt = self.form.layers()[1]
        old, opacity = self._outlined
        if old is not None and (gt is None or old.unique_id != gt.unique_id or not self.outline_check.isChecked()):
            if any(ly.unique_id == old.unique_id for ly in self.viewer.layers):
                old.contour, old.opacity = 0, opacity
            self._outlined = (None, 1.0)
        if gt is not None and self.outline_check.isChecked():
            if self._outlined[0] is None:
                self._outlined = (gt, gt.opacity)
            as_outline(gt)
            gt.opacity = 1.0  # crisp lines over the prediction's fill
            # the outline is drawn above the prediction, or the prediction's fill hides it
            names = [ly.name for ly in self.viewer.layers]
            pred = self.form.layers()[0]
            if pred is not None and names.index(gt.name) < names.index(pred.name):
                self.viewer.layers.move(names.index(gt.name), names.index(pred.name) + 1)

    # ------------------------------------------------------------------ live updates
    def _on_layer_edit(self, event: Any = None) -> None:
        name = getattr(getattr(event, "source", None), "name", None)
        which = {self.pred_combo.currentText(): "pred", self.gt_combo.currentText(): "gt"}.get(name)
        if self.hooks.redraw_of_paint(event):
            return  # napari redrawing the part a paint event just gave its box for
        # a paint event says where it wrote: only that box is compared (other events: everywhere)
        box = paint_box(event) if which is not None else None
        if box is not None:
            self.hooks.note_paint(event.source)
        self.session.note_edit(which, box=box)
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
        return self.form.convention()

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
        pred, gt = self.form.layers()
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
        # a live update (quiet) keeps the last table, status and progress bar on screen until the new table
        # is there: each of those repaints costs tens of ms, and the stroke must reach the table in < 100 ms
        self.jobs.start(partial(self._work, snap), self._show, "computing…", on_error=self._failed,
                        quiet=not (snap.full or self.result is None))

    def _work(self, snap: Any) -> Any:
        try:
            live = self.session.recompute(snap)
        except MedaiError as exc:
            raise display.reworded(exc) from exc
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
        headers = [h for _, h in display.columns_for(result.convention.name)]
        display.fill_table(self.table, self._shown, names, cells, headers)
        self.error_box.set_regions(list(result.regions))
        display.fill_lesions(self.lesion_table, self._shown, display.lesion_rows(live.lesions))
        conv = result.convention
        pair = tuple(getattr(x, "unique_id", None) for x in self.form.layers())
        if self._shown.get("legend") != (pair, conv):
            self._shown["legend"] = (pair, conv)
            self.legend.show_layer(self.form.layers()[0], names=dict(conv.labels))
        msg = f"{conv.name} convention, NSD tolerance {result.tolerance_mm:g} mm."
        if ruled:
            msg += " * value set by the empty-mask rule: " + " | ".join(ruled)
        msg += "".join(f" {n}" for n in [*result.notes, *self._remarks])
        self._summary = msg
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
        pred, gt = self.form.layers()
        if pred is None or gt is None:
            return None
        pv, gv = layer_to_volume(pred), layer_to_volume(gt)
        name = f"{pred.name} (on {gt.name} grid)"
        diffs = gv.grid_differences(pv)

        def done(out: Any) -> Iterator[None]:
            data = np.asarray(out.data)  # the prediction's own integer type: napari draws small types fastest
            layer = self.viewer.add_labels(data.astype(np.uint8) if data.dtype == bool else data, name=name,
                                           metadata=dict(gt.metadata), opacity=pred.opacity,
                                           **spatial_transform_kwargs(gv))
            yield  # napari has drawn the new layer; choosing it (outline, layer order) in the next turn
            self._remarks = [f"Resampled '{pred.name}' onto the grid of '{gt.name}' with nearest neighbour "
                             f"(it differed: {'; '.join(diffs)}); comparing the new layer '{layer.name}'."]
            self.form.chosen["pred"] = True
            self.pred_combo.setCurrentText(layer.name)
            self.compute()

        self.jobs.start(partial(resample_to_grid, pv, gv), done, f"resampling '{pred.name}'…")
        return name

    def add_error_map(self, region: str | None = None) -> bool:
        """Add (or update) the TP/FP/FN Labels layer ``error map <region>``, computed off the GUI thread.

        Returns whether the job started; the layer appears when it has finished (:meth:`wait_idle`).
        """
        if self.result is None:
            return self.jobs.refuse(InvalidInputError("Compute the table first."))
        region = region or self.region_combo.currentText() or next(iter(self.result.regions))
        values = tuple(self.result.convention.regions[region])
        pred, gt = self.form.layers()
        pdata, gdata, ref = np.asarray(pred.data).copy(), np.asarray(gt.data).copy(), layer_to_volume(gt)

        def done(emap: np.ndarray) -> None:
            self.error_box.show_map(self.viewer, emap, region, ref)
            self._set_status(self._summary)  # the table's summary again; the counts are under the key

        return self.jobs.start(partial(error_map, pdata, gdata, labels=values), done, "computing the error map…")

    def go_to_lesion(self, row: int) -> None:
        """Centre the viewer on the lesion in ``row`` of the lesion table."""
        self.navigator.go_to(row)

    def next_lesion(self) -> None:
        """Go to the next lesion (shortcut N; Shift+N: :meth:`previous_lesion`; G: :meth:`toggle_ground_truth`)."""
        self.navigator.step(1)

    def previous_lesion(self) -> None:
        self.navigator.step(-1)

    def toggle_ground_truth(self) -> None:
        self.navigator.toggle_ground_truth()

    def export_csv(self, path: str) -> str:
        """Write the table as CSV; returns the path written."""
        return self._export(write_csv, path)

    def export_json(self, path: str) -> str:
        """Write the table as JSON; returns the path written."""
        return self._export(write_json, path)

    def _export(self, writer: Any, path: str) -> str:
        if self.result is None:
            raise MedaiError("nothing to export yet: compute the table first")
        # never overwrite the files the layers were read from
        sources = [getattr(ly.source, "path", None) or medai_meta(ly).get("source")
                   for ly in self.form.layers() if ly is not None]
        return str(writer([self.result], path, protect=[str(s) for s in sources if s]))

    def _export_dialog(self, kind: str) -> None:
        path, _ = QFileDialog.getSaveFileName(self, f"Export agreement as {kind.upper()}", f"agreement.{kind}",
                                              f"{kind.upper()} (*.{kind})")
        if not path:
            return

        def done(written: str) -> None:
            self._set_status(f"Wrote {written}")

        self.jobs.run_now(lambda: self.export_csv(path) if kind == "csv" else self.export_json(path), done)
