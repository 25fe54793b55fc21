"""Using a radiograph classifier: probabilities, decisions and a class-activation map per image.

:func:`classify_image` runs one image (a 2-D Volume, an array or a file path) through a classifier
model folder, prepared exactly as in training
(:func:`~napari_medai.core.inference.prepare_input`), and returns an :class:`ImageClassification`:
each class's probability, the decision threshold, the classes called present, and a Grad-CAM map
(Selvaraju et al. 2017, MONAI's :class:`monai.visualize.GradCAM`: the class score's gradient averaged
over the last convolutional block's feature maps weighs those maps; ReLU; upsampled) brought back to
the *input image's* pixel grid and scaled to 0..1 by its maximum.

An untrained model (``is_trained`` False, e.g. a freshly built network) gives ``trained=False``,
no decisions and no map: a random network's output is never shown as a finding.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import Cancelled, ProgressFn, StopFn
from ...errors import InvalidInputError
from ...volume import Volume

__all__ = ["ImageClassification", "as_radiograph", "classify_image", "classify_paths", "grad_cam", "load_classifier"]


@dataclass
class ImageClassification:
    """What :func:`classify_image` returns for one image.

    Attributes
    ----------
    class_names, probabilities, thresholds
        The model's classes, their probabilities (softmax: summing to 1; sigmoid: each 0..1) and the
        decision threshold of each (softmax models decide by the largest probability; for two classes
        that is 0.5).
    decisions
        The classes called present (empty when the model is untrained).
    trained, model_name, trained_on
        Where the answer came from.
    cam, cam_class
        The activation map on the input image's pixel grid (0..1) for ``cam_class``, or ``None``.
    source, seconds, notes
        The image's path (when read from a file), wall time, things to know.
    """

    class_names: tuple[str, ...]
    probabilities: np.ndarray
    thresholds: np.ndarray
    decisions: list[str]
    trained: bool
    model_name: str
    trained_on: str
    cam: np.ndarray | None = None
    cam_class: str | None = None
    source: str | None = None
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)

    def probability(self, name: str) -> float:
        """The probability of class ``name``."""
        if name not in self.class_names:
            raise InvalidInputError(f"{name!r} is not a class of {self.model_name} ({', '.join(self.class_names)})")
        return float(self.probabilities[self.class_names.index(name)])

    def to_json(self) -> dict[str, Any]:
        """JSON-friendly summary (the map itself is left out: its shape and peak are given)."""
        peak = None
        if self.cam is not None and self.cam.size:
            peak = [int(i) for i in np.unravel_index(int(np.argmax(self.cam)), self.cam.shape)]
        return {
            "source": self.source, "model": self.model_name, "trained": self.trained, "trained_on": self.trained_on,
            "probabilities": {c: round(float(p), 6) for c, p in zip(self.class_names, self.probabilities)},
            "thresholds": {c: float(t) for c, t in zip(self.class_names, self.thresholds)},
            "decisions": list(self.decisions), "cam_class": self.cam_class,
            "cam_shape": None if self.cam is None else list(self.cam.shape), "cam_peak": peak,
            "seconds": round(self.seconds, 4), "notes": list(self.notes),
        }

    def summary(self) -> str:
        """One line: probabilities and the decision (or why there is none)."""
        probs = ", ".join(f"{c} {p:.3f}" for c, p in zip(self.class_names, self.probabilities))
        if not self.trained:
            return f"{probs} -> no finding shown: model {self.model_name!r} is not trained"
        return f"{probs} -> {', '.join(self.decisions) or 'none'}"


def load_classifier(model: Any) -> Any:
    """A :class:`~napari_medai.core.models.LoadedModel` of a 2-D classifier (folder, name or loaded model), or
    of torchxrayvision weights (``xrv:<name>`` of a file in its cache, or a weights file; :mod:`.xrv`).

    Raises
    ------
    InvalidInputError
        The model is not a classifier of 2-D whole images.
    """
    from ...models.loading import load_model
    from .xrv import is_xrv_reference, load_xrv_classifier

    lm = load_xrv_classifier(model) if is_xrv_reference(model) else load_model(model)
    c = lm.contract
    if getattr(c, "kind", None) != "classification":
        raise InvalidInputError(f"{lm.source} is a {getattr(c, 'kind', 'segmentation')} model, not an image "
                                "classifier; give a model folder made by 'napari-medai train classify'")
    if c.spatial_dims != 2 or c.input_mode != "whole" or len(c.channels) != 1:
        raise InvalidInputError(f"{lm.source} classifies {c.spatial_dims}-D {c.input_mode} inputs with "
                                f"{len(c.channels)} channel(s); these functions need a 2-D one-channel image classifier")
    return lm


def as_radiograph(image: Any, *, what: str = "image") -> Volume:
    """A 2-D one-channel Volume from a Volume, a 2-D array or a file path (read with ``read_volume``)."""
    from ...io import read_volume

    if isinstance(image, (str, os.PathLike)):
        image = read_volume(image)
        what = str(image.source or what)
    if isinstance(image, np.ndarray):
        image = Volume(np.asarray(image, dtype=np.float32))
    if not isinstance(image, Volume):
        raise InvalidInputError(f"{what}: give a 2-D image (Volume, array or file path), not {type(image).__name__}")
    if image.channel_axis is not None:
        if image.n_channels != 1:
            raise InvalidInputError(f"{what}: has {image.n_channels} channels; a radiograph classifier takes one grey "
                                    "channel (convert colour images to grey)")
        image = image.channel(0)
    data = np.asarray(image.data)
    if data.ndim == 3 and data.shape[0] == 1:
        image = Volume(data[0], spacing=tuple(image.spacing[1:]) if image.spacing else None, name=image.name,
                       source=image.source, meta=image.meta, modality=image.modality)
    if image.ndim_spatial != 2:
        raise InvalidInputError(f"{what}: is {image.ndim_spatial}-D (shape {tuple(np.shape(image.data))}); a radiograph "
                                "classifier takes one 2-D image (pick one slice)")
    return image


def _cam_target(net: Any, contract: Any) -> str:
    from .networks import architecture_of, cam_layer

    arch = architecture_of(contract)
    if arch is not None:
        return cam_layer(arch, min(contract.roi_size))
    import torch

    last = None
    for name, mod in net.named_modules():
        if isinstance(mod, (torch.nn.Conv2d, torch.nn.BatchNorm2d)):
            last = name
    if last is None:
        raise InvalidInputError(f"model {contract.name!r}: no convolution layer to compute an activation map from")
    return last


def grad_cam(net: Any, x: np.ndarray, class_index: int, *, target_layer: str, device: str = "cpu") -> np.ndarray:
    """Grad-CAM of one prepared input ``x`` ``(1, C, H, W)`` for output ``class_index`` on the network grid
    ``(H, W)``, ReLU'd and divided by its maximum (all zeros when the class score has no positive evidence)."""
    import torch
    from monai.visualize import GradCAM

    net = net.to(device)
    net.eval()
    modules = dict(net.named_modules())
    if target_layer not in modules:
        raise InvalidInputError(f"the network has no layer {target_layer!r} to compute an activation map from")
    layer = modules[target_layer]
    # MONAI's GradCAM registers hooks on the layer and keeps no handle: remove what it added afterwards,
    # so that a model classifying many images does not pile up hooks
    before = (set(layer._forward_hooks), set(layer._backward_hooks))
    try:
        cam = GradCAM(nn_module=net, target_layers=target_layer, postprocessing=lambda t: t)
        with torch.enable_grad():
            xt = torch.from_numpy(np.ascontiguousarray(x)).float().to(device)
            m = cam(xt, class_idx=int(class_index))
    finally:
        for hooks, old in ((layer._forward_hooks, before[0]), (layer._backward_hooks, before[1])):
            for key in set(hooks) - old:
                del hooks[key]
    out = np.asarray(m.detach().cpu().numpy(), dtype=np.float32)[0, 0]
    mx = float(out.max()) if out.size else 0.0
    return out / mx if mx > 0 else np.zeros_like(out)


