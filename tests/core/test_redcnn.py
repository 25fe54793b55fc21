"""RED-CNN: the standard (Chen 2017) and the weight-sharing variant of the shared state_dict."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_medai.core.errors import InvalidInputError  # noqa: E402
from napari_medai.core.models.errors import ModelLoadError  # noqa: E402
from napari_medai.core.models.redcnn import (  # noqa: E402
    SHARED_INPUT_OFFSET_HU,
    SHARED_KEYS,
    build_redcnn,
    load_shared_redcnn,
)

SHARED_WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "weights" / "redcnn_shared_L1_25.pt"


def test_standard_redcnn_layout_and_shape():
    net = build_redcnn("standard", filters=8)
    convs = [m for m in net.modules() if isinstance(m, torch.nn.Conv2d)]
    tconvs = [m for m in net.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert len(convs) == 5 and len(tconvs) == 5  # 5 conv + 5 deconv, each with its own weights
    assert all(m.kernel_size == (5, 5) and m.stride == (1, 1) and m.padding == (0, 0) for m in convs + tconvs)
    x = torch.randn(2, 1, 33, 40)
    with torch.no_grad():
        y = net(x)
    assert y.shape == x.shape
    # zero weights in the last layer: the output is the input (the outer residual shortcut)
    with torch.no_grad():
        net.tconv5.weight.zero_()
        net.tconv5.bias.zero_()
        torch.testing.assert_close(net(x), x)
    assert build_redcnn("standard").conv2.weight.shape == (96, 96, 5, 5)  # the paper's width by default


def test_shared_variant_reuses_conv_and_conv_t():
    net = build_redcnn("shared", filters=6)
    assert sorted(net.state_dict()) == sorted(SHARED_KEYS)
    y = net(torch.randn(1, 1, 30, 30))
    y.sum().backward()
    assert net.conv.weight.grad is not None and net.conv_t.weight.grad is not None


def test_too_small_images_and_bad_options_are_refused():
    net = build_redcnn("standard", filters=4)
    with pytest.raises(ValueError, match="at least 21"):
        net(torch.zeros(1, 1, 20, 40))
    with pytest.raises(InvalidInputError, match="standard' or 'shared"):
        build_redcnn("big")
    with pytest.raises(InvalidInputError, match="filters"):
        build_redcnn("standard", filters=0)


def test_wrong_key_is_refused_with_a_clear_message(tmp_path):
    sd = build_redcnn("shared", filters=4).state_dict()
    sd["conv_middle.weight"] = sd.pop("conv.weight")
    bad = tmp_path / "bad.pt"
    torch.save(sd, bad)
    with pytest.raises(ModelLoadError, match=r"missing conv\.weight.*unexpected conv_middle\.weight.*strict"):
        load_shared_redcnn(bad)
    # the standard network's weights are not the shared variant's either
    std = tmp_path / "standard.pt"
    torch.save(build_redcnn("standard", filters=4).state_dict(), std)
    with pytest.raises(ModelLoadError, match="do not fit SharedREDCNN"):
        load_shared_redcnn(std)
    with pytest.raises(ModelLoadError, match="no such weights file"):
        load_shared_redcnn(tmp_path / "absent.pt")


def test_pickled_objects_are_refused(tmp_path):
    p = tmp_path / "object.pt"
    torch.save({"net": build_redcnn("shared", filters=2)}, p)  # a whole module, not a state_dict
    with pytest.raises(ModelLoadError, match="weights_only=True"):
        load_shared_redcnn(p)


@pytest.mark.realdata
def test_shared_weights_load_strictly_and_run():
    if not SHARED_WEIGHTS.is_file():
        pytest.skip(f"shared RED-CNN weights not found at {SHARED_WEIGHTS}")
    net = load_shared_redcnn(SHARED_WEIGHTS)
    assert net.conv_first.weight.shape == (96, 1, 5, 5)
    rng = np.random.default_rng(0)
    clean = np.full((48, 48), 60.0, np.float32)
    noisy = clean + rng.normal(0, 80, clean.shape).astype(np.float32)
    with torch.no_grad():
        out = net(torch.from_numpy(noisy - SHARED_INPUT_OFFSET_HU)[None, None])[0, 0].numpy() + SHARED_INPUT_OFFSET_HU
    assert out.shape == noisy.shape and np.isfinite(out).all()
    inner = (slice(8, 40), slice(8, 40))
    assert out[inner].std() < 0.8 * noisy[inner].std()  # it does reduce noise
