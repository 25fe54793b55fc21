"""How long the GUI thread stops processing events in each step of each widget journey.

Runs the journey tests (``tests/napari/test_journey_*.py``: widgets opened from the Plugins menu, data
from File > Open / Open Sample, buttons clicked) with a 5 ms QTimer on the GUI thread
(``tests/napari/journey.py``: :class:`GapMonitor`). For every step (open a sample or file, open a widget,
click a button, ...) it prints the longest gap between two timer ticks, i.e. the longest time the viewer
could not repaint or react, and the step's duration. Target: no gap over 200 ms, apart from napari's own
first canvas draw (the first ``open`` step of a test).

A step's window holds only what the user's action causes: the test's own work (``check: ...`` windows:
reference computations, screenshots, assertions) and the fixture closing the viewer (``teardown: ...``)
are timed too, and printed apart after the user's steps, so nothing is hidden.

    .venv/bin/python benchmarks/bench_gui_latency.py [-k EXPR] [--limit-ms 200] [--record FILE]

Prints the machine's cores, load average and versions first. ``--record FILE`` appends one JSON line
per step with those conditions, so a regression shows up as a step in the history.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def conditions() -> dict:
    import importlib.metadata as md

    def ver(name: str) -> str:
        try:
            return md.version(name)
        except md.PackageNotFoundError:
            return "-"

    return {
        "cores": os.cpu_count(),
        "load_avg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "napari": ver("napari"),
        "torch": ver("torch"),
        "monai": ver("monai"),
        "PySide6": ver("PySide6-Essentials") if ver("PySide6-Essentials") != "-" else ver("PySide6"),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-k", default="", help="pytest -k expression to run some journeys only")
    ap.add_argument("--limit-ms", type=float, default=200.0, help="gap that counts as a freeze (default 200)")
    ap.add_argument("--record", default="", help="append the results as JSON lines to this file")
    args = ap.parse_args(argv)

    cond = conditions()
    print(f"machine: {cond['cores']} cores, load average {cond['load_avg']}, python {cond['python']}, "
          f"napari {cond['napari']}, PySide6 {cond['PySide6']}, torch {cond['torch']}, monai {cond['monai']}")
    journeys = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "tests" / "napari").glob("test_journey_*.py"))
    if not journeys:
        print("no journey tests found under tests/napari/")
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "gaps.jsonl"
        env = dict(os.environ, MEDAI_GUI_GAPS=str(out))
        cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *journeys]
        if args.k:
            cmd += ["-k", args.k]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - t0
        summary = [line for line in proc.stdout.splitlines() if line.strip()][-1:] or ["(no output)"]
        print(f"journeys: {summary[0]} ({wall:.0f} s)")
        if proc.returncode not in (0, 5):
            print(proc.stdout[-3000:])
        rows = [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []

    if not rows:
        print("no steps were timed")
        return 1
    for r in rows:
        r.setdefault("kind", "user")
    user = [r for r in rows if r["kind"] == "user"]
    # the first 'open' of a file or sample in each test draws napari's canvas for the first time
    first_open: set[int] = set()
    seen: set[str] = set()
    for i, r in enumerate(rows):
        if r["kind"] == "user" and r["test"] not in seen and r["step"].startswith("open ") \
                and not r["step"].startswith("open widget"):
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
        print(f"  {r['step']:<{width}}  longest gap {r['max_gap_ms']:8.1f} ms   step {r['step_s']:7.2f} s{note}")
    for kind, title in (("test", "The tests' own work (checks, reference computations, screenshots)"),
                        ("teardown", "Fixture teardown (the viewer closes)")):
        apart = [r for r in rows if r["kind"] == kind]
        if not apart:
            continue
        print(f"\n{title}: not charged to a user step")
        for r in apart:
            print(f"  {r['test'].split('::')[-1][:60]:<60}  {r['step'][:40]:<40}  longest gap "
                  f"{r['max_gap_ms']:8.1f} ms   step {r['step_s']:7.2f} s")
        worst = max(apart, key=lambda r: r["max_gap_ms"])
        print(f"  {len(apart)} windows, {sum(r['max_gap_ms'] > args.limit_ms for r in apart)} over "
              f"{args.limit_ms:.0f} ms, worst {worst['max_gap_ms']:.1f} ms")
    excepted = [rows[i] for i in first_open if rows[i]["max_gap_ms"] > args.limit_ms]
    worst = max((r for i, r in enumerate(rows) if r["kind"] == "user" and i not in first_open),
                key=lambda r: r["max_gap_ms"], default=None)
    print(f"\n{len(user)} user steps; {over} over {args.limit_ms:.0f} ms ({len(excepted)} first canvas draws "
          f"excepted, worst {max((r['max_gap_ms'] for r in excepted), default=0):.1f} ms)"
          + (f"; worst {worst['max_gap_ms']:.1f} ms in {worst['test']} / {worst['step']}" if worst else ""))
    print(f"load average at the end {[round(x, 2) for x in os.getloadavg()]}")
    if args.record:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with open(args.record, "a", encoding="utf-8") as f:
            for r in rows:
                f.write(json.dumps({"bench": "gui_latency", "time": stamp, **cond, **r}) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
