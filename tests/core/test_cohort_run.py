"""run_cohort on a real 2-worker Dask LocalCluster of processes (one cluster for the module).

The test adapter below counts its executions (one marker file per call) and can fail, or kill its
worker process (``os._exit``) half-way through an atomic write, so the tests see what Dask and the
runner do with a dead worker: the case is retried elsewhere and completed, or marked failed after
its retries, and nothing half-written or duplicated is left.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

import pytest

from napari_medai.core.callbacks import Cancelled
from napari_medai.core.cohort import (
    CASE_RECORD,
    CaseOutput,
    CohortCase,
    TaskAdapter,
    run_cohort,
    start_client,
)
from napari_medai.core.errors import InvalidInputError
from napari_medai.core.io.atomic import atomic_path

pytest.importorskip("distributed")


def _find_text_cases(folder: Path, options) -> list[CohortCase]:
    return [CohortCase(name=p.stem, inputs={"image": str(p)}, extra={"mode": p.stem.split("-")[0]})
            for p in sorted(folder.glob("*.txt"))]


def _run_text_case(case: CohortCase, folder: Path, model, options, progress) -> CaseOutput:
    counter = Path(options["counter"])
    (counter / f"{case.name}.{uuid.uuid4().hex}.ran").touch()  # one marker per execution
    mode = case.extra["mode"]
    if mode == "fail":
        raise InvalidInputError(f"case {case.name}: refused on purpose")
    out = folder / f"{case.name}.out"
    with atomic_path(out) as tmp:
        tmp.write_text("half")  # a dying worker leaves this temporary file behind
        if mode == "dieonce" and not (counter / f"{case.name}.died").exists():
            (counter / f"{case.name}.died").touch()
            os._exit(1)
        if mode == "die":
            os._exit(1)
        tmp.write_text(Path(case.inputs["image"]).read_text() + " processed")
    return CaseOutput(outputs={"text": out.name}, figures={"chars": len(out.read_text())})


TEXT = TaskAdapter(name="text", description="test adapter", find=_find_text_cases, run=_run_text_case,
                   defaults={"counter": None, "tag": 0}, outputs="NAME.out", takes_model=False)


@pytest.fixture(scope="module")
def client():
    client, cluster = start_client(None, workers=2, dashboard_address=":0")
    yield client
    client.close()
    cluster.close()


def _cohort(tmp_path: Path, names: list[str]) -> tuple[Path, Path]:
    cohort = tmp_path / "cohort"
    cohort.mkdir()
    for n in names:
        (cohort / f"{n}.txt").write_text(f"text of {n}")
    counter = tmp_path / "counter"
    counter.mkdir()
    return cohort, counter


def _runs(counter: Path) -> dict[str, int]:
    out: dict[str, int] = {}
    for p in counter.glob("*.ran"):
        name = p.name.split(".")[0]
        out[name] = out.get(name, 0) + 1
    return out


def _left_files(out: Path) -> list[str]:
    return sorted(str(p.relative_to(out)) for p in out.rglob("*") if p.is_file())


def test_every_case_done_and_the_summary_lists_them(tmp_path, client):
    cohort, counter = _cohort(tmp_path, ["ok-a", "ok-b", "ok-c", "ok-d"])
    seen = []
    run = run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options={"counter": str(counter)},
                     on_case=lambda rec: seen.append(rec["case"]))
    assert run.n_done == 4 and run.n_failed == 0 and sorted(seen) == ["ok-a", "ok-b", "ok-c", "ok-d"]
    assert (tmp_path / "out" / "cases" / "ok-c" / "ok-c.out").read_text() == "text of ok-c processed"
    pids = {r["worker"]["pid"] for r in run.records}
    assert os.getpid() not in pids  # the cases ran in the worker processes
    doc = json.loads(run.summary_json.read_text())
    assert [c["case"] for c in doc["cases"]] == ["ok-a", "ok-b", "ok-c", "ok-d"]
    assert doc["counts"]["done"] == 4 and set(doc["workers_peak_rss_mb"]) <= set(client.nthreads())
    assert run.summary_csv.read_text().splitlines()[0].startswith("case,status,reason,attempt")
    assert client.status == "running"  # a client given is left open


def test_a_failing_case_is_recorded_and_the_run_goes_on(tmp_path, client):
    cohort, counter = _cohort(tmp_path, ["fail-x", "ok-a", "ok-b"])
    run = run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options={"counter": str(counter)})
    assert [(r["case"], r["status"]) for r in run.records] == [("fail-x", "failed"), ("ok-a", "done"), ("ok-b", "done")]
    assert run.failed() == [("fail-x", "case fail-x: refused on purpose")]
    assert "fail-x,failed,case fail-x: refused on purpose" in run.summary_csv.read_text()
    assert json.loads((tmp_path / "out" / "cases" / "fail-x" / CASE_RECORD).read_text())["status"] == "failed"


def test_a_rerun_skips_done_cases_and_reruns_what_changed(tmp_path, client):
    cohort, counter = _cohort(tmp_path, ["ok-a", "ok-b", "ok-c", "fail-x"])
    opts = {"counter": str(counter)}
    run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options=opts)
    assert _runs(counter) == {"ok-a": 1, "ok-b": 1, "ok-c": 1, "fail-x": 1}
    again = run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options=opts)
    assert _runs(counter) == {"ok-a": 1, "ok-b": 1, "ok-c": 1, "fail-x": 2}  # only the failed case ran again
    assert again.n_reused == 3 and [r["reused"] for r in again.records] == [False, True, True, True]
    (cohort / "ok-b.txt").write_text("new text")  # changed input
    (tmp_path / "out" / "cases" / "ok-c" / "ok-c.out").unlink()  # lost output
    run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options=opts)
    assert _runs(counter) == {"ok-a": 1, "ok-b": 2, "ok-c": 2, "fail-x": 3}
    run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options={**opts, "tag": 1})  # new options
    assert _runs(counter) == {"ok-a": 2, "ok-b": 3, "ok-c": 3, "fail-x": 4}


def test_a_killed_worker_has_its_case_retried_and_nothing_is_duplicated(tmp_path, client):
    cohort, counter = _cohort(tmp_path, ["dieonce-k", "ok-a", "ok-b", "ok-c"])
    run = run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options={"counter": str(counter)},
                     retries=2)
    assert run.n_done == 4 and run.n_failed == 0
    killed = next(r for r in run.records if r["case"] == "dieonce-k")
    assert killed["attempt"] == 2 and any("dieonce-k: its worker died (KilledWorker)" in n for n in run.notes)
    assert _runs(counter) == {"dieonce-k": 2, "ok-a": 1, "ok-b": 1, "ok-c": 1}
    assert [r["attempt"] for r in run.records if r["case"] != "dieonce-k"] == [1, 1, 1]  # no case paid for it
    # one output and one record per case, no temporary file left by the killed write
    assert _left_files(tmp_path / "out") == sorted(
        [f"cases/{n}/{n}.out" for n in ("dieonce-k", "ok-a", "ok-b", "ok-c")]
        + [f"cases/{n}/{CASE_RECORD}" for n in ("dieonce-k", "ok-a", "ok-b", "ok-c")]
        + ["summary.csv", "summary.json"])
    assert (tmp_path / "out" / "cases" / "dieonce-k" / "dieonce-k.out").read_text() == "text of dieonce-k processed"


def test_a_case_that_always_kills_its_worker_fails_after_its_retries(tmp_path, client):
    cohort, counter = _cohort(tmp_path, ["die-z", "ok-a"])
    run = run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options={"counter": str(counter)},
                     retries=1)
    (dead,) = [r for r in run.records if r["status"] == "failed"]
    assert dead["case"] == "die-z" and dead["attempt"] == 2
    assert dead["reason"].startswith("the worker died 2 time(s) while running this case (KilledWorker)")
    assert _runs(counter)["die-z"] == 2 and run.n_done == 1
    assert next(r for r in run.records if r["case"] == "ok-a")["attempt"] == 1
    assert _left_files(tmp_path / "out" / "cases" / "die-z") == [CASE_RECORD]  # no half-written output


def test_stop_cancels_what_is_left_and_keeps_what_is_done(tmp_path, client):
    cohort, counter = _cohort(tmp_path, [f"ok-{i}" for i in range(6)])
    finished = []
    with pytest.raises(Cancelled, match="run again to resume"):
        run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options={"counter": str(counter)},
                   on_case=lambda rec: finished.append(rec["case"]), should_stop=lambda: len(finished) >= 1)
    doc = json.loads((tmp_path / "out" / "summary.json").read_text())
    statuses = [c["status"] for c in doc["cases"]]
    assert statuses.count("done") >= 1 and set(statuses) <= {"done", "cancelled"}
    assert doc["counts"]["done"] + doc["counts"]["cancelled"] == 6


def test_bad_requests_fail_before_any_work(tmp_path, client):
    cohort, counter = _cohort(tmp_path, ["ok-a"])
    with pytest.raises(InvalidInputError, match="has no option colour"):
        run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, options={"colour": 1})
    with pytest.raises(InvalidInputError, match="uses no model"):
        run_cohort(TEXT, cohort, out_dir=tmp_path / "out", client=client, model="m", options={"counter": "c"})
    with pytest.raises(InvalidInputError, match="is the cohort folder"):
        run_cohort(TEXT, cohort, out_dir=cohort, client=client, options={"counter": str(counter)})
    with pytest.raises(InvalidInputError, match="needs the reference folder: give --gt"):
        run_cohort("evaluate", cohort, out_dir=tmp_path / "out", client=client)
    assert _runs(counter) == {} and not (tmp_path / "out").exists()


def _label_folders(tmp_path: Path) -> tuple[Path, Path]:
    import numpy as np

    from napari_medai.core.io import write_volume
    from napari_medai.core.volume import Volume

    rng = np.random.default_rng(0)
    for i in range(3):
        gt = np.zeros((12, 16, 16), np.uint8)
        gt[3:9, 4:12, 4:12] = 1
        gt[5:7, 6:10, 6:10] = 2
        pred = gt.copy()
        pred[rng.random(gt.shape) < 0.05 * (i + 1)] = 0  # a different error per case
        for folder, data, suffix in (("pred", pred, "_pred"), ("gt", gt, "_seg")):
            write_volume(Volume(data, spacing=(2.0, 1.0, 1.0), is_label=True),
                         tmp_path / folder / f"case{i}{suffix}.nii.gz")
    return tmp_path / "pred", tmp_path / "gt"


def test_evaluate_cohort_gives_the_evaluate_summary_with_cis_and_figure(tmp_path, client):
    from napari_medai.core.cohort.adapters import make_convention
    from napari_medai.core.evaluate import evaluate_volumes, summarize_cases
    from napari_medai.core.io import read_volume

    pred, gt = _label_folders(tmp_path)
    (pred / "extra_pred.nii.gz").write_bytes((pred / "case0_pred.nii.gz").read_bytes())  # no reference
    run = run_cohort("evaluate", pred, out_dir=tmp_path / "out", client=client,
                     options={"gt": str(gt), "regions": "inner=2;all=1,2"}, n_resamples=200)
    assert [(r["case"], r["status"]) for r in run.records] == [("case0", "done"), ("case1", "done"),
                                                               ("case2", "done"), ("extra", "failed")]
    assert "no reference file of this name in the --gt folder" in run.failed()[0][1]
    assert [p.name for p in run.files] == ["summary.csv", "summary.json", "evaluation.json", "evaluation.csv",
                                           "evaluation.png"]
    # the same numbers as evaluating the pairs here, one after another
    direct = [evaluate_volumes(read_volume(pred / f"case{i}_pred.nii.gz", as_label=True),
                               read_volume(gt / f"case{i}_seg.nii.gz", as_label=True),
                               convention=make_convention(None, "inner=2;all=1,2"), case=f"case{i}")
              for i in range(3)]
    expected = summarize_cases(direct, n_resamples=200)
    ev = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    for region in ("inner", "all"):
        got, want = ev["summary"][region]["dice"], expected[region]["dice"]
        assert got["n"] == 3 and got["mean"] == pytest.approx(want["mean"])
        assert got["ci95"] == pytest.approx(want["ci95"])
    assert (tmp_path / "out" / "evaluation.png").read_bytes()[:4] == b"\x89PNG"
