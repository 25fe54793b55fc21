"""The Alzheimer task of the shared training widget (Plugins > napari-medai > Alzheimer training).

The training widget's Alzheimer subclass (:class:`napari_medai._napari.classifier_training.AlzheimerTrainingWidget`)
keeps its data folder (here the cohort folder), model folder, recipe, job runner and live plot; this module
adds the rows only this task has (the
labels CSV, the MNI152 template, the model kind, L, the minimum distance, the alignment), describes the
cohort with the core's :func:`~napari_medai.core.tasks.alzheimer.subjects.describe_alzheimer_cohort`,
turns the widget's settings into :func:`~napari_medai.core.tasks.alzheimer.train.train_alzheimer`'s
arguments, and words a finished run. The core does everything else (the split by source scan, the
landmarks found on the training subjects only, the one training loop).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import QComboBox, QFormLayout

from ...core.errors import InvalidInputError, MedaiError
from .._widgets import error_text, fit_spin_text, int_spin, spin
from .inputs import PathRow, default_template_path
from .words import ALIGN_CHOICES, TIPS, gui_words

#: The task's name in the training widget (model folder names) and its text in the task row.
TASK = "alzheimer"
TASK_TEXT = "Alzheimer's disease (labelled T1 cohort)"
#: The recipe the widget shows for this task (train_alzheimer's defaults).
RECIPE = {"max_epochs": 30, "patience": 10, "val_fraction": 0.25, "batch_size": 8, "iterations_per_epoch": 10,
          "patch_size": (24, 24, 24), "time_limit_s": None}
#: Model kinds offered: (shown text, ``model`` of train_alzheimer).
MODELS = (("landmark patches (Liu et al. 2018)", "landmarks"), ("whole brain (baseline CNN)", "whole-brain"))


class AlzheimerTraining:
    """The Alzheimer rows of one training widget and what the task does differently (see module docstring)."""

    def __init__(self, widget: Any) -> None:
        self.widget = widget
        self.labels = PathRow("CSV…", "Labels CSV (subject, diagnosis, source)", kind="csv",
                              placeholder="labels.csv of the cohort", tip=TIPS["labels"] + "; a 'source' column "
                              "keeps the subjects made from one real scan on one side of the split")
        self.template = PathRow("Template…", "MNI152 template", kind="file", placeholder="the MNI152 2009a T1 template",
                                tip=TIPS["template"])
        self.template.set_text(default_template_path(), emit=False)
        self.model_combo = QComboBox()
        for text, value in MODELS:
            self.model_combo.addItem(text, value)
        self.model_combo.setToolTip("One patch per landmark into a shared 3-D CNN with a landmark embedding, or the "
                                    "whole aligned brain at 4 mm into a small DenseNet (the paper's comparison)")
        self.n_spin = int_spin(1, 500, 50, TIPS["n"])
        self.distance_spin = spin(0.0, 200.0, 15.0, decimals=1, step=1.0, suffix=" mm", tip=TIPS["distance"])
        fit_spin_text(self.distance_spin)
        self.align_combo = QComboBox()
        for text, value in ALIGN_CHOICES:
            self.align_combo.addItem(text, value)
        self.align_combo.setToolTip(TIPS["alignment"])
        form: QFormLayout = widget._top
        self.rows = [("labels CSV", self.labels), ("template", self.template), ("model kind", self.model_combo),
                     ("landmarks L", self.n_spin), ("min distance", self.distance_spin),
                     ("alignment", self.align_combo)]
        for i, (label, field) in enumerate(self.rows):
            form.insertRow(i, label, field)
        for field in (widget.channels_row, widget.convention_combo, widget.network_combo):
            form.setRowVisible(field, False)  # segmentation's rows
        r = widget.recipe
        r.set_defaults(RECIPE)
        for hidden in (r.window_spin, r.spacing_spin, r.filters_spin):  # segmentation's settings
            for sub in r.advanced.findChildren(QFormLayout):
                if sub.indexOf(hidden) >= 0:
                    sub.setRowVisible(hidden, False)
        r.patch_spin.setToolTip("Edge of the patch cut around each landmark, in voxels of the 2 mm MNI grid")
        r.advanced_check.setText("advanced: patch, steps, batch")  # no network rows for this task
        widget.data_edit.setPlaceholderText("cohort folder (t1/<subject>.nii.gz)")
        widget.use_button.setText("Use in the Alzheimer widget")
        widget.plot.set_axis_labels(y2label="validation AUC")
        self.labels.changed.connect(lambda _p: widget.scan_data_folder())
        self.model_combo.currentIndexChanged.connect(lambda _i: self._model_changed())
        self._model_changed()

    # ------------------------------------------------------------------ task
    def _model_changed(self) -> None:
        landmarks = self.model_combo.currentData() == "landmarks"
        for field in (self.n_spin, self.distance_spin):
            self.widget._top.setRowVisible(field, landmarks)

    def describe(self, folder: str) -> tuple[str, bool]:
        """The cohort in one line (the core's words), and whether it can be trained on."""
        from ...core.tasks.alzheimer.subjects import describe_alzheimer_cohort

        labels = self.labels.text()
        if not labels and (Path(folder).expanduser() / "labels.csv").is_file():
            labels = str(Path(folder).expanduser() / "labels.csv")
            self.labels.set_text(labels, emit=False)
        if not labels:
            return "Choose the cohort's labels CSV (subject, diagnosis and, ideally, source).", False
        try:
            return describe_alzheimer_cohort(folder, labels), True
        except (MedaiError, OSError) as exc:
            return gui_words(error_text(exc)), False

    # ------------------------------------------------------------------ training
    def arguments(self) -> dict[str, Any]:
        """train_alzheimer's arguments from the widget (plus ``cases``, ``resume`` for the widget's own use)."""
        from ...core.tasks.alzheimer.landmarks import read_cohort

        w = self.widget
        folder, labels, out = w.data_edit.text().strip(), self.labels.text(), w.out_edit.text().strip()
        if not folder or not labels:
            raise InvalidInputError("Choose the cohort folder ('cases') and its 'labels CSV'.")
        if not out:
            raise InvalidInputError("Choose the model folder to write (a new or empty folder).")
        align = self.align_combo.currentData()
        template = self.template.text() or None
        if align != "skip" and template is None:
            raise InvalidInputError("Choose the MNI152 template in 'template' (the cohort is registered to it).")
        r = w.recipe.arguments()
        if not 0.0 < r["val_fraction"] < 1.0:
            raise InvalidInputError("Set 'validation' above 0: the validation subjects pick the best epoch.")
        try:
            subjects = read_cohort(folder, labels)
        except MedaiError as exc:
            raise InvalidInputError(gui_words(str(exc))) from exc
        args = {"cohort_dir": folder, "labels_csv": labels, "out_dir": Path(out).expanduser(), "cases": subjects,
                "model": self.model_combo.currentData(), "n_landmarks": self.n_spin.value(),
                "min_distance_mm": self.distance_spin.value(), "patch": int(r["patch_size"][0]), "align": align,
                "template": template, "resume": w.resume_check.isChecked(),
                **{k: r[k] for k in ("seed", "max_epochs", "device", "patience", "val_fraction", "time_limit_s",
                                     "batch_size")},
                "steps_per_epoch": r["iterations_per_epoch"]}
        if "num_threads" in r:
            args["num_threads"] = r["num_threads"]
        return args

    @staticmethod
    def train(*, cases: Any, stop_training: Any = None, should_stop: Any = None, **kwargs: Any) -> Any:
        """train_alzheimer with the widget's arguments (worker thread). ``cases`` were only counted; Stop
        ends the run as Cancel does (the classifier loop has no partial model)."""
        from ...core.tasks.alzheimer.train import train_alzheimer

        def stop() -> bool:
            return bool((should_stop is not None and should_stop()) or (stop_training is not None and stop_training()))

        return train_alzheimer(**kwargs, should_stop=stop)

    @staticmethod
    def summary(r: Any) -> tuple[str, str]:
        """The summary (HTML) and status line of a finished ClassifierTrainingResult."""
        from ..training_text import CLASSIFIER_STOP_REASONS, finished_summary

        val = r.best_validation or {}
        best = (f"validation AUC {val['auc']:.3f}, accuracy {val.get('accuracy', float('nan')):.3f}"
                if val.get("auc") is not None else f"{r.monitor} {r.best_metric:.4f}")
        return finished_summary(r, best, reasons=CLASSIFIER_STOP_REASONS, unit="subject(s), split by source scan")


__all__ = ["MODELS", "RECIPE", "TASK", "AlzheimerTraining"]
