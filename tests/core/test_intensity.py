"""How the brain region is found (core.intensity) and why a model gives the same labels whatever the
file's preparation (z-scored with a constant background, as BraTS 2013, or raw with a zero background)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.intensity import (
    BRAIN_REGIONS,
    background_value,
    brain_region_masks,
    normalize,
)
from napari_medai.core.models.contract import ModelContract

from .test_models_support import one_torch_thread  # noqa: F401


def _raw_case(shape=(20, 22, 18), seed=0) -> tuple[np.ndarray, np.ndarray]:
    """Two raw channels with a zero background and a ball-shaped brain; some brain voxels of channel 1
    are exactly 0, as dark voxels of raw int16 files are."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(shape)
    c = [(s - 1) / 2 for s in shape]
    brain = ((zz - c[0]) / 8) ** 2 + ((yy - c[1]) / 9) ** 2 + ((xx - c[2]) / 7) ** 2 <= 1
    raw = np.zeros((2, *shape), np.float32)
    raw[0][brain] = rng.normal(600, 80, brain.sum()).round()
    raw[1][brain] = rng.normal(300, 120, brain.sum()).clip(0).round()
    raw[1][tuple(int(round(x)) for x in c)] = 0.0  # a dark voxel inside the brain
    return raw, brain


def _zscored_with_constant_background(raw: np.ndarray, brain: np.ndarray, backgrounds=(-3.16, -2.75)) -> np.ndarray:
    """The BraTS 2013 preparation of the same case: z-scored inside the brain, a constant background."""
    out = np.empty_like(raw)
    for c, bg in enumerate(backgrounds):
        v = raw[c][brain]
        out[c] = bg
        out[c][brain] = (v - v.mean()) / v.std()
    return out


def test_constant_background_rule_normalises_both_preparations_alike():
    raw, brain = _raw_case()
    z = _zscored_with_constant_background(raw, brain)
    assert background_value(raw[0]) == 0.0 and background_value(z[0]) == pytest.approx(-3.16)
    n_raw, m_raw = normalize(raw, "zscore-nonzero", brain_region="constant-background")
    n_z, m_z = normalize(z, "zscore-nonzero", brain_region="constant-background")
    assert np.array_equal(m_raw[0], brain) and np.array_equal(m_raw, m_z)
    np.testing.assert_allclose(n_raw, n_z, atol=2e-5)
    # the per-channel rule of older models takes the raw file's dark brain voxel for background
    l_raw, lm_raw = normalize(raw, "zscore-nonzero", brain_region="channel-background")
    l_z, lm_z = normalize(z, "zscore-nonzero", brain_region="channel-background")
    assert lm_raw[1].sum() < brain.sum() and lm_z[1].sum() == brain.sum()
    assert not np.allclose(l_raw, l_z, atol=1e-3)


