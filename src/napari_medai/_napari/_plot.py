"""A small live line plot for dock widgets (training loss, validation Dice, ...).

One matplotlib figure embedded in Qt. Series are added point by point from the GUI thread
(worker threads send their numbers through a queued Qt signal first); the canvas redraws at most
every ``min_redraw_s`` so a fast training loop cannot flood the event loop. A series can live on
the right-hand axis (e.g. Dice in [0, 1] beside a loss), drawn dashed. Both axes draw their colours
from one cycle, so a right-hand series never repeats the colour of a left-hand one; a series can
also be given its own colour. Before the first point, ``empty_text`` (if given) stands in the middle of
blank axes instead of the ticks of an empty [0, 1] range.

A redraw runs on the GUI thread, so it is kept cheap. The axis limits are sticky: they grow, with headroom
(50 % along x, 25 % along y), only when a point falls outside them, so most new points change no tick. Then only the lines are
drawn again over a saved picture of the rest (blitting: milliseconds instead of a full draw of a few hundred
on busy cores). A full draw happens when the limits, the legend or the size change; the constrained layout
(margins fitted to labels and legend, about half of a full draw) runs only then.

The matplotlib figure is made when there is something to plot (the first point), or when code asks for it
(:attr:`LivePlot.figure`, ``ax``, ...); until then a grey line of text (``empty_text``) stands in its place.
Opening a dock thus imports no matplotlib on the GUI thread (half a second, and with it full garbage
collections, on a busy 2-core machine): :func:`preload_matplotlib` imports it in a background thread
meanwhile, so making the figure later costs milliseconds (about 16 ms, and 60-75 ms for its first draw).
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import Qt, QTimer
from qtpy.QtWidgets import QLabel, QSizePolicy, QVBoxLayout, QWidget

#: ``legend_loc`` that puts the legend above the axes (in the figure's margin, covering no curve).
ABOVE = "above"
#: The modules a figure in a dock needs.
MATPLOTLIB_MODULES = ("matplotlib.figure", "matplotlib.backends.backend_qtagg")
#: Grey of the text shown instead of an empty plot (as the empty figures' notes).
NOTE_STYLE = "color: #808080; font-size: 8pt;"

_PRELOAD: list[threading.Thread] = []


def preload_matplotlib() -> None:
    """Import matplotlib's figure and Qt canvas in a background thread, once per process (nothing when they are
    imported already): a dock with a plot calls it when it opens, so that its first figure, made later on the
    GUI thread, does not wait for the import. The GUI thread keeps running meanwhile (an import takes the GIL
    only in turns); one that needs matplotlib before the import ends waits for it."""
    if _PRELOAD or all(name in sys.modules for name in MATPLOTLIB_MODULES):
        return

    def load() -> None:
        for name in MATPLOTLIB_MODULES:
            try:
                importlib.import_module(name)
            except ImportError:  # said by the GUI thread's own import, when a figure is made
                return

    thread = threading.Thread(target=load, name="napari-medai-preload-matplotlib", daemon=True)
    _PRELOAD.append(thread)
    thread.start()


def note_label(text: str, height: int) -> QLabel:
    """The grey, centred line of text shown where a figure will be, ``height`` pixels high at least."""
    label = QLabel(text)
    label.setAlignment(Qt.AlignmentFlag.AlignCenter)
    label.setWordWrap(True)
    label.setStyleSheet(NOTE_STYLE)
    label.setMinimumHeight(height)
    label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
    return label


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
    legend_loc
        Where the legend goes: a matplotlib location inside the axes (``"upper right"``,
        ``"best"``, ...), ``"above"`` for a row above the axes that hides no curve, or ``None``
        for no legend.
    legend_ncol
        Columns of the legend; ``None``: one column inside the axes, up to 3 above them.
    min_redraw_s
        Minimum time between two redraws.
    empty_text
        Shown, without ticks, while the plot has no point (e.g. "no epochs yet").
    """

    def __init__(self, *, xlabel: str = "step", ylabel: str = "loss", y2label: str | None = None,
                 logy: bool = False, legend_loc: str | None = "upper right", legend_ncol: int | None = None,
                 min_redraw_s: float = 0.2, empty_text: str | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._xlabel, self._ylabel, self._y2label, self._logy = xlabel, ylabel, y2label, logy
        self.legend_loc = legend_loc
        self.legend_ncol = legend_ncol
        self.legend: Any = None  # the matplotlib Legend drawn now (on the axes or the figure), if any
        self.min_redraw_s = float(min_redraw_s)
        self.series: dict[str, tuple[list[float], list[float]]] = {}
        self._lines: dict[str, Any] = {}
        self._last_draw = 0.0
        self._pending = False
        self._layout_due = True
        self._background: Any = None  # the canvas without the lines, for blitting
        self._fresh = True  # no limits drawn yet since the start or the last clear: autoscale freely
        #: Full draws and blitted ones so far (for tests and benchmarks).
        self.draws = {"full": 0, "blit": 0}
        self._empty_text = empty_text
        self._on_built: list[Callable[[LivePlot], None]] = []
        self._figure: Any = None
        self._canvas: Any = None
        self._ax: Any = None
        self._ax2: Any = None
        self._empty_note: Any = None
        #: What stands in the figure's place until it is made: ``empty_text`` in grey.
        self.placeholder = note_label(empty_text or "", 170)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.placeholder)
        preload_matplotlib()

    # ------------------------------------------------------------------ the figure, made on first use
    @property
    def built(self) -> bool:
        """True once the matplotlib figure has been made."""
        return self._figure is not None

    @property
    def figure(self) -> Any:
        """The matplotlib Figure (made now if it was not)."""
        self._build()
        return self._figure

    @property
    def canvas(self) -> Any:
        """The Qt canvas of the figure (made now if it was not)."""
        self._build()
        return self._canvas

    @property
    def ax(self) -> Any:
        """The left axes (the figure is made now if it was not)."""
        self._build()
        return self._ax

    @property
    def ax2(self) -> Any:
        """The right-hand axes, or None without ``y2label`` (the figure is made now if it was not)."""
        self._build()
        return self._ax2

    @property
    def empty_note(self) -> Any:
        """The text shown while there is no point (a matplotlib Text), or None (the figure is made now)."""
        self._build()
        return self._empty_note

    def when_built(self, style: Callable[[LivePlot], None]) -> None:
        """Run ``style(plot)`` once the figure exists (at once if it does): tick locators, fixed limits ..."""
        if self.built:
            style(self)
        else:
            self._on_built.append(style)

    def set_axis_labels(self, *, xlabel: str | None = None, ylabel: str | None = None,
                        y2label: str | None = None) -> None:
        """Change axis labels (before or after the figure is made); ``y2label`` needs a right-hand axis."""
        self._xlabel = self._xlabel if xlabel is None else xlabel
        self._ylabel = self._ylabel if ylabel is None else ylabel
        self._y2label = self._y2label if y2label is None or self._y2label is None else y2label
        if self.built:
            self._ax.set_xlabel(self._xlabel)
            self._ax.set_ylabel(self._ylabel)
            if self._ax2 is not None:
                self._ax2.set_ylabel(self._y2label)

    def _build(self) -> None:
        if self._figure is not None:
            return
        from matplotlib.backends.backend_qtagg import FigureCanvasQTAgg
        from matplotlib.figure import Figure

        figure = Figure(figsize=(4.0, 2.4), dpi=90, layout="constrained")
        canvas = FigureCanvasQTAgg(figure)
        canvas.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        canvas.setMinimumHeight(170)
        ax = figure.add_subplot(1, 1, 1)
        ax.set_xlabel(self._xlabel)
        ax.set_ylabel(self._ylabel)
        if self._logy:
            ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        if self._y2label is not None:
            self._ax2 = ax.twinx()
            self._ax2.set_ylabel(self._y2label)
        self._figure, self._canvas, self._ax = figure, canvas, ax
        canvas.mpl_connect("resize_event", lambda _e: self._relayout())
        if self._empty_text:
            self._empty_note = ax.text(0.5, 0.5, self._empty_text, transform=ax.transAxes, ha="center",
                                       va="center", wrap=True, fontsize=8, color="#808080")
        self._show_empty(not self.series)
        layout = self.layout()
        layout.removeWidget(self.placeholder)
        self.placeholder.hide()
        self.placeholder.deleteLater()
        layout.addWidget(canvas)
        canvas.show()  # shown at once when the plot is (a child added to a shown widget stays hidden)
        for style in self._on_built:
            style(self)
        self._on_built.clear()

    def add_point(self, name: str, x: float, y: float | None, *, right: bool = False,
                  color: str | None = None) -> None:
        """Append ``(x, y)`` to series ``name`` (created on first use); ``None`` / NaN y is skipped.

        ``right`` and ``color`` (any matplotlib colour) take effect when the series is created;
        without ``color`` the series takes the next colour of the cycle that no line shows yet.
        """
        if y is None or y != y:  # NaN
            return
        if not self.series:
            self._show_empty(False)
        xs, ys = self.series.setdefault(name, ([], []))
        xs.append(float(x))
        ys.append(float(y))
        line = self._lines.get(name)
        if line is None:
            ax = self.ax2 if (right and self.ax2 is not None) else self.ax
            style = "--" if ax is self.ax2 else "-"
            (line,) = ax.plot(xs, ys, style, color=color or self._next_colour(),
                              marker="." if len(self._lines) else None, label=name)
            self._lines[name] = line
            self._draw_legend()
            self._layout_due = True
        else:
            line.set_data(xs, ys)
        self.redraw()

    def colour_of(self, name: str) -> str:
        """The colour of series ``name`` as ``#rrggbb``."""
        from matplotlib.colors import to_hex

        return to_hex(self._lines[name].get_color())

    def clear(self) -> None:
        """Remove every series (a new run starts; the colour cycle starts again)."""
        if not self.built:
            self.series.clear()
            return
        for line in self._lines.values():
            line.remove()
        self._lines.clear()
        self.series.clear()
        self._remove_legend()
        self._show_empty(True)
        self._layout_due = True
        self._fresh = True
        self.redraw(force=True)

    def fit(self) -> None:
        """Fit the limits to the data, without the headroom kept for points to come (e.g. when a run ends)."""
        self._fresh = True
        self.redraw(force=True)

    @property
    def is_empty(self) -> bool:
        """True while no point has been added (since the last :meth:`clear`)."""
        return not self.series

    def _show_empty(self, empty: bool) -> None:
        """With ``empty_text``: blank axes and the text while empty; ticks and no text once points arrive."""
        if self.empty_note is None:
            return
        self.empty_note.set_visible(empty)
        for ax in (self.ax, self.ax2):
            if ax is not None:
                ax.tick_params(left=not empty, right=not empty, bottom=not empty, labelleft=not empty,
                               labelright=not empty, labelbottom=not empty)
        if self.ax2 is not None:  # the twin axes keep their own side only
            self.ax.tick_params(right=False, labelright=False)
            self.ax2.tick_params(left=False, labelleft=False, bottom=False, labelbottom=False)

    def _next_colour(self) -> str:
        """The first colour of the axes' cycle not shown by a line yet (both axes share it)."""
        from matplotlib import rcParams
        from matplotlib.colors import to_hex

        cycle = [to_hex(c) for c in rcParams["axes.prop_cycle"].by_key().get("color", ["#1f77b4"])]
        used = {to_hex(line.get_color()) for line in self._lines.values()}
        free = [c for c in cycle if c not in used]
        return free[0] if free else cycle[len(self._lines) % len(cycle)]

    def _remove_legend(self) -> None:
        if self.legend is not None:
            self.legend.remove()
            self.legend = None

    def _draw_legend(self) -> None:
        self._remove_legend()
        handles = list(self._lines.values())
        if not handles or self.legend_loc is None:
            return
        labels = [h.get_label() for h in handles]
        if self.legend_loc == ABOVE:
            ncol = self.legend_ncol or min(len(handles), 3)
            self.legend = self.figure.legend(handles, labels, loc="outside upper center", ncol=ncol, fontsize=7,
                                             frameon=False)
        else:  # on the top axes, so no right-hand curve is drawn over it
            top = self.ax2 if self.ax2 is not None else self.ax
            self.legend = top.legend(handles, labels, loc=self.legend_loc, ncol=self.legend_ncol or 1, fontsize=7)

    def _flush(self) -> None:
        self._pending = False
        self.redraw(force=True)

    def redraw(self, *, force: bool = False) -> None:
        """Rescale the axes and repaint, at most every ``min_redraw_s`` unless ``force`` (nothing before the figure
        is made)."""
        if not self.built:
            return
        now = time.monotonic()
        if not force and now - self._last_draw < self.min_redraw_s:
            if not self._pending:  # draw the latest points once the interval has passed
                self._pending = True
                wait_ms = int(1000 * (self.min_redraw_s - (now - self._last_draw))) + 1
                QTimer.singleShot(wait_ms, self._flush)
            return
        self._last_draw = now
        # new limits can change the width of the tick labels: lay the margins out again then too
        due = self._update_limits() or self._layout_due
        if not due and self._blit():
            return
        self.figure.set_layout_engine("constrained" if due else "none")
        self._layout_due = False
        self._full_draw()

    def _update_limits(self) -> bool:
        """Autoscale, but keep the limits drawn when the data still fit in them; True when they changed."""
        changed = False
        for ax in (self.ax, self.ax2):
            if ax is None:
                continue
            old = (ax.get_xlim(), ax.get_ylim())
            ax.relim()
            ax.autoscale_view()
            data = ax.dataLim
            for i, (auto, get, put, scale, dlo, dhi) in enumerate((
                    (ax.get_autoscalex_on(), ax.get_xlim, ax.set_xlim, ax.get_xscale(), data.x0, data.x1),
                    (ax.get_autoscaley_on(), ax.get_ylim, ax.set_ylim, ax.get_yscale(), data.y0, data.y1))):
                if not auto or scale != "linear" or self._fresh:
                    changed |= get() != old[i]
                    continue
                (lo, hi), (olo, ohi) = get(), old[i]
                if dlo >= olo and dhi <= ohi:
                    put(olo, ohi, auto=True)  # the data still fit: keep the drawn limits
                    continue
                pad = (0.25 if i else 0.5) * (hi - lo)  # x (steps, epochs) keeps growing: more room ahead
                put(lo - pad if dlo < olo else olo, hi + pad if dhi > ohi else ohi, auto=True)
                changed = True
        self._fresh = not self.series
        return changed

    def _full_draw(self) -> None:
        """Draw everything now; keep a picture without the lines for the next blits."""
        lines = list(self._lines.values())
        self._background = None
        if not self.canvas.isVisible():  # a hidden or tabbed-away plot is drawn when it is shown
            self._layout_due = True
            return
        if not lines:
            self.canvas.draw_idle()
            return
        self.draws["full"] += 1
        for line in lines:
            line.set_animated(True)
        try:
            self.canvas.draw()
            self._background = self.canvas.copy_from_bbox(self.figure.bbox)
        finally:
            for line in lines:
                line.set_animated(False)
        self._draw_lines()

    def _blit(self) -> bool:
        """Draw only the lines over the saved background; False when there is none (a full draw is needed)."""
        if self._background is None or not self.canvas.isVisible():
            return False
        self.draws["blit"] += 1
        self.canvas.restore_region(self._background)
        self._draw_lines()
        return True

    def _draw_lines(self) -> None:
        for line in self._lines.values():
            line.axes.draw_artist(line)
        self.canvas.blit(self.figure.bbox)

    def showEvent(self, event: Any) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self._background is None:
            QTimer.singleShot(0, self._flush)  # drawn now that it is visible (skipped while hidden)

    def _relayout(self) -> None:
        """The canvas changed size: lay the margins out again at the next draw."""
        self._layout_due = True
        self._background = None
        self.figure.set_layout_engine("constrained")
