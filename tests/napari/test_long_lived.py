"""The freeze of long-lived objects: full collections skip them, and a layer open at a freeze is still freed."""

from __future__ import annotations

import gc
import weakref

import numpy as np
from qtpy.QtCore import QEvent
from qtpy.QtWidgets import QApplication

from napari_medai._napari import long_lived


class _Node:
    """A tracked object in a reference cycle (as the objects of a module or a layer are)."""

    def __init__(self) -> None:
        self.me = self


def test_freeze_when_the_old_generation_is_large_and_free_a_frozen_layer_once_removed(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    before = viewer.add_image(np.zeros((8, 32, 32), np.float32), name="open at the freeze")
    QApplication.processEvents()
    long_lived.freeze_long_lived_objects()  # what the test session holds so far
    imported = [_Node() for _ in range(long_lived.FREEZE_AT + 1000)]  # what a heavy import leaves
    garbage = _Node()  # young cyclic garbage: freed by the freeze's young collection, not frozen
    gone = weakref.ref(garbage)
    del garbage
    frozen = gc.get_freeze_count()

    assert long_lived.freeze_long_lived_objects()
    assert gc.get_freeze_count() >= frozen + len(imported)  # the objects moved to the permanent generation
    assert len(gc.get_objects(generation=2)) < long_lived.FREEZE_AT // 10
    assert gone() is None
    assert not long_lived.freeze_long_lived_objects()  # nothing new: nothing to do

    after = viewer.add_image(np.zeros((8, 32, 32), np.float32), name="added after the freeze")
    QApplication.processEvents()
    viewer.layers.remove(after)
    assert gc.get_freeze_count() > 0  # a newer layer is collected as usual: the freeze stays

    caught = weakref.ref(before)
    viewer.layers.remove(before)  # a layer the freeze caught: freed by a full collection shortly after
    del before
    assert caught() is not None and gc.get_freeze_count() > len(imported)  # napari's controls still hold it
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)  # the event loop deletes them
    qtbot.waitUntil(lambda: caught() is None, timeout=5000)  # freed, not frozen again
    assert gc.get_freeze_count() > len(imported)  # and the rest frozen again


def test_a_removed_layer_that_living_code_holds_is_frozen_again(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((8, 32, 32), np.float32), name="kept by a widget")
    QApplication.processEvents()
    imported = [_Node() for _ in range(long_lived.FREEZE_AT + 1000)]
    assert long_lived.freeze_long_lived_objects()
    held = [layer]  # e.g. a widget's reference to the layer it showed
    viewer.layers.remove(layer)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    assert long_lived.release_removed_layers()  # what the timer runs: a full collection, then a freeze
    assert not long_lived.release_removed_layers()  # once per batch of removals
    assert gc.get_freeze_count() > len(imported) and held[0].name == "kept by a widget"  # alive: not garbage
