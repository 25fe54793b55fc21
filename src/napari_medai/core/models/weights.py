"""Weight files: md5 checks, state dicts loaded safely (``weights_only=True``), TorchScript files."""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path
from typing import Any

from .contract import NetworkSpec
from .errors import ModelDownloadError, ModelLoadError
from .networks import build_network, network_call
from .persistence import load_state_dict_file

__all__ = ["file_md5", "is_torchscript_file", "load_torchscript", "load_weights", "open_weights", "verify_md5"]


def file_md5(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex md5 of a file."""
    h = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def verify_md5(path: str | os.PathLike[str], expected: str, *, fix: str | None = None) -> str:
    """Check a file's md5 against ``expected``; returns the md5.

    Raises
    ------
    ModelDownloadError
        When the file is missing or its md5 differs (the message gives both values).
    """
    p = Path(path)
    if not p.is_file():
        raise ModelDownloadError(
            f"{p}: missing (its md5 should be {expected}); " + (fix or "download the model again")
        )
    actual = file_md5(p)
    if actual.lower() != str(expected).lower():
        raise ModelDownloadError(
            f"{p}: md5 {actual} does not match the published {expected}, so the file is incomplete or "
            "not the published one; " + (fix or f"delete {p.parent} and download it again")
        )
    return actual


def load_weights(net: Any, path: Path, spec: NetworkSpec) -> None:
    """Load the state dict of ``path`` (``weights_only=True``) into ``net``, every parameter name checked."""
    sd = load_state_dict_file(path)
    try:
        missing, unexpected = net.load_state_dict(sd, strict=False)
    except RuntimeError as exc:
        first = str(exc).strip().splitlines()
        raise ModelLoadError(
            f"{path}: the weights do not fit {network_call(spec)}: "
            f"{' '.join(first[:3])[:400]}; the network description does not match these weights"
        ) from exc
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {', '.join(list(missing)[:3])})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {', '.join(list(unexpected)[:3])})")
        raise ModelLoadError(
            f"{path}: the weights do not fit {network_call(spec)}: "
            + "; ".join(parts) + " parameter names; the network description does not match these weights"
        )
    net.eval()


def load_torchscript(path: Path) -> Any:
    """The TorchScript module of ``path``, on the CPU, in eval mode."""
    import torch

    try:
        net = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, ValueError, OSError) as exc:
        raise ModelLoadError(f"{path}: not a TorchScript model ({str(exc).splitlines()[0][:200]})") from exc
    net.eval()
    return net


def is_torchscript_file(path: Path) -> bool:
    """Whether ``path`` is a TorchScript archive (a zip holding ``constants.pkl`` or ``code/``)."""
    if not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            names = z.namelist()
    except (zipfile.BadZipFile, OSError):
        return False
    return any(n.endswith("/constants.pkl") or "/code/" in n for n in names)



def open_weights(spec: NetworkSpec, state_dict_file: Path, torchscript_file: Path) -> tuple[Any, str, Path] | None:
    """The network of ``spec`` with the weights of ``state_dict_file`` or, when that file is absent,
    the TorchScript module of ``torchscript_file``: ``(network, weights format, file read)``.

    Returns None when neither file exists (the caller says which files it expected).
    """
    if state_dict_file.is_file():
        net = build_network(spec)
        load_weights(net, state_dict_file, spec)
        return net, "state_dict", state_dict_file
    if torchscript_file.is_file():
        return load_torchscript(torchscript_file), "torchscript", torchscript_file
    return None
