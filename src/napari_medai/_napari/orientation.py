"""Radiological display conventions on a napari viewer: R/L A/P S/I at the canvas edges, superior up in
coronal and sagittal views, and the window-preset keyboard shortcuts.

:func:`install_display_conventions` is called by the reader and the sample data when they open a medical
image (on ``napari.current_viewer()``) and by the "View: windows and orientation" widget; calling it again
returns the same :class:`DisplayConventions`. Everything goes through napari's public API: four
``TextOverlay`` entries in ``viewer.canvas.overlays`` (one per canvas edge), the 2-D camera orientation
``viewer.scene.camera.orientation2d`` and ``viewer.bind_key``. The anatomy itself is computed in
:mod:`napari_medai.core.display`.

Keyboard shortcuts (in the viewer): Alt-1 brain W80/L40, Alt-2 soft tissue W400/L40, Alt-3 lung
W1500/L-600, Alt-4 bone W1800/L400, Alt-5 the DICOM file's own window, Alt-6 auto (the window the image
opened with). They apply to the selected image layer.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

from ..core.display import (
    PRESET_SHORTCUTS,
    Window,
    preferred_vertical,
    preset_window,
    screen_edges,
    view_name,
)
from ..core.errors import InvalidInputError, MedaiError
from .layers import META_KEY
from .long_lived import freeze_long_lived_objects
from .warm_imports import warm_up_layer_imports

#: canvas edge -> (key in ``viewer.canvas.overlays``, napari canvas position)
EDGE_OVERLAYS: dict[str, tuple[str, str]] = {
    "top": ("orientation_top", "top_center"),
    "bottom": ("orientation_bottom", "bottom_center"),
    "left": ("orientation_left", "middle_left"),
    "right": ("orientation_right", "middle_right"),
}

_CONTROLLERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _unwrap(obj: Any) -> Any:
    """The napari object behind a plugin widget's public-only proxy (so every caller shares one controller)."""
    return getattr(obj, "__wrapped__", obj)


def is_medical_3d(layer: Any) -> bool:
    """A layer opened by napari-medai (reader, sample, task widget) with three spatial axes in LPS world
    (not an array file or a DICOM series without position tags, whose orientation nobody knows)."""
    md = (getattr(layer, "metadata", None) or {}).get(META_KEY)
    return bool(md) and len(md.get("spacing") or ()) == 3 and bool(md.get("orientation_known", True))


def selected_image(viewer: Any) -> Any:
    """The selected Image layer (the active one first); raises :class:`InvalidInputError` when there is none."""
    from napari.layers import Image

    active = viewer.layers.selection.active
    if isinstance(active, Image):
        return active
    for layer in viewer.layers.selection:
        if isinstance(layer, Image):
            return layer
    raise InvalidInputError("select an image layer in the layer list first (window presets apply to images)")


def apply_window_preset(layer: Any, name: str) -> Window:
    """Set ``layer``'s contrast limits to preset ``name`` (see :func:`napari_medai.core.display.preset_window`)."""
    import numpy as np

    stored = ((layer.metadata or {}).get(META_KEY) or {}).get("window")
    win = preset_window(name, stored=stored, data=np.asarray(layer.data) if stored is None else None)
    lo, hi = win.limits
    rlo, rhi = layer.contrast_limits_range
    if lo < rlo or hi > rhi:
        layer.contrast_limits_range = (min(lo, rlo), max(hi, rhi))
    layer.contrast_limits = (lo, hi)
    return win


