"""torchxrayvision's published DenseNets: pickled whole models read with weights_only=True through stand-ins,
refused when they name anything else, run as 14-finding classifiers, listed in the cache, downloaded on request.

The "torchxrayvision" here is a fake built at test time: a DenseNet-121 with torchxrayvision's layout
(nn.Sequential dense layers norm1/relu1/conv1/norm2/relu2/conv2, ``classifier``, 18 outputs, one grey
channel), registered in ``sys.modules`` as ``torchxrayvision.models`` only while ``torch.save`` pickles it.
"""

from __future__ import annotations

import os
import pickle
import sys
import types
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.models.errors import ModelDownloadError, ModelLoadError
from napari_medai.core.tasks.classify import CHEXNEXT_LABELS, XRV_LABELS, classify_image, init_state
from napari_medai.core.tasks.classify.xrv import (
    XRV_CACHE_ENV,
    XRV_WEIGHTS,
    PickledObject,
    download_xrv_weights,
    find_xrv_weights,
    is_xrv_reference,
    load_xrv_classifier,
    read_xrv_file,
    resolve_xrv_reference,
    to_xrv_range,
)

from .test_models_support import one_torch_thread  # noqa: F401

# Writing a whole model in torch's legacy format (as the published files are) makes torch try to store
# each module class's source; the test's own classes have none to give, which it reports as a warning.
pytestmark = pytest.mark.filterwarnings("ignore:Couldn't retrieve source code for container:UserWarning")


