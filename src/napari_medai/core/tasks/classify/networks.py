"""Networks of the image classifiers, their contracts, and weights from elsewhere (transfer learning).

Architectures (:data:`ARCHITECTURES`), all MONAI classes built from JSON arguments
(:func:`~napari_medai.core.models.loading.build_network`), one grey input channel:

* ``resnet10-slim`` -- the CPU default: MONAI ``ResNet`` with basic blocks ``(1, 1, 1, 1)`` and
  widths ``(32, 64, 128, 256)`` (half a ResNet-18's), stride-2 first convolution as in torchvision.
  About 58 training images/s at 128 px on one core of this project's 2-core test machine (idle).
* ``resnet18`` -- torchvision's ResNet-18 layout (``(2, 2, 2, 2)``, ``(64, 128, 256, 512)``), so a
  torchvision ``resnet18`` state_dict loads into it (its 3-channel first convolution summed to one).
* ``densenet121`` -- MONAI ``DenseNet121``, the network of CheXNeXt and of torchxrayvision's chest X-ray
  models; torchvision ``densenet121`` and torchxrayvision state_dicts load into it by key mapping.

:func:`init_state` reads ``init_from`` (a model folder, a state_dict file, a torchxrayvision state_dict, or
torchxrayvision's published pickled DenseNets through :mod:`.xrv`'s stand-ins; nothing pickled is run), and returns the weights that fit the new network; the classification
head (``fc`` / ``class_layers.out``) is kept only when its classes are the same by name, and
torchxrayvision's 18 outputs are mapped onto :data:`CHEXNEXT_LABELS` by name
(:func:`xrv_head_to_chexnext`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ...models.contract import ModelContract, NetworkSpec

__all__ = [
    "label_key",
    "ARCHITECTURES",
    "CHEXNEXT_LABELS",
    "DEFAULT_ARCH",
    "DEFAULT_SIZE",
    "TASK",
    "XRV_LABELS",
    "classify_contract",
    "head_prefix",
    "map_torchvision_densenet",
    "xrv_head_to_chexnext",
]

TASK = "classify"

#: Architectures :func:`classify_contract` builds; the first is the CPU default.
ARCHITECTURES: tuple[str, ...] = ("resnet10-slim", "resnet18", "densenet121")
DEFAULT_ARCH = ARCHITECTURES[0]
#: Default network input edge (pixels): images are resized to ``DEFAULT_SIZE`` x ``DEFAULT_SIZE``.
DEFAULT_SIZE = 128

#: The 14 findings of ChestX-ray14 that CheXNeXt (Rajpurkar et al. 2018) reports, in the order of the
#: data set (Wang et al. 2017) as listed in the project's reference notes.
CHEXNEXT_LABELS: tuple[str, ...] = (
    "Atelectasis", "Cardiomegaly", "Effusion", "Infiltration", "Mass", "Nodule", "Pneumonia",
    "Pneumothorax", "Consolidation", "Edema", "Emphysema", "Fibrosis", "Pleural Thickening", "Hernia",
)

#: torchxrayvision's 18 outputs (``xrv.datasets.default_pathologies``), in its order.
XRV_LABELS: tuple[str, ...] = (
    "Atelectasis", "Consolidation", "Infiltration", "Pneumothorax", "Edema", "Emphysema", "Fibrosis",
    "Effusion", "Pneumonia", "Pleural_Thickening", "Cardiomegaly", "Nodule", "Mass", "Hernia",
    "Lung Lesion", "Fracture", "Lung Opacity", "Enlarged Cardiomediastinum",
)


def label_key(name: str) -> str:
    """A label compared by name: case, spaces, '_' and '-' ignored; 'infiltrate' = 'infiltration'."""
    k = re.sub(r"[\s_\-]+", "", str(name)).lower()
    return {"infiltrate": "infiltration", "oedema": "edema", "pleuraleffusion": "effusion"}.get(k, k)


def _network(arch: str, n_out: int) -> NetworkSpec:
    if arch == "resnet10-slim":
        return NetworkSpec("ResNet", {"block": "basic", "layers": [1, 1, 1, 1], "block_inplanes": [32, 64, 128, 256],
                                      "spatial_dims": 2, "n_input_channels": 1, "num_classes": int(n_out),
                                      "conv1_t_size": 7, "conv1_t_stride": 2})
    if arch == "resnet18":
        return NetworkSpec("ResNet", {"block": "basic", "layers": [2, 2, 2, 2], "block_inplanes": [64, 128, 256, 512],
                                      "spatial_dims": 2, "n_input_channels": 1, "num_classes": int(n_out),
                                      "conv1_t_size": 7, "conv1_t_stride": 2})
    if arch == "densenet121":
        return NetworkSpec("DenseNet121", {"spatial_dims": 2, "in_channels": 1, "out_channels": int(n_out)})
    raise InvalidInputError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")


def architecture_of(contract: ModelContract) -> str | None:
    """The :data:`ARCHITECTURES` name of a contract's network (``None`` when it is none of them)."""
    spec = contract.network
    if spec is None:
        return None
    if spec.name == "DenseNet121":
        return "densenet121"
    if spec.name == "ResNet":
        widths = list(spec.kwargs.get("block_inplanes", []))
        return "resnet10-slim" if widths == [32, 64, 128, 256] else "resnet18" if widths == [64, 128, 256, 512] else None
    return None


