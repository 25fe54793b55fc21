"""Helpers for journey tests: reach widgets and controls the way a user does.

A journey opens a widget from the Plugins menu (:func:`open_widget`: napari's own
``add_plugin_dock_widget``, so the widget gets napari's public viewer proxy exactly as a user's does),
gets data from ``viewer.open`` / ``viewer.open_sample``, and finds controls by what a user reads on the
screen: a button's text (:func:`button`), a form row's label (:func:`field`), a tab's title
(:func:`show_tab`). It clicks with the mouse (:func:`click`) and reads the numbers that are shown
(:func:`table_texts`, ``label.text()``). No private method of a widget is called.

When the environment variable ``MEDAI_GUI_GAPS`` names a file, every journey step (:func:`open_widget`,
:func:`click`, :func:`open_sample`, :func:`open_path`, :func:`step`) is timed by :class:`GapMonitor`: the
longest time the GUI thread did not process events between that step and the next boundary is appended
to the file as one JSON line. ``benchmarks/bench_gui_latency.py`` runs the journeys that way and prints
the gaps.

A step's window holds only what the user's action causes. The test's own work (reference computations
on the GUI thread, screenshots, assertions) starts with :func:`check` (``screenshot`` marks itself), which
closes the running step; such windows are recorded with ``kind: "test"`` and reported apart, never
dropped. The fixture's teardown (the viewer closing) is recorded with ``kind: "teardown"`` by the
napari tests' conftest. Any user action after a check starts a new :func:`step`. With
``MEDAI_GUI_PROFILE=DIR`` as well, each user step runs under cProfile and its stats are written to DIR.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import QObject, Qt, QTimer
from qtpy.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QTableWidget,
    QTabWidget,
    QWidget,
)

PLUGIN = "napari-medai"


class GapMonitor(QObject):
    """A 5 ms QTimer on the GUI thread; the longest wait between two ticks is how long the GUI froze.

    Beside the wall-clock gap it records, per step, what tells the cause apart from the machine's load:

    - the GUI thread's own CPU time (``time.thread_time``) in the step and in its longest gap: on a shared
      machine a gap's wall time is inflated, its CPU time is not;
    - every garbage collection (``gc.callbacks``): count and milliseconds per generation, and the longest
      full (generation 2) one. A collection holds the GIL, so one started by a worker thread freezes the
      GUI too; its length grows with all the objects the process holds (torch and MONAI alone are some
      300,000);
    - a sampling of the GUI thread's stack: a helper thread looks every 5 ms and, while the GUI has not
      ticked for 30 ms, notes the innermost function running (and the innermost napari-medai one), so
      each step lists the functions its freezes were spent in.
    """

    #: the GUI counts as frozen (and its stack is sampled) after this long without a tick
    SAMPLE_AFTER_S = 0.03

    def __init__(self, out_path: str, test_name: str) -> None:
        super().__init__()
        self.out_path = out_path
        self.test_name = test_name
        self.step_name = ""
        self.kind = "user"
        self.step_start = 0.0
        self.last = 0.0
        self.max_gap = 0.0
        self.timer = QTimer()
        self.timer.setInterval(5)
        self.timer.timeout.connect(self._tick)
        self._gui_ident = threading.get_ident()
        self._reset_counts()
        self._gc_start = 0.0
        gc.callbacks.append(self._gc)
        self._sampling = threading.Event()
        self._sampler = threading.Thread(target=self._sample_loop, name="gap-monitor-sampler", daemon=True)
        self._sampler.start()

    def _reset_counts(self) -> None:
        self.max_gap = 0.0
        self.max_gap_cpu = 0.0  # the GUI thread's CPU time within the longest gap
        self.max_cpu_gap = 0.0  # the longest gap counted in the GUI thread's CPU time
        self.cpu_start = self.last_cpu = time.thread_time()
        self.gc_n = [0, 0, 0]  # collections per generation in the step, their total ms, and where they ran
        self.gc_ms_gen = [0.0, 0.0, 0.0]
        self.gc_ms = 0.0  # full (generation 2) collections: total and longest, as before
        self.gc_max_ms = 0.0
        self.gc_worker_ms = 0.0  # collections a worker thread triggered (they hold the GIL all the same)
        self.samples = 0
        self.self_counts: Counter[str] = Counter()
        self.ours_counts: Counter[str] = Counter()

    def _gc(self, phase: str, info: dict) -> None:
        gen = info.get("generation", 2)
        if phase == "start":
            self._gc_start = time.perf_counter()
            return
        if not self._gc_start:
            return
        ms = 1000 * (time.perf_counter() - self._gc_start)
        self._gc_start = 0.0
        self.gc_n[gen] += 1
        self.gc_ms_gen[gen] += ms
        if threading.get_ident() != self._gui_ident:
            self.gc_worker_ms += ms
        if gen == 2:
            self.gc_ms += ms
            self.gc_max_ms = max(self.gc_max_ms, ms)

    def _tick(self) -> None:
        now = time.perf_counter()
        cpu = time.thread_time()
        gap = now - self.last
        if gap > self.max_gap:
            self.max_gap = gap
            self.max_gap_cpu = cpu - self.last_cpu
        self.max_cpu_gap = max(self.max_cpu_gap, cpu - self.last_cpu)
        self.last = now
        self.last_cpu = cpu

    def _sample_loop(self) -> None:
        """The helper thread: while a step runs and the GUI has not ticked for a while, note its stack."""
        while not self._sampling.wait(0.005):
            if not self.step_name or time.perf_counter() - self.last < self.SAMPLE_AFTER_S:
                continue
            frame = sys._current_frames().get(self._gui_ident)
            if frame is None:
                continue
            self.samples += 1
            self.self_counts[_where(frame)] += 1
            f = frame
            while f is not None and "napari_medai" not in f.f_code.co_filename:
                f = f.f_back
            if f is not None:
                self.ours_counts[_where(f)] += 1
            del frame, f

    def _profile_start(self) -> None:
        """With ``MEDAI_GUI_PROFILE=DIR``, each user step runs under cProfile (its stats go to DIR)."""
        self.profiler = None
        self.profile_path = ""
        if self.kind == "user" and os.environ.get("MEDAI_GUI_PROFILE"):
            import cProfile

            self.profiler = cProfile.Profile()
            self.profiler.enable()

    def _profile_stop(self) -> None:
        if getattr(self, "profiler", None) is None:
            return
        self.profiler.disable()
        folder = os.environ["MEDAI_GUI_PROFILE"]
        os.makedirs(folder, exist_ok=True)
        safe = "".join(c if c.isalnum() else "_" for c in f"{self.test_name.split('::')[-1]}--{self.step_name}")
        n = len(os.listdir(folder))
        self.profile_path = os.path.join(folder, f"{n:04d}-{safe[:120]}-{1000 * self.max_gap:.0f}ms.prof")
        self.profiler.dump_stats(self.profile_path)
        self.profiler = None

    def begin(self, name: str, kind: str = "user") -> None:
        """Close the running step (after letting pending events run) and start timing ``name``.

        ``kind`` is ``"user"`` for a user's action, ``"test"`` for the test's own work and ``"teardown"``
        for the fixture closing the viewer."""
        if self.step_name:
            QApplication.processEvents()
            self._tick()
            self._profile_stop()
            self._write()
        else:
            self.timer.start()
        self.step_name = ""
        self._reset_counts()
        self.kind = kind
        self._profile_start()
        self.layers_before = _n_layers()
        self.step_start = self.last = time.perf_counter()
        self.cpu_start = self.last_cpu = time.thread_time()
        self.step_name = name

    def end(self) -> None:
        if self.step_name:
            QApplication.processEvents()
            self._tick()
            self._profile_stop()
            self._write()
            self.step_name = ""
        self.timer.stop()
        self._sampling.set()
        self._sampler.join(1.0)
        if self._gc in gc.callbacks:
            gc.callbacks.remove(self._gc)

    def _write(self) -> None:
        row = {"test": self.test_name, "step": self.step_name, "kind": self.kind,
               "max_gap_ms": round(1000 * self.max_gap, 1),
               "max_gap_cpu_ms": round(1000 * self.max_gap_cpu, 1),
               "max_cpu_gap_ms": round(1000 * self.max_cpu_gap, 1),
               "cpu_ms": round(1000 * (time.thread_time() - self.cpu_start), 1),
               "gc_ms": round(self.gc_ms, 1), "gc_max_ms": round(self.gc_max_ms, 1),
               "gc_n": self.gc_n, "gc_ms_gen": [round(x, 1) for x in self.gc_ms_gen],
               "gc_worker_ms": round(self.gc_worker_ms, 1),
               "samples": self.samples,
               "top_self": self.self_counts.most_common(5), "top_ours": self.ours_counts.most_common(3),
               "profile": getattr(self, "profile_path", ""),
               "torch_loaded": "torch" in sys.modules, "gc_frozen": gc.get_freeze_count(),
               "layers_before": self.layers_before, "layers_after": _n_layers(),
               "step_s": round(time.perf_counter() - self.step_start, 3)}
        with open(self.out_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")


def _where(frame: Any) -> str:
    """``package/module.py:function`` of a frame, the path cut after site-packages or src."""
    path = frame.f_code.co_filename.replace(os.sep, "/")
    for cut in ("site-packages/", "/src/", "/tests/"):
        if cut in path:
            path = path.split(cut, 1)[1]
            break
    return f"{path}:{frame.f_code.co_qualname}"


def _n_layers() -> int:
    """Layers in the current viewer (-1 when there is none): a step that draws the first layer of a viewer
    includes napari's first canvas draw."""
    import napari

    viewer = napari.current_viewer()
    return -1 if viewer is None else len(viewer.layers)