class DisplayConventions:
    """Keeps one viewer's orientation labels and camera orientation in step with its displayed axes."""

    def __init__(self, viewer: Any) -> None:
        self._viewer = weakref.ref(viewer)
        #: Turn the screen so that superior is up in coronal and sagittal views (axial: anterior up).
        self.superior_up = True
        #: ``on_message(text, error) -> bool``: shows what a keyboard shortcut did (the "View" dock does; it
        #: returns False once the dock is closed, and a napari notification shows it instead).
        self.on_message: Callable[[str, bool], bool] | None = None
        from napari.components.overlays import TextOverlay

        for key, position in EDGE_OVERLAYS.values():
            if key not in viewer.canvas.overlays:
                viewer.canvas.overlays[key] = TextOverlay(position=position, font_size=14, color="#ffd24a")
        viewer.layers.events.inserted.connect(self.refresh)
        viewer.layers.events.removed.connect(self.refresh)
        viewer.dims.events.order.connect(self.orient)
        viewer.dims.events.ndisplay.connect(self.orient)
        viewer.scene.camera.events.orientation.connect(self.refresh)
        for name, key in PRESET_SHORTCUTS.items():
            viewer.bind_key(key, _preset_shortcut(self, name), overwrite=True)
        self.orient()

    # ------------------------------------------------------------------ state
    @property
    def viewer(self) -> Any:
        return self._viewer()

    def spatial_axes(self) -> tuple[int, int] | None:
        """The displayed axes in the spatial (S, P, L) frame, or None (no 3-D medical layer, 3-D view, time shown)."""
        viewer = self.viewer
        if viewer is None or viewer.dims.ndisplay != 2 or not any(is_medical_3d(ly) for ly in viewer.layers):
            return None
        offset = viewer.dims.ndim - 3
        rows, cols = (int(a) - offset for a in viewer.dims.displayed)
        if rows < 0 or cols < 0:
            return None
        return rows, cols

    def edges(self) -> dict[str, str]:
        """The letters shown at each edge (empty when no labels are shown)."""
        axes = self.spatial_axes()
        if axes is None:
            return {}
        vertical, horizontal = (str(o) for o in self.viewer.scene.camera.orientation2d)
        return screen_edges(axes, vertical, horizontal)  # type: ignore[arg-type]

    def view(self) -> str:
        axes = self.spatial_axes()
        return view_name(axes) if axes is not None else ""

    # ------------------------------------------------------------------ updates
    def orient(self, event: Any = None) -> None:
        """Turn the 2-D camera so superior is up (coronal, sagittal) or anterior is up (axial), then relabel."""
        viewer = self.viewer
        axes = self.spatial_axes()
        if viewer is not None and axes is not None and self.superior_up:
            camera = viewer.scene.camera
            want = (preferred_vertical(axes), "right")
            if tuple(str(o) for o in camera.orientation2d) != want:
                camera.orientation2d = want  # emits orientation -> refresh
                return
        self.refresh()

    def refresh(self, event: Any = None) -> None:
        viewer = self.viewer
        if viewer is None:
            return
        if event is not None and getattr(event, "type", "") == "inserted":
            # a medical layer arriving in a viewer shown coronally turns the camera too
            axes = self.spatial_axes()
            if axes is not None and self.superior_up:
                want = (preferred_vertical(axes), "right")
                if tuple(str(o) for o in viewer.scene.camera.orientation2d) != want:
                    viewer.scene.camera.orientation2d = want
                    return
        edges = self.edges()
        for edge, (key, _) in EDGE_OVERLAYS.items():
            overlay = viewer.canvas.overlays[key]
            overlay.text = edges.get(edge, "")
            overlay.visible = bool(edges)

    def apply_preset(self, name: str) -> tuple[Any, Window]:
        """Apply window preset ``name`` to the selected image layer; returns ``(layer, window)``."""
        layer = selected_image(self.viewer)
        return layer, apply_window_preset(layer, name)


def _preset_shortcut(conventions: DisplayConventions, name: str) -> Callable[[Any], None]:
    def shortcut(viewer: Any) -> None:
        try:
            layer, win = conventions.apply_preset(name)
        except MedaiError as exc:
            _tell(conventions, str(exc), error=True)
            return
        _tell(conventions, f"{layer.name}: {win.describe()}", error=False)

    shortcut.__name__ = shortcut.__qualname__ = f"medai_window_{name.lower().replace(' ', '_')}"
    shortcut.__doc__ = f"Window preset: {name}"
    return shortcut


def _tell(conventions: DisplayConventions, text: str, *, error: bool) -> None:
    if conventions.on_message is not None and conventions.on_message(text, error):
        return  # shown by the open "View" dock
    from napari.utils.notifications import show_info, show_warning

    (show_warning if error else show_info)(text)


def install_display_conventions(viewer: Any) -> DisplayConventions | None:
    """The viewer's :class:`DisplayConventions`, made on first call; None when ``viewer`` is None."""
    if viewer is None:
        return None
    freeze_long_lived_objects()  # the first of napari-medai's hooks (reader, sample, dock) that napari calls
    warm_up_layer_imports()  # pandas, before the first Labels / Points / Shapes layer needs it on the GUI thread
    real = _unwrap(viewer)
    found = _CONTROLLERS.get(real)
    if found is None:
        found = DisplayConventions(real)
        _CONTROLLERS[real] = found
    return found


def install_on_current_viewer() -> None:
    """From a reader or sample hook: install on the viewer the data is opened into (if there is one)."""
    try:
        from napari import current_viewer
    except ImportError:  # pragma: no cover - napari calls these hooks
        return
    install_display_conventions(current_viewer())
