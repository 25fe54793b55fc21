"""The cohort simulator: planted volume changes equal the request, ex vacuo CSF, seeding, the cohort folder."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks.alzheimer.cohort import (
    ATROPHY_FACTORS,
    MUSE_CODES,
    SourceScan,
    load_sources,
    plant_atrophy,
    simulate_cohort,
    simulate_subject,
)
from napari_medai.core.volume import Volume

SPACING = (2.0, 2.0, 2.0)
#: Tolerances of the planted change, in fractional volume (stated in the cohort module's notes).
CALIBRATION_TOL = 0.005  # the calibrated partial-volume measure
LABEL_TOL = 0.01  # voxel counts of the written parcellation (about one voxel of the smallest region)


def _ellipsoid(shape, centre, radii):
    g = np.indices(shape, dtype=float)
    return sum(((g[k] - centre[k]) / radii[k]) ** 2 for k in range(3)) <= 1.0


def synthetic_source(name: str = "synth", *, shift: int = 0) -> SourceScan:
    """A 2 mm 'brain' (array axes z, y, x; x = left-right) with MUSE-coded medial temporal regions."""
    shape = (36, 48, 44)
    lab = np.zeros(shape, np.uint8)
    lab[_ellipsoid(shape, (18, 24, 22), (16, 22, 20))] = 81  # white matter stand-in
    c = 22 + shift
    for side, sx in (("right", -1), ("left", 1)):
        x = c + sx * 10
        lab[_ellipsoid(shape, (24, 22, c + sx * 4), (5, 8, 2.2))] = MUSE_CODES["lateral_ventricle"][side]
        lab[_ellipsoid(shape, (13, 25, x), (3, 8, 3))] = MUSE_CODES["hippocampus"][side]
        lab[_ellipsoid(shape, (13, 15, x), (3, 3, 3))] = MUSE_CODES["amygdala"][side]
        lab[_ellipsoid(shape, (9, 22, x - sx), (2, 6, 3))] = MUSE_CODES["entorhinal"][side]
        lab[_ellipsoid(shape, (16, 27, x + sx * 3), (1.5, 4, 1.5))] = MUSE_CODES["inferior_lateral_ventricle"][side]
    t1 = np.where(lab == 81, 1000.0, 0.0)
    t1[np.isin(lab, [47, 48, 116, 117, 31, 32])] = 650.0
    t1[np.isin(lab, [49, 50, 51, 52])] = 200.0
    geo = {"spacing": SPACING, "origin": (0.0, 0.0, 0.0)}
    return SourceScan(name=name, t1=Volume(t1.astype(np.float32), **geo), labels=Volume(lab, **geo, is_label=True))


@pytest.fixture(scope="module")
def source() -> SourceScan:
    return synthetic_source()


@pytest.mark.parametrize("severity", [0.1, 0.2, 0.3])
def test_planted_volume_change_equals_the_request(source, severity):
    lab0 = source.labels.data
    t1, lab, planted = plant_atrophy(source.t1.data, lab0, severity, SPACING)
    assert t1.shape == lab.shape == lab0.shape
    for region, factor in ATROPHY_FACTORS.items():
        for side, code in MUSE_CODES[region].items():
            want = factor * severity
            measured = (lab == code).sum() / (lab0 == code).sum() - 1.0  # counted here, on the label map
            assert abs(measured - want) <= LABEL_TOL, (region, side, measured, want)
            entry = planted.regions[f"{side}_{region}"]
            assert abs(entry["achieved"] - want) <= CALIBRATION_TOL and entry["requested"] == pytest.approx(want)
    assert planted.min_jacobian > 0.2


def test_vacated_tissue_becomes_csf_of_the_temporal_horn(source):
    lab0, t0 = source.labels.data, source.t1.data
    t1, lab, planted = plant_atrophy(t0, lab0, 0.25, SPACING)
    for side in ("left", "right"):
        mtl = [MUSE_CODES[r][side] for r in ("hippocampus", "entorhinal", "amygdala")]
        ilv = MUSE_CODES["inferior_lateral_ventricle"][side]
        lost = int(np.isin(lab0, mtl).sum() - np.isin(lab, mtl).sum())
        gained = int((lab == ilv).sum() - (lab0 == ilv).sum())
        assert lost > 0 and gained == pytest.approx(lost, rel=0.1)
        new_csf = (lab == ilv) & np.isin(lab0, mtl)
        assert t1[new_csf].mean() < 0.5 * 650  # darker than the tissue it replaced (CSF 200)
        assert planted.ex_vacuo_ml[side] == pytest.approx(gained * 8 / 1000, abs=1e-3)


def test_bad_requests_are_refused(source):
    with pytest.raises(InvalidInputError, match="severity must be in"):
        plant_atrophy(source.t1.data, source.labels.data, 0.6, SPACING)
    no_hippo = np.where(np.isin(source.labels.data, [47, 48]), 81, source.labels.data).astype(np.uint8)
    with pytest.raises(InvalidInputError, match="no MUSE hippocampus"):
        plant_atrophy(source.t1.data, no_hippo, 0.2, SPACING)


def test_subjects_are_seeded_and_vary(source):
    a = simulate_subject(source, severity=0.2, seed=3)
    b = simulate_subject(source, severity=0.2, seed=3)
    c = simulate_subject(source, severity=0.2, seed=4)
    np.testing.assert_array_equal(a.t1.data, b.t1.data)
    np.testing.assert_array_equal(a.labels.data, b.labels.data)
    assert not np.array_equal(a.t1.data, c.t1.data)
    assert a.t1.same_grid(source.t1) and a.labels.is_label
    assert a.facts["planted"]["severity"] == 0.2 and simulate_subject(source, seed=1).facts["planted"] is None


def test_cohort_folder_labels_manifest_and_source_grouping(tmp_path):
    sources = [synthetic_source(f"s{i}", shift=i - 1) for i in range(3)]
    res = simulate_cohort(tmp_path / "c", n_subjects=6, severity=0.15, seed=7, sources=sources)
    rows = list(csv.DictReader((tmp_path / "c" / "labels.csv").open()))
    assert [r["subject"] for r in rows] == [f"sub-{i:04d}" for i in range(6)]
    assert sum(r["diagnosis"] == "AD" for r in rows) == 3
    for r in rows:
        assert (tmp_path / "c" / "t1" / f"{r['subject']}.nii.gz").is_file()
        assert (tmp_path / "c" / "dlmuse" / f"{r['subject']}.nii.gz").is_file()
        sev = float(r["severity"])
        assert (sev == 0) == (r["diagnosis"] == "NC") and sev <= 0.15 * 1.4 + 1e-9
    by_dx = {dx: {r["source"] for r in rows if r["diagnosis"] == dx} for dx in ("AD", "NC")}
    assert len(by_dx["AD"]) == 3 and len(by_dx["NC"]) == 3  # round-robin: every source in both groups
    man = json.loads((tmp_path / "c" / "manifest.json").read_text())
    assert man["seed"] == 7 and man["model"]["muse_codes"]["hippocampus"] == {"right": 47, "left": 48}
    assert [s["subject"] for s in man["subjects"]] == [r["subject"] for r in rows]
    again = simulate_cohort(tmp_path / "d", n_subjects=6, severity=0.15, seed=7, sources=sources)
    assert again.rows == res.rows
    with pytest.raises(InvalidInputError, match="not empty"):
        simulate_cohort(tmp_path / "c", n_subjects=2, severity=0.1, sources=sources)


def test_cohort_options_are_checked_before_work(tmp_path):
    with pytest.raises(InvalidInputError, match="n_subjects"):
        simulate_cohort(tmp_path, n_subjects=1, severity=0.1, sources=[])
    with pytest.raises(InvalidInputError, match="severity must be in"):
        simulate_cohort(tmp_path, n_subjects=4, severity=0.5, sources=[])
    with pytest.raises(InvalidInputError, match="no T1 scans"):
        load_sources(tmp_path)


def test_real_scan_planted_change(shared_data):
    root = shared_data / "brain_t1_ixi"
    if not root.is_dir():
        pytest.skip("brain_t1_ixi is not in the shared data")
    src = load_sources(root)
    assert len(src) == 10
    s = src[0]
    lab0 = s.labels.data
    _, lab, _ = plant_atrophy(s.t1.data, lab0, 0.2, s.t1.spacing)
    for region, factor in ATROPHY_FACTORS.items():
        for code in MUSE_CODES[region].values():
            assert abs((lab == code).sum() / (lab0 == code).sum() - 1.0 - 0.2 * factor) <= LABEL_TOL
