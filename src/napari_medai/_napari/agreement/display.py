"""How the agreement panel shows a result: table cells, lesion rows, table heights, GUI wording of errors."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from ...core.errors import MedaiError

#: Columns of the metrics table: (metric key, header).
COLUMNS: tuple[tuple[str, str], ...] = (
    ("dice", "Dice"),
    ("iou", "IoU"),
    ("hd95_mm", "HD95 mm"),
    ("assd_mm", "ASSD mm"),
    ("nsd", "NSD"),
    ("sensitivity", "Sens"),
    ("specificity", "Spec"),
    ("volume_pred_ml", "Vol pred ml"),
    ("volume_gt_ml", "Vol GT ml"),
    ("volume_diff_ml", "ΔVol ml"),
    ("lesion_tp", "TP les"),
    ("lesion_fp", "FP les"),
    ("lesion_fn", "FN les"),
    ("lesion_f1", "Lesion F1"),
    ("lesion_dice", "Lesion Dice"),
    ("lesion_count_diff", "Δ lesions"),
)
#: Per convention, the metrics its challenge ranks, shown first so that they are visible without
#: scrolling (ISLES 2022: Dice, lesion-wise F1, absolute volume and lesion-count differences).
LEADING: dict[str, tuple[str, ...]] = {
    "isles": ("dice", "lesion_f1", "volume_diff_ml", "lesion_count_diff", "sensitivity", "specificity"),
}


def columns_for(convention: str) -> tuple[tuple[str, str], ...]:
    """The metrics table's columns ``(key, header)`` for a convention: its ranked metrics first."""
    lead = LEADING.get(convention, ())
    first = [col for key in lead for col in COLUMNS if col[0] == key]
    return (*first, *(col for col in COLUMNS if col[0] not in lead))
#: Metrics whose value may come from an empty-mask rule (marked with '*').
RULED = ("dice", "hd95_mm", "assd_mm", "nsd")
LESION_HEADERS = ("#", "status", "in", "ml", "voxels")

#: Command-line wording of core messages, and what the panel says instead.
_GUI_WORDS = (
    ("choose the matching --convention or describe the labels with --regions 'NAME=1,2;...'",
     "choose the matching convention in 'Convention', or choose 'custom…' there and describe the labels "
     "in 'Regions' (NAME=1,2;...)"),
    ("(resample=True, CLI --resample)", "(button 'Resample prediction onto ground-truth grid')"),
    ("--convention", "'Convention'"),
    ("--regions", "'Regions'"),
    ("--tolerance", "'NSD tolerance'"),
    ("--lesion-style", "'Lesion matching'"),
)


def gui_message(text: str) -> str:
    """A core message with its command-line flags replaced by the panel's controls."""
    for cli, gui in _GUI_WORDS:
        text = text.replace(cli, gui)
    return re.sub(r"(?<![\w-])--[a-z][a-z-]*", "the matching setting", text)


def reworded(exc: MedaiError) -> MedaiError:
    """The same error in the panel's words (controls, not command-line flags)."""
    text = gui_message(str(exc))
    try:
        return type(exc)(text)
    except TypeError:
        return MedaiError(text)


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    v = float(value)
    if not np.isfinite(v):
        return "n/a"
    return f"{v:.3f}" if abs(v) < 100 else f"{v:.1f}"


def result_rows(result: Any) -> tuple[list[str], list[list[tuple[str, str]]], list[str]]:
    """Row names, ``cells[row][column] = (text, tooltip)`` (columns of :func:`columns_for` the result's
    convention) and the empty-mask remarks of a result.

    Rows: every region, then every label that is not already a region of its own.
    """
    columns = columns_for(result.convention.name)
    region_values = {tuple(r.get("label_values", ())) for r in result.regions.values()}
    rows = list(result.regions.items())
    rows += [(f"label {name}", row) for name, row in result.labels.items()
             if tuple(row.get("label_values", ())) not in region_values]
    cells, ruled = [], []
    for name, row in rows:
        notes = row.get("notes") or []
        tip = "\n".join(str(n) for n in notes)
        cells.append([(fmt(row.get(key)) + ("*" if notes and key in RULED else ""), tip) for key, _ in columns])
        if notes:
            ruled.append(f"{name}: {'; '.join(str(n) for n in notes)}")
    return [name for name, _ in rows], cells, ruled


