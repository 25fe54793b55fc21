"""Affine registration to a template: a known affine is recovered on a synthetic head, nonsense is refused."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks.alzheimer import registration as reg
from napari_medai.core.tasks.alzheimer.registration import (
    RegistrationError,
    Template,
    find_template,
    register_to_template,
)
from napari_medai.core.volume import Volume

SPACING = 4.0
RADII = np.array([62.0, 78.0, 58.0])  # brain ellipsoid, LPS x (left), y (posterior), z (superior), mm


def _grid_lps(shape, origin_zyx):
    k, j, i = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    return np.stack([origin_zyx[2] + i * SPACING, origin_zyx[1] + j * SPACING, origin_zyx[0] + k * SPACING], -1)


def _ellipsoid(p, centre, radii):
    return np.linalg.norm((p - np.asarray(centre, float)) / np.asarray(radii, float), axis=-1)


def head_phantom(p: np.ndarray, *, with_head: bool) -> tuple[np.ndarray, np.ndarray]:
    """T1-like intensities at LPS points ``p`` (..., 3): a brain with asymmetric structures, and (with_head)
    a dark skull, a bright scalp and a neck. Returns (image, brain mask)."""
    r = _ellipsoid(p, (0, 0, 0), RADII)
    cereb = _ellipsoid(p, (0, 50, -48), (42, 22, 16)) <= 1
    brain = (r <= 1) | cereb
    img = np.zeros(p.shape[:-1], np.float32)
    img[brain] = 0.6
    img[r <= 0.78] = 1.0
    img[cereb] = 0.7
    for c, rad, v in (((11, 5, 10), (5, 20, 8), 0.15), ((-11, 5, 10), (5, 20, 8), 0.15),
                      ((28, -30, 22), (10, 10, 10), 0.8), ((-22, 38, -18), (9, 9, 9), 0.35),
                      ((0, -45, 30), (20, 8, 6), 0.45)):
        img[_ellipsoid(p, c, rad) <= 1] = v
    if with_head:
        skull = (_ellipsoid(p, (0, 0, 0), RADII + 6) <= 1) & ~brain
        scalp = (_ellipsoid(p, (0, 0, 0), RADII + 11) <= 1) & ~brain & ~skull
        neck = (np.hypot(p[..., 0], p[..., 1] - 20) <= 45) & (p[..., 2] > -140) & (p[..., 2] < -30) & ~brain
        img[skull] = 0.05
        img[scalp | neck] = 0.55
    return img, brain


def _smooth(img):
    from scipy import ndimage

    return ndimage.gaussian_filter(img, 0.8).astype(np.float32)


def synthetic_template() -> Template:
    shape = (40, 48, 40)
    origin = tuple(-(n - 1) / 2 * SPACING for n in shape)
    img, brain = head_phantom(_grid_lps(shape, origin), with_head=False)
    vol = Volume(_smooth(img), spacing=(SPACING,) * 3, origin=origin, name="template")
    return Template(image=vol, brain_mask=brain, mask_source="synthetic")


def affine_lps(rot_deg=(4.0, -3.0, 6.0), scales=(1.06, 0.96, 1.02), shift=(8.0, -6.0, 12.0)) -> np.ndarray:
    """4 x 4 template -> subject map in LPS mm (rotation about x, y, z, then scaling, then a shift)."""
    from scipy.spatial.transform import Rotation

    h = np.eye(4)
    h[:3, :3] = Rotation.from_euler("xyz", rot_deg, degrees=True).as_matrix() @ np.diag(scales)
    h[:3, 3] = shift
    return h


def synthetic_subject(h: np.ndarray, *, shape=(60, 52, 46)) -> Volume:
    """A head (skull, scalp, neck) seen through ``h``: the subject's intensity at y is the phantom's at h^-1 y."""
    origin = (-150.0, -(shape[1] - 1) / 2 * SPACING, -(shape[2] - 1) / 2 * SPACING)
    y = _grid_lps(shape, origin)
    inv = np.linalg.inv(h)
    p = y @ inv[:3, :3].T + inv[:3, 3]
    img, _ = head_phantom(p, with_head=True)
    return Volume(_smooth(img) * 300.0, spacing=(SPACING,) * 3, origin=origin, name="subject", modality="MR")


@pytest.fixture(scope="module")
def template() -> Template:
    return synthetic_template()


def test_a_known_affine_is_recovered_with_skull_and_neck(template):
    h = affine_lps()
    res = register_to_template(synthetic_subject(h), template, threads=1, min_correlation=0.8)
    pts = np.argwhere(template.brain_mask)[::7][:, ::-1] * SPACING + np.asarray(template.image.origin)[::-1]
    err = np.linalg.norm(pts @ (res.matrix[:3, :3] - h[:3, :3]).T + (res.matrix[:3, 3] - h[:3, 3]), axis=1)
    m = res.metrics
    assert err.mean() < 1.0 and err.max() < 2.5, (err.mean(), err.max(), m)
    assert m["accepted"] and m["correlation_after"] > 0.9 and m["correlation_after"] > m["correlation_before"]
    np.testing.assert_allclose(sorted(m["scales"]), sorted([1.06, 0.96, 1.02]), atol=0.02)
    assert res.aligned.same_grid(template.image) and res.aligned.data.dtype == np.float32


def test_nonsense_input_is_refused_with_the_reason(template):
    noise = Volume(np.random.default_rng(0).uniform(0, 100, (50, 50, 50)).astype(np.float32),
                   spacing=(SPACING,) * 3, name="noise")
    with pytest.raises(RegistrationError, match="noise: registration to MNI152 failed: ") as info:
        register_to_template(noise, template, threads=1)
    kept = info.value.metrics
    assert not kept["accepted"] and kept["correlation_after"] < 0.3 and kept["reason"] in str(info.value)


def test_bad_inputs_are_refused_before_any_work(template):
    with pytest.raises(InvalidInputError, match="covers only 30 x 30 x 30 mm"):
        register_to_template(Volume(np.random.default_rng(0).random((10, 10, 10)), spacing=(3.0,) * 3), template)
    with pytest.raises(InvalidInputError, match="is constant"):
        register_to_template(Volume(np.ones((40, 40, 40)), spacing=(3.0,) * 3), template)
    part = register_to_template(Volume(np.random.default_rng(1).random((24, 24, 24)), spacing=(4.0,) * 3),
                                template, threads=1, refuse=False)
    assert not part.metrics["accepted"] and "field of view" in part.metrics["reason"]
    with pytest.raises(InvalidInputError, match="label map"):
        register_to_template(Volume(np.ones((40, 40, 40), np.uint8), spacing=(3.0,) * 3, is_label=True), template)


def test_transform_is_saved_as_itk_text_and_not_over_an_existing_file(template, tmp_path):
    import SimpleITK as sitk

    h = affine_lps(rot_deg=(0, 0, 3), scales=(1, 1, 1), shift=(5, 0, -4))
    res = register_to_template(synthetic_subject(h), template, threads=1)
    out = res.save_transform(tmp_path / "t.tfm")
    assert "AffineTransform" in out.read_text()
    back = sitk.ReadTransform(str(out))
    p = (10.0, -20.0, 30.0)
    np.testing.assert_allclose(back.TransformPoint(p), res.transform.TransformPoint(p), atol=1e-4)
    with pytest.raises(InvalidInputError, match="already exists"):
        res.save_transform(out)
    with pytest.raises(InvalidInputError, match=r"\.tfm"):
        res.save_transform(tmp_path / "t.nii.gz")


def test_template_lookup_says_how_to_get_one(tmp_path, monkeypatch):
    with pytest.raises(InvalidInputError, match="template not found"):
        find_template(tmp_path / "missing.nii.gz")
    monkeypatch.setattr(reg.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(InvalidInputError, match="pip install nilearn"):
        find_template(None)
    assert importlib.util is reg.importlib.util  # the lookup goes through importlib, never imports nilearn


def test_real_template_mask_from_gm_and_wm(shared_file):
    t = reg.load_template(shared_file("brain_t1/" + reg.TEMPLATE_NAME))
    assert t.mask_source == "gm+wm>=0.5"
    assert 1.4e6 < t.brain_mask.sum() < 2.0e6  # about 1.7 litres of 1 mm voxels
