"""predict(): channel matching, grids, normalisation, orientation, TTA, cancellation, labels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medai.core.errors import GeometryMismatchError  # noqa: E402
from napari_medai.core.inference.labels import labels_from_probabilities  # noqa: E402
from napari_medai.core.inference.layout import layout_for, volume_axis_codes  # noqa: E402
from napari_medai.core.inference.segmentation import predict  # noqa: E402
from napari_medai.core.inference.sliding_window import count_windows  # noqa: E402
from napari_medai.core.intensity import normalize  # noqa: E402
from napari_medai.core.models import REGISTRY, Cancelled, MissingChannelError  # noqa: E402
from napari_medai.core.models.loading import LoadedModel  # noqa: E402
from napari_medai.core.volume import Volume  # noqa: E402

from .test_models_support import BRATS_LAMBDA, one_torch_thread, small_brain_case  # noqa: E402, F401

BRATS = REGISTRY["brats_mri_segmentation"].contract


class _FirstThree(torch.nn.Module):
    """'Network' whose logits are its first three input channels (flip- and shift-equivariant)."""

    def forward(self, x):
        return x[:, :3] * 1.0


def _identity_model(**changes) -> LoadedModel:
    changes.setdefault("target_spacing", None)
    c = BRATS.with_changes(normalization="none", roi_size=(16, 16, 16), name="identity", **changes)
    return LoadedModel.from_network(_FirstThree(), c, source="test identity")


def _bundle_lambda(logits: torch.Tensor) -> torch.Tensor:
    """The bundle's own post-processing: sigmoid, AsDiscrete(threshold=0.5), then its Lambdad."""
    from monai.transforms import AsDiscrete

    x = AsDiscrete(threshold=0.5)(torch.sigmoid(logits))
    func = eval(BRATS_LAMBDA[1:], {"torch": torch})  # the test's own literal, reproducing the bundle
    return func(x)[0]


def test_sigmoid_to_label_mapping_is_exactly_the_bundles():
    combos = np.array(list(itertools.product([-3.0, 3.0], repeat=3)), dtype=np.float32)  # 8 x (TC, WT, ET)
    logits = np.repeat(combos.T[:, :, None, None], 2, axis=2)  # (3, 8, 2, 1)
    logits = np.concatenate([logits, np.zeros((3, 1, 2, 1), np.float32)], axis=1)  # prob exactly 0.5
    probs = 1 / (1 + np.exp(-logits))
    ours = labels_from_probabilities(probs, BRATS)
    theirs = _bundle_lambda(torch.from_numpy(logits)).numpy()
    np.testing.assert_array_equal(ours, theirs)
    assert set(np.unique(ours)) == {0, 1, 2, 4}


def _logit_volumes(shape=(20, 24, 18), seed=0, direction=None):
    rng = np.random.default_rng(seed)
    data = rng.choice([-4.0, -2.0, 2.0, 4.0], size=(4, *shape)).astype(np.float32)
    names = ["t1c", "t1", "t2", "flair"]
    return {n: Volume(data[i], spacing=(1.0, 1.2, 0.9), origin=(5, -3, 2), direction=direction, name=n)
            for i, n in enumerate(names)}, data


@pytest.mark.parametrize("orientation", ["storage", "RAS", "LPS", "SAR"])
def test_end_to_end_labels_follow_the_bundle_mapping_on_the_input_grid(orientation):
    direction = np.array([[0, 0, -1], [0, -1, 0], [1, 0, 0]], dtype=float)  # an oblique-free but permuted grid
    vols, data = _logit_volumes(direction=direction)
    model = _identity_model(orientation=orientation)
    pred = predict(model, vols, device="cpu", return_probabilities=True)
    expected = _bundle_lambda(torch.from_numpy(data[:3])).numpy()
    np.testing.assert_array_equal(pred.labels.data, expected)
    assert pred.labels.same_grid(vols["t1c"]) and pred.labels.is_label
    assert pred.labels.label_names == {1: "NCR/NET", 2: "ED", 4: "ET"}
    assert pred.labels.meta["convention"] == "brats2021"
    np.testing.assert_allclose(pred.probabilities.data, 1 / (1 + np.exp(-data[:3])), atol=1e-6)
    assert pred.probabilities.channel_names == ["TC", "WT", "ET"]


