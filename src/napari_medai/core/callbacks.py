"""The callbacks long jobs take, declared once: progress, cancellation, live metrics.

Every long core function (inference, training, denoising, simulation) takes the same optional
callables, so a widget turns them into a progress bar and a Cancel button and the CLI into a
terminal line, without the core knowing which:

* ``progress(fraction, message)`` -- :data:`ProgressFn`; ``fraction`` runs from 0 to 1;
* ``should_stop() -> bool`` -- :data:`StopFn`, polled between steps; True makes the job raise
  :class:`Cancelled` (training instead stops after saving what it has, see each function);
* ``on_metrics(entry)`` -- :data:`MetricsFn`, a JSON-friendly dict per step or epoch.

Imports nothing but :mod:`napari_medai.core.errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import MedaiError

__all__ = ["Cancelled", "MetricsFn", "ProgressFn", "StopFn"]

#: ``progress(fraction, message)``: ``fraction`` in [0, 1], ``message`` one line.
ProgressFn = Callable[[float, str], None]
#: ``should_stop() -> bool``: asked between steps; True stops the job with :class:`Cancelled`.
StopFn = Callable[[], bool]
#: ``on_metrics(entry)``: a JSON-friendly dict describing a finished step or epoch.
MetricsFn = Callable[[dict[str, Any]], None]


class Cancelled(MedaiError):
    """A long job (inference, training) stopped because ``should_stop()`` returned True."""
