"""The freeze of long-lived objects: full collections skip them, and a layer open at a freeze is still freed."""

from __future__ import annotations

import gc
import sys
import types

import numpy as np
from qtpy.QtWidgets import QApplication

from napari_medai._napari import long_lived


def test_freeze_once_per_import_and_unfreeze_when_a_frozen_layer_goes(make_napari_viewer, monkeypatch):
    viewer = make_napari_viewer()
    before = viewer.add_image(np.zeros((8, 32, 32), np.float32), name="open at the freeze")
    QApplication.processEvents()
    heavy = types.ModuleType("medai_test_heavy_library")  # a library imported since the last freeze
    monkeypatch.setitem(sys.modules, heavy.__name__, heavy)
    monkeypatch.setattr(long_lived, "HEAVY_LIBRARIES", (*long_lived.HEAVY_LIBRARIES, heavy.__name__))
    young = len(gc.get_objects(generation=2))

    assert long_lived.freeze_long_lived_objects()
    assert gc.get_freeze_count() > young // 2  # the full collection's work moved to the permanent generation
    assert len(gc.get_objects(generation=2)) < young // 10
    assert not long_lived.freeze_long_lived_objects()  # nothing new imported: nothing to do

    after = viewer.add_image(np.zeros((8, 32, 32), np.float32), name="added after the freeze")
    QApplication.processEvents()
    viewer.layers.remove(after)
    assert gc.get_freeze_count() > 0  # a newer layer is collected as usual: the freeze stays

    viewer.layers.remove(before)  # a layer the freeze caught: unfrozen so that a full collection can free it
    assert gc.get_freeze_count() == 0
    assert long_lived.freeze_long_lived_objects()  # the next dock or job result freezes again
    assert gc.get_freeze_count() > 0
