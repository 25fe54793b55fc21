"""What the agreement panel hooks into the viewer (shortcut keys, layer-list and layer-edit events), and
how it gives them back when napari takes the panel out of its dock or deletes it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any

import numpy as np
from qtpy.QtCore import QTimer

#: Layer events that mean "the data may have changed".
EDIT_EVENTS = ("paint", "data", "set_data")


def paint_box(event: Any) -> tuple[tuple[int, int], ...] | None:
    """The box ``((start, stop), ...)`` of array indices that a Labels ``paint`` event wrote; None when
    the event does not say (another event, or atoms of a form not known here): then compare everything.

    napari emits ``paint`` with ``value``: the history item, a list of atoms, each a
    ``_MaskedPaintAtom`` (its ``slice_key`` is the edit's bounding box) or an
    ``(indices, old_values, new_values)`` tuple (fancy indices, from ``data_setitem``).
    """
    if getattr(event, "type", None) != "paint":
        return None
    atoms = getattr(event, "value", None)
    if not isinstance(atoms, (list, tuple)) or not atoms:
        return None
    box: list[tuple[int, int]] | None = None
    for atom in atoms:
        key = getattr(atom, "slice_key", None)
        if key is not None:
            if not all(isinstance(s, slice) and s.step in (None, 1) and s.start is not None
                       and s.stop is not None for s in key):
                return None
            part = [(int(s.start), int(s.stop)) for s in key]
        elif isinstance(atom, tuple) and len(atom) == 3 and isinstance(atom[0], tuple):
            idx = [np.asarray(i).ravel() for i in atom[0]]
            if not idx or any(i.dtype.kind not in "iu" for i in idx):
                return None
            if idx[0].size == 0:
                continue
            part = [(int(i.min()), int(i.max()) + 1) for i in idx]
        else:
            return None
        if box is not None and len(part) != len(box):
            return None
        box = part if box is None else [(min(a, c), max(b, d)) for (a, b), (c, d) in zip(box, part)]
    return None if box is None else tuple(box)


class ViewerHooks:
    """Keys bound on ``viewer`` and events connected for ``target`` (the panel), all released at once.

    Parameters
    ----------
    viewer
        The napari viewer (or napari's public proxy of it).
    target
        The object whose methods the keys call.
    shortcuts
        ``{key: method name}``, e.g. ``{"N": "next_lesion"}``.
    on_layers
        Method of ``target`` called when layers are inserted, removed or moved.
    """

    def __init__(self, viewer: Any, target: Any, shortcuts: dict[str, str], on_layers: str) -> None:
        self.viewer = viewer
        self._target: list[Any] = []  # empty once released: nothing calls into a closed panel
        self._keys = dict(shortcuts)
        self._on_layers = on_layers
        self._connections: list[tuple[Any, Any]] = []
        self._edits: list[tuple[Any, Any]] = []
        self._painted: set[int] = set()  # layers whose paint event was noted with its box
        self._target_object = target

    @property
    def hooked(self) -> bool:
        return bool(self._target)

    def hook(self) -> None:
        """Bind the keys (replacing other bindings of them) and listen to the layer list."""
        if self.hooked:
            return
        self._target.append(self._target_object)
        for key, method in self._keys.items():
            self.viewer.bind_key(key, self._key_function(method), overwrite=True)
        events = self.viewer.layers.events
        for emitter in (events.inserted, events.removed, events.moved):
            handler = self._call(self._on_layers)
            emitter.connect(handler)
            self._connections.append((emitter, handler))

    def follow_edits(self, layers: Iterable[Any], handler: Callable[[Any], None]) -> None:
        """Call ``handler(event)`` on every edit event of ``layers`` (and of no other layer).

        Also follows each layer's ``labels_update`` (napari's redraw of a painted part), so that
        :meth:`redraw_of_paint` can tell the ``set_data`` that this redraw emits from an edit.
        """
        self._disconnect(self._edits)
        self._painted.clear()
        for layer in layers:
            for name in EDIT_EVENTS:
                emitter = getattr(layer.events, name, None)
                if emitter is not None:
                    emitter.connect(handler)
                    self._edits.append((emitter, handler))
            emitter = getattr(layer.events, "labels_update", None)
            if emitter is not None:
                # runs after napari's own redraw (napari's callbacks come first): the paint is redrawn
                done = self._redrawn_call(id(layer))
                emitter.connect(done)
                self._edits.append((emitter, done))

    def note_paint(self, layer: Any) -> None:
        """``layer`` sent a ``paint`` event whose box was noted: the redraw that follows is no edit."""
        self._painted.add(id(layer))
        # the redraw follows within the same call; forget the paint on the next turn of the event loop
        QTimer.singleShot(0, partial(self._painted.discard, id(layer)))

    def redraw_of_paint(self, event: Any) -> bool:
        """True for the ``set_data`` that napari's redraw of a just-noted paint emits (from within the
        layer's ``labels_update``): its change lies inside the box the ``paint`` event gave."""
        source = getattr(event, "source", None)
        if getattr(event, "type", None) != "set_data" or id(source) not in self._painted:
            return False
        update = getattr(getattr(source, "events", None), "labels_update", None)
        # napari's emitter flags itself while it calls back; without the flag: an edit (safe)
        return bool(getattr(update, "_emitting", False))

    def _redrawn_call(self, key: int) -> Callable[[Any], None]:
        # a plain function: napari turns a partial of a method into a weak (object, name) pair
        painted = self._painted

        def redrawn(_event: Any = None) -> None:
            painted.discard(key)  # a later redraw (e.g. of a drag, which sends no paint) is an edit

        return redrawn

    def release(self, *_: Any) -> None:
        """Unbind the keys and disconnect every event (idempotent; safe when the viewer has gone)."""
        if not self.hooked:
            return
        self._target.clear()
        for key in self._keys:
            with contextlib.suppress(KeyError, RuntimeError):
                self.viewer.bind_key(key, None)
        self._disconnect(self._connections)
        self._disconnect(self._edits)

    @staticmethod
    def _disconnect(pairs: list[tuple[Any, Any]]) -> None:
        for emitter, handler in pairs:
            emitter.disconnect(handler)
        pairs.clear()

    def _call(self, method: str) -> Callable[..., None]:
        target = self._target

        def call(*_: Any) -> None:
            if target:
                getattr(target[0], method)()

        return call

    def _key_function(self, method: str) -> Callable[[Any], None]:
        # a plain named function: napari reads __name__ of every binding (a functools.partial makes every
        # key press in the viewer raise)
        call = self._call(method)

        def press(viewer: Any) -> None:
            call(viewer)

        press.__name__ = press.__qualname__ = f"medai_agreement_{method}"
        return press
