"""The calcium widget's two tables: per-artery scores (six fixed rows) and the lesion list.

The lesion list is a ``QTableView`` over a model: a new result replaces the model's rows in one reset
(the view asks only for the rows it shows, so 200+ lesions cost no more than 20), sorted by a click on
a header and filtered ("coronary only" by default, "all", or one artery).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from qtpy.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from qtpy.QtGui import QBrush, QColor
from qtpy.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QRadioButton,
    QTableView,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ...core.tasks import cac

#: Artery names by code (no 'unassigned').
ARTERY_NAMES = {code: name for code, name in cac.NAMES.items() if code}
#: Rows of the score table, in order.
SCORE_ROWS = (*cac.ARTERIES, "total", "non-coronary")
#: Choices of the lesion filter; the first is the default.
FILTERS = ("coronary only", "all", *cac.ARTERIES, "non-coronary")


def num(v: Any, digits: int = 1) -> str:
    """A number as shown in the tables ('–' for None, 'n/a' for NaN)."""
    if v is None:
        return "–"
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    f = float(v)
    return f"{f:.{digits}f}" if math.isfinite(f) else "n/a"


def qcolor(rgba: Any) -> QColor:
    r, g, b = (int(round(255 * float(c))) for c in tuple(rgba)[:3])
    return QColor(r, g, b)


def score_columns(mass_unit: str) -> tuple[tuple[str, str], ...]:
    """(key, header) of the score table; the mass header says whether it is calibrated."""
    mass = "mass\nmg" if mass_unit == "mg" else "mass score\n(HU·mm³,\nuncalibrated)"
    return (("agatston", "Agatston"), ("volume_mm3", "vol. mm³"), ("mass_mg", mass), ("lesion_count", "lesions"))


def artery_chooser(choices: Any, colours: dict[int, Any], parent: QWidget) -> tuple[QButtonGroup, dict, QGridLayout]:
    """Radio buttons for ``(code, name)`` choices, coloured like the labels, two to a row."""
    group = QButtonGroup(parent)
    buttons: dict[int, QRadioButton] = {}
    grid = QGridLayout()
    for n, (code, name) in enumerate(choices):
        button = QRadioButton(name)
        if code in colours:
            c = qcolor(colours[code])
            button.setStyleSheet(f"QRadioButton {{ color: rgb({c.red()}, {c.green()}, {c.blue()}); }}")
        group.addButton(button, code)
        buttons[code] = button
        grid.addWidget(button, n // 2, n % 2)
    return group, buttons, grid


def result_message(result: cac.CACResult) -> str:
    """The status line after a scoring: lesions counted, conventions applied, whether mass is calibrated."""
    n_cor = sum(1 for les in result.lesions if les.artery in cac.ARTERIES)
    msg = (f"Scored {n_cor} coronary lesion(s) of {len(result.lesions)} (threshold {result.threshold_hu:g} HU, "
           f"min area {result.min_area_mm2:g} mm²).")
    if result.slice_factor != 1.0:
        msg += f" Slice correction '{result.slice_correction}': lesion scores × {result.slice_factor:.4g}."
    if not result.mass_calibrated:
        msg += " Mass is uncalibrated (HU·mm³): enter a phantom calibration for mg."
    return msg


class ScoreTable(QTableWidget):
    """Agatston, volume, mass and lesion count per artery, the total (bold) and non-coronary calcium."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(len(SCORE_ROWS), 4, parent)
        self._set_headers("HU·mm³")
        self.setVerticalHeaderLabels(list(SCORE_ROWS))
        self.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
        self.horizontalHeader().setSectionResizeMode(2, QHeaderView.ResizeToContents)  # six rows: cheap
        self.horizontalHeader().setDefaultAlignment(Qt.AlignCenter | Qt.TextWordWrap)
        self.setEditTriggers(QTableWidget.NoEditTriggers)
        rows = self.verticalHeader()
        rows.setSectionResizeMode(QHeaderView.Fixed)
        rows.setDefaultSectionSize(max(20, self.fontMetrics().height() + 8))
        self.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        header_h = 3 * self.fontMetrics().height() + 8  # three lines: the uncalibrated mass header
        self.horizontalHeader().setFixedHeight(header_h)
        self.setFixedHeight(header_h + len(SCORE_ROWS) * rows.defaultSectionSize() + 2 * self.frameWidth() + 4)

    def _set_headers(self, mass_unit: str) -> None:
        self.setHorizontalHeaderLabels([h for _, h in score_columns(mass_unit)])

    def show_result(self, result: cac.CACResult | None) -> None:
        if result is None:
            self.clearContents()
            return
        self._set_headers(result.mass_unit)
        keys = [k for k, _ in score_columns(result.mass_unit)]
        for i, row in enumerate(cac.per_artery_rows(result)):
            for j, key in enumerate(keys):
                item = QTableWidgetItem(num(row[key]))
                item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if row["artery"] == "total":
                    font = item.font()
                    font.setBold(True)
                    item.setFont(font)
                self.setItem(i, j, item)

    def value(self, row: str, column: str = "Agatston") -> str:
        """The text shown in ``row`` (artery, 'total', 'non-coronary') and ``column`` (header start)."""
        cols = [self.horizontalHeaderItem(c).text() for c in range(self.columnCount())]
        j = next(c for c, h in enumerate(cols) if h.startswith(column))
        item = self.item(SCORE_ROWS.index(row), j)
        return item.text() if item is not None else ""


