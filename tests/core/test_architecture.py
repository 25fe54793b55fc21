"""The core never imports the GUI; importing the package imports neither torch, Qt nor napari."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "napari_medai"
FORBIDDEN = {"napari", "qtpy", "magicgui", "superqt", "PySide6", "PyQt5", "PyQt6", "vispy"}


def _imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
        elif (isinstance(node, ast.ImportFrom) and node.level > 0 and node.module
              and node.module.split(".")[0] == "_napari"):
            roots.add("_napari")
    return roots


def test_core_sources_never_import_gui():
    offenders = {}
    for py in (SRC / "core").rglob("*.py"):
        bad = _imported_roots(py) & (FORBIDDEN | {"_napari"})
        if bad:
            offenders[str(py.relative_to(SRC))] = sorted(bad)
    assert not offenders, f"core modules import GUI packages: {offenders}"


def test_the_ast_check_catches_a_gui_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from napari.layers import Labels\n")
    assert "napari" in _imported_roots(bad)


def test_importing_package_and_core_loads_no_gui_or_torch():
    code = (
        "import sys, napari_medai, napari_medai.core.volume, napari_medai.core.io, "
        "napari_medai.core.metrics, napari_medai.cli;"
        "bad=[m for m in ('napari','qtpy','PySide6','magicgui','torch','monai') if m in sys.modules];"
        "print(','.join(bad))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "", f"importing the core pulled in: {out.stdout.strip()}"


@pytest.mark.skipif(shutil.which("lint-imports") is None and not (Path(sys.executable).parent / "lint-imports").exists(),
                    reason="import-linter is not installed")
def test_import_linter_contract():
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    root = SRC.parents[1]
    out = subprocess.run([exe], cwd=root, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
