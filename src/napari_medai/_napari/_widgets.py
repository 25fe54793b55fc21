"""What every dock widget shares: text styles and error text, small Qt factories, a scrolling column and its rows,
waiting for background work, moving the viewer, a label legend and the "Save segmentation…" action."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLayout,
    QScrollArea,
    QSpinBox,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from ..core.errors import MedaiError

#: Style of a text that reports a problem.
RED = "color: #ff7070;"


class VerticalScrollArea(QScrollArea):
    """Scrolls vertically only and is always as wide as its content needs (nothing is clipped).

    Frameless, resizing its content to its width, no horizontal scroll bar.
    """

    def __init__(self, content: QWidget | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.NoFrame)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        if content is not None:
            self.setWidget(content)

    def _width(self) -> int:
        inner = self.widget()
        w = inner.minimumSizeHint().width() if inner is not None else 0
        return w + self.verticalScrollBar().sizeHint().width() + 2 * self.frameWidth()

    def minimumSizeHint(self) -> Any:
        hint = super().minimumSizeHint()
        hint.setWidth(max(hint.width(), self._width()))
        return hint

    def sizeHint(self) -> Any:
        hint = super().sizeHint()
        hint.setWidth(max(hint.width(), self._width()))
        return hint


def scroll_vertically(owner: QWidget, content: QWidget) -> VerticalScrollArea:
    """Make ``content`` the whole of ``owner`` (a dock widget), inside a :class:`VerticalScrollArea`.

    A short dock then scrolls instead of squeezing tables and plots. ``owner`` must have no layout yet.
    """
    scroll = VerticalScrollArea(content)
    outer = QVBoxLayout(owner)
    outer.setContentsMargins(0, 0, 0, 0)
    outer.addWidget(scroll)
    return scroll


def scroll_column(owner: QWidget, *parts: QWidget | QLayout | tuple[QWidget | QLayout, int],
                  end_stretch: bool = True) -> VerticalScrollArea:
    """Stack ``parts`` top to bottom as the whole of ``owner`` (a dock widget), in a :class:`VerticalScrollArea`.

    Parameters
    ----------
    owner : QWidget
        The dock widget; it must have no layout yet.
    *parts : QWidget, QLayout or (QWidget or QLayout, int)
        Widgets and layouts in order; a ``(part, stretch)`` pair gives that part a share of the spare height.
    end_stretch : bool, keyword-only
        Leave the spare height under the last part (default); False when a part takes it.

    Returns
    -------
    VerticalScrollArea
        The scroll area (for ``updateGeometry`` once the theme applies).
    """
    content = QWidget()
    column(content, *parts, end_stretch=end_stretch)
    return scroll_vertically(owner, content)


def column(owner: QWidget, *parts: QWidget | QLayout | tuple[QWidget | QLayout, int],
           end_stretch: bool = True) -> QVBoxLayout:
    """Give ``owner`` (which has no layout yet) a vertical layout of ``parts``, as :func:`scroll_column` does
    without the scroll area; returns the layout."""
    layout = QVBoxLayout(owner)
    for part in parts:
        item, stretch = part if isinstance(part, tuple) else (part, 0)
        if isinstance(item, QLayout):
            layout.addLayout(item, stretch)
        else:
            layout.addWidget(item, stretch)
    if end_stretch:
        layout.addStretch(1)
    return layout


def field_row(field: QWidget, *beside: QWidget) -> QHBoxLayout:
    """A field that takes the row's spare width, with ``beside`` (e.g. a "Folder…" button) after it."""
    row = QHBoxLayout()
    row.addWidget(field, stretch=1)
    for widget in beside:
        row.addWidget(widget)
    return row


def button_row(*widgets: QWidget) -> QHBoxLayout:
    """Widgets side by side at their own width (e.g. a run button), the spare width after them."""
    row = QHBoxLayout()
    for widget in widgets:
        row.addWidget(widget)
    row.addStretch(1)
    return row


