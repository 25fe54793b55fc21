"""What every benchmark script shares: the machine's conditions, interleaved timing, a JSON-lines history.

A figure means little without the state of the machine it came from: the same code can be twice as
slow while other processes use the cores. Every script under ``benchmarks/`` therefore

* prints :func:`conditions` (core count, load average, library versions, git commit) before its
  figures and the load average again after them (:meth:`BenchRun.finish`);
* times comparisons with :func:`interleaved` (ours, theirs, ours, theirs, ...), so that load from
  other processes hits every side alike, and reports the best and the median of the repeats;
* takes ``--record FILE`` (:func:`add_record_option`) and then appends one JSON line per figure to
  FILE (:meth:`BenchRun.record`), with the conditions and the load average at that moment, so that a
  change that makes something slower shows up as a step in the history.

Use::

    import _common  # benchmarks/ is the script's own folder, so it is on sys.path

    ap = argparse.ArgumentParser(...)
    _common.add_record_option(ap)
    args = ap.parse_args()
    run = _common.start("metrics", args)           # prints the conditions
    (ours, theirs), outs = _common.interleaved([f, g], repeats=5)
    print(f"ours {ours.ms_best:.1f} ms ...")
    run.record(pair="brain mild", what="hd95", ours_ms=ours.ms_median, ...)
    run.finish()                                    # prints the load average at the end

A history line looks like ``{"bench": "metrics", "time": "2026-12-03T15:02:11+0000", "load_avg":
[1.2, 0.9, 0.8], ..., "conditions": {"cores": 2, "load_avg_start": [...], "versions": {...},
"git": "53c1a0f"}}``; ``python benchmarks/_common.py FILE`` prints a history as a table.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import importlib.metadata as _md
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

#: Distributions whose versions every script prints (those not installed print as "-").
PACKAGES: tuple[str, ...] = ("numpy", "scipy", "scikit-image", "SimpleITK", "nibabel", "torch", "monai",
                             "napari", "napari-medai")

__all__ = ["BenchRun", "PACKAGES", "Timing", "add_record_option", "conditions", "format_conditions",
           "interleaved", "load_average", "start", "timed"]


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages, rounded to 0.01 (``[nan] * 3`` where not available)."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return [float("nan")] * 3


def _version(name: str) -> str:
    try:
        return _md.version(name)
    except _md.PackageNotFoundError:
        return "-"


def _git_commit() -> str:
    """Short commit of the working tree, with ``+dirty`` when tracked files differ from it; ``-`` without git."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, timeout=10)
        if head.returncode != 0:
            return "-"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "-"


