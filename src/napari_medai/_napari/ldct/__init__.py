"""The tabs of the low-dose CT dock widget (:class:`napari_medai._napari.ldct_widget.LdctWidget`).

One module per tab, each a small ``QWidget`` that picks layers, runs one core function off the GUI
thread through the shared :class:`~napari_medai._napari._jobs.JobRunner` and puts the result back as layers:

* :mod:`.simulate` -- :class:`~.simulate.SimulateTab` (:func:`napari_medai.core.simulation.simulate_low_dose`);
* :mod:`.denoise` -- :class:`~.denoise.DenoiseTab` (:func:`napari_medai.core.tasks.ldct.denoise`);
* :mod:`.train` -- :class:`~.train.TrainTab` (:func:`napari_medai.core.tasks.ldct.train_ldct`);
* :mod:`.measure` -- :class:`~.measure.MeasureTab` (:mod:`napari_medai.core.metrics.image_quality`),
  with the Shapes-to-mask rasterisation in :mod:`.roi`;
* :mod:`napari_medai._napari._jobs` -- the job runner every widget shares (progress bar, Cancel, status, torch threads);
* :mod:`._common` -- layer choices and small Qt factories.
"""
