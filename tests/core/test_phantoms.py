"""Synthetic phantoms: geometry, labels, contrasts, determinism, and the cardiac ground truth."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.phantoms import (
    PHANTOMS,
    alzheimer_cohort_phantom,
    brain_tumour_phantom,
    cardiac_ct_phantom,
    ldct_phantom,
    make_phantom,
    stroke_phantom,
)
from napari_medai.core.volume import Volume

_BUILT: dict[str, dict[str, Volume]] = {}


def built(name: str) -> dict[str, Volume]:
    """Each default phantom is built once per test session."""
    if name not in _BUILT:
        _BUILT[name] = make_phantom(name, seed=0)
    return _BUILT[name]


def world_of_voxels(vol: Volume, mask: np.ndarray) -> np.ndarray:
    return vol.index_to_world(np.argwhere(mask))


# --------------------------------------------------------------------------- registry and common
def test_registry_names():
    assert set(PHANTOMS) == {"brain_tumour", "stroke", "stroke_cta", "cardiac_ct", "ldct", "alzheimer_cohort"}


def test_unknown_name_lists_valid_names():
    with pytest.raises(InvalidInputError) as info:
        make_phantom("brain_tumor", seed=0)
    for name in PHANTOMS:
        assert name in str(info.value)


@pytest.mark.parametrize("name", sorted(PHANTOMS))
def test_each_phantom_builds_with_consistent_volumes(name):
    vols = built(name)
    assert vols, name
    first = next(iter(vols.values()))
    seen_label = False
    for key, vol in vols.items():
        assert isinstance(vol, Volume)
        assert vol.name == key
        assert vol.is_axis_aligned
        assert np.all(np.isfinite(vol.data))
        if vol.is_label:
            seen_label = True
            assert vol.label_names, key
            assert np.issubdtype(vol.data.dtype, np.integer)
        else:
            assert not seen_label, f"{name}: image {key} comes after a label map"
        if name == "stroke" and key == "flair":  # FLAIR on its own grid, as scanners deliver it
            assert not vol.same_grid(first)
            continue
        if name != "alzheimer_cohort":  # cohort subjects are separate, but share the grid too
            assert vol.same_grid(first)
        # grids are centred at the world origin
        centre = vol.index_to_world((np.asarray(vol.spatial_shape) - 1) / 2.0)
        np.testing.assert_allclose(centre, 0.0, atol=1e-6)
    assert sum(v.data.nbytes for v in vols.values()) < 25e6


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (brain_tumour_phantom, {"shape": (48, 56, 48)}),
        (stroke_phantom, {"shape": (24, 40, 36)}),
        (cardiac_ct_phantom, {}),
        (ldct_phantom, {"n_slices": 1, "size": 96}),
        (alzheimer_cohort_phantom, {"n_subjects": 2, "shape": (24, 28, 24)}),
    ],
)
def test_deterministic_per_seed(factory, kwargs):
    a = factory(seed=3, **kwargs)
    b = factory(seed=3, **kwargs)
    c = factory(seed=4, **kwargs)
    assert list(a) == list(b) == list(c)
    for key in a:
        np.testing.assert_array_equal(a[key].data, b[key].data)
    assert any(not np.array_equal(a[k].data, c[k].data) for k in a)


@pytest.mark.parametrize(
    ("factory", "kwargs", "match"),
    [
        (brain_tumour_phantom, {"seed": -1}, "seed"),
        (brain_tumour_phantom, {"shape": (10, 56, 48)}, "shape"),
        (stroke_phantom, {"shape": (40, 80)}, "shape"),
        (cardiac_ct_phantom, {"noise_sd": 30.0}, "noise_sd"),
        (ldct_phantom, {"dose_fraction": 0.0}, "dose_fraction"),
        (ldct_phantom, {"size": 40}, "size"),
        (alzheimer_cohort_phantom, {"n_subjects": 3}, "n_subjects"),
    ],
)
def test_invalid_options(factory, kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        factory(**kwargs)


# --------------------------------------------------------------------------- brain tumour
def test_brain_tumour_geometry_and_labels():
    vols = built("brain_tumour")
    assert list(vols) == ["flair", "t1", "t1c", "t2", "brainmask", "seg"]
    brain = vols["brainmask"].data.astype(bool)
    for key in ("flair", "t1", "t1c", "t2"):
        v = vols[key]
        assert v.data.shape == (96, 112, 96) and v.data.dtype == np.float32
        assert v.spacing == (1.0, 1.0, 1.0) and v.modality == "MR"
        assert np.all(v.data[~brain] == 0.0)  # skull-stripped: background exactly 0
        assert v.data.min() >= 0.0
        assert 500.0 < float(np.percentile(v.data[brain], 99)) < 2500.0
    seg = vols["seg"]
    assert seg.is_label and seg.data.dtype == np.uint8
    assert set(np.unique(seg.data)) == {0, 1, 2, 4}
    assert seg.label_names == {1: "NCR", 2: "ED", 4: "ET"}
    assert seg.meta["convention"] == "brats2021"
    assert np.all(brain[seg.data > 0])
    # meta volumes: voxel counts x 1 mm^3
    ml = seg.meta["volumes_ml"]
    assert ml["NCR"] == pytest.approx(np.count_nonzero(seg.data == 1) / 1000.0, abs=1e-3)
    assert ml["WT"] == pytest.approx(np.count_nonzero(seg.data) / 1000.0, abs=1e-3)
    assert ml["TC"] == pytest.approx(np.count_nonzero(np.isin(seg.data, (1, 4))) / 1000.0, abs=1e-3)
    # tumour in the patient's right hemisphere (world x, the L axis, negative)
    x_world = world_of_voxels(seg, seg.data > 0)[:, 2]
    assert np.mean(x_world < 0) > 0.95
    assert seg.meta["tumour_centre_world_mm"][2] < 0


def test_brain_tumour_is_irregular_and_nested():
    seg = built("brain_tumour")["seg"].data
    for mask in (seg == 1, seg > 0):
        centre = np.array(ndimage.center_of_mass(mask))
        surface = mask & ~ndimage.binary_erosion(mask)
        r = np.linalg.norm(np.argwhere(surface) - centre, axis=1)
        assert r.std() / r.mean() > 0.05  # a sphere would give ~0.02 (voxelisation only)
    # the enhancing rim surrounds the necrotic core: NCR never touches ED directly... mostly
    ncr_shell = ndimage.binary_dilation(seg == 1) & (seg != 1)
    assert np.mean(seg[ncr_shell] == 4) > 0.9


def test_brain_tumour_contrasts():
    v = built("brain_tumour")
    seg = v["seg"].data
    normal = v["brainmask"].data.astype(bool) & (seg == 0)
    flair, t1, t1c, t2 = (v[k].data for k in ("flair", "t1", "t1c", "t2"))

    def mean(img, m):
        return float(img[m].mean())

    ncr, ed, et = seg == 1, seg == 2, seg == 4
    assert mean(flair, ed) > 1.5 * mean(flair, normal)  # oedema bright on FLAIR
    assert mean(t2, ed) > 1.3 * mean(t2, normal)  # and on T2
    assert mean(t1c, et) > 1.5 * mean(t1c, ncr)  # enhancing rim
    assert mean(t1c, et) > mean(t1c, normal) + 300.0
    assert mean(t1c, et) > 1.5 * mean(t1, et)  # enhancement: post- versus pre-contrast
    assert mean(t1, ncr) < mean(t1, normal)
    # tissue contrast, found from the images: CSF (T2-bright) is dark on T1 and FLAIR,
    # white matter (T1-bright) is dark on T2
    csf = normal & (t2 > 1300.0)
    wm = normal & (t1 > 920.0)
    gm = normal & (t1 > 600.0) & (t1 < 780.0) & (t2 > 650.0) & (t2 < 900.0)
    assert csf.sum() > 500 and wm.sum() > 5000 and gm.sum() > 2000
    assert mean(t1, wm) > mean(t1, gm) > mean(t1, csf)  # T1: WM > GM > CSF
    assert mean(t2, csf) > mean(t2, gm) > mean(t2, wm)  # T2: CSF > GM > WM
    assert mean(flair, csf) < 0.5 * mean(flair, wm)  # FLAIR: CSF suppressed


# --------------------------------------------------------------------------- stroke
def test_stroke_geometry_and_lesions():
    v = built("stroke")
    assert list(v) == ["dwi", "adc", "flair", "lesion"]
    lesion = v["lesion"]
    assert lesion.spacing == (2.0, 2.0, 2.0)
    assert v["adc"].units == "1e-6 mm^2/s"
    assert v["dwi"].meta["b_value"] == 1000.0
    assert set(np.unique(lesion.data)) == {0, 1}
    assert lesion.label_names == {1: "infarct"}
    n_vox = int(np.count_nonzero(lesion.data))
    assert lesion.meta["lesion_volume_ml"] == pytest.approx(n_vox * 8.0 / 1000.0, abs=1e-4)
    lab, n = ndimage.label(lesion.data, structure=np.ones((3, 3, 3)))
    assert n == lesion.meta["n_lesions"] == 4
    sizes_ml = sorted(np.bincount(lab.ravel())[1:] * 8.0 / 1000.0)
    assert sizes_ml[0] < 0.2 and sizes_ml[1] < 1.0 and sizes_ml[2] < 1.5 and sizes_ml[3] > 5.0  # three small, one large
    assert sizes_ml[0] >= 10 * 8.0 / 1000.0  # the tiny one still has at least 10 voxels
    big = lab == (1 + int(np.argmax(np.bincount(lab.ravel())[1:])))
    plane = lesion.meta["midline"]
    d = world_of_voxels(lesion, big) @ np.asarray(plane["normal"]) - plane["offset_mm"]
    assert d.mean() > 0  # large infarct in the left hemisphere (of the head, not of the array)


def test_stroke_adc_and_dwi_contrast():
    v = built("stroke")
    adc, dwi = v["adc"].data, v["dwi"].data
    lesion = v["lesion"].data.astype(bool)
    head = adc > 0
    normal = head & ~ndimage.binary_dilation(lesion, iterations=1) & (adc < 1500.0)
    assert float(adc[lesion].mean()) < 620.0
    assert np.mean(adc[lesion] < 620.0) > 0.75  # only edge voxels mix with brain / CSF
    assert np.mean(adc[ndimage.binary_erosion(lesion)] < 620.0) > 0.98
    assert 700.0 < float(adc[normal].mean()) < 900.0
    assert np.mean(adc[normal] < 620.0) < 0.01
    assert float(np.percentile(adc[head], 99)) > 2500.0  # CSF around 3000
    assert float(dwi[lesion].mean()) > 1.4 * float(dwi[normal].mean())  # bright infarct on DWI
    assert np.all(adc[~head] == 0.0)


# --------------------------------------------------------------------------- cardiac CT
_WEIGHT_EDGES = [(400, 4), (300, 3), (200, 2), (130, 1)]


def _weight_of(peak: float) -> int:
    for lo, w in _WEIGHT_EDGES:
        if peak >= lo:
            return w
    return 0


def _score_from_arrays(ct: np.ndarray, assignment: np.ndarray, spacing: tuple[float, ...]):
    """Agatston scoring written out per slice with scipy's labelling (independent of the phantom)."""
    area_px = spacing[1] * spacing[2]
    vox = area_px * spacing[0]
    names = {1: "LM", 2: "LAD", 3: "LCX", 4: "RCA"}
    res = {key: dict.fromkeys((*names.values(), "total"), 0.0) for key in ("agatston", "volume_mm3", "mass", "lesion_count")}
    small = []
    bands = set()
    for k in range(ct.shape[0]):
        lab, n = ndimage.label(ct[k] >= 130, structure=np.ones((3, 3), dtype=int))
        for comp in range(1, n + 1):
            m = lab == comp
            codes = np.unique(assignment[k][m])
            codes = codes[(codes >= 1) & (codes <= 4)]
            if codes.size == 0:
                continue
            assert codes.size == 1, "one lesion, one artery"
            assert np.all(assignment[k][m] == codes[0]), "the label covers the whole lesion"
            area = m.sum() * area_px
            if area < 1.0:
                small.append((k, int(m.sum())))
                continue
            hu = ct[k][m].astype(float)
            w = _weight_of(hu.max())
            bands.add(w)
            for key in (names[int(codes[0])], "total"):
                res["agatston"][key] += area * w
                res["volume_mm3"][key] += m.sum() * vox
                res["mass"][key] += m.sum() * vox * hu.mean()
                res["lesion_count"][key] += 1
    return res, small, bands


