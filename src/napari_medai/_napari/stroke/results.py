"""How the stroke widget shows a result: the lesion table (a row click centres the viewer on the lesion) and
the lines of text beside it (total volume, ADC unit, notes, the DWI-FLAIR mismatch).

Every number comes from :class:`napari_medai.core.tasks.stroke.segment.StrokeResult`; nothing is computed here.
"""

from __future__ import annotations

import math
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

from .._widgets import centre_on

#: Columns of the lesion table (short, so the table fits a dock) and what each means (header tooltips).
HEADERS = ("#", "ml", "Ø mm", "ADC", "side", "L, P, S mm")
HEADER_TIPS = ("lesion id (as in the 'separate lesions' layer)", "volume in ml",
               "maximum diameter in mm (the longest distance between two lesion voxels)",
               "mean ADC in the lesion, 10⁻⁶ mm²/s", "the patient's side of the head's mid-sagittal plane",
               "centroid in world mm: left, posterior, superior positive")
#: The extra column when FLAIR was given.
RSI_HEADER = "rSI"
RSI_TIP = "FLAIR relative signal intensity: mean FLAIR in the lesion / in its mirror image (research measure)"
#: What the mismatch figures are, said each time they are shown.
RESEARCH_NOTE = "research measure, not a treatment decision"
#: Rows shown before the table scrolls.
VISIBLE_ROWS = 6


def _num(v: float | None, digits: int) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "–"
    return f"{v:.{digits}f}"


def lesion_cells(row: Any, rsi: float | None = None, *, with_rsi: bool = False) -> list[str]:
    """The texts of one lesion's row (``row``: a :class:`~napari_medai.core.tasks.stroke.lesions.LesionRow`).

    The centroid is shown in L, P, S order (the world's reversed S, P, L), positive = patient's left,
    posterior, superior.
    """
    s, p, left = row.centroid_world
    cells = [str(row.id), _num(row.volume_ml, 2), _num(row.max_diameter_mm, 1), _num(row.mean_adc, 0), row.side,
             f"{left:.0f}, {p:.0f}, {s:.0f}"]
    if with_rsi:
        cells.append(_num(rsi, 2))
    return cells


class LesionTable(QTableWidget):
    """The lesions of a result, one row each; clicking a row centres the viewer on that lesion."""

    def __init__(self, viewer: Any, parent: Any = None) -> None:
        super().__init__(0, len(HEADERS), parent)
        self.viewer = viewer
        self.rows: list[Any] = []
        self.layer: Any = None
        self._set_headers(list(HEADERS), list(HEADER_TIPS))
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setSelectionMode(QAbstractItemView.SingleSelection)
        header = self.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeToContents)
        header.setStretchLastSection(True)
        self.setToolTip("Click a row to go to the lesion (its centroid).")
        self.cellClicked.connect(lambda row, _col: self.go_to(row))
        self._fit_height()

    def show_rows(self, rows: list[Any], layer: Any, rsi: dict[int, float | None] | None = None) -> None:
        """Fill the table with ``rows`` (LesionRow) of the Labels ``layer``; ``rsi``: FLAIR rSI per lesion id."""
        self.rows, self.layer = list(rows), layer
        headers = [*HEADERS, RSI_HEADER] if rsi is not None else list(HEADERS)
        self._set_headers(headers, [*HEADER_TIPS, RSI_TIP])
        self.setRowCount(len(rows))
        for r, row in enumerate(rows):
            cells = lesion_cells(row, (rsi or {}).get(int(row.id)), with_rsi=rsi is not None)
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c in (1, 2, 3) or (rsi is not None and c == len(cells) - 1):
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                self.setItem(r, c, item)
        self._fit_height()

    def _set_headers(self, headers: list[str], tips: list[str]) -> None:
        self.setColumnCount(len(headers))
        for c, (text, tip) in enumerate(zip(headers, tips, strict=False)):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            self.setHorizontalHeaderItem(c, item)

    def go_to(self, row: int) -> None:
        """Move the sliders and the camera to the centroid of the lesion in ``row``."""
        if self.layer is None or not (0 <= row < len(self.rows)):
            return
        if self.currentRow() != row:
            self.selectRow(row)
        centre_on(self.viewer, self.layer, self.rows[row].centroid_index)

    def _fit_height(self) -> None:
        shown = max(1, min(self.rowCount(), VISIBLE_ROWS))
        height = self.horizontalHeader().sizeHint().height() + shown * self.verticalHeader().defaultSectionSize()
        self.setFixedHeight(height + 2 * self.frameWidth() + 2)


def total_text(result: Any) -> str:
    """'Infarct volume 12.34 ml in 3 lesions (ADC < 620 × 10⁻⁶ mm²/s baseline)'."""
    n = len(result.lesions)
    return f"Infarct volume {result.total_volume_ml:.2f} ml in {n} lesion{'s' if n != 1 else ''}"


def mismatch_text(mismatch: Any) -> str:
    """The DWI-FLAIR mismatch (a :class:`~napari_medai.core.tasks.stroke.mismatch.MismatchReport`) in one
    paragraph, labelled as a research measure; the per-lesion rSI is in the lesion table."""
    if mismatch is None:
        return ""
    overall = mismatch.overall
    rsi = "no overall rSI" if overall.rsi is None else f"overall FLAIR rSI {overall.rsi:.2f}"
    return (f"DWI-FLAIR mismatch ({mismatch.note or RESEARCH_NOTE}): {rsi}, {overall.interpretation}. "
            f"Per lesion in the table ('{RSI_HEADER}': mean FLAIR in the lesion / in its mirror image).")


def notes_text(result: Any) -> str:
    """The core's notes of ``result``, one bullet a line."""
    return "\n".join(f"• {n}" for n in result.notes)


def status_text(result: Any, source: str | None, *, trained: bool) -> str:
    """The status after a run: the method and the source layer, with a warning first for an untrained model."""
    return ("" if trained else "NOT TRAINED model: this output is meaningless. ") + f"Done: {result.method} on '{source}'."


def rsi_by_lesion(mismatch: Any) -> dict[int, float | None] | None:
    """``{lesion id: FLAIR rSI}`` of a mismatch report, or None without one."""
    if mismatch is None:
        return None
    return {int(m.id): (None if m.rsi is None else float(m.rsi)) for m in mismatch.lesions}


__all__ = ["HEADERS", "HEADER_TIPS", "RESEARCH_NOTE", "RSI_HEADER", "LesionTable", "lesion_cells", "mismatch_text",
           "notes_text", "rsi_by_lesion", "status_text", "total_text"]
