"""How long the GUI thread stops processing events in each step of each widget journey.

Runs the journey tests (``tests/napari/test_journey_*.py``: widgets opened from the Plugins menu, data
from File > Open / Open Sample, buttons clicked) with a 5 ms QTimer on the GUI thread
(``tests/napari/journey.py``: :class:`GapMonitor`). For every step (open a sample or file, open a widget,
click a button, ...) it prints the longest gap between two timer ticks, i.e. the longest time the viewer
could not repaint or react, and the step's duration. Target: no gap over 200 ms, apart from napari's own
first canvas draw (the step that puts the first layer into a test's viewer).

A step's window holds only what the user's action causes: the test's own work (``check: ...`` windows:
reference computations, screenshots, assertions) and the fixture closing the viewer (``teardown: ...``)
are timed too, and printed apart after the user's steps, so nothing is hidden.

Each journey file runs in its own Python process, as one napari session per widget (the calcium journeys
do not hold torch and MONAI unless they load them; no test's leftovers slow the next file's). A step whose
freeze is mostly Python's full garbage collection says so: napari runs ``gc.collect()`` whenever it removes
a layer (and so when the viewer closes), and its length grows with all the process holds.

    .venv/bin/python benchmarks/bench_gui_latency.py [FILE ...] [-k EXPR] [--limit-ms 200] [--record FILE] [--profile DIR]

Prints the machine's cores, load average and versions first. ``--record FILE`` appends one JSON line
per step with those conditions, so a regression shows up as a step in the history.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _common  # noqa: E402


def _gc_note(row: dict) -> str:
    """'(full gc 180 ms)' when a full garbage collection (napari's, on removing a layer) took part of the step."""
    longest = row.get("gc_max_ms", 0.0)
    return f"  (full gc {longest:.0f} ms)" if longest >= 20 else ""


def _why(row: dict, top_profile: list[str]) -> list[str]:
    """Lines that say where a slow step's time went: the GUI thread's CPU time, the garbage collections,
    the functions the GUI thread was sampled in while it froze (and cProfile's, with --profile)."""
    gens = ", ".join(f"gen{g} {n}x {ms:.0f} ms" for g, (n, ms) in
                     enumerate(zip(row.get("gc_n", [0, 0, 0]), row.get("gc_ms_gen", [0, 0, 0]))) if n)
    lines = [f"      GUI-thread CPU: longest gap {row.get('max_gap_cpu_ms', 0):.0f} ms of its "
             f"{row['max_gap_ms']:.0f} ms wall, step {row.get('cpu_ms', 0):.0f} ms; "
             f"gc {gens or 'none'}" + (f" (worker threads' {row['gc_worker_ms']:.0f} ms)"
                                        if row.get("gc_worker_ms", 0) >= 1 else "")]
    n = row.get("samples", 0)
    for title, key in (("frozen in", "top_self"), ("our code", "top_ours")):
        top = row.get(key) or []
        if n and top:
            lines.append(f"      {title}: " + "; ".join(f"{where} {100 * k / n:.0f}%" for where, k in top))
    if top_profile:
        lines.append("      cProfile (tottime): " + "; ".join(top_profile))
    return lines


def _profile_top(path: str, n: int = 5) -> list[str]:
    """The ``n`` functions with the most own time in a step's cProfile stats (empty without --profile)."""
    if not path or not Path(path).exists():
        return []
    import pstats

    stats = pstats.Stats(path).stats  # {(file, line, func): (cc, nc, tottime, cumtime, callers)}
    top = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]
    return [f"{Path(f).name}:{func} {1000 * tt:.0f} ms" for (f, _line, func), (_cc, _nc, tt, _ct, _c) in top]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="*", help="journey files to run (default: every tests/napari/test_journey_*.py)")
    ap.add_argument("-k", default="", help="pytest -k expression to run some journeys only")
    ap.add_argument("--limit-ms", type=float, default=200.0, help="gap that counts as a freeze (default 200)")
    _common.add_record_option(ap)
    ap.add_argument("--profile", default="", metavar="DIR",
                    help="run each user step under cProfile and write its stats to DIR (slower: for finding "
                         "where a freeze comes from, not for the figures)")
    args = ap.parse_args(argv)

    run = _common.start("gui_latency", args, packages=(*_common.PACKAGES, "PySide6-Essentials", "PySide6"))
    journeys = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "napari").glob("test_journey_*.py"))
    if args.files:
        journeys = [str(Path(f).resolve().relative_to(ROOT)) for f in args.files]
    if not journeys:
        print("no journey tests found under tests/napari/")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gaps.jsonl"
        env = dict(os.environ, MEDAI_GUI_GAPS=str(out))
        if args.profile:
            env["MEDAI_GUI_PROFILE"] = str(Path(args.profile).resolve())
        for journey in journeys:  # one process (one napari session) per journey file
            cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", journey]
            if args.k:
                cmd += ["-k", args.k]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
            wall = time.perf_counter() - t0
            if proc.returncode == 5:  # -k selected nothing in this file
                continue
            summary = [line for line in proc.stdout.splitlines() if line.strip()][-1:] or ["(no output)"]
            print(f"{journey}: {summary[0]} ({wall:.0f} s, load {os.getloadavg()[0]:.2f})")
            if proc.returncode != 0:
                print(proc.stdout[-3000:])
        rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    if not rows:
        print("no steps were timed")
        return 1
    for r in rows:
        r.setdefault("kind", "user")
    user = [r for r in rows if r["kind"] == "user"]
    # the step that puts the first layer into a test's viewer includes napari's first canvas draw
    first_open: set[int] = set()
    seen: set[str] = set()
    for i, r in enumerate(rows):
        if r["kind"] == "user" and r["test"] not in seen and r.get("layers_before") == 0 \
                and r.get("layers_after", 0) > 0:
            first_open.add(i)
            seen.add(r["test"])
    width = max(len(r["step"]) for r in rows)
    over = 0
    current = ""
    print("\nUser steps (the target applies here):")
    for i, r in enumerate(rows):
        if r["kind"] != "user":
            continue
        if r["test"] != current:
            current = r["test"]
            print(f"\n{current}")
        note = ""
        if r["max_gap_ms"] > args.limit_ms:
            if i in first_open:
                note = "  (first canvas draw)"
            else:
                note = "  OVER"
                over += 1
        print(f"  {r['step']:<{width}}  longest gap {r['max_gap_ms']:8.1f} ms (CPU {r.get('max_gap_cpu_ms', 0):6.1f})"
              f"   step {r['step_s']:7.2f} s{note}" + _gc_note(r))
        if r["max_gap_ms"] > args.limit_ms or r.get("max_cpu_gap_ms", 0) > args.limit_ms:
            print("\n".join(_why(r, _profile_top(r.get("profile", "")))))
    for kind, title in (("test", "The tests' own work (checks, reference computations, screenshots)"),
                        ("teardown", "Fixture teardown (the viewer closes)")):
        apart = [r for r in rows if r["kind"] == kind]
        if not apart:
            continue
        print(f"\n{title}: not charged to a user step")
        for r in apart:
            print(f"  {r['test'].split('::')[-1][:60]:<60}  {r['step'][:40]:<40}  longest gap "
                  f"{r['max_gap_ms']:8.1f} ms   step {r['step_s']:7.2f} s" + _gc_note(r))
        worst = max(apart, key=lambda r: r["max_gap_ms"])
        print(f"  {len(apart)} windows, {sum(r['max_gap_ms'] > args.limit_ms for r in apart)} over "
              f"{args.limit_ms:.0f} ms, worst {worst['max_gap_ms']:.1f} ms")
    excepted = [rows[i] for i in first_open if rows[i]["max_gap_ms"] > args.limit_ms]
    worst = max((r for i, r in enumerate(rows) if r["kind"] == "user" and i not in first_open),
                key=lambda r: r["max_gap_ms"], default=None)
    charged = [r for i, r in enumerate(rows) if r["kind"] == "user" and i not in first_open]
    over_cpu = sum(r.get("max_cpu_gap_ms", 0) > args.limit_ms for r in charged)
    over_gc = sum(r["max_gap_ms"] > args.limit_ms and r.get("gc_max_ms", 0) >= 0.5 * r["max_gap_ms"]
                  for r in charged)
    print(f"\n{len(user)} user steps; {over} over {args.limit_ms:.0f} ms ({len(excepted)} first canvas draws "
          f"excepted, worst {max((r['max_gap_ms'] for r in excepted), default=0):.1f} ms)"
          + (f"; worst {worst['max_gap_ms']:.1f} ms in {worst['test']} / {worst['step']}" if worst else ""))
    print(f"  counted in the GUI thread's CPU time (what the load does not inflate): {over_cpu} over "
          f"{args.limit_ms:.0f} ms; {over_gc} of the {over} are at least half a full garbage collection")
    print(f"  full garbage collections in user steps: {sum(r.get('gc_n', [0, 0, 0])[2] for r in user)}, "
          f"longest {max((r.get('gc_max_ms', 0) for r in user), default=0):.0f} ms")
    print("  load average at the end: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()))
    for r in rows:
        run.record(**r)
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