def head_prefix(arch: str) -> str:
    """State-dict prefix of the classification head (the last linear layer) of ``arch``."""
    if arch not in ARCHITECTURES:
        raise InvalidInputError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    return "class_layers.out." if arch == "densenet121" else "fc."


#: Grad-CAM layers of each architecture, deepest first, with their stride (input pixels per map cell).
CAM_LAYERS: dict[str, tuple[tuple[str, int], ...]] = {
    "densenet121": (("class_layers.relu", 32), ("features.denseblock3", 16), ("features.denseblock2", 8),
                    ("features.denseblock1", 4)),
    "resnet18": (("layer4", 32), ("layer3", 16), ("layer2", 8), ("layer1", 4)),
    "resnet10-slim": (("layer4", 32), ("layer3", 16), ("layer2", 8), ("layer1", 4)),
}
#: Fewest map cells across the input that a Grad-CAM layer must give (an ImageNet-size ResNet's last block: 7).
CAM_MIN_CELLS = 7


def cam_layer(arch: str, size: int | None = None) -> str:
    """The module whose activations Grad-CAM weighs: the deepest block whose map is at least
    :data:`CAM_MIN_CELLS` cells across at input edge ``size`` (the last block at 224 px, the one before it
    at 128 px: 8 x 8 instead of 4 x 4), the last block when ``size`` is not given."""
    layers = CAM_LAYERS.get(arch)
    if layers is None:
        raise InvalidInputError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if size is None:
        return layers[0][0]
    for name, stride in layers:
        if int(size) // stride >= CAM_MIN_CELLS:
            return name
    return layers[-1][0]


