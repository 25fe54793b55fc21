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


def test_freeze_when_the_old_generation_is_large_and_unfreeze_when_a_frozen_layer_goes(make_napari_viewer):
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
    viewer.layers.remove(before)  # a layer the freeze caught: unfrozen so that a full collection can free it
    del before
    assert gc.get_freeze_count() == 0
    assert not long_lived.freeze_long_lived_objects()  # napari's layer controls still hold it: no freeze yet
    assert caught() is not None and gc.get_freeze_count() == 0
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)  # the event loop deletes them
    assert long_lived.freeze_long_lived_objects()  # the next dock or job result: a full collection, then a freeze
    assert caught() is None  # the removed layer was freed, not frozen again
    assert gc.get_freeze_count() > len(imported)


def test_a_removed_layer_that_living_code_holds_puts_the_freeze_off_only_a_few_times(make_napari_viewer):
    viewer = make_napari_viewer()
    layer = viewer.add_image(np.zeros((8, 32, 32), np.float32), name="kept by a widget")
    QApplication.processEvents()
    imported = [_Node() for _ in range(long_lived.FREEZE_AT + 1000)]
    assert long_lived.freeze_long_lived_objects()
    held = [layer]  # e.g. a widget's reference to the layer it showed
    viewer.layers.remove(layer)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete.value)
    for _ in range(long_lived.MAX_WAITS):
        assert not long_lived.freeze_long_lived_objects() and gc.get_freeze_count() == 0
    assert long_lived.freeze_long_lived_objects()  # alive because it is held, not garbage: frozen with the rest
    assert gc.get_freeze_count() > len(imported) and held
