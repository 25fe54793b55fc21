"""Train a brain-tumour model on your own labelled cases, with a live loss / Dice plot.

The GUI of ``napari-medai train brain-tumour``: everything is done by
:func:`napari_medai.core.tasks.brain_tumour.find_cases` (what the data folder holds) and
:func:`~napari_medai.core.tasks.brain_tumour.train_brain_tumour` (the training), run off the GUI
thread. The widget only collects the settings, turns the core's callbacks (``progress``,
``on_step``, ``on_epoch``) into a progress bar and a plot, stops the run through ``should_stop``
(the last finished epoch is kept), and hands the finished model folder to the brain-tumour
segmentation widget.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Qt, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QProgressBar,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import InvalidInputError, MedaiError
from ._plot import ABOVE, LivePlot
from ._widgets import process_events_until, scroll_vertically

if TYPE_CHECKING:
    import napari

#: How each MR sequence is written in the widget.
SEQUENCE_NAMES = {"t1c": "T1c", "t1": "T1", "t2": "T2", "flair": "FLAIR"}
#: Output label conventions offered ("as the data": the cases' own, else BraTS 2021).
CONVENTIONS = ("as the data", "brats2021", "brats2013", "brats2023")
#: Why a run ended, in words.
STOP_REASONS = {
    "max_epochs": "reached the epoch limit",
    "early_stopping": "stopped early: validation Dice stopped improving (patience)",
    "time_limit": "stopped before the time budget would have been exceeded",
    "cancelled": "stopped by you",
}
#: Series colours: losses in blues/greys on the left axis, Dice on the right.
COLOURS = {"loss per step": "#9aa7b8", "train loss": "#1f77b4", "val Dice (mean)": "#d62728",
           "WT": "#2ca02c", "TC": "#ff7f0e", "ET": "#9467bd"}
SEG_WIDGET_NAME = "Brain tumour segmentation (MRI)"


class _Bridge(QObject):
    """Carries the core's callbacks from the worker thread to the GUI thread (queued signals)."""

    progressed = Signal(float, str)
    stepped = Signal(int, int, int, float)
    epoch_done = Signal(object)


def _spin(lo: int, hi: int, value: int, *, step: int = 1, special: str | None = None) -> QSpinBox:
    s = QSpinBox()
    s.setRange(lo, hi)
    s.setSingleStep(step)
    s.setValue(value)
    if special:
        s.setSpecialValueText(special)
    return s


def _dspin(lo: float, hi: float, value: float, *, step: float, decimals: int = 2,
           special: str | None = None) -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(lo, hi)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    if special:
        s.setSpecialValueText(special)
    return s


def _error_text(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, MedaiError) else f"{type(exc).__name__}: {exc}"


