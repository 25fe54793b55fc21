"""The shared benchmark helper (benchmarks/_common.py): conditions, interleaved timing, history lines."""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def common():
    spec = importlib.util.spec_from_file_location("bench_common", ROOT / "benchmarks" / "_common.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_common"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_conditions_name_cores_load_and_versions(common):
    cond = common.conditions()
    assert cond["cores"] >= 1
    assert len(cond["load_avg_start"]) == 3
    assert cond["versions"]["numpy"] not in ("", "-")
    line = common.format_conditions(cond)
    assert "CPU cores" in line and "load average" in line and "numpy" in line


def test_interleaved_runs_in_turns(common):
    calls = []
    timings, outs = common.interleaved([lambda: calls.append("a") or 1, lambda: calls.append("b") or 2], 3)
    assert calls == ["a", "b"] * 3
    assert outs == [1, 2]
    assert all(len(t.seconds) == 3 and t.best <= t.median for t in timings)


def test_record_appends_json_lines(common, tmp_path, capsys):
    ap = argparse.ArgumentParser()
    common.add_record_option(ap)
    hist = tmp_path / "hist.jsonl"
    for k in range(2):
        run = common.start("unit", ap.parse_args(["--record", str(hist)]))
        (t,), _ = common.interleaved([lambda: None], 2)
        run.record(pair=f"p{k}", **t.as_record("ours"))
        run.finish()
    lines = [json.loads(x) for x in hist.read_text().splitlines()]
    assert [x["pair"] for x in lines] == ["p0", "p1"]
    assert lines[0]["bench"] == "unit" and len(lines[0]["ours_ms_all"]) == 2
    assert lines[0]["conditions"]["cores"] >= 1 and len(lines[0]["load_avg"]) == 3
    assert "2 result(s) appended" not in capsys.readouterr().out  # one per run


def test_without_record_nothing_is_written(common, tmp_path):
    run = common.start("unit", argparse.Namespace(record=None), quiet=True)
    run.record(x=1)
    assert run.n_recorded == 0
