"""Run a task over every case of a cohort on Dask distributed: :func:`run_cohort`.

How a run goes
--------------
1. The cases are found (a cohort folder, through the task's adapter) or given; each gets its
   content key (:func:`~.cases.case_key`: inputs, model, options). A case whose folder already
   holds a record with that key, status ``done`` and every output file is *reused*, not run: an
   interrupted run resumes where it stopped.
2. Every other case is submitted to Dask as one task (:func:`execute_case`), on a ``LocalCluster``
   of worker processes (one thread each) by default, or on the scheduler given (a cluster started
   by dask-jobqueue on SLURM / PBS, or on Kubernetes: see ``docs/batch.md``).
3. In the worker, the case's outputs are written into ``OUT/cases/NAME/`` (each atomically), then
   its record ``case.json`` (atomically, last). A case that raises is recorded ``failed`` with its
   one-line reason, and the run goes on.
4. A worker that dies mid-case (killed, out of memory) makes Dask report the case's task as lost
   (``KilledWorker``); the case is submitted again, to whichever worker is free, up to ``retries``
   more times, then recorded ``failed`` ("worker died ..."). The local cluster is started with
   ``distributed.scheduler.allowed-failures = 0`` so that every death is counted here (a scheduler
   you start yourself applies its own setting, by default 3 deaths per task before it gives up;
   ``docs/batch.md`` shows how to set it). Cases are submitted only while a worker thread is free,
   so a worker holds only the case it runs: Dask counts a death against every task a worker holds,
   and no waiting case pays for another's.
5. ``summary.csv`` and ``summary.json`` list every case with its status; when cases were compared
   with a ground truth, ``evaluation.json`` / ``.csv`` / ``.png`` (:mod:`.report`) sit beside them.

Nothing half-written is left: every file goes through :func:`~napari_medai.core.io.atomic.atomic_path`;
the temporary files a killed worker could not remove are deleted before the case runs again and at
the end of the run.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..callbacks import Cancelled, ProgressFn, StopFn
from ..errors import InvalidInputError, MedaiError
from .adapters import CaseOutput, TaskAdapter, get_adapter
from .cases import CohortCase, case_key

__all__ = [
    "CASE_RECORD",
    "CohortRun",
    "CohortStatus",
    "execute_case",
    "one_line",
    "read_record",
    "remove_stale_temporaries",
    "run_cohort",
    "start_client",
]

#: Name of the record each case folder holds.
CASE_RECORD = "case.json"
#: Keys submitted by every run of this process and not finished yet, guarded by the lock: runs
#: sharing a client (threads of a benchmark, the widget) count each other's submissions.
_SUBMITTED: set[str] = set()
_SUBMIT_LOCK = threading.Lock()
#: Temporary files of :func:`~napari_medai.core.io.atomic.atomic_path`: ``.<name>.<12 hex><suffix>``.
_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}(\..*)?$")


def one_line(exc: BaseException, *, limit: int = 300) -> str:
    """A one-line reason for a failed case: the message of the package's errors, else ``Type: message``."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if not isinstance(exc, MedaiError):
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."


def remove_stale_temporaries(folder: str | os.PathLike[str]) -> list[str]:
    """Delete the temporary files an interrupted atomic write left in ``folder`` (not below); their names."""
    p = Path(folder)
    removed = []
    if p.is_dir():
        for f in p.iterdir():
            if f.is_file() and _TEMPORARY.match(f.name):
                try:
                    f.unlink()
                    removed.append(f.name)
                except OSError:
                    continue
    return removed


