"""Click-to-assign for the calcium widget: a left click (no drag) on a candidate in the 2-D view gives its
whole 3-D group the chosen artery.

The voxels come from the core :class:`~napari_medai.core.tasks.cac.CandidateIndex` (bounding boxes, no
scan of the volume) and are written with the layer's ``data_setitem``, so napari's undo reverts the
change and its ``paint`` event tells :class:`~.live.LiveScoring` which slices to re-score.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ...core.errors import InvalidInputError, MedaiError
from ...core.tasks import cac
from .._widgets import error_text

if TYPE_CHECKING:
    from .scoring import CACWidget

#: Pixels the mouse may move between press and release for a click (more is a pan).
CLICK_SLOP_PX = 4.0


class AssignmentClicks:
    """The click-to-assign behaviour of one :class:`~.scoring.CACWidget`."""

    def __init__(self, widget: CACWidget) -> None:
        self.widget = widget

    def mode_toggled(self, on: bool) -> None:
        if not on:
            return
        viewer = self.widget.viewer
        active = viewer.layers.selection.active
        if active is not None and getattr(active, "mode", "pan_zoom") not in ("pan_zoom", "transform"):
            active.mode = "pan_zoom"
        self.widget.jobs.set_status(f"Click a candidate to make it {cac.NAMES[self.widget.artery_code()]} "
                                    "(drag still pans).")

    def assign_at_index(self, index: Any, artery: str | int | None = None) -> bool:
        """Give the candidate at (slice, row, column) (and its 3-D group) an artery; False (shown) if refused."""
        w = self.widget
        try:
            code = w.artery_code() if artery is None else cac.artery_code(artery)
            if w.candidates is None or w.index is None:
                raise InvalidInputError("no candidates yet: press Find candidates (or Auto-assign) first")
            layer = w.ensure_assignment()
            region, edit = w.index.region(tuple(float(v) for v in index))
        except (MedaiError, ValueError) as exc:
            w.jobs.refuse(exc)
            return False
        data = layer.data
        changed = data[region] != code
        name = cac.NAMES[code]
        if not changed.any():
            w.jobs.set_status(f"Candidate group {edit['group']} is already {name}.")
            return True
        layer.data_setitem(tuple(ax[changed] for ax in region), code)  # its paint event asks for a re-score
        w.live.flush()  # of those slices, at once
        w.jobs.set_status(f"Candidate group {edit['group']} ({len(edit['candidates'])} slice region(s), "
                          f"{edit['voxels']} voxels) → {name}; re-scoring…")
        return True

    def assign_at_world(self, position: Any, artery: str | int | None = None) -> bool:
        """Like :meth:`assign_at_index` for a world position (a click), converted on the CT's grid."""
        w = self.widget
        layer = w.assignment_layer or w.ct_layer()
        if layer is None:
            return w.jobs.refuse(InvalidInputError("open a CT image first"))
        data_pos = np.asarray(layer.world_to_data(np.asarray(position, dtype=float)), dtype=float)
        return self.assign_at_index(data_pos[-3:], artery)

    def on_mouse_drag(self, viewer: Any, event: Any) -> Any:
        """Viewer drag callback: a left click (no drag) in 2-D assigns the candidate under it."""
        w = self.widget
        try:
            active_click = w.click_check.isChecked()
        except RuntimeError:  # the widget was deleted: stop listening
            if self.on_mouse_drag in viewer.mouse_drag_callbacks:
                viewer.mouse_drag_callbacks.remove(self.on_mouse_drag)
            return
        if not active_click or getattr(event, "button", 1) != 1:
            return
        active = viewer.layers.selection.active
        if active is not None and getattr(active, "mode", "pan_zoom") != "pan_zoom":
            return  # the brush, fill or eraser of the active layer owns the click
        if viewer.dims.ndisplay != 2:
            w.jobs.refuse(InvalidInputError("click-to-assign works in the 2-D view; switch off 3-D"))
            return
        position = tuple(event.position)
        press = np.asarray(getattr(event, "pos", (0.0, 0.0)), dtype=float)
        yield
        moved = False
        while event.type == "mouse_move":
            pos = getattr(event, "pos", None)
            if pos is not None and np.hypot(*(np.asarray(pos, float) - press)) > CLICK_SLOP_PX:
                moved = True
            yield
        if not moved:
            try:
                self.assign_at_world(position)
            except Exception as exc:  # noqa: BLE001 - a click must never raise into napari
                w.jobs.set_status(error_text(exc), error=True)
