"""Small helpers the dock widgets share: a vertical scroll area, waiting for background work, moving the viewer."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QFrame, QScrollArea, QVBoxLayout, QWidget


class VerticalScrollArea(QScrollArea):
    """Scrolls vertically only and is always as wide as its content needs (nothing is clipped).

    Frameless, resizing its content to its width, no horizontal scroll bar.
    """

    def __init__(self, content: QWidget | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        if content is not None:
            self.setWidget(content)

    def _width(self) -> int:
        inner = self.widget()
        w = inner.minimumSizeHint().width() if inner is not None else 0
        return w + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()

    def minimumSizeHint(self) -> Any:
        hint = super().minimumSizeHint()
        hint.setWidth(max(hint.width(), self._width()))
        return hint

    def sizeHint(self) -> Any:
        hint = super().sizeHint()
        hint.setWidth(max(hint.width(), self._width()))
        return hint


def scroll_vertically(owner: QWidget, content: QWidget) -> VerticalScrollArea:
    """Make ``content`` the whole of ``owner`` (a dock widget), inside a :class:`VerticalScrollArea`.

    A short dock then scrolls instead of squeezing tables and plots. ``owner`` must have no layout yet.
    """
    scroll = VerticalScrollArea(content)
    outer = QVBoxLayout(owner)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
    return scroll


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
