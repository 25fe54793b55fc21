"""Transfer learning for the classifiers: the weights of a model folder, a state_dict file or torchxrayvision's
published weights (:mod:`.xrv`) that fit a new network (:func:`init_state`).

It sits above :mod:`.networks` and :mod:`.xrv`, so that reading torchxrayvision files and building networks do
not import each other.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ...errors import InvalidInputError
from ...models.contract import ModelContract
from .networks import (
    ARCHITECTURES,
    XRV_LABELS,
    architecture_of,
    head_prefix,
    label_key,
    map_torchvision_densenet,
    xrv_head_to_chexnext,
)

__all__ = ["init_state"]


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
                label_key(c) in {label_key(x) for x in labels if x} for c in classes) and head_w.shape[0] != len(classes):
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
