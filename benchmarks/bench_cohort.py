"""Benchmark of cohort runs on Dask distributed: a 2-worker LocalCluster against one process.

The cohort (at least 20 cases) holds phantoms of every task and the real cases of ``../shared/data``:

* brain tumour: 4 phantoms (the packaged default model, 4 sequences) and the 4 real BraTS 2013
  cases of ``brats2013_flair_t1c`` (FLAIR + T1c only: the weight-free threshold baseline), each
  evaluated against its labels;
* stroke: 3 MRI phantoms, 2 CTA phantoms and the real ISLES'22 case ``isles22_case0009`` (the
  weight-free baseline), evaluated against their masks;
* cardiac CT: 3 phantoms (scored against their reference assignment) and the 2 real chest CTs of
  ``ct_chest_noncontrast`` (automatic assignment);
* low-dose CT: 3 phantom slabs (Gaussian filter, PSNR / SSIM against the full dose).

One ``run_cohort`` per group, all submitted at once to one client (from threads), so the 2 workers
share the whole cohort. Printed figures:

1. the same cases one after another in one process (a fresh process, torch on 1 thread like each
   worker): wall time and the process's peak memory (``ru_maxrss``);
2. the cohort on a 2-worker ``LocalCluster``: cluster start-up, wall time, speed-up, peak memory of
   each worker process;
3. the cohort again on a fresh cluster, one worker killed (SIGKILL) once some cases are done: every
   case must still finish, exactly once (one record and one set of outputs per case, no temporary
   file), with outputs equal to those of run 2 (image arrays, text files).

The machine is shared: the load average is printed with every figure (``benchmarks/_common.py``).

Usage::

    python benchmarks/bench_cohort.py [--work DIR] [--workers 2] [--record FILE] [--skip-sequential]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import shutil
import signal
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import _common

SHARED = _common.ROOT.parent / "shared" / "data"


def build_cohort(work: Path) -> list[dict[str, Any]]:
    """Write the phantom cohorts and link the real cases; the groups to run (task, folder, options)."""
    from napari_medai.core.cohort import write_phantom_cohort

    c = work / "cohorts"
    if c.exists():
        shutil.rmtree(c)
    groups: list[dict[str, Any]] = []
    write_phantom_cohort("brain-tumour", c / "brain_phantoms", seeds=(10, 11, 12, 13))
    groups.append({"task": "brain-tumour", "cohort": c / "brain_phantoms", "options": {"method": "model"}})
    write_phantom_cohort("stroke", c / "stroke_mri", seeds=(10, 11, 12))
    groups.append({"task": "stroke", "cohort": c / "stroke_mri", "options": {}})
    write_phantom_cohort("stroke", c / "stroke_cta", seeds=(10, 11), cta=True)
    groups.append({"task": "stroke", "cohort": c / "stroke_cta", "options": {}})
    write_phantom_cohort("cac", c / "cac", seeds=(10, 11, 12))
    write_phantom_cohort("denoise", c / "ldct", seeds=(10, 11, 12))
    groups.append({"task": "denoise", "cohort": c / "ldct", "options": {"method": "gaussian"}})
    if (SHARED / "brats2013_flair_t1c").is_dir():
        groups.append({"task": "brain-tumour", "cohort": SHARED / "brats2013_flair_t1c",
                       "options": {"method": "threshold"}})
    if (SHARED / "isles22_case0009").is_dir():
        groups.append({"task": "stroke", "cohort": SHARED / "isles22_case0009", "options": {}})
    for i in (1, 2):  # links (never copies) to the real chest CTs, beside the cardiac phantoms
        src = SHARED / "ct_chest_noncontrast" / f"lung{i}_image.nrrd"
        if src.is_file():
            os.symlink(src, c / "cac" / f"chest_lung{i}.nrrd")
    groups.append({"task": "cac", "cohort": c / "cac", "options": {}})
    for i, g in enumerate(groups):
        g["name"] = f"g{i}_{g['task']}_{Path(g['cohort']).name}"
    return groups


def _sequential(groups: list[dict[str, Any]], out: str, queue: Any) -> None:
    """Every case of every group, one after another, in this (fresh) process."""
    import resource

    import torch

    from napari_medai.core.cohort import case_key, execute_case, get_adapter

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    rows = []
    for g in groups:
        adapter = get_adapter(g["task"])
        opts = adapter.check_options(g["options"])
        model = adapter.model_for(None, opts)
        for case in adapter.find(Path(g["cohort"]), opts):
            key = case_key(adapter.name, adapter.version, case, model=model, options=opts)
            rec = execute_case(adapter, case, str(Path(out) / g["name"] / "cases" / case.name), model, opts, key)
            rows.append((g["name"], case.name, rec["status"], rec["seconds"], rec.get("reason", "")))
    queue.put({"wall_s": time.perf_counter() - t0, "rows": rows,
               "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0})


THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS")


def run_sequential(groups: list[dict[str, Any]], out: Path, threads: int = 0) -> dict[str, Any]:
    saved = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    if threads > 0:  # read by the libraries when the fresh process imports them
        os.environ.update({k: str(threads) for k in THREAD_VARIABLES})
    try:
        return _spawn_sequential(groups, out)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def _spawn_sequential(groups: list[dict[str, Any]], out: Path) -> dict[str, Any]:
    ctx = mp.get_context("spawn")
    q = ctx.Queue()
    p = ctx.Process(target=_sequential, args=(groups, str(out), q))
    p.start()
    res = q.get()
    p.join()
    return res


def run_distributed(groups: list[dict[str, Any]], out: Path, workers: int, *,
                    kill_after: int | None = None) -> dict[str, Any]:
    """All groups at once on a fresh LocalCluster; with ``kill_after``, SIGKILL one busy worker then."""
    from napari_medai.core.cohort import run_cohort, start_client

    t0 = time.perf_counter()
    client, cluster = start_client(None, workers=workers, dashboard_address=":0")
    start_s = time.perf_counter() - t0
    finished = []
    lock = threading.Lock()
    killed: dict[str, Any] = {}

    def on_case(rec: dict[str, Any]) -> None:
        with lock:
            finished.append(rec["case"])

    def killer() -> None:
        while len(finished) < kill_after and not killed.get("stop"):
            time.sleep(0.2)
        while not killed.get("stop"):
            busy = {w: keys for w, keys in client.processing().items() if keys}
            if busy:
                addr, keys = next(iter(busy.items()))
                pid = client.run(os.getpid, workers=[addr])[addr]
                os.kill(pid, signal.SIGKILL)
                killed.update(worker=addr, pid=pid, keys=[str(k) for k in keys], after=len(finished),
                              at_s=round(time.perf_counter() - t1, 1))
                return
            time.sleep(0.2)

    t1 = time.perf_counter()
    cpu1 = time.process_time()
    kt = None
    if kill_after is not None:
        kt = threading.Thread(target=killer, daemon=True)
        kt.start()
    try:
        with ThreadPoolExecutor(max_workers=len(groups)) as pool:
            futs = [pool.submit(run_cohort, g["task"], g["cohort"], out_dir=out / g["name"], client=client,
                                options=g["options"], on_case=on_case) for g in groups]
            runs = [f.result() for f in futs]
        wall = time.perf_counter() - t1
        main_cpu = time.process_time() - cpu1
    finally:
        killed["stop"] = True
        if kt is not None:
            kt.join()
        client.close()
        cluster.close()
    workers_peak: dict[str, float] = {}
    for r in runs:
        for w, mb in r.workers.items():
            workers_peak[w] = max(workers_peak.get(w, 0.0), mb)
    return {"start_s": start_s, "wall_s": wall, "main_cpu_s": main_cpu, "runs": runs, "workers_peak_mb": workers_peak,
            "killed": {k: v for k, v in killed.items() if k != "stop"}}


_TEMPORARY = re.compile(r"^\..+\.[0-9a-f]{12}(\..*)?$")


def check_killed_run(reference: dict[str, Any], killed: dict[str, Any], out_ref: Path, out_kill: Path) -> dict[str, Any]:
    """Every case finished exactly once in the killed run, with the reference run's outputs."""
    import numpy as np

    from napari_medai.core.io import read_volume

    ref = {(r.task, Path(r.out_dir).name, rec["case"]): rec for r in reference["runs"] for rec in r.records}
    got = {(r.task, Path(r.out_dir).name, rec["case"]): rec for r in killed["runs"] for rec in r.records}
    problems = []
    if set(ref) != set(got):
        problems.append(f"case sets differ: {sorted(set(ref) ^ set(got))}")
    retried = sorted(k[2] for k, rec in got.items() if rec.get("attempt", 1) > 1)
    same = 0
    for k, rec in got.items():
        if rec["status"] != ref.get(k, {}).get("status"):
            problems.append(f"{k}: {rec['status']} here, {ref.get(k, {}).get('status')} undisturbed")
        folder_k = out_kill / k[1] / "cases" / k[2]
        folder_r = out_ref / k[1] / "cases" / k[2]
        records = list(folder_k.glob("case.json"))
        if len(records) != 1:
            problems.append(f"{k}: {len(records)} records")
        for name in (rec.get("outputs") or {}).values():
            a, b = folder_k / name, folder_r / name
            if name.endswith((".nii.gz", ".nrrd", ".mha")):
                equal = np.array_equal(read_volume(a).data, read_volume(b).data)
            else:
                equal = a.read_text() == b.read_text()
            same += int(equal)
            if not equal:
                problems.append(f"{k}: {name} differs from the undisturbed run")
    temporaries = [str(p) for p in out_kill.rglob("*") if _TEMPORARY.match(p.name)]
    if temporaries:
        problems.append(f"temporary files left: {temporaries}")
    return {"problems": problems, "retried": retried, "outputs_equal": same,
            "n_cases": len(got), "n_done": sum(1 for r in got.values() if r["status"] == "done")}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("/tmp/napari-medai-bench-cohort"), metavar="DIR",
                    help="working folder (cohort phantoms, outputs); emptied first")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--skip-sequential", action="store_true", help="leave out the one-process run")
    ap.add_argument("--sequential-only", action="store_true", help="only the one-process run")
    ap.add_argument("--sequential-threads", type=int, default=0, metavar="N",
                    help="limit the one-process run's OpenMP / BLAS / ITK threads to N, as Dask limits each worker "
                         "to its one thread (default 0: the libraries' own defaults)")
    _common.add_record_option(ap)
    args = ap.parse_args()
    bench = _common.start("cohort", args, packages=(*_common.PACKAGES, "dask", "distributed"))
    work = args.work
    work.mkdir(parents=True, exist_ok=True)
    for sub in ("seq", "dist", "kill"):
        shutil.rmtree(work / sub, ignore_errors=True)
    groups = build_cohort(work)
    from napari_medai.core.cohort import get_adapter

    n_cases = {g["name"]: len(get_adapter(g["task"]).find(Path(g["cohort"]),
                                                          get_adapter(g["task"]).check_options(g["options"])))
               for g in groups}
    total = sum(n_cases.values())
    print(f"cohort: {total} cases in {len(groups)} groups: "
          + ", ".join(f"{k} {v}" for k, v in n_cases.items()), flush=True)

    def load() -> str:
        return " ".join(f"{x:.2f}" for x in _common.load_average())

    seq = None
    if not args.skip_sequential:
        seq = run_sequential(groups, work / "seq", args.sequential_threads)
        failed = [r for r in seq["rows"] if r[2] != "done"]
        limit = f" ({args.sequential_threads} thread(s) per library)" if args.sequential_threads else ""
        print(f"one process{limit}, one case after another: {seq['wall_s']:.1f} s for {len(seq['rows'])} cases "
              f"({len(failed)} failed), peak memory {seq['peak_rss_mb']:.0f} MB  [load {load()}]", flush=True)
        for g, c, st, s, reason in seq["rows"]:
            print(f"    {g:<44} {c:<28} {st:<6} {s:7.2f} s {reason}")
        bench.record(run="sequential", threads=args.sequential_threads, cases=len(seq["rows"]),
                     wall_s=round(seq["wall_s"], 2),
                     failed=len(failed), peak_rss_mb=round(seq["peak_rss_mb"], 1))
    if args.sequential_only:
        bench.finish()
        return 0
    dist = run_distributed(groups, work / "dist", args.workers)
    done = sum(r.n_done for r in dist["runs"])
    failed_d = [(r.task, c, why) for r in dist["runs"] for c, why in r.failed()]
    speed = f", speed-up x{seq['wall_s'] / dist['wall_s']:.2f} over one process" if seq else ""
    print(f"{args.workers}-worker LocalCluster: start-up {dist['start_s']:.1f} s, cohort {dist['wall_s']:.1f} s for "
          f"{done + len(failed_d)} cases ({len(failed_d)} failed){speed}  [load {load()}]", flush=True)
    for t, c, why in failed_d:
        print(f"    failed: {t} {c}: {why}")
    print("    peak memory per worker: " + ", ".join(f"{w} {mb:.0f} MB"
                                                    for w, mb in sorted(dist["workers_peak_mb"].items())))
    case_s = sorted((rec["seconds"], r.task, rec["case"]) for r in dist["runs"] for rec in r.records
                    if rec.get("seconds") is not None)
    print(f"    sum of case times in the workers {sum(c[0] for c in case_s):.1f} s (one process: "
          f"{sum(r[3] for r in seq['rows']):.1f} s)" if seq else
          f"    sum of case times in the workers {sum(c[0] for c in case_s):.1f} s")
    print(f"    CPU time of this process (client and scheduler) during the run: {dist['main_cpu_s']:.1f} s")
    bench.record(run="distributed", workers=args.workers, cases=done + len(failed_d), start_s=round(dist["start_s"], 2),
                 wall_s=round(dist["wall_s"], 2), failed=len(failed_d), main_cpu_s=round(dist["main_cpu_s"], 2),
                 case_s_sum=round(sum(c[0] for c in case_s), 2),
                 speedup=None if seq is None else round(seq["wall_s"] / dist["wall_s"], 3),
                 workers_peak_mb=dist["workers_peak_mb"])
    kill_after = max(2, total // 4)
    kill = run_distributed(groups, work / "kill", args.workers, kill_after=kill_after)
    check = check_killed_run(dist, kill, work / "dist", work / "kill")
    k = kill["killed"]
    print(f"run with a worker killed: SIGKILL to {k.get('worker')} (pid {k.get('pid')}) after {k.get('after')} "
          f"cases, {k.get('at_s')} s in, while it held {k.get('keys')}; cohort {kill['wall_s']:.1f} s, "
          f"{check['n_done']}/{check['n_cases']} done, retried: {check['retried']}, {check['outputs_equal']} "
          f"output files equal to the undisturbed run, problems: {check['problems'] or 'none'}  [load {load()}]",
          flush=True)
    notes = [n for r in kill["runs"] for n in r.notes]
    for n in notes:
        print(f"    note: {n}")
    bench.record(run="worker-killed", workers=args.workers, wall_s=round(kill["wall_s"], 2), killed=k,
                 n_done=check["n_done"], n_cases=check["n_cases"], retried=check["retried"],
                 outputs_equal=check["outputs_equal"], problems=check["problems"])
    bench.finish()
    return 0 if not check["problems"] and k else 1


if __name__ == "__main__":
    sys.exit(main())