def read_record(case_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The record ``case.json`` of a case folder, or None when absent or unreadable."""
    import json

    path = Path(case_dir) / CASE_RECORD
    try:
        with open(path, encoding="utf-8") as fh:
            doc = json.load(fh)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def _peak_rss_mb() -> float | None:
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return None
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return round(kib / 1024.0, 1)  # Linux reports KiB


def _now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def execute_case(
    adapter: TaskAdapter,
    case: CohortCase,
    case_dir: str,
    model: Any,
    options: Mapping[str, Any],
    key: str,
    attempt: int = 1,
) -> dict[str, Any]:
    """Run one case and write its record (in a worker process; also callable directly).

    Exceptions of the task are caught: the record says ``failed`` with :func:`one_line` of the
    error. The record is written last and atomically, so a ``done`` record means every output it
    names is complete.

    Returns
    -------
    dict
        The record (also written as ``case_dir/case.json``).
    """
    from ..evaluate import write_json

    folder = Path(case_dir)
    folder.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(folder)
    started = time.perf_counter()
    record: dict[str, Any] = {
        "case": case.name, "task": adapter.name, "status": "done", "reason": "", "key": key, "attempt": attempt,
        "case_inputs": case.to_dict(), "model": None if model is None else str(getattr(model, "source", model)),
        "options": dict(options), "started": _now(),
        "worker": {"host": socket.gethostname(), "pid": os.getpid(), "address": _worker_address()},
    }
    try:
        out = adapter.run(case, folder, model, options, None)
        if not isinstance(out, CaseOutput):
            raise TypeError(f"task adapter {adapter.name!r} returned {type(out).__name__}, not a CaseOutput")
        record.update(outputs=dict(out.outputs), figures=dict(out.figures), report=out.report,
                      evaluation=out.evaluation, notes=list(out.notes))
    except Exception as exc:  # every failure of a case is recorded; the run goes on
        record.update(status="failed", reason=one_line(exc), outputs={}, figures={}, report={}, evaluation=None,
                      notes=[])
    record["seconds"] = round(time.perf_counter() - started, 3)
    record["finished"] = _now()
    record["peak_rss_mb"] = _peak_rss_mb()
    write_json(record, folder / CASE_RECORD, protect=case.files())
    return record


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return None


@dataclass
class CohortStatus:
    """Where a run stands (given to ``on_status`` after every change and about twice a second)."""

    total: int
    done: int
    failed: int
    running: int
    reused: int
    elapsed_s: float
    seconds_left: float | None

    @property
    def finished(self) -> int:
        return self.done + self.failed

    def line(self) -> str:
        """``12/20 done, 1 failed, 2 running, 3 reused, 41 s elapsed, about 30 s left``."""
        left = "" if self.seconds_left is None else f", about {self.seconds_left:.0f} s left"
        return (f"{self.done}/{self.total} done, {self.failed} failed, {self.running} running"
                + (f", {self.reused} reused" if self.reused else "") + f", {self.elapsed_s:.0f} s elapsed{left}")


@dataclass
class CohortRun:
    """The result of :func:`run_cohort`.

    Attributes
    ----------
    task
        Task name.
    out_dir
        The run's output folder.
    records
        One record per case, in case order (the content of each ``case.json``, plus ``reused``).
    summary_csv, summary_json
        The summary files.
    seconds
        Wall time of the run.
    dashboard
        The Dask dashboard link (None when the scheduler has none).
    evaluation
        The cohort evaluation document (:func:`~napari_medai.core.evaluate.to_json_dict`), when cases
        were compared with a ground truth.
    files
        Every cohort-level file written (summary, evaluation table and figure).
    workers
        ``{worker: peak memory in MB}`` over the cases each worker process ran.
    notes
        Remarks on the run (worker deaths, unmatched files).
    """

    task: str
    out_dir: Path
    records: list[dict[str, Any]]
    summary_csv: Path
    summary_json: Path
    seconds: float
    dashboard: str | None = None
    evaluation: dict[str, Any] | None = None
    files: list[Path] = field(default_factory=list)
    workers: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(1 for r in self.records if r.get("status") == status)

    @property
    def n_done(self) -> int:
        return self.count("done")

    @property
    def n_failed(self) -> int:
        return self.count("failed")

    @property
    def n_reused(self) -> int:
        return sum(1 for r in self.records if r.get("reused"))

    def failed(self) -> list[tuple[str, str]]:
        """``(case, reason)`` of every failed case."""
        return [(r["case"], r.get("reason", "")) for r in self.records if r.get("status") == "failed"]


def start_client(
    scheduler: Any = None,
    *,
    workers: int = 2,
    memory_limit: str | float | None = None,
    processes: bool = True,
    dashboard_address: str | None = ":8787",
) -> tuple[Any, Any]:
    """A Dask client: on a new ``LocalCluster`` (``scheduler`` None or ``"local"``) or on a scheduler address.

    Parameters
    ----------
    scheduler
        None / ``"local"``: start a local cluster; an address (``tcp://host:8786``) or a
        ``distributed.Client``: use it.
    workers
        Worker processes of the local cluster (one thread each).
    memory_limit
        Per-worker memory limit of the local cluster (``"2GB"``, bytes, or None for Dask's
        share of the machine); a worker above it is restarted and its case retried.
    processes
        Worker processes (default) or threads of this process.
    dashboard_address
        Where the local cluster serves its dashboard (``":0"``: any free port).

    Returns
    -------
    (client, cluster)
        ``cluster`` is None when the client was given or connects to an existing scheduler; the
        caller closes what it started.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise InvalidInputError("cohort runs need Dask distributed: pip install 'napari-medai[cluster]'") from exc
    if scheduler is not None and not isinstance(scheduler, str):
        return scheduler, None
    if scheduler not in (None, "local"):
        try:
            return Client(scheduler, timeout="20s"), None
        except (OSError, TimeoutError) as exc:
            raise InvalidInputError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); start it first, or use "
                                    "--scheduler local") from exc
    if int(workers) < 1:
        raise InvalidInputError(f"workers must be at least 1, got {workers}")
    # allowed-failures 0: every worker death reaches the runner, which counts the retries itself;
    # worker-saturation 1.0: a worker holds only the case it runs, so its death harms no queued case
    # profile.enabled False: the workers' statistical profiler (a thread taking the GIL every 10 ms for
    # the dashboard's Profile page) is left out. Malloc: Dask gives workers MALLOC_TRIM_THRESHOLD_=64 KiB,
    # which also freezes glibc's mmap threshold at 128 KiB, so every image-sized array is mapped and
    # zero-filled afresh: a calcium score took 0.66 s of CPU instead of 0.50 s (benchmarks/bench_cohort.py
    # notes); a worker runs one case at a time, so keeping up to 128 MiB free and arrays up to 32 MiB on the
    # heap (reused from case to case) costs little memory.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0,
                          "distributed.scheduler.worker-saturation": 1.0,
                          "distributed.worker.profile.enabled": False,
                          "distributed.nanny.pre-spawn-environ.MALLOC_TRIM_THRESHOLD_": 128 * 2**20,
                          "distributed.nanny.pre-spawn-environ.MALLOC_MMAP_THRESHOLD_": 32 * 2**20}):
        cluster = LocalCluster(n_workers=int(workers), threads_per_worker=1, processes=processes,
                               memory_limit=memory_limit if memory_limit is not None else "auto",
                               dashboard_address=dashboard_address, silence_logs=logging.CRITICAL)
    return Client(cluster), cluster


