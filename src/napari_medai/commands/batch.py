"""``napari-medai batch``: run a task over every case of a cohort folder on Dask distributed.

``napari-medai batch TASK --cohort DIR --out DIR [--scheduler local|ADDRESS] [--workers N]
[--memory-limit M] [--model M] [task options]``. A local cluster of worker processes by default;
``--scheduler tcp://HOST:8786`` runs the same cases on a cluster started by dask-jobqueue (SLURM,
PBS) or on Kubernetes (``docs/batch.md``). The terminal shows one progress line (done / failed /
running, time left) and the Dask dashboard link; the output folder holds one folder per case,
``summary.csv`` / ``summary.json``, and with a ground truth ``evaluation.json`` / ``.csv`` / ``.png``.
Running the command again skips the cases already done (same inputs, model and options).
The exit code is 0 when every case is done, 1 when some failed, 2 on bad input.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

NAME = "batch"
HELP = ("run a task (brain-tumour, stroke, cac, denoise, evaluate) over every case of a cohort folder on "
        "Dask distributed: per-case outputs, summary table, cohort metrics")

#: Options given by their own flag (``--method``), by task; everything else is ``--option KEY=VALUE``.
_FLAG_OPTIONS = ("method", "gt", "convention")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..core.cohort.adapters import ADAPTERS

    parser.add_argument("task", choices=tuple(ADAPTERS), metavar="TASK",
                        help="task to run: " + ", ".join(ADAPTERS))
    parser.add_argument("--cohort", type=Path, default=None, metavar="DIR",
                        help="cohort folder (evaluate: the folder of predicted label maps)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output folder (one folder per case, summary, evaluation); re-use it to resume")
    parser.add_argument("--scheduler", default="local", metavar="local|ADDRESS",
                        help="'local' (default): a local cluster of worker processes; or the address of a running "
                             "Dask scheduler, e.g. tcp://10.0.0.5:8786")
    parser.add_argument("--workers", type=int, default=2, metavar="N",
                        help="worker processes of the local cluster (default 2)")
    parser.add_argument("--memory-limit", default=None, metavar="M",
                        help="memory limit per local worker, e.g. 4GB (a worker above it is restarted and its case "
                             "retried); default: Dask's share of the machine")
    parser.add_argument("--retries", type=int, default=2, metavar="N",
                        help="times a case is submitted again after its worker died (default 2)")
    parser.add_argument("--model", default=None, metavar="M",
                        help="model of the task: registry name, model folder or file (brain-tumour default: "
                             "brain-tumour-default; stroke with --method model; denoise: redcnn/trained weights)")
    parser.add_argument("--method", default=None, metavar="NAME",
                        help="brain-tumour: model (default) or threshold; stroke: threshold (default) or model; "
                             "denoise: gaussian (default), tv, nlm, bilateral, redcnn, trained, noise2self")
    parser.add_argument("--gt", default=None, metavar="DIR", help="evaluate: the folder of reference label maps")
    parser.add_argument("--convention", default=None, metavar="NAME",
                        help="label convention (evaluate: of the files; brain-tumour: of the written labels)")
    parser.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                        help="any other task option, repeatable (e.g. tta=true, min_area_mm2=1, blend=0.25, "
                             "tolerance_mm=2); 'napari-medai batch TASK --list-options' lists them")
    parser.add_argument("--dicom-results", action="store_true",
                        help="cac: for a case whose CT is a DICOM series folder, also write NAME_seg.dcm (DICOM SEG) "
                             "and NAME_sr.dcm (DICOM SR) as 'napari-medai cac --dicom-seg --dicom-sr' does "
                             "(option dicom=true); other cases get a note")
    parser.add_argument("--list-options", action="store_true", help="print the task's options and defaults, then exit")
    parser.add_argument("--bootstrap", type=int, default=2000, metavar="N",
                        help="bootstrap resamples of the cohort evaluation's CIs (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default 0)")
    parser.add_argument("--quiet", action="store_true", help="no progress line")


class _ProgressLine:
    """One terminal line rewritten in place (a plain line per change when the output is not a terminal)."""

    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stdout.isatty()
        self.last = ""
        self.width = 0

    def show(self, text: str) -> None:
        if self.quiet or text == self.last:
            return
        self.last = text
        if self.tty:
            pad = max(0, self.width - len(text))
            print("\r" + text + " " * pad, end="", flush=True)
            self.width = len(text)
        else:
            print(text, flush=True)

    def end(self) -> None:
        if self.tty and not self.quiet and self.last:
            print(flush=True)
            self.last = ""
            self.width = 0


def run(args: argparse.Namespace) -> int:
    from ..core.cohort import run_cohort
    from ..core.cohort.adapters import get_adapter
    from ..core.errors import InvalidInputError
    from .options import parse_option_items

    adapter = get_adapter(args.task)
    if args.list_options:
        print(f"{adapter.name}: {adapter.description}")
        print(f"outputs per case: {adapter.outputs}")
        for k, v in adapter.defaults.items():
            print(f"  {k} = {v!r}")
        return 0
    for flag, value in (("--cohort", args.cohort), ("--out", args.out)):
        if value is None:
            raise InvalidInputError(f"{flag} DIR is required")
    options = parse_option_items(args.option)
    for k in _FLAG_OPTIONS:
        v = getattr(args, k)
        if v is not None:
            if k not in adapter.defaults:
                raise InvalidInputError(f"--{k} does not apply to task {adapter.name!r}; its options: "
                                        + ", ".join(adapter.defaults))
            if k in options:
                raise InvalidInputError(f"--{k} and --option {k}=... both given; give one")
            options[k] = v
    if getattr(args, "dicom_results", False):
        if "dicom" not in adapter.defaults:
            from ..core.cohort.adapters import ADAPTERS

            takers = ", ".join(n for n, a in ADAPTERS.items() if "dicom" in a.defaults)
            raise InvalidInputError(f"--dicom-results does not apply to task {adapter.name!r}; it applies to: {takers}")
        if "dicom" in options:
            raise InvalidInputError("--dicom-results and --option dicom=... both given; give one")
        options["dicom"] = True
    if args.workers < 1:
        raise InvalidInputError(f"--workers must be at least 1, got {args.workers}")
    if args.bootstrap < 1:
        raise InvalidInputError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    if not args.cohort.is_dir():
        raise InvalidInputError(f"--cohort {args.cohort}: no such folder")
    if args.out.exists() and not args.out.is_dir():
        raise InvalidInputError(f"--out {args.out}: is a file; give a folder")
    line = _ProgressLine(args.quiet)
    t0 = time.perf_counter()

    def started(link: str | None) -> None:
        where = (f"a local cluster of {args.workers} worker process(es)" if args.scheduler == "local"
                 else f"the scheduler at {args.scheduler}")
        print(f"napari-medai batch {adapter.name}: {args.cohort} -> {args.out} on {where}", flush=True)
        if link:
            print(f"Dask dashboard: {link}", flush=True)

    def failed_case(rec: dict) -> None:
        if rec.get("status") == "failed" and not args.quiet:
            line.end()
            print(f"case {rec['case']} failed: {rec.get('reason', '')}", flush=True)

    result = run_cohort(
        adapter, args.cohort, out_dir=args.out, client=None if args.scheduler == "local" else args.scheduler,
        workers=args.workers, memory_limit=args.memory_limit, model=args.model, options=options,
        retries=args.retries, on_status=lambda st: line.show(st.line()), on_case=failed_case, on_start=started,
        n_resamples=args.bootstrap, seed=args.seed,
    )
    line.end()
    for note in result.notes:
        print(f"note: {note}")
    print(f"{result.n_done} of {len(result.records)} case(s) done ({result.n_reused} reused from an earlier run), "
          f"{result.n_failed} failed, in {time.perf_counter() - t0:.1f} s")
    if result.workers:
        print("peak memory per worker: " + ", ".join(f"{w} {mb:.0f} MB" for w, mb in sorted(result.workers.items())))
    if result.evaluation is not None:
        from ..core.evaluate import format_summary

        print(format_summary(result.evaluation["summary"], n_cases=len(result.evaluation["cases"])))
    for f in result.files:
        print(f"wrote {f}")
    return 0 if result.n_failed == 0 else 1
