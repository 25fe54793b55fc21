"""Open a trained CT denoiser and run it on a slice or a stack.

:func:`load_denoiser` opens a model folder written by :func:`~.supervised.train_ldct` -- or a bare
RED-CNN state_dict such as the shared ``redcnn_shared_L1_25.pt`` -- into the engine's
:class:`~napari_medai.core.models.loading.LoadedModel`, loading weights with ``weights_only=True``
and strict key checking; :func:`apply_denoiser` runs it slice by slice (and is the image runner of
``run_model`` for denoisers).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ...inference.runners import register_image_runner
from ...models.errors import ModelLoadError
from ._common import ProgressFn, StopFn, iter_slices
from .denoiser import TASK, DenoiserContract, build_denoiser_network, shared_redcnn_contract

__all__ = ["apply_denoiser", "load_denoiser"]


def load_denoiser(source: str | os.PathLike[str] | Any) -> Any:
    """Open a denoiser: a model folder written by :func:`~.supervised.train_ldct`, or a RED-CNN state_dict file.

    Parameters
    ----------
    source
        A folder holding ``model.json`` + ``model.pt`` (task ``ldct_denoising``), that
        ``model.json`` itself, a ``.pt`` state_dict with the shared RED-CNN's keys (e.g.
        ``redcnn_shared_L1_25.pt``), or an already loaded model (returned unchanged).

    Returns
    -------
    napari_medai.core.models.LoadedModel
        With a :class:`DenoiserContract`, the network in eval mode on the CPU, and ``info``
        (``weights_md5``, ``weights_file``, ``training``).

    Raises
    ------
    ModelLoadError
        When the files are missing, unsafe to load, or the weights' keys/shapes do not match the
        contract's network (strict check).
    """
    from ...models.loading import LoadedModel, file_md5, read_model_json
    from ...models.redcnn import SHARED_KEYS, check_state_dict, read_state_dict

    if isinstance(source, LoadedModel):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidInputError(f"a denoiser is a model folder or a .pt file, got {type(source).__name__}")
    p = Path(source).expanduser()
    if p.name == "model.json" and p.is_file():
        p = p.parent
    if not p.exists():
        raise ModelLoadError(
            f"{p}: no such file or folder; give a model folder made by 'napari-medai train ldct' or a RED-CNN "
            "state_dict (.pt)"
        )
    if p.is_dir():
        if not (p / "model.json").is_file():
            raise ModelLoadError(f"{p}: not a model folder (no model.json); train one with 'napari-medai train ldct'")
        doc = read_model_json(p)
        try:
            contract = DenoiserContract.from_dict(doc.get("contract") or {})
        except InvalidInputError as exc:
            raise ModelLoadError(f"{p / 'model.json'}: {exc}") from exc
        wpath = p / "model.pt"
        if not wpath.is_file():
            raise ModelLoadError(f"{p}: model.json is there but no model.pt; was training cut off before the "
                                 "first epoch ended? Resume it or train again")
        net = build_denoiser_network(contract.network)
        check_state_dict(net, read_state_dict(wpath), where=str(wpath))
        info = {"source_kind": "napari-medai", "weights_md5": file_md5(wpath), "weights_file": str(wpath),
                "training": doc.get("training", {})}
        return LoadedModel(contract=contract, network=net, source=f"napari-medai denoiser {p}", path=p,
                           weights_format="state_dict", info=info,
                           notes=[] if contract.is_trained else [contract.training_status])
    sd = read_state_dict(p)
    if set(sd) != set(SHARED_KEYS):
        if (p.parent / "model.json").is_file():
            return load_denoiser(p.parent)
        raise ModelLoadError(
            f"{p}: a state_dict with keys {', '.join(sorted(sd)[:4])}...; only the shared RED-CNN's keys "
            f"({', '.join(SHARED_KEYS[::2])}) are recognised in a bare file; give the model folder written by "
            "'napari-medai train ldct' instead"
        )
    filters = int(sd["conv_first.weight"].shape[0])
    contract = shared_redcnn_contract(filters)
    net = build_denoiser_network(contract.network)
    check_state_dict(net, sd, where=str(p))
    info = {"source_kind": "file", "weights_md5": file_md5(p), "weights_file": str(p)}
    return LoadedModel(contract=contract, network=net, source=f"RED-CNN state_dict {p}", path=p,
                       weights_format="state_dict", info=info)


def _run_net(net: Any, sl: np.ndarray, contract: DenoiserContract, dev: str) -> np.ndarray:
    import torch

    from .nets import run_padded

    x = torch.from_numpy(((sl - contract.input_offset_hu) / contract.input_scale_hu).astype(np.float32))
    x = x[None, None].to(dev)
    if contract.network.name == "SmallUNet":
        y = run_padded(net, x)
    else:
        y = net(x)
    return (y[0, 0].cpu().numpy().astype(np.float64) * contract.input_scale_hu + contract.input_offset_hu).astype(
        np.float32)


def apply_denoiser(
    model: Any,
    image: np.ndarray,
    *,
    device: str = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> np.ndarray:
    """Run a loaded denoiser on a slice or stack (slice by slice).

    Parameters
    ----------
    model
        From :func:`load_denoiser`.
    image
        float32 2-D slice or 3-D stack in HU; slices at least 21 x 21 pixels for RED-CNN.
    device
        ``"auto"``, ``"cpu"`` or ``"cuda"``.
    progress, should_stop
        Per slice; cancelling raises :class:`~napari_medai.core.models.Cancelled`.

    Returns
    -------
    numpy.ndarray
        float32, the input's shape, in HU.
    """
    import torch

    from ...device import resolve_device
    from ...models.redcnn import MIN_SIDE

    c = model.contract
    if not isinstance(c, DenoiserContract):
        raise InvalidInputError(f"{model.source} is not a CT denoiser (its task is {getattr(c, 'task', '?')!r})")
    if c.network.name != "SmallUNet" and min(image.shape[-2:]) < MIN_SIDE:
        raise InvalidInputError(f"RED-CNN needs slices of at least {MIN_SIDE} x {MIN_SIDE} pixels, got {image.shape[-2:]}")
    dev = resolve_device(device)
    net = model.network.to(dev)
    net.eval()
    stack = image[None] if image.ndim == 2 else image
    out = np.empty(stack.shape, dtype=np.float32)
    try:
        with torch.no_grad():
            for k, sl in iter_slices(stack, label=c.name, progress=progress, should_stop=should_stop):
                out[k] = _run_net(net, sl, c, dev)
    finally:
        model.network.to("cpu")
    return out[0] if image.ndim == 2 else out


register_image_runner(TASK, apply_denoiser)  # run_model(denoiser, image) denoises it