def conditions(packages: Sequence[str] = PACKAGES) -> dict[str, Any]:
    """The state of the machine a figure is measured under.

    Versions come from the installed distributions' metadata, so nothing heavy (torch) is imported.
    ``threads`` lists the thread-count environment variables that are set (OMP, MKL, ...).
    """
    threads = {k: v for k, v in os.environ.items()
               if k in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMBA_NUM_THREADS")}
    return {
        "cores": os.cpu_count(),
        "load_avg_start": load_average(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "machine": platform.machine(),
        "versions": {name: _version(name) for name in packages},
        "git": _git_commit(),
        "threads": threads,
    }


def format_conditions(cond: dict[str, Any]) -> str:
    """One line: ``machine: 2 cores, load average 1.20 0.90 0.80, python 3.11.9, numpy 2.4.6, ...``."""
    load = " ".join(f"{x:.2f}" for x in cond["load_avg_start"])
    vers = ", ".join(f"{k} {v}" for k, v in cond["versions"].items() if v != "-")
    extra = "".join(f", {k}={v}" for k, v in cond.get("threads", {}).items())
    return (f"machine: {cond['cores']} CPU cores, load average {load} (1/5/15 min), python {cond['python']}, "
            f"{vers}; git {cond['git']}{extra}")


def add_record_option(parser: argparse.ArgumentParser) -> None:
    """Add ``--record FILE``: append the results as JSON lines to FILE (a benchmark history)."""
    parser.add_argument("--record", default=None, metavar="FILE",
                        help="append the results as JSON lines to FILE, with the machine's conditions")


@dataclass
class BenchRun:
    """One run of a benchmark script: its conditions and where its results are recorded."""

    bench: str
    record_path: Path | None
    cond: dict[str, Any]
    n_recorded: int = 0

    def record(self, **fields: Any) -> None:
        """Append one JSON line (``bench``, ``time``, the load average now, ``fields``, the conditions).

        Does nothing without ``--record``. Values that JSON cannot hold (numpy numbers, paths) are
        written as their ``float`` or ``str``.
        """
        if self.record_path is None:
            return
        line = {"bench": self.bench, "time": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S%z"),
                "load_avg": load_average(), **fields, "conditions": self.cond}
        self.record_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.record_path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(line, default=_jsonable) + "\n")
        self.n_recorded += 1

    def finish(self) -> None:
        """Print the load average at the end (and where the results were recorded)."""
        load = " ".join(f"{x:.2f}" for x in load_average())
        where = f"; {self.n_recorded} result(s) appended to {self.record_path}" if self.record_path else ""
        print(f"load average at the end {load} (1/5/15 min){where}", flush=True)


def _jsonable(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def start(bench: str, args: argparse.Namespace | None = None, *, packages: Sequence[str] = PACKAGES,
          quiet: bool = False) -> BenchRun:
    """Print the conditions and return the run that records results (``args.record``, if any)."""
    cond = conditions(packages)
    if not quiet:
        print(format_conditions(cond), flush=True)
    path = getattr(args, "record", None) if args is not None else None
    return BenchRun(bench=bench, record_path=Path(path) if path else None, cond=cond)


@dataclass(frozen=True)
class Timing:
    """Wall-clock seconds of the repeats of one function, and the CPU seconds of this process.

    The CPU time (:func:`time.process_time`, all threads of the process) moves much less than the
    wall time when other processes load the machine; both are reported.
    """

    seconds: tuple[float, ...] = field(default_factory=tuple)
    cpu_seconds: tuple[float, ...] = field(default_factory=tuple)

    @property
    def best(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def ms_best(self) -> float:
        return 1e3 * self.best

    @property
    def ms_median(self) -> float:
        return 1e3 * self.median

    @property
    def cpu_ms_best(self) -> float:
        return 1e3 * min(self.cpu_seconds) if self.cpu_seconds else float("nan")

    def as_record(self, prefix: str) -> dict[str, Any]:
        """``{prefix_ms_best, prefix_ms_median, prefix_cpu_ms_best, prefix_ms_all}`` rounded to 0.01 ms."""
        return {f"{prefix}_ms_best": round(self.ms_best, 2), f"{prefix}_ms_median": round(self.ms_median, 2),
                f"{prefix}_cpu_ms_best": round(self.cpu_ms_best, 2),
                f"{prefix}_ms_all": [round(1e3 * s, 2) for s in self.seconds]}


def interleaved(fns: Sequence[Callable[[], Any]], repeats: int, *, warmup: bool = False
                ) -> tuple[list[Timing], list[Any]]:
    """Time each function ``repeats`` times, in turns (f, g, f, g, ...), and the last result of each.

    Turns spread the load of other processes over all the functions alike, instead of timing one
    while the machine is busy and the other while it is idle. ``warmup`` calls each once untimed.
    """
    if warmup:
        for fn in fns:
            fn()
    times: list[list[float]] = [[] for _ in fns]
    cpu: list[list[float]] = [[] for _ in fns]
    outs: list[Any] = [None] * len(fns)
    for _ in range(max(1, int(repeats))):
        for i, fn in enumerate(fns):
            c0 = time.process_time()
            t0 = time.perf_counter()
            outs[i] = fn()
            times[i].append(time.perf_counter() - t0)
            cpu[i].append(time.process_time() - c0)
    return [Timing(tuple(t), tuple(c)) for t, c in zip(times, cpu)], outs


def timed(fn: Callable[[], Any], repeats: int = 1) -> tuple[Timing, Any]:
    """:func:`interleaved` of one function."""
    (t,), (out,) = interleaved([fn], repeats)
    return t, out


def _show_history(path: Path) -> int:
    """Print a history file as one row per line: time, load, git, bench and its figures."""
    for raw in path.read_text(encoding="utf-8").splitlines():
        if not raw.strip():
            continue
        line = json.loads(raw)
        cond = line.get("conditions", {})
        figures = {k: v for k, v in line.items() if k not in ("bench", "time", "load_avg", "conditions")
                   and not k.endswith("_all")}
        print(f"{line.get('time', '?')}  load {line.get('load_avg', '?')}  git {cond.get('git', '?')}  "
              f"{line.get('bench', '?')}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python benchmarks/_common.py HISTORY.jsonl")
        sys.exit(2)
    sys.exit(_show_history(Path(sys.argv[1])))
