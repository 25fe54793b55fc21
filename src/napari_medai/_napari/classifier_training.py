"""The training widget for classifiers: 2-D images on class folders, and Alzheimer's disease on a T1 cohort.

Both are :class:`~napari_medai._napari.training_widget.BrainTumourTrainingWidget` with another data
description, other training arguments and a validation-AUC curve; a finished model is handed to the widget
that runs it (:class:`ClassifierTrainingWidget` holds what the two share).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import QComboBox, QFileDialog, QFormLayout, QLineEdit, QPushButton, QWidget

from ..core.errors import InvalidInputError, MedaiError
from ._widgets import error_text, field_row
from .training_widget import BrainTumourTrainingWidget

if TYPE_CHECKING:
    import napari

#: The Plugins menu's widget that runs a trained 2-D classifier.
CLASSIFY_WIDGET_NAME = "Classify image"
#: The Plugins menu's widget that runs a trained Alzheimer classifier.
ALZHEIMER_WIDGET_NAME = "Alzheimer's disease (T1 MRI)"


class ClassifierTrainingWidget(BrainTumourTrainingWidget):
    """What the classifier trainers share: the task choice reduced to one, the validation AUC on the plot,
    the summary of a finished run and the hand-over of the model to the widget that runs it."""

    #: Plugins menu name of the widget the trained model goes to, its method that takes a model folder, and
    #: the status shown after the hand-over ("{folder}" is the model folder).
    HAND_OVER: tuple[str, str, str] = ("", "", "")

    def _only_task(self, task: str, text: str) -> None:
        self.task = task
        self.task_combo.blockSignals(True)  # this widget trains one kind of model only
        self.task_combo.clear()
        self.task_combo.addItem(text)
        self.task_combo.blockSignals(False)

    def run_summary(self, r: Any) -> tuple[str, str]:
        """(HTML summary, status line) of a finished run."""
        raise NotImplementedError

    def _on_metrics(self, m: dict[str, Any]) -> None:
        super()._on_metrics(m)  # the loss per step and per epoch
        if m["kind"] == "epoch":
            self.plot.add_point("val AUC", m["epoch"], m.get("val_auc"), right=True, color="#d62728")

    def _done(self, r: Any) -> None:
        self.result = r
        self.plot.fit()
        self.use_button.setEnabled(True)
        self._propose_out_folder()  # the next run goes into a fresh folder
        self.show_summary(*self.run_summary(r))

    def use_in_segmentation(self) -> Any:
        """Open the widget that runs the model (its Plugins menu entry; the open one if any) with it chosen."""
        if self.result is None:
            self.jobs.refuse(InvalidInputError("Train a model first."))
            return None
        name, setter, status = self.HAND_OVER
        dock, widget = self.viewer.window.add_plugin_dock_widget("napari-medai", name, tabify=True)
        dock.show()
        dock.raise_()
        getattr(widget, setter)(str(self.result.out_dir))
        self.segmentation_widget = widget
        self.jobs.set_status(status.format(folder=self.result.out_dir))
        return widget


class ClassifyTrainingWidget(ClassifierTrainingWidget):
    """The training widget for 2-D image classification on class folders (Plugins > napari-medai > Image
    classification training): :func:`~napari_medai.core.tasks.classify.train_classify` with the network, the
    input size and optionally a model to start from (transfer learning); the model goes to Classify image."""

    HAND_OVER = (CLASSIFY_WIDGET_NAME, "set_model_folder", "Chosen in Classify image: {folder}")

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        from ..core.tasks.classify import ARCHITECTURES, DEFAULTS
        from .classify.training_words import TASK_TEXT, TIPS

        super().__init__(viewer, parent)
        self._only_task("classify", TASK_TEXT)
        self.data_edit.setPlaceholderText("folder with one sub-folder per class")
        self.data_edit.setToolTip(TIPS["data"])
        self.cases_info.setText("Choose the folder of your labelled images: one sub-folder per class.")
        self.network_combo.clear()
        self.network_combo.addItems(list(ARCHITECTURES))
        self.network_combo.setToolTip(TIPS["network"])
        self.init_edit = QLineEdit()
        self.init_edit.setPlaceholderText("random weights, or a model folder / state_dict file")
        self.init_edit.setToolTip(TIPS["init"])
        self.init_browse = QPushButton("Start from…")
        self.init_browse.clicked.connect(self._browse_init)
        self.finetune_combo = QComboBox()
        self.finetune_combo.addItems(["all layers", "head only"])
        self.finetune_combo.setToolTip(TIPS["finetune"])
        self._top.insertRow(3, "start from", field_row(self.init_edit, self.init_browse))
        self._top.insertRow(4, "fine-tune", self.finetune_combo)
        for row in (self.channels_row, self.convention_combo):
            self._top.setRowVisible(row, False)
        self._top.setRowVisible(self.network_combo, True)
        r = self.recipe
        r.set_defaults({**DEFAULTS, "patch_size": (DEFAULTS["size"],)})
        r.patch_spin.setRange(32, 1024)
        r.patch_spin.setSingleStep(32)
        r.patch_spin.setToolTip(TIPS["size"])
        for form in r.advanced.findChildren(QFormLayout):
            if form.indexOf(r.patch_spin) >= 0:
                form.labelForField(r.patch_spin).setText("image size")
            for hidden in (r.window_spin, r.spacing_spin, r.filters_spin, r.steps_spin):
                if form.indexOf(hidden) >= 0:
                    form.setRowVisible(hidden, False)
        r.advanced_check.setText("advanced: image size, batch")
        r.val_spin.setToolTip("Fraction of the training images held out (by group) to pick the best epoch by AUC.")
        self.plot.set_axis_labels(y2label="validation AUC")
        self.use_button.setText("Use in Classify image")
        self.jobs.set_status("Choose the folder of your labelled images (one sub-folder per class), then press Train.")
        self._propose_out_folder()

    def _browse_init(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model folder to start from (same network)")
        if path:
            self.init_edit.setText(path)

    def scan_data_folder(self) -> bool:
        """List the classes of the data folder and their image counts (per split when it has train/ val/ test/)."""
        from ..core.tasks.classify import find_class_folders
        from .classify.training_words import dataset_rows

        folder = self._start_scan()
        if not folder:
            return self._scan_result("Choose the folder of your labelled images.", ok=False)
        try:
            ds = find_class_folders(folder)
        except (MedaiError, OSError) as exc:
            return self._scan_result(error_text(exc), ok=False)
        self.cases = list(ds.items)
        self.case_list.addItems(dataset_rows(ds))
        return self._scan_result(ds.describe(), ok=True)

    def training_arguments(self) -> dict[str, Any]:
        """Keyword arguments of :func:`~napari_medai.core.tasks.classify.train_classify` (and ``cases``, the
        images found) from the widget; raises :class:`InvalidInputError` saying what to fix."""
        if self.data_edit.text().strip() != self._scanned:
            self.scan_data_folder()
        if self._scan_error or not self.cases:
            raise InvalidInputError(f"Nothing to train on: {self._scan_error or 'choose the data folder first.'}")
        out_text = self.out_edit.text().strip()
        if not out_text:
            raise InvalidInputError("Choose the model folder to write (a new or empty folder).")
        init = self.init_edit.text().strip()
        head = self.finetune_combo.currentIndex() == 1
        if head and not init:
            raise InvalidInputError("'head only' trains the last layer of a model you start from: choose it in "
                                    "'start from', or fine-tune all layers.")
        r = self.recipe.arguments()
        args = {"data_dir": self.data_edit.text().strip(), "out_dir": Path(out_text).expanduser(),
                "cases": list(self.cases), "arch": self.network_combo.currentText(), "size": r["patch_size"][0],
                "init_from": Path(init).expanduser() if init else None, "finetune": "head" if head else "all",
                "resume": self.resume_check.isChecked(), "batch_size": r["batch_size"],
                **{k: r[k] for k in ("seed", "max_epochs", "device", "patience", "val_fraction", "time_limit_s")}}
        if "num_threads" in r:
            args["num_threads"] = r["num_threads"]
        return args

    def train_function(self) -> Any:
        """:func:`~napari_medai.core.tasks.classify.train_classify` (the images found are only counted here)."""
        from ..core.tasks.classify import train_classify

        def train(*, cases: Any, **kwargs: Any) -> Any:
            return train_classify(**kwargs)

        return train

    def run_summary(self, r: Any) -> tuple[str, str]:
        from .classify.training_words import classifier_summary

        return classifier_summary(r, self._last_step)


class AlzheimerTrainingWidget(ClassifierTrainingWidget):
    """The training widget for Alzheimer's disease on a labelled T1 cohort (Plugins > napari-medai > Alzheimer
    training): :func:`~napari_medai.core.tasks.alzheimer.train.train_alzheimer` with the labels CSV, the
    model kind, L and the minimum distance (rows and words in :mod:`napari_medai._napari.alzheimer.training`);
    the model goes to the Alzheimer widget."""

    HAND_OVER = (ALZHEIMER_WIDGET_NAME, "use_model_folder",
                 "Chosen in the Alzheimer widget (Predict and Evaluate): {folder}")

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        from .alzheimer.training import TASK, TASK_TEXT, AlzheimerTraining

        super().__init__(viewer, parent)
        self._only_task(TASK, TASK_TEXT)
        self.alzheimer = AlzheimerTraining(self)
        self.cases_info.setText("Choose the cohort folder (t1/<subject>.nii.gz) and its labels CSV.")
        self.jobs.set_status("Choose the cohort folder and its labels CSV, then press Train.")
        self._propose_out_folder()

    def scan_data_folder(self) -> bool:
        """Describe the cohort in one line (the core's describe_alzheimer_cohort)."""
        folder = self._start_scan()
        if not folder:
            return self._scan_result("Choose the cohort folder (t1/<subject>.nii.gz).", ok=False)
        text, ok = self.alzheimer.describe(folder)
        return self._scan_result(text, ok=ok)

    def training_arguments(self) -> dict[str, Any]:
        """train_alzheimer's arguments (and ``cases``, the subjects found); raises InvalidInputError saying what to fix."""
        return self.alzheimer.arguments()

    def train_function(self) -> Any:
        return self.alzheimer.train

    def run_summary(self, r: Any) -> tuple[str, str]:
        return self.alzheimer.summary(r)


__all__ = ["ALZHEIMER_WIDGET_NAME", "CLASSIFY_WIDGET_NAME", "AlzheimerTrainingWidget", "ClassifierTrainingWidget",
           "ClassifyTrainingWidget"]
