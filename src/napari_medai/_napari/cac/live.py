"""Keeps the calcium scores up to date while a reader edits the ``artery assignment`` layer.

Every edit of the layer (a click-to-assign goes through ``data_setitem``, a brush or eraser stroke,
a fill) ends in napari's ``paint`` event, which names the voxels changed; their slices are re-scored
by the core :class:`~napari_medai.core.tasks.cac.ScoringSession` in the widget's
:class:`~napari_medai.napari_medai._napari._jobs.JobRunner` (off the GUI thread): only those slices
are copied and re-scored, a few milliseconds on a real CT. Undo / redo show up only as a redraw, so
after one the worker compares the layer with the session's copy and re-scores what differs. A new
layer, new data or new options start a new session.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from qtpy.QtCore import QObject, QTimer, Signal

from ...core.tasks import cac
from .._jobs import JobRunner


def painted_slices(atoms: Any) -> set[int] | None:
    """The slices (axis 0) a ``paint`` event's history item changed; None when they cannot be told."""
    out: set[int] = set()
    try:
        for atom in atoms:
            key = getattr(atom, "slice_key", None)
            if key is not None:  # a masked paint atom: a bounding box
                k = key[0]
                if isinstance(k, slice):
                    out.update(range(k.start or 0, k.stop))
                else:
                    out.add(int(k))
                continue
            indices = atom[0]
            out.update(np.unique(np.asarray(indices[0])).tolist())
    except (TypeError, IndexError, ValueError):
        return None
    return out


class LiveScoring(QObject):
    """Runs the scoring of one assignment layer through ``runner`` and re-scores the slices edited."""

    #: A new :class:`~napari_medai.core.tasks.cac.CACResult` (GUI thread).
    scored = Signal(object)
    #: The scoring failed (the runner has shown why); the previous result no longer holds.
    failed = Signal()

    def __init__(self, runner: JobRunner, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.runner = runner
        self.layer: Any = None
        self.session: cac.ScoringSession | None = None
        self.ct: Any = None
        self.options: dict[str, Any] = {}
        #: Results shown so far (tests and benchmarks wait on it).
        self.n_updates = 0
        self._pending: set[int] | None = set()  # None: compare the whole layer
        self._rebuild = False
        self._kick_timer = QTimer(self)
        self._kick_timer.setSingleShot(True)
        self._kick_timer.setInterval(0)
        self._kick_timer.timeout.connect(self._kick)
        self._verify_timer = QTimer(self)  # after a redraw that may be an undo / redo
        self._verify_timer.setSingleShot(True)
        self._verify_timer.setInterval(300)
        self._verify_timer.timeout.connect(lambda: self.edited(None))

    # ------------------------------------------------------------------ what is scored
    def attach(self, layer: Any, ct: Any, options: dict[str, Any]) -> None:
        """Score ``layer`` (the assignment) against the CT Volume ``ct`` with ``options``; a new session."""
        if self.layer is not None and layer != self.layer:  # == : layers may come proxied
            self.detach()
        if self.layer is None:
            layer.events.paint.connect(self._on_paint)
            layer.events.data.connect(self._on_data)
            layer.events.set_data.connect(self._on_redraw)
        self.layer, self.ct, self.options = layer, ct, dict(options)
        self.restart()

    def detach(self) -> None:
        layer, self.layer = self.layer, None
        self.session = None
        self._pending = set()
        self._rebuild = False
        self._verify_timer.stop()
        if layer is None:
            return
        layer.events.paint.disconnect(self._on_paint)
        layer.events.data.disconnect(self._on_data)
        layer.events.set_data.disconnect(self._on_redraw)

    def set_options(self, ct: Any, options: dict[str, Any]) -> None:
        """New CT Volume or scoring options: score everything again."""
        self.ct, self.options = ct, dict(options)
        self.restart()

    def restart(self) -> None:
        self._rebuild = True
        self._kick_timer.start()

    def edited(self, slices: set[int] | None) -> None:
        """Re-score ``slices`` (None: whatever differs from the last scoring)."""
        if self.layer is None:
            return
        if slices is None or self._pending is None:
            self._pending = None
        else:
            self._pending |= set(slices)
        # not at once: napari emits ``paint`` before it writes the new values into the layer
        self._kick_timer.start()

    def flush(self) -> None:
        """Start the waiting re-score now (after an edit whose data is written, e.g. a click), not after the
        next trip round the event loop, which may first repaint the canvas."""
        if self._kick_timer.isActive():
            self._kick_timer.stop()
            self._kick()

    @property
    def busy(self) -> bool:
        """An edit or a redraw waits to be scored."""
        return (self._kick_timer.isActive() or self._verify_timer.isActive() or self._rebuild
                or self._pending is None or bool(self._pending))

    # ------------------------------------------------------------------ layer events
    def _on_paint(self, event: Any) -> None:
        self.edited(painted_slices(getattr(event, "value", None)))

    def _on_data(self, *_: Any) -> None:
        self.restart()

    def _on_redraw(self, *_: Any) -> None:
        if self.session is not None:
            self._verify_timer.start()

    # ------------------------------------------------------------------ the job
    def _kick(self) -> None:
        layer = self.layer
        if layer is None or self.ct is None:
            self._pending, self._rebuild = set(), False
            return
        if self.runner.busy:
            self._kick_timer.start(20)
            return
        if self._rebuild or self.session is None:
            codes = np.array(layer.data, copy=True)
            ct, opts = self.ct, dict(self.options)
            self._rebuild, self._pending = False, set()
            self.runner.start(lambda: _new_session(ct, codes, opts), self._session_done, "scoring…",
                              on_error=self._failed)
            return
        session = self.session
        if self._pending is None:
            data = layer.data  # the worker compares it with the session's copy

            def work() -> Any:
                changed = session.changed_slices(np.asarray(data))
                return session.update_slices({int(k): np.array(data[k]) for k in changed}) if changed.size else None
        else:
            copies = {k: np.array(layer.data[k]) for k in sorted(self._pending)}

            def work() -> Any:
                return session.update_slices(copies)
        self._pending = set()
        self.runner.start(work, self._updated, "re-scoring the slices edited…", on_error=self._failed, quiet=True)

    def _session_done(self, session: cac.ScoringSession) -> None:
        self.session = session
        self._show(session.result)

    def _updated(self, result: cac.CACResult | None) -> None:
        if result is not None:
            self._show(result)

    def _show(self, result: cac.CACResult) -> None:
        self.n_updates += 1
        self.scored.emit(result)

    def _failed(self, _exc: BaseException) -> None:
        self.session = None  # the next edit starts a new session
        self.failed.emit()


def _new_session(ct: Any, codes: np.ndarray, options: dict[str, Any]) -> cac.ScoringSession:
    return cac.ScoringSession(ct, codes, warn=False, **options)
