"""The background import of what napari needs for the first Labels / Points / Shapes layer (pandas)."""

from __future__ import annotations

import sys
import threading

from napari_medai._napari import warm_imports


def test_imports_on_a_background_thread_once(tmp_path, monkeypatch):
    (tmp_path / "medai_warm_probe.py").write_text(
        "import threading\nIMPORTED_ON = threading.current_thread().name\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "medai_warm_probe", raising=False)
    monkeypatch.setattr(warm_imports, "MODULES", ("medai_warm_probe",))
    monkeypatch.setattr(warm_imports, "_STARTED", [])

    thread = warm_imports.warm_up_layer_imports()
    assert thread is not None and thread is not threading.current_thread()
    thread.join(10)
    assert not thread.is_alive()
    assert sys.modules["medai_warm_probe"].IMPORTED_ON == thread.name != threading.current_thread().name
    assert warm_imports.warm_up_layer_imports() is None  # once per process


def test_nothing_to_do_when_the_modules_are_imported(monkeypatch):
    monkeypatch.setattr(warm_imports, "MODULES", ("json",))
    monkeypatch.setattr(warm_imports, "_STARTED", [])
    assert warm_imports.warm_up_layer_imports() is None


def test_a_missing_module_ends_the_thread_quietly(monkeypatch):
    monkeypatch.setattr(warm_imports, "MODULES", ("medai_no_such_module_x",))
    monkeypatch.setattr(warm_imports, "_STARTED", [])
    thread = warm_imports.warm_up_layer_imports()
    assert thread is not None
    thread.join(10)
    assert not thread.is_alive() and "medai_no_such_module_x" not in sys.modules


def test_pandas_is_what_napari_needs_for_a_features_table():
    """napari's Labels, Points and Shapes layers build their features table with pandas."""
    from napari.layers.utils import layer_utils

    assert "pandas" in warm_imports.MODULES
    assert layer_utils._validate_features({"a": [1]}).__class__.__module__.startswith("pandas")


def test_dash_patterns_are_cached_for_the_first_line_visual():
    from vispy.visuals.line import dash_atlas

    dash_atlas._make_pattern.cache_clear()
    warm_imports.warm_dash_patterns()
    filled = dash_atlas._make_pattern.cache_info().currsize
    assert filled >= 13  # one per named pattern of vispy's atlas
    dash_atlas.DashAtlas()
    assert dash_atlas._make_pattern.cache_info().hits >= 13  # a line visual's atlas now only reads the cache
