"""One LDCT job at a time off the GUI thread: progress bar, Cancel / Stop, status line, torch threads.

The tabs hand :meth:`JobPanel.start` a function that calls the core with the panel's callbacks
(``progress=jobs.progress_callback``, ``should_stop=jobs.cancelled``, ``on_metrics=jobs.metrics_callback``;
they are safe to call from the worker thread: queued signals and plain flags) and a ``done(value)``
that shows the result on the GUI thread. A core error, or :class:`~napari_medai.core.models.errors.Cancelled`,
ends up in the status line, never raised into napari.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from qtpy.QtCore import QObject, Signal
from qtpy.QtWidgets import QHBoxLayout, QProgressBar, QPushButton, QVBoxLayout, QWidget

from ...core.errors import InvalidInputError
from .._qt_helpers import process_events_until
from ._common import RED, error_text, wrapped


class _Bridge(QObject):
    """Carries progress and training metrics from the worker thread to the GUI thread."""

    progressed = Signal(float, str)
    metrics = Signal(object)


class _Flags:
    """What the GUI asks of the running job; read by the worker thread (plain attributes, no Qt)."""

    def __init__(self) -> None:
        self.cancel = False
        self.stop = False


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


class JobPanel(QWidget):
    """Progress bar, Cancel button and status line of the LDCT widget, and the job they belong to."""

    def __init__(self, hint: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        #: The value of the last job that finished (DenoiseResult, LdctTrainingResult, metric rows, ...).
        self.last_result: Any = None
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.setToolTip("Stop the running job; a cancelled job adds nothing.")
        self.status = wrapped(hint)
        self._flags = _Flags()
        self._worker: Any = None
        self._run_buttons: list[QPushButton] = []
        self._stop_button: QPushButton | None = None
        self._on_metrics: Callable[[dict[str, Any]], None] | None = None
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
        return self._worker is not None

    def check_idle(self) -> None:
        """Raise :class:`InvalidInputError` while a job runs (one job at a time)."""
        if self.busy:
            raise InvalidInputError("busy: wait for the running job or cancel it")

    def start(self, fn: Callable[[], Any], done: Callable[[Any], None], message: str, *,
              stop_button: QPushButton | None = None,
              on_metrics: Callable[[dict[str, Any]], None] | None = None) -> bool:
        """Run ``fn()`` off the GUI thread, then ``done(value)`` on it; ``stop_button`` is enabled meanwhile."""
        from napari.qt.threading import create_worker

        self._flags.cancel = self._flags.stop = False
        for b in self._run_buttons:
            b.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self._stop_button = stop_button
        if stop_button is not None:
            stop_button.setEnabled(True)
        self._on_metrics = on_metrics
        self.progress.setValue(0)
        self.set_status(message)
        worker = create_worker(_run, fn, _start_thread=False)
        worker.returned.connect(lambda payload: self._returned(done, payload))
        worker.finished.connect(self._finished)
        self._worker = worker
        worker.start()
        return True

    def wait_idle(self, timeout_s: float = 60.0) -> bool:
        """Process events until the running job has finished and been shown (True) or the time is up."""
        return process_events_until(lambda: self._worker is None, timeout_s)

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
        self.set_status(error_text(exc), error=True)
        return False

    def set_status(self, text: str, *, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(RED if error else "")

    def _returned(self, done: Callable[[Any], None], payload: tuple[str, Any]) -> None:
        from ...core.models.errors import Cancelled

        kind, value = payload
        try:
            if kind == "error":
                self.progress.setValue(0)
                if isinstance(value, Cancelled):
                    self.set_status(f"Cancelled ({value}); nothing was added.", error=True)
                else:
                    self.set_status(error_text(value), error=True)
                return
            self.progress.setValue(1000)
            self.last_result = value
            done(value)
        except Exception as exc:  # noqa: BLE001 - shown in the widget, never raised into napari
            self.set_status(error_text(exc), error=True)

    def _finished(self) -> None:
        self._worker = None
        for b in self._run_buttons:
            b.setEnabled(True)
        self.cancel_button.setEnabled(False)
        if self._stop_button is not None:
            self._stop_button.setEnabled(False)
            self._stop_button = None

    def _on_progress(self, fraction: float, message: str) -> None:
        self.progress.setValue(int(round(1000 * max(0.0, min(1.0, float(fraction))))))
        if message:
            self.set_status(message)

    def _metrics(self, m: dict[str, Any]) -> None:
        if self._on_metrics is not None:
            self._on_metrics(m)


def _run(fn: Callable[[], Any]) -> tuple[str, Any]:
    # napari 0.9: a worker's `errored` hook is broken and superqt re-raises returned exceptions, so
    # errors come back as values and the panel shows them.
    try:
        return ("ok", fn())
    except Exception as exc:  # noqa: BLE001 - shown in the widget
        return ("error", exc)
