"""Full garbage collections that walk only what was made since the heavy imports (``gc.freeze``).

With napari, torch and MONAI imported, the process holds over half a million objects tracked by Python's
garbage collector, nearly all made by the imports (classes, functions, module dictionaries) and alive as long
as the process. Every full collection walks them all while holding the GIL, so the viewer freezes whichever
thread started it: napari runs one each time a layer is removed, Python one whenever the objects that survived
two young collections since the last full one exceed a quarter of those it kept then; 140-400 ms each on a
busy 2-core machine. :func:`freeze_long_lived_objects` moves the objects alive now into the permanent
generation, which collections skip: a later full collection walks only newer objects.

The freeze itself runs no full collection: ``gc.collect(1)`` frees the garbage of the young generations (a
few thousand objects: milliseconds), then ``gc.freeze()`` only relinks lists. So whatever cyclic garbage the
old generation holds at that moment is frozen with the living objects, for as long as the freeze lasts. It is
little: 128 garbage objects among the 484,000 frozen with napari, torch, MONAI and the segmentation widget
imported (``benchmarks/bench_gc_freeze.py``: the freeze 25 ms of CPU, the full collection it replaces 151 ms,
load 2.6); a full collection just before the freeze found 0 among 654,000 in the classify journey, where the
freeze's own full collection had cost the Classify dock's opening 290 ms of the GUI thread's CPU.
The freeze happens only when the old generation holds over :data:`FREEZE_AT` unfrozen objects (new imports,
mostly), so the kept garbage is bounded by the few times a session imports something large.

Frozen objects are still freed when their last reference goes, but no longer by the cycle collector. Besides
the modules' objects, a freeze catches the viewer, its docks and the layers open at that moment; a layer is
held in reference cycles, so one removed later would stay in memory. The viewer's ``layers.events.removed``
therefore frees such a layer :data:`RELEASE_AFTER_MS` after its removal (napari deletes the layer's
controls, which hold it a little longer, in a later turn of the event loop): unfreeze, one full collection
that walks everything, freeze again (:func:`release_removed_layers`).
"""

from __future__ import annotations

import gc
import weakref
from typing import Any

#: Unfrozen objects in the old generation above which a freeze is worth it: a full collection of this many
#: takes about 20 ms of CPU (0.4 µs an object on the 2-core machine); below it the freeze is skipped, so that
#: the layers open now are not caught (removing a frozen layer costs a full collection of everything).
FREEZE_AT = 50_000


class _Frozen:
    """What the freezes caught (the layers open then) and the removed ones waiting to be freed."""

    def __init__(self) -> None:
        self.layers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.watched: weakref.WeakSet[Any] = weakref.WeakSet()  # layer lists whose removals are watched
        self.removed: list[weakref.ref[Any]] = []  # frozen layers removed since the last release


_FROZEN = _Frozen()

#: How long after a frozen layer's removal the full collection that frees it runs: napari deletes the layer's
#: controls, which hold it a little longer, in a later turn of the event loop.
RELEASE_AFTER_MS = 250


def freeze_long_lived_objects() -> bool:
    """Freeze what is alive now (``gc.collect(1); gc.freeze()``) when the old generation holds over
    :data:`FREEZE_AT` unfrozen objects; otherwise nothing. Returns whether it froze.

    Called when a napari-medai dock opens, when napari calls the reader or a sample, and when a job's result
    comes back (the first model loaded brings torch and MONAI): cheap when there is nothing to freeze (the
    old generation is counted: about a millisecond per 13,000 unfrozen objects).
    """
    gc.collect(1)  # the young garbage is freed, not frozen
    if len(gc.get_objects(generation=2)) <= FREEZE_AT:
        return False
    gc.freeze()
    _watch_current_viewer()
    return True


def _watch_current_viewer() -> None:
    import sys

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
    """A layer open at a freeze was removed: :func:`release_removed_layers` frees it shortly (napari's
    collection on this removal has run already, with everything frozen and the layer still held by the event
    and its controls). Several removals at once (a result replaced, the viewer closed) share one release."""
    if event.value not in _FROZEN.layers:
        return
    _FROZEN.layers.discard(event.value)
    if not _FROZEN.removed:
        from qtpy.QtCore import QTimer

        QTimer.singleShot(RELEASE_AFTER_MS, release_removed_layers)
    _FROZEN.removed.append(weakref.ref(event.value))


def release_removed_layers() -> bool:
    """Free the frozen layers removed since the last call: unfreeze, one full collection (it walks everything:
    the cost of a removal without any freeze, once per batch of removals), then freeze again. Returns whether
    it ran (False when no removed layer is alive). A removed layer that living code still holds survives the
    collection and is frozen again: it is not garbage then."""
    alive = [ref for ref in _FROZEN.removed if ref() is not None]
    _FROZEN.removed.clear()
    if not alive:
        return False
    gc.unfreeze()
    _FROZEN.layers.clear()
    gc.collect()
    gc.freeze()
    _watch_current_viewer()
    return True


__all__ = ["FREEZE_AT", "RELEASE_AFTER_MS", "freeze_long_lived_objects", "release_removed_layers"]
