"""Alzheimer's disease (Plugins > napari-medai > Alzheimer's disease (T1 MRI)): the GUI of ``napari-medai alzheimer``.

The widget only wires. Four tabs share the T1 layer, the MNI152 template and one
:class:`~napari_medai._napari._jobs.JobRunner` (progress, Cancel, an error shown once in red and as a
notification; a failed or cancelled job adds nothing):

* **Align**: :func:`~napari_medai.core.tasks.alzheimer.registration.register_to_template` -> the aligned T1
  (grey) over the template (magenta, additive: white where they agree) and the template brain's outline;
  the correlation inside the template's brain before and after; a refused fit shows its reason.
* **Landmarks**: :func:`~napari_medai.core.tasks.alzheimer.landmarks.discover_landmarks` on a cohort folder
  and its labels CSV (or the open sample cohort written to a folder the user picks) -> the -log10 p map and
  the landmarks numbered by rank; L and the minimum distance are settable.
* **Predict**: the classifier's ``predict_alzheimer`` -> P(AD) with its threshold and decision (an untrained
  model shows no probability), the landmarks coloured by their contribution and a saliency layer.
* **Evaluate**: the classifier's ``evaluate_alzheimer`` -> the ROC curve, AUC with its DeLong 95 % CI, and
  accuracy / sensitivity / specificity at a threshold the user moves (the evaluation's ``at_threshold``).

The sentence that this is a research tool, not a diagnosis, stays at the top of the dock.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from qtpy.QtCore import QTimer
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import QComboBox, QFileDialog, QFormLayout, QShortcut, QWidget

from ...core.errors import InvalidInputError, MedaiError
from .._jobs import JobRunner
from .._widgets import (
    CurrentPageTabWidget,
    process_events_until,
    scroll_column,
    watch_layer_names,
    wrapped,
)
from ..layers import layer_to_volume
from . import result_layers as rl
from . import words
from .inputs import (
    PathRow,
    default_template_path,
    describe_model_folder,
    open_cohort,
    t1_choices,
    write_cohort,
)
from .pages import AlignPage, EvaluatePage, LandmarkPage, PredictPage
from .pages import say as _say

if TYPE_CHECKING:
    import napari


class AlzheimerWidget(QWidget):
    """Align a T1 to MNI152, discover landmarks, predict and evaluate (see the module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.registration: Any = None  # RegistrationResult of the last Align
        self.landmarks: Any = None  # LandmarkResult of the last Find landmarks
        self.prediction: Any = None  # AlzheimerPrediction of the last Predict
        self.evaluation: Any = None  # AlzheimerEvaluation of the last Evaluate

        self.jobs = JobRunner("Choose a T1 layer and a tab's action; every long step runs in the background.")
        from ...core.tasks.alzheimer.model import DISCLAIMER

        self.disclaimer = wrapped(DISCLAIMER)
        self.disclaimer.setStyleSheet("color: #ffb347; font-weight: bold;")
        self.t1_combo = QComboBox()
        self.t1_combo.setPlaceholderText("choose a T1 layer")
        self.t1_combo.setToolTip(words.TIPS["t1"])
        self.template = PathRow("Template…", "MNI152 template (mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz)",
                                kind="file", placeholder="the MNI152 2009a T1 template", tip=words.TIPS["template"])
        self.template.set_text(default_template_path(), emit=False)
        self.align_page, self.landmark_page = AlignPage(), LandmarkPage()
        self.predict_page, self.evaluate_page = PredictPage(), EvaluatePage()
        self.tabs = CurrentPageTabWidget()
        for page, title in ((self.align_page, "Align"), (self.landmark_page, "Landmarks"),
                            (self.predict_page, "Predict"), (self.evaluate_page, "Evaluate")):
            self.tabs.addTab(page, title)
        self._build()

        watch_layer_names(self, viewer, self.refresh_layers)
        self.refresh_layers()
        self.align_page.align_button.clicked.connect(self.align)
        lp = self.landmark_page
        lp.write_button.clicked.connect(self.write_cohort)
        lp.cohort.changed.connect(self._cohort_chosen)
        lp.find_button.clicked.connect(self.find_landmarks)
        lp.table.cellClicked.connect(lambda row, _col: self.go_to_landmark(row))
        self.predict_page.model.changed.connect(lambda p: self._model_chosen(p, self.evaluate_page.model))
        self.evaluate_page.model.changed.connect(lambda p: self._model_chosen(p, self.predict_page.model))
        self.predict_page.predict_button.clicked.connect(self.predict)
        ep = self.evaluate_page
        ep.cohort.changed.connect(lambda p: self._fill_labels(p, ep.labels))
        ep.evaluate_button.clicked.connect(self.evaluate)
        ep.slider.valueChanged.connect(lambda v: ep.threshold_spin.setValue(v / 100.0))
        ep.threshold_spin.valueChanged.connect(self.set_threshold)
        self.jobs.add_run_buttons(self.align_page.align_button, lp.find_button, lp.write_button,
                                  self.predict_page.predict_button, ep.evaluate_button)
        QShortcut(QKeySequence(words.RUN_SHORTCUT), self).activated.connect(self.run_shown_tab)
        self._model_chosen("", None)

    def _build(self) -> None:
        top = QFormLayout()
        top.addRow("T1", self.t1_combo)
        top.addRow("template", self.template)
        self._scroll = scroll_column(self, self.disclaimer, top, self.tabs, self.jobs)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        QTimer.singleShot(0, self._scroll.updateGeometry)  # napari's theme, applied now, widens some fields

    # ------------------------------------------------------------------ inputs
    def refresh_layers(self, *_: Any) -> None:
        """Offer the open T1 candidates (:func:`.inputs.t1_choices`); keep the choice while its layer is open."""
        names, current = t1_choices(self.viewer, self.t1_combo.currentText())
        self.t1_combo.blockSignals(True)
        self.t1_combo.clear()
        self.t1_combo.addItems(names)
        self.t1_combo.setCurrentIndex(names.index(current) if current in names else -1)
        self.t1_combo.blockSignals(False)

    def t1_volume(self) -> tuple[str, Any]:
        """The chosen T1 layer's name and Volume; raises InvalidInputError saying what to choose."""
        name = self.t1_combo.currentText()
        if not name or name not in self.viewer.layers:
            raise InvalidInputError("choose a T1 layer in 'T1' (open one with File > Open)")
        try:
            return name, layer_to_volume(self.viewer.layers[name])
        except ValueError as exc:
            raise InvalidInputError(f"layer '{name}': {exc}; choose a 3-D T1 image") from exc

    def template_path(self) -> str:
        path = self.template.text()
        if not path:
            raise InvalidInputError("choose the MNI152 template in 'template' (mni_icbm152_t1_tal_nlin_sym_09a_"
                                    "converted.nii.gz; nilearn's wheel ships it)")
        return path

    def _cohort_chosen(self, path: str) -> None:
        self._fill_labels(path, self.landmark_page.labels)

    @staticmethod
    def _fill_labels(folder: str, row: PathRow) -> None:
        """A cohort folder holding labels.csv fills an empty labels row."""
        cand = Path(folder).expanduser() / "labels.csv" if folder else None
        if cand is not None and cand.is_file() and not row.text():
            row.set_text(str(cand))

    def use_model_folder(self, path: str) -> None:
        """Choose the model in ``path`` for Predict and Evaluate and show Predict (the training widget's hand-over)."""
        self.predict_page.model.set_text(path, emit=False)
        self.evaluate_page.model.set_text(path, emit=False)
        self._model_chosen(path, None)
        self.tabs.setCurrentWidget(self.predict_page)

    def _model_chosen(self, path: str, other: PathRow | None) -> None:
        info = describe_model_folder(path or self.predict_page.model.text())
        _say(self.predict_page.model_info, info.text, error=info.error)
        if path and other is not None and not other.text():
            other.set_text(path)

    # ------------------------------------------------------------------ running
    @property
    def busy(self) -> bool:
        return self.jobs.busy

    def wait_idle(self, timeout_s: float = 300.0) -> bool:
        """Process events until no job runs (tests, scripts); False when the time is up."""
        return process_events_until(lambda: not self.busy, timeout_s)

    def run_shown_tab(self) -> None:
        """The shortcut: the shown tab's action, when it can start."""
        button = {0: self.align_page.align_button, 1: self.landmark_page.find_button,
                  2: self.predict_page.predict_button, 3: self.evaluate_page.evaluate_button}[self.tabs.currentIndex()]
        if button.isEnabled():
            button.click()

    def _refuse(self, exc: MedaiError) -> bool:
        return self.jobs.refuse(words.reworded(exc))

    def _core(self, fn: Any) -> Any:
        """``fn`` for the worker thread: core errors in the widget's words."""
        def work() -> Any:
            try:
                return fn()
            except MedaiError as exc:
                raise words.reworded(exc) from exc
        return work

    # ------------------------------------------------------------------ Align
    def align(self) -> bool:
        """Register the chosen T1 to the template off the GUI thread."""
        try:
            name, vol = self.t1_volume()
            template = self.template_path()
        except MedaiError as exc:
            return self._refuse(exc)
        spacing = self.align_page.grid_combo.currentData()
        jobs = self.jobs

        def work() -> Any:
            from ...core.tasks.alzheimer.registration import (
                coarse_template,
                load_template,
                register_to_template,
            )

            tpl = load_template(template)
            if spacing is not None and float(spacing) > min(tpl.image.spacing) + 1e-6:
                tpl = coarse_template(tpl, float(spacing))
            return register_to_template(vol, tpl, progress=jobs.progress_callback), tpl

        _say(self.align_page.info, "")
        return jobs.start(self._core(work), lambda value: self._show_alignment(name, *value),
                          f"registering '{name}' to MNI152…", on_error=self._alignment_failed)

    def _show_alignment(self, name: str, result: Any, tpl: Any) -> Any:
        self.registration = result
        _say(self.align_page.info, words.registration_text(result.metrics))
        self.jobs.set_status(f"'{name}' aligned to MNI152: {rl.aligned_name(name)} over {words.TEMPLATE}.")
        rl.add_template(self.viewer, tpl)
        yield  # each new layer holds the GUI thread: one per event-loop turn
        rl.add_template_brain(self.viewer, tpl)
        yield
        rl.add_aligned(self.viewer, result.aligned, name)

    def _alignment_failed(self, exc: BaseException) -> None:
        metrics = getattr(exc, "metrics", None)
        if metrics:
            _say(self.align_page.info, words.registration_text(metrics), error=True)

    # ------------------------------------------------------------------ Landmarks
    def write_cohort(self) -> bool:
        """Ask for a new or empty folder and write the open subject layers there as a cohort."""
        path = QFileDialog.getExistingDirectory(self, "New or empty folder for the open cohort")
        if not path:
            return False
        try:
            subjects = open_cohort(self.viewer)  # the layers are read here, the files written off the GUI thread
        except MedaiError as exc:
            return self._refuse(exc)
        return self.jobs.start(lambda: write_cohort(subjects, path), self._cohort_written,
                               f"writing {len(subjects)} subjects to {path}…")

    def _cohort_written(self, cohort: Any) -> None:
        lp = self.landmark_page
        lp.cohort.set_text(str(cohort.folder), emit=False)
        lp.labels.set_text(str(cohort.labels_csv), emit=False)
        lp.align_combo.setCurrentIndex([v for _t, v in words.ALIGN_CHOICES].index("skip"))
        _say(lp.info, f"Wrote {cohort.n_ad} AD and {cohort.n_nc} NC subjects to {cohort.folder}. They share one "
                      "grid, so 'already aligned' is chosen (each subject keeps its small pose).")
        self.jobs.set_status(f"Cohort written to {cohort.folder}")

    def find_landmarks(self) -> bool:
        """Align the cohort, compare AD with NC and select the landmarks, off the GUI thread."""
        lp = self.landmark_page
        cohort, labels = lp.cohort.text(), lp.labels.text()
        align = lp.align_combo.currentData()
        if not cohort or not labels:
            return self._refuse(InvalidInputError("choose the 'cohort folder' and its 'labels CSV' (or write the "
                                                  "open sample cohort to a folder)"))
        try:
            template = self.template_path() if align != "skip" else (self.template.text() or None)
        except MedaiError as exc:
            return self._refuse(exc)
        n, distance = lp.n_spin.value(), lp.distance_spin.value()
        jobs = self.jobs

        def work() -> Any:
            from ...core.tasks.alzheimer.landmarks import discover_landmarks

            return discover_landmarks(cohort, labels, template=template, n=n, min_distance_mm=distance, align=align,
                                      progress=jobs.progress_callback, should_stop=jobs.cancelled)

        _say(lp.info, "")
        return jobs.start(self._core(work), lambda r: self._show_landmarks(r, n), "finding landmarks…")

    def _show_landmarks(self, result: Any, asked: int) -> Any:
        self.landmarks = result
        self.landmark_page.show_landmarks(result, asked)
        self.jobs.set_status(f"{len(result.landmarks)} landmarks: layers '{words.P_MAP}' and '{words.LANDMARKS}'.")
        rl.add_p_map(self.viewer, result)
        yield
        rl.add_landmarks(self.viewer, result)
        yield  # moving the sliders re-slices every layer: a turn of its own
        self.go_to_landmark(0)

    def go_to_landmark(self, row: int) -> None:
        """Show landmark ``row`` (rank ``row + 1``): its slice, centred (a click on its table row)."""
        lms = self.landmarks.landmarks if self.landmarks is not None else []
        if 0 <= row < len(lms) and words.P_MAP in self.viewer.layers:
            layer = self.viewer.layers[words.P_MAP]
            rl.go_to_world(self.viewer, layer, layer.data_to_world(lms[row].index))

    # ------------------------------------------------------------------ Predict
    def predict(self) -> bool:
        """P(AD) of the chosen T1 with the chosen model, off the GUI thread."""
        pp = self.predict_page
        folder = pp.model.text()
        info = describe_model_folder(folder)
        try:
            name, vol = self.t1_volume()
            if not info.usable:
                raise InvalidInputError(info.text)
        except MedaiError as exc:
            return self._refuse(exc)
        aligned = pp.aligned_check.isChecked()
        template = self.template.text() or None  # None: nilearn's copy
        jobs = self.jobs

        def work() -> Any:
            from ...core.tasks.alzheimer.predict import predict_alzheimer

            return predict_alzheimer(folder, vol, already_aligned=aligned, template=template,
                                     progress=jobs.progress_callback, should_stop=jobs.cancelled)

        pp.clear()
        return jobs.start(self._core(work), lambda p: self._show_prediction(p, name, aligned),
                          f"predicting '{name}'…")

    def _show_prediction(self, pred: Any, name: str, aligned: bool) -> Any:
        self.prediction = pred
        headline = self.predict_page.show_prediction(pred)
        self.disclaimer.setText(pred.disclaimer)
        self.jobs.set_status(headline, error=not pred.trained)
        if not aligned:
            rl.add_aligned(self.viewer, pred.aligned_t1, name)
            yield
        if pred.trained:  # an untrained model's saliency and contributions mean nothing
            layer = rl.add_saliency(self.viewer, pred)
            yield
            if rl.add_contributions(self.viewer, pred) is not None:  # the slice of the strongest landmark
                yield
                strongest = int(np.argmax(np.abs(np.nan_to_num(pred.contributions))))
                rl.go_to_world(self.viewer, layer, np.asarray(pred.landmarks_mm)[strongest])

    # ------------------------------------------------------------------ Evaluate
    def evaluate(self) -> bool:
        """Predict every subject of the test cohort and show the ROC curve, off the GUI thread."""
        ep = self.evaluate_page
        cohort, labels, folder = ep.cohort.text(), ep.labels.text(), ep.model.text()
        info = describe_model_folder(folder)
        if not cohort or not labels:
            return self._refuse(InvalidInputError("choose the 'test cohort' folder and its 'labels CSV'"))
        if not info.usable:
            return self._refuse(InvalidInputError(info.text))
        align = ep.align_combo.currentData()
        try:
            template = self.template_path() if align != "skip" else (self.template.text() or None)
        except MedaiError as exc:
            return self._refuse(exc)
        jobs = self.jobs

        def work() -> Any:
            from ...core.tasks.alzheimer.evaluate import evaluate_alzheimer

            return evaluate_alzheimer(folder, cohort, labels, template=template, align=align,
                                      progress=jobs.progress_callback, should_stop=jobs.cancelled)

        return jobs.start(self._core(work), self._show_evaluation, "evaluating the model on the cohort…")

    def _show_evaluation(self, ev: Any) -> None:
        self.evaluation = ev
        ep = self.evaluate_page
        self.jobs.set_status(ep.show_evaluation(ev))
        if abs(ep.threshold_spin.value() - float(ev.threshold)) > 1e-9:
            ep.threshold_spin.setValue(float(ev.threshold))  # -> set_threshold
        else:
            self.set_threshold(float(ev.threshold))

    def set_threshold(self, threshold: float) -> None:
        """Accuracy, sensitivity and specificity at ``threshold`` (the evaluation's own function), at once."""
        figures = None if self.evaluation is None else self.evaluation.at_threshold(float(threshold))
        self.evaluate_page.show_threshold(float(threshold), figures)


__all__ = ["AlzheimerWidget"]
