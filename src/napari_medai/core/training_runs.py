"""Setting up and following a training run from any front end (widget, CLI, script).

* :func:`default_model_folder` -- where a new model goes unless the user says otherwise: a fresh,
  per-user folder (``~/napari-medai/models/<task>-YYYYmmdd-HHMM``), never beside the data, which is
  often read-only or shared;
* :func:`prepare_model_folder` -- create the folder and make sure it can be written, before any
  case is read, with a message that says what to do when it cannot;
* :class:`TrainingProgress` -- turns the training loop's per-step callback into a progress fraction
  that moves within the first epoch: epochs done plus the fraction of the running epoch, over the
  epoch limit, or the time used over the time budget, whichever limit binds first.

Imports nothing above :mod:`napari_medai.core.errors` and :mod:`napari_medai.core.callbacks`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from .callbacks import ProgressFn
from .errors import InvalidInputError

__all__ = ["TrainingProgress", "default_model_folder", "models_root", "prepare_model_folder"]


def models_root() -> Path:
    """The per-user folder new models go into: ``~/napari-medai/models``."""
    return Path.home() / "napari-medai" / "models"


def default_model_folder(task: str, *, now: datetime | None = None, root: str | os.PathLike[str] | None = None) -> Path:
    """A new model folder for ``task``: ``<root>/<task>-YYYYmmdd-HHMM`` (``-2``, ``-3`` ... if taken).

    Parameters
    ----------
    task
        Short task name used in the folder name, e.g. ``"brain-tumour"``.
    now
        The time stamped into the name (default: now, local time).
    root
        Parent folder (default: :func:`models_root`). Nothing is created.
    """
    base = Path(root).expanduser() if root is not None else models_root()
    stamp = (now or datetime.now()).strftime("%Y%m%d-%H%M")
    path = base / f"{task}-{stamp}"
    n = 2
    while path.exists():
        path = base / f"{task}-{stamp}-{n}"
        n += 1
    return path


def prepare_model_folder(path: str | os.PathLike[str], *, resume: bool = False) -> Path:
    """Create the model folder ``path`` (and its parents) and check that files can be written in it.

    A folder that already holds a training run (``checkpoint.pt``) is accepted only with ``resume``;
    any other non-empty folder is left to the training loop to judge.

    Returns
    -------
    Path
        The folder, ``~`` expanded.

    Raises
    ------
    InvalidInputError
        The folder holds a run and ``resume`` is off, or it cannot be created or written; the
        message says which and suggests the per-user models folder.
    """
    out = Path(path).expanduser()
    if (out / "checkpoint.pt").is_file() and not resume:
        raise InvalidInputError(f"{out} already holds a training run: tick 'resume' to continue it, or choose "
                                "another model folder")
    if out.exists() and not out.is_dir():
        raise InvalidInputError(f"{out} is a file, not a folder; choose a folder for the model")
    hint = f"choose a folder you can write to, e.g. under {models_root()}"
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInputError(f"cannot create the model folder {out} ({exc.strerror or exc}); {hint}") from exc
    probe = out / f".napari-medai-write-test-{os.getpid()}"
    try:
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise InvalidInputError(f"the model folder {out} is not writable ({exc.strerror or exc}); {hint}") from exc
    return out


class TrainingProgress:
    """Progress of a training run as one fraction that moves with every step.

    Pass :meth:`progress` as the loop's ``progress`` and call :meth:`on_step` from its ``on_step``.
    The fraction is the larger of (epochs done + step / steps) over ``max_epochs`` and the time used
    over ``time_limit_s`` (counted from this object's creation), i.e. that of the limit which binds
    first; it never goes back. A resumed run counts from the epoch it resumed at, so a time estimate
    made from the fraction and the elapsed time stays right.

    Parameters
    ----------
    progress
        Receives ``(fraction, message)``.
    max_epochs
        The epoch limit (counted from the start of the run, resumed epochs included).
    time_limit_s
        The wall-time budget of this call, if any.
    clock
        Seconds, for tests.
    """

    def __init__(self, progress: ProgressFn, *, max_epochs: int, time_limit_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._progress = progress
        self.max_epochs = max(1, int(max_epochs))
        self.time_limit_s = time_limit_s if time_limit_s and time_limit_s > 0 else None
        self._clock = clock
        self._t0 = clock()
        self._first_epoch: int | None = None  # 0-based epoch of the first step of this call
        #: The fraction reported last.
        self.fraction = 0.0

    def _time_fraction(self) -> float:
        return 0.0 if self.time_limit_s is None else (self._clock() - self._t0) / self.time_limit_s

    def _emit(self, fraction: float, message: str) -> None:
        self.fraction = min(1.0, max(self.fraction, fraction, self._time_fraction()))
        self._progress(self.fraction, message)

    def progress(self, fraction: float, message: str) -> None:
        """The loop's own reports: the message is passed on with the fraction of this object."""
        self._emit(0.0 if fraction < 1.0 else 1.0, message)

    def on_step(self, epoch: int, step: int, steps: int, loss: float) -> None:
        """After step ``step`` of ``steps`` in (1-based) ``epoch``."""
        if self._first_epoch is None:
            self._first_epoch = epoch - 1
        e0 = self._first_epoch
        done = (epoch - 1 - e0) + step / max(steps, 1)
        self._emit(done / max(self.max_epochs - e0, 1),
                   f"epoch {epoch}/{self.max_epochs}: step {step}/{steps}, loss {loss:.4f}")
