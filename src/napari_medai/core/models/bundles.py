"""MONAI bundle folders and zips: finding, unzipping safely, downloading into the cache, loading."""

from __future__ import annotations

import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..callbacks import ProgressFn
from .bundle_config import bundle_contract
from .errors import ModelDownloadError, ModelLoadError
from .networks import LoadedModel
from .persistence import read_json
from .registry import cache_dir
from .weights import file_md5, open_weights, verify_md5

__all__ = ["download_bundle", "extract_bundle_zip", "find_bundle_root", "is_bundle_dir", "load_bundle"]


def is_bundle_dir(p: Path) -> bool:
    """Whether ``p`` is a MONAI bundle folder (``configs/metadata.json``)."""
    return (p / "configs" / "metadata.json").is_file()


def find_bundle_root(p: Path) -> Path | None:
    """``p`` when it is a bundle folder, else its only sub-folder that is one; None otherwise."""
    if is_bundle_dir(p):
        return p
    subs = [c for c in p.iterdir() if c.is_dir() and is_bundle_dir(c)] if p.is_dir() else []
    return subs[0] if len(subs) == 1 else None


def extract_bundle_zip(zip_path: Path, cache: Path) -> Path:
    """Extract a bundle zip into the cache (once per content), refusing unsafe member paths."""
    digest = file_md5(zip_path)[:16]
    target = cache / "bundles" / "_unzipped" / digest
    if (target / ".complete").is_file():
        root = find_bundle_root(target)
        if root is not None:
            return root
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".unzip-", dir=target.parent))
    try:
        with zipfile.ZipFile(zip_path) as z:
            base = tmp.resolve()
            for member in z.namelist():
                dest = (tmp / member).resolve()
                if base != dest and base not in dest.parents:
                    raise ModelLoadError(f"{zip_path}: member {member!r} would be written outside the folder; refused")
            z.extractall(tmp)
        (tmp / ".complete").write_text("ok\n")
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except zipfile.BadZipFile as exc:
        raise ModelLoadError(f"{zip_path}: not a readable zip file ({exc})") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    root = find_bundle_root(target)
    if root is None:
        raise ModelLoadError(
            f"{zip_path}: no MONAI bundle inside (expected configs/metadata.json at the top or in one folder)"
        )
    return root


def load_bundle(root: Path, *, name: str | None = None, source: str | None = None) -> LoadedModel:
    """Open the bundle folder ``root``: its configs read as a contract, its weights loaded safely."""
    contract, notes = bundle_contract(root, name=name)
    pt = root / "models" / "model.pt"
    ts = root / "models" / "model.ts"
    info: dict[str, Any] = {"source_kind": "monai-bundle"}
    meta = read_json(root / "configs" / "metadata.json", what="the bundle's metadata")
    info["metadata"] = {k: meta[k] for k in ("version", "description", "eval_metrics", "data_source",
                                              "intended_use", "monai_version") if k in meta}
    opened = open_weights(contract.network, pt, ts)
    if opened is None:
        raise ModelLoadError(
            f"{root}: the bundle has neither models/model.pt nor models/model.ts (the large files were "
            "not downloaded); download the bundle with its weights"
        )
    net, fmt, wpath = opened
    info["weights_md5"] = file_md5(wpath)
    info["weights_file"] = str(wpath)
    return LoadedModel(contract=contract, network=net, source=source or f"MONAI bundle {root}",
                       path=root, weights_format=fmt, info=info, notes=notes)


def download_bundle(
    name: str,
    *,
    version: str | None = None,
    md5: Mapping[str, str] | None = None,
    cache: str | os.PathLike[str] | None = None,
    allow_download: bool = True,
    progress: ProgressFn | None = None,
) -> Path:
    """The folder of MONAI bundle ``name`` in the cache, downloading it first when missing.

    Parameters
    ----------
    name, version
        Model-zoo bundle name and version.
    md5
        ``{relative path: md5}`` checked after download (and on every later use).
    cache
        Cache folder (default :func:`~.registry.cache_dir`); the bundle lands in ``cache/bundles/name``.
    allow_download
        False: never touch the network.

    Raises
    ------
    ModelDownloadError
        Offline or failed download (the message says how to point at a local copy), or an md5 mismatch.
    """
    root = Path(cache) if cache is not None else cache_dir()
    bundles = root / "bundles"
    bdir = bundles / name
    local_hint = (
        f"without internet, download it on another machine with python -c \"import monai; "
        f"monai.bundle.download(name='{name}', bundle_dir='DIR')\" and give the folder DIR/{name} (or a zip "
        f"of it) as the model, e.g. --model DIR/{name}, or copy that folder to {bdir}"
    )
    if not is_bundle_dir(bdir):
        if not allow_download:
            raise ModelDownloadError(f"MONAI bundle {name!r} is not in the cache {bdir} and downloading is off; {local_hint}")
        if progress is not None:
            progress(0.0, f"downloading MONAI bundle {name} into {bundles}")
        bundles.mkdir(parents=True, exist_ok=True)
        try:
            from monai.bundle import download

            download(name=name, version=version, bundle_dir=str(bundles), progress=False)
        except ImportError as exc:  # MONAI >= 1.4 fetches zoo bundles through huggingface_hub
            raise ModelDownloadError(
                f"could not download MONAI bundle {name!r}: MONAI's downloader needs a package that is not "
                f"installed ({str(exc).strip().splitlines()[0][:120]}); pip install huggingface_hub, or {local_hint}"
            ) from exc
        except (OSError, ValueError, RuntimeError, KeyError) as exc:
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            raise ModelDownloadError(f"could not download MONAI bundle {name!r} ({reason}); {local_hint}") from exc
        if not is_bundle_dir(bdir):
            raise ModelDownloadError(f"downloading MONAI bundle {name!r} left no bundle in {bdir}; {local_hint}")
    for rel, expected in (md5 or {}).items():
        verify_md5(bdir / rel, expected, fix=f"delete {bdir} and load the model again to re-download it, or {local_hint}")
    return bdir

