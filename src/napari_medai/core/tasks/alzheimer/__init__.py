"""Alzheimer's disease from T1 MRI (Liu, Zhang, Adeli, Shen 2018): alignment to MNI152, a cohort
simulated from real anatomy, landmark discovery, and an AD vs normal control classifier.

* :mod:`.registration` -- affine registration of a skull-on T1 to the MNI152 2009a template;
* :mod:`.cohort` -- an Alzheimer-like cohort simulated from the IXI T1s and their DLMUSE parcellations;
* :mod:`.landmarks` -- a cohort aligned to the template, a voxel-wise AD vs NC comparison (p and t maps)
  and the most significant, mutually separated landmarks;
* the classifier: :mod:`.model` (classes, the two networks' contracts, the model folder),
  :mod:`.subjects` (sources, alignment of a labelled cohort), :mod:`.train`, :mod:`.predict`,
  :mod:`.evaluate` and :mod:`.cross_validation`.

The classifier (landmark-based deep multi-instance learning), on the engine's classification kind:

1. **Cohort** (:func:`~.landmarks.read_cohort`): a folder of T1s and a labels CSV (``subject``,
   ``diagnosis`` AD / NC, and optionally ``source``: the real scan a simulated subject was made from;
   without it every subject is its own source). Every T1 is affinely registered to MNI152 on the 2 mm
   cohort grid (:func:`~.subjects.align_subjects`, cached in ``work_dir``; a refused registration
   leaves the subject out, listed), or used as it is when the cohort already lies on one grid.
2. **Split by source** (:func:`napari_medai.core.recipes.base.split_groups`): about ``val_fraction``
   of the subjects, whole sources at a time, validate (they pick the best epoch); every subject made
   from one real scan stays on one side.
3. **Landmarks** (``model="landmarks"``) are discovered on the *training* subjects only
   (:func:`~.landmarks.group_comparison`, :func:`~.landmarks.select_landmarks`: Welch t-test of 4 mm
   smoothed intensity, the ``n_landmarks`` most significant centres at least ``min_distance_mm``
   apart) and stored in the model's contract (``landmark_points``, world mm) and as
   ``landmarks.csv`` in the model folder.
4. **Networks** (:mod:`.model`). ``"landmarks"``: :mod:`napari_medai.core.models.landmark_net` (one
   ``patch``^3 patch per landmark on the 2 mm grid, a shared 3-D CNN with a landmark embedding, fully
   connected fusion). ``"whole-brain"``: a small MONAI ``DenseNet`` (three dense blocks) on the whole
   aligned image resized to 4 mm voxels -- the baseline the paper's claim is about. Both train through
   :func:`napari_medai.core.training.train_classifier` with the same recipe (class-balanced
   batches, cross-entropy, AdamW, validation ROC AUC picks the best epoch; no flips by default:
   the patches sit at fixed anatomical places) and the same split (:func:`~.train.train_alzheimer`).
5. **Prediction** (:func:`~.predict.predict_alzheimer`): registration to MNI152 (refused when it
   clearly failed), P(AD), and for every landmark its occlusion contribution (P(AD) minus P(AD) with
   that patch blanked; :func:`napari_medai.core.landmark_patches.occlusion_contributions`) spread into
   a saliency volume on the MNI grid; a whole-brain model gets an occlusion map of 8^3-voxel blocks
   of its input. An untrained network gives no probability (``trained=False``).
6. **Evaluation** (:func:`~.evaluate.evaluate_alzheimer`): P(AD) of every subject of a labelled
   cohort, the ROC curve, the AUC with DeLong's 95 % interval (:mod:`napari_medai.core.metrics.roc`),
   and accuracy, sensitivity and specificity at a threshold; subjects whose source scan the model
   trained on are counted and named (a held-out evaluation must have none).
   :func:`~.cross_validation.cross_validate_alzheimer` trains one model per fold of source scans and
   evaluates the pooled out-of-fold probabilities.

Measured (``benchmarks/alzheimer_classifier.py``, its notes give the table): on 40-subject cohorts
simulated from the IXI scans, tested on 12 subjects of 3 source scans never seen in training, the
landmark network reached AUC 0.78 [DeLong 95 % CI 0.48-1.00] at severity 0.2 where the whole-brain
baseline, trained the same way, stayed at 0.31 (paired p 0.009); 5-fold cross-validation by source
over all 39 subjects gave 0.78 [0.64-0.93] vs 0.54 [0.35-0.73] (p 0.065). At severities 0.1 and 0.05
neither differed from chance.

Everything here is a research tool on simulated data, never a diagnosis
(:data:`~.model.DISCLAIMER`).
"""
