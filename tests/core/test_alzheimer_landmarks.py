"""Landmark discovery: the greedy spacing rule, the group comparison, the cohort checks, the alignment."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.io import write_volume
from napari_medai.core.tasks.alzheimer.landmarks import (
    CohortSubject,
    align_cohort,
    discover_landmarks,
    group_comparison,
    landmarks_csv,
    read_cohort,
    select_landmarks,
)
from napari_medai.core.tasks.alzheimer.registration import coarse_template
from napari_medai.core.volume import Volume
from tests.core.test_alzheimer_registration import affine_lps, synthetic_subject, synthetic_template

# MNI-like grid: array axes (S, P, L) with the template's orientation (x right, y anterior, z up)
DIRECTION = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])


def _grid(shape=(20, 20, 20), spacing=2.0, origin=(-20.0, 20.0, 20.0)) -> Volume:
    return Volume(np.zeros(shape, np.float32), spacing=(spacing,) * 3, origin=origin, direction=DIRECTION)


def test_two_close_minima_only_the_stronger_survives_at_its_exact_position():
    grid = _grid()
    p = np.full(grid.spatial_shape, 0.5)
    t = np.zeros(grid.spatial_shape, np.float32)
    p[5, 5, 5], t[5, 5, 5] = 1e-6, -6.0  # strongest
    p[5, 5, 8], t[5, 5, 8] = 1e-4, -4.0  # 6 mm away
    p[15, 14, 3], t[15, 14, 3] = 1e-3, 3.0  # far away
    lms = select_landmarks(p, t, grid, n=2, min_distance_mm=10.0)
    assert [lm.index for lm in lms] == [(5, 5, 5), (15, 14, 3)]
    assert [lm.rank for lm in lms] == [1, 2]
    assert lms[0].p_value == 1e-6 and lms[0].t == -6.0 and lms[1].t == 3.0
    # world (S, P, L) = origin + direction @ (2 * index); MNI x = -L, y = -P, z = S
    assert lms[0].mni_mm == (-(20.0 - 10.0), -(20.0 - 10.0), -20.0 + 10.0)
    assert lms[1].mni_mm == (-(20.0 - 6.0), -(20.0 - 28.0), -20.0 + 30.0)
    # a spacing under 6 mm keeps both close minima, in order of significance
    close = select_landmarks(p, t, grid, n=2, min_distance_mm=5.9)
    assert [lm.index for lm in close] == [(5, 5, 5), (5, 5, 8)]
    # every pair of a larger selection respects the rule
    many = select_landmarks(p, t, grid, n=30, min_distance_mm=9.0)
    pts = np.array([lm.mni_mm for lm in many])
    d = np.linalg.norm(pts[:, None] - pts[None], axis=-1) + np.eye(len(pts)) * 1e9
    assert len(many) == 30 and d.min() >= 9.0


def test_ties_in_p_go_to_the_larger_t_and_the_mask_limits_candidates():
    grid = _grid((6, 6, 6))
    p = np.full(grid.spatial_shape, 1e-3)
    t = np.zeros(grid.spatial_shape, np.float32)
    t[1, 1, 1], t[4, 4, 4] = 2.0, -5.0
    assert select_landmarks(p, t, grid, n=1, min_distance_mm=0)[0].index == (4, 4, 4)
    mask = np.zeros(grid.spatial_shape, bool)
    mask[1, 1, 1] = mask[0, 0, 0] = True
    got = select_landmarks(p, t, grid, mask=mask, n=5, min_distance_mm=1.0)
    assert [lm.index for lm in got] == [(1, 1, 1), (0, 0, 0)]  # fewer than asked: the mask holds two


def test_selection_refuses_bad_options():
    grid = _grid((4, 4, 4))
    p = np.full(grid.spatial_shape, 0.5)
    t = np.zeros(grid.spatial_shape, np.float32)
    with pytest.raises(InvalidInputError, match="at least 1"):
        select_landmarks(p, t, grid, n=0)
    with pytest.raises(InvalidInputError, match="minimum distance"):
        select_landmarks(p, t, grid, min_distance_mm=-1)
    with pytest.raises(InvalidInputError, match="differ"):
        select_landmarks(p[:3], t[:3], grid)


def _planted_cohort(n: int = 8, seed: int = 0, shape=(16, 18, 16)):
    """``n`` noisy volumes, half AD with a darker blob at index (8, 6, 10): (data, diagnoses, mask)."""
    rng = np.random.default_rng(seed)
    dx = ["AD", "NC"] * (n // 2)
    zz, yy, xx = np.indices(shape)
    blob = np.exp(-((zz - 8) ** 2 + (yy - 6) ** 2 + (xx - 10) ** 2) / (2 * 1.5**2))
    data = []
    for d in dx:
        img = 100.0 + 2.0 * rng.standard_normal(shape)
        if d == "AD":
            img -= 30.0 * blob
        data.append(img.astype(np.float32))
    mask = np.zeros(shape, bool)
    mask[1:-1, 1:-1, 1:-1] = True
    return data, dx, mask


def test_group_comparison_finds_the_planted_difference_and_is_deterministic():
    data, dx, mask = _planted_cohort()
    grid = _grid((16, 18, 16))
    maps = group_comparison(data, dx, mask, grid.spacing, fwhm_mm=4.0)
    assert maps.n_ad == 4 and maps.n_nc == 4
    assert np.all(maps.p[~mask] == 1.0) and np.all(maps.t[~mask] == 0)
    top = select_landmarks(maps.p, maps.t, grid, mask=maps.mask, n=3, min_distance_mm=8.0)
    # with 4 subjects per group the variance estimate moves the peak of t by up to one voxel
    assert np.abs(np.subtract(top[0].index, (8, 6, 10))).max() <= 1 and top[0].t < 0 and top[0].p_value < 1e-4
    again = group_comparison(data, dx, mask, grid.spacing, fwhm_mm=4.0)
    np.testing.assert_array_equal(maps.p, again.p)
    assert landmarks_csv(top) == landmarks_csv(
        select_landmarks(again.p, again.t, grid, mask=again.mask, n=3, min_distance_mm=8.0))
    # Welch's t at one voxel equals scipy's on the same smoothed, scaled values (no smoothing here)
    from scipy import stats

    raw = group_comparison(data, dx, mask, grid.spacing, fwhm_mm=0.0)
    vals = [d[8, 6, 10] / d[mask].mean() for d in data]
    ref = stats.ttest_ind([v for v, g in zip(vals, dx) if g == "AD"], [v for v, g in zip(vals, dx) if g == "NC"],
                          equal_var=False)
    assert raw.t[8, 6, 10] == pytest.approx(ref.statistic, rel=1e-4)
    assert raw.p[8, 6, 10] == pytest.approx(ref.pvalue, rel=1e-3)


def test_group_comparison_refuses_one_diagnosis():
    data, _, mask = _planted_cohort(4)
    with pytest.raises(InvalidInputError, match="at least 2 of each"):
        group_comparison(data, ["AD"] * 4, mask, (2.0,) * 3)


def _write_cohort(root: Path, data, dx, grid: Volume, *, skip: set[str] = frozenset()) -> Path:
    rows = []
    for i, (d, g) in enumerate(zip(data, dx)):
        name = f"sub-{i:02d}"
        if name not in skip:
            write_volume(grid.with_data(d), root / "t1" / f"{name}.nii.gz")
        rows.append({"subject": name, "diagnosis": g})
    labels = root / "labels.csv"
    with labels.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["subject", "diagnosis"])
        w.writeheader()
        w.writerows(rows)
    return labels


def test_read_cohort_refuses_bad_labels_in_one_line(tmp_path):
    data, dx, _ = _planted_cohort(4)
    grid = _grid((16, 18, 16))
    labels = _write_cohort(tmp_path / "c", data, dx, grid, skip={"sub-01", "sub-03"})
    with pytest.raises(InvalidInputError, match=r"no T1 for 2 subject\(s\).*sub-01, sub-03") as e:
        read_cohort(tmp_path / "c", labels)
    assert "\n" not in str(e.value)
    labels = _write_cohort(tmp_path / "d", data, ["AD"] * 4, grid)
    with pytest.raises(InvalidInputError, match="4 AD and 0 NC"):
        read_cohort(tmp_path / "d", labels)
    bad = tmp_path / "bad.csv"
    for text, msg in (("subject,age\nsub-00,70\n", "needs a 'subject' and a 'diagnosis'"),
                      ("subject,diagnosis\nsub-00,MCI\n", "diagnosis 'MCI'"),
                      ("subject,diagnosis\nsub-00,AD\nsub-00,NC\n", "appears twice"),
                      ("subject,diagnosis\n,AD\n", "no subject id")):
        bad.write_text(text)
        with pytest.raises(InvalidInputError, match=msg):
            read_cohort(tmp_path / "d", bad)
    with pytest.raises(InvalidInputError, match="no such folder"):
        read_cohort(tmp_path / "nope", bad)
    with pytest.raises(InvalidInputError, match="no such file"):
        read_cohort(tmp_path / "d", tmp_path / "nope.csv")
    subj = read_cohort(tmp_path / "e", _write_cohort(tmp_path / "e", data, dx, grid))
    assert [s.diagnosis for s in subj] == dx and subj[0].path.name == "sub-00.nii.gz"


def test_skip_alignment_needs_one_grid(tmp_path):
    data, dx, _ = _planted_cohort(4)
    grid = _grid((16, 18, 16))
    other = _grid((16, 18, 16), origin=(-10.0, 20.0, 20.0))
    write_volume(grid.with_data(data[0]), tmp_path / "a.nii.gz")
    write_volume(other.with_data(data[1]), tmp_path / "b.nii.gz")
    subs = [CohortSubject("a", "AD", tmp_path / "a.nii.gz"), CohortSubject("b", "NC", tmp_path / "b.nii.gz")]
    with pytest.raises(InvalidInputError, match="not on the grid of a.nii.gz"):
        align_cohort(subs, align="skip")
    with pytest.raises(InvalidInputError, match="align must be"):
        align_cohort(subs, align="maybe")


def test_discover_on_an_aligned_cohort_recovers_the_blob(tmp_path):
    data, dx, _ = _planted_cohort(8, seed=3)
    grid = _grid((16, 18, 16))
    labels = _write_cohort(tmp_path / "c", data, dx, grid)
    res = discover_landmarks(tmp_path / "c", labels, align="skip", n=4, min_distance_mm=8.0)
    assert not res.cohort.registered and "registration skipped" in res.cohort.note
    assert np.abs(np.subtract(res.landmarks[0].index, (8, 6, 10))).max() <= 1 and len(res.landmarks) == 4
    assert res.p_map().same_grid(grid)


def test_coarse_template_halves_the_grid():
    tpl = synthetic_template()
    c = coarse_template(tpl, 8.0)
    assert c.image.spacing == (8.0, 8.0, 8.0) and c.image.spatial_shape == (20, 24, 20)
    assert c.brain_mask.shape == c.image.spatial_shape
    frac = c.brain_mask.mean() / tpl.brain_mask.mean()
    assert 0.9 < frac < 1.1
    with pytest.raises(InvalidInputError, match="at least the template's voxel size"):
        coarse_template(tpl, 2.0)


def test_registered_cohort_is_cached_in_the_work_folder(tmp_path):
    tpl = synthetic_template()
    subs = []
    for i, (shift, dx) in enumerate(zip([(6, -4, 8), (0, 5, -6), (-5, 0, 4), (3, 3, 3)], ["AD", "NC", "AD", "NC"])):
        p = write_volume(synthetic_subject(affine_lps(rot_deg=(0, 0, 3 * i), shift=shift)), tmp_path / f"s{i}.nii.gz")
        subs.append(CohortSubject(f"s{i}", dx, p))
    work = tmp_path / "work"
    first = align_cohort(subs, tpl, work, spacing_mm=None)
    assert first.registered and first.reused == 0 and first.grid.same_grid(tpl.image)
    assert sorted(p.name for p in (work / "transforms").iterdir()) == [f"s{i}.tfm" for i in range(4)]
    assert all(m["correlation_after"] > 0.8 for m in first.metrics.values())
    second = align_cohort(subs, tpl, work, spacing_mm=None)
    assert second.reused == 4
    for a, b in zip(first.data, second.data):
        np.testing.assert_allclose(a, b, atol=1e-3)
    assert not any(p.name == "work" for p in tmp_path.glob("s*"))  # nothing written beside the inputs


def test_a_refused_registration_stops_the_run_or_is_left_out(tmp_path):
    from napari_medai.core.tasks.alzheimer.registration import RegistrationError

    tpl = synthetic_template()
    good = write_volume(synthetic_subject(affine_lps(rot_deg=(0, 0, 3), shift=(4, 0, 2))), tmp_path / "g.nii.gz")
    shape_src = synthetic_subject(affine_lps())
    noise = shape_src.with_data(np.random.default_rng(0).uniform(0, 300, shape_src.data.shape).astype(np.float32))
    bad = write_volume(noise, tmp_path / "n.nii.gz")
    subs = [CohortSubject("g", "AD", good), CohortSubject("n", "NC", bad)]
    with pytest.raises(RegistrationError, match="subject n: .*drop its row"):
        align_cohort(subs, tpl, None, spacing_mm=None, min_correlation=0.5)
    res = align_cohort(subs, tpl, None, spacing_mm=None, min_correlation=0.5, drop_failed=True)
    assert [s.subject for s in res.subjects] == ["g"] and list(res.dropped) == ["n"] and len(res.data) == 1
    assert "left out (refused): n (" in res.note and res.transforms == {}  # no work folder: nothing kept
