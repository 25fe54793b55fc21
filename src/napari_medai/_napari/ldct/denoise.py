"""Denoise tab: layer ``<input>_<method>`` from :func:`napari_medai.core.tasks.ldct.denoise`.

Every method of the core's ``METHODS``: the classical filters with their main parameter (auto or by
hand), ``noise2self`` (self-supervised on the input; its training loss is drawn live and **Stop
training** denoises with what was trained so far), ``redcnn`` (a weights file) and ``trained`` (a
model folder from the Train tab). The network methods run with the chosen number of torch CPU threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import InvalidInputError, MedaiError
from ...core.tasks.ldct import CLASSICAL_METHODS, METHODS, Noise2SelfOptions
from .._jobs import JobRunner, torch_threads
from .._plot import LivePlot
from .._widgets import (
    RED,
    column,
    device_combo,
    error_text,
    fmt,
    int_spin,
    spin,
    threads_spin,
    wrapped,
)
from ._common import ct_volume, image_layer, put_image, refill

#: The one parameter of each classical filter the tab lets the user set (name, unit, max, step).
MAIN_PARAMETER: dict[str, tuple[str, str, float, float]] = {
    "gaussian": ("sigma_px", "px", 50.0, 0.1),
    "tv": ("weight", "HU", 10000.0, 1.0),
    "nlm": ("h", "HU", 10000.0, 1.0),
    "bilateral": ("sigma_color", "HU", 10000.0, 1.0),
}


def _row(*widgets: QWidget, stretch: QWidget | None = None) -> QHBoxLayout:
    row = QHBoxLayout()
    for w in widgets:
        row.addWidget(w, stretch=1 if w is stretch else 0)
    return row


def _page(layout: Any) -> QWidget:
    page = QWidget()
    lay = QVBoxLayout(page)
    lay.setContentsMargins(0, 0, 0, 0)
    lay.addLayout(layout)
    return page


class DenoiseTab(QWidget):
    """Denoise an image layer with any method of the core (see the module docstring)."""

    def __init__(self, viewer: Any, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.jobs = jobs
        #: Further :class:`Noise2SelfOptions` for scripts and tests (e.g. ``width``, ``patch``, ``batch_size``).
        self.noise2self_options: dict[str, Any] = {}
        self._n2s_ran = False
        self._curve: dict[str, Any] = {}
        self._classical_values: dict[str, float | None] = dict.fromkeys(CLASSICAL_METHODS)
        #: The notes (parameters used, warnings) of each method's last run: each method shows only its own.
        self._notes_of: dict[str, tuple[str, str]] = {}
        self.input_combo = QComboBox()
        self.method_combo = QComboBox()
        self.method_combo.addItems(list(METHODS))
        # the options of the chosen method only: the other pages are hidden (a QStackedWidget would be as
        # tall as the tallest page and leave gaps under the short ones)
        self.method_pages = QWidget()
        QVBoxLayout(self.method_pages).setContentsMargins(0, 0, 0, 0)
        self._page_of = self._build_pages()
        self.model_info = wrapped()
        self.blend_spin = spin(0.0, 1.0, 0.0, decimals=2, step=0.05,
                               tip="Keep this fraction of the removed noise (0: none). The dose ratio (e.g. 0.25) "
                                   "estimates the full-dose image rather than the noise-free one.")
        self.device_combo = device_combo()
        self.threads_spin = threads_spin()
        self.denoise_button = QPushButton("Denoise")
        self.stop_n2s_button = QPushButton("Stop training")
        self.stop_n2s_button.setToolTip("End noise2self training now and denoise with the network trained so far.")
        self.stop_n2s_button.setEnabled(False)
        self._n2s_plot: LivePlot | None = None  # made at the first run (see n2s_plot)
        self._plot_slot = QVBoxLayout()
        self.notes = wrapped()
        form = QFormLayout()
        form.addRow("input", self.input_combo)
        form.addRow("method", self.method_combo)
        form2 = QFormLayout()
        form2.addRow("blend", self.blend_spin)
        form2.addRow("device", self.device_combo)
        form2.addRow("CPU threads", self.threads_spin)
        column(self, form, self.method_pages, self.model_info, form2, _row(self.denoise_button, self.stop_n2s_button),
               self._plot_slot, self.notes)
        self.method_combo.currentTextChanged.connect(lambda _t: self._method_changed())
        self.param_auto.toggled.connect(self._auto_toggled)
        self.param_spin.valueChanged.connect(self._param_edited)
        self.weights_browse.clicked.connect(self._browse_weights)
        self.folder_browse.clicked.connect(self._browse_folder)
        self.weights_edit.editingFinished.connect(self.check_model)
        self.folder_edit.editingFinished.connect(self.check_model)
        self.denoise_button.clicked.connect(lambda: self.denoise())
        self.stop_n2s_button.clicked.connect(jobs.stop)
        jobs.add_run_buttons(self.denoise_button)
        self._method_changed()

    def _build_pages(self) -> dict[str, QWidget]:
        """The options page of each method: classical parameter, weights file, model folder, noise2self."""
        self.param_auto = QCheckBox("auto")
        self.param_auto.setChecked(True)
        self.param_spin = spin(0.0, 10000.0, 1.0, decimals=2)
        self.param_spin.setEnabled(False)
        self.param_label = QLabel("")
        self.param_note = wrapped()
        classical_form = QFormLayout()  # a form row like the others: '<parameter> (<unit>)  [value]  [x] auto'
        classical_form.addRow(self.param_label, _row(self.param_spin, self.param_auto, stretch=self.param_spin))
        classical_form.addRow(self.param_note)
        classical = _page(classical_form)
        self.weights_edit = QLineEdit()
        self.weights_edit.setPlaceholderText("RED-CNN state_dict (.pt), e.g. redcnn_shared_L1_25.pt")
        self.weights_browse = QPushButton("File…")
        weights_page = _page(_row(self.weights_edit, self.weights_browse, stretch=self.weights_edit))
        self.folder_edit = QLineEdit()
        self.folder_edit.setPlaceholderText("model folder written by the Train tab / 'napari-medai train ldct'")
        self.folder_browse = QPushButton("Folder…")
        folder_page = _page(_row(self.folder_edit, self.folder_browse, stretch=self.folder_edit))
        d = Noise2SelfOptions()
        self.n2s_iter_spin = int_spin(1, 1_000_000, d.iterations,
                                      "Training steps (the time hardly depends on the image size).")
        self.n2s_seed_spin = int_spin(0, 2**31 - 1, d.seed, "Seeds weights, patches and masks.")
        n2s = QFormLayout()
        n2s.addRow("iterations", self.n2s_iter_spin)
        n2s.addRow("seed", self.n2s_seed_spin)
        n2s.addRow(wrapped("Self-supervised: a small U-Net learns from this image alone (no clean image). "
                           "Stop training ends it early and denoises with what it learned."))
        n2s_page = _page(n2s)
        pages: dict[str, QWidget] = {"redcnn": weights_page, "trained": folder_page, "noise2self": n2s_page}
        page_of: dict[str, QWidget] = {}
        for m in METHODS:
            page = classical if m in MAIN_PARAMETER else pages.get(m)
            if page is None:  # a method this tab does not know: no options
                page = QLabel("no options")
            if self.method_pages.layout().indexOf(page) < 0:
                self.method_pages.layout().addWidget(page)
            page_of[m] = page
        return page_of

    @property
    def n2s_plot(self) -> LivePlot:
        """The noise2self loss curve, made on first use (a matplotlib figure: the first costs seconds)."""
        if self._n2s_plot is None:
            self._n2s_plot = LivePlot(xlabel="step", ylabel="masked-pixel RMSE (HU)")
            self._n2s_plot.setVisible(False)
            self._plot_slot.addWidget(self._n2s_plot)
        return self._n2s_plot

    def refresh(self, images: list[str], shapes: list[str]) -> None:
        """The viewer's layers changed: offer its image layers, low-dose-looking names first."""
        refill(self.input_combo, images, hints=("low", "ld", "qd", "quarter", "dose"))

    def set_model_folder(self, folder: str) -> None:
        """Use the model folder ``folder`` for method ``trained`` (the Train tab's result)."""
        self.folder_edit.setText(folder)

    # ------------------------------------------------------------------ method options
    def _method_changed(self) -> None:
        m = self.method_combo.currentText()
        for page in set(self._page_of.values()):
            page.setVisible(page is self._page_of[m])
        is_n2s = m == "noise2self"
        if self._n2s_plot is not None:  # no plot before the first run: empty axes say nothing
            self._n2s_plot.setVisible(is_n2s and self._n2s_ran)
        self.stop_n2s_button.setVisible(is_n2s)
        self.threads_spin.setEnabled(m not in CLASSICAL_METHODS)
        self._show_notes()
        if m in MAIN_PARAMETER:
            pname, unit, high, step = MAIN_PARAMETER[m]
            value = self._classical_values.get(m)
            self.param_label.setText(f"{pname} ({unit})")
            self.param_spin.blockSignals(True)
            self.param_spin.setRange(0.0, high)
            self.param_spin.setSingleStep(step)
            self.param_auto.blockSignals(True)
            self.param_auto.setChecked(value is None)
            self.param_auto.blockSignals(False)
            if value is not None:
                self.param_spin.setValue(value)
            self.param_spin.setEnabled(value is not None)
            self.param_spin.blockSignals(False)
            self.param_note.setText(
                "auto: tuned default" if m == "gaussian" else "auto: scaled to the noise estimated in the image")
        self.check_model()

    def _show_notes(self) -> None:
        """The notes of the chosen method's last run (nothing before its first run)."""
        notes, style = self._notes_of.get(self.method_combo.currentText(), ("", ""))
        self.notes.setText(notes)
        self.notes.setStyleSheet(style)
        self.notes.setVisible(bool(notes))

    def _auto_toggled(self, auto: bool) -> None:
        m = self.method_combo.currentText()
        if m not in MAIN_PARAMETER:
            return
        if auto:
            self._classical_values[m] = None
            self.param_spin.setEnabled(False)
            return
        value = self.param_spin.value()
        try:  # start from the value auto would use on this image
            from ...core.tasks.ldct import classical_parameters

            layer = image_layer(self.viewer, self.input_combo.currentText(), "input")
            value = float(classical_parameters(m, np.asarray(layer.data, dtype=np.float32))[MAIN_PARAMETER[m][0]])
        except (MedaiError, ValueError):
            # no usable input layer yet (none open, or not a CT slice/stack): keep the spin box's value;
            # denoising itself reports the problem when the user presses the button
            value = self.param_spin.value()
        self._classical_values[m] = value
        self.param_spin.blockSignals(True)
        self.param_spin.setValue(value)
        self.param_spin.blockSignals(False)
        self.param_spin.setEnabled(True)

    def _param_edited(self, value: float) -> None:
        m = self.method_combo.currentText()
        if m in MAIN_PARAMETER and not self.param_auto.isChecked():
            self._classical_values[m] = float(value)

    def _browse_weights(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "RED-CNN weights (state_dict)", "", "PyTorch (*.pt *.pth);;all (*)")
        if path:
            self.weights_edit.setText(path)
            self.check_model()

    def _browse_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Denoiser model folder (model.json + model.pt)")
        if path:
            self.folder_edit.setText(path)
            self.check_model()

    def _weights(self) -> str | None:
        m = self.method_combo.currentText()
        edit = self.weights_edit if m == "redcnn" else self.folder_edit if m == "trained" else None
        if edit is None:
            return None
        text = edit.text().strip()
        if not text:
            hint = ("give the RED-CNN weights file (.pt), e.g. redcnn_shared_L1_25.pt, with 'File…'" if m == "redcnn"
                    else "give a model folder written by the Train tab or 'napari-medai train ldct', with 'Folder…'")
            raise InvalidInputError(f"method {m!r} needs weights: {hint}")
        return text

    def check_model(self) -> bool:
        """Open the chosen weights and say what they are (trained on what, or NOT TRAINED)."""
        m = self.method_combo.currentText()
        self.model_info.setStyleSheet("")
        if m not in ("redcnn", "trained"):
            self.model_info.setText("")
            self.model_info.setVisible(False)
            return True
        self.model_info.setVisible(True)
        edit = self.weights_edit if m == "redcnn" else self.folder_edit
        if not edit.text().strip():
            self.model_info.setText("Choose the weights file with 'File…'." if m == "redcnn" else
                                    "Choose a model folder (from the Train tab) with 'Folder…'.")
            return False
        try:
            from ...core.tasks.ldct import load_denoiser

            model = load_denoiser(self._weights())
        except MedaiError as exc:
            self.model_info.setText(error_text(exc))
            self.model_info.setStyleSheet(RED)
            return False
        c = model.contract
        if c.is_trained:
            self.model_info.setText(f"{c.name}: {c.training_status}.")
        else:
            self.model_info.setText(f"{c.name}: NOT TRAINED (random weights); its output means nothing.")
            self.model_info.setStyleSheet(RED)
        return True

    # ------------------------------------------------------------------ the job
    def denoise(self) -> bool:
        """Denoise the chosen input with the chosen method off the GUI thread (layer ``<input>_<method>``)."""
        method = self.method_combo.currentText()
        try:
            self.jobs.check_idle()
            layer = image_layer(self.viewer, self.input_combo.currentText(), "input")
            vol = ct_volume(layer)
            weights = self._weights()
            if weights is not None and not self.check_model():
                raise InvalidInputError(self.model_info.text())
        except (MedaiError, ValueError) as exc:
            return self.jobs.refuse(exc)
        options: dict[str, Any] = {}
        if method in MAIN_PARAMETER and self._classical_values.get(method) is not None:
            options[MAIN_PARAMETER[method][0]] = self._classical_values[method]
        n2s = method == "noise2self"
        if n2s:
            options = {**self.noise2self_options, "iterations": self.n2s_iter_spin.value(),
                       "seed": self.n2s_seed_spin.value()}
            self.n2s_plot.clear()
            self._n2s_ran = True
            self.n2s_plot.setVisible(True)
            self._curve = {"every": max(1, min(options["iterations"] // 100, 25)), "buf": []}
        blend, device = self.blend_spin.value(), self.device_combo.currentText()
        threads = 0 if method in CLASSICAL_METHODS else self.threads_spin.value()
        jobs = self.jobs

        def work() -> Any:
            from ...core.tasks.ldct import denoise

            with torch_threads(threads):
                return denoise(vol, method=method, weights=weights, options=options, blend=blend, device=device,
                               progress=jobs.progress_callback, should_stop=jobs.cancelled,
                               on_metrics=jobs.metrics_callback if n2s else None, stop_training=jobs.stop_asked)

        def done(result: Any) -> None:
            put_image(self.viewer, result.volume, layer)
            p = result.parameters
            shown = {k: v for k, v in p.items() if k not in ("weights_md5", "model", "device", "time_limit_s")}
            text = ", ".join(f"{k}={fmt(v)}" for k, v in shown.items())
            msg = f"Added {result.volume.name} ({method}, {result.seconds:.1f} s)."
            if n2s and p.get("stop_reason") == "stopped":
                msg += f" Training was stopped after {p['iterations_run']} of {p['iterations']} steps."
            jobs.set_status(msg)
            notes = list(result.notes)
            self._notes_of[method] = ("<br>".join([f"<b>{method} parameters</b>: {text}",
                                                   *(f"<b>note</b>: {n}" for n in notes)]),
                                      RED if any("NOT TRAINED" in n for n in notes) else "")
            self._show_notes()

        return jobs.start(work, done, f"{method}…", stop_button=self.stop_n2s_button if n2s else None,
                          on_metrics=self._on_metrics if n2s else None)

    def _on_metrics(self, m: dict[str, Any]) -> None:
        """noise2self: block means of the per-step masked-pixel RMSE, one point per block."""
        buf = self._curve.setdefault("buf", [])
        buf.append(m["masked_rmse_hu"])
        if len(buf) >= self._curve.get("every", 1):
            self.n2s_plot.add_point("masked RMSE", m["step"], float(np.mean(buf)))
            buf.clear()
