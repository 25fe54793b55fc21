"""The probability chart of the classification widget: one horizontal bar per class, its decision threshold
drawn across it, the value written beside it (matplotlib in Qt, as :mod:`napari_medai._napari._plot`).

Every number comes from :class:`~napari_medai.core.tasks.classify.ImageClassification`; nothing is computed
here. Before a result (or for an untrained model) a grey one-line note stands in the chart's place; the
matplotlib figure is made at the first result, so opening the dock imports no matplotlib on the GUI thread
(:func:`napari_medai._napari._plot.preload_matplotlib` imports it in the background meanwhile). After a result,
a note is written on blank axes in the figure, as before.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget

from .._plot import note_label, preload_matplotlib

#: Bar colours: at or above the class's threshold (the model calls it), below it.
CALLED = "#d62728"
NOT_CALLED = "#7f9fbf"
THRESHOLD = "#202020"
#: Height of the chart per class, in pixels (plus the axes' margins).
ROW_PX = 22


class ProbabilityChart(QWidget):
    """Horizontal bars of each class's probability with its decision threshold.

    Parameters
    ----------
    empty_text
        Shown on blank axes while there is nothing to show.
    """

    def __init__(self, empty_text: str = "no result yet", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.figure: Any = None  # made at the first result
        self.canvas: Any = None
        self.ax: Any = None
        #: What the chart shows now: ``[(class, probability, threshold)]`` (empty when blank).
        self.bars: list[tuple[str, float, float]] = []
        #: The note shown on blank axes (a matplotlib Text, None before the figure is made), and its text.
        self.note: Any = None
        self.note_text = empty_text
        #: What stands in the figure's place until the first result: the note in grey.
        self.placeholder = note_label(empty_text, self._height(2))
        self.placeholder.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.placeholder.setFixedHeight(self._height(2))
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        preload_matplotlib()

    @staticmethod
    def _height(rows: int) -> int:
        return max(110, 50 + ROW_PX * rows)

    def _build(self) -> None:
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4.0, 1.8), dpi=90, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.ax = self.figure.add_subplot(1, 1, 1)
        layout = self.layout()
        layout.removeWidget(self.placeholder)
        self.placeholder.hide()
        self.placeholder.deleteLater()
        layout.addWidget(self.canvas)
        self.canvas.show()

    def _fit_height(self, rows: int) -> None:
        self.canvas.setFixedHeight(self._height(rows))

    def clear(self, text: str | None = None) -> None:
        """Blank axes with ``text`` (the previous note when None); before the first result, the grey note."""
        if text is not None:
            self.note_text = text
        self.bars = []
        if self.figure is None:
            self.placeholder.setText(self.note_text)
            return
        self.figure.set_layout_engine("constrained")
        ax = self.ax
        ax.clear()
        ax.set_xlim(0.0, 1.0)
        ax.set_xticks([])
        ax.set_yticks([])
        for side in ("top", "right", "left", "bottom"):
            ax.spines[side].set_visible(False)
        self.note = ax.text(0.5, 0.5, self.note_text, transform=ax.transAxes, ha="center", va="center", wrap=True,
                            fontsize=8, color="#808080")
        self._fit_height(2)
        self.canvas.draw_idle()

    def show_probabilities(self, classes: Sequence[str], probabilities: Sequence[float],
                           thresholds: Sequence[float]) -> None:
        """Draw one bar per class (first class on top) with its threshold and value."""
        from matplotlib.ticker import MultipleLocator

        if self.figure is None:
            self._build()
        bars = [(str(c), float(p), float(t)) for c, p, t in zip(classes, probabilities, thresholds, strict=True)]
        # the margins are laid out again (about half of a draw) only when the class names change
        same = [b[0] for b in bars] == [b[0] for b in self.bars] and self.note is None
        self.figure.set_layout_engine("none" if same else "constrained")
        self.bars = bars
        ax = self.ax
        ax.clear()
        self.note = None
        n = len(self.bars)
        ys = list(range(n))[::-1]
        for y, (_c, p, t) in zip(ys, self.bars, strict=True):
            ax.barh(y, p, height=0.7, color=CALLED if p >= t else NOT_CALLED)
            ax.plot([t, t], [y - 0.45, y + 0.45], color=THRESHOLD, linewidth=2.0, linestyle="--")
            inside = p >= 0.85  # the value inside a long bar, beside a short one
            ax.text(p - 0.015 if inside else p + 0.015, y, f"{p:.2f}", va="center", ha="right" if inside else "left",
                    fontsize=8, color="white" if inside else "#303030")
        ax.set_yticks(ys)
        ax.set_yticklabels([c for c, _p, _t in self.bars], fontsize=8)
        ax.set_xlim(0.0, 1.0)
        ax.set_ylim(-0.6, n - 0.4)
        ax.xaxis.set_major_locator(MultipleLocator(0.25))
        ax.tick_params(axis="x", labelsize=7)
        ax.set_xlabel("probability (dashed: the model's decision threshold)", fontsize=7)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
        ax.grid(True, axis="x", alpha=0.3)
        self._fit_height(n)
        self.canvas.draw_idle()


__all__ = ["CALLED", "NOT_CALLED", "ProbabilityChart"]