def test_cardiac_grid_and_intensities():
    v = built("cardiac_ct")
    ct, asg = v["ct"], v["assignment"]
    assert ct.data.dtype == np.int16 and ct.units == "HU" and ct.modality == "CT"
    assert ct.spacing == (3.0, 0.7, 0.7)
    assert asg.data.dtype == np.uint8
    assert set(np.unique(asg.data)) == {0, 1, 2, 3, 4, 5}
    assert asg.label_names == {1: "LM", 2: "LAD", 3: "LCX", 4: "RCA", 5: "non-coronary"}
    d = ct.data.astype(float)
    assert abs(d[:, :4, :4].mean() + 1000.0) < 5.0  # air in the corner
    # lungs (left of the patient = high x, at heart height), spine, soft tissue
    assert -900.0 < np.median(d[:, 136, 290:300]) < -780.0
    assert d.max() >= 700  # cortical bone
    hot = d >= 130
    assert np.all(hot[asg.data > 0])  # every calcium pixel counts
    # around the heart (no bone there) only the calcifications reach 130 HU
    heart_box = (slice(None), slice(70, 160), slice(120, 240))
    assert d[heart_box][asg.data[heart_box] == 0].max() < 130
    assert np.count_nonzero(asg.data[heart_box]) > 100


def test_cardiac_expected_scores_match_an_independent_computation():
    v = built("cardiac_ct")
    ct, asg = v["ct"], v["assignment"]
    exp = asg.meta["expected"]
    got, small, bands = _score_from_arrays(ct.data, asg.data, ct.spacing)
    for key in ("agatston", "volume_mm3", "mass"):
        for artery in ("LM", "LAD", "LCX", "RCA", "total"):
            assert exp[key][artery] == pytest.approx(got[key][artery], rel=1e-9, abs=1e-9), (key, artery)
            assert exp[key][artery] > 0
    for artery in ("LM", "LAD", "LCX", "RCA", "total"):
        assert exp["lesion_count"][artery] == got["lesion_count"][artery]
    total = exp["agatston"]["total"]
    assert 101 <= total <= 400 and exp["risk_category"] == "101-400"
    assert bands == {1, 2, 3, 4}  # plaques in every density band
    # the speck: one component below 1 mm^2, the one in meta
    assert len(small) == 1
    k, n_px = small[0]
    speck = asg.meta["speck"]
    assert (k, n_px) == (speck["slice"], speck["n_pixels"])
    assert n_px * 0.49 == pytest.approx(speck["area_mm2"]) and speck["area_mm2"] < 1.0
    assert asg.meta["scoring"]["connectivity"].startswith("2-D, 8-connected")


