"""Cohort batch run (Plugins > napari-medai > Cohort batch run): the GUI of ``napari-medai batch``.

The widget only wires. It takes a task, a cohort folder, an output folder (and for ``evaluate`` the
reference folder), an optional method, and where to run: ``local`` (a local Dask cluster of worker
processes) or a scheduler's address. :func:`~napari_medai.core.cohort.run_cohort` runs off the GUI
thread through the shared :class:`~napari_medai._napari._jobs.JobRunner` (progress, time left,
Cancel: the cases not finished are left for the next run, which resumes). Each case's record
reaches the GUI thread as it finishes (the runner's metrics signal) and fills one row of the table;
clicking a row opens that case's images and results in the viewer.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHeaderView,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ...core.errors import InvalidInputError
from .._jobs import JobRunner
from .._widgets import button_row, field_row, int_spin, scroll_column, wrapped

if TYPE_CHECKING:
    import napari

HINT = ("Run a task over every case of a cohort folder, on this machine's cores or a Dask cluster; "
        "click a finished case to open it.")
COLUMNS = ("case", "status", "seconds", "result", "reason")
#: Output roles opened as label layers (the others as images).
LABEL_OUTPUTS = ("segmentation", "lesions", "assignment")


def result_text(record: dict[str, Any]) -> str:
    """The headline of a case's record for its table row: the first three figures, numbers before words (the
    method is the run's), a measure taken before and after (``input_psnr``, ``output_psnr``) as one
    "psnr 32.2 → 35.1"."""
    figs = dict(sorted((record.get("figures") or {}).items(), key=lambda kv: isinstance(kv[1], str)))

    def text(v: Any) -> str:
        return f"{v:.3g}" if isinstance(v, float) else str(v)

    parts = []
    for k, v in figs.items():
        measure = k[len("output_"):]
        if k.startswith("input_") and f"output_{k[len('input_'):]}" in figs:
            continue  # shown with its output
        if k.startswith("output_") and f"input_{measure}" in figs:
            parts.append(f"{measure} {text(figs[f'input_{measure}'])} → {text(v)}")
        else:
            parts.append(f"{k} {text(v)}")
    return ", ".join(parts[:3])


class BatchWidget(QWidget):
    """Run a cohort in the background and open its cases (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        from ...core.cohort.adapters import ADAPTERS

        super().__init__(parent)
        self.viewer = viewer
        self.records: list[dict[str, Any]] = []  # one per table row, in the order cases finished
        self.run_result: Any = None  # the CohortRun of the last run
        self.jobs = JobRunner(HINT)
        self.status = self.jobs.status
        self.task_combo = QComboBox()
        for name, adapter in ADAPTERS.items():
            self.task_combo.addItem(name)
            self.task_combo.setItemData(self.task_combo.count() - 1, adapter.description, 3)  # tooltip role
        self.cohort_edit = QLineEdit()
        self.cohort_edit.setPlaceholderText("folder of cases")
        self.cohort_button = QPushButton("Cohort folder…")
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("results folder (re-use it to resume)")
        self.out_button = QPushButton("Output folder…")
        self.gt_edit = QLineEdit()
        self.gt_edit.setPlaceholderText("evaluate: the folder of reference label maps")
        self.gt_button = QPushButton("Reference folder…")
        self.method_edit = QLineEdit()
        self.method_edit.setPlaceholderText("the task's default")
        self.scheduler_edit = QLineEdit("local")
        self.scheduler_edit.setToolTip("'local': a local Dask cluster of worker processes; or a scheduler's "
                                       "address, e.g. tcp://10.0.0.5:8786 (docs/batch.md)")
        self.workers_spin = int_spin(1, 64, 2, "worker processes of the local cluster")
        self.run_button = QPushButton("Run cohort")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setHorizontalHeaderLabels(list(COLUMNS))
        self.table.setEditTriggers(QTableWidget.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectRows)
        self.table.setToolTip("click a case to open its images and results")
        self.table.setWordWrap(False)  # one line a row, long texts elided (the full text is the cell's tooltip)
        self.table.verticalHeader().setVisible(False)
        header = self.table.horizontalHeader()
        for col, mode in enumerate((QHeaderView.ResizeToContents,) * 3 + (QHeaderView.Stretch, QHeaderView.Interactive)):
            header.setSectionResizeMode(col, mode)  # the result takes what is left; the reason is mostly empty
        header.setStretchLastSection(False)
        header.resizeSection(len(COLUMNS) - 1, 70)
        self.summary = wrapped()
        self._build()
        self.task_combo.currentTextChanged.connect(self._task_changed)
        self.cohort_button.clicked.connect(lambda: self._choose(self.cohort_edit, "Cohort folder"))
        self.out_button.clicked.connect(lambda: self._choose(self.out_edit, "Output folder"))
        self.gt_button.clicked.connect(lambda: self._choose(self.gt_edit, "Reference folder"))
        self.run_button.clicked.connect(self.run)
        self.table.cellClicked.connect(lambda row, _col: self.open_case(row))
        self._task_changed(self.task_combo.currentText())

    def _build(self) -> None:
        form = QFormLayout()
        form.addRow("task", self.task_combo)
        form.addRow("cohort folder", field_row(self.cohort_edit, self.cohort_button))
        form.addRow("output folder", field_row(self.out_edit, self.out_button))
        form.addRow("reference folder", field_row(self.gt_edit, self.gt_button))
        form.addRow("method", self.method_edit)
        form.addRow("scheduler", self.scheduler_edit)
        form.addRow("workers", self.workers_spin)
        self._scroll = scroll_column(self, form, button_row(self.run_button), self.jobs, (self.table, 1), self.summary,
                                     end_stretch=False)
        self.jobs.add_run_buttons(self.run_button)

    def _task_changed(self, task: str) -> None:
        evaluate = task == "evaluate"
        self.gt_edit.setEnabled(evaluate)
        self.gt_button.setEnabled(evaluate)
        self.method_edit.setEnabled(not evaluate and task != "cac")

    def _choose(self, edit: QLineEdit, title: str) -> None:
        path = QFileDialog.getExistingDirectory(self, title, edit.text())
        if path:
            edit.setText(path)

    @property
    def busy(self) -> bool:
        return self.jobs.busy

    # ------------------------------------------------------------------ the run
    def _request(self) -> dict[str, Any]:
        task = self.task_combo.currentText()
        cohort = self.cohort_edit.text().strip()
        out = self.out_edit.text().strip()
        if not cohort or not Path(cohort).is_dir():
            raise InvalidInputError(f"cohort folder {cohort or '(none)'}: not a folder; choose the folder of cases")
        if not out:
            raise InvalidInputError("choose an output folder for the results")
        options: dict[str, Any] = {}
        method = self.method_edit.text().strip()
        if method and self.method_edit.isEnabled():
            options["method"] = method
        if task == "evaluate":
            options["gt"] = self.gt_edit.text().strip() or None
        scheduler = self.scheduler_edit.text().strip() or "local"
        return {"task": task, "cohort": cohort, "out": out, "options": options,
                "client": None if scheduler == "local" else scheduler, "workers": self.workers_spin.value()}

    def run(self) -> bool:
        """Start the cohort run in the background; rows appear as cases finish."""
        from ...core.cohort import run_cohort

        try:
            req = self._request()
        except InvalidInputError as exc:
            return self.jobs.refuse(exc)
        self.records = []
        self.table.setRowCount(0)
        self.summary.setText("")
        jobs = self.jobs

        def work() -> Any:
            return run_cohort(req["task"], req["cohort"], out_dir=req["out"], client=req["client"],
                              workers=req["workers"], options=req["options"], progress=jobs.progress_callback,
                              should_stop=jobs.cancelled, on_case=jobs.metrics_callback, dashboard_address=":0")

        return self.jobs.start(work, self._done, f"running {req['task']} over {req['cohort']}…",
                               on_metrics=self.add_row)

    def add_row(self, record: dict[str, Any]) -> None:
        """One finished case: a row of the table (GUI thread)."""
        self.records.append(record)
        row = self.table.rowCount()
        self.table.insertRow(row)
        seconds = record.get("seconds")
        status = record.get("status", "") + (" (reused)" if record.get("reused") else "")
        cells = (record.get("case", ""), status, "" if seconds is None else f"{seconds:.1f}", result_text(record),
                 record.get("reason", ""))
        for col, text in enumerate(cells):
            item = QTableWidgetItem(str(text))
            item.setToolTip(str(text))
            self.table.setItem(row, col, item)

    def _done(self, run: Any) -> None:
        self.run_result = run
        text = (f"{run.n_done} of {len(run.records)} case(s) done ({run.n_reused} reused), {run.n_failed} failed, "
                f"in {run.seconds:.0f} s. Summary: {run.summary_csv}")
        if run.evaluation is not None:
            text += f"; cohort evaluation with 95% CIs and figure: {run.out_dir / 'evaluation.png'}"
        self.summary.setText(text)
        self.jobs.set_status(f"Done: {run.n_done} of {len(run.records)} case(s), {run.n_failed} failed.")

    # ------------------------------------------------------------------ opening a case
    def case_files(self, record: dict[str, Any]) -> list[tuple[str, Path, bool]]:
        """``(layer name, file, as label)`` of a case: its inputs, its ground truth, then its outputs."""
        from ...core.io.names import WRITE_EXTENSIONS, split_extension

        case = record.get("case", "")
        inputs = record.get("case_inputs") or {}
        task = record.get("task", "")
        files: list[tuple[str, Path, bool]] = [
            (f"{case} {role}", Path(p), role == "prediction") for role, p in (inputs.get("inputs") or {}).items()
            if role != "brainmask"]
        if inputs.get("ground_truth"):
            files.append((f"{case} ground truth", Path(inputs["ground_truth"]), task != "denoise"))
        out_dir = Path(self.run_result.out_dir if self.run_result is not None else self.out_edit.text()) / "cases" / case
        for role, name in (record.get("outputs") or {}).items():
            if split_extension(name)[1] in WRITE_EXTENSIONS:
                files.append((f"{case} {role}", out_dir / name, role in LABEL_OUTPUTS))
        return files

    def open_case(self, row: int) -> bool:
        """Open the case of table row ``row``: its images and results as layers (replacing earlier ones)."""
        if not 0 <= row < len(self.records):
            return False
        record = self.records[row]

        def load() -> list[tuple[str, Any, bool]]:
            from ...core.io import read_volume

            return [(name, read_volume(path, as_label=label), label) for name, path, label in self.case_files(record)]

        def show(volumes: list[tuple[str, Any, bool]]) -> None:
            from ..layers import volume_to_layer_data

            for name, vol, label in volumes:
                for data, kw, kind in volume_to_layer_data(vol.with_data(vol.data, name=name), as_label=label):
                    if name in self.viewer.layers:
                        self.viewer.layers.remove(name)
                    getattr(self.viewer, f"add_{kind}")(data, **kw)
            figures = result_text(record)  # in full: the table's cell is one elided line
            self.jobs.set_status(f"Opened case {record.get('case')}{f' ({figures})' if figures else ''}: "
                                 + ", ".join(n for n, _, _ in volumes) + ".")

        return self.jobs.run_now(load, show)


__all__ = ["BatchWidget", "result_text"]
