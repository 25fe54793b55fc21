"""Full garbage collections that walk only what was made since the heavy imports (``gc.freeze``).

With napari, torch and MONAI imported, the process holds over half a million objects tracked by Python's
garbage collector, nearly all made by the imports (classes, functions, module dictionaries) and alive as long
as the process. Every full collection walks them all while holding the GIL, so the viewer freezes whichever
thread started it: napari runs one each time a layer is removed, Python one whenever enough new objects have
piled up; 140-400 ms each on a busy 2-core machine. :func:`freeze_long_lived_objects` moves the objects alive
now into the permanent generation, which collections skip: a later full collection walks only newer objects.

Frozen objects are still freed when their last reference goes, but no longer by the cycle collector. Besides
the modules' objects, a freeze catches the viewer, its docks and the layers open at that moment; a layer is
held in reference cycles, so one removed later would stay in memory. The viewer's ``layers.events.removed``
therefore unfreezes everything when such a layer goes: the next full collection frees it (walking everything,
as without a freeze), and the next dock or job result freezes again.
"""

from __future__ import annotations

import gc
import sys
import weakref
from typing import Any

#: Libraries that bring hundreds of thousands of long-lived objects.
HEAVY_LIBRARIES = ("napari", "torch", "monai")


class _Frozen:
    """What the last freeze caught: the heavy libraries imported before it and the layers open then."""

    def __init__(self) -> None:
        self.libraries: set[str] = set()
        self.layers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.watched: weakref.WeakSet[Any] = weakref.WeakSet()  # layer lists whose removals are watched


_FROZEN = _Frozen()


def freeze_long_lived_objects() -> bool:
    """``gc.collect(); gc.freeze()`` when a library of :data:`HEAVY_LIBRARIES` was imported since the last
    freeze, or since a layer open at it was removed; otherwise nothing. Returns whether it froze.

    Called when a napari-medai dock opens (napari's objects) and when a job's result comes back (the first
    model loaded brings torch and MONAI): a few times a session, each a full collection of the objects not
    yet frozen (tens to a hundred and some milliseconds).
    """
    loaded = {name for name in HEAVY_LIBRARIES if name in sys.modules}
    if loaded <= _FROZEN.libraries:
        return False
    gc.collect()  # what is garbage now is freed, not frozen
    gc.freeze()
    _FROZEN.libraries |= loaded
    _watch_current_viewer()
    return True


def _watch_current_viewer() -> None:
    module = sys.modules.get("napari.viewer")  # never imported here: no viewer exists without it
    viewer = module.current_viewer() if module is not None else None
    if viewer is None:
        return
    layers = viewer.layers
    _FROZEN.layers.update(layers)
    if layers not in _FROZEN.watched:
        layers.events.removed.connect(_on_layer_removed)
        _FROZEN.watched.add(layers)


def _on_layer_removed(event: Any) -> None:
    """A layer open at the last freeze was removed: unfreeze, so that a full collection can free it (napari's
    collection on this removal has run already, with everything frozen; the next one walks everything, and the
    next dock or job result freezes again)."""
    if event.value in _FROZEN.layers:
        gc.unfreeze()
        _FROZEN.libraries.clear()
        _FROZEN.layers.clear()


__all__ = ["HEAVY_LIBRARIES", "freeze_long_lived_objects"]
