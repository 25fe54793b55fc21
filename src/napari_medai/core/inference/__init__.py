"""Run a model on images, by the kind its contract declares.

Segmentation (:func:`.segmentation.predict` -> :class:`.segmentation.Prediction`), all driven by
the model's :class:`~napari_medai.core.models.ModelContract`:

1. match the given channels to the ones the model needs (``flair``/``t2f``, ``t1c``/``t1gd``/
   ``t1ce``, ``t1``/``t1n``, ``t2``/``t2w``; a clear error lists what is missing) and check that
   they share one voxel grid;
2. normalise each channel (:func:`napari_medai.core.intensity.normalize`), optionally crop to the
   bounding box of the non-background voxels, reorient to the network's axis layout and resample
   to the contract spacing when it differs (:func:`.prepare.prepare_input`, which training calls too);
3. MONAI ``sliding_window_inference`` (progress per window, cancellation between windows), with
   optional test-time augmentation by flips (the mean of the probabilities; the spread across
   flips is the uncertainty) (:func:`.sliding_window.infer_array`);
4. back to the input grid (probabilities linearly, then thresholded / arg-maxed, so labels are
   never interpolated), into the model's label convention, with region volumes in ml
   (:mod:`.labels`).

Classification: :func:`.classification.predict_classification` on the batch
:func:`.classification.classification_input` cuts (the whole input, patches, or landmark patches).
Any kind: :func:`.runners.run_model`.

The modules, each importing only those listed after it (an import-linter contract in
``pyproject.toml``):

* :mod:`.runners` -- one entry point for every kind; tasks register image-to-image runners;
* :mod:`.segmentation` | :mod:`.classification` -- the two kinds' ``predict`` and their results;
* :mod:`.prepare` | :mod:`.sliding_window` | :mod:`.labels` -- what the network sees; the network
  pass with TTA and uncertainty; label maps and volumes from probabilities;
* :mod:`.layout` -- a volume's orientation letters and the network's axis layout.

Each name lives in one module: import it from there. Imports torch and MONAI when called, not on import.
"""