def process_events_until(done: Callable[[], bool], timeout_s: float) -> bool:
    """Process Qt events until ``done()`` is true or ``timeout_s`` passes; returns ``done()``."""
    from qtpy.QtWidgets import QApplication

    end = time.monotonic() + timeout_s
    while not done() and time.monotonic() < end:
        QApplication.processEvents()
        time.sleep(0.01)
    return done()


def centre_on(viewer: Any, layer: Any, index: Sequence[float]) -> None:
    """Move the slider(s) and the camera centre to the data ``index`` of ``layer``.

    The point is set in one assignment: every change of ``dims.point`` re-slices every layer (one per axis
    cost three times the GUI thread's time: 122 -> 60 ms CPU for a row click in the stroke journey)."""
    world = np.asarray(layer.data_to_world(index), dtype=float)
    nd = len(world)
    offset = viewer.dims.ndim - nd
    point = list(viewer.dims.point)
    point[offset:] = world.tolist()
    if tuple(point) != tuple(viewer.dims.point):
        viewer.dims.point = tuple(point)
    camera = viewer.scene.camera if hasattr(viewer, "scene") else viewer.camera  # napari >= 0.9: scene.camera
    camera.center = tuple(world[a - offset] for a in viewer.dims.displayed if a >= offset)


# ------------------------------------------------------------------------------------------ text
def error_text(exc: BaseException) -> str:
    """The message of a core error as is; other errors with their type (they are bugs)."""
    return str(exc) if isinstance(exc, MedaiError) else f"{type(exc).__name__}: {exc}"


def num(v: float | None, digits: int) -> str:
    if v is None:
        return "–"
    return "inf" if math.isinf(v) else f"{v:.{digits}f}"


def fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


# ------------------------------------------------------------------------------------------ widgets
def spin(low: float, high: float, value: float, *, decimals: int = 2, step: float = 1.0, suffix: str = "",
         tip: str = "") -> QDoubleSpinBox:
    s = QDoubleSpinBox()
    s.setRange(low, high)
    s.setDecimals(decimals)
    s.setSingleStep(step)
    s.setValue(value)
    if suffix:
        s.setSuffix(suffix)
    s.setToolTip(tip)
    return s


def int_spin(low: int, high: int, value: int, tip: str = "") -> QSpinBox:
    s = QSpinBox()
    s.setRange(low, high)
    s.setValue(value)
    s.setToolTip(tip)
    return s


def threads_spin() -> QSpinBox:
    """'CPU threads' for the network methods: 0 leaves torch's setting (about one per core)."""
    s = int_spin(0, 256, 0, "torch CPU threads while the network trains or runs (0: torch's default, about one "
                 "per core). When other jobs share the cores, 1 thread is often much faster for these small "
                 "networks (threads wait for each other at every step).")
    s.setSpecialValueText("default")
    fit_spin_text(s)
    return s


def device_combo() -> QComboBox:
    combo = QComboBox()
    combo.addItems(["auto", "cpu", "cuda"])
    return combo


def wrapped(text: str = "") -> QLabel:
    lab = QLabel(text)
    lab.setWordWrap(True)
    lab.setTextInteractionFlags(Qt.TextSelectableByMouse)
    return lab


# ------------------------------------------------------------------------------------------ labels
def label_names_of(layer: Any) -> dict[int, str]:
    """The names of a Labels layer's values (from its napari-medai metadata), e.g. ``{1: 'NCR', 2: 'ED'}``."""
    from .layers import META_KEY

    md = (getattr(layer, "metadata", None) or {}).get(META_KEY, {})
    return {int(k): str(v) for k, v in (md.get("label_names") or {}).items()}