_MONITOR: GapMonitor | None = None


def start_monitor(test_name: str) -> None:
    """Called by the napari tests' conftest for every test when ``MEDAI_GUI_GAPS`` is set."""
    global _MONITOR
    out = os.environ.get("MEDAI_GUI_GAPS")
    _MONITOR = GapMonitor(out, test_name) if out else None


def stop_monitor() -> None:
    global _MONITOR
    if _MONITOR is not None:
        _MONITOR.end()
    _MONITOR = None


def step(name: str) -> None:
    """Mark the start of a user's journey step (timed when the GUI gap monitor is on; otherwise nothing)."""
    if _MONITOR is not None:
        _MONITOR.begin(name)


def check(name: str = "checks") -> None:
    """Mark the start of the test's own work (assertions, reference computations on the GUI thread): it
    closes the running user step, and its gaps are reported apart from the user's steps."""
    if _MONITOR is not None:
        _MONITOR.begin(f"check: {name}", kind="test")


def teardown() -> None:
    """The test body is over: what follows is the fixtures' teardown (the viewer closing)."""
    if _MONITOR is not None:
        _MONITOR.begin("teardown: the fixture closes the viewer", kind="teardown")


def screenshot(viewer: Any, **kwargs: Any) -> Any:
    """``viewer.screenshot(...)`` taken by the test to check pixels: timed as the test's work."""
    check("screenshot")
    return viewer.screenshot(**kwargs)


