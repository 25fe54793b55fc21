"""The napari-medai command line: help, info, demo, and one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import nibabel as nib
import numpy as np

from napari_medai.cli import main


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "napari_medai.cli", *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as exc:
        assert exc.code == 0
    out = capsys.readouterr().out
    for cmd in ("info", "demo", "evaluate"):
        assert cmd in out


def test_info_reports_versions_and_device(capsys):
    assert main(["info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["packages"]["nibabel"] == nib.__version__
    assert info["device"]["device"] in ("cpu", "cuda")
    assert "summary" in info["device"]


def test_demo_headless_writes_outputs(tmp_path):
    out = tmp_path / "demo"
    res = _cli("demo", "--headless", "--out", str(out), env={**os.environ})
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads((out / "metrics.json").read_text())
    # the shipped network, which says what it learnt from
    assert doc["model"].startswith("brain-tumour-default") and "phantoms" in doc["model"]
    regions = doc["cases"][0]["regions"]
    assert set(regions) == {"WT", "TC", "ET"}
    assert 0.5 < regions["WT"]["dice"] <= 1.0
    pred = nib.load(str(out / "prediction.nii.gz"))
    gt = nib.load(str(out / "inputs" / "seg.nii.gz"))
    np.testing.assert_allclose(pred.affine, gt.affine)
    png = (out / "screenshot.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000


def test_demo_can_run_the_weight_free_baseline():
    from napari_medai.commands.demo import BASELINE, run_case

    job = run_case("brain_tumour", seed=0, model=BASELINE)
    assert job["model"].startswith("threshold-baseline (no trained model)")
    assert 0.5 < job["result"].regions["WT"]["dice"] <= 1.0


def test_demo_headless_without_out_is_a_one_line_error():
    res = _cli("demo", "--headless")
    assert res.returncode == 2
    assert "--out" in res.stderr and "Traceback" not in res.stderr


def test_unreadable_input_is_a_one_line_error(tmp_path):
    bad = tmp_path / "truncated_seg.nii.gz"
    bad.write_bytes(b"\x1f\x8b\x08\x00" + b"0" * 50)
    res = _cli("evaluate", "--pred", str(bad), "--gt", str(bad))
    assert res.returncode != 0
    assert "Traceback" not in res.stderr
    assert "truncated_seg.nii.gz" in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_a_closed_pipe_is_not_an_error():
    """`napari-medai info | head -1` (as CI's setup does) must not end in a BrokenPipeError."""
    proc = subprocess.Popen([sys.executable, "-m", "napari_medai.cli", "info"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()  # the reader goes away after one line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert first.startswith(b"napari-medai") and "Traceback" not in err
