"""core.cohort without Dask: finding cases, the content key, options, one case run in this process,
the summary table and the cohort evaluation files."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.cohort import (
    ADAPTERS,
    CASE_RECORD,
    CohortCase,
    case_key,
    execute_case,
    find_image_cases,
    get_adapter,
    summary_rows,
    write_phantom_cohort,
)
from napari_medai.core.cohort.report import case_results, write_cohort_files
from napari_medai.core.cohort.runner import CohortRun, one_line, remove_stale_temporaries
from napari_medai.core.errors import InvalidInputError
from napari_medai.core.io import read_volume, write_volume
from napari_medai.core.io.atomic import atomic_path
from napari_medai.core.metrics.image_quality import image_quality
from napari_medai.core.volume import Volume


def _write(path: Path, data: np.ndarray, *, label: bool = False) -> Path:
    return write_volume(Volume(data, spacing=(1.0,) * data.ndim, is_label=label), path)


def test_find_image_cases_pairs_references_and_dicom_folders(tmp_path, dicom_series_writer):
    _write(tmp_path / "a.nii.gz", np.zeros((2, 8, 8), np.int16))
    _write(tmp_path / "a_assignment.nii.gz", np.zeros((2, 8, 8), np.uint8), label=True)
    _write(tmp_path / "b_image.nrrd", np.zeros((2, 8, 8), np.int16))
    _write(tmp_path / "c_fd.nii.gz", np.zeros((2, 8, 8), np.int16))  # a reference without image: not a case
    (tmp_path / "notes.txt").write_text("not an image")
    dicom_series_writer(tmp_path / "d series", np.zeros((3, 8, 8), np.int16))
    cases = {c.name: c for c in find_image_cases(tmp_path)}
    assert sorted(cases) == ["a", "b", "d_series"]
    assert cases["a"].ground_truth.endswith("a_assignment.nii.gz")
    assert cases["b"].ground_truth is None and cases["b"].inputs["image"].endswith("b_image.nrrd")
    assert Path(cases["d_series"].inputs["image"]).is_dir()
    assert find_image_cases(tmp_path, ground_truth=False)[0].ground_truth is None


def test_a_task_pairs_only_its_own_kind_of_reference(tmp_path):
    # the layout of ../shared/data/ct_chest_noncontrast: a lung-tumour mask beside each CT
    _write(tmp_path / "lung1_image.nrrd", np.zeros((2, 8, 8), np.int16))
    _write(tmp_path / "lung1_label.nrrd", np.zeros((2, 8, 8), np.uint8), label=True)
    _write(tmp_path / "lung2_image.nrrd", np.zeros((2, 8, 8), np.int16))
    _write(tmp_path / "lung2_assignment.nrrd", np.zeros((2, 8, 8), np.uint8), label=True)
    cac = get_adapter("cac")
    cases = cac.find(tmp_path, cac.check_options(None))
    assert [(c.name, c.ground_truth and Path(c.ground_truth).name) for c in cases] == [
        ("lung1", None), ("lung2", "lung2_assignment.nrrd")]  # the tumour mask is no calcium reference
    ldct = get_adapter("denoise")
    assert all(c.ground_truth is None for c in ldct.find(tmp_path, ldct.check_options(None)))


def test_find_image_cases_refuses_two_images_of_one_case(tmp_path):
    _write(tmp_path / "a.nii.gz", np.zeros((2, 4, 4), np.int16))
    _write(tmp_path / "a_ct.nrrd", np.zeros((2, 4, 4), np.int16))
    with pytest.raises(InvalidInputError, match="a.nii.gz and a_ct.nrrd both give case 'a'"):
        find_image_cases(tmp_path)
    with pytest.raises(InvalidInputError, match="no such folder"):
        find_image_cases(tmp_path / "missing")


def test_case_key_follows_inputs_model_and_options(tmp_path):
    f = tmp_path / "x.bin"
    f.write_bytes(b"abc")
    case = CohortCase(name="x", inputs={"image": str(f)})
    k = case_key("denoise", 1, case, options={"method": "tv"})
    assert k == case_key("denoise", 1, case, options={"method": "tv"})
    assert k != case_key("denoise", 1, case, options={"method": "nlm"})
    assert k != case_key("denoise", 2, case, options={"method": "tv"})
    assert k != case_key("denoise", 1, case, options={"method": "tv"}, model="some-model")
    f.write_bytes(b"abd")  # same size, other bytes
    assert k != case_key("denoise", 1, case, options={"method": "tv"})


def test_adapters_refuse_unknown_task_and_option():
    assert set(ADAPTERS) == {"brain-tumour", "stroke", "cac", "denoise", "evaluate"}
    assert get_adapter("brain_tumor").name == "brain-tumour"
    with pytest.raises(InvalidInputError, match="unknown cohort task 'liver'.*brain-tumour"):
        get_adapter("liver")
    with pytest.raises(InvalidInputError, match="task 'cac' has no option colour; its options: .*min_area_mm2"):
        get_adapter("cac").check_options({"colour": 1})
    assert get_adapter("denoise").check_options({"method": "tv"})["method"] == "tv"


def test_one_line_reason():
    assert one_line(InvalidInputError("bad file\nsecond line")) == "bad file"
    assert one_line(ZeroDivisionError("division by zero")) == "ZeroDivisionError: division by zero"
    assert len(one_line(ValueError("x" * 1000))) == 300


def test_stale_temporaries_are_removed_and_nothing_else(tmp_path):
    keep = tmp_path / "result.nii.gz"
    keep.write_bytes(b"done")
    (tmp_path / ".hidden_but_mine.txt").write_text("keep")
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "other.nii.gz", suffix=".tmp.nii.gz") as tmp:
        stale = tmp
        raise RuntimeError  # atomic_path removes its own temporary here ...
    assert not stale.exists()
    (tmp_path / ".result.nii.gz.0123456789ab.tmp.nii.gz").write_bytes(b"half")  # ... a killed process cannot
    assert remove_stale_temporaries(tmp_path) == [".result.nii.gz.0123456789ab.tmp.nii.gz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [".hidden_but_mine.txt", "result.nii.gz"]


def test_execute_case_records_done_and_failed_cases(tmp_path):
    write_phantom_cohort("denoise", tmp_path / "cohort", seeds=(0,), phantom_options={"n_slices": 1, "size": 64})
    (tmp_path / "cohort" / "broken.nii.gz").write_bytes(b"not a nifti file")
    adapter = get_adapter("denoise")
    opts = adapter.check_options({"method": "gaussian"})
    cases = {c.name: c for c in adapter.find(tmp_path / "cohort", opts)}
    assert sorted(cases) == ["broken", "case_000"] and cases["case_000"].ground_truth.endswith("_fd.nii.gz")
    good = execute_case(adapter, cases["case_000"], str(tmp_path / "out" / "case_000"), None, opts, "k1")
    assert good["status"] == "done" and good["outputs"] == {"denoised": "case_000_gaussian.nii.gz"}
    on_disk = json.loads((tmp_path / "out" / "case_000" / CASE_RECORD).read_text())
    assert on_disk["key"] == "k1" and on_disk["worker"]["pid"] > 0
    out = read_volume(tmp_path / "out" / "case_000" / "case_000_gaussian.nii.gz")
    ref = read_volume(cases["case_000"].ground_truth)
    assert out.data.shape == (1, 64, 64)
    expected = image_quality(out.data, ref.data, window=(-160.0, 240.0))  # recomputed from the files
    assert math.isclose(good["figures"]["output_psnr"], expected["psnr"], rel_tol=1e-4)
    assert good["figures"]["output_psnr"] != good["figures"]["input_psnr"]
    bad = execute_case(adapter, cases["broken"], str(tmp_path / "out" / "broken"), None, opts, "k2")
    assert bad["status"] == "failed" and "broken.nii.gz" in bad["reason"] and "\n" not in bad["reason"]
    assert json.loads((tmp_path / "out" / "broken" / CASE_RECORD).read_text())["status"] == "failed"


def test_stroke_case_runs_through_the_task_and_is_evaluated(tmp_path):
    write_phantom_cohort("stroke", tmp_path / "cohort", seeds=(3,))
    adapter = get_adapter("stroke")
    opts = adapter.check_options(None)
    (case,) = adapter.find(tmp_path / "cohort", opts)
    assert set(case.inputs) == {"dwi", "adc", "flair"} and case.ground_truth.endswith("lesion.nii.gz")
    rec = execute_case(adapter, case, str(tmp_path / "out"), None, opts, "k")
    assert rec["status"] == "done", rec["reason"]
    assert rec["report"]["method"] == "threshold-mri" and rec["figures"]["n_lesions"] >= 1
    assert rec["evaluation"]["convention"] == "isles" and rec["figures"]["lesion_dice"] > 0.5
    assert (tmp_path / "out" / "case_003_lesions.nii.gz").is_file()


def _evaluated_records(tmp_path: Path) -> list[dict]:
    write_phantom_cohort("brain-tumour", tmp_path / "cohort", seeds=(0, 1), phantom_options={"shape": (48, 56, 48)})
    adapter = get_adapter("brain-tumour")
    opts = adapter.check_options({"method": "threshold"})
    return [execute_case(adapter, c, str(tmp_path / "out" / "cases" / c.name), None, opts, "k")
            for c in adapter.find(tmp_path / "cohort", opts)]


def test_cohort_files_hold_the_evaluation_with_cis_and_a_figure(tmp_path):
    records = _evaluated_records(tmp_path)
    assert [r["status"] for r in records] == ["done", "done"]
    results = case_results(records)
    assert [r.case for r in results] == ["case_000", "case_001"] and results[0].convention.name == "brats2021"
    assert math.isclose(results[0].regions["WT"]["dice"], records[0]["figures"]["WT_dice"])
    records.append({"case": "case_009", "status": "failed", "reason": "unreadable file", "figures": {}})
    run = CohortRun(task="brain-tumour", out_dir=tmp_path / "out", records=records,
                    summary_csv=tmp_path / "out" / "summary.csv", summary_json=tmp_path / "out" / "summary.json",
                    seconds=1.0)
    write_cohort_files(run, cohort=tmp_path / "cohort", model=None, options={"method": "threshold"}, n_resamples=200)
    names = sorted(p.name for p in run.files)
    assert names == ["evaluation.csv", "evaluation.json", "evaluation.png", "summary.csv", "summary.json"]
    assert (tmp_path / "out" / "evaluation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ev = json.loads((tmp_path / "out" / "evaluation.json").read_text())
    wt = ev["summary"]["WT"]["dice"]
    dice = [r["figures"]["WT_dice"] for r in records[:2]]
    assert wt["n"] == 2 and math.isclose(wt["mean"], sum(dice) / 2) and wt["ci95"][0] <= wt["mean"] <= wt["ci95"][1]
    with open(tmp_path / "out" / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["case"], r["status"]) for r in rows] == [("case_000", "done"), ("case_001", "done"),
                                                       ("case_009", "failed")]
    assert rows[2]["reason"] == "unreadable file" and rows[0]["outputs"] == "case_000_seg.nii.gz"
    doc = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert doc["counts"] == {"done": 2, "failed": 1, "cancelled": 0, "reused": 0}
    assert doc["evaluation"]["n_cases"] == 2 and len(doc["cases"]) == 3
    assert list(doc["workers_peak_rss_mb"].values())[0] > 10  # this process, which ran both cases


def test_summary_rows_take_every_figure_column():
    header, rows = summary_rows([{"case": "a", "status": "done", "figures": {"x": 1.5}},
                                 {"case": "b", "status": "failed", "reason": "r", "figures": {"y": float("nan")}}])
    assert header[-2:] == ["x", "y"]
    assert rows[0][-2:] == [1.5, ""] and rows[1][-2:] == ["", ""]


def test_real_brats_cases_are_found_with_their_labels(shared_data):
    adapter = get_adapter("brain-tumour")
    cases = adapter.find(shared_data / "brats2013_flair_t1c", adapter.check_options(None))
    assert [c.name for c in cases] == [f"brats_2013_pat000{i}_1" for i in (3, 4, 5, 6)]
    assert all(set(c.inputs) == {"flair", "t1c", "brainmask"} and c.ground_truth and c.extra["layout"] == "brats2013"
               for c in cases)
