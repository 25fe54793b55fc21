"""Turn a model name or file into a runnable network: :func:`load_model` -> :class:`LoadedModel`.

Sources understood by :func:`load_model`:

* a registry name (:mod:`.registry`): a MONAI model-zoo bundle is looked up in the cache folder,
  downloaded there with ``monai.bundle.download`` when missing (and internet is available), its
  ``models/model.pt`` checked against the published md5, then loaded exactly like a local bundle;
  a packaged napari-medai model is looked up in :func:`~.registry.model_search_dirs`;
* a MONAI bundle folder or ``.zip`` in the model-zoo layout (``configs/metadata.json``,
  ``configs/inference.json``, ``models/model.pt`` and/or ``models/model.ts``);
* a napari-medai model folder (``model.json`` + ``model.pt``), as written by
  :func:`napari_medai.core.training.train`; a folder of another kind (:data:`FOLDER_KINDS`, e.g. a
  CT denoiser's, task ``ldct_denoising``, written by :func:`napari_medai.core.tasks.ldct.train_ldct`)
  is handed to the loader its task registers with :func:`register_loader` when imported
  (:func:`napari_medai.core.tasks.ldct.load_denoiser`); this module never imports a task;
* a TorchScript file (``.ts``/``.pt``) -- its contract comes from a ``model.json`` beside it, the
  bundle it sits in, or the ``contract=`` argument.

Safety: bundle configs are read as JSON data and never executed (``$`` expressions are refused,
``@`` references resolved to plain values; the network class must be one of
:data:`ALLOWED_NETWORKS`, or a napari-medai network of :data:`PROJECT_NETWORKS`); state dicts are
read with ``torch.load(..., weights_only=True)``, so no pickled object is ever run.

This module is the entry point; the parts live beside it and their public names are re-exported
here: :mod:`.networks` (the allow-list, :func:`build_network`, :class:`LoadedModel`),
:mod:`.weights` (md5 checks, safe state-dict and TorchScript loading), :mod:`.bundle_config`
(bundle configs read as data into a contract), :mod:`.bundles` (bundle folders, zips, downloads)
and :mod:`.folders` (napari-medai model folders and the kinds a task opens).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..callbacks import ProgressFn
from ..errors import InvalidInputError
from .bundle_config import bundle_contract
from .bundles import (
    download_bundle,
    extract_bundle_zip,
    find_bundle_root,
    is_bundle_dir,
    load_bundle,
)
from .contract import ModelContract
from .errors import ModelLoadError, ModelNotAvailableError, UnknownModelError
from .folders import (
    FOLDER_KINDS,
    FolderKind,
    ModelFolderLoader,
    folder_kind,
    load_medai_folder,
    register_loader,
)
from .networks import ALLOWED_NETWORKS, PROJECT_NETWORKS, LoadedModel, build_network
from .persistence import (
    MODEL_FOLDER_FORMAT,
    MODEL_FOLDER_VERSION,
    read_model_json,
    save_model_folder,
    write_model_json,
)
from .registry import REGISTRY, RegistryEntry, cache_dir, get_entry, model_search_dirs
from .weights import file_md5, is_torchscript_file, load_torchscript, load_weights, verify_md5

__all__ = [
    "ALLOWED_NETWORKS",
    "FOLDER_KINDS",
    "MODEL_FOLDER_FORMAT",
    "MODEL_FOLDER_VERSION",
    "FolderKind",
    "LoadedModel",
    "ModelFolderLoader",
    "PROJECT_NETWORKS",
    "build_network",
    "bundle_contract",
    "download_bundle",
    "file_md5",
    "folder_kind",
    "load_model",
    "read_model_json",
    "register_loader",
    "require_segmentation_model",
    "save_model_folder",
    "verify_md5",
    "write_model_json",
]


def require_segmentation_model(model: Any, *, task: str | None = None) -> Any:
    """Return ``model`` if it is a segmentation model (of ``task``, when given); else raise.

    :func:`load_model` also opens CT denoisers; code that segments calls this first so that a
    denoiser (or another task's model) is refused with a message instead of failing later.

    Raises
    ------
    ModelLoadError
        The model is not a segmentation model, or is one of another task.
    """
    c = getattr(model, "contract", None)
    if not isinstance(c, ModelContract):
        kind = getattr(c, "task", None) or type(c).__name__
        raise ModelLoadError(
            f"{getattr(model, 'source', 'this model')} is a {kind} model, not a segmentation model; "
            "use it in the low-dose CT widget or 'napari-medai denoise --method trained --weights ...'"
        )
    if c.kind != "segmentation":
        raise ModelLoadError(
            f"{getattr(model, 'source', 'this model')} is a {c.kind} model ({c.task}), not a segmentation model; "
            "run it with napari_medai.core.inference.runners.run_model (or predict_classification for classifiers)"
        )
    if task is not None and c.task != task:
        raise ModelLoadError(
            f"{getattr(model, 'source', 'this model')} segments {c.task!r}, not {task!r}; choose a {task} model"
        )
    return model


# ---------------------------------------------------------------------------------------------
# the one entry point
# ---------------------------------------------------------------------------------------------
def _contract_near(path: Path) -> tuple[ModelContract | None, str]:
    """A contract describing a lone weights file: a model.json beside it or its bundle's configs."""
    if (path.parent / "model.json").is_file():
        doc = read_model_json(path.parent)
        return ModelContract.from_dict(doc["contract"]), f"{path.parent / 'model.json'}"
    if path.parent.name == "models" and is_bundle_dir(path.parent.parent):
        c, _ = bundle_contract(path.parent.parent)
        return c, f"bundle {path.parent.parent}"
    return None, ""


def _load_registry(entry: RegistryEntry, *, cache: Path | None, allow_download: bool,
                   progress: ProgressFn | None) -> LoadedModel:
    if entry.kind == "monai-bundle":
        bdir = download_bundle(entry.bundle_name or entry.name, version=entry.bundle_version, md5=entry.md5,
                               cache=cache, allow_download=allow_download, progress=progress)
        model = load_bundle(bdir, name=entry.name, source=f"registry model {entry.name} ({bdir})")
        if entry.contract is not None:
            exp, got = entry.contract, model.contract
            for attr in ("channels", "output_channels", "label_rules", "output_kind"):
                if getattr(exp, attr) != getattr(got, attr):
                    raise ModelLoadError(
                        f"{bdir}: the bundle's configs give {attr} {getattr(got, attr)} but napari-medai expects "
                        f"{getattr(exp, attr)} for {entry.name}; the bundle version differs from "
                        f"{entry.bundle_version}: delete {bdir} and load it again"
                    )
            model.contract = got.with_changes(trained_on=exp.trained_on, description=exp.description)
        return model
    folder = entry.folder or entry.name
    for d in model_search_dirs():
        cand = d / folder
        if (cand / "model.json").is_file():
            model = load_medai_folder(cand, source=f"registry model {entry.name} ({cand})")
            model.notes.append(f"{entry.name}: {entry.summary}")
            return model
    where = ", ".join(str(d / folder) for d in model_search_dirs())
    raise ModelNotAvailableError(f"model {entry.name!r} is not on this machine (looked in {where}): {entry.how_to_get}")


def load_model(
    source: str | os.PathLike[str] | LoadedModel,
    *,
    contract: ModelContract | None = None,
    allow_download: bool = True,
    cache: str | os.PathLike[str] | None = None,
    progress: ProgressFn | None = None,
) -> LoadedModel:
    """Load a model from a registry name, a bundle folder/zip, a model folder or a TorchScript file.

    Parameters
    ----------
    source
        See the module docstring. A :class:`LoadedModel` is returned unchanged.
    contract
        Describes a lone weights file (TorchScript or state_dict) that has no ``model.json`` or
        bundle configs beside it; overrides nothing otherwise.
    allow_download
        Whether a registry bundle missing from the cache may be downloaded.
    cache
        Cache folder (default ``$NAPARI_MEDAI_CACHE`` or ``~/.cache/napari-medai``).
    progress
        ``progress(fraction, message)`` for the download step.

    Returns
    -------
    LoadedModel
        Network in eval mode on the CPU, with its contract.

    Raises
    ------
    UnknownModelError
        ``source`` is neither an existing path nor a registry name (lists the valid names).
    ModelLoadError, ModelDownloadError, ModelNotAvailableError
        The model cannot be read, downloaded, verified or found (messages say what to do).
    """
    if isinstance(source, LoadedModel):
        return source
    if not isinstance(source, (str, os.PathLike)):
        raise InvalidInputError(f"a model is a name or a path, got {type(source).__name__}")
    cache_p = Path(cache) if cache is not None else None
    text = os.fspath(source)
    p = Path(text).expanduser()
    if not p.exists():
        if text in REGISTRY:
            return _load_registry(get_entry(text), cache=cache_p, allow_download=allow_download, progress=progress)
        if os.sep in text or "/" in text or p.suffix.lower() in (".zip", ".pt", ".ts", ".pth", ".json"):
            raise UnknownModelError(
                f"{p}: no such file or folder; give an existing model folder, bundle folder/zip or TorchScript "
                "file, or one of the known model names: " + ", ".join(sorted(REGISTRY))
            )
        get_entry(text)  # raises with the list of names
    if p.is_dir():
        if (p / "model.json").is_file():
            return load_medai_folder(p)
        root = find_bundle_root(p)
        if root is not None:
            return load_bundle(root)
        raise ModelLoadError(
            f"{p}: neither a napari-medai model folder (model.json + model.pt) nor a MONAI bundle "
            "(configs/metadata.json, configs/inference.json, models/model.pt)"
        )
    if p.name == "model.json":
        return load_medai_folder(p.parent)
    if p.suffix.lower() == ".zip" and not is_torchscript_file(p):
        root = extract_bundle_zip(p, cache_p or cache_dir())
        return load_bundle(root, source=f"MONAI bundle zip {p}")
    # a lone weights file
    kind = folder_kind(read_model_json(p.parent)) if (p.parent / "model.json").is_file() else None
    if kind is not None:
        if p.name != "model.pt":
            raise ModelLoadError(f"{p}: the model.json beside it describes {FOLDER_KINDS[kind].description} whose "
                                 f"weights are model.pt; load the folder {p.parent} instead")
        return load_medai_folder(p.parent)
    near, where = _contract_near(p)
    c = contract or near
    if c is None:
        raise ModelLoadError(
            f"{p}: a weights file alone does not say which channels, window and labels the model uses; "
            "put it in a model folder with model.json, use the whole MONAI bundle, or pass contract="
        )
    if is_torchscript_file(p):
        net = load_torchscript(p)
        fmt = "torchscript"
    else:
        net = build_network(c.network)
        load_weights(net, p, c.network)
        fmt = "state_dict"
    info = {"source_kind": "file", "weights_md5": file_md5(p), "weights_file": str(p),
            "contract_from": where or "contract= argument"}
    return LoadedModel(contract=c, network=net, source=f"{fmt} file {p}", path=p, weights_format=fmt, info=info)
