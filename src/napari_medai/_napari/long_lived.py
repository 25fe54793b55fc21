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
therefore unfreezes everything when such a layer goes; the next dock, file or job result runs a full
collection, which walks everything and frees it (napari deletes the layer's controls, which hold it a little
longer, in a later turn of the event loop), and then freezes again. A removed layer is never frozen again
while alive, unless living code holds it past :data:`MAX_WAITS` tries.
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
    """What the freezes caught (the layers open then) and the removed ones that must be freed first."""

    def __init__(self) -> None:
        self.layers: weakref.WeakSet[Any] = weakref.WeakSet()
        self.watched: weakref.WeakSet[Any] = weakref.WeakSet()  # layer lists whose removals are watched
        self.removed: list[weakref.ref[Any]] = []  # frozen layers removed since the unfreeze
        self.waited = 0  # freezes put off because a removed layer was still alive after a full collection


_FROZEN = _Frozen()

#: Freezes put off, at most, while a removed layer survives full collections (napari deletes its layer
#: controls in a later turn of the event loop; a layer alive after that is held by living code).
MAX_WAITS = 2


def freeze_long_lived_objects() -> bool:
    """Freeze what is alive now (``gc.collect(1); gc.freeze()``) when the old generation holds over
    :data:`FREEZE_AT` unfrozen objects; otherwise nothing. Returns whether it froze.

    Called when a napari-medai dock opens, when napari calls the reader or a sample, and when a job's result
    comes back (the first model loaded brings torch and MONAI): cheap when there is nothing to freeze (the
    old generation is counted: about a millisecond per 13,000 unfrozen objects). After a frozen layer's
    removal unfroze everything, the next call runs a full collection instead of the young one, and freezes
    only once the removed layer is gone (or has outlived :data:`MAX_WAITS` such calls): a removed layer is
    freed, never frozen again.
    """
    if _FROZEN.removed:
        gc.collect()  # walks everything once: the removed layers are freed before anything is frozen again
        alive = [ref for ref in _FROZEN.removed if ref() is not None]
        if alive and _FROZEN.waited < MAX_WAITS:
            _FROZEN.removed, _FROZEN.waited = alive, _FROZEN.waited + 1
            return False
        _FROZEN.removed, _FROZEN.waited = [], 0
    else:
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
    """A layer open at a freeze was removed: unfreeze, so that a full collection can free it (napari's
    collection on this removal has run already, with everything frozen and the layer still held by the event
    and its controls); the next freeze runs a full collection first."""
    if event.value in _FROZEN.layers:
        gc.unfreeze()
        _FROZEN.layers.clear()
        _FROZEN.removed.append(weakref.ref(event.value))


__all__ = ["FREEZE_AT", "MAX_WAITS", "freeze_long_lived_objects"]
