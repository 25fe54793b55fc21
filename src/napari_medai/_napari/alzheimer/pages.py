"""The Alzheimer widget's four tabs as plain Qt pages: their controls and result labels, no behaviour.

Align (a T1 onto MNI152), Landmarks (a labelled cohort -> p map and landmarks), Predict (a model on the T1)
and Evaluate (a model on a labelled cohort: ROC, AUC with DeLong CI, figures at a threshold). The widget
(:mod:`.widget`) connects them to the core through the shared job runner.
"""

from __future__ import annotations

from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSlider,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .._widgets import RED, column, fit_spin_text, int_spin, spin, wrapped
from . import words
from .inputs import PathRow
from .roc_plot import RocPlot
from .words import ALIGN_CHOICES, GRID_CHOICES, TIPS


def say(label: QLabel, text: str, *, error: bool = False) -> None:
    """Show ``text`` in ``label``, in red when it reports a problem."""
    label.setText(text)
    label.setStyleSheet(RED if error else "")


def _bold(label: QLabel) -> QLabel:
    font = label.font()
    font.setBold(True)
    label.setFont(font)
    return label


def _button(text: str, tip: str) -> QPushButton:
    b = QPushButton(text)
    b.setToolTip(tip)
    return b


def _combo(choices: tuple[tuple[str, object], ...], tip: str) -> QComboBox:
    c = QComboBox()
    for text, value in choices:
        c.addItem(text, value)
    c.setToolTip(tip)
    return c


class AlignPage(QWidget):
    """Register the chosen T1 to MNI152: the grid, the button, the correlation before / after."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.grid_combo = _combo(GRID_CHOICES, TIPS["grid"])
        self.align_button = _button("Align to MNI152", TIPS["align"])
        self.info = wrapped("Choose a T1 layer and the template, then Align: the aligned T1 (grey) and the template "
                            "(magenta) overlay; white where they agree.")
        form = QFormLayout()
        form.addRow("grid", self.grid_combo)
        column(self, form, self.align_button, self.info)


class LandmarkPage(QWidget):
    """Discover landmarks from a labelled cohort: the folder, the CSV, L and the minimum distance."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cohort = PathRow("Folder…", "Cohort folder (t1/<subject>.nii.gz)", kind="dir",
                              placeholder="folder of T1s", tip=TIPS["cohort"])
        self.labels = PathRow("CSV…", "Labels CSV (subject, diagnosis)", kind="csv",
                              placeholder="subject, diagnosis CSV", tip=TIPS["labels"])
        self.write_button = _button("Write open cohort to a folder…", TIPS["write_cohort"])
        self.n_spin = int_spin(1, 500, 50, TIPS["n"])
        self.distance_spin = spin(0.0, 200.0, 15.0, decimals=1, step=1.0, suffix=" mm", tip=TIPS["distance"])
        fit_spin_text(self.distance_spin)
        self.align_combo = _combo(ALIGN_CHOICES, TIPS["alignment"])
        self.find_button = _button("Find landmarks", TIPS["find"])
        self.info = wrapped("Choose a cohort folder and its labels CSV (or write the open sample cohort to a "
                            "folder), then Find landmarks.")
        self.table = QTableWidget(0, 4)
        self.table.setHorizontalHeaderLabels(["rank", "MNI x, y, z mm", "p", "t"])
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.setMaximumHeight(150)
        self.table.setVisible(False)
        form = QFormLayout()
        form.addRow("cohort folder", self.cohort)
        form.addRow("labels CSV", self.labels)
        form.addRow("", self.write_button)
        form.addRow("landmarks L", self.n_spin)
        form.addRow("min distance", self.distance_spin)
        form.addRow("alignment", self.align_combo)
        column(self, form, self.find_button, self.info, self.table)

    def show_landmarks(self, result: Any, asked: int) -> None:
        """The landmarks of a :class:`~napari_medai.core.tasks.alzheimer.landmarks.LandmarkResult`: a sentence
        and one table row each (rank, MNI position, p, t)."""
        say(self.info, words.landmarks_text(result, asked))
        self.table.setRowCount(len(result.landmarks))
        for row, lm in enumerate(result.landmarks):
            cells = (str(lm.rank), ", ".join(f"{v:.0f}" for v in lm.mni_mm), f"{lm.p_value:.2g}", f"{lm.t:+.2f}")
            for col, text in enumerate(cells):
                self.table.setItem(row, col, QTableWidgetItem(text))
        self.table.resizeColumnsToContents()
        self.table.setVisible(bool(result.landmarks))