def open_sample(viewer: Any, key: str) -> list:
    """File > Open Sample > napari-medai > ``key``."""
    step(f"open sample {key}")
    return viewer.open_sample(PLUGIN, key)


def open_path(viewer: Any, path: Any, **kwargs: Any) -> list:
    """File > Open with the napari-medai reader."""
    step(f"open {os.path.basename(str(path))}")
    return viewer.open(str(path), plugin=PLUGIN, **kwargs)


def open_widget(viewer: Any, display_name: str) -> Any:
    """Plugins > napari-medai > ``display_name``; returns the widget napari made (not the dock)."""
    step(f"open widget {display_name}")
    _dock, widget = viewer.window.add_plugin_dock_widget(PLUGIN, display_name)
    QApplication.processEvents()
    return widget


def _norm(text: str) -> str:
    return text.replace("&", "").replace("…", "...").strip().lower()


def button(root: QWidget, text: str, *, exact: bool = False) -> QAbstractButton:
    """The visible button (push, check or radio) whose text is ``text`` (or starts with it)."""
    want = _norm(text)
    hits = []
    for b in root.findChildren(QAbstractButton):
        t = _norm(b.text())
        if t == want or (not exact and t.startswith(want)):
            hits.append(b)
    visible = [b for b in hits if b.isVisibleTo(root)] or hits
    if not visible:
        names = sorted({b.text() for b in root.findChildren(QAbstractButton) if b.text()})
        raise AssertionError(f"no button {text!r}; buttons: {names}")
    exactly = [b for b in visible if _norm(b.text()) == want]
    return (exactly or visible)[0]