def test_cardiac_plaques_sit_in_their_bands_and_arteries():
    v = built("cardiac_ct")
    ct, asg = v["ct"].data, v["assignment"]
    band = {165: (135, 194), 250: (205, 294), 350: (305, 394), 600: (405, 10**4)}
    per_artery: dict[str, int] = {}
    centres: dict[str, list] = {}
    for plaque in asg.meta["plaques"]:
        lo, hi = band[plaque["designed_hu"]]
        code = {"LM": 1, "LAD": 2, "LCX": 3, "RCA": 4}[plaque["artery"]]
        assert 1 <= len(plaque["slices"]) <= 3
        for k, area, centre in zip(plaque["slices"], plaque["area_mm2"], plaque["slice_centres_world_mm"]):
            centre_idx = np.round(v["ct"].world_to_index(np.array(centre))).astype(int)
            assert centre_idx[0] == k
            window = (slice(k, k + 1), slice(centre_idx[1] - 8, centre_idx[1] + 9), slice(centre_idx[2] - 8, centre_idx[2] + 9))
            m = asg.data[window] == code
            vals = ct[window][m]
            assert vals.size * 0.49 == pytest.approx(area)
            assert vals.min() >= lo and vals.max() <= hi
        per_artery[plaque["artery"]] = per_artery.get(plaque["artery"], 0) + 1
        centres.setdefault(plaque["artery"], []).append(plaque["centre_world_mm"])
    assert min(per_artery.values()) >= 1 and sum(per_artery.values()) >= 8
    mean = {a: np.mean(c, axis=0) for a, c in centres.items()}  # (z, y, x) world mm
    assert mean["RCA"][2] < mean["LM"][2] < mean["LCX"][2]  # RCA right, LCX left
    assert mean["LAD"][1] < mean["LCX"][1]  # LAD anterior of LCX
    assert mean["LM"][0] >= max(m[0] for m in mean.values()) - 1e-6  # LM highest, near the root


