"""DeepMedic-style network: shape contract, parameter count, both pathways, building from JSON, reloading."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_medai.core.errors import InvalidInputError  # noqa: E402
from napari_medai.core.models.contract import ModelContract, NetworkSpec  # noqa: E402
from napari_medai.core.models.deepmedic import (  # noqa: E402
    DEFAULT_FEATURE_MAPS,
    INFERENCE_SEGMENT,
    TRAINING_SEGMENT,
    build_deepmedic,
    deepmedic_parameter_count,
    receptive_field,
)
from napari_medai.core.models.errors import ModelLoadError  # noqa: E402
from napari_medai.core.models.loading import build_network  # noqa: E402

from .test_models_support import one_torch_thread  # noqa: E402, F401


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return build_deepmedic(in_channels=2, out_channels=1)


def _n_params(module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_published_segments_give_outputs_of_the_input_size(net):
    assert (TRAINING_SEGMENT, INFERENCE_SEGMENT) == (25, 45)
    with torch.no_grad():
        for s in (TRAINING_SEGMENT, INFERENCE_SEGMENT):
            y = net(torch.randn(1, 2, s, s, s))
            assert tuple(y.shape) == (1, 1, s, s, s) and torch.isfinite(y).all()
        # sizes that are not multiples of 3, and a batch
        y = net(torch.randn(2, 2, 10, 13, 8))
        assert tuple(y.shape) == (2, 1, 10, 13, 8)
    three = build_deepmedic(in_channels=1, out_channels=3, feature_maps=[4, 4], fc_features=[6])
    assert tuple(three(torch.zeros(1, 1, 7, 9, 11)).shape) == (1, 3, 7, 9, 11)
    with pytest.raises(ValueError, match=r"takes \(batch, 2"):
        net(torch.zeros(1, 3, 25, 25, 25))


def test_parameter_count_matches_the_layer_list(net):
    # Published configuration (Kamnitsas 2017), convolution weights and biases only, written out:
    # each pathway: 27 * (C*30 + 30*30 + 30*40 + 40*40 + 40*40 + 40*40 + 40*50 + 50*50) + (30+30+40*4+50+50)
    # head: (100*150 + 150) + (150*150 + 150) + (150*K + K)
    def published(c: int, k: int) -> int:
        pathway = 27 * (c * 30 + 30 * 30 + 30 * 40 + 40 * 40 * 3 + 40 * 50 + 50 * 50) + (30 + 30 + 40 * 4 + 50 + 50)
        return 2 * pathway + (100 * 150 + 150) + (150 * 150 + 150) + (150 * k + k)

    assert deepmedic_parameter_count(2, 2) == published(2, 2) == 657_582
    assert deepmedic_parameter_count(4, 5) == published(4, 5)
    # this module adds a PReLU slope and a batch-norm scale and shift per hidden map: 3 * (2 * 320 + 300)
    hidden = 2 * sum(DEFAULT_FEATURE_MAPS) + 150 + 150
    assert hidden == 940
    assert _n_params(net) == published(2, 1) + 3 * hidden == deepmedic_parameter_count(2, 1, per_channel=3)
    plain = build_deepmedic(in_channels=2, out_channels=2, norm="none")
    assert _n_params(plain) == published(2, 2) + hidden  # PReLU slopes only
    assert receptive_field() == (17, 51)


def test_gradients_reach_both_pathways():
    torch.manual_seed(1)
    m = build_deepmedic(in_channels=2, out_channels=1, feature_maps=[8] * 8, fc_features=[16, 16])
    m.train()
    loss = m(torch.randn(2, 2, 13, 13, 13)).square().mean()
    loss.backward()
    for name in ("normal.0.weight", "low.0.weight", "normal.21.weight", "low.21.weight", "head.0.weight"):
        g = dict(m.named_parameters())[name].grad
        assert g is not None and float(g.abs().sum()) > 0, name


def test_low_resolution_pathway_sees_the_input_downsampled_by_three():
    torch.manual_seed(2)
    m = build_deepmedic(in_channels=1, out_channels=1, feature_maps=[4] * 8, fc_features=[8, 8])
    x = torch.randn(1, 1, 25, 25, 25)
    low = m.low_resolution_input(x)
    # ceil(25 / 3) = 9 output voxels + 2 * 8 margin voxels per axis
    assert tuple(low.shape) == (1, 1, 25, 25, 25)
    # low-resolution voxel 8 + i is the mean of input voxels 3i .. 3i + 2 along each axis
    for i, j, k in ((0, 0, 0), (3, 5, 7), (7, 2, 1)):
        block = x[0, 0, 3 * i: 3 * i + 3, 3 * j: 3 * j + 3, 3 * k: 3 * k + 3]
        assert float(low[0, 0, 8 + i, 8 + j, 8 + k]) == pytest.approx(float(block.mean()), abs=1e-6)
    # the last block is partly padding (voxel 24 alone, zeros beyond): mean of 1 real voxel out of 3
    assert float(low[0, 0, 16, 8, 8]) == pytest.approx(float(x[0, 0, 24, 0:3, 0:3].sum() / 27), abs=1e-6)
    assert float(low[0, 0, :8].abs().max()) == 0.0  # the margin is zero padding


def test_context_beyond_the_normal_receptive_field_comes_from_the_low_pathway():
    torch.manual_seed(3)
    m = build_deepmedic(in_channels=1, out_channels=1, feature_maps=[8] * 8, fc_features=[8, 8], norm="none")
    x = torch.randn(1, 1, 45, 45, 45)
    # outside every receptive field the output is bitwise the same, so any difference is the context's
    far = x.clone()
    far[0, 0, 22, 22, 36] += 500.0  # 14 voxels from the centre: outside 17^3, inside 51^3
    with torch.no_grad():
        d = float((m(far) - m(x))[0, 0, 22, 22, 22].abs())
        assert d > 0.0
        m.low[0].weight.zero_()
        m.low[0].bias.zero_()
        assert float((m(far) - m(x))[0, 0, 22, 22, 22].abs()) == 0.0


def test_built_from_a_contract_network_spec_and_refused_with_bad_arguments():
    net = build_network(NetworkSpec("DeepMedic", {"spatial_dims": 3, "in_channels": 2, "out_channels": 1,
                                                  "feature_maps": [30, 30, 40, 40, 40, 40, 50, 50],
                                                  "fc_features": [150, 150]}))
    assert type(net).__name__ == "DeepMedic" and not net.training
    assert _n_params(net) == deepmedic_parameter_count(2, 1, per_channel=3)
    with pytest.raises(InvalidInputError, match="spatial_dims must be 3"):
        build_network(NetworkSpec("DeepMedic", {"spatial_dims": 2, "in_channels": 1, "out_channels": 1}))
    with pytest.raises(InvalidInputError, match="feature_maps"):
        build_network(NetworkSpec("DeepMedic", {"in_channels": 1, "out_channels": 1, "feature_maps": [30, 0]}))
    with pytest.raises(InvalidInputError, match="norm must be one of"):
        build_network(NetworkSpec("DeepMedic", {"in_channels": 1, "out_channels": 1, "norm": "group"}))
    with pytest.raises(ModelLoadError, match="cannot build DeepMedic"):
        build_network(NetworkSpec("DeepMedic", {"in_channels": 1, "out_channels": 1, "blocks": 3}))
    with pytest.raises(ModelLoadError, match="DeepMedic"):  # the error lists it among the allowed networks
        build_network(NetworkSpec("DeepMedicX", {}))


def test_saved_and_reloaded_model_folder_predicts_the_same(tmp_path):
    from napari_medai.core.inference.segmentation import predict
    from napari_medai.core.models.loading import LoadedModel, load_model, save_model_folder
    from napari_medai.core.volume import Volume

    kwargs = {"spatial_dims": 3, "in_channels": 2, "out_channels": 1, "feature_maps": [6] * 8, "fc_features": [12, 12]}
    contract = ModelContract(
        name="dm-test", task="stroke", channels=("dwi", "adc"), output_kind="sigmoid-regions",
        output_channels=("lesion",), label_convention="isles", label_names={1: "lesion"},
        label_rules=(("lesion", 1),), network=NetworkSpec("DeepMedic", kwargs), roi_size=(16, 16, 16),
        normalization="none", overlap=0.5, blend_mode="gaussian", is_trained=True, trained_on="a unit test",
    )
    torch.manual_seed(4)
    net = build_network(contract.network)
    with torch.no_grad():  # batch-norm running statistics that differ from the defaults
        for mod in net.modules():
            if isinstance(mod, torch.nn.BatchNorm3d):
                mod.running_mean.uniform_(-0.5, 0.5)
                mod.running_var.uniform_(0.5, 2.0)
    model = LoadedModel.from_network(net, contract)
    rng = np.random.default_rng(0)
    chans = {k: Volume(rng.normal(size=(18, 20, 17)).astype(np.float32), spacing=(2.0, 2.0, 2.0))
             for k in ("dwi", "adc")}
    a = predict(model, chans, device="cpu", return_probabilities=True)
    folder = save_model_folder(tmp_path / "dm", net, contract)
    reloaded = load_model(folder)
    assert type(reloaded.network).__name__ == "DeepMedic" and reloaded.contract == contract
    b = predict(reloaded, chans, device="cpu", return_probabilities=True)
    np.testing.assert_array_equal(a.probabilities.data, b.probabilities.data)
    np.testing.assert_array_equal(a.labels.data, b.labels.data)
    assert a.probabilities.data.shape == (1, 18, 20, 17)
