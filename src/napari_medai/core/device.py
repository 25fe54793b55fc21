"""Compute-device discovery (imports torch lazily; works without it)."""

from __future__ import annotations

import os


def describe_device() -> dict:
    """The best device torch can use here, as a dict with a one-line ``summary``."""
    try:
        import torch
    except ImportError:
        return {"device": "cpu", "torch": None, "summary": "cpu (torch not installed: models cannot run)"}
    threads = torch.get_num_threads()
    if torch.cuda.is_available():
        name = torch.cuda.get_device_name(0)
        mem = torch.cuda.get_device_properties(0).total_memory / 2**30
        return {
            "device": "cuda", "torch": torch.__version__, "name": name, "memory_gib": round(mem, 1),
            "amp": True, "summary": f"cuda:0 {name} ({mem:.0f} GiB), AMP on",
        }
    return {
        "device": "cpu", "torch": torch.__version__, "threads": threads, "cpus": os.cpu_count(),
        "amp": False, "summary": f"cpu ({threads} torch threads, {os.cpu_count()} cores), no CUDA device found",
    }


def resolve_device(requested: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` if available else ``"cpu"``; validates explicit requests."""
    from .errors import InvalidInputError

    if requested not in ("auto", "cpu", "cuda"):
        raise InvalidInputError(f"device must be auto, cpu or cuda, got {requested!r}")
    import torch

    if requested == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if requested == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError("--device cuda was asked for but no CUDA device is available (use --device cpu)")
    return requested