LESION_COLUMNS = ("id", "artery", "slice", "area mm²", "peak HU", "w", "Agatston")
#: Header tooltips of the lesion list.
LESION_TIPS = ("lesion number (by slice, artery, position)", "", "axial slice index", "lesion area in the slice",
               "highest HU of the lesion", "Agatston density weight of the peak HU (1-4)",
               "lesion Agatston score (with the slice correction)")


class LesionModel(QAbstractTableModel):
    """The lesions of a result, one row each; the display role is text, the sort role the number."""

    def __init__(self, colours: dict[int, Any], parent: Any = None) -> None:
        super().__init__(parent)
        self.lesions: list[cac.Lesion] = []
        self._rows: list[tuple] = []  # sort keys
        self._texts: list[tuple[str, ...]] = []  # what is shown, made once per result
        self._colours = {ARTERY_NAMES[c]: QBrush(qcolor(rgba)) for c, rgba in colours.items() if c in ARTERY_NAMES}

    def set_lesions(self, lesions: list[cac.Lesion]) -> None:
        self.beginResetModel()
        self.lesions = list(lesions)
        self._rows = [(les.id, les.artery, les.slice, les.area_mm2, les.peak_hu, les.weight, les.agatston)
                      for les in self.lesions]
        self._texts = [(str(r[0]), r[1], str(r[2]), num(r[3], 2), num(r[4], 0), str(r[5]), num(r[6], 2))
                       for r in self._rows]
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self.lesions)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(LESION_COLUMNS)

    def headerData(self, section: int, orientation: Any, role: int = Qt.DisplayRole) -> Any:
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return LESION_COLUMNS[section]
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole:
            return LESION_TIPS[section] or None
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, col = index.row(), index.column()
        if role == Qt.DisplayRole:
            return self._texts[row][col]
        if role == Qt.UserRole:  # sort key
            return self._rows[row][col]
        if role == Qt.ForegroundRole and col == 1:
            return self._colours.get(self._rows[row][1])
        if role == Qt.TextAlignmentRole and col != 1:
            return Qt.AlignRight | Qt.AlignVCenter
        return None


