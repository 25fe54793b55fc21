"""Every python_name in napari.yaml imports and resolves to a callable."""

from __future__ import annotations

import importlib
from pathlib import Path

import npe2

MANIFEST = Path(__file__).resolve().parents[2] / "src" / "napari_medai" / "napari.yaml"


def test_every_python_name_imports():
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    assert manifest.contributions.commands, "the manifest declares no commands"
    for cmd in manifest.contributions.commands:
        module, _, attr = cmd.python_name.partition(":")
        obj = importlib.import_module(module)
        for part in attr.split("."):
            obj = getattr(obj, part)
        assert callable(obj), f"{cmd.python_name} is not callable"


def test_ldct_widget_is_registered():
    manifest = npe2.PluginManifest.from_file(MANIFEST)
    cmd = next(c for c in manifest.contributions.commands if c.id == "napari-medai.ldct_widget")
    assert cmd.title == "Low-dose CT denoising" and cmd.python_name.endswith("ldct_widget:LdctWidget")
    assert "napari-medai.ldct_widget" in [w.command for w in manifest.contributions.widgets]


def test_manifest_is_registered_as_entry_point():
    pm = npe2.PluginManager.instance()
    pm.discover()
    assert "napari-medai" in pm._manifests, "napari-medai's napari.manifest entry point is not installed"
