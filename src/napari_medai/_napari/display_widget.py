"""Dock widget "View: windows and orientation": CT window presets, axial / coronal / sagittal views,
and whether superior is turned up. Wiring only: the windows and the anatomy are computed in
:mod:`napari_medai.core.display`, the viewer is kept in step by :mod:`napari_medai._napari.orientation`.
"""

from __future__ import annotations

import weakref
from contextlib import suppress
from typing import Any

from qtpy.QtCore import Qt
from qtpy.QtWidgets import (
    QCheckBox,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

import napari

from ..core.display import PRESET_SHORTCUTS, WINDOW_PRESETS, Window, dims_order_for
from ..core.errors import InvalidInputError, MedaiError
from ._widgets import RED, scroll_vertically, watch, wrapped
from .layers import META_KEY
from .orientation import install_display_conventions

#: Button text -> preset name (the order of the buttons and of the Alt-1 .. Alt-6 shortcuts).
PRESET_BUTTONS: dict[str, str] = {
    "Brain": "brain", "Soft tissue": "soft tissue", "Lung": "lung", "Bone": "bone", "DICOM": "DICOM", "Auto": "auto",
}

_HELP = ("Shortcuts in the viewer: " + ", ".join(f"{k} {n}" for n, k in PRESET_SHORTCUTS.items())
         + ". They apply to the selected image layer.")


def _tip(name: str) -> str:
    key = PRESET_SHORTCUTS[name]
    if name in WINDOW_PRESETS:
        c, w = WINDOW_PRESETS[name]
        return f"{name}: W {w:g} / L {c:g} HU ({key})"
    if name == "DICOM":
        return f"the window stored in the DICOM series (WindowCenter / WindowWidth) ({key})"
    return f"back to the window the image opened with ({key})"


class DisplayWidget(QWidget):
    """Window presets and standard views for the selected image; orientation labels live on the canvas."""

    def __init__(self, viewer: napari.viewer.Viewer, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.viewer = viewer
        self.conventions = install_display_conventions(viewer)
        me = weakref.WeakMethod(self.show_message)
        self.conventions.on_message = lambda text, error: (m := me()) is not None and (m(text, error=error) or True)
        conventions, handler = self.conventions, self.conventions.on_message

        def let_go(*_: Any) -> None:  # a closed dock no longer shows the shortcuts' messages
            if conventions.on_message is handler:
                conventions.on_message = None

        self.destroyed.connect(let_go)

        content = QWidget()
        layout = QVBoxLayout(content)
        self.layer_label = wrapped("")
        layout.addWidget(self.layer_label)

        win_box = QGroupBox("Window (selected image)")
        grid = QGridLayout(win_box)
        self.preset_buttons: dict[str, QPushButton] = {}
        for i, (text, name) in enumerate(PRESET_BUTTONS.items()):
            b = QPushButton(text)
            b.setToolTip(_tip(name))
            b.clicked.connect(lambda _c=False, n=name: self.apply_preset(n))
            grid.addWidget(b, i // 3, i % 3)
            self.preset_buttons[name] = b
        layout.addWidget(win_box)

        view_box = QGroupBox("View")
        vl = QVBoxLayout(view_box)
        row = QHBoxLayout()
        for text, view in (("Axial", "axial"), ("Coronal", "coronal"), ("Sagittal", "sagittal")):
            b = QPushButton(text)
            b.setToolTip(f"show {view} slices (napari's dims order)")
            b.clicked.connect(lambda _c=False, v=view: self.show_view(v))
            row.addWidget(b)
        vl.addLayout(row)
        self.superior_up = QCheckBox("Superior up in coronal and sagittal views")
        self.superior_up.setChecked(self.conventions.superior_up)
        self.superior_up.setToolTip("turn the screen so the head is at the top; axial keeps anterior up, "
                                    "patient's right on screen left")
        self.superior_up.toggled.connect(self._superior_up_toggled)
        vl.addWidget(self.superior_up, alignment=Qt.AlignLeft)  # clickable where its text is
        layout.addWidget(view_box)

        help_label = wrapped(_HELP)
        help_label.setStyleSheet("color: #999;")
        layout.addWidget(help_label)
        self.status = wrapped("")
        layout.addWidget(self.status)
        layout.addStretch(1)
        scroll_vertically(self, content)

        self._followed: Any = None  # weak reference to the image whose contrast limits the label shows
        watch(self, viewer.layers.selection.events.active, self._describe)
        watch(self, viewer.dims.events.order, self._describe)
        describe = self._describe

        def stop_following(*_: Any) -> None:  # a closed dock reads no more contrast limits
            layer = self._followed() if self._followed is not None else None
            if layer is not None:
                with suppress(RuntimeError, TypeError, ValueError):
                    layer.events.contrast_limits.disconnect(describe)

        self.destroyed.connect(stop_following)
        self._describe()

    # ------------------------------------------------------------------ actions
    def apply_preset(self, name: str) -> None:
        """Set the selected image's window to preset ``name`` (shown in the status line)."""
        try:
            layer, win = self.conventions.apply_preset(name)
        except MedaiError as exc:
            self.show_message(str(exc), error=True)
            return
        self.show_message(f"{layer.name}: {win.describe()}")
        self._describe()

    def show_view(self, view: str) -> None:
        """Show axial, coronal or sagittal slices."""
        try:
            if self.conventions.spatial_axes() is None and self.viewer.dims.ndisplay == 2:
                raise InvalidInputError("open a 3-D medical image first (File > Open, or File > Open Sample)")
            self.viewer.dims.order = dims_order_for(view, self.viewer.dims.ndim)
        except MedaiError as exc:
            self.show_message(str(exc), error=True)
            return
        self.show_message("")

    def show_message(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(RED if error else "")

    # ------------------------------------------------------------------ display
    def _superior_up_toggled(self, on: bool) -> None:
        self.conventions.superior_up = bool(on)
        if on:
            self.conventions.orient()

    def _describe(self, event: Any = None) -> None:
        from napari.layers import Image

        layer = self.viewer.layers.selection.active
        self._follow(layer if isinstance(layer, Image) else None)
        view = self.conventions.view()
        where = f" · {view} view" if view else ""
        if not isinstance(layer, Image):
            self.layer_label.setText(f"Select an image layer to window it{where}.")
            return
        lo, hi = (float(v) for v in layer.contrast_limits)
        stored = ((layer.metadata or {}).get(META_KEY) or {}).get("window") or {}
        has_dicom = Window.from_dict(stored.get("dicom")) is not None
        self.preset_buttons["DICOM"].setEnabled(has_dicom)
        self.preset_buttons["DICOM"].setToolTip(_tip("DICOM") if has_dicom else "this image has no DICOM window")
        self.layer_label.setText(f"{layer.name}: W {hi - lo:.4g} / L {(lo + hi) / 2:.4g}{where}")

    def _follow(self, layer: Any) -> None:
        """Keep the W / L line in step with ``layer``'s contrast limits (slider, shortcut, preset)."""
        old = self._followed() if self._followed is not None else None
        if old is layer:
            return
        if old is not None:
            with suppress(RuntimeError, TypeError, ValueError):
                old.events.contrast_limits.disconnect(self._describe)
        self._followed = weakref.ref(layer) if layer is not None else None
        if layer is not None:
            layer.events.contrast_limits.connect(self._describe)
