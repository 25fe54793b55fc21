"""The one job runner of every dock widget: long work off the GUI thread, with a progress bar, Cancel, a
status line, a time estimate, errors shown once (in the widget and as a napari notification) and a
``wait_idle`` hook for tests.

A widget hands :meth:`JobRunner.start` a function that calls the core with the runner's callbacks
(``progress=jobs.progress_callback``, ``should_stop=jobs.cancelled``, ``on_metrics=jobs.metrics_callback``;
safe to call from the worker thread: queued signals and plain flags) and a ``done(value)`` that shows the
result on the GUI thread. Layers are added only in ``done``, so a failed or cancelled job adds nothing.
A ``done`` that has several slow things to do on the GUI thread (napari adding two layers, then a dock)
is a generator: each ``yield`` lets the event loop run (the viewer repaints and reacts) before the next
part, and the runner stays busy until the last part has run.
A core error, or :class:`~napari_medai.core.models.errors.Cancelled`, ends up in the status line (and a
notification), never raised into napari.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from qtpy.QtCore import QObject, QTimer, Signal
from qtpy.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ..core.errors import InvalidInputError
from ._widgets import RED, error_text, process_events_until, wrapped
from .long_lived import freeze_long_lived_objects


class _Bridge(QObject):
    """Carries progress and training metrics from the worker thread to the GUI thread."""

    progressed = Signal(float, str)
    metrics = Signal(object)


class _Flags:
    """What the GUI asks of the running job; read by the worker thread (plain attributes, no Qt)."""

    def __init__(self) -> None:
        self.cancel = False
        self.stop = False
        self.gone = False  # the runner's widgets were deleted (dock closed): a late result is dropped


@contextmanager
def torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch CPU threads and restore the previous number after; 0: leave it as is.

    Call it in the worker thread that does the torch work.
    """
    if n <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _eta_text(elapsed_s: float, fraction: float) -> str:
    """'about 2 min left' from the time so far and the fraction done ('' until there is something to go on)."""
    if fraction <= 0.02 or fraction >= 1.0 or elapsed_s < 2.0:
        return ""
    left = elapsed_s * (1.0 - fraction) / fraction
    if left < 60:
        return f"about {max(1, round(left))} s left"
    if left < 3600:
        return f"about {round(left / 60)} min left"
    return f"about {left / 3600:.1f} h left"


