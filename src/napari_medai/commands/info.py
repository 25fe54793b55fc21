"""``napari-medai info``: versions and the compute device found."""

from __future__ import annotations

import argparse
import importlib.metadata as md
import platform

NAME = "info"
HELP = "print versions of napari-medai and its libraries, and the compute device found"

_PACKAGES = (
    "napari-medai", "numpy", "scipy", "scikit-image", "nibabel", "SimpleITK", "pydicom",
    "pylibjpeg", "pylibjpeg-openjpeg", "torch", "monai", "napari", "magicgui",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print as JSON")


def collect() -> dict:
    versions = {}
    for pkg in _PACKAGES:
        try:
            versions[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            versions[pkg] = None
    from ..core.device import describe_device

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": versions,
        "device": describe_device(),
    }


def run(args: argparse.Namespace) -> int:
    info = collect()
    if args.json:
        import json

        print(json.dumps(info, indent=2))
        return 0
    print(f"napari-medai {info['packages']['napari-medai']} on Python {info['python']} ({info['platform']})")
    for pkg, ver in info["packages"].items():
        if pkg != "napari-medai":
            print(f"  {pkg:20s} {ver or 'not installed'}")
    print(f"compute device: {info['device']['summary']}")
    return 0
