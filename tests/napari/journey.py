"""Helpers for journey tests: reach widgets and controls the way a user does.

A journey opens a widget from the Plugins menu (:func:`open_widget`: napari's own
``add_plugin_dock_widget``, so the widget gets napari's public viewer proxy exactly as a user's does),
gets data from ``viewer.open`` / ``viewer.open_sample``, and finds controls by what a user reads on the
screen: a button's text (:func:`button`), a form row's label (:func:`field`), a tab's title
(:func:`show_tab`). It clicks with the mouse (:func:`click`) and reads the numbers that are shown
(:func:`table_texts`, ``label.text()``). No private method of a widget is called.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QAbstractButton,
    QApplication,
    QFormLayout,
    QLabel,
    QTableWidget,
    QTabWidget,
    QWidget,
)

PLUGIN = "napari-medai"


def open_widget(viewer: Any, display_name: str) -> Any:
    """Plugins > napari-medai > ``display_name``; returns the widget napari made (not the dock)."""
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
    qtbot.mouseClick(widget, Qt.LeftButton)
    QApplication.processEvents()


def field(root: QWidget, label: str) -> QWidget:
    """The control on the form row whose label reads ``label`` (or starts with it)."""
    want = _norm(label).rstrip(":")
    for form in root.findChildren(QFormLayout):
        for row in range(form.rowCount()):
            lab_item = form.itemAt(row, QFormLayout.LabelRole)
            fld_item = form.itemAt(row, QFormLayout.FieldRole)
            if lab_item is None or fld_item is None:
                continue
            lab = lab_item.widget()
            if isinstance(lab, QLabel) and _norm(lab.text()).rstrip(":").startswith(want):
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