# ---------------------------------------------------------------------------------------------
# the fake torchxrayvision
# ---------------------------------------------------------------------------------------------
def _fake_xrv_module() -> types.ModuleType:
    mod = types.ModuleType("torchxrayvision.models")

    class _DenseLayer(nn.Sequential):
        def __init__(self, n_in: int, growth: int = 32, bn_size: int = 4) -> None:
            super().__init__()
            self.add_module("norm1", nn.BatchNorm2d(n_in))
            self.add_module("relu1", nn.ReLU(inplace=True))
            self.add_module("conv1", nn.Conv2d(n_in, bn_size * growth, 1, bias=False))
            self.add_module("norm2", nn.BatchNorm2d(bn_size * growth))
            self.add_module("relu2", nn.ReLU(inplace=True))
            self.add_module("conv2", nn.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False))
            self.drop_rate = 0.0

        def forward(self, x):  # type: ignore[override]
            return torch.cat([x, super().forward(x)], 1)

    class _DenseBlock(nn.Sequential):
        def __init__(self, n_layers: int, n_in: int) -> None:
            super().__init__()
            for i in range(n_layers):
                self.add_module(f"denselayer{i + 1}", _DenseLayer(n_in + i * 32))

    class _Transition(nn.Sequential):
        def __init__(self, n_in: int, n_out: int) -> None:
            super().__init__()
            self.add_module("norm", nn.BatchNorm2d(n_in))
            self.add_module("relu", nn.ReLU(inplace=True))
            self.add_module("conv", nn.Conv2d(n_in, n_out, 1, bias=False))
            self.add_module("pool", nn.AvgPool2d(2, 2))

    class DenseNet(nn.Module):
        def __init__(self, num_classes: int = 18) -> None:
            super().__init__()
            self.features = nn.Sequential(OrderedDict([
                ("conv0", nn.Conv2d(1, 64, 7, stride=2, padding=3, bias=False)), ("norm0", nn.BatchNorm2d(64)),
                ("relu0", nn.ReLU(inplace=True)), ("pool0", nn.MaxPool2d(3, 2, padding=1))]))
            n = 64
            for i, layers in enumerate((6, 12, 24, 16)):
                self.features.add_module(f"denseblock{i + 1}", _DenseBlock(layers, n))
                n += layers * 32
                if i != 3:
                    self.features.add_module(f"transition{i + 1}", _Transition(n, n // 2))
                    n //= 2
            self.features.add_module("norm5", nn.BatchNorm2d(n))
            self.classifier = nn.Linear(n, num_classes)
            self.upsample = nn.Upsample(size=(224, 224), mode="bilinear", align_corners=False)

        def forward(self, x):  # type: ignore[override]
            f = torch.relu(self.features(x))
            return self.classifier(torch.nn.functional.adaptive_avg_pool2d(f, 1).flatten(1))

    for cls in (_DenseLayer, _DenseBlock, _Transition, DenseNet):
        cls.__module__ = "torchxrayvision.models"
        cls.__qualname__ = cls.__name__
        setattr(mod, cls.__name__, cls)
    return mod


def _save_fake(path: Path, *, pathologies: list[str] | None = None, legacy: bool = False, seed: int = 0,
               tamper: Path | None = None, old_backend: bool = False) -> dict[str, torch.Tensor]:
    """torch.save a whole fake torchxrayvision DenseNet-121 to ``path``; returns its state_dict."""
    mod = _fake_xrv_module()
    pkg = types.ModuleType("torchxrayvision")
    pkg.models = mod  # type: ignore[attr-defined]
    saved = {k: sys.modules.get(k) for k in ("torchxrayvision", "torchxrayvision.models")}
    sys.modules["torchxrayvision"], sys.modules["torchxrayvision.models"] = pkg, mod
    try:
        torch.manual_seed(seed)
        net = mod.DenseNet()
        with torch.no_grad():  # BatchNorm statistics that differ from the defaults
            for m in net.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.running_mean.uniform_(-0.1, 0.1)
                    m.running_var.uniform_(0.5, 1.5)
                    m.num_batches_tracked.fill_(7)
            net.classifier.bias.uniform_(-2, 0)
        if pathologies is not None:
            net.pathologies = list(pathologies)
        if tamper is not None:
            net.payload = _Evil(tamper)
        if old_backend:  # torch < 1.2 pickled every module with its THNN backend
            for m in net.modules():
                m._backend = _OldBackend()
        net.eval()
        torch.save(net, str(path), _use_new_zipfile_serialization=not legacy)
        return {k: v.detach().clone() for k, v in net.state_dict().items()}
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


class _OldBackend:
    """Pickles as torch < 1.2's ``_backend`` attribute did: a call of ``_get_thnn_function_backend()``."""

    def __reduce__(self):
        import torch.nn.backends.thnn as thnn

        return (thnn._get_thnn_function_backend, ())


class _Evil:
    """Pickles as a call of os.system that would create ``marker``: loading it must never run it."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture(scope="module")
def fake_xrv(tmp_path_factory) -> tuple[Path, dict[str, torch.Tensor]]:
    folder = tmp_path_factory.mktemp("xrv")
    path = folder / XRV_WEIGHTS["densenet121-res224-all"].filename
    state = _save_fake(path)
    assert "torchxrayvision" not in sys.modules
    return path, state


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------
def test_plain_weights_only_load_refuses_the_pickled_model(fake_xrv) -> None:
    path, _ = fake_xrv
    with pytest.raises(pickle.UnpicklingError):
        torch.load(str(path), weights_only=True)


def test_pickled_model_reads_to_its_exact_state_dict(fake_xrv) -> None:
    path, state = fake_xrv
    xf = read_xrv_file(path)
    assert "torchxrayvision.models.DenseNet" in xf.kind
    assert set(xf.state) == set(state)
    for k, v in state.items():
        assert torch.equal(xf.state[k], v), k
    # published file name: its labels and operating points
    assert xf.weights is XRV_WEIGHTS["densenet121-res224-all"] and xf.labels == XRV_LABELS
    assert xf.op_threshs["Atelectasis"] == pytest.approx(0.07422872)
    assert "torchxrayvision" not in sys.modules
    ours = [g for g in torch.serialization.get_safe_globals()
            if isinstance(g, tuple) and isinstance(g[0], type) and issubclass(g[0], PickledObject)]
    assert ours == []  # the stand-ins are allowed only while the file is read


def test_legacy_format_and_the_models_own_labels(tmp_path) -> None:
    path = tmp_path / "my-xrv-model.pt"
    names = ["Atelectasis", "Effusion", *(f"other{i}" for i in range(16))]
    state = _save_fake(path, pathologies=names, legacy=True, seed=1, old_backend=True)
    xf = read_xrv_file(path)
    assert xf.labels == tuple(names) and xf.weights is None and not xf.op_threshs
    assert all(torch.equal(xf.state[k], v) for k, v in state.items())
    lm = load_xrv_classifier(path)
    assert lm.contract.output_channels == ("Atelectasis", "Effusion")
    assert lm.contract.decision_thresholds == (0.5, 0.5)


@pytest.mark.parametrize("legacy", [False, True])
def test_a_pickle_that_names_os_system_is_refused_and_never_run(tmp_path, legacy) -> None:
    path, marker = tmp_path / "evil.pt", tmp_path / "ran"
    _save_fake(path, tamper=marker, legacy=legacy)
    with pytest.raises(ModelLoadError, match=r"names (os|posix)\.system, which napari-medai does not load"):
        read_xrv_file(path)
    assert not marker.exists()


def test_a_pickle_of_an_unlisted_class_is_refused(tmp_path) -> None:
    class Mystery(nn.Module):
        pass

    Mystery.__module__, Mystery.__qualname__ = "mystery_pkg", "Mystery"
    fake = types.ModuleType("mystery_pkg")
    fake.Mystery = Mystery  # type: ignore[attr-defined]
    sys.modules["mystery_pkg"] = fake
    try:
        torch.save(Mystery(), str(tmp_path / "m.pt"))
    finally:
        sys.modules.pop("mystery_pkg")
    with pytest.raises(ModelLoadError, match=r"names mystery_pkg\.Mystery"):
        read_xrv_file(tmp_path / "m.pt")


def test_a_model_that_is_not_densenet121_is_refused(tmp_path) -> None:
    torch.save(nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU()), str(tmp_path / "s.pt"))
    with pytest.raises(ModelLoadError, match="not a DenseNet"):
        read_xrv_file(tmp_path / "s.pt")
    torch.save({"classifier.weight": torch.zeros(18, 1024), "classifier.bias": torch.zeros(18)}, str(tmp_path / "h.pt"))
    with pytest.raises(ModelLoadError, match="not a one-channel DenseNet-121"):
        read_xrv_file(tmp_path / "h.pt")


# ---------------------------------------------------------------------------------------------
# running
# ---------------------------------------------------------------------------------------------
def test_xrv_range_follows_the_bit_depth() -> None:
    x = torch.tensor([[0.0, 255.0], [127.5, 10.0]]).view(1, 1, 2, 2)
    y = to_xrv_range(x)
    assert y.min().item() == pytest.approx(-1024) and y.max().item() == pytest.approx(1024)
    assert y[0, 0, 1, 0].item() == pytest.approx(0.0)
    z = to_xrv_range(torch.tensor([0.0, 4000.0]).view(1, 1, 1, 2))  # 12-bit
    assert z[0, 0, 0, 1].item() == pytest.approx((2 * 4000 / 4095 - 1) * 1024)
    n = to_xrv_range(torch.tensor([-100.0, 300.0]).view(1, 1, 1, 2))  # negative: its own range
    assert n.flatten().tolist() == pytest.approx([-1024.0, 1024.0])


def test_loaded_model_classifies_an_image_with_the_14_findings(fake_xrv, one_torch_thread) -> None:  # noqa: F811
    path, state = fake_xrv
    lm = load_xrv_classifier(path)
    c = lm.contract
    assert c.output_channels == CHEXNEXT_LABELS and c.roi_size == (224, 224) and c.is_trained
    assert c.normalization == "none" and c.output_kind == "sigmoid"
    assert c.decision_thresholds[0] == pytest.approx(0.07422872)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (300, 260)).astype(np.uint8)
    res = classify_image(lm, img, cam=True)
    assert res.trained and res.class_names == CHEXNEXT_LABELS and len(res.probabilities) == 14
    assert res.cam is not None and res.cam.shape == img.shape
    # the probabilities are the fake model's own outputs, by name, on torchxrayvision's input scale
    mod = _fake_xrv_module()
    ref = mod.DenseNet()
    ref.load_state_dict(state)
    ref.eval()
    from napari_medai.core.inference.prepare import prepare_input
    from napari_medai.core.volume import Volume

    x, _ = prepare_input(c, [Volume(img.astype(np.float32))])
    with torch.no_grad():
        xs = (2 * torch.from_numpy(x[None]) / 255.0 - 1) * 1024
        want = torch.sigmoid(ref(xs))[0].numpy()
    rows = [XRV_LABELS.index({"Pleural Thickening": "Pleural_Thickening"}.get(n, n)) for n in CHEXNEXT_LABELS]
    np.testing.assert_allclose(res.probabilities, want[rows], rtol=1e-4, atol=1e-5)


def test_transfer_learning_takes_the_pickled_model(fake_xrv, one_torch_thread) -> None:  # noqa: F811
    from napari_medai.core.models.loading import build_network
    from napari_medai.core.tasks.classify import classify_contract

    path, state = fake_xrv
    classes = ("Effusion", "Pneumonia")
    net = build_network(classify_contract(classes, arch="densenet121", size=64, multilabel=True).network)
    take, report = init_state(path, net, "densenet121", classes)
    assert report["head"] == "torchxrayvision outputs mapped by name" and "pickled model" in report["source"]
    w = take["class_layers.out.weight"]
    assert torch.equal(w[0], state["classifier.weight"][XRV_LABELS.index("Effusion")])
    assert torch.equal(w[1], state["classifier.weight"][XRV_LABELS.index("Pneumonia")])
    assert torch.equal(take["features.conv0.weight"], state["features.conv0.weight"])


def test_zscore_adapter_gives_the_first_block_what_it_saw(fake_xrv, one_torch_thread) -> None:  # noqa: F811
    from monai.networks.nets import DenseNet121

    from napari_medai.core.tasks.classify import map_torchvision_densenet
    from napari_medai.core.tasks.classify.xrv import zscore_input_adapter

    path, state = fake_xrv
    mapped = map_torchvision_densenet(read_xrv_file(path).state)
    img = np.random.default_rng(2).normal(90, 30, (64, 64)).clip(0, 255).astype(np.float32)
    adapted, note = zscore_input_adapter(mapped, [img])
    assert note["n_images"] == 1 and note["gain"] == pytest.approx(2048 * img.std() / 255, rel=1e-5)

    def first_block(sd: dict, x: np.ndarray) -> torch.Tensor:
        net = DenseNet121(spatial_dims=2, in_channels=1, out_channels=18)
        net.load_state_dict(sd)
        net.eval()
        f = net.features
        with torch.no_grad():
            return f.norm0(f.conv0(torch.from_numpy(x)[None, None]))[0]

    seen = first_block(mapped, (2 * img / 255 - 1) * 1024)  # torchxrayvision's own input
    now = first_block(adapted, (img - img.mean()) / img.std())  # what a napari-medai classifier gives it
    inner = (slice(None), slice(2, -2), slice(2, -2))  # the zero padding differs at the border
    torch.testing.assert_close(now[inner], seen[inner], rtol=1e-3, atol=1e-3)
    assert not torch.allclose(first_block(mapped, (img - img.mean()) / img.std())[inner], seen[inner], atol=1e-1)


def test_training_from_xrv_weights_records_the_adapter(fake_xrv, tmp_path, monkeypatch) -> None:
    import json

    from napari_medai.core.tasks.classify import train_classify

    from .test_classify_data import write_blob_folder

    path, _ = fake_xrv
    monkeypatch.setenv(XRV_CACHE_ENV, str(path.parent))
    write_blob_folder(tmp_path / "data", n=4, seed=5, classes=("Effusion", "Pneumonia"))
    res = train_classify(tmp_path / "data", tmp_path / "model", arch="densenet121", size=32,
                         init_from="xrv:densenet121-res224-all", finetune="head", max_epochs=1, batch_size=4,
                         steps_per_epoch=1, num_threads=1)
    init = json.loads((res.out_dir / "model.json").read_text())["training"]["init_from"]
    assert init["head"] == "torchxrayvision outputs mapped by name" and init["input_adapter"]["n_images"] >= 1
    assert "torchxrayvision pickled model" in init["source"]


# ---------------------------------------------------------------------------------------------
# the cache, names, and downloads
# ---------------------------------------------------------------------------------------------
def test_cache_listing_and_names(fake_xrv, tmp_path, monkeypatch) -> None:
    path, _ = fake_xrv
    monkeypatch.setenv(XRV_CACHE_ENV, str(path.parent))
    found = find_xrv_weights()
    assert [(w.name, p) for w, p in found] == [("densenet121-res224-all", path)]
    assert resolve_xrv_reference("xrv:densenet121-res224-all") == path
    assert is_xrv_reference("xrv:densenet121-res224-nih") and is_xrv_reference(path)
    assert not is_xrv_reference(tmp_path)
    with pytest.raises(InvalidInputError, match="classify xrv --download densenet121-res224-nih"):
        resolve_xrv_reference("xrv:densenet121-res224-nih")
    with pytest.raises(InvalidInputError, match="published name"):
        resolve_xrv_reference("xrv:densenet999")


def test_download_only_when_asked_atomic_and_checked(fake_xrv, tmp_path) -> None:
    path, state = fake_xrv
    cache = tmp_path / "cache"
    got = download_xrv_weights("densenet121-res224-all", cache_dir=cache, url=path.as_uri())
    assert got == cache / path.name and got.read_bytes() == path.read_bytes()
    assert sorted(p.name for p in cache.iterdir()) == [path.name]  # no temporary file left
    assert download_xrv_weights("densenet121-res224-all", cache_dir=cache, url="file:///nowhere") == got
    # not weights: refused, nothing left in the cache
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model")
    with pytest.raises(ModelDownloadError, match="not densenet121-res224-nih"):
        download_xrv_weights("densenet121-res224-nih", cache_dir=cache, url=junk.as_uri())
    # offline: one clear line
    with pytest.raises(ModelDownloadError, match=r"cannot download densenet121-res224-pc .*copy"):
        download_xrv_weights("densenet121-res224-pc", cache_dir=cache, url=(tmp_path / "absent.pt").as_uri())
    assert sorted(p.name for p in cache.iterdir()) == [path.name]


# ---------------------------------------------------------------------------------------------
# the command line
# ---------------------------------------------------------------------------------------------
def test_cli_lists_downloads_and_classifies(fake_xrv, tmp_path, monkeypatch, capsys) -> None:
    from PIL import Image

    from napari_medai.cli import main
    from napari_medai.core.tasks.classify import xrv

    path, _ = fake_xrv
    cache = tmp_path / "cache"
    monkeypatch.setenv(XRV_CACHE_ENV, str(cache))
    assert main(["classify", "xrv"]) == 0
    out = capsys.readouterr().out
    assert "xrv:densenet121-res224-all" in out and "not here (--download densenet121-res224-all)" in out
    monkeypatch.setattr(xrv, "_RELEASE", path.parent.as_uri() + "/")  # the "release" is the fake's folder
    assert main(["classify", "xrv", "--download", "densenet121-res224-all"]) == 0
    out = capsys.readouterr().out
    assert f"here: {cache / path.name}" in out
    img = tmp_path / "cxr.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (256, 240)).astype(np.uint8)).save(img)
    assert main(["classify", "--model", "xrv:densenet121-res224-all", str(img), "--csv", str(tmp_path / "p.csv")]) == 0
    out = capsys.readouterr().out
    assert "Atelectasis" in out and "Hernia" in out
    header = (tmp_path / "p.csv").read_text().splitlines()[0]
    assert all(c in header for c in CHEXNEXT_LABELS)


@pytest.mark.parametrize("argv, message", [
    (["classify", "xrv", "--download", "densenet121-res224-nih"], "cannot download densenet121-res224-nih"),
    (["classify", "xrv", "--download", "densenet999"], "not a published torchxrayvision DenseNet"),
    (["classify", "xrv", "--model", "m"], "does not apply to 'classify xrv'"),
    (["classify", "img.png", "--download", "x"], "applies to 'napari-medai classify xrv' only"),
    (["classify", "img.png"], "give --model"),
    (["classify", "--model", "xrv:densenet121-res224-pc", "img.png"], "classify xrv --download densenet121-res224-pc"),
])
def test_cli_errors_are_one_line(tmp_path, monkeypatch, capsys, argv, message) -> None:
    from napari_medai.cli import main
    from napari_medai.core.tasks.classify import xrv

    monkeypatch.setenv(XRV_CACHE_ENV, str(tmp_path / "empty"))
    monkeypatch.setattr(xrv, "_RELEASE", (tmp_path / "offline").as_uri() + "/")  # no internet: nothing there
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