def test_channels_are_matched_by_alias_and_missing_ones_are_named():
    vols, data = _logit_volumes()
    model = _identity_model()
    renamed = {"T1Gd": vols["t1c"], "t1n": vols["t1"], "t2w": vols["t2"], "t2f": vols["flair"], "adc": vols["t1"]}
    a = predict(model, renamed, device="cpu")
    b = predict(model, [vols[k] for k in ("t1c", "t1", "t2", "flair")], device="cpu")
    np.testing.assert_array_equal(a.labels.data, b.labels.data)
    with pytest.raises(MissingChannelError) as exc:
        predict(model, {"flair": vols["flair"], "t1ce": vols["t1c"]}, device="cpu")
    msg = str(exc.value)
    assert "missing: t1 (also accepted: t1n" in msg and "t2 (also accepted: t2w)" in msg
    assert "Given: flair, t1ce" in msg
    with pytest.raises(MissingChannelError, match="in this order: t1c, t1, t2, flair"):
        predict(model, [vols["flair"]], device="cpu")


def test_channels_on_different_grids_are_refused():
    vols, _ = _logit_volumes()
    vols["t2"] = vols["t2"].with_data(vols["t2"].data, origin=(0, 0, 0))
    with pytest.raises(GeometryMismatchError, match="'t1c' and 't2'.*origin"):
        predict(_identity_model(), vols, device="cpu")


def test_normalisation_matches_monai_and_handles_constant_background():
    from monai.transforms import NormalizeIntensity

    case = small_brain_case()
    data = np.stack([case[k].data for k in ("flair", "t1c")])
    ours, masks = normalize(data, "zscore-nonzero")
    theirs = NormalizeIntensity(nonzero=True, channel_wise=True)(torch.from_numpy(data)).numpy()
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    shifted = np.where(data == 0, -3.2, data)  # z-scored before skull stripping: constant background
    ours2, masks2 = normalize(shifted, "zscore-nonzero")
    np.testing.assert_allclose(ours2, ours, atol=1e-5)
    np.testing.assert_array_equal(masks2, masks)
    brain = case["brainmask"].data > 0
    ours3, _ = normalize(shifted, "zscore-nonzero", brainmask=brain)
    assert np.all(ours3[:, ~brain] == 0)


def test_axis_codes_and_layouts():
    v = Volume(np.zeros((4, 5, 6)))
    assert volume_axis_codes(v) == "SPL"  # a NIfTI stored LPS
    lay = layout_for(v, "RAS")
    assert lay.perm == (2, 1, 0) and lay.flips == (True, True, False)
    arr = np.arange(2 * 4 * 5 * 6).reshape(2, 4, 5, 6)
    np.testing.assert_array_equal(lay.from_net(lay.to_net(arr)), arr)
    assert layout_for(v, "storage").to_net(arr).shape == (2, 6, 5, 4)


def test_progress_cancellation_and_window_count():
    vols, _ = _logit_volumes(shape=(20, 24, 18))
    model = _identity_model()
    seen = []
    pred = predict(model, vols, device="cpu", progress=lambda f, m: seen.append((f, m)))
    fracs = [f for f, _ in seen]
    assert fracs == sorted(fracs) and fracs[-1] == 1.0
    n = count_windows((18, 24, 20), (16, 16, 16), 0.5)
    assert pred.n_windows == n == sum(1 for _, m in seen if m.startswith("window"))
    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 3

    with pytest.raises(Cancelled):
        predict(model, vols, device="cpu", should_stop=stop)


def test_tta_averages_flips_and_reports_uncertainty():
    vols, data = _logit_volumes()
    model = _identity_model()
    plain = predict(model, vols, device="cpu", return_probabilities=True)
    tta = predict(model, vols, device="cpu", tta=True, return_probabilities=True)
    assert tta.tta_passes == 8 and tta.n_windows == 8 * plain.n_windows
    np.testing.assert_allclose(tta.probabilities.data, plain.probabilities.data, atol=1e-6)
    assert tta.uncertainty is not None and float(tta.uncertainty.data.max()) < 1e-6  # equivariant net
    assert plain.uncertainty is None
    ent = predict(model, vols, device="cpu", uncertainty="entropy")
    assert ent.uncertainty.data.shape == data.shape[1:] and ent.uncertainty.data.min() >= 0
    # a random (untrained) real network: flips disagree, and the output says it is untrained
    rnd = LoadedModel.random(BRATS.with_changes(roi_size=(16, 16, 16), network=BRATS.network.__class__(
        "SegResNet", {**BRATS.network.kwargs, "init_filters": 8})), seed=0)
    case = small_brain_case(shape=(16, 20, 16))
    out = predict(rnd, {k: case[k] for k in ("flair", "t1", "t1c", "t2")}, device="cpu", tta=2)
    assert out.tta_passes == 2 and out.uncertainty.data.max() > 0
    assert not out.is_trained and any("NOT TRAINED" in n for n in out.notes)
    assert out.labels.meta["is_trained"] is False


