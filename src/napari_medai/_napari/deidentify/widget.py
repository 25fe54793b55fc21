"""De-identify DICOM folder (Plugins > napari-medai > De-identify DICOM folder): the GUI of
``napari-medai deidentify``.

The widget only wires. It takes an input folder, a new output folder (suggested beside the input), an optional
key file and the core's two options (shifted dates, clean descriptions); :mod:`.folders` refuses a wrong choice
at once, in red and as a napari notification (a missing input, a folder without DICOM files, an output inside
the input or not empty). :func:`~napari_medai.core.deidentify.deidentify_folder` runs off the GUI thread
through the shared :class:`~napari_medai._napari._jobs.JobRunner` (progress, Cancel: a cancelled run leaves
nothing in the output). The summary says how many files were written, which images were held back for review
and why (a table), where the report and the key are; "Open de-identified series" opens a series of the output
in the viewer.
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
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QWidget,
)

from ...core.errors import InvalidInputError
from .._jobs import JobRunner
from .._widgets import button_row, field_row, process_events_until, scroll_column, wrapped
from .folders import OutputSeries, output_series, problem, suggested_output
from .results import ReviewTable, report_text, review_text, summary_text
from .words import HINT, TIPS

if TYPE_CHECKING:
    import napari


class DeidentifyWidget(QWidget):
    """De-identify a DICOM folder and look at the result (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.result: Any = None  # DeidentificationResult of the last run
        self.out_dir: Path | None = None  # its output folder
        self.series: list[OutputSeries] = []
        self._suggested = ""  # the output folder last suggested (replaced when the input changes)

        self.jobs = JobRunner(HINT)
        self.status = self.jobs.status
        self.input_edit = QLineEdit()
        self.input_edit.setPlaceholderText("folder of DICOM files")
        self.input_button = QPushButton("Input folder…")
        self.output_edit = QLineEdit()
        self.output_edit.setPlaceholderText("new or empty folder, outside the input")
        self.output_button = QPushButton("Output folder…")
        self.key_edit = QLineEdit()
        self.key_edit.setPlaceholderText("none: nothing links the output back")
        self.key_button = QPushButton("Key file…")
        self.dates_check = QCheckBox("keep dates, shifted per patient")
        self.clean_check = QCheckBox("clean descriptions")
        for box in (self.dates_check, self.clean_check):  # as wide as its text: a click beside it does nothing
            box.setSizePolicy(QSizePolicy.Maximum, QSizePolicy.Fixed)
        self.run_button = QPushButton("De-identify")
        self.summary = wrapped()
        font = self.summary.font()
        font.setBold(True)
        self.summary.setFont(font)
        self.review_label = wrapped()
        self.review_table = ReviewTable()
        self.report_label = wrapped()
        self.series_combo = QComboBox()
        self.open_button = QPushButton("Open de-identified series")
        self.open_button.setEnabled(False)
        for control, key in ((self.input_edit, "input"), (self.input_button, "input"), (self.output_edit, "output"),
                             (self.output_button, "output"), (self.key_edit, "key"), (self.key_button, "key"),
                             (self.dates_check, "dates"), (self.clean_check, "clean"), (self.run_button, "run"),
                             (self.series_combo, "series"), (self.open_button, "open")):
            control.setToolTip(TIPS[key])

        self._build()
        self.input_button.clicked.connect(self.choose_input)
        self.output_button.clicked.connect(self.choose_output)
        self.key_button.clicked.connect(self.choose_key)
        self.input_edit.editingFinished.connect(lambda: self.set_input(self.input_edit.text()))
        self.run_button.clicked.connect(self.run)
        self.open_button.clicked.connect(self.open_series)

    def _build(self) -> None:
        form = QFormLayout()
        form.addRow("input folder", field_row(self.input_edit, self.input_button))
        form.addRow("output folder", field_row(self.output_edit, self.output_button))
        form.addRow("key file", field_row(self.key_edit, self.key_button))
        form.addRow("dates", self.dates_check)
        form.addRow("descriptions", self.clean_check)
        self._scroll = scroll_column(self, form, button_row(self.run_button), self.jobs, self.summary,
                                     self.review_label, self.review_table, self.report_label,
                                     field_row(self.series_combo, self.open_button))
        self.jobs.add_run_buttons(self.run_button)
        self._show_result_parts(False)

    def _show_result_parts(self, shown: bool, *, review: bool = False) -> None:
        for w in (self.summary, self.review_label, self.report_label, self.series_combo, self.open_button):
            w.setVisible(shown)
        self.review_table.setVisible(shown and review)

    # ------------------------------------------------------------------ choices
    def choose_input(self) -> None:
        """Ask for the folder of DICOM files."""
        path = QFileDialog.getExistingDirectory(self, "Folder of DICOM files to de-identify", self.input_edit.text())
        if path:
            self.set_input(path)

    def set_input(self, path: str) -> None:
        """Use ``path`` as the input; an output folder beside it is suggested unless one was chosen."""
        self.input_edit.setText(str(path))
        current = self.output_edit.text().strip()
        if not current or current == self._suggested:
            self._suggested = suggested_output(str(path))
            self.output_edit.setText(self._suggested)

    def choose_output(self) -> None:
        """Ask for the output folder (new or empty)."""
        start = self.output_edit.text() or self.input_edit.text()
        path = QFileDialog.getExistingDirectory(self, "New or empty output folder", start)
        if path:
            self.output_edit.setText(path)

    def choose_key(self) -> None:
        """Ask for the key file: an existing one is reused, a new name makes one."""
        start = self.key_edit.text() or str(Path(self.input_edit.text() or Path.home()).parent / "deid-key.json")
        path, _ = QFileDialog.getSaveFileName(self, "Key file (reused when it exists)", start, "JSON (*.json)",
                                              options=QFileDialog.DontConfirmOverwrite)
        if path:
            self.key_edit.setText(path)

    # ------------------------------------------------------------------ running
    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def wait_idle(self, timeout_s: float = 120.0) -> bool:
        """Process events until no job runs (tests, scripts); False when the time is up."""
        return process_events_until(lambda: not self.busy, timeout_s)

    def refuse(self, text: str) -> bool:
        """Say why nothing starts: in red in the status line and as a napari notification."""
        self.jobs.refuse(InvalidInputError(text))
        from napari.utils.notifications import show_error

        show_error(text)
        return False

    def run(self) -> bool:
        """De-identify the input folder off the GUI thread; False (and why) when refused."""
        in_dir, out_dir = self.input_edit.text().strip(), self.output_edit.text().strip()
        why = problem(in_dir, out_dir)
        if why:
            return self.refuse(why)
        key = self.key_edit.text().strip() or None
        options = {"shift_dates": self.dates_check.isChecked(), "clean_descriptors": self.clean_check.isChecked()}
        dst = Path(out_dir).expanduser()

        def work() -> Any:
            from ...core.deidentify import deidentify_folder

            return deidentify_folder(Path(in_dir).expanduser(), dst, key_file=key, **options,
                                     progress=self.jobs.progress_callback, should_stop=self.jobs.cancelled)

        self._show_result_parts(False)
        return self.jobs.start(work, lambda result: self._show(result, dst), "de-identifying…")

    # ------------------------------------------------------------------ the result
    def _show(self, result: Any, out_dir: Path) -> None:
        self.result, self.out_dir = result, out_dir
        self.series = output_series(out_dir, result.written)
        self.summary.setText(summary_text(result, out_dir))
        self.review_label.setText(review_text(result))
        self.review_table.show_rows(result.flagged)
        self.report_label.setText(report_text(result))
        self.series_combo.clear()
        for s in self.series:
            self.series_combo.addItem(s.text, str(s.folder))
        self._show_result_parts(True, review=bool(result.flagged))
        self.open_button.setEnabled(bool(self.series))
        self.jobs.set_status(f"Done: {result.summary()}.")
        QTimer.singleShot(0, self._scroll.updateGeometry)

    def open_series(self) -> bool:
        """Open the chosen de-identified series in the viewer."""
        folder = self.series_combo.currentData()
        if not folder:
            return self.refuse("de-identify a folder first: there is no de-identified series to open")

        def opened(layers: Any) -> None:
            names = ", ".join(f"'{ly.name}'" for ly in layers or [])
            self.jobs.set_status(f"Opened {names} from {folder}.")

        return self.jobs.run_now(lambda: self.viewer.open(folder, plugin="napari-medai"), opened)


__all__ = ["DeidentifyWidget"]
