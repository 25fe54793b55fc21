"""How the classification widget shows results: the folder table (sortable, filled row by row as images finish,
a click opens the image) and the lines of text beside the chart.

Every number comes from :class:`~napari_medai.core.tasks.classify.ImageClassification`; nothing is computed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtCore import Qt, Signal
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

#: Rows shown before the table scrolls.
VISIBLE_ROWS = 5
#: The role that keeps an item's number (sorting) and the first column's file path.
NUMBER_ROLE = Qt.UserRole + 1
PATH_ROLE = Qt.UserRole + 2


class NumberItem(QTableWidgetItem):
    """A cell that shows ``text`` and sorts by ``value`` (numbers by value, not as text; missing ones last)."""

    def __init__(self, text: str, value: float | None) -> None:
        super().__init__(text)
        self.setData(NUMBER_ROLE, float("inf") if value is None else float(value))
        self.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)

    def __lt__(self, other: QTableWidgetItem) -> bool:
        mine, theirs = self.data(NUMBER_ROLE), other.data(NUMBER_ROLE)
        if mine is None or theirs is None:
            return super().__lt__(other)
        return float(mine) < float(theirs)


def decision_text(result: Any) -> str:
    """The classes the model calls (at or above their thresholds), or a dash when none."""
    return ", ".join(result.decisions) if result.decisions else "–"


def probability_lines(result: Any) -> str:
    """``"pneumonia 0.91 (threshold 0.50): called"`` per class, one per line."""
    lines = []
    for name, p, t in zip(result.class_names, result.probabilities, result.thresholds, strict=True):
        lines.append(f"{name} {float(p):.2f} (threshold {float(t):.2f}){': called' if float(p) >= float(t) else ''}")
    return "\n".join(lines)


def status_text(result: Any, image_name: str) -> str:
    """The status line after one image: what the model calls, with which probability, from which model."""
    top = int(max(range(len(result.probabilities)), key=lambda i: float(result.probabilities[i])))
    return (f"'{image_name}': {decision_text(result)} (p {float(result.probabilities[top]):.2f} for "
            f"{result.class_names[top]}) by {result.model_name}. A research tool, not a diagnosis.")


class FolderTable(QTableWidget):
    """One row per image of a folder: its file, the decision and each class's probability (a column per class,
    headed by its name); sortable.

    ``chosen(path)`` is emitted when a row is clicked.
    """

    chosen = Signal(str)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(0, 2, parent)
        self.root: Path | None = None
        self.classes: tuple[str, ...] = ()
        self._rows: dict[str, int] = {}
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        self.setTextElideMode(Qt.ElideMiddle)  # a long file name is shortened; the numbers stay in view
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.setToolTip("Click a column header to sort; click a row to open the image with its activation map.")
        self.cellClicked.connect(lambda row, _col: self._clicked(row))
        self.start(None, ())

    def start(self, root: Path | None, classes: tuple[str, ...]) -> None:
        """Empty the table for a new folder of a model with ``classes``."""
        self.root = root
        self.classes = tuple(classes)
        self.setSortingEnabled(False)
        self.clearContents()
        self.setRowCount(0)
        self._rows = {}
        headers = ["image", "decision", *self.classes]
        self.setColumnCount(len(headers))
        self.setHorizontalHeaderLabels(headers)
        header = self.horizontalHeader()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.Stretch)  # the file name takes what the others leave
        header.setSectionResizeMode(1, QHeaderView.ResizeToContents)
        for c in range(2, len(headers)):  # a probability needs 5 characters; a long class name is elided
            header.setSectionResizeMode(c, QHeaderView.Fixed)
            header.resizeSection(c, max(56, self.fontMetrics().horizontalAdvance("0.000") + 16))
        for c, tip in enumerate(["the file, relative to the folder", "the classes called at the model's thresholds",
                                 *(f"probability of {c}" for c in self.classes)]):
            self.horizontalHeaderItem(c).setToolTip(tip)
        self.setSortingEnabled(True)
        self._fit_height()

    def add_result(self, path: str, result: Any | None, error: str = "") -> None:
        """Add (or replace) the row of ``path``: its result, or the reason it could not be classified."""
        self.setSortingEnabled(False)  # rows stay where they are while filled in
        row = self._rows.get(path)
        if row is None:
            row = self.rowCount()
            self.insertRow(row)
        name = str(Path(path).relative_to(self.root)) if self.root and Path(path).is_relative_to(self.root) \
            else Path(path).name
        first = QTableWidgetItem(name)
        first.setData(PATH_ROLE, path)
        first.setToolTip(path)
        self.setItem(row, 0, first)
        if result is None:
            self.setItem(row, 1, QTableWidgetItem(f"not classified: {error}"))
            for c in range(len(self.classes)):
                self.setItem(row, 2 + c, NumberItem("–", None))
        else:
            self.setItem(row, 1, QTableWidgetItem(decision_text(result)))
            probs = dict(zip(result.class_names, (float(p) for p in result.probabilities), strict=True))
            for c, cls in enumerate(self.classes):
                p = probs.get(cls)
                self.setItem(row, 2 + c, NumberItem("–" if p is None else f"{p:.3f}", p))
        self.setSortingEnabled(True)
        self._rows = {self.item(r, 0).data(PATH_ROLE): r for r in range(self.rowCount()) if self.item(r, 0)}
        self._fit_height()

    def path_at(self, row: int) -> str:
        item = self.item(row, 0)
        return str(item.data(PATH_ROLE)) if item is not None else ""

    def row_of(self, path: str) -> int:
        """The row showing ``path`` now (after any sorting), or -1."""
        return self._rows.get(path, -1)

    def _clicked(self, row: int) -> None:
        path = self.path_at(row)
        if path:
            self.chosen.emit(path)

    def _fit_height(self) -> None:
        rows = max(1, min(self.rowCount(), VISIBLE_ROWS))
        h = self.horizontalHeader().sizeHint().height() + rows * self.verticalHeader().defaultSectionSize()
        self.setFixedHeight(h + 2 * self.frameWidth() + 2)


__all__ = ["FolderTable", "NumberItem", "decision_text", "probability_lines", "status_text"]