def test_resampling_to_the_model_spacing_and_back():
    vols, data = _logit_volumes(shape=(12, 14, 10))
    coarse = {k: v.with_data(v.data, spacing=(2.0, 2.0, 2.0)) for k, v in vols.items()}
    model = _identity_model(target_spacing=(1.0, 1.0, 1.0))
    pred = predict(model, coarse, device="cpu", return_probabilities=True)
    assert pred.labels.same_grid(coarse["t1c"])
    assert any("resampled" in n for n in pred.notes)
    # linear up- then down-sampling of a constant-per-voxel field keeps most voxels' labels
    expected = _bundle_lambda(torch.from_numpy(data[:3])).numpy()
    assert (pred.labels.data == expected).mean() > 0.6


def test_crop_to_foreground_keeps_the_input_grid_and_mask():
    case = small_brain_case()
    chans = {k: case[k] for k in ("flair", "t1", "t1c", "t2")}
    base = BRATS.with_changes(roi_size=(16, 16, 16), network=BRATS.network.__class__(
        "SegResNet", {**BRATS.network.kwargs, "init_filters": 8}))
    torch.manual_seed(0)
    rnd = LoadedModel.random(base, seed=0)
    full = predict(rnd, chans, device="cpu", brainmask=case["brainmask"])
    cropped = predict(LoadedModel.from_network(rnd.network, rnd.contract.with_changes(crop_foreground=True)),
                      chans, device="cpu", brainmask=case["brainmask"])
    assert full.labels.same_grid(cropped.labels)
    assert np.all(full.labels.data[case["brainmask"].data == 0] == 0)
    assert np.all(cropped.labels.data[case["brainmask"].data == 0] == 0)


def test_region_volumes_in_ml():
    vols, data = _logit_volumes()
    pred = predict(_identity_model(), vols, device="cpu")
    lab = pred.labels.data
    ml = np.prod(vols["t1c"].spacing) / 1000
    assert pred.region_volumes_ml["WT"] == pytest.approx(np.isin(lab, [1, 2, 4]).sum() * ml)
    assert pred.region_volumes_ml["TC"] == pytest.approx(np.isin(lab, [1, 4]).sum() * ml)
    assert pred.label_volumes_ml["ET"] == pytest.approx((lab == 4).sum() * ml)
    assert "WT" in pred.summary()


def test_amp_request_on_cpu_is_noted_not_fatal():
    vols, _ = _logit_volumes()
    pred = predict(_identity_model(), vols, device="cpu", amp=True)
    assert pred.amp is False and any("AMP" in n for n in pred.notes)


def test_a_zoo_layout_bundle_runs_end_to_end(tmp_path):
    from napari_medai.core.models import load_model

    from .test_models_support import make_bundle

    model = load_model(make_bundle(tmp_path, roi=(32, 32, 32), seed=2))
    case = small_brain_case(shape=(28, 36, 30))
    chans = {k: case[k] for k in ("flair", "t1", "t1c", "t2")}
    raw = predict(model, chans, device="cpu", return_probabilities=True, mask_to_foreground=False)
    assert raw.labels.same_grid(case["flair"]) and raw.is_trained
    assert set(np.unique(raw.labels.data)) <= {0, 1, 2, 4}
    # the bundle's own mapping of its 3 sigmoid channels, untouched
    np.testing.assert_array_equal(raw.labels.data, labels_from_probabilities(raw.probabilities.data, model.contract))
    # by default, labels where every channel is background (outside the head) are removed, and only those
    pred = predict(model, chans, device="cpu")
    background = np.all([np.asarray(v.data) == 0 for v in chans.values()], axis=0)
    assert background.any() and (raw.labels.data[background] > 0).any()
    assert not (pred.labels.data[background] > 0).any()
    np.testing.assert_array_equal(pred.labels.data[~background], raw.labels.data[~background])
    assert any("every input is background" in n for n in pred.notes)
    assert raw.n_windows == count_windows((30, 36, 28), (32, 32, 32), 0.5)
