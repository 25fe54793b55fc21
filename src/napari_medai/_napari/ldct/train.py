"""Train tab: RED-CNN on a (full dose, low dose) pair of layers into a model folder, with a live curve.

The low dose is a layer of the same slices, or simulated from the full dose by the core. A stack
gives one pair per slice, so validation holds slices out. Everything is done by
:func:`napari_medai.core.tasks.ldct.train_ldct`; the finished folder is then method ``trained``
of the Denoise tab (:attr:`TrainTab.trained` hands it over).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from qtpy.QtCore import Signal
from qtpy.QtWidgets import (
    QComboBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from ...core.errors import InvalidInputError, MedaiError
from .._jobs import JobRunner, torch_threads
from .._plot import ABOVE, LivePlot
from .._widgets import column, device_combo, field_row, int_spin, spin, threads_spin, wrapped
from ._common import SIMULATE, ct_volume, image_layer, refill


class TrainTab(QWidget):
    """Train a RED-CNN denoiser on layers (see the module docstring)."""

    #: Emitted with the model folder (str) of a finished training run.
    trained = Signal(str)

    def __init__(self, viewer: Any, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.jobs = jobs
        self._curve: dict[str, Any] = {}
        self.train_full_combo = QComboBox()
        self.train_low_combo = QComboBox()
        self.train_dose_spin = spin(0.1, 100.0, 25.0, decimals=1, step=5.0, suffix=" %",
                                    tip="Dose of the simulated low-dose training input.")
        self.train_i0_spin = spin(100.0, 1e9, 1e5, decimals=0, step=1e4, tip="Full-dose photons per ray.")
        self.out_edit = QLineEdit()
        self.out_edit.setPlaceholderText("new or empty folder for the model")
        self.out_browse = QPushButton("Folder…")
        self.epochs_spin = int_spin(1, 10000, 30, "Epoch limit (training also stops after 'patience' epochs "
                                    "without improvement).")
        self.steps_spin = int_spin(1, 100000, 50, "Training steps per epoch.")
        self.patch_spin = int_spin(24, 1024, 64, "Training crop side in pixels (slices must be at least this big).")
        self.filters_spin = int_spin(1, 512, 32, "RED-CNN channels (96 in the paper; 32 trains in minutes on a CPU).")
        self.batch_spin = int_spin(1, 4096, 8, "Crops per step.")
        self.val_spin = spin(0.0, 0.9, 0.2, decimals=2, step=0.05,
                             tip="Fraction of the slices held out to pick the best epoch by PSNR (a stack is split "
                                 "by slices; a single slice cannot be split and the training loss is used).")
        self.train_seed_spin = int_spin(0, 2**31 - 1, 0, "Seeds the split, the simulation, the weights, the crops.")
        self.train_device_combo = device_combo()
        self.train_threads_spin = threads_spin()
        self.train_button = QPushButton("Train RED-CNN")
        self.stop_train_button = QPushButton("Stop (keep best epoch)")
        self.stop_train_button.setEnabled(False)
        self.stop_train_button.setToolTip("Stop after this step; the best finished epoch stays in the model folder.")
        self._train_plot: LivePlot | None = None  # made when a run starts (see train_plot)
        self._plot_slot = QVBoxLayout()
        self.train_info = wrapped()
        out_row = field_row(self.out_edit, self.out_browse)
        form = QFormLayout()
        for label, w in (("full dose", self.train_full_combo), ("low dose", self.train_low_combo),
                         ("simulated dose", self.train_dose_spin), ("I0 (full dose)", self.train_i0_spin),
                         ("model folder", out_row), ("epochs", self.epochs_spin), ("steps / epoch", self.steps_spin),
                         ("patch", self.patch_spin), ("filters", self.filters_spin), ("batch", self.batch_spin),
                         ("validation", self.val_spin), ("seed", self.train_seed_spin),
                         ("device", self.train_device_combo), ("CPU threads", self.train_threads_spin)):
            form.addRow(label, w)
        buttons = QHBoxLayout()
        buttons.addWidget(self.train_button)
        buttons.addWidget(self.stop_train_button)
        column(self, form, buttons, self._plot_slot, self.train_info)
        self.train_low_combo.currentTextChanged.connect(lambda _t: self._low_changed())
        self.out_browse.clicked.connect(self._browse_out)
        self.train_button.clicked.connect(lambda: self.train())
        self.stop_train_button.clicked.connect(jobs.stop)
        jobs.add_run_buttons(self.train_button)
        self._low_changed()

    @property
    def train_plot(self) -> LivePlot:
        """The live training curve, made on first use (a matplotlib figure: the first costs seconds); shown
        once a run starts (empty axes say nothing)."""
        if self._train_plot is None:
            # legend above the axes: the falling RMSE and the rising PSNR fill both upper corners
            self._train_plot = LivePlot(xlabel="step", ylabel="train RMSE (HU)", y2label="val. PSNR (dB)",
                                        legend_loc=ABOVE)
            self._train_plot.setVisible(False)
            self._plot_slot.addWidget(self._train_plot)
        return self._train_plot

    def refresh(self, images: list[str], shapes: list[str]) -> None:
        """The viewer's layers changed: offer its image layers as full and low dose."""
        refill(self.train_full_combo, images, hints=("full", "fd", "normal"))
        refill(self.train_low_combo, [SIMULATE, *images], hints=("low", "ld", "qd", "quarter"))

    def _low_changed(self) -> None:
        sim = self.train_low_combo.currentText() == SIMULATE
        self.train_dose_spin.setEnabled(sim)
        self.train_i0_spin.setEnabled(sim)

    def _browse_out(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder for the trained model (new or empty)")
        if path:
            self.out_edit.setText(path)

    def _pairs(self) -> tuple[list[Any], bool]:
        """The training pairs of the chosen layers (one per slice of a stack), and whether to simulate."""
        from ...core.tasks.ldct import LdctPair

        full_layer = image_layer(self.viewer, self.train_full_combo.currentText(), "full-dose")
        full = ct_volume(full_layer)
        simulate = self.train_low_combo.currentText() == SIMULATE
        low = None
        if not simulate:
            low_layer = image_layer(self.viewer, self.train_low_combo.currentText(), "low-dose")
            if low_layer.name == full_layer.name:
                raise InvalidInputError("the full-dose and low-dose layers are the same; pick the low-dose scan "
                                        f"or '{SIMULATE}'")
            low = ct_volume(low_layer)
            if low.data.shape != full.data.shape:
                raise InvalidInputError(
                    f"{low_layer.name!r} {low.data.shape} and {full_layer.name!r} {full.data.shape} differ in "
                    "shape; pick the low-dose scan of the same slices on the same grid")
        px = float(full.spacing[-1])
        if full.data.ndim == 3 and full.data.shape[0] > 1:  # one pair per slice: validation holds slices out
            return [LdctPair(full_dose=full.data[k], low_dose=None if low is None else low.data[k],
                             name=f"{full_layer.name}[{k}]", pixel_size_mm=px)
                    for k in range(full.data.shape[0])], simulate
        return [LdctPair(full_dose=full.data, low_dose=None if low is None else low.data, name=full_layer.name,
                         pixel_size_mm=px)], simulate

    def train(self) -> bool:
        """Train RED-CNN on the chosen pair off the GUI thread, into the model folder."""
        try:
            self.jobs.check_idle()
            pairs, simulate = self._pairs()
            out = self.out_edit.text().strip()
            if not out:
                raise InvalidInputError("give a model folder (new or empty) with 'Folder…' or by typing a path")
        except (MedaiError, ValueError) as exc:
            return self.jobs.refuse(exc)
        kw = {"out_dir": Path(out).expanduser(), "simulate_dose": self.train_dose_spin.value() / 100.0 if simulate
              else None, "i0": self.train_i0_spin.value(), "filters": self.filters_spin.value(),
              "patch": self.patch_spin.value(), "batch_size": self.batch_spin.value(),
              "steps_per_epoch": self.steps_spin.value(), "max_epochs": self.epochs_spin.value(),
              "val_fraction": self.val_spin.value(), "seed": self.train_seed_spin.value(),
              "device": self.train_device_combo.currentText()}
        threads = self.train_threads_spin.value()
        self.train_plot.clear()
        self.train_plot.setVisible(True)
        self.train_info.setText("")
        self._curve = {"every": max(1, min(kw["steps_per_epoch"] // 10, 25)), "buf": []}
        jobs = self.jobs

        def work() -> Any:
            from ...core.tasks.ldct import train_ldct

            with torch_threads(threads):
                return train_ldct(pairs, **kw, progress=jobs.progress_callback,
                                  should_stop=lambda: jobs.cancelled() or jobs.stop_asked(),
                                  on_metrics=jobs.metrics_callback)

        def done(result: Any) -> None:
            self.trained.emit(str(result.out_dir))
            stopped = " (stopped by you; the best finished epoch was kept)" if result.stop_reason == "cancelled" else ""
            jobs.set_status(f"{result.summary()}{stopped}. Use it in the Denoise tab with method 'trained' (the "
                            "folder is filled in).")

        return jobs.start(work, done, "preparing the training pairs…", stop_button=self.stop_train_button,
                          on_metrics=self._on_metrics)

    def _on_metrics(self, m: dict[str, Any]) -> None:
        """Per step: block means of the training RMSE; per epoch: the validation PSNR on the right axis."""
        if m.get("kind") == "step":
            buf = self._curve.setdefault("buf", [])
            buf.append(m["rmse_hu"])
            if len(buf) >= self._curve.get("every", 1):
                self.train_plot.add_point("train RMSE", m["global_step"], float(np.mean(buf)))
                buf.clear()
            return
        val = m.get("val_psnr")
        self.train_plot.add_point("val. PSNR", m["global_step"], val, right=True)
        self.train_info.setText(
            f"epoch {m['epoch']}: train RMSE {m['train_rmse_hu']:.1f} HU"
            + (f", validation PSNR {val:.2f} dB" if val is not None else "")
            + f"; best epoch {m['best_epoch']}")
