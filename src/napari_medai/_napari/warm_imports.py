"""Modules napari imports on the GUI thread the first time a layer of some kind is created, imported ahead
on a background thread.

napari builds every Labels, Points and Shapes layer's ``features`` table with pandas, which it imports
lazily: the first such layer of a session (a task widget's result, a ground truth opened after an image, a
region of interest drawn on a CT) spent about 300 ms of the GUI thread's CPU importing pandas (2-core machine,
load 2.5: 520 ms for that first Labels layer against 160 ms for the next one). napari-medai's first reader,
sample or View-dock hook starts :func:`warm_up_layer_imports`, so the import runs while the user looks at
the image. The import holds the GIL in slices (the interpreter switches threads every few milliseconds), so
the viewer keeps answering meanwhile; a layer created before it ends waits only for the rest of the import.

The same thread then fills vispy's cache of line dash patterns (:func:`warm_dash_patterns`): the first line
visual of a session (the polygon-tool overlay napari gives every Labels layer, a Shapes layer) computes its 13
patterns in pure Python, about 130 ms of the GUI thread's CPU (load 2), cached for the process after that.
"""

from __future__ import annotations

import importlib
import sys
import threading

#: Modules napari imports when the first layer of a kind is created (pandas: the features table).
MODULES = ("pandas",)

_STARTED: list[threading.Thread] = []


def warm_up_layer_imports() -> threading.Thread | None:
    """Import :data:`MODULES` on a daemon thread, once per process; the thread, or None when nothing is left
    to import or it was started before."""
    if _STARTED or all(name in sys.modules for name in MODULES):
        return None
    thread = threading.Thread(target=_import_modules, name="napari-medai import warm-up", daemon=True)
    _STARTED.append(thread)
    thread.start()
    return thread


def _import_modules() -> None:
    for name in MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # napari imports it again when it needs it, and reports the error there
            return
    warm_dash_patterns()


def warm_dash_patterns() -> None:
    """Compute vispy's line dash patterns into its cache (``DashAtlas`` builds them with an ``lru_cache``d
    function; plain numpy, no OpenGL, so any thread may)."""
    from vispy.visuals.line.dash_atlas import DashAtlas

    DashAtlas()


__all__ = ["MODULES", "warm_dash_patterns", "warm_up_layer_imports"]
