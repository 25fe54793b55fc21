"""Small helpers the dock widgets share: waiting for background work, moving the viewer."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np


def process_events_until(done: Callable[[], bool], timeout_s: float) -> bool:
    """Process Qt events until ``done()`` is true or ``timeout_s`` passes; returns ``done()``."""
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + timeout_s
    while not done() and time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)
    return done()


def centre_on(viewer: Any, layer: Any, index: Sequence[float]) -> None:
    """Move the slider(s) and the camera centre to the data ``index`` of ``layer``."""
    world = np.asarray(layer.data_to_world(index), dtype=float)
    nd = len(world)
    offset = viewer.dims.ndim - nd
    for axis in range(nd):
        viewer.dims.set_point(offset + axis, world[axis])
    viewer.camera.center = tuple(world[a - offset] for a in viewer.dims.displayed if a >= offset)