# --------------------------------------------------------------------------- low-dose CT
def test_ldct_slab():
    v = built("ldct")
    full, low = v["full_dose"], v["low_dose"]
    assert full.data.shape == low.data.shape == (3, 256, 256)
    assert full.data.dtype == low.data.dtype == np.float32
    assert full.units == low.units == "HU" and full.modality == "CT"
    assert not full.is_label and not low.is_label
    assert low.meta["dose_fraction"] == 0.25 and low.meta["seed"] == 0 and low.meta["i0"] > 0
    assert abs(float(full.data[:, :5, :5].mean()) + 1000.0) < 1.0
    # liver ROI (patient right, x < 0): ~105 HU, quarter-dose noise well above the reference's
    idx = np.round(full.world_to_index(np.array([0.0, 20.0, -70.0]))).astype(int)
    roi = (slice(None), slice(idx[1] - 4, idx[1] + 5), slice(idx[2] - 4, idx[2] + 5))
    assert float(full.data[roi].mean()) == pytest.approx(105.0, abs=8.0)
    diff_sd = float((low.data - full.data)[roi].std())
    assert 10.0 < diff_sd < 60.0
    # low-contrast lesion: darker than the liver by about its contrast
    lesion = full.meta["lesions"][0]
    c = np.round(full.world_to_index(np.array(lesion["centre_world_mm"]))).astype(int)
    core = full.data[c[0], c[1] - 3 : c[1] + 4, c[2] - 3 : c[2] + 4]
    assert float(core.mean()) - 105.0 == pytest.approx(lesion["contrast_hu"], abs=6.0)