def classify_contract(classes: Sequence[str], *, arch: str = DEFAULT_ARCH, size: int = DEFAULT_SIZE,
                      multilabel: bool = False, name: str | None = None,
                      thresholds: Sequence[float] | None = None) -> ModelContract:
    """The (untrained) contract of a 2-D radiograph classifier.

    Parameters
    ----------
    classes
        Class names: two or more for single-label (softmax) models, one or more findings for
        multi-label (sigmoid) models.
    arch, size
        One of :data:`ARCHITECTURES`; input edge in pixels (a multiple of 32, at least 32).
    multilabel
        Sigmoid outputs with binary cross-entropy (each class present or not) instead of softmax.
    name
        Model name (default ``classify-<arch>``).
    thresholds
        Per-class decision thresholds of sigmoid models (default 0.5).
    """
    names = tuple(str(c) for c in classes)
    if len(set(names)) != len(names) or any(not n for n in names):
        raise InvalidInputError(f"class names must be distinct and non-empty, got {list(names)}")
    if not multilabel and len(names) < 2:
        raise InvalidInputError(f"a single-label classifier needs at least 2 classes, got {list(names)}")
    if multilabel and not names:
        raise InvalidInputError("a multi-label classifier needs at least one finding")
    size = int(size)
    if size < 32 or size % 32:
        raise InvalidInputError(f"size must be a multiple of 32 and at least 32 (the networks pool by 32), got {size}")
    th = tuple(float(t) for t in thresholds) if thresholds is not None else (0.5,) * len(names)
    if len(th) != len(names) or not all(0.0 < t < 1.0 for t in th):
        raise InvalidInputError(f"thresholds must be one value in (0, 1) per class, got {list(th)}")
    return ModelContract(
        name=name or f"classify-{arch}", task=TASK, kind="classification", channels=("image",),
        output_kind="sigmoid" if multilabel else "softmax", output_channels=names,
        roi_size=(size, size), spatial_dims=2, network=_network(arch, len(names)),
        normalization="zscore", input_mode="whole", decision_thresholds=th,
        description=(f"napari-medai 2-D radiograph classifier ({arch}, {size} px, one grey channel z-scored per "
                     f"image; {'multi-label sigmoid' if multilabel else 'single-label softmax'})"),
    )


# ---------------------------------------------------------------------------------------------
# weights from elsewhere
# ---------------------------------------------------------------------------------------------
_DENSE_LAYER = re.compile(r"^(.*denselayer\d+)\.(norm|relu|conv)\.?([12])\.(weight|bias|running_mean|running_var|"
                          r"num_batches_tracked)$")


def map_torchvision_densenet(state: Mapping[str, Any]) -> dict[str, Any]:
    """torchvision / torchxrayvision DenseNet keys -> MONAI ``DenseNet121`` keys.

    ``features.denseblockB.denselayerL.norm1.weight`` (or the old ``norm.1``) becomes
    ``features.denseblockB.denselayerL.layers.norm1.weight``; ``classifier.*`` becomes
    ``class_layers.out.*``; everything else keeps its name.
    """
    out: dict[str, Any] = {}
    for k, v in state.items():
        m = _DENSE_LAYER.match(k)
        if m:
            k = f"{m.group(1)}.layers.{m.group(2)}{m.group(3)}.{m.group(4)}"
        elif k.startswith("classifier."):
            k = "class_layers.out." + k[len("classifier."):]
        out[k] = v
    return out


def xrv_head_to_chexnext(state: Mapping[str, Any], classes: Sequence[str] = CHEXNEXT_LABELS,
                         labels: Sequence[str] = XRV_LABELS) -> dict[str, Any]:
    """Rows of a torchxrayvision head (``class_layers.out.weight/bias``, 18 outputs) picked by name for
    ``classes`` (default the 14 CheXNeXt findings); every class must be among ``labels``.

    Returns the state with the head replaced by the picked rows.
    """
    w, b = state.get("class_layers.out.weight"), state.get("class_layers.out.bias")
    if w is None or b is None or w.shape[0] != len(labels):
        raise InvalidInputError(f"the weights have no {len(labels)}-output torchxrayvision head to map by name")
    index = {label_key(n): i for i, n in enumerate(labels)}
    missing = [c for c in classes if label_key(c) not in index]
    if missing:
        raise InvalidInputError(f"torchxrayvision has no output named {', '.join(missing)}; "
                                f"its outputs are {', '.join(labels)}")
    rows = [index[label_key(c)] for c in classes]
    out = dict(state)
    out["class_layers.out.weight"] = w[rows].clone()
    out["class_layers.out.bias"] = b[rows].clone()
    return out


def checksum(state: Mapping[str, Any]) -> float:
    """A cheap fingerprint of a state dict (sum of absolute values), for resume checks and tests."""
    return float(sum(float(np.abs(v.detach().cpu().double().numpy()).sum()) for v in state.values()
                     if hasattr(v, "detach") and v.dtype.is_floating_point))
