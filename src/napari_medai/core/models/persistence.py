"""napari-medai model folders on disk: ``model.json`` + weights, written atomically, read safely.

A model folder holds

* ``model.pt`` -- a plain ``state_dict`` (``{name: tensor}``), or ``model.ts`` (TorchScript);
* ``model.json`` -- ``format: napari-medai-model``, ``format_version``, the ``contract`` (whatever
  ``contract.to_dict()`` gives: a segmentation contract, a CT denoiser's...), the ``training``
  summary, and ``sha256``: the checksum of each weights file present when ``model.json`` was
  written, checked by :func:`read_model_json` (folders written before checksums were recorded
  have none and are read as before).

Writing (:func:`save_model_folder`): the weights are replaced first, then ``model.json``, each
through :func:`napari_medai.core.io.atomic.atomic_write`, so neither file is ever half-written.
Reading weights (:func:`torch_load_weights`, :func:`load_state_dict_file`) always uses
``torch.load(..., weights_only=True)``: no pickled object is ever run.

Also here, for every trainer: :func:`versions` (library versions recorded in ``model.json``),
:func:`plain_state` (a detached CPU copy of a ``state_dict``) and :func:`atomic_torch_save`.

Imports only the standard library, numpy/torch (inside functions), :mod:`napari_medai.core.io.atomic`
and the model errors; never a task, the trainer or the inference engine.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..io.atomic import atomic_write
from .errors import ModelLoadError

__all__ = [
    "LOAD_ERRORS",
    "MODEL_FOLDER_FORMAT",
    "MODEL_FOLDER_VERSION",
    "WEIGHTS_FILES",
    "atomic_torch_save",
    "file_sha256",
    "load_state_dict_file",
    "plain_state",
    "read_json",
    "read_model_json",
    "save_model_folder",
    "torch_load_weights",
    "unwrap_state_dict",
    "versions",
    "write_model_json",
]

#: ``format`` value of a napari-medai ``model.json``.
MODEL_FOLDER_FORMAT = "napari-medai-model"
MODEL_FOLDER_VERSION = 1
#: Weights files of a model folder whose checksums ``model.json`` records.
WEIGHTS_FILES = ("model.pt", "model.ts")
#: What ``torch.load(..., weights_only=True)`` raises on a file that is not plain weights.
LOAD_ERRORS: tuple[type[BaseException], ...] = (
    pickle.UnpicklingError, RuntimeError, EOFError, OSError, ValueError, AttributeError,
)


# ---------------------------------------------------------------------------------------------
# small helpers every trainer uses
# ---------------------------------------------------------------------------------------------
def versions() -> dict[str, str]:
    """Versions of Python and of the libraries a model depends on (recorded in ``model.json``)."""
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in ("napari-medai", "torch", "monai", "numpy"):
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = "not installed"
    return out


def plain_state(sd: Mapping[str, Any]) -> dict[str, Any]:
    """A detached CPU copy of a ``state_dict`` (safe to save while training goes on)."""
    return {k: v.detach().cpu().clone() for k, v in sd.items()}


def atomic_torch_save(obj: Any, path: str | os.PathLike[str]) -> None:
    """``torch.save(obj, path)`` through a temporary file, so ``path`` is never half-written."""
    import torch

    atomic_write(path, lambda p: torch.save(obj, str(p)))


def file_sha256(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------------
# reading weights safely
# ---------------------------------------------------------------------------------------------
def torch_load_weights(path: str | os.PathLike[str]) -> Any:
    """``torch.load(path, map_location="cpu", weights_only=True)``: tensors and plain containers only.

    Raises what ``torch.load`` raises (one of :data:`LOAD_ERRORS`); callers word the message.
    """
    import torch

    return torch.load(str(path), map_location="cpu", weights_only=True)


def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A plain ``{name: tensor}`` dict from ``path``, read with ``weights_only=True``.

    A checkpoint holding the state_dict under ``model``/``state_dict``/... is unwrapped, and a
    ``module.`` prefix (``DataParallel``) removed.

    Raises
    ------
    ModelLoadError
        The file does not load safely, or holds no state_dict.
    """
    p = Path(path)
    try:
        obj = torch_load_weights(p)
    except LOAD_ERRORS as exc:
        raise ModelLoadError(
            f"{p}: not a plain PyTorch state_dict that loads safely with weights_only=True "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); napari-medai never "
            "unpickles arbitrary objects: save the weights with torch.save(model.state_dict(), path) "
            "or export TorchScript"
        ) from exc
    return unwrap_state_dict(obj, p)


