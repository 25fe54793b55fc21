"""The stroke phantoms (MRI with FLAIR on its own grid, CT angiography) carry what the methods need."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.phantoms import PHANTOMS, stroke_cta_phantom, stroke_phantom
from napari_medai.core.tasks.stroke.midline import MidSagittalPlane, find_mid_sagittal_plane, mirror
from napari_medai.core.tasks.stroke.units import detect_adc_unit
from napari_medai.core.volume import Volume

_CACHE: dict[tuple, dict[str, Volume]] = {}


def mri(**kw) -> dict[str, Volume]:
    key = ("mri", *sorted(kw.items()))
    if key not in _CACHE:
        _CACHE[key] = stroke_phantom(**kw)
    return _CACHE[key]


def cta(**kw) -> dict[str, Volume]:
    key = ("cta", *sorted(kw.items()))
    if key not in _CACHE:
        _CACHE[key] = stroke_cta_phantom(**kw)
    return _CACHE[key]


def _plane(meta: dict) -> MidSagittalPlane:
    m = meta["midline"]
    return MidSagittalPlane(tuple(m["normal"]), m["offset_mm"], 1.0, "truth")


def _world(vol: Volume, mask: np.ndarray) -> np.ndarray:
    return vol.index_to_world(np.argwhere(mask))


# --------------------------------------------------------------------------- MRI
def test_adc_units_store_the_same_map():
    base = mri(seed=2)["adc"]
    milli = mri(seed=2, adc_unit="1e-3")["adc"]
    scaled = mri(seed=2, adc_unit="scaled", adc_scale=10.0)["adc"]
    assert base.units == "1e-6 mm^2/s" and milli.units == "1e-3 mm^2/s" and scaled.units == ""
    assert milli.data.dtype == np.float32 and scaled.data.dtype == np.uint16
    np.testing.assert_allclose(milli.data * 1000.0, base.data, rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(scaled.data / 10.0, base.data, atol=0.051)
    assert scaled.meta["true_factor_to_1e6"] == pytest.approx(0.1)
    # the unit detector of the MRI core reads the first two from the values and refuses the third
    assert detect_adc_unit(base).unit == "1e-6"
    assert detect_adc_unit(milli).unit == "1e-3"
    with pytest.raises(InvalidInputError):
        detect_adc_unit(scaled)
    assert detect_adc_unit(scaled, override="scaled:0.1").factor_to_1e6 == pytest.approx(0.1)


def test_lesions_kinds_sizes_and_sides():
    v = mri(seed=0)
    lesion = v["lesion"]
    rows = lesion.meta["lesions"]
    assert {r["kind"] for r in rows} == {"territorial", "lacunar", "cortical", "tiny"}
    lab, n = ndimage.label(lesion.data, structure=np.ones((3, 3, 3)))
    assert n == len(rows) == lesion.meta["n_lesions"]
    plane = _plane(lesion.meta)
    for r in rows:
        k = lab[tuple(np.round(r["centre_index"]).astype(int))]
        comp = lab == k if k else None
        assert comp is not None, f"{r['kind']}: centre outside its lesion"
        assert int(comp.sum()) == r["n_voxels"]
        assert r["volume_ml"] == pytest.approx(r["n_voxels"] * 8e-3, abs=1e-4)
        assert set(plane.side(_world(lesion, comp))) == {r["side"]}
    by_kind = {r["kind"]: r for r in rows}
    assert by_kind["territorial"]["volume_ml"] > 5.0 and by_kind["territorial"]["side"] == "left"
    assert 0.2 < by_kind["lacunar"]["volume_ml"] <= 1.5 and by_kind["lacunar"]["side"] == "right"
    assert by_kind["tiny"]["n_voxels"] >= 10 and by_kind["tiny"]["volume_ml"] < 0.2
    assert {r["side"] for r in rows} == {"left", "right"}
    # CSF: ventricles and sulci with ADC near 3000 inside the brain
    adc = v["adc"].data
    brain = ndimage.binary_erosion(adc > 0, iterations=2)
    assert np.mean(adc[brain] > 2000.0) > 0.04


@pytest.mark.parametrize("seed", [0, 3])
def test_head_is_off_centre_and_turned(seed):
    v = mri(seed=seed)
    truth = v["lesion"].meta["midline"]
    assert 3.0 <= abs(truth["angle_about_s_deg"]) <= 6.0
    assert abs(truth["offset_mm"]) > 4.0
    plane = _plane(v["lesion"].meta)
    # the array's middle column (world L = 0 on this centred grid) is several mm off the true plane
    head = v["adc"].data > 0
    pts = _world(v["adc"], head)
    middle = MidSagittalPlane((0.0, 0.0, 1.0), 0.0, 1.0, "array middle")
    disagree = np.mean(np.asarray(middle.side(pts)) != np.asarray(plane.side(pts)))
    assert disagree > 0.05
    # and the symmetry search recovers it from the DWI
    found = find_mid_sagittal_plane(v["dwi"])
    assert np.degrees(np.arccos(abs(np.dot(found.normal, plane.normal)))) < 1.5
    assert abs(float(found.signed_distance(np.asarray(truth["head_centre_world_mm"]))[0])) < 1.5


def test_flair_on_its_own_grid_with_controlled_relative_signal():
    mismatch = mri(seed=1)
    older = mri(seed=1, flair_rsi=1.3)
    flair = mismatch["flair"]
    assert flair.spacing == (5.0, 0.9, 0.9) and flair.is_axis_aligned
    assert not flair.same_grid(mismatch["dwi"])
    assert flair.spatial_shape != mismatch["dwi"].spatial_shape
    assert not np.allclose(flair.origin, mismatch["dwi"].origin)
    lesion = mismatch["lesion"]
    plane = _plane(lesion.meta)
    rows = lesion.meta["lesions"]
    big = ndimage.label(lesion.data, structure=np.ones((3, 3, 3)))[0]
    big = big == big[tuple(np.round(rows[0]["centre_index"]).astype(int))]
    core = ndimage.binary_erosion(big, iterations=1)
    contra = mirror(lesion.with_data(core.astype(np.uint8)), plane).data > 0

    def mean_flair(vol: Volume, mask: np.ndarray) -> float:
        idx = vol.world_to_index(_world(lesion, mask)).T
        return float(ndimage.map_coordinates(vol.data, idx, order=1).mean())

    for vols, rsi in ((mismatch, 1.0), (older, 1.3)):
        ratio = mean_flair(vols["flair"], core) / mean_flair(vols["flair"], contra)
        assert ratio == pytest.approx(rsi, abs=0.08), rsi
        assert vols["lesion"].meta["flair_rsi"] == rsi
    # the DWI is the same whatever the FLAIR: only the FLAIR changes
    np.testing.assert_array_equal(mismatch["dwi"].data, older["dwi"].data)
    assert "flair" not in stroke_phantom(seed=1, with_flair=False, shape=(24, 40, 36))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"adc_unit": "mm2/s"}, "adc_unit"),
        ({"flair_rsi": 0.1}, "flair_rsi"),
        ({"adc_scale": 0.0}, "adc_scale"),
        ({"yaw_deg": 40.0}, "yaw_deg"),
    ],
)
def test_mri_options_checked(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        stroke_phantom(**kwargs)


def test_pose_can_be_given():
    v = stroke_phantom(seed=0, shape=(24, 40, 36), yaw_deg=0.0, shift_mm=0.0)
    m = v["lesion"].meta["midline"]
    assert m["angle_about_s_deg"] == 0.0 and m["normal"] == [0.0, 0.0, 1.0]


# --------------------------------------------------------------------------- CT angiography
def test_cta_values_in_hu():
    c = cta(seed=0)
    img, lesion = c["cta"], c["lesion"]
    assert img.modality == "CT" and img.units == "HU" and img.data.dtype == np.float32
    assert lesion.same_grid(img) and lesion.label_names == {1: "ischaemic"}
    hu = img.data
    assert float(np.median(hu[0])) < -950.0  # air around the head
    assert float(np.percentile(hu, 99.5)) > 900.0  # skull
    assert lesion.meta["n_lesions"] == 2 and lesion.meta["lesions"][0]["side"] == "left"
    # brain tissue: median of the inner brain between white (29) and grey (39) matter
    clean = stroke_cta_phantom(seed=0, noise_sd=0.0)["cta"].data
    inner = ndimage.binary_erosion((clean > -50) & (clean < 100), iterations=3)
    brain_hu = clean[inner & (lesion.data == 0)]
    assert 25.0 < float(np.median(brain_hu)) < 42.0
    assert float(np.percentile(clean[inner], 0.5)) < 12.0  # CSF near 6 HU
    arteries = clean[(clean > 120) & (clean < 400)]
    assert arteries.size > 30 and float(arteries.max()) > 150.0  # contrast-filled arteries
    noise = hu - clean
    assert float(noise.std()) == pytest.approx(5.0, rel=0.05)


def test_cta_ischaemia_is_hypodense_with_weaker_vessels():
    clean = stroke_cta_phantom(seed=1, noise_sd=0.0)
    normal = stroke_cta_phantom(seed=1, noise_sd=0.0, with_infarct=False)
    lesion = clean["lesion"].data > 0
    diff = clean["cta"].data - normal["cta"].data
    core = ndimage.binary_erosion(lesion, iterations=2)
    assert float(np.median(diff[core])) == pytest.approx(-6.0, abs=1.0)
    near = ndimage.binary_dilation(lesion, iterations=3)
    assert float(diff[near].min()) < -40.0  # arteries in the territory lose enhancement
    beyond = ~ndimage.binary_dilation(near, structure=np.ones((3, 3, 3)), iterations=3)
    assert np.all(np.abs(diff[beyond]) < 1e-3)  # the partial-volume blur reaches 2 voxels per axis
    assert not normal["lesion"].data.any() and normal["lesion"].meta["n_lesions"] == 0


def test_cta_head_is_off_centre_and_found():
    c = cta(seed=4)
    truth = c["lesion"].meta["midline"]
    assert abs(truth["offset_mm"]) > 4.0 and abs(truth["angle_about_s_deg"]) >= 3.0
    found = find_mid_sagittal_plane(c["cta"])
    assert np.degrees(np.arccos(abs(np.dot(found.normal, truth["normal"])))) < 1.5
    assert abs(float(found.signed_distance(np.asarray(truth["head_centre_world_mm"]))[0])) < 1.5


def test_cta_registered_and_checked():
    assert PHANTOMS["stroke_cta"] is stroke_cta_phantom
    with pytest.raises(InvalidInputError, match="hypodensity_hu"):
        stroke_cta_phantom(hypodensity_hu=-1.0)
    with pytest.raises(InvalidInputError, match="shape"):
        stroke_cta_phantom(shape=(10, 96, 84))
    a = stroke_cta_phantom(seed=3, shape=(32, 48, 40))
    b = stroke_cta_phantom(seed=3, shape=(32, 48, 40))
    np.testing.assert_array_equal(a["cta"].data, b["cta"].data)