class BrainTumourTrainingWidget(QWidget):
    """Train a brain-tumour segmentation model on labelled case folders (see module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from ..core.tasks.brain_tumour import DEFAULT_RECIPE as R

        self.viewer = viewer
        self.cases: list[Any] = []  # BrainTumourCase of the scanned data folder
        self.result: Any = None  # TrainingResult of the last run
        self.segmentation_widget: Any = None
        self._scanned: str | None = None
        self._scan_error = ""
        self._worker: Any = None
        self._stop = False
        self._bridge = _Bridge()
        self._bridge.progressed.connect(self._on_progress)
        self._bridge.stepped.connect(self._on_step)
        self._bridge.epoch_done.connect(self._on_epoch)
        self.channel_checks: dict[str, QCheckBox] = {}

        # data and output
        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("folder with one sub-folder per labelled case")
        self.data_browse = QPushButton("Browse…")
        self.cases_info = QLabel("Choose the folder of your labelled cases (BraTS 2013, 2021 or 2023 file names).")
        self.cases_info.setWordWrap(True)
        self.case_list = QListWidget()
        self.case_list.setMaximumHeight(72)
        self.channels_row = QHBoxLayout()
        self._no_channels = QLabel("(those of the data folder)")
        self.channels_row.addWidget(self._no_channels)
        self.channels_row.addStretch(1)
        self.convention_combo = QComboBox()
        self.convention_combo.addItems(CONVENTIONS)
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("new or empty folder for the model")
        self.out_browse = QPushButton("Browse…")
        self.resume_check = QCheckBox("resume the run in this folder")

        # recipe
        self.epochs_spin = _spin(1, 100000, int(R["max_epochs"]))
        self.minutes_spin = _dspin(0, 100000, float(R["time_limit_s"]) / 60, step=5, decimals=0,
                                   special="no limit")
        self.patience_spin = _spin(1, 10000, int(R["patience"]))
        self.val_spin = _dspin(0, 0.9, float(R["val_fraction"]), step=0.05, special="none")
        self.seed_spin = _spin(0, 2**31 - 1, 0)
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.threads_spin = _spin(0, 512, 0, special="default")
        self.advanced_check = QCheckBox("advanced: patch, steps, network")
        self.patch_spin = _spin(16, 512, int(R["patch_size"][0]), step=8)
        self.steps_spin = _spin(1, 100000, int(R["iterations_per_epoch"]))
        self.batch_spin = _spin(1, 256, int(R["batch_size"]))
        self.window_spin = _spin(16, 1024, int(R["roi_size"][0]), step=8)
        self.spacing_spin = _dspin(0.25, 10, float(R["target_spacing"][0]), step=0.25)
        self.filters_spin = _spin(8, 256, int(R["init_filters"]), step=8)

        # run and results
        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop after the current step; the best finished epoch is kept")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        # the legend above the axes hides neither loss nor Dice curves
        self.plot = LivePlot(xlabel="epoch", ylabel="loss", y2label="validation Dice", legend_loc=ABOVE)
        self.plot.setMinimumHeight(220)
        self._style_plot()
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.use_button = QPushButton("Use in segmentation widget")
        self.use_button.setEnabled(False)

        self._build_layout()
        self.data_browse.clicked.connect(self._browse_data)
        self.out_browse.clicked.connect(self._browse_out)
        self.data_edit.editingFinished.connect(self.scan_data_folder)
        self.advanced_check.toggled.connect(self._advanced.setVisible)
        self.train_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.stop)
        self.use_button.clicked.connect(self.use_in_segmentation)

    def _build_layout(self) -> None:
        data_row = QHBoxLayout()
        data_row.addWidget(self.data_edit, stretch=1)
        data_row.addWidget(self.data_browse)
        out_row = QHBoxLayout()
        out_row.addWidget(self.out_edit, stretch=1)
        out_row.addWidget(self.out_browse)
        data_form = QFormLayout()
        data_form.addRow("cases", data_row)
        top = QFormLayout()
        top.addRow("sequences", self.channels_row)
        top.addRow("output labels", self.convention_combo)
        top.addRow("model folder", out_row)
        recipe = QGridLayout()
        pairs = [("max epochs", self.epochs_spin), ("time (min)", self.minutes_spin),
                 ("patience", self.patience_spin), ("validation", self.val_spin),
                 ("seed", self.seed_spin), ("device", self.device_combo), ("CPU threads", self.threads_spin)]
        for i, (text, w) in enumerate(pairs):
            recipe.addWidget(QLabel(text), i // 2, 2 * (i % 2))
            recipe.addWidget(w, i // 2, 2 * (i % 2) + 1)
        self._advanced = QWidget()
        adv = QGridLayout(self._advanced)
        adv.setContentsMargins(0, 0, 0, 0)
        for i, (text, w) in enumerate([("patch edge", self.patch_spin), ("steps/epoch", self.steps_spin),
                                       ("batch", self.batch_spin), ("window edge", self.window_spin),
                                       ("voxel (mm)", self.spacing_spin), ("filters", self.filters_spin)]):
            adv.addWidget(QLabel(text), i // 2, 2 * (i % 2))
            adv.addWidget(w, i // 2, 2 * (i % 2) + 1)
        self._advanced.setVisible(False)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_button)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addLayout(data_form)
        layout.addWidget(self.cases_info)
        layout.addWidget(self.case_list)
        layout.addLayout(top)
        layout.addWidget(self.resume_check)
        layout.addLayout(recipe)
        layout.addWidget(self.advanced_check)
        layout.addWidget(self._advanced)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.summary)
        layout.addWidget(self.use_button)
        layout.addWidget(self.plot, stretch=1)
        scroll_vertically(self, content)

    # ------------------------------------------------------------------ data folder
    def _browse_data(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of labelled cases (one sub-folder per case)")
        if path:
            self.set_data_folder(path)

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model folder to write (new, empty, or a run to resume)")
        if path:
            self.out_edit.setText(path)

    def set_data_folder(self, path: str | Path) -> bool:
        """Show ``path`` as the data folder and list its cases; False when they cannot be trained on."""
        self.data_edit.setText(str(path))
        return self.scan_data_folder()

    def scan_data_folder(self) -> bool:
        """List the cases of the data folder, their naming layout and the sequences every case has."""
        from ..core.tasks.brain_tumour import CHANNEL_ORDER, LAYOUTS, common_channels, find_cases

        folder = self.data_edit.text().strip()
        self._scanned = folder
        self.cases = []
        self.case_list.clear()
        self._build_channel_checks(())
        if not folder:
            return self._scan_result("Choose the folder of your labelled cases.", ok=False)
        try:
            cases = find_cases(folder)
            common = common_channels(cases)
        except (MedaiError, OSError) as exc:
            return self._scan_result(_error_text(exc), ok=False)
        self.cases = cases
        for c in cases:
            seqs = ", ".join(SEQUENCE_NAMES[s] for s in c.channels)
            self.case_list.addItem(f"{c.name}: {seqs}" + (" + labels" if c.label is not None else ", NO LABEL MAP"))
            self.case_list.item(self.case_list.count() - 1).setToolTip(
                "\n".join(str(f) for f in [*c.channels.values(), c.label, c.brainmask] if f is not None))
        self._build_channel_checks(common)
        layouts = sorted({LAYOUTS[c.layout].split(":")[0] for c in cases})
        text = f"{len(cases)} case(s), {' + '.join(layouts)} file names; sequences in every case: " + ", ".join(
            SEQUENCE_NAMES[s] for s in common)
        partial = [f"{SEQUENCE_NAMES[s]} (missing in {', '.join(c.name for c in cases if s not in c.channels)})"
                   for s in CHANNEL_ORDER if s not in common and any(s in c.channels for c in cases)]
        if partial:
            text += ". Not offered, as some cases lack it: " + "; ".join(partial)
        unlabelled = [c.name for c in cases if c.label is None]
        if unlabelled:
            text += (f". No label map in {', '.join(unlabelled)}: add one per case (*_seg, *-seg or OTMultiClass*) "
                     "or move those cases out of the folder")
            return self._scan_result(text, ok=False)
        if not self.out_edit.text().strip():
            root = Path(folder).expanduser()
            self.out_edit.setText(str(root.parent / f"{root.name}-model"))
        return self._scan_result(text, ok=True)

    def _scan_result(self, text: str, *, ok: bool) -> bool:
        self._scan_error = "" if ok else text
        self.cases_info.setText(text)
        self.cases_info.setStyleSheet("" if ok else "color: #ff7070;")
        return ok

    def _build_channel_checks(self, channels: tuple[str, ...]) -> None:
        for box in self.channel_checks.values():
            self.channels_row.removeWidget(box)
            box.setParent(None)  # gone now, not at the next turn of the event loop
            box.deleteLater()
        self.channel_checks = {}
        for i, ch in enumerate(channels):
            box = QCheckBox(SEQUENCE_NAMES.get(ch, ch))
            box.setChecked(True)
            self.channel_checks[ch] = box
            self.channels_row.insertWidget(i, box)
        self._no_channels.setVisible(not channels)

    # ------------------------------------------------------------------ training
    def training_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~napari_medai.core.tasks.brain_tumour.train_brain_tumour` from the
        widget; raises :class:`InvalidInputError` saying what to fix."""
        if self.data_edit.text().strip() != self._scanned:
            self.scan_data_folder()
        if self._scan_error or not self.cases:
            raise InvalidInputError(f"Nothing to train on: {self._scan_error or 'choose the data folder first.'}")
        channels = [ch for ch, box in self.channel_checks.items() if box.isChecked()]
        if not channels:
            raise InvalidInputError("Tick at least one MR sequence to train on.")
        out_text = self.out_edit.text().strip()
        if not out_text:
            raise InvalidInputError("Choose the model folder to write (a new or empty folder).")
        out = Path(out_text).expanduser()
        if (out / "checkpoint.pt").is_file() and not self.resume_check.isChecked():
            raise InvalidInputError(f"{out} already holds a training run: tick 'resume the run in this folder' to "
                                    "continue it, or choose another model folder.")
        conv = self.convention_combo.currentText()
        args: dict[str, Any] = {
            "data_dir": self.data_edit.text().strip(), "out_dir": out, "cases": list(self.cases),
            "channels": channels, "convention": None if conv == CONVENTIONS[0] else conv,
            "seed": self.seed_spin.value(), "max_epochs": self.epochs_spin.value(),
            "device": self.device_combo.currentText(), "resume": self.resume_check.isChecked(),
            "patience": self.patience_spin.value(), "val_fraction": round(self.val_spin.value(), 4),
            "time_limit_s": self.minutes_spin.value() * 60.0 if self.minutes_spin.value() > 0 else None,
            "patch_size": (self.patch_spin.value(),) * 3, "iterations_per_epoch": self.steps_spin.value(),
            "batch_size": self.batch_spin.value(), "roi_size": (self.window_spin.value(),) * 3,
            "target_spacing": (self.spacing_spin.value(),) * 3, "init_filters": self.filters_spin.value(),
        }
        if self.threads_spin.value() > 0:
            args["num_threads"] = self.threads_spin.value()
        return args

    def start(self) -> bool:
        """Start training off the GUI thread; False (and the reason in the status line) when it cannot."""
        if self._worker is not None:
            return False
        try:
            args = self.training_arguments()
        except MedaiError as exc:
            self._set_status(str(exc), error=True)
            return False
        from napari.qt.threading import create_worker

        self._stop = False
        self.result = None
        self.summary.setText("")
        self.use_button.setEnabled(False)
        self._style_plot(clear=True)
        self.train_button.setEnabled(False)
        self.stop_button.setEnabled(True)
        self.progress.setValue(0)
        self._set_status("starting…")
        worker = create_worker(self._work, args, _start_thread=False)
        worker.returned.connect(self._done)
        worker.finished.connect(self._finished)
        self._worker = worker
        worker.start()
        return True

    def _work(self, args: dict[str, Any]) -> tuple[str, Any]:
        from ..core.tasks.brain_tumour import train_brain_tumour

        try:
            result = train_brain_tumour(
                **args, progress=self._bridge.progressed.emit, should_stop=lambda: self._stop,
                on_step=self._bridge.stepped.emit, on_epoch=self._bridge.epoch_done.emit,
            )
            return ("ok", result)
        except Exception as exc:  # noqa: BLE001 - shown in the widget (create_worker's errored hook is broken)
            return ("error", exc)

    def stop(self) -> None:
        """Stop after the current step; the best finished epoch stays in the model folder."""
        if self._worker is None:
            return
        self._stop = True
        self.stop_button.setEnabled(False)
        self._set_status("stopping after the current step (finished epochs are kept)…")

    @property
    def busy(self) -> bool:
        return self._worker is not None

    def wait_idle(self, timeout_s: float = 600.0) -> bool:
        """Process events until the run has ended (scripts and tests); True when it has."""
        return process_events_until(lambda: not self.busy, timeout_s)

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(round(1000 * max(0.0, min(1.0, float(fraction))))))
        if message and not self._stop:
            self._set_status(message)

    def _on_step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        self._add("loss per step", epoch - 1 + step / max(steps, 1), loss)

    def _on_epoch(self, entry: dict[str, Any]) -> None:
        x = entry["epoch"]
        self._add("train loss", x, entry.get("train_loss"))
        self._add("val Dice (mean)", x, entry.get("val_mean_dice"), right=True)
        for region in sorted(entry.get("val_dice") or {}, key=lambda r: "WTCET".find(r)):
            self._add(region, x, entry["val_dice"][region], right=True)

    def _add(self, name: str, x: float, y: float | None, *, right: bool = False) -> None:
        self.plot.add_point(name, x, y, right=right, color=COLOURS.get(name, "#7f7f7f"))

    def _style_plot(self, *, clear: bool = False) -> None:
        from matplotlib.ticker import MaxNLocator

        if clear:
            self.plot.clear()
        self.plot.ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if self.plot.ax2 is not None:
            self.plot.ax2.set_ylim(0.0, 1.0)
        self.plot.redraw(force=True)

    def _finished(self) -> None:
        self._worker = None
        self.train_button.setEnabled(True)
        self.stop_button.setEnabled(False)

    def _done(self, payload: tuple[str, Any]) -> None:
        from ..core.models import Cancelled

        kind, value = payload
        if kind == "error":
            self.progress.setValue(0)
            if isinstance(value, Cancelled):
                self._set_status("Stopped before the first epoch finished; nothing was saved.")
            else:
                self._set_status(_error_text(value), error=True)
            return
        self.result = r = value
        self.progress.setValue(1000)
        if r.best_dice:
            best = "validation Dice " + ", ".join(f"{k} {v:.3f}" for k, v in r.best_dice.items())
            best += f" (mean {r.best_metric:.3f})"
        else:
            best = f"training loss {-r.best_metric:.4f} (no validation case)"
        resumed = f", {r.resumed_from} of them before resuming" if r.resumed_from else ""
        self.summary.setText(
            f"<b>{STOP_REASONS.get(r.stop_reason, r.stop_reason).capitalize()}</b> after {r.epochs_run} epoch(s)"
            f"{resumed}.<br>Best epoch {r.best_epoch}: {best}.<br>Wall time {_minutes(r.wall_time_s)}; "
            f"trained on {len(r.train_cases)}, validated on {len(r.val_cases)} case(s).<br>"
            f"Model folder (best epoch's weights): {r.out_dir}"
        )
        self._set_status(f"Done: {STOP_REASONS.get(r.stop_reason, r.stop_reason)}.")
        self.use_button.setEnabled(True)

    # ------------------------------------------------------------------ hand-over
    def use_in_segmentation(self) -> Any:
        """Open the brain-tumour segmentation widget (or find it) and load the trained model into it."""
        if self.result is None:
            self._set_status("Train a model first.", error=True)
            return None
        seg = self._segmentation_dock()
        if seg.load_model_source(str(self.result.out_dir)):
            self._set_status(f"Loaded into the segmentation widget: {self.result.out_dir}")
        else:
            self._set_status(f"The segmentation widget could not load the model: {seg.status.text()}", error=True)
        return seg

    def _segmentation_dock(self) -> Any:
        from .segmentation_widget import BrainTumourWidget

        for w in self.viewer.window.dock_widgets.values():
            if isinstance(w, BrainTumourWidget):
                self.segmentation_widget = w
                break
        else:
            try:  # through the plugin menu's entry, so the menu and this button share one dock
                _dock, w = self.viewer.window.add_plugin_dock_widget("napari-medai", SEG_WIDGET_NAME, tabify=True)
            except KeyError:  # the plugin is not installed (e.g. run from a source tree)
                w = BrainTumourWidget(self.viewer)
                self.viewer.window.add_dock_widget(w, name=SEG_WIDGET_NAME, area="right", tabify=True)
            self.segmentation_widget = w
        dock = self.segmentation_widget.parentWidget()
        if dock is not None:
            dock.show()
            dock.raise_()
        return self.segmentation_widget

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #ff7070;" if error else "")

    def closeEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        self._stop = True  # a closed widget must not train on in the background
        super().closeEvent(event)


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.1f} min"


__all__ = ["BrainTumourTrainingWidget"]
