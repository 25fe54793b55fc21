"""The incremental scoring session and the candidate index equal a full re-score / ``reassign`` exactly."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks import cac

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "ct_chest_noncontrast"


@functools.lru_cache(maxsize=1)
def _phantom():
    from napari_medai.core.phantoms import make_phantom

    return make_phantom("cardiac_ct", seed=0)


def _full(ct, codes, **kw):
    return cac.score(ct, ct.with_data(codes, is_label=True), warn=False, **kw)


def test_session_starts_equal_to_score():
    p = _phantom()
    session = cac.ScoringSession(p["ct"], p["assignment"])
    assert session.result == cac.score(p["ct"], p["assignment"], warn=False)
    assert session.result.total == pytest.approx(p["assignment"].meta["expected"]["agatston"]["total"])


def test_edits_rescore_only_their_slices_and_equal_a_full_rescore():
    p = _phantom()
    ct = p["ct"]
    codes = np.array(p["assignment"].data, dtype=np.uint8)
    session = cac.ScoringSession(ct, codes, min_area_mm2=1.0, calibration_factor=0.0008)
    rng = np.random.default_rng(3)
    for step in range(12):
        k = int(rng.integers(0, codes.shape[0]))
        r, c = (int(v) for v in rng.integers(0, 240, size=2))
        codes[k, r:r + 30, c:c + 30] = int(rng.integers(0, 6))  # a brush stroke on one slice
        if step % 3 == 0:
            got = session.update(codes)  # slices found by comparison
        else:
            got = session.update(codes, slices=[k])
        assert got == _full(ct, codes, min_area_mm2=1.0, calibration_factor=0.0008)
    assert session.changed_slices(codes).size == 0


def test_click_region_equals_reassign_and_the_session_follows():
    p = _phantom()
    ct = p["ct"]
    cand, _ = cac.find_candidates(ct)
    assignment = cac.auto_assign(ct, cand)
    index = cac.CandidateIndex(cand)
    session = cac.ScoringSession(ct, assignment)
    codes = np.array(assignment.data, copy=True)
    lad = next(les for les in session.result.lesions if les.artery == "LAD")
    expected = cac.reassign(assignment, cand, lad.centroid, "RCA")
    region, edit = index.region(lad.centroid)
    assert edit == {k: expected.meta["last_edit"][k] for k in ("candidate", "candidates", "group", "voxels")}
    codes[region] = cac.CODES["RCA"]
    np.testing.assert_array_equal(codes, np.asarray(expected.data))
    got = session.update(codes, slices=cac.touched_slices(region))
    assert got == cac.score(ct, expected, warn=False)
    assert got.agatston["RCA"] > cac.score(ct, assignment, warn=False).agatston["RCA"]


def test_session_refuses_bad_codes_and_shapes():
    p = _phantom()
    session = cac.ScoringSession(p["ct"], p["assignment"])
    codes = np.array(p["assignment"].data, dtype=np.uint8)
    codes[3, 0, 0] = 9
    with pytest.raises(InvalidInputError, match="outside 0-5"):
        session.update(codes, slices=[3])
    with pytest.raises(InvalidInputError, match="shape"):
        session.update(codes[:2])


def test_uncalibrated_mass_is_labelled_and_calibration_converts():
    p = _phantom()
    raw = cac.score(p["ct"], p["assignment"], warn=False)
    assert not raw.mass_calibrated and raw.mass_unit == "HU·mm³"
    f = cac.calibration_factor_from_phantom(0.75)  # mg/cm^3 per HU -> mg per HU.mm^3
    assert f == 0.00075
    cal = cac.score(p["ct"], p["assignment"], warn=False, calibration_factor=f)
    assert cal.mass_unit == "mg"
    assert cal.mass_mg["LM"] == pytest.approx(raw.mass_mg["LM"] * 0.00075, rel=1e-12)


@pytest.mark.realdata
def test_session_equals_score_on_real_ct():
    path = DATA / "lung2_image.nrrd"
    if not path.is_file():
        pytest.skip(f"real CT not present ({path})")
    from napari_medai.core.io import read_volume

    ct = read_volume(path)
    cand, _ = cac.find_candidates(ct)
    assignment = cac.auto_assign(ct, cand)
    session = cac.ScoringSession(ct, assignment)
    assert session.result == cac.score(ct, assignment, warn=False)
    index = cac.CandidateIndex(cand)
    les = next(x for x in session.result.lesions if x.artery == "RCA")
    region, _ = index.region(les.centroid)
    codes = np.array(assignment.data, copy=True)
    codes[region] = cac.CODES["LAD"]
    assert session.update(codes, slices=cac.touched_slices(region)) == cac.score(
        ct, assignment.with_data(codes), warn=False)
