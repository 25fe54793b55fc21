"""A small live line plot for dock widgets (training loss, validation Dice, ...).

One matplotlib figure embedded in Qt. Series are added point by point from the GUI thread
(worker threads send their numbers through a queued Qt signal first); the canvas redraws at most
every ``min_redraw_s`` so a fast training loop cannot flood the event loop. A series can live on
the right-hand axis (e.g. Dice in [0, 1] beside a loss).
"""

from __future__ import annotations

import time
from typing import Any

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QSizePolicy, QVBoxLayout, QWidget


class LivePlot(QWidget):
    """Line plot whose series grow one point at a time.

    Parameters
    ----------
    xlabel, ylabel
        Axis labels of the left axis.
    y2label
        Label of the right-hand axis; series added with ``right=True`` go there.
    logy
        Log scale on the left axis (losses spanning decades).
    min_redraw_s
        Minimum time between two redraws.
    """

    def __init__(self, *, xlabel: str = "step", ylabel: str = "loss", y2label: str | None = None,
                 logy: bool = False, min_redraw_s: float = 0.2, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        self.figure = Figure(figsize=(4.0, 2.4), dpi=90, layout="constrained")
        self.canvas = FigureCanvasQTAgg(self.figure)
        self.canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.canvas.setMinimumHeight(170)
        self.ax = self.figure.add_subplot(1, 1, 1)
        self.ax.set_xlabel(xlabel)
        self.ax.set_ylabel(ylabel)
        if logy:
            self.ax.set_yscale("log")
        self.ax.grid(True, alpha=0.3)
        self.ax2 = None
        if y2label is not None:
            self.ax2 = self.ax.twinx()
            self.ax2.set_ylabel(y2label)
        self._xlabel, self._ylabel, self._y2label, self._logy = xlabel, ylabel, y2label, logy
        self.min_redraw_s = float(min_redraw_s)
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self._lines: dict[str, Any] = {}
        self._last_draw = 0.0
        self._pending = False
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.canvas)

    def add_point(self, name: str, x: float, y: float | None, *, right: bool = False) -> None:
        """Append ``(x, y)`` to series ``name`` (created on first use); ``None`` / NaN y is skipped."""
        if y is None or y != y:  # NaN
            return
        xs, ys = self.series.setdefault(name, ([], []))
        xs.append(float(x))
        ys.append(float(y))
        line = self._lines.get(name)
        if line is None:
            ax = self.ax2 if (right and self.ax2 is not None) else self.ax
            style = "--" if ax is self.ax2 else "-"
            (line,) = ax.plot(xs, ys, style, marker="." if len(self._lines) else None, label=name)
            self._lines[name] = line
            self._legend()
        else:
            line.set_data(xs, ys)
        self.redraw()

    def clear(self) -> None:
        """Remove every series (a new run starts)."""
        for line in self._lines.values():
            line.remove()
        self._lines.clear()
        self.series.clear()
        for ax in (self.ax, self.ax2):
            if ax is not None and ax.get_legend() is not None:
                ax.get_legend().remove()
        self.redraw(force=True)

    def _flush(self) -> None:
        self._pending = False
        self.redraw(force=True)

    def _legend(self) -> None:
        handles = list(self._lines.values())
        if handles:
            self.ax.legend(handles, [h.get_label() for h in handles], loc="upper right", fontsize=7)

    def redraw(self, *, force: bool = False) -> None:
        """Rescale the axes and repaint, at most every ``min_redraw_s`` unless ``force``."""
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_redraw_s:
            if not self._pending:  # draw the latest points once the interval has passed
                self._pending = True
                wait_ms = int(1000 * (self.min_redraw_s - (now - self._last_draw))) + 1
                QTimer.singleShot(wait_ms, self._flush)
            return
        self._last_draw = now
        for ax in (self.ax, self.ax2):
            if ax is not None:
                ax.relim()
                ax.autoscale_view()
        self.canvas.draw_idle()
