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

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ...models.contract import ModelContract, NetworkSpec

__all__ = [
    "ARCHITECTURES",
    "CHEXNEXT_LABELS",
    "DEFAULT_ARCH",
    "DEFAULT_SIZE",
    "TASK",
    "XRV_LABELS",
    "classify_contract",
    "head_prefix",
    "init_state",
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


def _key(name: str) -> str:
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
    index = {_key(n): i for i, n in enumerate(labels)}
    missing = [c for c in classes if _key(c) not in index]
    if missing:
        raise InvalidInputError(f"torchxrayvision has no output named {', '.join(missing)}; "
                                f"its outputs are {', '.join(labels)}")
    rows = [index[_key(c)] for c in classes]
    out = dict(state)
    out["class_layers.out.weight"] = w[rows].clone()
    out["class_layers.out.bias"] = b[rows].clone()
    return out


def _read_init(init_from: str | os.PathLike[str]) -> tuple[dict[str, Any], str, tuple[str, ...] | None,
                                                      tuple[str, ...] | None]:
    """(state_dict, what it is, its class names if known, its torchxrayvision output names if it is one) of a
    model folder, a weights file, a pickled torchxrayvision DenseNet or ``xrv:<name>`` (see :mod:`.xrv`)."""
    from ...models.errors import ModelLoadError
    from ...models.persistence import load_state_dict_file, read_model_json
    from .xrv import XRV_PREFIX, read_xrv_file, resolve_xrv_reference

    if os.fspath(init_from).startswith(XRV_PREFIX):
        init_from = resolve_xrv_reference(init_from)
    p = Path(init_from).expanduser()
    if not p.exists():
        raise InvalidInputError(f"{p}: the model to start from does not exist (give a model folder, a .pt/.pth "
                                "state_dict file or torchxrayvision weights, e.g. xrv:densenet121-res224-all)")
    if p.is_dir():
        if not (p / "model.json").is_file() or not (p / "model.pt").is_file():
            raise InvalidInputError(f"{p}: not a napari-medai model folder (no model.json + model.pt); give a "
                                    "model folder or a state_dict file")
        doc = read_model_json(p)
        contract = ModelContract.from_dict(doc["contract"])
        state = load_state_dict_file(p / "model.pt")
        return state, f"model folder {p} ({contract.name}, {architecture_of(contract) or 'another network'})", tuple(
            contract.output_channels), None
    try:
        return load_state_dict_file(p), f"weights file {p.name}", None, None
    except ModelLoadError as plain_error:
        try:  # a pickled whole torchxrayvision model, read through stand-ins (nothing in it is run)
            xf = read_xrv_file(p)
        except ModelLoadError as exc:
            raise ModelLoadError(f"{plain_error} -- nor is it a torchxrayvision DenseNet: {exc}") from exc
        return xf.state, f"torchxrayvision {xf.kind} {p.name}", None, xf.labels


def _first_conv_key(state: Mapping[str, Any]) -> str | None:
    for k in ("conv1.weight", "features.conv0.weight"):
        if k in state:
            return k
    return None


def init_state(init_from: str | os.PathLike[str], net: Any, arch: str, classes: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The weights of ``init_from`` that fit ``net`` (an ``arch`` network for ``classes``).

    * a model folder or a state_dict file (``weights_only=True``), MONAI or torchvision layout
      (DenseNet keys mapped by :func:`map_torchvision_densenet`); a 3-channel first convolution is summed
      over its channels (the grey image is the same in R, G and B);
    * every backbone tensor must fit by name and shape, else :class:`InvalidInputError` (another
      architecture);
    * the head is kept when the source's classes are known and equal ``classes``, or (a 18-output
      torchxrayvision head) when every class is one of its outputs by name; otherwise the new head
      keeps its random start.

    Returns
    -------
    (state, report)
        The tensors to load (``strict=False``) and a JSON-friendly note of what was taken.
    """
    import torch

    if os.fspath(init_from).startswith("xrv:"):
        from .xrv import resolve_xrv_reference

        init_from = resolve_xrv_reference(init_from)
    p = Path(init_from).expanduser()
    if p.is_dir() and (p / "model.json").is_file():
        from ...models.persistence import read_model_json

        src_arch = architecture_of(ModelContract.from_dict(read_model_json(p)["contract"]))
        if src_arch != arch:
            raise InvalidInputError(f"{p}: is a {src_arch or 'network of another kind'} model, not {arch}; train with "
                                    f"arch={src_arch!r} (--arch {src_arch}) to start from it" if src_arch else
                                    f"{p}: is not one of the classifier architectures ({', '.join(ARCHITECTURES)})")
    raw, what, src_classes, xrv_labels = _read_init(init_from)
    labels = xrv_labels or XRV_LABELS
    state = map_torchvision_densenet(raw) if arch == "densenet121" else dict(raw)
    state = {k: v for k, v in state.items() if isinstance(v, torch.Tensor)}
    own = net.state_dict()
    head = head_prefix(arch)
    conv = _first_conv_key(own)
    if (conv is not None and conv in state and state[conv].ndim == own[conv].ndim
            and state[conv].shape[1] != own[conv].shape[1] and own[conv].shape[1] == 1):
        state[conv] = state[conv].sum(dim=1, keepdim=True)  # RGB weights see a grey image in all 3 channels
    head_note = "new (random start)"
    head_w = state.get(head + "weight")
    if head_w is not None:
        if src_classes is not None and tuple(src_classes) == tuple(classes):
            head_note = "kept (same classes)"
        elif src_classes is None and head_w.shape[0] == len(labels) and all(
                _key(c) in {_key(x) for x in labels if x} for c in classes) and head_w.shape[0] != len(classes):
            state = xrv_head_to_chexnext(state, classes, labels)
            head_note = "torchxrayvision outputs mapped by name"
        elif src_classes is None and head_w.shape[0] == len(classes):
            head_note = "kept (same number of outputs; class names unknown)"
        else:
            state = {k: v for k, v in state.items() if not k.startswith(head)}
    backbone = [k for k in own if not k.startswith(head)]
    missing = [k for k in backbone if k not in state]
    wrong = [k for k in backbone if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
    if missing or wrong:
        bad = (missing + wrong)[:3]
        raise InvalidInputError(
            f"{init_from}: its weights do not fit a {arch} network ({len(missing)} tensor(s) missing, {len(wrong)} of "
            f"another shape, e.g. {', '.join(bad)}); start from a model of the same architecture or choose --arch to match"
        )
    take = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    if head_note.startswith("new"):
        take = {k: v for k, v in take.items() if not k.startswith(head)}
    unused = sorted(set(state) - set(take))
    report = {"source": what, "path": str(Path(init_from).expanduser().resolve()), "tensors_loaded": len(take),
              "head": head_note, "unused_keys": unused[:10], "n_unused_keys": len(unused)}
    return take, report


def checksum(state: Mapping[str, Any]) -> float:
    """A cheap fingerprint of a state dict (sum of absolute values), for resume checks and tests."""
    return float(sum(float(np.abs(v.detach().cpu().double().numpy()).sum()) for v in state.values()
                     if hasattr(v, "detach") and v.dtype.is_floating_point))