class LabelLegend(QWidget):
    """A colour key of a Labels layer: one swatch and name per label value present in the layer's names.

    Call :meth:`show_layer` with a Labels layer (or None to clear); ``names`` overrides the layer's own.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from qtpy.QtWidgets import QGridLayout

        self._grid = QGridLayout(self)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setHorizontalSpacing(6)
        self._grid.setVerticalSpacing(2)
        #: (value, name, '#rrggbb') of each row shown, for tests and screen readers.
        self.entries: list[tuple[int, str, str]] = []

    def show_layer(self, layer: Any, names: dict[int, str] | None = None) -> None:
        while self._grid.count():
            item = self._grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self.entries = []
        if layer is None:
            return
        names = names if names is not None else label_names_of(layer)
        if not names:
            present = np.unique(np.asarray(layer.data))
            names = {int(v): f"label {int(v)}" for v in present[present != 0][:12]}
        for row, (value, name) in enumerate(sorted(names.items())):
            if value == 0:
                continue
            rgba = np.asarray(layer.colormap.map(np.array([value]))).reshape(-1)[:3]
            hexc = "#" + "".join(f"{int(round(255 * float(c))):02x}" for c in rgba)
            swatch = QLabel()
            swatch.setFixedSize(14, 14)
            swatch.setStyleSheet(f"background-color: {hexc}; border: 1px solid #888;")
            self._grid.addWidget(swatch, row, 0)
            self._grid.addWidget(QLabel(f"{name} ({value})"), row, 1)
            self.entries.append((int(value), name, hexc))
        self._grid.setColumnStretch(1, 1)


#: File types the "Save segmentation…" action offers, in order; the first is the default.
SAVE_FILTERS = "NIfTI (*.nii.gz);;NIfTI uncompressed (*.nii);;NRRD (*.nrrd);;MetaImage (*.mha)"


def save_labels_dialog(parent: QWidget, layer: Any, *, start_dir: str = "") -> str | None:
    """Ask where to save a Labels layer and write it with its image's geometry; returns the path or None.

    The file keeps the layer's spacing, origin and direction (they came from the image it was computed on)
    and is written atomically; the file a layer was read from is never overwritten. Raises
    :class:`~napari_medai.core.errors.MedaiError` with the reason when the file cannot be written.
    """
    from pathlib import Path

    from qtpy.QtWidgets import QFileDialog

    from ..core.io import write_volume
    from .layers import META_KEY, layer_to_volume

    suggestion = str(Path(start_dir or Path.home()) / f"{layer.name}.nii.gz")
    path, chosen = QFileDialog.getSaveFileName(parent, f"Save {layer.name}", suggestion, SAVE_FILTERS)
    if not path:
        return None
    ext = {"NIfTI (*.nii.gz)": ".nii.gz", "NIfTI uncompressed (*.nii)": ".nii", "NRRD (*.nrrd)": ".nrrd",
           "MetaImage (*.mha)": ".mha"}.get(chosen, "")
    if ext and not path.lower().endswith(ext) and not path.lower().endswith((".nii.gz", ".nii", ".nrrd", ".mha")):
        path += ext
    vol = layer_to_volume(layer)
    vol = vol.with_data(np.asarray(vol.data), is_label=True)
    md = (layer.metadata or {}).get(META_KEY, {})
    protect = [md["source"]] if md.get("source") else []
    # the dialog has asked before replacing an existing file; the layer's own source stays protected
    out = write_volume(vol, Path(path), overwrite=True, protect=protect)
    return str(out)


def as_outline(layer: Any, width: int = 2) -> None:
    """Draw a Labels layer (ground truth) as outlines, so a prediction underneath stays visible."""
    layer.contour = int(width)


class CurrentPageTabWidget(QTabWidget):
    """A ``QTabWidget`` as tall as the page shown; Qt's own is as tall as its tallest page.

    A short tab then sits without a block of empty space under it, and a dock with one tall tab scrolls
    only while that tab is shown. The width stays that of the widest page, so the dock does not jump.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        from qtpy.QtWidgets import QSizePolicy

        # Qt's tab widget expands; this one leaves the spare height to what follows (e.g. a stretch)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Preferred)
        self.currentChanged.connect(lambda _i: self.updateGeometry())

    def _fit(self, hint: Any, minimum: bool) -> Any:
        page = self.currentWidget()
        if page is None:
            return hint
        heights = [(w.minimumSizeHint() if minimum else w.sizeHint()).height()
                   for w in (self.widget(i) for i in range(self.count())) if w is not None]
        own = (page.minimumSizeHint() if minimum else page.sizeHint()).height()
        hint.setHeight(hint.height() - max(heights, default=0) + own)
        return hint

    def heightForWidth(self, width: int) -> int:
        # Qt's answer is the tallest page's height for this width (pages with wrapped text have one)
        full = super().heightForWidth(width)
        page = self.currentWidget()
        if page is None or full < 0:
            return full
        from qtpy.QtCore import QSize
        from qtpy.QtWidgets import QStyle, QStyleOptionTabWidgetFrame

        opt = QStyleOptionTabWidgetFrame()
        self.initStyleOption(opt)
        inner = width - self.style().sizeFromContents(QStyle.CT_TabWidget, opt, QSize(0, 0), self).width()
        tallest = max(max(w.heightForWidth(inner), 0) for w in (self.widget(i) for i in range(self.count())))
        own = page.heightForWidth(inner)
        return full - tallest + (own if own >= 0 else page.sizeHint().height())

    def sizeHint(self) -> Any:
        return self._fit(super().sizeHint(), minimum=False)

    def minimumSizeHint(self) -> Any:
        return self._fit(super().minimumSizeHint(), minimum=True)


