"""Measure tab: PSNR / SSIM / RMSE in an HU window against a reference layer, and the noise SD in a region.

One row per ticked image layer, every number from :mod:`napari_medai.core.metrics.image_quality`;
the region is a Shapes layer rasterised by :func:`~.roi.shapes_to_mask`. **Difference layer** adds
(image - reference) on the image's grid.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from napari.layers import Shapes
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QWidget,
)

from ...core.errors import InvalidInputError, MedaiError
from ...core.metrics.image_quality import DEFAULT_WINDOW_HU
from .._jobs import JobRunner
from .._widgets import column, num, spin, wrapped
from ._common import NONE, ct_volume, image_layer, put_image, refill
from .roi import shapes_to_mask

METRIC_COLUMNS = ("image", "PSNR dB", "SSIM", "RMSE HU", "noise SD HU")
_TIPS = ("", "10 log10(window width² / MSE), in the window", "SSIM (11 x 11 Gaussian, sigma 1.5) in the window",
         "RMSE in the window", "SD of the image inside the ROI (no window)")


class MeasureTab(QWidget):
    """Image-quality table of the ticked image layers (see the module docstring)."""

    def __init__(self, viewer: Any, jobs: JobRunner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.jobs = jobs
        #: The rows of the last measurement (name, psnr, ssim, rmse, noise_sd, problem).
        self.rows: list[dict[str, Any]] = []
        self.ref_combo = QComboBox()
        self.ref_combo.setToolTip("Full-dose image on the same grid; 'none' fills the noise SD column only.")
        lo, hi = DEFAULT_WINDOW_HU
        self.win_lo = spin(-3000.0, 5000.0, lo, decimals=0, step=10.0, suffix=" HU")
        self.win_hi = spin(-3000.0, 5000.0, hi, decimals=0, step=10.0, suffix=" HU")
        win = QHBoxLayout()
        win.addWidget(self.win_lo)
        win.addWidget(QLabel("to"))
        win.addWidget(self.win_hi)
        self.roi_combo = QComboBox()
        self.roi_combo.setToolTip("A Shapes layer with rectangles, ellipses or polygons in a uniform tissue.")
        self.layer_list = QListWidget()
        self.layer_list.setToolTip("Ticked image layers get a row.")
        self.layer_list.setMaximumHeight(110)
        self.measure_button = QPushButton("Measure")
        self.diff_button = QPushButton("Difference layer")
        self.diff_button.setToolTip("Add (selected row's image - reference) as a layer; the last row when none "
                                    "is selected.")
        self.table = self._build_table()
        self.measure_info = wrapped("3-D stacks: PSNR/SSIM/RMSE are means over slices. The ROI: each shape counts "
                                    "on the slice it was drawn on (a 2-D Shapes layer: the slice shown now).")
        form = QFormLayout()
        form.addRow("reference", self.ref_combo)
        form.addRow("window", win)
        form.addRow("noise ROI", self.roi_combo)
        buttons = QHBoxLayout()
        buttons.addWidget(self.measure_button)
        buttons.addWidget(self.diff_button)
        column(self, form, QLabel("images"), self.layer_list, buttons, self.table, self.measure_info)
        self.measure_button.clicked.connect(lambda: self.measure())
        self.diff_button.clicked.connect(lambda: self.add_difference())
        jobs.add_run_buttons(self.measure_button, self.diff_button)

    @staticmethod
    def _build_table() -> QTableWidget:
        table = QTableWidget(0, len(METRIC_COLUMNS))
        table.setHorizontalHeaderLabels(list(METRIC_COLUMNS))
        for j, tip in enumerate(_TIPS):
            table.horizontalHeaderItem(j).setToolTip(tip)
        head = table.horizontalHeader()
        head.setSectionResizeMode(QHeaderView.ResizeToContents)
        head.setSectionResizeMode(0, QHeaderView.Stretch)
        table.verticalHeader().setVisible(False)
        table.setEditTriggers(QTableWidget.NoEditTriggers)
        table.setSelectionBehavior(QTableWidget.SelectRows)
        table.setMinimumHeight(150)
        return table

    def refresh(self, images: list[str], shapes: list[str]) -> None:
        """The viewer's layers changed: reference and ROI choices, and the image list (new layers ticked)."""
        refill(self.ref_combo, [NONE, *images], hints=("full", "fd", "noise_free", "reference"))
        refill(self.roi_combo, [NONE, *shapes], hints=("roi", "shapes"), first_hit=True)
        ticked = {self.layer_list.item(i).text(): self.layer_list.item(i).checkState()
                  for i in range(self.layer_list.count())}
        self.layer_list.clear()
        for n in images:
            item = QListWidgetItem(n)
            item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
            item.setCheckState(ticked.get(n, Qt.Checked))
            self.layer_list.addItem(item)

    def _ticked(self) -> list[str]:
        return [self.layer_list.item(i).text() for i in range(self.layer_list.count())
                if self.layer_list.item(i).checkState() == Qt.Checked]

    def measure(self) -> bool:
        """PSNR / SSIM / RMSE against the reference and the ROI noise SD of every ticked layer (off the GUI thread)."""
        window = (self.win_lo.value(), self.win_hi.value())
        try:
            self.jobs.check_idle()
            if window[1] <= window[0]:
                raise InvalidInputError(f"the window needs low < high, got {window[0]:g} to {window[1]:g} HU")
            ref_layer = None
            if self.ref_combo.currentText() != NONE:
                ref_layer = image_layer(self.viewer, self.ref_combo.currentText(), "reference")
            roi_name = self.roi_combo.currentText()
            roi = self.viewer.layers[roi_name] if roi_name != NONE and roi_name in self.viewer.layers else None
            if roi is not None and not isinstance(roi, Shapes):
                raise InvalidInputError(f"{roi_name!r} is not a Shapes layer; draw the noise region in a Shapes layer")
            names = self._ticked()
            if not names:
                raise InvalidInputError("tick at least one image layer to measure")
            if ref_layer is None and roi is None:
                raise InvalidInputError("pick a reference (full-dose) layer for PSNR/SSIM/RMSE, or a Shapes layer "
                                        "with a region in uniform tissue for the noise SD, or both")
            todo, notes = [], []
            ref = None if ref_layer is None else np.asarray(ref_layer.data, dtype=np.float32)
            for name in names:
                layer = image_layer(self.viewer, name, name)
                data = np.asarray(layer.data, dtype=np.float32)
                mask = None
                if roi is not None:
                    mask, skipped = shapes_to_mask(roi, layer, tuple(self.viewer.dims.point))
                    notes.extend(f"{roi.name}: {s}" for s in skipped if f"{roi.name}: {s}" not in notes)
                is_ref = ref_layer is not None and name == ref_layer.name
                todo.append((name, data, mask, is_ref))
        except (MedaiError, ValueError) as exc:
            return self.jobs.refuse(exc)
        panel = self.jobs

        def work() -> list[dict[str, Any]]:
            from ...core.metrics.image_quality import quality_row
            from ...core.models.errors import Cancelled

            rows = []
            for i, (name, data, mask, is_ref) in enumerate(todo):
                if panel.cancelled():
                    raise Cancelled("measuring cancelled")
                panel.progress_callback(i / len(todo), f"measuring {name}")
                row: dict[str, Any] = {"name": name, "problem": None}
                try:
                    row.update(quality_row(data, reference=None if is_ref else ref, roi_mask=mask, window=window,
                                           name=name))
                except MedaiError as exc:
                    row.update({"psnr": None, "ssim": None, "rmse": None, "noise_sd": None,
                                "problem": str(exc)})
                rows.append(row)
            return rows

        def done(rows: list[dict[str, Any]]) -> None:
            self.rows = rows
            self._fill_table(rows, ref_layer.name if ref_layer is not None else None)
            problems = [r["problem"] for r in rows if r["problem"]]
            text = (f"Measured {len(rows)} image(s) in the window {window[0]:g} to {window[1]:g} HU"
                    + (f" against {ref_layer.name}" if ref_layer is not None else " (no reference: noise SD only)")
                    + (f"; noise SD in {roi.name}" if roi is not None else "; no ROI: no noise SD") + ".")
            panel.set_status(" ".join([text, *notes, *problems]), error=bool(problems))

        return panel.start(work, done, "measuring…")

    def _fill_table(self, rows: list[dict[str, Any]], ref_name: str | None) -> None:
        self.table.setRowCount(len(rows))
        for i, r in enumerate(rows):
            label = r["name"] + (" (reference)" if r["name"] == ref_name else "")
            cells = [label, num(r["psnr"], 2), num(r["ssim"], 3), num(r["rmse"], 1), num(r["noise_sd"], 1)]
            for j, text in enumerate(cells):
                item = QTableWidgetItem(text if not (r["problem"] and j in (1, 2, 3)) else "error")
                if j:
                    item.setTextAlignment(Qt.AlignRight | Qt.AlignVCenter)
                if r["problem"]:
                    item.setToolTip(r["problem"])
                self.table.setItem(i, j, item)

    def add_difference(self) -> bool:
        """Add (image - reference) for the selected row (or the last row) as a layer on the image's grid."""
        try:
            ref_layer = image_layer(self.viewer, self.ref_combo.currentText(), "reference (full-dose)")
            rows = sorted({ix.row() for ix in self.table.selectedIndexes()})
            names = [r["name"] for r in self.rows if r["name"] != ref_layer.name]
            if rows and rows[0] < len(self.rows):
                name = self.rows[rows[0]]["name"]
            elif names:
                name = names[-1]
            else:
                raise InvalidInputError("measure first, then select the row of the image to compare")
            if name == ref_layer.name:
                raise InvalidInputError("the selected row is the reference itself; select another image")
            layer = image_layer(self.viewer, name, name)
            img = np.asarray(layer.data, dtype=np.float32)
            ref = np.asarray(ref_layer.data, dtype=np.float32)
            if img.shape != ref.shape:
                raise InvalidInputError(f"{name!r} has shape {img.shape} but the reference {ref_layer.name!r} has "
                                        f"{ref.shape}; pick a reference on the same grid")
            vol = ct_volume(layer)
            diff_name = f"{name} - {ref_layer.name}"
            half = (self.win_hi.value() - self.win_lo.value()) / 4.0
            new = put_image(self.viewer, vol.with_data(img - ref, name=diff_name, source=None), layer,
                            colormap="coolwarm", contrast_limits=(-half, half))
        except (MedaiError, ValueError) as exc:
            return self.jobs.refuse(exc)
        self.jobs.set_status(f"Added {new.name} (HU; colour range ±{half:g} HU).")
        return True
