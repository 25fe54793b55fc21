"""What the agreement panel hooks into the viewer (shortcut keys, layer-list and layer-edit events), and
how it gives them back when napari takes the panel out of its dock or deletes it."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable
from typing import Any

#: Layer events that mean "the data may have changed".
EDIT_EVENTS = ("paint", "data", "set_data")


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
        """Call ``handler(event)`` on every edit event of ``layers`` (and of no other layer)."""
        self._disconnect(self._edits)
        for layer in layers:
            for name in EDIT_EVENTS:
                emitter = getattr(layer.events, name, None)
                if emitter is not None:
                    emitter.connect(handler)
                    self._edits.append((emitter, handler))

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
