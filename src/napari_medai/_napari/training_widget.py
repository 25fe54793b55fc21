"""Train a brain-tumour or a stroke-lesion model on your own labelled cases, with a live loss / Dice plot.

The GUI of ``napari-medai train brain-tumour`` and ``napari-medai train stroke`` (the "task" choice; stroke:
:func:`~napari_medai.core.tasks.stroke.model.find_stroke_cases` and
:func:`~napari_medai.core.tasks.stroke.model.train_stroke` with SegResNet or the DeepMedic-style CNN, the model
handed to the Stroke lesions widget). The core does everything: which cases a folder holds
(:func:`~napari_medai.core.tasks.brain_tumour.find_cases`, :func:`~napari_medai.core.tasks.brain_tumour.
describe_cases`), where a new model goes and whether it can be written there
(:mod:`napari_medai.core.training_runs`), the training itself
(:func:`~napari_medai.core.tasks.brain_tumour.train_brain_tumour`) and its progress within an epoch
(:class:`~napari_medai.core.training_runs.TrainingProgress`). The widget collects the settings, runs the
training through the shared :class:`~napari_medai._napari._jobs.JobRunner` (progress bar with a time
estimate, Cancel, errors shown once), draws the per-step loss and per-epoch Dice, and hands the model
folder to the brain-tumour segmentation widget. Stop keeps what was trained: the best finished epoch, or
within the first epoch the weights so far, saved as a partial (not validated) model.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import InvalidInputError, MedaiError
from ._jobs import JobRunner
from ._plot import ABOVE, LivePlot
from ._widgets import (
    RED,
    error_text,
    field_row,
    scroll_vertically,
    wrapped,
)
from .training_recipe import RecipeForm
from .training_text import result_summary

if TYPE_CHECKING:
    import napari

#: Output label conventions offered ("as the data": the cases' own, else BraTS 2021).
CONVENTIONS = ("as the data", "brats2021", "brats2013", "brats2023")
#: Series colours: losses in blues/greys on the left axis, Dice on the right.
COLOURS = {"loss per step": "#9aa7b8", "train loss": "#1f77b4", "val Dice (mean)": "#d62728",
           "WT": "#2ca02c", "TC": "#ff7f0e", "ET": "#9467bd"}
SEG_WIDGET_NAME = "Brain tumour segmentation (MRI)"
#: Task name in default model folder names (``~/napari-medai/models/brain-tumour-YYYYmmdd-HHMM``).
TASK = "brain-tumour"
#: The tasks the widget trains: shown text -> task name (model folder names, :data:`SEG_WIDGETS`).
TASKS = {"brain tumour (MRI)": TASK, "stroke lesions (MRI or CTA)": "stroke"}
#: The Plugins menu's widget that runs a trained model of each task.
SEG_WIDGETS = {TASK: SEG_WIDGET_NAME, "stroke": "Stroke lesions"}
#: Networks offered for stroke (``train_stroke``'s ``network``): a MONAI SegResNet or the DeepMedic-style CNN.
STROKE_NETWORKS = ("SegResNet", "DeepMedic")


class BrainTumourTrainingWidget(QWidget):
    """Train a brain-tumour segmentation model on labelled case folders (see module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None, *, task: str = TASK) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.task = task
        self.cases: list[Any] = []  # BrainTumourCase (or StrokeCase) of the scanned data folder
        self.result: Any = None  # TrainingResult of the last run
        self.segmentation_widget: Any = None
        self._scanned: str | None = None
        self._scan_error = ""
        self._last_step: tuple[int, int, int] = (0, 0, 0)
        self._created: Path | None = None
        self.channel_checks: dict[str, QCheckBox] = {}
        self.jobs = JobRunner("Choose the folder of your labelled cases, then press Train.")
        self.task_combo = QComboBox()
        self.task_combo.addItems(list(TASKS))
        self.task_combo.setCurrentIndex(list(TASKS.values()).index(task))
        self.task_combo.setToolTip("What the model learns: brain tumour regions (BraTS) or ischaemic stroke lesions "
                                   "(ISLES: DWI + ADC, or CTA + its mirrored copy)")
        self.network_combo = QComboBox()
        self.network_combo.addItems(STROKE_NETWORKS)
        self.network_combo.setToolTip("SegResNet (MONAI) or the DeepMedic-style two-pathway 3-D CNN (Kamnitsas 2017; "
                                      "25^3 training segments, 45^3 inference segments)")

        self.data_edit = QLineEdit()
        self.data_edit.setPlaceholderText("folder with one sub-folder per labelled case")
        self.data_browse = QPushButton("Browse…")
        self.cases_info = wrapped("Choose the folder of your labelled cases (BraTS 2013, 2021 or 2023 file names).")
        self.case_list = QListWidget()
        self.case_list.setMaximumHeight(72)
        self.channels_row = QHBoxLayout()
        self._no_channels = QLabel("(those of the data folder)")
        self.channels_row.addWidget(self._no_channels)
        self.channels_row.addStretch(1)
        self.convention_combo = QComboBox()
        self.convention_combo.addItems(CONVENTIONS)
        self.out_edit = QLineEdit()
        self.out_edit.setToolTip("A new or empty folder for the model (created when training starts). The default "
                                 "is a fresh folder under ~/napari-medai/models, never beside the data.")
        self.out_browse = QPushButton("Folder…")
        self._auto_out = ""
        self._propose_out_folder()
        self.resume_check = QCheckBox("resume the run in this folder")

        self.recipe = RecipeForm()

        self.train_button = QPushButton("Train")
        self.stop_button = QPushButton("Stop")
        self.stop_button.setEnabled(False)
        self.stop_button.setToolTip("Stop after the current step. The best finished epoch is kept; within the first "
                                    "epoch the weights so far are saved as a partial, not validated model.")
        # a redraw holds the GUI thread (about 0.1-0.2 s on 2 busy cores): at most one a second
        self.plot = LivePlot(xlabel="epoch", ylabel="loss", y2label="validation Dice", legend_loc=ABOVE,
                             empty_text="no epochs yet: the loss and Dice curves appear here while training",
                             min_redraw_s=1.0)
        self.plot.setFixedHeight(230)  # a status line that wraps differently must not resize it (a full redraw)
        self._style_plot()
        self.summary = wrapped()
        self.use_button = QPushButton("Use in segmentation widget")
        self.use_button.setEnabled(False)
        self._build_layout()

        self.data_browse.clicked.connect(self._browse_data)
        self.out_browse.clicked.connect(self._browse_out)
        self.data_edit.editingFinished.connect(self.scan_data_folder)
        self.task_combo.currentIndexChanged.connect(lambda _i: self._task_changed())
        self.network_combo.currentTextChanged.connect(lambda _t: self._network_changed())
        self.train_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(self.jobs.stop)
        self.use_button.clicked.connect(self.use_in_segmentation)
        # a scroll area does not pass its content's new minimum width on: the dock widens only when told
        self.recipe.advanced_check.toggled.connect(lambda _on: QTimer.singleShot(0, self._scroll.updateGeometry))
        self.jobs.add_run_buttons(self.train_button)
        self._task_changed(first=True)

    def _build_layout(self) -> None:
        data_form = QFormLayout()
        data_form.addRow("task", self.task_combo)
        data_form.addRow("cases", field_row(self.data_edit, self.data_browse))
        top = QFormLayout()
        top.addRow("sequences", self.channels_row)
        top.addRow("output labels", self.convention_combo)
        top.addRow("network", self.network_combo)
        top.addRow("model folder", field_row(self.out_edit, self.out_browse))
        self._top = top
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
        layout.addWidget(self.recipe)
        layout.addLayout(buttons)
        layout.addWidget(self.jobs)
        layout.addWidget(self.plot)  # right under the progress bar: in view while training
        layout.addWidget(self.use_button)
        layout.addWidget(self.summary)
        layout.addStretch(1)
        self._scroll = scroll_vertically(self, content)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        QTimer.singleShot(0, self._scroll.updateGeometry)  # napari's theme, applied now, widens some fields

    # ------------------------------------------------------------------ folders
    def _browse_data(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of labelled cases (one sub-folder per case)")
        if path:
            self.set_data_folder(path)

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model folder to write (new, empty, or a run to resume)",
                                                str(Path(self.out_edit.text()).expanduser().parent))
        if path:
            self.out_edit.setText(path)

    def _propose_out_folder(self) -> None:
        """A fresh per-user default folder, unless the user typed or picked one."""
        from ..core.training_runs import default_model_folder

        if self.out_edit.text().strip() in ("", self._auto_out):
            self._auto_out = str(default_model_folder(self.task))
            self.out_edit.setText(self._auto_out)

    # ------------------------------------------------------------------ task
    def _task_changed(self, *, first: bool = False) -> None:
        """Show the chosen task's rows and recipe; rescan the data folder for its cases."""
        self.task = TASKS[self.task_combo.currentText()]
        stroke = self.task == "stroke"
        self._top.setRowVisible(self.convention_combo, not stroke)  # stroke: ISLES labels (1 = lesion)
        self._top.setRowVisible(self.network_combo, stroke)
        if stroke:
            self._network_changed()
        else:
            from ..core.tasks.brain_tumour import DEFAULT_RECIPE

            self.recipe.set_defaults(DEFAULT_RECIPE)
        self.recipe.filters_spin.setToolTip("SegResNet's first-level filters (a multiple of 8)" if not stroke else
                                            "SegResNet's first-level filters (a multiple of 8); DeepMedic's "
                                            "widths are the published ones")
        self._propose_out_folder()
        if not first:
            self.scan_data_folder()

    def _network_changed(self) -> None:
        """The stroke recipe with the chosen network's segment sizes (DeepMedic: 25^3 / 45^3)."""
        if self.task != "stroke":
            return
        from ..core.tasks.stroke.model import DEFAULT_RECIPE, NETWORK_DEFAULTS

        net = self.network_combo.currentText()
        self.recipe.set_defaults({**DEFAULT_RECIPE, **NETWORK_DEFAULTS.get(net, NETWORK_DEFAULTS["*"])})

    def set_data_folder(self, path: str | Path) -> bool:
        """Show ``path`` as the data folder and list its cases; False when they cannot be trained on."""
        self.data_edit.setText(str(path))
        return self.scan_data_folder()

    def scan_data_folder(self) -> bool:
        """List the cases of the data folder, their naming layout and the sequences every case has."""
        from ..core.tasks.brain_tumour import describe_cases, find_cases

        folder = self._start_scan()
        self._build_channel_checks(())
        self._no_channels.setText("(those of the data folder)")
        if not folder:
            return self._scan_result("Choose the folder of your labelled cases.", ok=False)
        if self.task == "stroke":
            return self._scan_stroke(folder)
        try:
            cases = find_cases(folder)
            info = describe_cases(cases)
        except (MedaiError, OSError) as exc:
            return self._scan_result(error_text(exc), ok=False)
        self.cases = cases
        for case, row in zip(cases, info.rows, strict=True):
            self.case_list.addItem(row)
            self.case_list.item(self.case_list.count() - 1).setToolTip(
                "\n".join(str(f) for f in [*case.channels.values(), case.label, case.brainmask] if f is not None))
        self._build_channel_checks(info.channels)
        return self._scan_result(info.text, ok=info.ok)

    def _scan_stroke(self, folder: str) -> bool:
        """The stroke cases of ``folder`` (ISLES'22 BIDS or one folder per case), each with its lesion mask."""
        from ..core.tasks.stroke.model import describe_stroke_cases, find_stroke_cases

        try:
            cases = find_stroke_cases(folder, require_labels=True)
        except (MedaiError, OSError) as exc:
            return self._scan_result(error_text(exc), ok=False)
        info = describe_stroke_cases(cases, folder)
        if not info.ok:
            return self._scan_result(info.text, ok=False)
        self.cases = cases
        for case, row in zip(cases, info.rows, strict=True):
            self.case_list.addItem(row)
            self.case_list.item(self.case_list.count() - 1).setToolTip(
                "\n".join(str(f) for f in [*case.channels.values(), case.label] if f is not None))
        self._no_channels.setText(info.inputs)
        return self._scan_result(info.text, ok=True)

    def _start_scan(self) -> str:
        """The data folder typed in, remembered as scanned, with the previous scan's cases cleared."""
        folder = self.data_edit.text().strip()
        self._scanned = folder
        self.cases = []
        self.case_list.clear()
        return folder

    def _scan_result(self, text: str, *, ok: bool) -> bool:
        self._scan_error = "" if ok else text
        self.cases_info.setText(text)
        self.cases_info.setStyleSheet("" if ok else RED)
        return ok

    def _build_channel_checks(self, channels: tuple[str, ...]) -> None:
        from ..core.model_inputs import channel_label

        for box in self.channel_checks.values():
            self.channels_row.removeWidget(box)
            box.setParent(None)  # gone now, not at the next turn of the event loop
            box.deleteLater()
        self.channel_checks = {}
        for i, ch in enumerate(channels):
            box = QCheckBox(channel_label(ch))
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
        out_text = self.out_edit.text().strip()
        if self.task == "stroke":
            if not out_text:
                raise InvalidInputError("Choose the model folder to write (a new or empty folder).")
            return {"data_dir": self.data_edit.text().strip(), "out_dir": Path(out_text).expanduser(),
                    "cases": list(self.cases), "network": self.network_combo.currentText(),
                    "resume": self.resume_check.isChecked(), **self.recipe.arguments()}
        channels = [ch for ch, box in self.channel_checks.items() if box.isChecked()]
        if not channels:
            raise InvalidInputError("Tick at least one MR sequence to train on.")
        out_text = self.out_edit.text().strip()
        if not out_text:
            raise InvalidInputError("Choose the model folder to write (a new or empty folder).")
        conv = self.convention_combo.currentText()
        return {"data_dir": self.data_edit.text().strip(), "out_dir": Path(out_text).expanduser(),
                "cases": list(self.cases), "channels": channels, "convention": None if conv == CONVENTIONS[0] else conv,
                "resume": self.resume_check.isChecked(), **self.recipe.arguments()}

    def start(self) -> bool:
        """Start training off the GUI thread; False (and the reason in red) when it cannot start."""
        from ..core.training_runs import TrainingProgress, prepare_model_folder

        try:
            self.jobs.check_idle()
            args = self.training_arguments()
            created = not args["out_dir"].exists()
            args["out_dir"] = prepare_model_folder(args["out_dir"], resume=args["resume"])
        except MedaiError as exc:
            return self.jobs.refuse(exc)
        jobs = self.jobs
        tracker = TrainingProgress(jobs.progress_callback, max_epochs=args["max_epochs"],
                                   time_limit_s=args["time_limit_s"])

        def on_step(epoch: int, step: int, steps: int, loss: float) -> None:
            tracker.on_step(epoch, step, steps, loss)
            jobs.metrics_callback({"kind": "step", "epoch": epoch, "step": step, "steps": steps, "loss": loss})

        def work() -> Any:
            train = self.train_function()  # imported here, off the GUI thread (torch)
            return train(**args, progress=tracker.progress, should_stop=jobs.cancelled,
                                      stop_training=jobs.stop_asked, on_step=on_step,
                                      on_epoch=lambda e: jobs.metrics_callback({"kind": "epoch", **e}))

        self.result = None
        self._created = args["out_dir"] if created else None  # removed again if the run leaves it empty
        self._last_step = (0, 0, 0)
        self.summary.setText("")
        self.use_button.setEnabled(False)
        self._style_plot(clear=True)
        return jobs.start(work, self._done, f"reading {len(args['cases'])} case(s)…", stop_button=self.stop_button,
                          on_metrics=self._on_metrics, on_error=self._failed)

    def train_function(self) -> Any:
        """The core function that trains the chosen task, called off the GUI thread with :meth:`training_arguments`
        and the runner's callbacks (a subclass returns its own task's)."""
        from ..core.tasks.brain_tumour import train_brain_tumour
        from ..core.tasks.stroke.model import train_stroke

        return train_stroke if self.task == "stroke" else train_brain_tumour

    def stop(self) -> None:
        """End the run after the current step, keeping what was trained (what the Stop button does)."""
        self.jobs.stop()

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def wait_idle(self, timeout_s: float = 600.0) -> bool:
        """Process events until the run has ended and been shown (scripts and tests); True when it has."""
        return self.jobs.wait_idle(timeout_s)

    def _on_metrics(self, m: dict[str, Any]) -> None:
        if m["kind"] == "step":
            self._last_step = (m["epoch"], m["step"], m["steps"])
            self._add("loss per step", m["epoch"] - 1 + m["step"] / max(m["steps"], 1), m["loss"])
            return
        x = m["epoch"]
        self._add("train loss", x, m.get("train_loss"))
        self._add("val Dice (mean)", x, m.get("val_mean_dice"), right=True)
        regions = m.get("val_dice") or {}
        for region in sorted(regions, key=lambda r: "WTCET".find(r)) if len(regions) > 1 else ():  # one is the mean
            self._add(region, x, regions[region], right=True)

    def _add(self, name: str, x: float, y: float | None, *, right: bool = False) -> None:
        self.plot.add_point(name, x, y, right=right, color=COLOURS.get(name, "#7f7f7f"))

    def _style_plot(self, *, clear: bool = False) -> None:
        """Whole epochs along x, Dice or AUC in [0, 1]: set when the plot makes its figure (at the first epoch's
        point, so opening the dock imports no matplotlib on the GUI thread); ``clear``: a new run starts."""
        if clear:
            self.plot.clear()
        else:
            self.plot.when_built(_epochs_and_unit_scores)

    def _failed(self, exc: BaseException) -> None:
        """After a failure or a cancel (the runner has shown it): say what Stop or Cancel left behind."""
        from ..core.callbacks import Cancelled

        if isinstance(exc, Cancelled):
            epoch, step, steps = self._last_step
            self.jobs.set_status(
                "Stopped while reading the cases, before any training step: nothing was saved." if step == 0 else
                f"Cancelled in epoch {epoch} after {step} of {steps} steps: nothing was saved (Stop keeps a partial "
                "model).", error=True)
        if self._created is not None and self._created.is_dir() and not any(self._created.iterdir()):
            self._created.rmdir()  # the empty folder this run made
        self._propose_out_folder()

    def _done(self, r: Any) -> None:
        self.result = r
        self.plot.fit()
        self.use_button.setEnabled(True)
        self._propose_out_folder()  # the next run goes into a fresh folder
        html, status = result_summary(r, self._last_step)
        self.show_summary(html, status)

    def show_summary(self, html: str, status: str) -> None:
        """Show a finished run's summary and status, and scroll the dock down to the summary (under the plot, it
        is out of view in a dock under about 1000 pixels)."""
        self.summary.setText(html)
        self.jobs.set_status(status)
        # once the new text is laid out (a few turns of the event loop; at once the dock would not scroll yet)
        QTimer.singleShot(100, self, lambda: self._scroll.ensureWidgetVisible(self.summary))

    # ------------------------------------------------------------------ hand-over
    def use_in_segmentation(self) -> Any:
        """Open the task's segmentation widget (Plugins menu entry; the open one if any) with the trained
        model chosen there (the brain-tumour widget loads it off the GUI thread; the stroke widget reads its
        description and runs it with 'trained model')."""
        if self.result is None:
            self.jobs.refuse(InvalidInputError("Train a model first."))
            return None
        try:
            dock, seg = self.viewer.window.add_plugin_dock_widget("napari-medai", SEG_WIDGETS[self.task],
                                                                  tabify=True)
        except (KeyError, ValueError) as exc:
            self.jobs.refuse(InvalidInputError(f"cannot open the segmentation widget ({exc})"))
            return None
        dock.show()
        dock.raise_()
        source = str(self.result.out_dir)
        if self.task == "stroke":
            seg.use_model_folder(source)
            self.segmentation_widget = seg
            self.jobs.set_status(f"Chosen in the stroke widget ('trained model'): {source}")
            return seg
        if seg.model_combo.findText(source) < 0:
            seg.model_combo.addItem(source)
        seg.model_combo.setCurrentText(source)
        self.segmentation_widget = seg
        self.jobs.set_status(f"Chosen in the segmentation widget (it loads there): {source}")
        return seg


class StrokeTrainingWidget(BrainTumourTrainingWidget):
    """The training widget with stroke lesions chosen (Plugins > napari-medai > Stroke training)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(viewer, parent, task="stroke")



def _epochs_and_unit_scores(plot: LivePlot) -> None:
    from matplotlib.ticker import MaxNLocator

    plot.ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if plot.ax2 is not None:
        plot.ax2.set_ylim(-0.03, 1.03)  # a Dice or AUC of 0 or 1 is drawn inside the frame, not on it

__all__ = ["BrainTumourTrainingWidget", "StrokeTrainingWidget"]
