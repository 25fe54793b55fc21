"""Going from lesion to lesion of the agreement panel's list (N / Shift+N) and showing / hiding the
ground truth (G)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from qtpy.QtWidgets import QTableWidget

from .._widgets import centre_on


class LesionNavigator:
    """Centres ``viewer`` on the lesions of ``lesions()`` (dicts with a ``centroid`` in array indices of the
    ground truth), selecting their rows in ``table``; ``layers()`` gives (prediction, ground truth)."""

    def __init__(self, viewer: Any, table: QTableWidget, layers: Callable[[], tuple[Any, Any]],
                 lesions: Callable[[], list[dict[str, Any]]]) -> None:
        self.viewer, self.table, self._layers, self._lesions = viewer, table, layers, lesions
        self.row = -1

    def go_to(self, row: int) -> None:
        gt = self._layers()[1]
        lesions = self._lesions()
        if gt is None or not (0 <= row < len(lesions)):
            return
        self.row = row
        if self.table.currentRow() != row:
            self.table.selectRow(row)
        centre_on(self.viewer, gt, lesions[row]["centroid"])

    def step(self, by: int) -> None:
        n = len(self._lesions())
        if n:
            self.go_to((self.row + by) % n)

    def toggle_ground_truth(self) -> None:
        gt = self._layers()[1]
        if gt is not None:
            gt.visible = not gt.visible