class PredictPage(QWidget):
    """A model on the chosen T1: P(AD), the decision, the landmarks' contributions and a saliency map."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = PathRow("Model folder…", "Alzheimer model folder (model.json + model.pt)", kind="dir",
                             placeholder="a model folder trained for Alzheimer's disease", tip=TIPS["model"])
        self.model_info = wrapped()
        self.aligned_check = QCheckBox("T1 already aligned to MNI152")
        self.aligned_check.setToolTip(TIPS["aligned"])
        self.predict_button = _button("Predict", TIPS["predict"])
        self.headline = _bold(wrapped())
        self.swatch = QLabel()
        self.swatch.setFixedSize(90, 12)
        self.swatch.setStyleSheet("background: qlineargradient(x1:0, y1:0, x2:1, y2:0, stop:0 #3b4cc0, "
                                  "stop:0.5 #dddddd, stop:1 #b40426); border: 1px solid #888;")
        self.swatch.setToolTip("blue: towards NC · white: no effect · red: towards AD")
        self.swatch.setVisible(False)
        self.legend = wrapped()
        self.details = wrapped()
        form = QFormLayout()
        form.addRow("model", self.model)
        legend_row = QHBoxLayout()
        legend_row.addWidget(self.swatch, alignment=Qt.AlignTop)
        legend_row.addWidget(self.legend, stretch=1)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.model_info)
        check_row = QHBoxLayout()  # as wide as its text: a click beside it is no click on it
        check_row.addWidget(self.aligned_check)
        check_row.addStretch(1)
        layout.addLayout(check_row)
        layout.addWidget(self.predict_button)
        layout.addWidget(self.headline)
        layout.addLayout(legend_row)
        layout.addWidget(self.details)
        layout.addStretch(1)

    def clear(self) -> None:
        for label in (self.headline, self.legend, self.details):
            say(label, "")
        self.swatch.setVisible(False)

    def show_prediction(self, pred: Any) -> str:
        """A prediction: P(AD) and the decision (or that the model is untrained, in red), the colour key, the
        model and the registration; returns the headline."""
        headline, warning = words.prediction_text(pred)
        say(self.headline, headline, error=warning)
        say(self.legend, words.contribution_legend(pred.contributions))
        self.swatch.setVisible(len(pred.contributions) > 0 and pred.trained)
        say(self.details, f"{words.model_text(pred)} {pred.disclaimer}")
        return headline


class EvaluatePage(QWidget):
    """A model on a labelled cohort: the ROC curve, AUC [DeLong 95 % CI], figures at a movable threshold."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.cohort = PathRow("Folder…", "Test cohort folder (t1/<subject>.nii.gz)", kind="dir",
                              placeholder="folder of T1s", tip=TIPS["cohort"])
        self.labels = PathRow("CSV…", "Labels CSV (subject, diagnosis)", kind="csv",
                              placeholder="subject, diagnosis CSV", tip=TIPS["labels"])
        self.model = PathRow("Model folder…", "Alzheimer model folder (model.json + model.pt)", kind="dir",
                             placeholder="a model folder trained for Alzheimer's disease", tip=TIPS["model"])
        self.align_combo = _combo(ALIGN_CHOICES, TIPS["alignment"])
        self.evaluate_button = _button("Evaluate", TIPS["evaluate"])
        self.auc = _bold(wrapped())
        self.plot = RocPlot()
        self.slider = QSlider(Qt.Horizontal)
        self.slider.setRange(0, 100)
        self.slider.setValue(50)
        self.slider.setToolTip(TIPS["threshold"])
        self.threshold_spin = spin(0.0, 1.0, 0.5, decimals=2, step=0.01, tip=TIPS["threshold"])
        threshold_row = QHBoxLayout()
        threshold_row.addWidget(self.slider, stretch=1)
        threshold_row.addWidget(self.threshold_spin)
        self.figures = wrapped()
        form = QFormLayout()
        form.addRow("test cohort", self.cohort)
        form.addRow("test labels CSV", self.labels)
        form.addRow("model", self.model)
        form.addRow("test alignment", self.align_combo)
        after = QFormLayout()
        after.addRow("threshold", threshold_row)
        column(self, form, self.evaluate_button, self.auc, self.plot, after, self.figures)

    def show_evaluation(self, ev: Any) -> str:
        """An evaluation: AUC [DeLong 95 % CI], whether it is held out, the ROC curve; returns the AUC sentence."""
        text = words.evaluation_text(ev)
        say(self.auc, "\n".join([text, *ev.notes]), error=any("NOT a held-out" in n for n in ev.notes))
        self.plot.show_curve(ev.fpr, ev.tpr, f"AUC {ev.auc:.3f}")
        return text

    def show_threshold(self, threshold: float, figures: dict[str, Any] | None) -> None:
        """The slider at ``threshold``; the figures there and the operating point (None: no evaluation yet)."""
        self.slider.blockSignals(True)
        self.slider.setValue(int(round(100 * threshold)))
        self.slider.blockSignals(False)
        if figures is None:
            return
        say(self.figures, words.threshold_text(threshold, figures))
        sens, spec = figures.get("sensitivity"), figures.get("specificity")
        self.plot.set_point(None if spec is None else 1.0 - float(spec), sens)


__all__ = ["AlignPage", "EvaluatePage", "LandmarkPage", "PredictPage", "say"]
