"""Simulate tab: a reduced-dose scan of a full-dose CT layer, optionally with its noise-free reference.

One call of :func:`napari_medai.core.simulation.simulate_low_dose` (or ``simulate_low_dose_pair``)
on the whole slice or stack, so the layer equals ``napari-medai simulate-low-dose`` with the same
settings and seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
from qtpy.QtWidgets import QCheckBox, QComboBox, QFormLayout, QPushButton, QWidget

from ...core.errors import InvalidInputError, MedaiError
from .._jobs import JobRunner
from .._widgets import column, int_spin, spin, wrapped
from ._common import ct_volume, image_layer, put_image, refill


class SimulateTab(QWidget):
    """Layer ``<name>_dose25%`` (and ``<name>_noise_free``) from a full-dose CT layer."""

    def __init__(self, viewer: Any, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.jobs = jobs
        self.sim_combo = QComboBox()
        self.sim_combo.setToolTip("The full-dose CT in HU (2-D slice or 3-D stack).")
        self.dose_spin = spin(0.1, 100.0, 25.0, decimals=1, step=5.0, suffix=" %",
                              tip="Dose of the simulated scan relative to the full dose.")
        self.i0_spin = spin(100.0, 1e9, 1e5, decimals=0, step=1e4,
                            tip="Photons per detector ray at full dose (1e5 is clinical; lower = noisier). The "
                                "simulated scan gets I0 x dose.")
        self.enoise_spin = spin(0.0, 1000.0, 0.0, decimals=1, step=1.0,
                                tip="SD of Gaussian electronic noise added to the photon counts (0: none).")
        self.seed_spin = int_spin(0, 2**31 - 1, 0, "Same seed, same image: the slice or stack equals "
                                  "'napari-medai simulate-low-dose --seed' on the same data.")
        self.pixel_spin = spin(0.01, 100.0, 1.0, decimals=4, step=0.1, suffix=" mm",
                               tip="In-plane pixel size; it sets the path lengths, so the noise level. Taken "
                                   "from the layer's scale when you pick a layer.")
        self.photons_label = wrapped()
        self.ref_check = QCheckBox("also add the noise-free reconstruction (the fair reference)")
        self.ref_check.setToolTip("Filtered back-projection of noise-free projections of the same geometry: "
                                  "its difference to the simulated scan is noise only.")
        self.simulate_button = QPushButton("Simulate low dose")
        form = QFormLayout()
        form.addRow("full dose", self.sim_combo)
        form.addRow("dose", self.dose_spin)
        form.addRow("I0 (full dose)", self.i0_spin)
        form.addRow("electronic noise", self.enoise_spin)
        form.addRow("seed", self.seed_spin)
        form.addRow("pixel size", self.pixel_spin)
        column(self, form, self.photons_label, self.ref_check, self.simulate_button)
        self.sim_combo.currentTextChanged.connect(self._layer_changed)
        for s in (self.dose_spin, self.i0_spin):
            s.valueChanged.connect(self._show_photons)
        self.simulate_button.clicked.connect(lambda: self.simulate())
        jobs.add_run_buttons(self.simulate_button)
        self._show_photons()

    def refresh(self, images: list[str], shapes: list[str]) -> None:
        """The viewer's layers changed: offer its image layers."""
        refill(self.sim_combo, images, hints=("full", "fd", "normal"))

    def _layer_changed(self, name: str) -> None:
        if name in self.viewer.layers:
            scale = np.asarray(self.viewer.layers[name].scale, dtype=float)
            self.pixel_spin.setValue(float(scale[-1]))

    def _show_photons(self) -> None:
        n = self.i0_spin.value() * self.dose_spin.value() / 100.0
        self.photons_label.setText(f"The simulated scan gets {n:,.0f} photons per ray.")

    def simulate(self) -> bool:
        """Simulate the low-dose scan of the chosen full-dose layer off the GUI thread."""
        try:
            self.jobs.check_idle()
            layer = image_layer(self.viewer, self.sim_combo.currentText(), "full-dose")
            vol = ct_volume(layer)
            row, col = (float(v) for v in vol.spacing[-2:])
            if abs(row - col) > 1e-3 * max(row, col):
                raise InvalidInputError(f"{layer.name!r} has {row:g} x {col:g} mm pixels; the simulation needs "
                                        "square pixels: resample the slices first")
        except (MedaiError, ValueError) as exc:
            return self.jobs.refuse(exc)
        dose = self.dose_spin.value() / 100.0
        opts = {"pixel_size_mm": self.pixel_spin.value(), "dose_fraction": dose, "i0": self.i0_spin.value(),
                "electronic_noise_sd": self.enoise_spin.value(), "seed": self.seed_spin.value()}
        pair = self.ref_check.isChecked()
        jobs = self.jobs

        def work() -> tuple[np.ndarray, np.ndarray | None]:
            from ...core.simulation import simulate_low_dose, simulate_low_dose_pair
            from ...core.tasks.ldct._common import as_image

            image, _ = as_image(vol.data, what=layer.name)  # as the CLI reads it
            callbacks = {"progress": jobs.progress_callback, "should_stop": jobs.cancelled}
            if pair:
                return simulate_low_dose_pair(image, **opts, **callbacks)
            return simulate_low_dose(image, **opts, **callbacks), None

        def done(value: tuple[np.ndarray, np.ndarray | None]) -> Iterator[None]:
            low, ref = value
            meta = {**vol.meta, "simulated_low_dose": {**opts, "from": layer.name}}
            name = f"{layer.name}_dose{100 * dose:g}%"
            put_image(self.viewer, vol.with_data(low, name=name, meta=meta, source=None), layer)
            added = [name]
            if ref is not None:
                yield  # napari draws the first new layer before the second is added
                rname = f"{layer.name}_noise_free"
                put_image(self.viewer, vol.with_data(ref, name=rname, source=None), layer)
                added.append(rname)
            jobs.set_status(f"Added {' and '.join(added)}: {100 * dose:g} % dose of I0 {opts['i0']:g} "
                            f"(electronic noise {opts['electronic_noise_sd']:g}), seed {opts['seed']}.")

        return jobs.start(work, done, "simulating…")