def test_nonzero_and_given_mask_rules():
    raw, brain = _raw_case()
    z = _zscored_with_constant_background(raw, brain)
    assert brain_region_masks(raw, "nonzero")[0].sum() == brain.sum()
    assert brain_region_masks(z, "nonzero")[0].all()  # a non-zero background is all "brain" to this rule
    half = brain.copy()
    half[: brain.shape[0] // 2] = False
    assert np.array_equal(brain_region_masks(raw, "given-mask", brainmask=half)[1], half)
    with pytest.raises(InvalidInputError, match="given brain mask; give one"):
        brain_region_masks(raw, "given-mask")
    with pytest.raises(InvalidInputError, match="brain_region must be one of"):
        brain_region_masks(raw, "skull-strip")
    # the constant-background rule ignores a mask: the network sees what it sees without one
    assert np.array_equal(brain_region_masks(raw, "constant-background", brainmask=half)[0], brain)


def _contract_dict(**extra) -> dict:
    d = {"name": "m", "task": "brain_tumour", "channels": ["flair"], "output_kind": "sigmoid-regions",
         "output_channels": ["WT"], "label_convention": "brats2021", "label_names": {"2": "ED"},
         "label_rules": [["WT", 2]], "roi_size": [16, 16, 16],
         "network": {"name": "SegResNet", "kwargs": {"spatial_dims": 3, "in_channels": 1, "out_channels": 1}}}
    return {**d, **extra}


def test_contract_states_the_rule_and_older_folders_keep_theirs():
    old = ModelContract.from_dict(_contract_dict())
    assert old.brain_region == "channel-background" and "brain_region" not in old.to_dict()
    new = ModelContract.from_dict(_contract_dict(brain_region="constant-background"))
    assert new.to_dict()["brain_region"] == "constant-background"
    assert ModelContract.from_dict(new.to_dict()) == new
    with pytest.raises(InvalidInputError, match="brain_region must be one of"):
        ModelContract.from_dict(_contract_dict(brain_region="bet"))
    assert set(BRAIN_REGIONS) >= {"constant-background", "nonzero", "given-mask"}
    from napari_medai.core.models import load_model
    from napari_medai.core.tasks.brain_tumour import brain_tumour_task

    assert load_model("brain-tumour-default").contract.brain_region == "channel-background"  # packaged, older
    assert brain_tumour_task(("flair",)).contract.brain_region == "constant-background"


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A brain-tumour model trained for a few steps on two phantoms (the default brain-region rule)."""
    pytest.importorskip("monai")
    import torch

    from napari_medai.core.phantoms import brain_tumour_phantom
    from napari_medai.core.tasks.brain_tumour import brain_tumour_task
    from napari_medai.core.training import TrainingCase, train

    torch.set_num_threads(1)
    cases = []
    for s in (1, 2):
        v = brain_tumour_phantom(seed=s, shape=(48, 48, 48))
        cases.append(TrainingCase(f"p{s}", {"flair": v["flair"], "t1c": v["t1c"]}, v["seg"], "brats2021"))
    task = brain_tumour_task(("flair", "t1c"), target_spacing=(1.5, 1.5, 1.5), roi_size=(32, 32, 32))
    out = tmp_path_factory.mktemp("tiny") / "model"
    train(task, cases, out_dir=out, seed=0, max_epochs=1, patch_size=(32, 32, 32), batch_size=1,
          iterations_per_epoch=3, val_fraction=0.0, learning_rate=1e-2, device="cpu")
    return out


def test_same_case_in_both_preparations_gets_the_same_labels(tiny_model, one_torch_thread):  # noqa: F811
    from napari_medai.core.inference.segmentation import predict
    from napari_medai.core.phantoms import brain_tumour_phantom

    v = brain_tumour_phantom(seed=5, shape=(48, 48, 48))
    raw = np.stack([np.asarray(v[c].data, np.float32).round() for c in ("flair", "t1c")])
    brain = np.any(raw != 0, axis=0)
    raw[1][tuple(np.argwhere(brain)[len(np.argwhere(brain)) // 2])] = 0.0  # a dark brain voxel, as in raw files
    z = _zscored_with_constant_background(raw, brain)
    ref = v["flair"]
    as_raw = {c: ref.with_data(raw[i]) for i, c in enumerate(("flair", "t1c"))}
    as_z = {c: ref.with_data(z[i]) for i, c in enumerate(("flair", "t1c"))}
    p_raw = predict(tiny_model, as_raw, device="cpu", uncertainty=None, return_probabilities=True)
    p_z = predict(tiny_model, as_z, device="cpu", uncertainty=None, return_probabilities=True)
    assert np.asarray(p_raw.labels.data).any()
    assert np.array_equal(np.asarray(p_raw.labels.data), np.asarray(p_z.labels.data))
    np.testing.assert_allclose(np.asarray(p_raw.probabilities.data), np.asarray(p_z.probabilities.data), atol=1e-4)


def test_brats2013_region_equals_its_brain_mask(shared_data):
    from napari_medai.core.io import read_volume

    case = shared_data / "brats2013_flair_t1c" / "brats_2013_pat0003_1"
    if not case.is_dir():
        pytest.skip(f"{case} is absent")
    data = np.stack([np.asarray(read_volume(case / f"{c}_subtrMeanDivStd.nii.gz").data) for c in ("Flair", "T1c")])
    mask = np.asarray(read_volume(case / "brainmask.nii.gz").data) > 0.5
    region = brain_region_masks(data, "constant-background")[0]
    assert np.array_equal(region, mask)
    assert not np.array_equal(brain_region_masks(data, "channel-background")[1], mask)  # T1c: 5,812 clipped voxels