def _cam_to_input(cam_net: np.ndarray, geo: Any) -> np.ndarray:
    """A map on the network grid -> the input image's pixel grid (undoing the resize and axis layout)."""
    import torch
    import torch.nn.functional as F

    t = torch.from_numpy(np.ascontiguousarray(cam_net))[None, None]
    if tuple(cam_net.shape) != tuple(geo.net_shape):
        t = F.interpolate(t, size=tuple(int(s) for s in geo.net_shape), mode="bilinear", align_corners=False)
    arr = geo.layout.from_net(t[0].numpy())[0]
    if geo.box is not None:
        full = np.zeros(geo.reference.spatial_shape, dtype=np.float32)
        full[geo.box] = arr
        arr = full
    return np.clip(arr.astype(np.float32), 0.0, 1.0)


def _decide(probs: np.ndarray, contract: Any) -> list[str]:
    from ...inference.classification import decide_classes

    return decide_classes(probs, contract)


def classify_image(model: Any, image: Any, *, cam_class: str | None = None, cam: bool = True,
                   device: str = "auto") -> ImageClassification:
    """Classify one 2-D image (see the module docstring).

    Parameters
    ----------
    model
        A classifier model folder (or registry name, or a loaded model).
    image
        A 2-D :class:`Volume`, a 2-D array or an image file path.
    cam_class
        The class whose activation map is computed (default: the most probable class).
    cam
        False: no map (faster).
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    """
    from ...device import resolve_device
    from ...inference.classification import classify_batch
    from ...inference.prepare import prepare_input

    t0 = time.perf_counter()
    lm = load_classifier(model)
    c = lm.contract
    vol = as_radiograph(image)
    dev = resolve_device(device)
    x, geo = prepare_input(c, [vol])
    x = x[None]
    probs = classify_batch(lm.network, x, output_kind=c.output_kind, device=dev)[0]
    notes = list(lm.notes)
    names = tuple(c.output_channels)
    thresholds = np.asarray(c.decision_thresholds if c.decision_thresholds else (0.5,) * len(names), dtype=float)
    if c.output_kind == "softmax":
        thresholds = np.full(len(names), 0.5 if len(names) == 2 else 1.0 / len(names))
    trained = bool(c.is_trained)
    decisions: list[str] = _decide(probs, c) if trained else []
    cam_map, which = None, None
    if not trained:
        notes.append(f"model {c.name!r} is NOT TRAINED (random weights): no finding and no map is shown")
    elif cam:
        which = cam_class if cam_class is not None else names[int(np.argmax(probs))]
        if which not in names:
            raise InvalidInputError(f"cam_class {which!r} is not a class of {c.name} ({', '.join(names)})")
        layer = _cam_target(lm.network, c)
        cam_net = grad_cam(lm.network, x, names.index(which), target_layer=layer, device=dev)
        cam_map = _cam_to_input(cam_net, geo)
        notes.append(f"Grad-CAM of layer {layer} for {which}")
    lm.network.to("cpu")
    return ImageClassification(
        class_names=names, probabilities=np.asarray(probs, dtype=float), thresholds=thresholds, decisions=decisions,
        trained=trained, model_name=c.name, trained_on=c.trained_on, cam=cam_map, cam_class=which,
        source=vol.source, seconds=time.perf_counter() - t0, notes=notes,
    )


