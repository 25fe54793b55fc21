"""Calcium score agreement dock: automatic against reference Agatston scores over a cohort.

Reference scores and (optionally) a cohort of automatic scores are CSV files in the format of
``napari-medai cac-agreement`` (``case``, ``total``, optional ``LM``/``LAD``/``LCX``/``RCA``); the
current case's scores from the calcium widget can be added as one more automatic case. The statistics
are the core's :func:`~napari_medai.core.tasks.cac.cohort_agreement` (the CLI's too): Pearson r,
ICC(2,1), Bland-Altman bias and limits (table and plot), the risk-category confusion matrix (rows
automatic, columns reference) and the linearly weighted kappa.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QTimer
from qtpy.QtGui import QColor
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QGridLayout,
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

from ...core.errors import InvalidInputError
from ...core.tasks import cac
from .._jobs import JobRunner
from .._widgets import CurrentPageTabWidget, process_events_until, scroll_vertically, wrapped
from .tables import num

if TYPE_CHECKING:
    import napari

STAT_COLUMNS = ("n", "Pearson r", "ICC(2,1)", "bias", "SD", "LoA low", "LoA high")
HINT = "Load reference scores (CSV: case, total[, LM, LAD, LCX, RCA])."


def _table(rows: int, headers: list[str]) -> QTableWidget:
    t = QTableWidget(rows, len(headers))
    t.setHorizontalHeaderLabels(headers)
    t.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
    t.setEditTriggers(QTableWidget.NoEditTriggers)
    return t


def _fill(table: QTableWidget, rows: list[list[str]], names: list[str]) -> None:
    table.setRowCount(len(rows))
    table.setVerticalHeaderLabels(names)
    for i, row in enumerate(rows):
        for j, v in enumerate(row):
            table.setItem(i, j, QTableWidgetItem(v))


class CACAgreementWidget(QWidget):
    """Agreement of automatic with reference Agatston scores over cases (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer | None = None, *, cac_widget: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.cac_widget = cac_widget
        self.reference: dict[str, dict[str, float]] = {}
        self.cohort: dict[str, dict[str, float]] = {}
        #: The last :class:`~napari_medai.core.tasks.cac.CohortAgreement` shown (None: none yet).
        self.agreement: cac.CohortAgreement | None = None
        self.canvas: Any = None
        self._plot_timer = QTimer(self)  # a plot asked for while a job runs waits for it
        self._plot_timer.setSingleShot(True)
        self._plot_timer.setInterval(50)
        self._plot_timer.timeout.connect(self._draw_plot)

        self.ref_button = QPushButton("Reference scores CSV…")
        self.ref_label = wrapped("no reference loaded")
        self.auto_button = QPushButton("Automatic scores CSV…")
        self.auto_label = wrapped("no cohort loaded (optional)")
        self.current_check = QCheckBox("add the current case as")
        self.case_edit = QLineEdit()
        self.case_edit.setPlaceholderText("case name in the reference CSV")
        self.jobs = JobRunner(HINT)
        self.jobs.progress.setVisible(False)  # the statistics take milliseconds: no progress to show
        self.jobs.cancel_button.setVisible(False)
        self.stats_table = _table(0, list(STAT_COLUMNS))
        self.stats_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeToContents)  # "Pearson r"
        self.kappa_label = wrapped()
        cats = list(cac.RISK_CATEGORIES)
        self.confusion_table = _table(len(cats), cats)
        self.confusion_table.setVerticalHeaderLabels(cats)
        self.cases_table = _table(0, ["auto total", "ref total", "auto cat.", "ref cat."])
        self.measure_combo = QComboBox()
        self.measure_combo.addItems(list(cac.SCORE_MEASURES))
        self.plot_placeholder = wrapped("The Bland-Altman plot appears once two or more cases match.")
        self.plot_box = QVBoxLayout()
        self.plot_box.addWidget(self.plot_placeholder)

        stats_page = QWidget()
        sp = QVBoxLayout(stats_page)
        sp.addWidget(self.stats_table)
        sp.addWidget(self.kappa_label)
        sp.addWidget(QLabel("Risk categories of the total (rows automatic, columns reference):"))
        sp.addWidget(self.confusion_table)
        plot_page = QWidget()
        pp = QVBoxLayout(plot_page)
        row = QHBoxLayout()
        row.addWidget(QLabel("score"))
        row.addWidget(self.measure_combo, stretch=1)
        pp.addLayout(row)
        pp.addLayout(self.plot_box, stretch=1)
        self.tabs = CurrentPageTabWidget()
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
        content = QWidget()
        scroll_vertically(self, content)
        layout = QVBoxLayout(content)
        layout.addLayout(grid)
        layout.addLayout(current)
        layout.addWidget(self.jobs)
        layout.addWidget(self.tabs)
        layout.addStretch(1)

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
        what = "reference scores" if which == "ref" else "automatic scores"

        def done(scores: dict) -> None:
            text = f"{Path(path).name}: {len(scores)} case(s)"
            if which == "ref":
                self.reference = scores
                self.ref_label.setText(text)
            else:
                self.cohort = scores
                self.auto_label.setText(text)
            self.compute()

        return self.jobs.run_now(lambda: cac.read_scores(Path(path), what=what), done)

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
            auto[case] = {m: float(w.result.agatston[m]) for m in cac.SCORE_MEASURES}
        return auto

    # ------------------------------------------------------------------ statistics
    def compute(self) -> cac.CohortAgreement | None:
        """Match cases by name and show the core's statistics (milliseconds: on the GUI thread)."""
        self.agreement = None
        self._clear()
        if not self.reference:
            self.jobs.set_status(HINT)
            return None
        auto = self.automatic_scores()
        if not auto:  # the usual first step, not an error: say what comes next
            self.jobs.set_status("Reference loaded: now load the automatic scores CSV, or tick 'add the current "
                                 "case as' in a calcium scoring dock.")
            return None

        def work() -> cac.CohortAgreement:
            if not set(auto) & set(self.reference):
                raise InvalidInputError(
                    "no case matches the reference: name the current case as in the reference CSV's 'case' column, "
                    "or load a cohort CSV of automatic scores")
            return cac.cohort_agreement(auto, self.reference, auto_name="the automatic scores",
                                        ref_name="the reference")

        self.jobs.run_now(work, self._show)
        return self.agreement

    def _show(self, ag: cac.CohortAgreement) -> None:
        self.agreement = ag
        rows = []
        for st in ag.per_measure.values():
            ba = st["bland_altman"]
            rows.append([str(st["n"]), num(st["pearson_r"], 3), num(st["icc_2_1"], 3), num(ba["bias"]),
                         num(ba["sd"]), num(ba["loa_low"]), num(ba["loa_high"])])
        _fill(self.stats_table, rows, list(ag.per_measure))
        s = ag.summary
        self.kappa_label.setText(f"Risk categories of the total: linearly weighted kappa "
                                 f"<b>{num(s['weighted_kappa_linear'], 3)}</b>, exact agreement "
                                 f"{s['category_agreement']:.0%}.")
        for i, counts in enumerate(s["confusion_matrix"]):
            for j, v in enumerate(counts):
                item = QTableWidgetItem(str(v))
                if i == j:
                    item.setBackground(QColor(40, 90, 40))
                self.confusion_table.setItem(i, j, item)
        cats = s["categories"]
        _fill(self.cases_table, [[num(ag.auto[c]["total"]), num(ag.ref[c]["total"]), ca, cr]
                                 for c, ca, cr in zip(ag.cases, cats["auto"], cats["ref"])], ag.cases)
        current = self.measure_combo.currentText()
        self.measure_combo.blockSignals(True)
        self.measure_combo.clear()
        self.measure_combo.addItems(list(ag.per_measure))
        self.measure_combo.setCurrentText(current if current in ag.per_measure else "total")
        self.measure_combo.blockSignals(False)
        note = f" {len(ag.only_auto)} automatic case(s) without reference: {', '.join(ag.only_auto[:8])}." \
            if ag.only_auto else ""
        self.jobs.set_status(f"{len(ag.cases)} case(s) matched.{note}")
        self._draw_plot()

    def _draw_plot(self) -> None:
        """Make the Bland-Altman figure off the GUI thread (matplotlib takes a good part of a second to build
        it); the canvas is put in the tab when it is ready and draws itself in a later turn of the event loop."""
        ag = self.agreement
        if ag is None:
            return
        if self.jobs.busy:  # one job at a time: the plot follows the running one
            self._plot_timer.start()
            return
        m = self.measure_combo.currentText()
        m = m if m in ag.per_measure else "total"
        a, r = ag.values(m)

        def draw() -> Any:
            # the first import of matplotlib takes about 0.4 s: here, not on the GUI thread
            import matplotlib.backends.backend_qtagg  # noqa: F401 - for show()

            from ...core.metrics.agreement_stats import bland_altman_figure

            fig = bland_altman_figure(a, r, title=f"Agatston {m}", units="Agatston", labels=ag.cases,
                                      figsize=(4.5, 3.4))
            fig.canvas.draw()  # text layout and the Agg drawing once here: the Qt canvas' draw is quicker
            return fig

        def show(fig: Any) -> None:
            from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg

            if self.agreement is not ag:  # the statistics changed meanwhile: their own plot follows
                return
            self._remove_canvas()
            self.plot_placeholder.setVisible(False)
            self.canvas = FigureCanvasQTAgg(fig)
            self.canvas.setMinimumHeight(260)
            self.plot_box.addWidget(self.canvas, stretch=1)
            self.canvas.draw_idle()

        self.jobs.start(draw, show, "drawing the Bland-Altman plot…", quiet=True)

    @property
    def busy(self) -> bool:
        """A job runs, or a plot waits for one."""
        return self.jobs.busy or self._plot_timer.isActive()

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process Qt events until the statistics and the plot are shown (scripts, tests)."""
        return process_events_until(lambda: not self.busy, timeout_s)

    def _remove_canvas(self) -> None:
        if self.canvas is not None:
            self.plot_box.removeWidget(self.canvas)
            self.canvas.setParent(None)
            self.canvas.deleteLater()
            self.canvas = None

    def _clear(self) -> None:
        self.stats_table.setRowCount(0)
        self.kappa_label.setText("")
        self.confusion_table.clearContents()
        self.cases_table.setRowCount(0)
        self._remove_canvas()
        self.plot_placeholder.setVisible(True)


__all__ = ["CACAgreementWidget", "STAT_COLUMNS"]