def _cluster_state(client: Any) -> tuple[dict[str, int], dict[str, list[str]]] | None:
    """``({worker: threads}, {worker: [task keys it holds]})``, or None when the scheduler does not answer."""
    try:
        threads = {str(w): int(n) for w, n in client.nthreads().items()}
        proc = {str(w): [str(k) for k in keys] for w, keys in client.processing().items()}
    except Exception:  # the scheduler is busy or a worker just left: try again next time
        return None
    return threads, proc


def _running(state: tuple[dict[str, int], dict[str, list[str]]] | None, mine: set[str]) -> int:
    """Cases of ``mine`` running now: per worker, those it holds, at most its thread count."""
    if state is None:
        return 0
    threads, proc = state
    return sum(min(sum(1 for k in keys if k in mine), threads.get(w, 1)) for w, keys in proc.items())


def _free_threads(state: tuple[dict[str, int], dict[str, list[str]]] | None, mine: set[str]) -> int:
    """Worker threads with nothing to do: all threads, less the tasks workers hold (of every run on
    this scheduler), less the tasks submitted from this process (``mine``) that no worker holds yet."""
    if state is None:
        return 0
    threads, proc = state
    held = [k for keys in proc.values() for k in keys]
    not_yet_held = len(mine) - sum(1 for k in held if k in mine)
    return sum(threads.values()) - len(held) - not_yet_held


