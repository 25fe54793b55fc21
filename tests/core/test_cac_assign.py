"""Automatic artery assignment: the heuristic on the cardiac phantom and on a real CT, the model hook."""

from __future__ import annotations

import time
import warnings

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError, MedaiError, MedaiWarning
from napari_medai.core.phantoms import make_phantom
from napari_medai.core.tasks.cac import (
    METHOD_HEURISTIC,
    auto_assign,
    find_candidates,
    score,
    sector,
    territory_angle,
)
from napari_medai.core.volume import Volume


@pytest.mark.parametrize("seed", [0, 1])
def test_heuristic_assigns_every_phantom_plaque_correctly(seed):
    ph = make_phantom("cardiac_ct", seed=seed)
    ct, gt = ph["ct"], ph["assignment"]
    cand, _ = find_candidates(ct)
    auto = auto_assign(ct, cand)
    assert auto.meta["method"] == METHOD_HEURISTIC
    scored = (gt.data > 0) & (cand.data > 0)  # ground-truth calcium that is a candidate (not the speck)
    confusion = np.zeros((6, 6), dtype=int)
    np.add.at(confusion, (gt.data[scored], auto.data[scored]), 1)
    assert np.trace(confusion) == confusion.sum(), f"wrong artery for some plaque voxels:\n{confusion}"
    assert not np.any(auto.data[gt.data == 0]), "bone or soft tissue assigned to an artery"
    # hence the scores of the automatic assignment equal the designed ones
    res = score(ct, auto)
    exp = gt.meta["expected"]
    for key in ("total", "LM", "LAD", "LCX", "RCA"):
        assert res.agatston[key] == pytest.approx(exp["agatston"][key], rel=1e-12)
    assert res.category == exp["risk_category"]
    assert res.non_coronary["lesion_count"] == exp["non_coronary"]["lesion_count"]


def test_sectors_and_angles():
    assert sector(-80) == "LAD" and sector(-30) == "LCX" and sector(60) == "LCX"
    assert sector(-150) == "RCA" and sector(170) == "RCA"
    ct = Volume(data=np.zeros((3, 10, 10)), spacing=(3.0, 1.0, 1.0))
    # column + = patient left, row - = anterior (identity direction)
    assert territory_angle(ct, (1, 5, 8), (1, 5, 5)) == pytest.approx(0.0)
    assert territory_angle(ct, (1, 2, 5), (1, 5, 5)) == pytest.approx(-90.0)
    assert territory_angle(ct, (1, 5, 2), (1, 5, 5)) == pytest.approx(180.0)
    flipped = ct.with_data(ct.data, direction=np.diag([1.0, 1.0, -1.0]))  # columns run to the right
    assert territory_angle(flipped, (1, 5, 2), (1, 5, 5)) == pytest.approx(0.0)


def test_model_hook_majority_vote_and_checks():
    ph = make_phantom("cardiac_ct", seed=2)
    ct, gt = ph["ct"], ph["assignment"]
    cand, _ = find_candidates(ct)

    def territory(ct_: Volume, cand_: Volume) -> Volume:
        return gt  # a "model" that knows the answer: every group takes its voxels' code

    territory.name = "oracle"
    a = auto_assign(ct, cand, model=territory)
    assert a.meta["method"] == "model: oracle"
    m = cand.data > 0
    assert np.array_equal(a.data[m], gt.data[m])
    with pytest.raises(InvalidInputError, match="CT grid"):
        auto_assign(ct, cand, model=lambda c, k: np.zeros((2, 2, 2), np.uint8))
    with pytest.raises(InvalidInputError, match="codes 0-5"):
        auto_assign(ct, cand, model=lambda c, k: np.full(c.spatial_shape, 9, np.int16))


def test_heuristic_needs_lungs():
    data = np.full((3, 40, 40), -1000, dtype=np.int16)
    data[:, 5:35, 5:35] = 40
    data[1, 20:23, 20:23] = 400
    ct = Volume(data=data, spacing=(3.0, 5.0, 5.0), modality="CT", units="HU")  # a water box of 200 ml
    cand, _ = find_candidates(ct)
    with pytest.raises(MedaiError, match="no lungs"):
        auto_assign(ct, cand)


@pytest.mark.realdata
def test_real_chest_ct_runs_and_calls_some_calcium_coronary(shared_file):
    from napari_medai.core.io import read_volume

    ct = read_volume(shared_file("ct_chest_noncontrast/lung2_image.nrrd"))
    t0 = time.perf_counter()
    cand, lesions = find_candidates(ct)
    auto = auto_assign(ct, cand)
    elapsed = time.perf_counter() - t0
    counts = auto.meta["group_counts"]
    coronary = sum(counts[k] for k in ("LM", "LAD", "LCX", "RCA"))
    # lung2 has heavy, plainly visible coronary calcium (right and left atrioventricular grooves,
    # left main region); bone is by far the largest group of candidates and must stay unassigned
    assert coronary >= 5
    assert counts["unassigned"] > coronary
    assert elapsed < 60
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MedaiWarning)
        res = score(ct, auto)
    assert res.slice_factor == pytest.approx(5.0 / 3.0)
    assert res.total > 400 and res.category == ">400"


@pytest.mark.realdata
def test_real_ct_example_script_writes_the_figure(shared_file, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "examples" / "cac_real_ct.py"
    ct = shared_file("ct_chest_noncontrast/lung1_image.nrrd")
    out = tmp_path / "lung1.png"
    res = subprocess.run([sys.executable, str(script), str(ct), str(out), "--json", str(tmp_path / "r.json")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "coronary groups:" in res.stdout and "5 mm, not the 3 mm" in res.stderr
    assert 10_000 < out.stat().st_size < 300_000
    assert (tmp_path / "r.json").stat().st_size > 0


def test_heuristic_follows_the_direction_matrix():
    """The same phantom stored head-to-feet with columns running to the patient's right: same answer."""
    ph = make_phantom("cardiac_ct", seed=0)
    ct, gt = ph["ct"], ph["assignment"]
    k, _, c = ct.spatial_shape
    origin = tuple(ct.index_to_world(np.array([k - 1, 0, c - 1])))
    flip = np.diag([-1.0, 1.0, -1.0])
    ct2 = ct.with_data(ct.data[::-1, :, ::-1].copy(), direction=flip, origin=origin)
    gt2 = gt.with_data(gt.data[::-1, :, ::-1].copy(), direction=flip, origin=origin)
    cand, _ = find_candidates(ct2)
    auto = auto_assign(ct2, cand)
    m = (gt2.data > 0) & (cand.data > 0)
    assert np.array_equal(auto.data[m], gt2.data[m])
    assert not np.any(auto.data[gt2.data == 0])