# --------------------------------------------------------------------------- Alzheimer cohort
def test_alzheimer_cohort():
    v = built("alzheimer_cohort")
    assert list(v) == [f"subject_{i:02d}" for i in range(12)]
    dx = [s.meta["diagnosis"] for s in v.values()]
    assert dx.count("AD") == dx.count("NC") == 6
    assert sum(s.data.nbytes for s in v.values()) < 10e6
    hippo = {"AD": [], "NC": []}
    vent = {"AD": [], "NC": []}
    csf_near = {"AD": [], "NC": []}
    for s in v.values():
        assert s.data.shape == (48, 56, 48) and s.spacing == (2.0, 2.0, 2.0) and s.data.dtype == np.float32
        m = s.meta
        brain = s.data > 0
        assert 0.15 < brain.mean() < 0.6
        med = float(np.median(s.data[brain]))
        n_csf = 0
        for side, sign in (("left", 1), ("right", -1)):
            w = np.array(m["landmarks_world_mm"][f"hippocampus_{side}"])
            assert np.sign(w[2]) == sign  # left hemisphere is +x (L)
            i = np.round(s.world_to_index(w)).astype(int)
            assert brain[tuple(i)]
            box = s.data[i[0] - 2 : i[0] + 3, i[1] - 5 : i[1] + 6, i[2] - 2 : i[2] + 3] / med
            n_csf += int((box < 0.45).sum())
        hippo[m["diagnosis"]].append(m["hippocampus_left_ml"] + m["hippocampus_right_ml"])
        vent[m["diagnosis"]].append(m["ventricles_ml"])
        csf_near[m["diagnosis"]].append(n_csf)
    assert np.mean(hippo["AD"]) < 0.8 * np.mean(hippo["NC"])
    assert np.mean(vent["AD"]) > 1.3 * np.mean(vent["NC"])
    assert min(csf_near["AD"]) > max(csf_near["NC"])  # atrophy visible in the images themselves
    # inter-subject variation
    gains = {s.meta["intensity_gain"] for s in v.values()}
    poses = {s.meta["translation_mm"] for s in v.values()}
    assert len(gains) == 12 and len(poses) == 12
