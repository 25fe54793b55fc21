"""Classifier contracts, and weights from elsewhere: model folders, torchvision and torchxrayvision state_dicts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.models.contract import ModelContract
from napari_medai.core.models.loading import build_network
from napari_medai.core.tasks.classify import (
    ARCHITECTURES,
    CHEXNEXT_LABELS,
    XRV_LABELS,
    architecture_of,
    classify_contract,
    init_state,
    xrv_head_to_chexnext,
)

from .test_models_support import one_torch_thread  # noqa: F401


def test_contracts_of_every_architecture_round_trip() -> None:
    for arch in ARCHITECTURES:
        c = classify_contract(("NORMAL", "PNEUMONIA"), arch=arch, size=64)
        assert c.kind == "classification" and c.output_kind == "softmax" and c.roi_size == (64, 64)
        assert c.normalization == "zscore" and c.channels == ("image",) and not c.is_trained
        assert architecture_of(ModelContract.from_dict(c.to_dict())) == arch
    m = classify_contract(CHEXNEXT_LABELS, arch="densenet121", multilabel=True)
    assert m.output_kind == "sigmoid" and len(m.output_channels) == 14 and m.decision_thresholds == (0.5,) * 14


@pytest.mark.parametrize("kwargs, message", [
    ({"classes": ("a",)}, "at least 2 classes"),
    ({"classes": ("a", "a")}, "distinct"),
    ({"classes": ("a", "b"), "size": 48}, "multiple of 32"),
    ({"classes": ("a", "b"), "arch": "vgg"}, "unknown architecture"),
    ({"classes": ("a", "b"), "multilabel": True, "thresholds": (0.5,)}, "one value in"),
])
def test_bad_contracts_are_refused(kwargs, message) -> None:
    with pytest.raises(InvalidInputError, match=message):
        classify_contract(**kwargs)


def test_chexnext_labels_are_the_fourteen_findings() -> None:
    assert len(CHEXNEXT_LABELS) == 14 and len(set(CHEXNEXT_LABELS)) == 14
    assert CHEXNEXT_LABELS[0] == "Atelectasis" and "Hernia" in CHEXNEXT_LABELS
    assert len(XRV_LABELS) == 18


def _to_xrv_names(monai_state: dict) -> dict:
    """MONAI DenseNet121 keys -> the torchvision / torchxrayvision layout (norm1, classifier)."""
    out = {}
    for k, v in monai_state.items():
        k = k.replace(".layers.", ".")
        k = k.replace("class_layers.out.", "classifier.")
        out[k] = v
    return out


def test_torchxrayvision_densenet_maps_onto_chexnext_by_name(tmp_path: Path) -> None:
    """A 18-output torchxrayvision-layout DenseNet state_dict (made here, not downloaded) loaded into a
    14-finding model gives, for every CheXNeXt finding, exactly the xrv output of the same name."""
    import torch

    torch.manual_seed(0)
    xrv = build_network(classify_contract(XRV_LABELS, arch="densenet121", size=32, multilabel=True).network)
    state = _to_xrv_names(xrv.state_dict())
    assert "features.denseblock1.denselayer1.norm1.weight" in state and state["classifier.weight"].shape[0] == 18
    path = tmp_path / "xrv-densenet.pt"
    torch.save(state, path)
    contract = classify_contract(CHEXNEXT_LABELS, arch="densenet121", size=32, multilabel=True)
    net = build_network(contract.network)
    take, report = init_state(path, net, "densenet121", CHEXNEXT_LABELS)
    assert report["head"] == "torchxrayvision outputs mapped by name"
    net.load_state_dict(take, strict=True)
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        y18, y14 = xrv.eval()(x), net.eval()(x)
    for j, name in enumerate(CHEXNEXT_LABELS):
        i = [n.replace("_", " ") for n in XRV_LABELS].index(name)
        np.testing.assert_allclose(y14[:, j].numpy(), y18[:, i].numpy(), rtol=1e-5, atol=1e-6)
    # Effusion is xrv's 8th output and CheXNeXt's 3rd
    assert torch.equal(take["class_layers.out.weight"][2], state["classifier.weight"][7])


def test_xrv_head_mapping_refuses_unknown_finding() -> None:
    import torch

    state = {"class_layers.out.weight": torch.zeros(18, 4), "class_layers.out.bias": torch.zeros(18)}
    with pytest.raises(InvalidInputError, match="no output named Tumour"):
        xrv_head_to_chexnext(state, ("Effusion", "Tumour"))


def test_torchvision_resnet18_state_dict_loads_with_its_rgb_convolution_summed(tmp_path: Path) -> None:
    import torch

    torch.manual_seed(1)
    grey = build_network(classify_contract(("a", "b", "c"), arch="resnet18", size=32).network)
    tv = {k: v.clone() for k, v in grey.state_dict().items()}
    tv["conv1.weight"] = torch.randn(64, 3, 7, 7)  # torchvision's first convolution takes RGB
    tv["fc.weight"], tv["fc.bias"] = torch.randn(1000, 512), torch.randn(1000)  # ImageNet head
    torch.save(tv, tmp_path / "resnet18.pth")
    net = build_network(classify_contract(("NORMAL", "PNEUMONIA"), arch="resnet18", size=32).network)
    take, report = init_state(tmp_path / "resnet18.pth", net, "resnet18", ("NORMAL", "PNEUMONIA"))
    assert torch.allclose(take["conv1.weight"], tv["conv1.weight"].sum(dim=1, keepdim=True))
    assert "fc.weight" not in take and report["head"].startswith("new")
    assert torch.equal(take["layer3.0.conv1.weight"], tv["layer3.0.conv1.weight"])


def test_weights_of_another_architecture_are_refused(tmp_path: Path) -> None:
    import torch

    slim = build_network(classify_contract(("a", "b"), arch="resnet10-slim", size=32).network)
    torch.save(slim.state_dict(), tmp_path / "slim.pt")
    net = build_network(classify_contract(("a", "b"), arch="resnet18", size=32).network)
    with pytest.raises(InvalidInputError, match="do not fit a resnet18 network"):
        init_state(tmp_path / "slim.pt", net, "resnet18", ("a", "b"))
    with pytest.raises(InvalidInputError, match="does not exist"):
        init_state(tmp_path / "none.pt", net, "resnet18", ("a", "b"))


def test_pickled_whole_model_is_refused_not_unpickled(tmp_path: Path) -> None:
    import torch

    from napari_medai.core.models.errors import ModelLoadError

    net = build_network(classify_contract(("a", "b"), arch="resnet10-slim", size=32).network)
    torch.save(net, tmp_path / "whole.pt")  # a pickled module (as torchxrayvision's own files are)
    with pytest.raises(ModelLoadError, match="weights_only=True"):
        init_state(tmp_path / "whole.pt", net, "resnet10-slim", ("a", "b"))


def test_a_model_folder_of_another_architecture_names_the_one_to_use(tmp_path: Path) -> None:
    from napari_medai.core.models.loading import save_model_folder

    c = classify_contract(("a", "b"), arch="resnet10-slim", size=32).with_changes(is_trained=True, trained_on="test")
    save_model_folder(tmp_path / "slim", build_network(c.network), c)
    net = build_network(classify_contract(("a", "b"), arch="resnet18", size=32).network)
    with pytest.raises(InvalidInputError, match="is a resnet10-slim model, not resnet18.*--arch resnet10-slim"):
        init_state(tmp_path / "slim", net, "resnet18", ("a", "b"))
