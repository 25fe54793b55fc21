"""How the de-identification widget shows a finished run: the summary lines and the table of images held back
for review (file and reasons).

Every fact comes from :class:`napari_medai.core.deidentify.DeidentificationResult`; nothing is computed here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qtpy.QtWidgets import QAbstractItemView, QHeaderView, QTableWidget, QTableWidgetItem

#: Columns of the review table and their tooltips.
REVIEW_HEADERS = ("file (in the review folder)", "why")
REVIEW_TIPS = ("the de-identified copy, held back: <new series UID>/<new instance UID>.dcm",
               "why its pixels may still show the patient's identity")
#: Rows shown before the review table scrolls.
VISIBLE_ROWS = 5


def summary_text(result: Any, out_dir: Path) -> str:
    """'12 files de-identified (1 patient) into OUT; 2 skipped (not DICOM)'."""
    n, p = len(result.written), result.n_patients
    text = f"{n} file{'s' if n != 1 else ''} de-identified ({p} patient{'s' if p != 1 else ''}) into {out_dir}"
    for reason, k in sorted(result.skipped.items()):
        text += f"; {k} skipped ({reason})"
    return text


def review_text(result: Any) -> str:
    """What was held back and where, or that nothing was."""
    n = len(result.flagged)
    if not n:
        return "No image held back for review."
    return (f"{n} image{'s' if n != 1 else ''} held back for review in {result.review_dir} (not in the output: a "
            "person must check their pixels for burned-in names before sharing them; review.csv lists why):")


def report_text(result: Any) -> str:
    """Where the report and the key are, with the key's warning."""
    text = f"Report (each attribute removed or changed, never a value): {result.report}"
    if result.key_file is not None:
        return text + f"\nKey: {result.key_file} (it re-identifies the data: keep it inside the hospital)"
    return text + "\nNo key file: nothing links the output back to the patients."


class ReviewTable(QTableWidget):
    """The images held back for review, one row each: the file and why."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(0, len(REVIEW_HEADERS), parent)
        for c, (text, tip) in enumerate(zip(REVIEW_HEADERS, REVIEW_TIPS, strict=True)):
            item = QTableWidgetItem(text)
            item.setToolTip(tip)
            self.setHorizontalHeaderItem(c, item)
        self.verticalHeader().setVisible(False)
        self.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.setWordWrap(False)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.Interactive)
        header.setStretchLastSection(True)
        self.show_rows([])

    def show_rows(self, flagged: list[tuple[str, list[str]]]) -> None:
        """Fill the table with ``(file, reasons)`` rows."""
        self.setRowCount(len(flagged))
        for r, (rel, reasons) in enumerate(flagged):
            short = "/".join(_short(part) for part in rel.split("/"))
            item = QTableWidgetItem(short)
            item.setToolTip(rel)
            self.setItem(r, 0, item)
            why = QTableWidgetItem("; ".join(reasons))
            why.setToolTip("\n".join(reasons))
            self.setItem(r, 1, why)
        self.setColumnWidth(0, 200)
        shown = max(1, min(len(flagged), VISIBLE_ROWS))
        height = self.horizontalHeader().sizeHint().height() + shown * self.verticalHeader().defaultSectionSize()
        self.setFixedHeight(height + 2 * self.frameWidth() + 2)


def _short(part: str) -> str:
    """A long UID as its start and end (the tooltip has it whole)."""
    return part if len(part) <= 22 else f"{part[:8]}…{part[-10:]}"


__all__ = ["REVIEW_HEADERS", "REVIEW_TIPS", "ReviewTable", "report_text", "review_text", "summary_text"]
