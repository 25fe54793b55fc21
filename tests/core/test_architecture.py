"""The core never imports the GUI; importing the package imports neither torch, Qt nor napari."""

from __future__ import annotations

import ast
import os
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


# ---------------------------------------------------------------------------------------------
# no private name crosses a module boundary
# ---------------------------------------------------------------------------------------------
# Rule: ``from X import _name`` is refused when ``_name`` is not a submodule of X. A leading
# underscore on a *function/class/constant* means "this module only"; on a *module* (``_common``,
# ``_live``) it means "internal to its package", so importing a private submodule, or public names
# from it, stays allowed. Widgets under _napari/ are owned separately and not scanned here.
PRIVATE_IMPORT_SCOPE = ("core", "commands", "cli.py")


def _module_parts(path: Path, root: Path) -> list[str]:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return parts[:-1] if parts[-1] == "__init__" else parts


def _is_module(parts: list[str], root: Path) -> bool:
    base = root.parent.joinpath(*parts)
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def private_name_imports(path: Path, root: Path = SRC) -> list[str]:
    """``"file:line: from X import _name"`` for every private non-module name imported from another module."""
    me = _module_parts(path, root)
    package = me if path.name == "__init__.py" else me[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if not isinstance(node, ast.ImportFrom):
            continue
        if node.level:
            base = package[: len(package) - node.level + 1]
            target = base + (node.module.split(".") if node.module else [])
        else:
            target = (node.module or "").split(".")
        if target[0] != root.name:
            continue
        for alias in node.names:
            name = alias.name
            if name.startswith("_") and not name.startswith("__") and not _is_module(target + [name], root):
                found.append(f"{path.relative_to(root)}:{node.lineno}: from {'.'.join(target)} import {name}")
    return found


def test_no_private_name_is_imported_across_modules():
    offenders = []
    for part in PRIVATE_IMPORT_SCOPE:
        files = [SRC / part] if part.endswith(".py") else sorted((SRC / part).rglob("*.py"))
        for py in files:
            offenders += private_name_imports(py)
    assert not offenders, "private names imported from other modules (make them public or move them):\n" + "\n".join(offenders)


def test_the_private_import_check_catches_one_and_allows_private_submodules(tmp_path):
    root = tmp_path / "pkg"
    (root / "sub").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "sub" / "__init__.py").write_text("")
    (root / "sub" / "_helpers.py").write_text("def tool():\n    pass\n\ndef _secret():\n    pass\n")
    (root / "sub" / "user.py").write_text(
        "from . import _helpers\nfrom ._helpers import tool\n\ndef f():\n    from ._helpers import _secret\n"
    )
    found = private_name_imports(root / "sub" / "user.py", root)
    assert found == ["sub/user.py:5: from pkg.sub._helpers import _secret"]


# ---------------------------------------------------------------------------------------------
# the layers contract catches an upward import, even one hidden inside a function
# ---------------------------------------------------------------------------------------------
def _lint_imports() -> str | None:
    exe = shutil.which("lint-imports") or str(Path(sys.executable).parent / "lint-imports")
    return exe if Path(exe).exists() else None


def _run_lint_imports_on_copy(tmp_path: Path, inject: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the project's import-linter contracts on a copy of the package with ``inject`` appended."""
    root = SRC.parents[1]
    dst = tmp_path / "src" / "napari_medai"
    shutil.copytree(SRC, dst, ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "packaged"))
    for rel, code in inject.items():
        with open(dst / rel, "a", encoding="utf-8") as f:
            f.write("\n\n" + code)
    shutil.copy(root / "pyproject.toml", tmp_path / "pyproject.toml")
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "src")}
    return subprocess.run([_lint_imports(), "--no-cache", "--no-logo"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)


@pytest.mark.skipif(_lint_imports() is None, reason="import-linter is not installed")
def test_layers_contract_catches_an_upward_import_inside_a_function(tmp_path):
    hidden = "def _load_denoiser_lazily(folder):\n    from ..tasks.ldct import load_denoiser\n\n    return load_denoiser(folder)\n"
    out = _run_lint_imports_on_copy(tmp_path, {"core/models/registry.py": hidden})
    assert out.returncode != 0, out.stdout + out.stderr
    assert "core layers" in out.stdout and "BROKEN" in out.stdout
    assert "napari_medai.core.models.registry -> napari_medai.core.tasks.ldct" in out.stdout, out.stdout


@pytest.mark.skipif(_lint_imports() is None, reason="import-linter is not installed")
def test_layers_contract_passes_on_the_unchanged_copy(tmp_path):
    out = _run_lint_imports_on_copy(tmp_path, {})
    assert out.returncode == 0, out.stdout + out.stderr


def test_load_model_opens_a_denoiser_folder_from_a_fresh_interpreter(tmp_path):
    """The LDCT loader is registered by the task package, imported by name on first use."""
    pytest.importorskip("torch")
    code = (
        "import sys\n"
        "from napari_medai.core.tasks.ldct.supervised import DenoiserContract, build_denoiser_network\n"
        "from napari_medai.core.models import NetworkSpec\n"
        "from napari_medai.core.models.persistence import save_model_folder\n"
        "c = DenoiserContract(name='tiny', network=NetworkSpec('REDCNN', {'filters': 4}))\n"
        f"save_model_folder({str(tmp_path / 'm')!r}, build_denoiser_network(c.network), c)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    load = (
        "import sys\n"
        "from napari_medai.core.models import load_model\n"
        "assert 'napari_medai.core.tasks.ldct' not in sys.modules\n"
        f"m = load_model({str(tmp_path / 'm')!r})\n"
        "print(type(m.contract).__name__, m.contract.task, 'napari_medai.core.tasks.ldct' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", load], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["DenoiserContract", "ldct_denoising", "True"]