def expand_inputs(paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str]) -> list[Path]:
    """Files and folders -> image files (a folder gives every image below it, sorted)."""
    from .datasets import image_files

    items = [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)
    out: list[Path] = []
    for it in items:
        p = Path(it).expanduser()
        if p.is_dir():
            found = image_files(p)
            if not found:
                raise InvalidInputError(f"{p}: holds no image files (PNG, JPEG, TIFF or DICOM)")
            out.extend(found)
        elif p.is_file():
            out.append(p)
        else:
            raise InvalidInputError(f"{p}: does not exist (give an image file or a folder of images)")
    return out


def classify_paths(model: Any, paths: Sequence[str | os.PathLike[str]] | str | os.PathLike[str], *, cam: bool = False,
                   cam_class: str | None = None, device: str = "auto", progress: ProgressFn | None = None,
                   should_stop: StopFn | None = None) -> list[tuple[str, ImageClassification]]:
    """Classify image files and folders of images, one :class:`ImageClassification` per file, in order.

    ``should_stop()`` is polled before every image (raises :class:`~napari_medai.core.models.Cancelled`).
    """
    lm = load_classifier(model)
    files = expand_inputs(paths)
    out: list[tuple[str, ImageClassification]] = []
    for i, f in enumerate(files):
        if should_stop is not None and should_stop():
            raise Cancelled(f"classification cancelled after {i} of {len(files)} images")
        out.append((str(f), classify_image(lm, f, cam=cam, cam_class=cam_class, device=device)))
        if progress is not None:
            progress((i + 1) / len(files), f"classified {i + 1}/{len(files)}: {f.name}")
    return out
