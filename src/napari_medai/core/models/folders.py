"""napari-medai model folders (``model.json`` + ``model.pt``) and the kinds of folder a task opens.

A folder of a kind in :data:`FOLDER_KINDS` (e.g. a CT denoiser's) is handed to the loader its task
registers with :func:`register_loader` when imported; this module never imports a task.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from .contract import ModelContract
from .errors import ModelLoadError
from .networks import LoadedModel
from .persistence import read_model_json
from .weights import file_md5, open_weights

__all__ = ["FOLDER_KINDS", "FolderKind", "ModelFolderLoader", "folder_kind", "load_medai_folder", "register_loader"]


#: ``loader(folder) -> LoadedModel``: opens one kind of napari-medai model folder.
ModelFolderLoader = Callable[[Path], LoadedModel]


@dataclass(frozen=True)
class FolderKind:
    """A kind of model folder that a task, not this module, knows how to open.

    Attributes
    ----------
    module
        The module that registers the kind's loader (:func:`register_loader`) when imported.
    tasks, contract_kinds
        A ``model.json`` whose ``contract.task`` is in ``tasks`` or whose ``contract.kind`` is in
        ``contract_kinds`` is of this kind.
    description
        What such a model is, in words ("a CT denoiser").
    """

    module: str
    tasks: tuple[str, ...] = ()
    contract_kinds: tuple[str, ...] = ()
    description: str = ""


#: Model-folder kinds opened by a task's loader. Every other folder holds a :class:`ModelContract`
#: and is opened here. The task module is named as data and imported by name on first use, so the
#: generic model layer never imports a task (the ``layers`` contract in pyproject.toml checks it).
FOLDER_KINDS: dict[str, FolderKind] = {
    "denoiser": FolderKind(module="napari_medai.core.tasks.ldct", tasks=("ldct_denoising",),
                           contract_kinds=("denoiser",), description="a CT denoiser"),
}

_LOADERS: dict[str, ModelFolderLoader] = {}


def register_loader(kind: str, loader: ModelFolderLoader) -> None:
    """Make :func:`~.loading.load_model` open model folders of ``kind`` (a key of :data:`FOLDER_KINDS`) with ``loader``.

    Called by the task module named in :data:`FOLDER_KINDS` when it is imported.
    """
    if kind not in FOLDER_KINDS:
        raise InvalidInputError(f"unknown model-folder kind {kind!r}; known: {', '.join(sorted(FOLDER_KINDS))}")
    _LOADERS[kind] = loader


def folder_kind(doc: Mapping[str, Any]) -> str | None:
    """The :data:`FOLDER_KINDS` key of a parsed ``model.json``; None for a :class:`ModelContract` folder."""
    c = doc.get("contract")
    if not isinstance(c, Mapping):
        return None
    for kind, fk in FOLDER_KINDS.items():
        if c.get("task") in fk.tasks or c.get("kind") in fk.contract_kinds:
            return kind
    return None


def _folder_loader(kind: str) -> ModelFolderLoader:
    if kind not in _LOADERS:
        importlib.import_module(FOLDER_KINDS[kind].module)  # registers the loader
    try:
        return _LOADERS[kind]
    except KeyError:
        raise ModelLoadError(
            f"{FOLDER_KINDS[kind].module} registered no loader for {kind} model folders; reinstall napari-medai"
        ) from None


def load_medai_folder(folder: Path, *, source: str | None = None) -> LoadedModel:
    """Open a napari-medai model folder; one of a task's kind (:data:`FOLDER_KINDS`) with its task's loader."""
    doc = read_model_json(folder)
    kind = folder_kind(doc)
    if kind is not None:  # dispatch by contract type: e.g. a denoiser has no segmentation contract
        model = _folder_loader(kind)(folder)
        if source is not None:
            model.source = source
        return model
    try:
        contract = ModelContract.from_dict(doc.get("contract") or {})
    except InvalidInputError as exc:
        raise ModelLoadError(f"{folder / 'model.json'}: invalid model contract: {exc}") from exc
    pt, ts = folder / "model.pt", folder / "model.ts"
    opened = open_weights(contract.network, pt, ts)
    if opened is None:
        raise ModelLoadError(f"{folder}: model.json is there but no model.pt (the weights); was training cut off "
                             "before the first epoch ended? Resume it or train again")
    net, fmt, wpath = opened
    info = {"source_kind": "napari-medai", "weights_md5": file_md5(wpath), "weights_file": str(wpath),
            "training": doc.get("training", {})}
    notes = [] if contract.is_trained else [contract.training_status]
    return LoadedModel(contract=contract, network=net, source=source or f"napari-medai model {folder}",
                       path=folder, weights_format=fmt, info=info, notes=notes)

