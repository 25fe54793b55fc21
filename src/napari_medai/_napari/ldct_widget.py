"""Low-dose CT (LDCT) dock widget: simulate a low dose, denoise, train on pairs, measure image quality.

Everything computed comes from the core: :func:`napari_medai.core.simulation.simulate_low_dose`,
:func:`napari_medai.core.tasks.ldct.denoise` (every method of ``METHODS``),
:func:`napari_medai.core.tasks.ldct.train_ldct` and :mod:`napari_medai.core.metrics.image_quality`.
The widget picks layers, runs the core off the GUI thread (one job at a time, progress bar, Cancel),
draws the live loss curves and puts the results back as layers on the input's grid.

This module only assembles the tabs of :mod:`napari_medai._napari.ldct`:

* **Simulate** (:class:`~napari_medai._napari.ldct.simulate.SimulateTab`): a reduced-dose scan of a
  full-dose CT layer (dose fraction of I0 photons per ray, electronic noise, seed), layer
  ``<name>_dose25%``, equal to ``napari-medai simulate-low-dose`` with the same seed; optionally also the
  noise-free reconstruction of the same geometry (``<name>_noise_free``), the fair reference.
* **Denoise** (:class:`~napari_medai._napari.ldct.denoise.DenoiseTab`): layer ``<input>_<method>``;
  ``noise2self`` draws its training loss live and **Stop training** denoises with what was trained so far.
* **Train** (:class:`~napari_medai._napari.ldct.train.TrainTab`): RED-CNN on a (full dose, low dose) pair
  of layers, or a low dose simulated from the full dose, into a model folder, with a live curve; the
  model is then method ``trained``.
* **Measure** (:class:`~napari_medai._napari.ldct.measure.MeasureTab`): PSNR / SSIM / RMSE in an HU window
  against a reference layer, and the noise SD in a region drawn in a Shapes layer, one row per chosen
  image layer; a difference layer (image - reference).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from qtpy.QtWidgets import QVBoxLayout, QWidget

from ._jobs import JobRunner
from ._plot import preload_matplotlib
from ._widgets import CurrentPageTabWidget, scroll_vertically
from .ldct._common import SIMULATE, image_names, shapes_names
from .ldct.denoise import DenoiseTab
from .ldct.measure import MeasureTab
from .ldct.roi import shapes_to_mask
from .ldct.simulate import SimulateTab
from .ldct.train import TrainTab

if TYPE_CHECKING:
    import napari

_HINT = ("Open a CT in HU (e.g. File > Open Sample > napari-medai > Low-dose / full-dose CT pair), then pick a tab.")


class LdctWidget(QWidget):
    """Low-dose CT: simulate, denoise, train, measure (see the module docstring).

    Scripts and tests reach the controls through the tabs (``simulate_tab``, ``denoise_tab``,
    ``train_tab``, ``measure_tab``) and the job panel (``jobs``: progress bar, Cancel, status
    line), e.g. ``widget.simulate_tab.dose_spin`` or ``widget.denoise_tab.denoise()``.
    """

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.jobs = JobRunner(_HINT)
        self.simulate_tab = SimulateTab(viewer, self.jobs)
        self.denoise_tab = DenoiseTab(viewer, self.jobs)
        self.train_tab = TrainTab(viewer, self.jobs)
        self.measure_tab = MeasureTab(viewer, self.jobs)
        self.tabs = CurrentPageTabWidget()  # a short tab makes a short dock; only the tall Train tab scrolls
        self.tabs.addTab(self.simulate_tab, "Simulate")
        self.tabs.addTab(self.denoise_tab, "Denoise")
        self.tabs.addTab(self.train_tab, "Train")
        self.tabs.addTab(self.measure_tab, "Measure")
        content = QWidget()
        layout = QVBoxLayout(content)
        layout.addWidget(self.tabs)
        layout.addWidget(self.jobs)
        layout.addStretch(1)
        scroll_vertically(self, content)
        self.train_tab.trained.connect(self.denoise_tab.set_model_folder)
        for ev in (viewer.layers.events.inserted, viewer.layers.events.removed, viewer.layers.events.moved):
            ev.connect(self._layers_changed)
        for layer in viewer.layers:
            layer.events.name.connect(self._layers_changed)
        self._layers_changed()
        preload_matplotlib()  # the live curves (noise2self, Train) are made later without waiting for it

    # ------------------------------------------------------------------ the running job
    @property
    def busy(self) -> bool:
        return self.jobs.busy

    @property
    def last_result(self) -> Any:
        """The last finished job's value: DenoiseResult, LdctTrainingResult, metric rows, (low, noise-free)."""
        return self.jobs.last_result

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until the running job has finished and been shown (True) or the time is up."""
        return self.jobs.wait_idle(timeout_s)

    def cancel(self) -> None:
        """Ask the running job to stop; nothing it computed is added (training keeps its best epoch)."""
        self.jobs.cancel()

    def stop_training(self) -> None:
        """End the running training (noise2self or RED-CNN) early and keep what was trained."""
        self.jobs.stop()

    # ------------------------------------------------------------------ layers
    def _layers_changed(self, event: Any = None) -> None:
        if event is not None and getattr(event, "type", "") == "inserted":
            event.value.events.name.connect(self._layers_changed)
        images, shapes = image_names(self.viewer), shapes_names(self.viewer)
        for tab in (self.simulate_tab, self.denoise_tab, self.train_tab, self.measure_tab):
            tab.refresh(images, shapes)


__all__ = ["SIMULATE", "LdctWidget", "shapes_to_mask"]
