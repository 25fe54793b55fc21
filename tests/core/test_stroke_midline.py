"""The mid-sagittal plane is found from the image (not the array's middle) and mirrors correctly."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks.stroke.midline import (
    MidSagittalPlane,
    find_mid_sagittal_plane,
    mirror,
    reflection_matrix,
)
from napari_medai.core.volume import Volume

ISLES = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "isles22_case0009"


def _unit(yaw_deg: float, roll_deg: float) -> np.ndarray:
    """Normal turned ``yaw`` about S and ``roll`` about P from (0, 0, 1) (written independently)."""
    n = np.array([math.sin(math.radians(roll_deg)), math.sin(math.radians(yaw_deg)), 1.0])
    n[2] = math.sqrt(max(0.0, 1.0 - n[0] ** 2 - n[1] ** 2))
    return n / np.linalg.norm(n)


def _symmetric_head(
    shape=(44, 60, 60), spacing=(3.0, 3.0, 3.0), *, normal=(0.0, 0.0, 1.0), offset=0.0,
    direction=None, seed=0,
) -> Volume:
    """A head exactly symmetric about ``{w : normal . w = offset}``: a function of the in-plane
    position and of the absolute distance to the plane (skull, brain, ventricles, paired blobs)."""
    rng = np.random.default_rng(seed)
    half = np.array([(n - 1) / 2.0 * s for n, s in zip(shape, spacing)])
    origin = tuple(-(np.eye(3) if direction is None else np.asarray(direction)) @ half)  # grid centre at 0
    vol = Volume(np.zeros(shape, np.float32), spacing=spacing, origin=origin, direction=direction)
    idx = np.indices(shape).reshape(3, -1).T
    w = vol.index_to_world(idx)
    n = np.asarray(normal, float) / np.linalg.norm(normal)
    x = w @ n - offset  # signed distance to the plane
    par = w - np.outer(x, n)  # in-plane position (unchanged by the reflection)
    s, p, ax = par[:, 0], par[:, 1], np.abs(x)
    r = np.sqrt((s / 55.0) ** 2 + (p / 75.0) ** 2 + (ax / 60.0) ** 2)
    img = np.where(r < 1.0, 800.0, 0.0)
    img = np.where((r >= 0.9) & (r < 1.0), 1600.0, img)  # "skull"
    vent = np.sqrt(((s - 8.0) / 12.0) ** 2 + ((p - 5.0) / 30.0) ** 2 + ((ax - 9.0) / 5.0) ** 2) < 1.0
    img = np.where(vent, 2500.0, img)
    for _ in range(6):  # paired blobs, different on front and back so the yaw is pinned
        c = rng.uniform([-30, -50, 10], [30, 50, 40])
        blob = np.sqrt((s - c[0]) ** 2 + (p - c[1]) ** 2 + (ax - c[2]) ** 2) < rng.uniform(5, 9)
        img = np.where(blob & (r < 0.9), rng.uniform(300, 1300), img)
    return vol.with_data(img.reshape(shape).astype(np.float32), modality="MR", name="head")


def _angle_deg(a, b) -> float:
    return float(np.degrees(np.arccos(np.clip(abs(np.dot(a, b)), -1.0, 1.0))))


@pytest.mark.parametrize(("yaw", "roll", "offset"), [(7.0, -4.0, 9.0), (-11.0, 3.0, -13.0), (0.0, 0.0, 4.5)])
def test_shifted_rotated_head_is_recovered(yaw, roll, offset):
    n_true = _unit(yaw, roll)
    vol = _symmetric_head(normal=n_true, offset=offset, seed=1)
    plane = find_mid_sagittal_plane(vol)
    assert _angle_deg(plane.normal, n_true) < 1.0
    # the two planes are within 1 mm of each other across the head (centre and +-60 mm along P and S)
    for probe in ([0, 0, 0], [0, 60, 0], [0, -60, 0], [45, 0, 0]):
        w = np.asarray(probe, float)
        w = w + (offset - w @ n_true) * n_true  # on the true plane
        assert abs(float(plane.signed_distance(w)[0])) < 1.0, probe
    assert plane.normal[2] > 0.9  # points to the patient's left
    assert plane.score > 0.95
    assert "symmetry" in plane.method
    # the array's middle column is NOT the answer: the shift is seen
    assert abs(plane.offset_mm - offset) < 1.2


def test_oblique_grid_uses_the_geometry():
    """A grid tilted 12 deg (like an AC-PC aligned acquisition) with array x flipped to patient right."""
    t = math.radians(12.0)
    direction = np.array([[math.cos(t), math.sin(t), 0.0], [math.sin(t), -math.cos(t), 0.0], [0.0, 0.0, -1.0]])
    n_true = _unit(5.0, 2.0)
    vol = _symmetric_head(normal=n_true, offset=-7.0, direction=direction, seed=2)
    plane = find_mid_sagittal_plane(vol)
    assert _angle_deg(plane.normal, n_true) < 1.0
    assert abs(float(plane.signed_distance(-7.0 * n_true)[0])) < 1.0


def test_mirror_about_the_grid_middle_is_a_flip():
    rng = np.random.default_rng(0)
    data = rng.normal(size=(5, 6, 7)).astype(np.float32)
    vol = Volume(data, spacing=(2.0, 1.5, 1.2), origin=(-4.0, -3.75, -3.6))  # centre at world 0
    plane = MidSagittalPlane(normal=(0.0, 0.0, 1.0), offset_mm=0.0, score=1.0, method="given")
    out = mirror(vol, plane)
    np.testing.assert_allclose(out.data, data[..., ::-1], atol=1e-5)
    assert out.same_grid(vol) and out.name == "image_mirror"
    assert out.meta["mirror_plane"]["offset_mm"] == 0.0
    labels = vol.with_data((data > 0).astype(np.uint8), is_label=True)
    np.testing.assert_array_equal(mirror(labels, plane).data, labels.data[..., ::-1])


def test_mirror_twice_is_identity_inside_the_field_of_view():
    n = _unit(6.0, -3.0)
    vol = _symmetric_head(normal=n, offset=5.0, seed=3)
    smooth = vol.with_data(ndimage.gaussian_filter(vol.data, 1.5))
    plane = MidSagittalPlane(normal=tuple(_unit(4.0, 2.0)), offset_mm=3.0, score=1.0, method="given")
    twice = mirror(mirror(smooth, plane, order=3), plane, order=3)
    # voxels whose mirror lies well inside the grid
    idx = np.indices(vol.spatial_shape).reshape(3, -1).T
    w = smooth.index_to_world(idx)
    back = smooth.world_to_index(w @ reflection_matrix(plane)[:3, :3].T + reflection_matrix(plane)[:3, 3])
    inside = np.all((back > 3) & (back < np.asarray(vol.spatial_shape) - 4), axis=1).reshape(vol.spatial_shape)
    inside &= np.all((idx > 3) & (idx < np.asarray(vol.spatial_shape) - 4), axis=1).reshape(vol.spatial_shape)
    assert inside.sum() > 0.3 * inside.size
    err = np.abs(twice.data - smooth.data)[inside]
    assert float(err.mean()) < 0.01 * float(np.ptp(smooth.data))
    # a reflection matrix is its own inverse
    h = reflection_matrix(plane)
    np.testing.assert_allclose(h @ h, np.eye(4), atol=1e-12)


def test_sides_of_a_known_lesion():
    n = _unit(8.0, 0.0)
    vol = _symmetric_head(normal=n, offset=6.0, seed=4)
    plane = find_mid_sagittal_plane(vol)
    # a lesion 25 mm to the patient's left of the true plane, 10 mm anterior
    on_plane = np.array([0.0, -10.0, 0.0])
    on_plane = on_plane + (6.0 - on_plane @ n) * n
    centre = on_plane + 25.0 * n
    world = vol.index_to_world(np.indices(vol.spatial_shape).reshape(3, -1).T)
    lesion = (np.linalg.norm(world - centre, axis=1) < 8.0).reshape(vol.spatial_shape)
    assert plane.side(centre[None, :]) == ["left"]
    assert plane.side(vol.index_to_world(np.argwhere(lesion))).count("left") == int(lesion.sum())
    mirrored = mirror(vol.with_data(lesion.astype(np.uint8), is_label=True), plane)
    assert mirrored.data.sum() > 0.8 * lesion.sum()
    mirrored_world = vol.index_to_world(np.argwhere(mirrored.data > 0))
    assert set(plane.side(mirrored_world)) == {"right"}
    assert float(plane.signed_distance(mirrored_world).mean()) == pytest.approx(-25.0, abs=1.5)
    # on a grid whose array x runs to the patient's right, the side still comes from the world
    flipped = Volume(np.zeros((3, 3, 3)), origin=(0.0, 0.0, 1.0), direction=np.diag([1.0, 1.0, -1.0]))
    sides = MidSagittalPlane((0.0, 0.0, 1.0), 0.0, 1.0, "given").side(flipped.index_to_world([[1, 1, 0], [1, 1, 2]]))
    assert sides == ["left", "right"]  # array column 0 is at L = +1 mm, column 2 at L = -1 mm


def test_plane_validation_and_bad_input():
    with pytest.raises(InvalidInputError, match="normal"):
        MidSagittalPlane((0.0, 0.0, 0.0), 0.0, 1.0, "x")
    p = MidSagittalPlane((0.0, 0.0, 2.0), 1.0, 1.0, "x")
    assert p.normal == (0.0, 0.0, 1.0)  # normalised
    assert p.signed_distance(np.array([[0.0, 0.0, 3.0]]))[0] == pytest.approx(2.0)
    four_d = Volume(np.zeros((2, 10, 10, 10)), channel_axis=0, name="dwi4d")
    with pytest.raises(InvalidInputError, match="dwi4d.*one 3-D image"):
        find_mid_sagittal_plane(four_d)
    vol = _symmetric_head(seed=5)
    with pytest.raises(InvalidInputError, match="head mask has shape"):
        find_mid_sagittal_plane(vol, mask=np.ones((3, 3, 3), bool))
    with pytest.raises(InvalidInputError, match="too few head voxels"):
        find_mid_sagittal_plane(vol.with_data(np.zeros(vol.spatial_shape, np.float32)))


def test_given_mask_is_used():
    n = _unit(-6.0, 0.0)
    vol = _symmetric_head(normal=n, offset=-4.0, seed=6)
    plane = find_mid_sagittal_plane(vol, mask=vol.data > 0)
    assert _angle_deg(plane.normal, n) < 1.0
    assert abs(float(plane.signed_distance(-4.0 * n)[0])) < 1.0


@pytest.mark.skipif(not ISLES.is_dir(), reason="the real ISLES'22 case is not in ../shared/data")
def test_isles_dwi_and_adc_agree():
    from napari_medai.core.io import read_volume

    base = ISLES / "rawdata" / "sub-strokecase0009" / "ses-0001"
    planes = [find_mid_sagittal_plane(read_volume(base / f"sub-strokecase0009_ses-0001_{k}.nii.gz"))
              for k in ("dwi", "adc")]
    for p in planes:
        assert p.score > 0.6
        assert abs(p.angle_about_s_deg) < 10 and abs(p.angle_about_p_deg) < 10
    assert _angle_deg(planes[0].normal, planes[1].normal) < 2.0
    assert abs(planes[0].offset_mm - planes[1].offset_mm) < 2.0