def _lost_worker_record(adapter: TaskAdapter, case: CohortCase, key: str, attempts: int, exc: BaseException,
                        case_dir: Path, model: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    from ..evaluate import write_json

    record = {
        "case": case.name, "task": adapter.name, "status": "failed", "key": key, "attempt": attempts,
        "reason": (f"the worker died {attempts} time(s) while running this case ({type(exc).__name__}): killed, "
                   "or out of memory (raise --memory-limit or use fewer workers)"),
        "case_inputs": case.to_dict(), "model": None if model is None else str(model), "options": dict(options),
        "outputs": {}, "figures": {}, "report": {}, "evaluation": None, "notes": [], "finished": _now(),
        "seconds": None, "worker": None, "peak_rss_mb": None,
    }
    remove_stale_temporaries(case_dir)
    write_json(record, case_dir / CASE_RECORD, protect=case.files())
    return record


def _reusable(case_dir: Path, key: str) -> dict[str, Any] | None:
    rec = read_record(case_dir)
    if not rec or rec.get("status") != "done" or rec.get("key") != key:
        return None
    outputs = rec.get("outputs") or {}
    if not all((case_dir / name).is_file() for name in outputs.values()):
        return None
    return rec


def run_cohort(
    task: str | TaskAdapter,
    cases: str | os.PathLike[str] | Sequence[CohortCase],
    *,
    out_dir: str | os.PathLike[str],
    client: Any = None,
    workers: int = 2,
    memory_limit: str | float | None = None,
    model: Any = None,
    options: Mapping[str, Any] | None = None,
    retries: int = 2,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_case: Callable[[dict[str, Any]], None] | None = None,
    on_status: Callable[[CohortStatus], None] | None = None,
    on_start: Callable[[str | None], None] | None = None,
    dashboard_address: str | None = ":8787",
    n_resamples: int = 2000,
    seed: int = 0,
) -> CohortRun:
    """Run ``task`` over every case of a cohort on Dask distributed (see the module docstring).

    Parameters
    ----------
    task
        A task name of :data:`~.adapters.ADAPTERS` (``brain-tumour``, ``stroke``, ``cac``, ``denoise``,
        ``evaluate``) or a :class:`~.adapters.TaskAdapter`.
    cases
        The cohort folder (its cases are found by the task's adapter) or a list of :class:`CohortCase`.
    out_dir
        Output folder: ``cases/NAME/`` per case, ``summary.csv`` / ``summary.json`` and the
        evaluation files. Re-using it resumes a run.
    client
        None: start a ``LocalCluster`` of ``workers`` processes (closed at the end); a scheduler
        address (``"tcp://host:8786"``) or a ``distributed.Client`` to use (left open).
    workers, memory_limit
        Of the local cluster (see :func:`start_client`).
    model
        The task's model (registry name, folder or file); default: the task's own default.
    options
        Task options (see each adapter's ``defaults``); unknown names are refused before any work.
    retries
        How many more times a case is submitted after its worker died.
    progress, should_stop
        ``progress(fraction, message)``; ``should_stop()`` polled about twice a second: True
        cancels the cases not finished, writes the summary and raises
        :class:`~napari_medai.core.callbacks.Cancelled`.
    on_case
        Called with each case's record as it finishes (reused cases first).
    on_status
        Called with a :class:`CohortStatus` whenever counts change (the CLI's progress line).
    on_start
        Called once with the dashboard link (or None) when the client is ready.
    dashboard_address
        Dashboard address of a local cluster (``":0"``: any free port).
    n_resamples, seed
        Bootstrap of the cohort evaluation's confidence intervals.

    Returns
    -------
    CohortRun

    Raises
    ------
    InvalidInputError
        Unknown task or option, no case, a model given to a task that takes none, an output folder
        inside an input -- before any case runs.
    """
    from .report import write_cohort_files

    adapter = get_adapter(task)
    opts = adapter.check_options(options)
    if int(retries) < 0:
        raise InvalidInputError(f"retries must be 0 or more, got {retries}")
    model = adapter.model_for(model, opts)
    out = Path(out_dir).expanduser()
    cohort: Path | None = None
    if isinstance(cases, (str, os.PathLike)):
        cohort = Path(cases).expanduser()
        if not cohort.is_dir():
            raise InvalidInputError(f"cohort folder {cohort}: no such folder")
        if out.resolve() == cohort.resolve():
            raise InvalidInputError(f"--out {out} is the cohort folder; write the results to another folder")
        found = adapter.find(cohort, opts)
    else:
        found = list(cases)
    if not found:
        raise InvalidInputError(f"no case to run (cohort {cohort or 'list'} is empty)")
    names = [c.name for c in found]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise InvalidInputError(f"case names repeat ({', '.join(dup)}); every case needs its own name")
    out.mkdir(parents=True, exist_ok=True)
    cases_dir = out / "cases"
    t0 = time.perf_counter()
    keys = {c.name: case_key(adapter.name, adapter.version, c, model=model, options=opts) for c in found}
    records: dict[str, dict[str, Any]] = {}
    todo: list[CohortCase] = []
    for c in found:
        rec = _reusable(cases_dir / c.name, keys[c.name])
        if rec is not None:
            rec["reused"] = True
            records[c.name] = rec
        else:
            todo.append(c)
    notes: list[str] = []
    total = len(found)
    status = {"done": sum(1 for r in records.values() if r["status"] == "done"), "failed": 0}
    n_reused = len(records)

    def report_status(running: int) -> None:
        elapsed = time.perf_counter() - t0
        finished_now = status["done"] + status["failed"] - n_reused
        remaining = total - status["done"] - status["failed"]
        left = None
        if finished_now > 0 and remaining > 0:
            left = elapsed / finished_now * remaining
        elif remaining == 0:
            left = 0.0
        st = CohortStatus(total=total, done=status["done"], failed=status["failed"], running=running,
                          reused=n_reused, elapsed_s=elapsed, seconds_left=left)
        if on_status is not None:
            on_status(st)
        if progress is not None:
            progress((st.finished / total) if total else 1.0, st.line())

    for rec in records.values():
        if on_case is not None:
            on_case(rec)

    own_client = client is None or isinstance(client, str)
    dask_client, cluster = (None, None)
    dashboard: str | None = None
    cancelled = False
    try:
        if todo:
            dask_client, cluster = start_client(client, workers=workers, memory_limit=memory_limit,
                                                dashboard_address=dashboard_address)
            dashboard = getattr(dask_client, "dashboard_link", None)
        if on_start is not None:
            on_start(dashboard)
        report_status(0)
        if todo:
            cancelled = _run_on_dask(dask_client, adapter, todo, cases_dir, model, opts, keys, int(retries), records,
                                     status, notes, report_status, should_stop, on_case)
    finally:
        if own_client and dask_client is not None:
            dask_client.close()
        if cluster is not None:
            cluster.close()
    ordered = []
    for c in found:
        rec = records.get(c.name)
        if rec is None:  # cancelled before it finished
            rec = {"case": c.name, "task": adapter.name, "status": "cancelled", "reason": "the run was stopped",
                   "key": keys[c.name], "case_inputs": c.to_dict(), "outputs": {}, "figures": {}}
        remove_stale_temporaries(cases_dir / c.name)
        ordered.append(rec)
    run = CohortRun(task=adapter.name, out_dir=out, records=ordered, summary_csv=out / "summary.csv",
                    summary_json=out / "summary.json", seconds=time.perf_counter() - t0, dashboard=dashboard,
                    notes=notes)
    write_cohort_files(run, cohort=cohort, model=model, options=opts, n_resamples=n_resamples, seed=seed)
    if cancelled:
        raise Cancelled(f"cohort run stopped: {run.n_done} case(s) done, the rest not run; run again to resume")
    return run


def _run_on_dask(client: Any, adapter: TaskAdapter, todo: list[CohortCase], cases_dir: Path, model: Any,
                 opts: dict[str, Any], keys: dict[str, str], retries: int, records: dict[str, dict[str, Any]],
                 status: dict[str, int], notes: list[str], report_status: Callable[[int], None],
                 should_stop: StopFn | None, on_case: Callable[[dict[str, Any]], None] | None) -> bool:
    """Run ``todo`` on the cluster, resubmit cases whose worker died, fill ``records``; True when stopped.

    A case is submitted only when a worker thread is free (at least one case is always in flight),
    so a worker holds only the cases it runs: its death costs no waiting case an attempt, and
    several runs sharing a scheduler take turns instead of queueing everything at once.
    """
    from collections import deque

    from distributed import wait

    def submit(case: CohortCase, attempt: int) -> Any:
        return client.submit(execute_case, adapter, case, str(cases_dir / case.name), model, opts, keys[case.name],
                             attempt, key=f"cohort-{adapter.name}-{case.name}-{keys[case.name][:10]}-a{attempt}",
                             pure=False)

    waiting: deque[tuple[CohortCase, int]] = deque((c, 1) for c in todo)
    pending: dict[Any, tuple[CohortCase, int]] = {}
    last_running = -1
    last_tick = 0.0
    try:
        while pending or waiting:
            if should_stop is not None and should_stop():
                client.cancel(list(pending))
                return True
            if waiting:
                with _SUBMIT_LOCK:  # a fresh look and the submissions, one run at a time
                    state = _cluster_state(client)
                    free = _free_threads(state, _SUBMITTED)
                    if not _SUBMITTED:  # nothing of this process is in flight: one case goes, whatever the look said
                        free = max(free, 1)
                    for _ in range(min(max(free, 0), len(waiting))):
                        case, attempt = waiting.popleft()
                        fut = submit(case, attempt)
                        pending[fut] = (case, attempt)
                        _SUBMITTED.add(str(fut.key))
            if not pending:
                time.sleep(0.25)
                continue
            try:
                done = wait(list(pending), timeout=0.5, return_when="FIRST_COMPLETED").done
            except TimeoutError:
                done = set()
            changed = False
            for fut in done:
                case, attempt = pending.pop(fut)
                _SUBMITTED.discard(str(fut.key))
                if fut.status == "finished":
                    rec = fut.result()
                else:
                    exc = fut.exception()
                    if attempt <= retries:
                        notes.append(f"case {case.name}: its worker died ({type(exc).__name__}); submitted again "
                                     f"(attempt {attempt + 1} of {retries + 1})")
                        waiting.appendleft((case, attempt + 1))
                        continue
                    rec = _lost_worker_record(adapter, case, keys[case.name], attempt, exc, cases_dir / case.name,
                                              model, opts)
                rec["reused"] = False
                records[case.name] = rec
                status["done" if rec["status"] == "done" else "failed"] += 1
                changed = True
                if on_case is not None:
                    on_case(rec)
            now = time.perf_counter()
            if changed or now - last_tick >= 0.5:
                running = _running(_cluster_state(client), {str(f.key) for f in pending})
                if changed or running != last_running or now - last_tick >= 1.0:
                    report_status(running)
                    last_running, last_tick = running, now
    finally:  # whatever ends the loop, this run's tasks no longer count as submitted
        _SUBMITTED.difference_update(str(f.key) for f in pending)
    return False
