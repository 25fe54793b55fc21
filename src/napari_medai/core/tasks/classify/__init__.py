"""Image classification the review's way: 2-D radiographs labelled by folder, CNN, activation maps.

* :func:`find_class_folders` / :func:`read_labels_csv` -- labelled data (one sub-folder per class,
  ``train/ val/ test/`` optional above them; a CSV of image -> findings for multi-label data);
* :func:`train_classify` -- a DenseNet-121 (CheXNeXt's network) or a ResNet on the engine's
  classification recipe (class-balanced sampling, radiograph augmentation without flips, cross-entropy
  or binary cross-entropy, early stopping on validation AUC, stop / resume, transfer learning from a
  model folder, a torchvision / MONAI state_dict or a torchxrayvision DenseNet; all layers or the head);
* :func:`classify_image` / :func:`classify_paths` -- probabilities, decisions and a Grad-CAM map on
  the input image's grid (:class:`ImageClassification`); an untrained model shows no finding;
* :func:`evaluate_classifier` -- per-class AUC with DeLong's 95 % CI, sensitivity / specificity /
  accuracy at the model's threshold, the confusion matrix, ROC curves as a PNG
  (:class:`ClassifierEvaluation`);
* :data:`CHEXNEXT_LABELS` -- the 14 chest X-ray findings; :func:`xrv_head_to_chexnext` maps a
  torchxrayvision DenseNet's 18 outputs onto them by name;
* :mod:`.xrv` -- torchxrayvision's published DenseNets (pickled whole models, read without running
  them): :func:`load_xrv_classifier`, :func:`find_xrv_weights` in its cache, :func:`download_xrv_weights`
  only when asked.

Command line: ``napari-medai train classify``, ``napari-medai classify`` and
``napari-medai classify evaluate``.
"""

from __future__ import annotations

from .datasets import (
    FolderDataset,
    find_class_folders,
    group_split,
    groups_from_regex,
    image_files,
    read_labels_csv,
)
from .evaluate import ClassifierEvaluation, evaluate_classifier, evaluation_from_probabilities
from .networks import (
    ARCHITECTURES,
    CHEXNEXT_LABELS,
    DEFAULT_ARCH,
    DEFAULT_SIZE,
    TASK,
    XRV_LABELS,
    architecture_of,
    classify_contract,
    map_torchvision_densenet,
    xrv_head_to_chexnext,
)
from .outputs import cam_file_names, write_cam_pngs, write_predictions_csv
from .predict import (
    ImageClassification,
    as_radiograph,
    classify_image,
    classify_paths,
    expand_inputs,
    grad_cam,
    load_classifier,
)
from .train import DEFAULTS, load_dataset, train_classify
from .transfer import init_state
from .xrv import (
    XRV_WEIGHTS,
    download_xrv_weights,
    find_xrv_weights,
    load_xrv_classifier,
    read_xrv_file,
)

__all__ = [
    "ARCHITECTURES",
    "CHEXNEXT_LABELS",
    "DEFAULTS",
    "DEFAULT_ARCH",
    "DEFAULT_SIZE",
    "TASK",
    "XRV_LABELS",
    "XRV_WEIGHTS",
    "ClassifierEvaluation",
    "FolderDataset",
    "ImageClassification",
    "architecture_of",
    "as_radiograph",
    "classify_contract",
    "classify_image",
    "classify_paths",
    "evaluate_classifier",
    "evaluation_from_probabilities",
    "expand_inputs",
    "find_class_folders",
    "grad_cam",
    "group_split",
    "groups_from_regex",
    "image_files",
    "init_state",
    "load_classifier",
    "load_dataset",
    "map_torchvision_densenet",
    "read_labels_csv",
    "train_classify",
    "cam_file_names",
    "download_xrv_weights",
    "find_xrv_weights",
    "load_xrv_classifier",
    "read_xrv_file",
    "write_cam_pngs",
    "write_predictions_csv",
    "xrv_head_to_chexnext",
]