def click(qtbot: Any, widget: QWidget) -> None:
    """A left mouse click on ``widget`` (it must be enabled: a user cannot click a disabled button)."""
    assert widget.isEnabled(), f"{getattr(widget, 'text', lambda: widget)()!r} is disabled"
    step(f"click {getattr(widget, 'text', lambda: type(widget).__name__)()}")
    qtbot.mouseClick(widget, Qt.LeftButton)
    QApplication.processEvents()


def field(root: QWidget, label: str, *, exact: bool = False) -> QWidget:
    """The control on the form row whose label reads ``label`` (or starts with it, unless ``exact``)."""
    want = _norm(label).rstrip(":")
    for form in root.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            lab_item = form.itemAt(row, QFormLayout.LabelRole)
            fld_item = form.itemAt(row, QFormLayout.FieldRole)
            if lab_item is None or fld_item is None:
                continue
            lab = lab_item.widget()
            text = _norm(lab.text()).rstrip(":") if isinstance(lab, QLabel) else None
            if text is not None and (text == want if exact else text.startswith(want)):
                w = fld_item.widget()
                if w is None and fld_item.layout() is not None and fld_item.layout().count():
                    w = fld_item.layout().itemAt(0).widget()
                if w is not None:
                    return w
    labels = []
    for form in root.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            it = form.itemAt(row, QFormLayout.LabelRole)
            if it is not None and isinstance(it.widget(), QLabel):
                labels.append(it.widget().text())
    raise AssertionError(f"no form row {label!r}; rows: {labels}")


def set_fields(root: QWidget, values: dict[str, Any]) -> None:
    """Fill form rows by their labels, in order: text into a combo box or line edit, a number into a spin box."""
    for label, value in values.items():
        control = field(root, label)
        if isinstance(control, QComboBox):
            control.setCurrentText(value)
        elif isinstance(control, QLineEdit):
            control.setText(value)
        else:
            control.setValue(value)


def quick_training(qtbot: Any, root: QWidget, basic: dict[str, Any], advanced: dict[str, Any]) -> None:
    """The settings a user types for a quick training run: ``basic``'s rows, the CPU with one thread and no
    time limit, then "advanced" clicked and ``advanced``'s rows."""
    set_fields(root, {**basic, "device": "cpu", "CPU threads": 1, "time (min)": 0})
    click(qtbot, button(root, "advanced"))
    set_fields(root, advanced)


def show_tab(root: QWidget, title: str) -> QWidget:
    """Click the tab titled ``title`` (or starting with it); returns the page."""
    want = _norm(title)
    for tabs in root.findChildren(QTabWidget):
        for i in range(tabs.count()):
            if _norm(tabs.tabText(i)).startswith(want):
                tabs.setCurrentIndex(i)
                QApplication.processEvents()
                return tabs.widget(i)
    raise AssertionError(f"no tab {title!r}")


def table_texts(table: QTableWidget) -> list[list[str]]:
    """Every cell's text, row by row, as the user reads it."""
    out = []
    for r in range(table.rowCount()):
        out.append([(table.item(r, c).text() if table.item(r, c) is not None else "")
                    for c in range(table.columnCount())])
    return out


def header_texts(table: QTableWidget) -> list[str]:
    return [table.horizontalHeaderItem(c).text() if table.horizontalHeaderItem(c) else ""
            for c in range(table.columnCount())]


def wait_until(cond: Callable[[], bool], timeout_s: float = 60.0) -> None:
    """Process events until ``cond()`` holds; fail with the time waited."""
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            raise AssertionError(f"waited {timeout_s} s for {cond}")
        QApplication.processEvents()
        time.sleep(0.01)


def layer_names(viewer: Any) -> list[str]:
    return [layer.name for layer in viewer.layers]
