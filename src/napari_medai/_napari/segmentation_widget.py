"""Run a segmentation model on open image layers (brain tumour today; any task's model tomorrow).

The widget asks for exactly the input channels the chosen model declares and fills a channel only with an
image named like it (:mod:`napari_medai.core.model_inputs`); one image in two channels is an error shown
before Segment. Models load and segment off the GUI thread through the shared
:class:`~napari_medai._napari._jobs.JobRunner`.

A task with a whole inference pipeline (:data:`TASK_PIPELINES`: brain tumour) runs that pipeline's
``segment``, with the options its command line has and the defaults its cross-validation chose
(``DEFAULT_INFERENCE``: test-time augmentation on, small tumour components dropped), so the widget shows the
labels and volumes ``napari-medai brain-tumour`` writes for the same model and images; any other task runs
the engine's :func:`~napari_medai.core.inference.segmentation.predict`.

The result is a Labels layer marked as a prediction (with its label convention), its region volumes, whether
the input is like the model's training cases (one line, the numbers in its tooltip: :mod:`napari_medai.core.ood`),
a colour key and "Save segmentation…"; the status line says what post-processing ran. When a ground-truth Labels
layer is open, the agreement panel (opened through the Plugins menu's entry) compares the pair.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QTimer
from qtpy.QtGui import QKeySequence
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QPushButton,
    QShortcut,
    QWidget,
)

from ..core.errors import InvalidInputError, MedaiError
from ..core.model_inputs import (
    declared_contract,
)
from ..core.models import REGISTRY
from ..core.models.registry import DEFAULT_BRAIN_MODEL
from ..core.tasks import brain_tumour
from ._jobs import JobRunner
from ._widgets import (
    RED,
    LabelLegend,
    device_combo,
    field_row,
    process_events_until,
    save_labels_dialog,
    scroll_column,
    wrapped,
)
from .channel_rows import ChannelRows
from .layers import META_KEY, layer_to_volume
from .prediction_layers import compare_with_ground_truth, prediction_layers

if TYPE_CHECKING:
    import napari

#: The keys that run Segment (not used by napari itself).
SEGMENT_SHORTCUT = "Ctrl+Shift+B"


@dataclass(frozen=True)
class TaskPipeline:
    """A task's own inference: its ``segment`` function and the defaults of its options.

    Attributes
    ----------
    segment
        ``segment(channels, *, model, device, tta, uncertainty, return_probabilities, min_component_fraction,
        progress, should_stop) -> Prediction``: prediction and post-processing, as the task's command runs it.
    defaults
        ``{"tta": bool, "min_component_fraction": float}``: the settings chosen by the task's cross-validation
        (the task module's ``DEFAULT_INFERENCE``), which the widget's check boxes start from.
    """

    segment: Callable[..., Any]
    defaults: Mapping[str, Any]


#: Tasks that run their own pipeline rather than the engine's bare ``predict`` (see the module docstring).
TASK_PIPELINES: dict[str, TaskPipeline] = {
    "brain_tumour": TaskPipeline(brain_tumour.segment, brain_tumour.DEFAULT_INFERENCE),
}


def offline_bundle_hint(name: str, bundle: str) -> str:
    """One line: a zoo bundle that could not be downloaded, and how to get it to this machine."""
    return (f"{name} is not downloaded and cannot be downloaded here (no internet, or huggingface_hub is not "
            f"installed): download the bundle on a machine with internet (python -c \"import monai; "
            f"monai.bundle.download(name='{bundle}', bundle_dir='DIR')\") and choose the folder DIR/{bundle} "
            "with 'Model folder…'")


class SegmentationWidget(QWidget):
    """Segment the open images with a model of one task (see module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, *, task: str = "brain_tumour",
                 convention: str = "brats2021", default_model: str = DEFAULT_BRAIN_MODEL,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.task = task
        self.convention = convention
        self.model: Any = None  # LoadedModel of `model_source` once loaded
        self.model_source = ""
        self.prediction: Any = None
        self.output_layer: Any = None
        self.agreement: Any = None
        self._pending_load = False
        self.pipeline = TASK_PIPELINES.get(task)  # None: the engine's predict, no post-processing

        self.jobs = JobRunner("Choose a model, then an image for each of its channels.")
        self.status = self.jobs.status
        self.model_combo = QComboBox()
        names = [n for n, e in REGISTRY.items() if e.task == task]
        self.model_combo.addItems(sorted(names, key=lambda n: n != default_model))
        self.model_combo.setToolTip("Registry models of this task, and model folders you chose")
        self.folder_button = QPushButton("Model folder…")
        self.folder_button.setToolTip("Choose a napari-medai model folder (model.json + model.pt) or a MONAI "
                                      "bundle folder")
        self.file_button = QPushButton("file…")
        self.file_button.setToolTip("Choose a model file: a MONAI bundle zip or a TorchScript file")
        self.model_info = wrapped()
        self.channels = ChannelRows(viewer)
        self.device_combo = device_combo()
        self.tta_check = QCheckBox("test-time augmentation")
        tta_tip = "Average the prediction over the 8 flipped copies of the images (slower, steadier)"
        self.components_check: QCheckBox | None = None
        if self.pipeline is not None:
            defaults = self.pipeline.defaults
            self.tta_check.setChecked(bool(defaults["tta"]))
            tta_tip += "; on by default: chosen by cross-validation" if defaults["tta"] else ""
            fraction = float(defaults["min_component_fraction"])
            self.components_check = QCheckBox(f"remove small components (< {fraction:g} of the largest)")
            self.components_check.setChecked(fraction > 0)
            self.components_check.setEnabled(fraction > 0)
            self.components_check.setToolTip(
                f"Drop the tumour components (26-connected, all labels together) smaller than {fraction:g} of the "
                "largest one: scattered false positives away from the tumour. A satellite lesion that small is "
                "dropped too. On by default: chosen by cross-validation, as on the command line "
                "(--min-component-fraction)")
        self.tta_check.setToolTip(tta_tip)
        self.uncertainty_combo = QComboBox()
        self.uncertainty_combo.addItems(["variance", "entropy", "none"])
        self.probabilities_check = QCheckBox("add probability layers")
        self.run_button = QPushButton("Segment")
        self.run_button.setToolTip(f"Segment the chosen images with the model ({SEGMENT_SHORTCUT})")
        self.save_button = QPushButton("Save segmentation…")
        self.save_button.setToolTip("Write the segmentation with its image's geometry (NIfTI, NRRD, MetaImage)")
        self.save_button.setEnabled(False)
        self.volumes = wrapped()
        self.input_check = wrapped()
        self.legend = LabelLegend()

        top = QFormLayout()
        top.addRow("model", field_row(self.model_combo, self.folder_button, self.file_button))
        options = QFormLayout()
        for label, combo, check in (("device", self.device_combo, self.tta_check),
                                    ("uncertainty", self.uncertainty_combo, self.probabilities_check)):
            options.addRow(label, field_row(combo, check))
        if self.components_check is not None:
            options.addRow("post-processing", field_row(self.components_check))
        self.uncertainty_combo.setToolTip("With test-time augmentation: a layer of where the flips disagree")
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.save_button)
        scroll_column(self, top, self.model_info, self.channels, options, buttons, self.jobs, self.volumes,
                      self.input_check, self.legend)
        self.jobs.add_run_buttons(self.run_button)

        self.folder_button.clicked.connect(self.choose_model_folder)
        self.file_button.clicked.connect(self.choose_model_file)
        self.run_button.clicked.connect(self.run)
        self.save_button.clicked.connect(self.save_segmentation)
        self.model_combo.currentTextChanged.connect(lambda _t: self._model_chosen())
        shortcut = QShortcut(QKeySequence(SEGMENT_SHORTCUT), self)
        shortcut.activated.connect(self._shortcut)
        self._model_chosen()

    # ------------------------------------------------------------------ model
    def selected_source(self) -> str:
        return self.model_combo.currentText().strip()

    def choose_model_folder(self) -> None:
        """Ask for a model folder or MONAI bundle folder, then load it."""
        path = QFileDialog.getExistingDirectory(self, "Model folder (napari-medai model or MONAI bundle)")
        if path:
            self._choose(path)

    def choose_model_file(self) -> None:
        """Ask for a MONAI bundle zip or TorchScript file, then load it."""
        path, _ = QFileDialog.getOpenFileName(self, "Model file (MONAI bundle zip or TorchScript)", "",
                                              "Models (*.zip *.ts *.pt *.pth);;All files (*)")
        if path:
            self._choose(path)

    def _choose(self, source: str) -> None:
        if self.model_combo.findText(source) < 0:
            self.model_combo.addItem(source)
        if self.model_combo.currentText() == source:
            self._model_chosen()
        else:
            self.model_combo.setCurrentText(source)  # -> _model_chosen

    @property
    def busy(self) -> bool:
        """A job runs, or a model chosen meanwhile waits for it to end before loading."""
        return self.jobs.busy or self._pending_load

    def wait_idle(self, timeout_s: float = 120.0) -> bool:
        """Process events until no job runs or waits (tests, scripts); False when the time is up."""
        return process_events_until(lambda: not self.busy, timeout_s)

    def load_model_source(self, source: str | os.PathLike[str], timeout_s: float = 600.0) -> bool:
        """Choose ``source`` (registry name, model folder, bundle, TorchScript file), load it off the GUI thread
        and wait (events keep flowing); False, with the reason in the status line, when it cannot be loaded."""
        self._choose(str(source))
        self.wait_idle(timeout_s)
        return self.model is not None and self.model_source == str(source)

    def _model_chosen(self) -> None:
        """Show what the chosen model is at once (registry data, no weights), then load it in the worker."""
        source = self.selected_source()
        if not source:
            return
        entry = REGISTRY.get(source)
        contract = declared_contract(source)
        text = entry.summary if entry is not None else f"model at {source}"
        if entry is not None and entry.kind == "monai-bundle":
            text += " (MONAI model zoo: downloaded on first use, which needs internet)"
        untrained = contract is not None and not contract.is_trained
        self._describe(text, untrained)
        if contract is not None:
            self.channels.set_channels(contract.channels)
        self._load_selected()

    def _describe(self, text: str, untrained: bool, details: str = "") -> None:
        self.model_info.setText(("NOT TRAINED (random weights): its output is meaningless. " if untrained else "")
                                + text)
        self.model_info.setStyleSheet(RED if untrained else "")
        self.model_info.setToolTip(details)

    def _load_selected(self) -> None:
        if self.jobs.busy:  # loaded as soon as the running job ends
            self._pending_load = True
            return
        self._pending_load = False
        source = self.selected_source()
        if self.model is not None and self.model_source == source:  # chosen again: loaded already
            self.jobs.set_status("Model ready.")
            return
        self.jobs.start(lambda: (source, self._load(source)), self._loaded, f"loading {source}…",
                        on_error=lambda _e: self._after_job())

    def _load(self, source: str) -> Any:
        """Worker thread: the model, or an error that says in one line what to do."""
        from ..core.models import ModelDownloadError, load_model
        from ..core.models.loading import require_segmentation_model

        try:
            model = load_model(source, progress=self.jobs.progress_callback)
        except ModelDownloadError as exc:
            entry = REGISTRY.get(source)
            if entry is None or entry.kind != "monai-bundle" or "md5" in str(exc):
                raise
            raise ModelDownloadError(offline_bundle_hint(entry.name, entry.bundle_name or entry.name)) from exc
        return require_segmentation_model(model, task=self.task)

    def _loaded(self, value: tuple[str, Any]) -> None:
        source, model = value
        self.model, self.model_source = model, source
        if source == self.selected_source():
            entry = REGISTRY.get(source)
            self._describe(entry.summary if entry is not None else model.contract.summary(),
                           not model.is_trained, details=model.describe())
            self.channels.set_channels(model.contract.channels)
            notes = " ".join(f"{n.rstrip('.')}." for n in model.notes)
            self.jobs.set_status(f"Model ready. {notes}".strip())
        self._after_job()

    def _after_job(self) -> None:
        """Load the model chosen while another job ran, once the runner is free."""
        if not self._pending_load:
            return
        if self.jobs.busy:
            QTimer.singleShot(50, self, self._after_job)
            return
        self._load_selected()

    @property
    def channel_combos(self) -> dict[str, QComboBox]:
        """``{channel: combo}`` of the model's input channels."""
        return self.channels.combos

    def channel_assignment(self) -> dict[str, str | None]:
        """``{channel: chosen image layer name or None}``."""
        return self.channels.assignment()

    # ------------------------------------------------------------------ running
    def _shortcut(self) -> None:
        if self.run_button.isEnabled():
            self.run()

    def run(self) -> bool:
        """Segment the chosen images with the chosen model, off the GUI thread; False (and why) if refused."""
        check = self.channels.check()
        if not self.channel_combos:
            return self.jobs.refuse(InvalidInputError("wait until the model is loaded: it says which images it needs"))
        if not check.ok:
            return self.jobs.refuse(InvalidInputError(check.message()))
        try:
            channels = {ch: layer_to_volume(self.viewer.layers[name]) for ch, name in self.channel_assignment().items()}
        except MedaiError as exc:
            return self.jobs.refuse(exc)
        source = self.selected_source()
        model = self.model if self.model_source == source else None
        unc = self.uncertainty_combo.currentText()
        kwargs = {"device": self.device_combo.currentText(), "tta": self.tta_check.isChecked(),
                  "uncertainty": None if unc == "none" else unc,
                  "return_probabilities": self.probabilities_check.isChecked()}
        pipeline = self.pipeline
        if pipeline is not None and self.components_check is not None:
            keep = self.components_check.isChecked()
            kwargs["min_component_fraction"] = float(pipeline.defaults["min_component_fraction"]) if keep else 0.0

        def work() -> tuple[str, Any, Any]:
            m = model if model is not None else self._load(source)
            run_options = {"progress": self.jobs.progress_callback, "should_stop": self.jobs.cancelled, **kwargs}
            if pipeline is not None:
                return source, m, pipeline.segment(channels, model=m, **run_options)
            from ..core.inference.segmentation import predict

            return source, m, predict(m, channels, **run_options)

        return self.jobs.start(work, self._segmented, "segmenting…", on_error=lambda _e: self._after_job())

    def _segmented(self, value: tuple[str, Any, Any]) -> Iterator[None]:
        source, model, pred = value
        self.model, self.model_source, self.prediction = model, source, pred
        yield from self._add_outputs(pred, model)
        self._after_job()

    def _add_outputs(self, pred: Any, model: Any) -> Iterator[None]:
        """Show a prediction: its layer, then (after a turn of the event loop, so that napari's drawing of
        the new layer and the panel's are two short freezes) the agreement panel when ground truth is open."""
        convention = pred.labels.meta.get("convention") or model.contract.label_convention or self.convention
        # one layer per turn of the event loop (labels first, then each hidden probability / uncertainty layer):
        # napari holds the GUI thread for each new layer, so several in one turn made one long freeze
        parts = prediction_layers(self.viewer, pred, name=f"{self.task.replace('_', ' ')} ({pred.model_name})",
                                  convention=convention)
        self.output_layer = next(parts)
        vols = ", ".join(f"{k} {v:.2f} ml" for k, v in pred.region_volumes_ml.items())
        self.volumes.setText(f"Volumes: {vols}" if vols else "")
        q = pred.quality
        self.input_check.setText("" if q is None else f"Input: {q.verdict}.")
        self.input_check.setStyleSheet(RED if q is not None and q.like is False else "")
        self.input_check.setToolTip("" if q is None else q.details())
        self.legend.show_layer(self.output_layer, dict(model.contract.label_names or {}) or None)
        self.save_button.setEnabled(True)
        msg = f"Done in {pred.seconds:.1f} s on {pred.device}{' with AMP' if pred.amp else ''}"
        msg += f", {pred.tta_passes} TTA pass(es)."
        if not pred.is_trained:
            msg = "NOT TRAINED model: this output is meaningless. " + msg
        entry = REGISTRY.get(self.model_source)  # its summary is in the description already
        msg += "".join(f" {n.rstrip('.')}." for n in pred.notes if entry is None or entry.summary not in n)
        self.jobs.set_status(msg, error=not pred.is_trained)
        yield
        for _layer in parts:
            yield
        self.agreement = (compare_with_ground_truth(self.viewer, self.output_layer, convention, beside=self)
                          or self.agreement)

    # ------------------------------------------------------------------ saving
    def save_segmentation(self) -> bool:
        """Ask where, then write the segmentation with its image's geometry (the dialog offers the formats)."""
        layer = self.output_layer
        if layer is None or layer.name not in self.viewer.layers:
            return self.jobs.refuse(InvalidInputError("segment first: there is no segmentation to save"))
        src = self.channel_assignment()
        first = next((self.viewer.layers[n] for n in src.values() if n in self.viewer.layers), None)
        source = ((first.metadata or {}).get(META_KEY, {}).get("source", "")) if first is not None else ""
        start = str(Path(source).parent) if source else ""
        return self.jobs.run_now(lambda: save_labels_dialog(self, layer, start_dir=start),
                                 lambda path: path and self.jobs.set_status(f"Saved {path}"))


class BrainTumourWidget(SegmentationWidget):
    """Brain-tumour segmentation on multi-modal MRI (BraTS labels)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(viewer, task="brain_tumour", convention="brats2021", parent=parent)


__all__ = ["SEGMENT_SHORTCUT", "TASK_PIPELINES", "BrainTumourWidget", "SegmentationWidget", "TaskPipeline",
           "offline_bundle_hint"]
