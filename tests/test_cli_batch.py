"""``napari-medai batch`` end to end, on a running 2-worker scheduler (its address) and on its own
local cluster."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from napari_medai.cli import main
from napari_medai.core.cohort import write_phantom_cohort

pytest.importorskip("distributed")


@pytest.fixture
def ldct_cohort(tmp_path) -> Path:
    write_phantom_cohort("denoise", tmp_path / "cohort", seeds=(0, 1, 2), phantom_options={"n_slices": 1, "size": 64})
    return tmp_path / "cohort"


def _one_line_error(capsys, argv) -> str:
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert len(err.splitlines()) == 1 and err.startswith("napari-medai batch: error: "), err
    return err


def test_batch_on_a_scheduler_address_then_resumes(ldct_cohort, tmp_path, scheduler, capsys):
    out = tmp_path / "out"
    argv = ["batch", "denoise", "--cohort", str(ldct_cohort), "--out", str(out), "--scheduler", scheduler,
            "--method", "tv", "--option", "weight=40"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert f"on the scheduler at {scheduler}" in text and "Dask dashboard: http://" in text
    assert "3/3 done, 0 failed, 0 running" in text  # the progress line's last state (not a terminal: one line each)
    assert "3 of 3 case(s) done (0 reused from an earlier run), 0 failed" in text
    assert f"wrote {out / 'summary.csv'}" in text
    with open(out / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["case"], r["status"], r["outputs"]) for r in rows] == [
        (f"case_00{i}", "done", f"case_00{i}_tv.nii.gz") for i in range(3)]
    assert all(float(r["output_psnr"]) > 0 for r in rows)
    record = json.loads((out / "cases" / "case_001" / "case.json").read_text())
    assert record["options"]["options"] == {"weight": 40} and record["report"]["parameters"]["weight"] == 40
    assert main(argv) == 0  # the same command again: nothing to do
    assert "3 of 3 case(s) done (3 reused from an earlier run)" in capsys.readouterr().out


def test_batch_reports_a_failed_case_and_exits_1(ldct_cohort, tmp_path, scheduler, capsys):
    (ldct_cohort / "broken.nii.gz").write_bytes(b"not an image")
    rc = main(["batch", "denoise", "--cohort", str(ldct_cohort), "--out", str(tmp_path / "out"),
               "--scheduler", scheduler, "--quiet"])
    text = capsys.readouterr().out
    assert rc == 1
    assert "3 of 4 case(s) done" in text and "1 failed" in text
    with open(tmp_path / "out" / "summary.csv", newline="") as fh:
        status = {r["case"]: r["status"] for r in csv.DictReader(fh)}
    assert status == {"broken": "failed", "case_000": "done", "case_001": "done", "case_002": "done"}


def test_batch_on_its_own_local_cluster(tmp_path, capsys):
    write_phantom_cohort("denoise", tmp_path / "cohort", seeds=(5,), phantom_options={"n_slices": 1, "size": 64})
    rc = main(["batch", "denoise", "--cohort", str(tmp_path / "cohort"), "--out", str(tmp_path / "out"),
               "--workers", "1", "--memory-limit", "2GB"])
    text = capsys.readouterr().out
    assert rc == 0, text
    assert "on a local cluster of 1 worker process(es)" in text and "Dask dashboard: http://" in text
    assert "peak memory per worker: tcp://" in text and (tmp_path / "out" / "cases" / "case_005").is_dir()


def test_batch_lists_a_task_options(capsys):
    assert main(["batch", "cac", "--list-options"]) == 0
    text = capsys.readouterr().out
    assert "min_area_mm2 = 1.0" in text and "slice_correction = 'scale'" in text


def test_batch_bad_input_is_one_line_before_any_work(ldct_cohort, tmp_path, capsys):
    out = str(tmp_path / "out")
    err = _one_line_error(capsys, ["batch", "cac", "--cohort", str(ldct_cohort), "--out", out, "--option", "colour=1"])
    assert "task 'cac' has no option colour" in err
    err = _one_line_error(capsys, ["batch", "cac", "--cohort", str(ldct_cohort), "--out", out, "--gt", out])
    assert "--gt does not apply to task 'cac'" in err
    err = _one_line_error(capsys, ["batch", "cac", "--cohort", str(ldct_cohort), "--out", out, "--model", "m"])
    assert "uses no model" in err
    assert "--out DIR is required" in _one_line_error(capsys, ["batch", "cac", "--cohort", str(ldct_cohort)])
    assert "no such folder" in _one_line_error(capsys, ["batch", "cac", "--cohort", out + "/x", "--out", out])
    err = _one_line_error(capsys, ["batch", "denoise", "--cohort", str(ldct_cohort), "--out", out, "--option", "x"])
    assert "write it as KEY=VALUE" in err
    err = _one_line_error(capsys, ["batch", "evaluate", "--cohort", str(ldct_cohort), "--out", out])
    assert "needs the reference folder: give --gt DIR" in err
    err = _one_line_error(capsys, ["batch", "stroke", "--cohort", str(ldct_cohort), "--out", out, "--method", "model"])
    assert "stroke method 'model' needs --model MODEL_DIR" in err
    err = _one_line_error(capsys, ["batch", "denoise", "--cohort", str(ldct_cohort), "--out", out, "--model", "w.pt"])
    assert "method 'gaussian' uses no weights" in err
    err = _one_line_error(capsys, ["batch", "brain-tumour", "--cohort", str(ldct_cohort), "--out", out,
                                   "--method", "threshold", "--model", "m"])
    assert "the threshold baseline uses no model" in err
    assert not (tmp_path / "out").exists()