class JobRunner(QWidget):
    """Progress bar, Cancel button, status line and time estimate of a dock widget, and its one running job.

    Parameters
    ----------
    hint
        The status line's text before the first job.
    notify
        Also show errors as a napari notification (the status line always shows them).
    """

    def __init__(self, hint: str = "", parent: QWidget | None = None, *, notify: bool = True) -> None:
        super().__init__(parent)
        #: The value of the last job that finished (a result object, metric rows, ...).
        self.last_result: Any = None
        #: The message of the last job that failed or was cancelled ('' after a success).
        self.last_error: str = ""
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setFormat("%p%")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running job; a cancelled job adds nothing.")
        self.status = wrapped(hint)
        self._notify = notify
        self._flags = _Flags()
        self._worker: Any = None
        self._parts: Iterator[Any] | None = None  # the rest of a generator ``done``, one part per event-loop turn
        self._started = 0.0
        self._quiet = False
        self._message = ""
        self._run_buttons: list[QPushButton] = []
        self._stop_button: QPushButton | None = None
        self._on_metrics: Callable[[dict[str, Any]], None] | None = None
        self._on_error: Callable[[BaseException], None] | None = None
        self._bridge = _Bridge()
        self._bridge.progressed.connect(self._on_progress)
        self._bridge.metrics.connect(self._metrics)
        row = QHBoxLayout()
        row.addWidget(self.progress, stretch=1)
        row.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(row)
        layout.addWidget(self.status)
        self.cancel_button.clicked.connect(self.cancel)
        flags = self._flags
        self.destroyed.connect(lambda *_: setattr(flags, "cancel", True))  # a closed dock stops its job
        self.destroyed.connect(lambda *_: setattr(flags, "gone", True))
        freeze_long_lived_objects()  # the first dock: napari's objects

    # ------------------------------------------------------------------ callbacks for the core
    @property
    def progress_callback(self) -> Callable[[float, str], None]:
        """``progress(fraction, message)`` for the core (any thread)."""
        return self._bridge.progressed.emit

    @property
    def metrics_callback(self) -> Callable[[dict[str, Any]], None]:
        """``on_metrics(dict)`` for the core (any thread); the job's ``on_metrics`` gets them on the GUI thread."""
        return self._bridge.metrics.emit

    def cancelled(self) -> bool:
        """``should_stop()`` for the core: Cancel was pressed (or the dock closed)."""
        return self._flags.cancel

    def stop_asked(self) -> bool:
        """``stop_training()`` for the core: Stop was pressed (keep what was trained)."""
        return self._flags.stop

    # ------------------------------------------------------------------ the job
    def add_run_buttons(self, *buttons: QPushButton) -> None:
        """Buttons that start work: disabled while a job runs."""
        self._run_buttons.extend(buttons)

    @property
    def busy(self) -> bool:
        """A job runs, or its ``done`` still has parts to show."""
        return self._worker is not None or self._parts is not None

    def check_idle(self) -> None:
        """Raise :class:`InvalidInputError` while a job runs (one job at a time)."""
        if self.busy:
            raise InvalidInputError("busy: wait for the running job or press Cancel")

    def start(self, fn: Callable[[], Any], done: Callable[[Any], None], message: str, *,
              stop_button: QPushButton | None = None,
              on_metrics: Callable[[dict[str, Any]], None] | None = None,
              on_error: Callable[[BaseException], None] | None = None, quiet: bool = False) -> bool:
        """Run ``fn()`` off the GUI thread, then ``done(value)`` on it; ``stop_button`` is enabled meanwhile.

        ``done`` may be a generator function: each ``yield`` hands the event loop a turn before the next part
        (so two slow additions of layers are two short freezes, not one long one).

        ``on_error(exc)`` (GUI thread) lets a widget tidy up after a failure or a cancel; the message is
        shown by the runner. Returns False (and shows why) when a job is already running. ``quiet``: a
        step of milliseconds repeated after each user edit (e.g. a re-score): the progress bar, Cancel and
        the status line stay as they are (a progress bar repaints at once, tens of ms each time); errors
        are still shown.
        """
        from napari.qt.threading import create_worker

        if self.busy:
            return self.refuse(InvalidInputError("busy: wait for the running job or press Cancel"))
        self._flags.cancel = self._flags.stop = False
        for b in self._run_buttons:
            b.setEnabled(False)
        self.cancel_button.setEnabled(not quiet)
        self._stop_button = stop_button
        if stop_button is not None:
            stop_button.setEnabled(True)
        self._on_metrics = on_metrics
        self._on_error = on_error
        self._quiet = quiet
        if not quiet:
            self.progress.setValue(0)
        self._started = time.monotonic()
        self._message = message
        self.last_error = ""
        if not quiet:
            self.set_status(message)
        worker = create_worker(_run, fn, _start_thread=False)
        worker.returned.connect(lambda payload: self._returned(done, payload))
        worker.finished.connect(self._finished)
        self._worker = worker
        worker.start()
        return True

    def run_now(self, fn: Callable[[], Any], done: Callable[[Any], None]) -> bool:
        """Run a quick ``fn()`` on the GUI thread with the same error handling as :meth:`start`."""
        try:
            value = fn()
            self.last_error = ""
            for _ in self._parts_of(done(value)):  # a generator's parts, at once: the caller waits anyway
                pass
            return True
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never raised into napari
            self._show_error(exc)
            return False

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until the running job has finished and been shown (True) or the time is up."""
        return process_events_until(lambda: not self.busy, timeout_s)

    def cancel(self) -> None:
        """Ask the running job to stop; nothing it computed is added (training keeps its best epoch)."""
        if self._worker is not None:
            self._flags.cancel = True
            self.set_status("cancelling…")

    def stop(self) -> None:
        """End the running training early and keep what was trained."""
        if self._worker is not None:
            self._flags.stop = True
            self.set_status("stopping training…")

    # ------------------------------------------------------------------ status
    def refuse(self, exc: BaseException) -> bool:
        """Show why something cannot be done; returns False (nothing started)."""
        self._show_error(exc, notify=False)
        return False

    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        was_red = bool(self.status.styleSheet())
        self.status.setStyleSheet(RED if error else "")
        if was_red and not error:  # under napari's style sheet the removed red stays in the palette: polish again
            self.status.style().unpolish(self.status)
            self.status.style().polish(self.status)

    def _show_error(self, exc: BaseException, *, notify: bool | None = None) -> None:
        from ..core.models.errors import Cancelled

        if isinstance(exc, Cancelled):
            text = f"Cancelled ({exc}); nothing was added."
        else:
            text = error_text(exc)
        self.last_error = text
        self.set_status(text, error=True)
        if (self._notify if notify is None else notify) and not isinstance(exc, Cancelled):
            try:
                from napari.utils.notifications import show_error

                show_error(text)
            except Exception as exc2:  # noqa: BLE001 - the status line has it already; a notification is extra
                logging.getLogger(__name__).warning("could not show a napari notification: %s", exc2)

    def _returned(self, done: Callable[[Any], None], payload: tuple[str, Any]) -> None:
        if self._flags.gone:
            return
        kind, value = payload
        freeze_long_lived_objects()  # after the first job that imported torch and MONAI
        try:
            if kind == "error":
                self.progress.setValue(0)
                self._show_error(value)
                if self._on_error is not None:
                    self._on_error(value)
                return
            if not self._quiet:
                self.progress.setValue(1000)
            self.last_result = value
            parts = done(value)
            if inspect.isgenerator(parts):
                self._parts = parts
                self._next_part()  # the first part at once, the others after a turn of the event loop each
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never raised into napari
            self._show_error(exc)

    @staticmethod
    def _parts_of(result: Any) -> Iterator[Any]:
        return result if inspect.isgenerator(result) else iter(())

    def _next_part(self) -> None:
        """Run the next part of a generator ``done``; the runner is free after the last one."""
        parts = self._parts
        if parts is None:
            return
        if self._flags.gone:
            self._parts = None
            return
        try:
            next(parts)
        except StopIteration:
            self._parts = None
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never raised into napari
            self._parts = None
            self._show_error(exc)
        if self._parts is not None:
            QTimer.singleShot(0, self, self._next_part)
        elif self._worker is None:
            self._release()

    def _finished(self) -> None:
        self._worker = None
        if self._parts is None:
            self._release()

    def _release(self) -> None:
        """The job and its ``done`` are over: the run buttons come back."""
        if self._flags.gone:
            return
        for b in self._run_buttons:
            b.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._stop_button is not None:
            self._stop_button.setEnabled(False)
            self._stop_button = None

    def _on_progress(self, fraction: float, message: str) -> None:
        fraction = max(0.0, min(1.0, float(fraction)))
        self.progress.setValue(int(round(1000 * fraction)))
        if message:
            self._message = message
        eta = _eta_text(time.monotonic() - self._started, fraction)
        if self._message or eta:
            self.set_status(f"{self._message} ({eta})" if eta else self._message)

    def _metrics(self, m: dict[str, Any]) -> None:
        if self._on_metrics is not None:
            self._on_metrics(m)


def _run(fn: Callable[[], Any]) -> tuple[str, Any]:
    # napari 0.9: a worker's `errored` hook is broken and superqt re-raises returned exceptions, so
    # errors come back as values and the runner shows them.
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - shown in the widget
        return ("error", exc)