def lesion_rows(lesions: list[dict[str, Any]]) -> list[list[str]]:
    return [[str(v) for v in (les["id"], les["status"], "GT" if les["source"] == "gt" else "pred",
                              f"{les['volume_ml']:.3f}", les["voxels"])] for les in lesions]


def metrics_table() -> QTableWidget:
    table = QTableWidget(0, len(COLUMNS))
    table.setHorizontalHeaderLabels([h for _, h in COLUMNS])
    # resized to the contents once per update (ResizeToContents re-measures at every cell)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Interactive)
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
    # 15 columns are wider than a dock: the scroll bar is always there, so the height is known
    table.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOn)
    fit_rows(table)
    return table


def lesion_table() -> QTableWidget:
    table = QTableWidget(0, len(LESION_HEADERS))
    table.setHorizontalHeaderLabels(list(LESION_HEADERS))
    table.setEditTriggers(QAbstractItemView.NoEditTriggers)
    table.setSelectionBehavior(QAbstractItemView.SelectRows)
    table.setSelectionMode(QAbstractItemView.SingleSelection)
    table.horizontalHeader().setSectionResizeMode(QHeaderView.Stretch)
    fit_rows(table, min_rows=3, max_rows=8)
    return table


def fit_rows(table: QTableWidget, *, min_rows: int = 1, max_rows: int | None = None) -> None:
    """Make ``table`` exactly as tall as its header and rows (between ``min_rows`` and ``max_rows``)."""
    n = table.rowCount()
    shown = max(min_rows, n if max_rows is None else min(n, max_rows))
    row_h = table.verticalHeader().defaultSectionSize()
    height = table.horizontalHeader().sizeHint().height() + shown * row_h + 2 * table.frameWidth()
    if table.horizontalScrollBarPolicy() == Qt.ScrollBarAlwaysOn:
        height += table.horizontalScrollBar().sizeHint().height()
    if table.height() != height or table.minimumHeight() != height:
        table.setFixedHeight(height)


def fill_table(table: QTableWidget, shown: dict[str, Any], names: list[str],
               cells: list[list[tuple[str, str]]], headers: list[str] | None = None) -> None:
    """Show ``cells[row][column] = (text, tooltip)`` under ``headers`` (default: those of :data:`COLUMNS`),
    rewriting only the cells that changed."""
    changed = False
    headers = headers or [h for _, h in COLUMNS]
    if headers != shown.get("headers", [h for _, h in COLUMNS]):
        table.setHorizontalHeaderLabels(headers)
        shown["headers"] = headers
        changed = True
    if names != shown.get("names"):
        table.setRowCount(len(names))
        table.setVerticalHeaderLabels(names)
        shown["names"] = names
        fit_rows(table)
        changed = True
    align = Qt.AlignRight | Qt.AlignVCenter
    for i, row in enumerate(cells):
        for j, (text, tip) in enumerate(row):
            item = table.item(i, j)
            if item is None:
                item = QTableWidgetItem(text)
                item.setTextAlignment(align)
                item.setToolTip(tip)
                table.setItem(i, j, item)
                changed = True
                continue
            if item.text() != text:
                item.setText(text)
                changed = True
            if item.toolTip() != tip:
                item.setToolTip(tip)
    if changed:
        table.resizeColumnsToContents()


def fill_lesions(table: QTableWidget, shown: dict[str, Any], rows: list[list[str]]) -> None:
    if rows == shown.get("lesions"):
        return
    shown["lesions"] = rows
    table.setRowCount(len(rows))
    for i, vals in enumerate(rows):
        for j, v in enumerate(vals):
            table.setItem(i, j, QTableWidgetItem(v))
    fit_rows(table, min_rows=3, max_rows=8)
