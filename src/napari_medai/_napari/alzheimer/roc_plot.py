"""The ROC curve in the dock: one matplotlib figure in Qt (as :mod:`.._plot` embeds its live plots).

The curve and the chance diagonal are drawn once per evaluation (a full draw, whose picture without the
marker is kept); the operating point of the chosen threshold (1 - specificity, sensitivity, both from the
core's ``at_threshold``) is one marker drawn over that picture (blitting: milliseconds instead of a full
draw), so dragging the threshold stays smooth.

The figure is made at the first evaluation shown; until then a grey "no evaluation yet" stands in its place,
so opening the dock imports no matplotlib on the GUI thread (:func:`.._plot.preload_matplotlib` imports it in
the background meanwhile; it took 78 % of the 593 ms the Alzheimer dock froze the viewer when it opened).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from .._plot import note_label, preload_matplotlib

#: Height of the ROC figure (and of the text standing in for it before the first evaluation), in pixels.
HEIGHT = 250


class RocPlot(QWidget):
    """The ROC curve of an evaluation, the chance line and the operating point at the threshold."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure: Any = None  # made by the first show_curve
        self.canvas: Any = None
        self.ax: Any = None
        self.chance: Any = None
        self.curve: Any = None
        self.point: Any = None
        self.note: Any = None
        self._background: Any = None  # the canvas without the marker, for blitting
        self._point: tuple[float, float] | None = None
        #: What stands in the figure's place until the first evaluation.
        self.placeholder = note_label("no evaluation yet", HEIGHT)
        self.placeholder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.placeholder.setFixedHeight(HEIGHT)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        preload_matplotlib()

    def _build(self) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(3.2, 3.0), dpi=90, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.canvas.setFixedHeight(HEIGHT)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.ax.set_xlabel("1 - specificity (false positive rate)", fontsize=8)
        self.ax.set_ylabel("sensitivity", fontsize=8)
        self.ax.tick_params(labelsize=7)
        self.ax.set_xlim(-0.02, 1.02)
        self.ax.set_ylim(-0.02, 1.02)
        self.ax.set_aspect("equal")
        self.ax.grid(True, alpha=0.3)
        (self.chance,) = self.ax.plot([0, 1], [0, 1], "--", color="#888888", lw=1, label="chance")
        (self.curve,) = self.ax.plot([], [], "-", color="#d62728", lw=1.8, label="ROC")
        (self.point,) = self.ax.plot([], [], "o", color="#1f77b4", ms=7, label="threshold", animated=True)
        if self._point is not None:
            self.point.set_data([self._point[0]], [self._point[1]])
        self.note = self.ax.text(0.5, 0.5, "no evaluation yet", transform=self.ax.transAxes, ha="center",
                                 va="center", fontsize=8, color="#808080")
        layout = self.layout()
        layout.removeWidget(self.placeholder)
        self.placeholder.hide()
        self.placeholder.deleteLater()
        layout.addWidget(self.canvas)
        self.canvas.show()
        self.canvas.mpl_connect("draw_event", self._drawn)

    def show_curve(self, fpr: np.ndarray, tpr: np.ndarray, label: str) -> None:
        """Draw the curve of an evaluation (``label``: e.g. its AUC); the figure is made at the first."""
        if self.figure is None:
            self._build()
        self.curve.set_data(np.asarray(fpr, dtype=float), np.asarray(tpr, dtype=float))
        self.curve.set_label(label)
        self.note.set_visible(False)
        self.ax.legend(loc="lower right", fontsize=7)
        self._background = None  # the marker is drawn with the new curve
        self.canvas.draw_idle()

    def _drawn(self, _event: Any) -> None:
        """After every full draw (a new curve, a resize, the tab shown): keep the picture, add the marker."""
        self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        self.ax.draw_artist(self.point)  # into the picture Qt paints next (matplotlib's blitting recipe)

    def set_point(self, fpr: float | None, tpr: float | None) -> None:
        """Move the operating-point marker (None: hide it)."""
        if fpr is None or tpr is None or fpr != fpr or tpr != tpr:
            self._point = None
        else:
            self._point = (float(fpr), float(tpr))
        if self.figure is None:  # drawn with the first curve
            return
        self.point.set_data(*(([self._point[0]], [self._point[1]]) if self._point else ([], [])))
        if self._background is None:
            self.canvas.draw_idle()
            return
        self.canvas.restore_region(self._background)
        self.ax.draw_artist(self.point)
        self.canvas.blit(self.figure.bbox)

    @property
    def curve_points(self) -> tuple[np.ndarray, np.ndarray]:
        """The (fpr, tpr) drawn (tests, screen readers); empty before the first evaluation."""
        if self.curve is None:
            return np.zeros(0), np.zeros(0)
        x, y = self.curve.get_data()
        return np.asarray(x), np.asarray(y)

    @property
    def operating_point(self) -> Any:
        """The (fpr, tpr) of the marker, or None."""
        return self._point


__all__ = ["RocPlot"]