class LesionFilter(QSortFilterProxyModel):
    """Keeps the lesions of the chosen filter (:data:`FILTERS`) and sorts by the numbers, not the text."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.choice = FILTERS[0]
        self.setSortRole(Qt.UserRole)

    def set_choice(self, choice: str) -> None:
        self.choice = choice
        self.invalidateFilter()

    def filterAcceptsRow(self, row: int, parent: QModelIndex) -> bool:
        artery = self.sourceModel().lesions[row].artery
        if self.choice == "all":
            return True
        if self.choice == "coronary only":
            return artery in cac.ARTERIES
        return artery == self.choice


class LesionTable(QWidget):
    """Filter, count and sortable list of lesions; a click on a row (or :meth:`next_lesion`) picks one."""

    #: The lesion picked (a row clicked, or the next one).
    chosen = Signal(object)

    def __init__(self, colours: dict[int, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = LesionModel(colours, self)
        self.proxy = LesionFilter(self)
        self.proxy.setSourceModel(self.model)
        self.filter_combo = QComboBox()
        self.filter_combo.addItems(list(FILTERS))
        self.filter_combo.setToolTip("Which lesions the list shows; a click on a column header sorts by it.")
        self.count_label = QLabel("")
        self.view = QTableView()
        self.view.setModel(self.proxy)
        self.view.setSortingEnabled(True)
        self.view.sortByColumn(0, Qt.AscendingOrder)
        self.view.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.view.verticalHeader().setVisible(False)
        self.view.verticalHeader().setDefaultSectionSize(max(18, self.fontMetrics().height() + 6))
        header = self.view.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)  # never ResizeToContents: it reads every row
        header.setStretchLastSection(True)
        fm = header.fontMetrics()
        for col, text in enumerate(LESION_COLUMNS[:-1]):  # as wide as the header; 'non-coronary' is elided
            header.resizeSection(col, fm.horizontalAdvance("non-coron" if col == 1 else text) + 6
                                 + (12 if col == 0 else 0))  # room for the sort arrow of the default sort
        self.view.setMinimumHeight(8 * self.view.verticalHeader().defaultSectionSize() + header.sizeHint().height())
        row = QHBoxLayout()
        row.addWidget(QLabel("show"))
        row.addWidget(self.filter_combo, stretch=1)
        row.addWidget(self.count_label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.view, stretch=1)
        self.filter_combo.currentTextChanged.connect(self._filter_changed)
        self.view.clicked.connect(lambda index: self._pick(index.row()))

    def set_lesions(self, lesions: list[cac.Lesion]) -> None:
        self.model.set_lesions(lesions)
        self._count()

    def visible_lesions(self) -> list[cac.Lesion]:
        """The lesions shown, in the order shown."""
        out = []
        for r in range(self.proxy.rowCount()):
            out.append(self.model.lesions[self.proxy.mapToSource(self.proxy.index(r, 0)).row()])
        return out

    def selected(self) -> cac.Lesion | None:
        """The lesion selected in the list (None when none is)."""
        rows = self.view.selectionModel().selectedRows()
        return self.model.lesions[self.proxy.mapToSource(rows[0]).row()] if rows else None

    def next_lesion(self, step: int = 1) -> cac.Lesion | None:
        """Select and pick the next (``step`` 1) or previous (-1) lesion shown, wrapping round."""
        n = self.proxy.rowCount()
        if n == 0:
            return None
        rows = self.view.selectionModel().selectedRows()
        r = (rows[0].row() + step) % n if rows else (0 if step > 0 else n - 1)
        return self._pick(r)

    def _pick(self, row: int) -> cac.Lesion | None:
        if not 0 <= row < self.proxy.rowCount():
            return None
        self.view.selectRow(row)
        les = self.model.lesions[self.proxy.mapToSource(self.proxy.index(row, 0)).row()]
        self.chosen.emit(les)
        return les

    def _filter_changed(self, choice: str) -> None:
        self.proxy.set_choice(choice)
        self._count()

    def _count(self) -> None:
        self.count_label.setText(f"{self.proxy.rowCount()} of {len(self.model.lesions)}")
