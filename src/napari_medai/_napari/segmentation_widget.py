"""Run a segmentation model on open image layers (brain tumour today; any task's model tomorrow).

The widget asks for exactly the input channels the chosen model declares, runs
:func:`napari_medai.core.inference.predict` off the GUI thread with a progress bar and a cancel
button, and adds the label map (named, coloured labels), optional probability and uncertainty
layers, and the region volumes. When a ground-truth Labels layer is open, it opens the agreement
panel on the pair.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import MedaiError
from ..core.models import REGISTRY, get_entry, guess_channel
from .layers import layer_to_volume, volume_to_layer_data

if TYPE_CHECKING:
    import napari

#: Names that mark a ground-truth Labels layer, most specific first (brain masks are not GT).
_GT_HINTS = ("ground truth", "ground_truth", "groundtruth", "otmulticlass", "gt", "seg", "label", "reference")


class _Bridge(QObject):
    """Carries progress from the worker thread to the GUI thread (queued signal)."""

    progressed = Signal(float, str)


class SegmentationWidget(QWidget):
    """Segment the open images with a model of one task (see module docstring)."""

    def __init__(self, viewer: napari.viewer.Viewer, *, task: str = "brain_tumour",
                 convention: str = "brats2021", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.task = task
        self.convention = convention
        self.model = None  # LoadedModel once loaded
        self.prediction = None
        self.output_layer = None
        self.agreement = None
        self._worker = None
        self._cancel = False
        self._bridge = _Bridge()
        self._bridge.progressed.connect(self._on_progress)
        self.channel_combos: dict[str, QComboBox] = {}

        self.model_combo = QComboBox()
        self.model_combo.setEditable(True)
        self.model_combo.addItems([n for n, e in REGISTRY.items() if e.task == task])
        self.browse_button = QPushButton("Folder…")
        self.load_button = QPushButton("Load model")
        self.model_info = QLabel("No model loaded.")
        self.model_info.setWordWrap(True)
        self.channels_form = QFormLayout()
        self.device_combo = QComboBox()
        self.device_combo.addItems(["auto", "cpu", "cuda"])
        self.tta_check = QCheckBox("test-time augmentation (flips)")
        self.uncertainty_combo = QComboBox()
        self.uncertainty_combo.addItems(["variance", "entropy", "none"])
        self.probabilities_check = QCheckBox("add probability layers")
        self.run_button = QPushButton("Segment")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.status = QLabel("")
        self.status.setWordWrap(True)
        self.volumes = QLabel("")
        self.volumes.setWordWrap(True)

        top = QHBoxLayout()
        top.addWidget(self.model_combo, stretch=1)
        top.addWidget(self.browse_button)
        options = QFormLayout()
        options.addRow("device", self.device_combo)
        options.addRow("", self.tta_check)
        options.addRow("uncertainty (with TTA)", self.uncertainty_combo)
        options.addRow("", self.probabilities_check)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addWidget(QLabel("model"))
        layout.addLayout(top)
        layout.addWidget(self.load_button)
        layout.addWidget(self.model_info)
        layout.addLayout(self.channels_form)
        layout.addLayout(options)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.volumes)
        layout.addStretch(1)

        self.browse_button.clicked.connect(self._browse)
        self.load_button.clicked.connect(self.load_model)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed):
            ev.connect(self._refresh_channel_choices)
        self._show_contract_of_selection()
        self.model_combo.currentTextChanged.connect(lambda _t: self._show_contract_of_selection())

    # ------------------------------------------------------------------ model
    def _browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Model folder (napari-medai model or MONAI bundle)")
        if path:
            self.model_combo.setCurrentText(path)

    def _show_contract_of_selection(self) -> None:
        """Registry models declare their channels without loading weights."""
        name = self.model_combo.currentText()
        if name in REGISTRY and get_entry(name).contract is not None:
            entry = get_entry(name)
            self._build_channel_rows(entry.contract.channels)
            self.model_info.setText(f"{entry.summary}. Press 'Load model' to load its weights.")
            self.model = None

    def load_model_source(self, source: str | os.PathLike[str]) -> bool:
        """Choose ``source`` (registry name, model folder, bundle, TorchScript file) and load it.

        Returns False, with the reason in the status line, when it cannot be loaded.
        """
        self.model_combo.setCurrentText(str(source))
        return self.load_model()

    def load_model(self) -> bool:
        """Load the chosen model (registry name, model folder, bundle folder/zip, TorchScript)."""
        from ..core.models import load_model
        from ..core.models.loading import require_segmentation_model

        source = self.model_combo.currentText().strip()
        try:
            self.model = require_segmentation_model(load_model(source), task=self.task)
        except MedaiError as exc:
            self.model = None
            self._set_status(str(exc), error=True)
            return False
        c = self.model.contract
        trained = c.is_trained
        text = self.model.describe()
        if not trained:
            text = "NOT TRAINED (random weights): its output is meaningless. " + text
        self.model_info.setText(text)
        self.model_info.setStyleSheet("" if trained else "color: #ff7070;")
        self._build_channel_rows(c.channels)
        self._set_status(" ".join(f"{n.rstrip('.')}." for n in self.model.notes))
        return True

    def _build_channel_rows(self, channels: tuple[str, ...]) -> None:
        while self.channels_form.rowCount():
            self.channels_form.removeRow(0)
        self.channel_combos = {}
        for ch in channels:
            combo = QComboBox()
            self.channel_combos[ch] = combo
            self.channels_form.addRow(ch.upper() if len(ch) <= 5 else ch, combo)
        self._refresh_channel_choices()

    def _image_layers(self) -> list[Any]:
        return [ly for ly in self.viewer.layers if type(ly).__name__ == "Image"]

    def _refresh_channel_choices(self, *_: Any) -> None:
        images = self._image_layers()
        names = [ly.name for ly in images]
        for ch, combo in self.channel_combos.items():
            current = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(names)
            match = next((ly.name for ly in images if _canonical(ly.name) == ch), None)
            if current in names:
                combo.setCurrentText(current)
            elif match is not None:
                combo.setCurrentText(match)
            combo.blockSignals(False)

    # ------------------------------------------------------------------ running
    def run(self) -> None:
        """Segment with the loaded model, off the GUI thread."""
        if self._worker is not None:
            return
        if self.model is None and not self.load_model():
            return
        try:
            channels = {}
            for ch, combo in self.channel_combos.items():
                name = combo.currentText()
                if name not in self.viewer.layers:
                    raise MedaiError(f"pick an image layer for the {ch} channel (the model needs it)")
                channels[ch] = layer_to_volume(self.viewer.layers[name])
        except MedaiError as exc:
            self._set_status(str(exc), error=True)
            return
        from napari.qt.threading import create_worker

        unc = self.uncertainty_combo.currentText()
        kwargs = {
            "device": self.device_combo.currentText(),
            "tta": self.tta_check.isChecked(),
            "uncertainty": None if unc == "none" else unc,
            "return_probabilities": self.probabilities_check.isChecked(),
        }
        self._cancel = False
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self._set_status("segmenting…")
        worker = create_worker(self._work, self.model, channels, kwargs, _start_thread=False)
        worker.returned.connect(self._done)
        worker.finished.connect(self._finished)
        self._worker = worker
        worker.start()

    def _work(self, model: Any, channels: dict, kwargs: dict) -> tuple[str, Any]:
        from ..core.inference import predict

        try:
            pred = predict(model, channels, progress=self._bridge.progressed.emit,
                           should_stop=lambda: self._cancel, **kwargs)
            return ("ok", pred)
        except Exception as exc:  # noqa: BLE001 - shown in the status line (see agreement widget)
            return ("error", exc)

    def cancel(self) -> None:
        self._cancel = True
        self._set_status("cancelling…")

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(round(1000 * max(0.0, min(1.0, float(fraction))))))
        if message:
            self.status.setText(message)

    def _finished(self) -> None:
        self._worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def _done(self, payload: tuple[str, Any]) -> None:
        kind, value = payload
        if kind == "error":
            from ..core.models import Cancelled

            if isinstance(value, Cancelled):
                self._set_status("Cancelled; nothing was added.")
            else:
                self._set_status(str(value) if isinstance(value, MedaiError) else f"{type(value).__name__}: {value}",
                                 error=True)
            self.progress.setValue(0)
            return
        self.prediction = value
        self.progress.setValue(1000)
        self._add_outputs(value)

    def _add_outputs(self, pred: Any) -> None:
        name = f"{self.task.replace('_', ' ')} ({pred.model_name})"
        labels = pred.labels.with_data(pred.labels.data, name=name)
        for data, kw, kind in volume_to_layer_data(labels):
            if name in self.viewer.layers:
                self.viewer.layers.remove(name)
            self.output_layer = getattr(self.viewer, f"add_{kind}")(data, **kw)
        for extra in (pred.probabilities, pred.uncertainty):
            if extra is None:
                continue
            for data, kw, kind in volume_to_layer_data(extra):
                names = kw["name"] if isinstance(kw["name"], list) else [kw["name"]]
                for n in names:
                    if n in self.viewer.layers:
                        self.viewer.layers.remove(n)
                kw = dict(kw)
                kw["colormap"] = "magma"
                kw.pop("contrast_limits", None)
                kw["visible"] = False
                getattr(self.viewer, f"add_{kind}")(data, **kw)
        vols = ", ".join(f"{k} {v:.2f} ml" for k, v in pred.region_volumes_ml.items())
        self.volumes.setText(f"Volumes: {vols}" if vols else "")
        msg = f"Done in {pred.seconds:.1f} s on {pred.device}{' with AMP' if pred.amp else ''}"
        msg += f", {pred.tta_passes} TTA pass(es)."
        if not pred.is_trained:
            msg = "NOT TRAINED model: this output is meaningless. " + msg
        msg += "".join(f" {n.rstrip('.')}." for n in pred.notes)
        self._set_status(msg, error=not pred.is_trained)
        self._open_agreement()

    def _ground_truth_layer(self) -> Any:
        candidates = [
            ly for ly in self.viewer.layers
            if type(ly).__name__ == "Labels" and ly is not self.output_layer
            and "brain" not in ly.name.lower() and ly.data.shape == self.output_layer.data.shape
        ]
        for hint in _GT_HINTS:
            for ly in candidates:
                if hint in ly.name.lower():
                    return ly
        return None

    def _open_agreement(self) -> None:
        gt = self._ground_truth_layer()
        if gt is None or self.output_layer is None:
            return
        from .agreement_widget import AgreementWidget

        if self.agreement is None:
            self.agreement = AgreementWidget(self.viewer)
            self.viewer.window.add_dock_widget(self.agreement, name="Agreement", area="right")
        self.agreement.set_pair(pred=self.output_layer.name, gt=gt.name,
                                convention=self.prediction.labels.meta.get("convention", self.convention))

    def _set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #ff7070;" if error else "")


def _canonical(name: str) -> str:
    return guess_channel(name) or ""


class BrainTumourWidget(SegmentationWidget):
    """Brain-tumour segmentation on multi-modal MRI (BraTS labels)."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(viewer, task="brain_tumour", convention="brats2021", parent=parent)


__all__ = ["BrainTumourWidget", "SegmentationWidget"]