def unwrap_state_dict(obj: Any, path: str | os.PathLike[str]) -> dict[str, Any]:
    """The ``{name: tensor}`` dict inside ``obj`` (see :func:`load_state_dict_file`)."""
    import torch

    for _ in range(3):
        if isinstance(obj, Mapping) and obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            sd = dict(obj)
            if all(k.startswith("module.") for k in sd):
                sd = {k[len("module."):]: v for k, v in sd.items()}
            return sd
        if isinstance(obj, Mapping):
            for key in ("model", "state_dict", "network", "net", "model_state_dict"):
                if isinstance(obj.get(key), Mapping):
                    obj = obj[key]
                    break
            else:
                break
        else:
            break
    raise ModelLoadError(
        f"{path}: holds no state_dict (expected a dict of tensors, or one under 'model' / 'state_dict')"
    )


# ---------------------------------------------------------------------------------------------
# model.json
# ---------------------------------------------------------------------------------------------
def read_json(path: str | os.PathLike[str], *, what: str) -> dict[str, Any]:
    """A JSON object from ``path``; ``what`` names the file in the error message.

    Raises
    ------
    ModelLoadError
        The file is missing, unreadable, not JSON, or not a JSON object.
    """
    try:
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
    except FileNotFoundError as exc:
        raise ModelLoadError(f"{path}: {what} is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: cannot read {what} as JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise ModelLoadError(f"{path}: {what} must hold a JSON object")
    return doc


def read_model_json(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """The parsed ``model.json`` of a napari-medai model folder (format and weights checksums checked).

    Raises
    ------
    ModelLoadError
        Not a napari-medai model description, written by a newer napari-medai, or a weights
        file whose sha256 differs from the one recorded.
    """
    p = Path(folder) / "model.json"
    doc = read_json(p, what="the model description")
    if doc.get("format") != MODEL_FOLDER_FORMAT:
        raise ModelLoadError(f"{p}: not a napari-medai model description (format {doc.get('format')!r})")
    if int(doc.get("format_version", 1)) > MODEL_FOLDER_VERSION:
        raise ModelLoadError(f"{p}: written by a newer napari-medai (format {doc['format_version']}); upgrade")
    sums = doc.get("sha256")
    for name, expected in (sums.items() if isinstance(sums, Mapping) else ()):
        w = p.parent / str(name)
        if name in WEIGHTS_FILES and w.is_file() and file_sha256(w) != str(expected).lower():
            raise ModelLoadError(
                f"{w}: its sha256 differs from the one recorded in {p.name}, so the weights were changed or "
                "damaged after the folder was written; restore the folder from a copy, or train again"
            )
    return doc


def write_model_json(
    folder: str | os.PathLike[str], contract: Any, *, training: Mapping[str, Any] | None = None
) -> Path:
    """Write (atomically) the ``model.json`` of a napari-medai model folder; returns its path.

    ``contract`` is any contract with ``to_dict()``; the sha256 of each weights file present in
    ``folder`` is recorded.
    """
    out = Path(folder)
    doc = {
        "format": MODEL_FOLDER_FORMAT,
        "format_version": MODEL_FOLDER_VERSION,
        "contract": contract.to_dict(),
        "training": dict(training or {}),
    }
    sums = {w: file_sha256(out / w) for w in WEIGHTS_FILES if (out / w).is_file()}
    if sums:
        doc["sha256"] = sums
    text = json.dumps(doc, indent=2, sort_keys=False, allow_nan=False, default=_json_default)
    path = out / "model.json"
    atomic_write(path, lambda p: p.write_text(text + "\n", encoding="utf-8"))
    return path


def save_model_folder(
    folder: str | os.PathLike[str],
    weights: Any,
    contract: Any,
    *,
    training: Mapping[str, Any] | None = None,
) -> Path:
    """Write a self-describing napari-medai model folder: ``model.pt`` + ``model.json``.

    Parameters
    ----------
    folder
        Target folder (created).
    weights
        A ``torch.nn.Module`` or its ``state_dict``.
    contract
        The model's contract (``is_trained``/``trained_on`` say what the weights are).
    training
        JSON-friendly training summary stored under ``"training"``.

    Returns
    -------
    Path
        The folder. Both files are replaced atomically, weights first.
    """
    out = Path(folder)
    sd = weights.state_dict() if hasattr(weights, "state_dict") else dict(weights)
    atomic_torch_save(plain_state(sd), out / "model.pt")
    write_model_json(out, contract, training=training)
    return out


def _json_default(o: Any) -> Any:
    import numpy as np

    if isinstance(o, np.generic):
        return o.item()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"{type(o).__name__} is not JSON serialisable")
