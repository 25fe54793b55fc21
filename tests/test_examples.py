"""The examples run as written."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_evaluate_segmentation_example(tmp_path):
    res = subprocess.run([sys.executable, str(EXAMPLES / "evaluate_segmentation.py"), str(tmp_path)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    doc = json.loads((tmp_path / "agreement.json").read_text())
    assert doc["cases"][0]["case"] == "phantom-seed3"
    assert "WT" in res.stdout and (tmp_path / "agreement.csv").stat().st_size > 0


def test_default_model_on_phantoms_example():
    res = subprocess.run([sys.executable, str(EXAMPLES / "default_model_on_phantoms.py"), "--seeds", "0"],
                         capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    rows = [ln for ln in res.stdout.splitlines() if ln.startswith("| 0 |")]
    assert [r.split("|")[2].strip() for r in rows] == ["network", "baseline"]
    assert "synthetic brain-tumour phantoms" in res.stdout