# ------------------------------------------------------------------------------------------ events
def watch(owner: QWidget, emitter: Any, callback: Callable[..., Any]) -> None:
    """Connect a napari event ``emitter`` to ``callback`` until ``owner`` (a dock widget) is destroyed.

    A closed dock then gets no more viewer events (no "already deleted" errors when the viewer closes and
    removes its layers after the dock is gone).
    """
    emitter.connect(callback)

    def _disconnect(*_: Any) -> None:
        from contextlib import suppress

        with suppress(RuntimeError, TypeError, ValueError):  # the emitter is gone already
            emitter.disconnect(callback)

    owner.destroyed.connect(_disconnect)


def watch_layer_names(owner: QWidget, viewer: Any, refresh: Callable[..., Any]) -> None:
    """Call ``refresh`` whenever a layer is added, removed or renamed in ``viewer``, until ``owner`` is destroyed.

    A removed layer's name event is disconnected at once (so the widget does not keep the layer, and its data,
    alive), and a closed widget gets no more viewer events.
    """
    from contextlib import suppress

    watched: list[tuple[Any, Any]] = []

    def connect(emitter: Any) -> None:
        emitter.connect(refresh)
        watched.append((emitter, refresh))

    def disconnect(pairs: list[tuple[Any, Any]]) -> None:
        for emitter, callback in pairs:
            with suppress(RuntimeError, TypeError, ValueError):  # the layer may be gone already
                emitter.disconnect(callback)

    def inserted(event: Any) -> None:
        connect(event.value.events.name)
        refresh()

    def removed(event: Any) -> None:
        gone = getattr(getattr(event.value, "events", None), "name", None)
        disconnect([(e, cb) for e, cb in watched if e is gone])
        watched[:] = [(e, cb) for e, cb in watched if e is not gone]
        refresh()

    for emitter, callback in ((viewer.layers.events.inserted, inserted), (viewer.layers.events.removed, removed)):
        emitter.connect(callback)
        watched.append((emitter, callback))
    for layer in viewer.layers:
        connect(layer.events.name)
    owner.destroyed.connect(lambda *_: disconnect(watched))  # no callbacks into a closed widget


def fit_spin_text(box: QSpinBox | QDoubleSpinBox) -> None:
    """Make a spin box wide enough for its longest text (special value text included) under napari's style.

    napari's theme draws the step buttons on both sides of the text, which Qt's size hint does not count, so
    a narrow form column cut a special text ("default" read "fault", "no limit" read "o limit").
    """
    fm = box.fontMetrics()  # before the dock is styled: the theme's font may differ, so 7 px a character at least
    texts = [box.specialValueText(), box.textFromValue(box.minimum()), box.textFromValue(box.maximum())]
    longest = max(max(fm.horizontalAdvance(t), 7 * len(t)) for t in (x + box.prefix() + box.suffix()
                                                                    for x in texts if x))
    # napari's theme sets `min-width` (which overrides setMinimumWidth) and puts a 20 px step button and 10 px
    # of padding on each side of the text
    box.setStyleSheet(f"QAbstractSpinBox {{ min-width: {longest + 48}px; }}")
