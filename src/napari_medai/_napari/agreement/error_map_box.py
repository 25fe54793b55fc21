"""The error-map row of the agreement panel: a region, "Add error map", and a colour key that stays."""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import QComboBox, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from ...core.error_map import ERROR_MAP_COLOURS, ERROR_MAP_NAMES, error_counts
from .._widgets import LabelLegend, wrapped
from ..layers import spatial_transform_kwargs


class ErrorMapBox(QWidget):
    """Region choice, the "Add error map" button, the TP / FP / FN key and the voxel counts."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.region_combo = QComboBox()
        self.button = QPushButton("Add error map")
        self.button.setToolTip("Add a layer with the true-positive, false-positive and false-negative voxels "
                               "of the region.")
        self.key = LabelLegend()
        self.counts = wrapped("")
        row = QHBoxLayout()
        row.addWidget(self.region_combo, stretch=1)
        row.addWidget(self.button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(QLabel("Error map (voxels of one region)"))
        layout.addLayout(row)
        layout.addWidget(self.key)
        layout.addWidget(self.counts)

    def set_regions(self, regions: list[str]) -> None:
        if regions != [self.region_combo.itemText(i) for i in range(self.region_combo.count())]:
            self.region_combo.clear()
            self.region_combo.addItems(regions)

    def show_map(self, viewer: Any, emap: np.ndarray, region: str, reference: Any) -> Any:
        """Add (or refresh) the layer ``error map <region>`` on ``reference``'s grid; show its key and counts."""
        from napari.utils.colormaps import DirectLabelColormap

        name = f"error map {region}"
        if name in viewer.layers:
            layer = viewer.layers[name]
            layer.data = emap
        else:
            cmap = DirectLabelColormap(color_dict={0: (0, 0, 0, 0), **ERROR_MAP_COLOURS, None: (0, 0, 0, 0)})
            layer = viewer.add_labels(emap, name=name, colormap=cmap, opacity=0.8, metadata={"error_map": {}},
                                      **spatial_transform_kwargs(reference))
        counts = error_counts(emap)
        layer.metadata["error_map"] = {"region": region, "codes": ERROR_MAP_NAMES, **counts}
        self.key.show_layer(layer, names=ERROR_MAP_NAMES)
        self.counts.setText(f"{region}: {counts['tp']} true-positive, {counts['fp']} false-positive, "
                            f"{counts['fn']} false-negative voxels.")
        return layer
