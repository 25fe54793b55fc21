"""load_model: MONAI bundles (folder, zip, registry download), model folders, TorchScript; safety."""

from __future__ import annotations

import dataclasses
import json
import shutil
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medai.core.models import (  # noqa: E402
    REGISTRY,
    ModelDownloadError,
    ModelLoadError,
    ModelNotAvailableError,
    UnknownModelError,
    load_model,
)
from napari_medai.core.models.loading import (  # noqa: E402
    LoadedModel,
    bundle_contract,
    file_md5,
    save_model_folder,
    verify_md5,
)
from napari_medai.core.models.registry import BRATS_BUNDLE, DEFAULT_BRAIN_MODEL  # noqa: E402

from .test_models_support import make_bundle, one_torch_thread, zip_folder  # noqa: E402, F401


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    """A zoo-layout bundle with random weights of the real architecture (roi 32^3)."""
    return make_bundle(tmp_path_factory.mktemp("zoo"), roi=(32, 32, 32), seed=1, torchscript=True)


def _same_weights(a, b) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_bundle_folder_gives_the_registry_contract(bundle):
    m = load_model(bundle)
    assert m.weights_format == "state_dict"
    assert type(m.network).__name__ == "SegResNet"
    expected = REGISTRY[BRATS_BUNDLE].contract.with_changes(
        roi_size=(32, 32, 32), trained_on=m.contract.trained_on, description=m.contract.description
    )
    assert m.contract == expected
    assert m.contract.to_dict() == expected.to_dict()
    sd = torch.load(bundle / "models" / "model.pt", weights_only=True)
    assert all(torch.equal(sd[k], v) for k, v in m.network.state_dict().items())
    assert m.info["weights_md5"] == file_md5(bundle / "models" / "model.pt")
    assert not m.network.training


def test_bundle_zip_loads_the_same_model(bundle, tmp_path):
    z = zip_folder(bundle, tmp_path / "brats.zip")
    m = load_model(z, cache=tmp_path / "cache")
    ref = load_model(bundle)
    assert m.contract == ref.contract
    assert _same_weights(m.network, ref.network)
    again = load_model(z, cache=tmp_path / "cache")  # extracted once, reused
    assert again.path == m.path


def test_zip_with_unsafe_member_is_refused(tmp_path):
    z = tmp_path / "evil.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("../outside.txt", "x")
        f.writestr("b/configs/metadata.json", "{}")
    with pytest.raises(ModelLoadError, match="outside the folder"):
        load_model(z, cache=tmp_path / "cache")
    assert not (tmp_path / "cache" / "outside.txt").exists()


def test_torchscript_only_bundle_and_lone_torchscript(bundle, tmp_path):
    ts_only = tmp_path / "ts_only"
    shutil.copytree(bundle, ts_only)
    (ts_only / "models" / "model.pt").unlink()
    m_ts = load_model(ts_only)
    assert m_ts.weights_format == "torchscript"
    ref = load_model(bundle)
    x = torch.randn(1, 4, 32, 32, 32)
    with torch.no_grad():
        assert torch.allclose(m_ts.network(x), ref.network(x), atol=1e-5)
    lone = tmp_path / "lone.ts"
    shutil.copy(bundle / "models" / "model.ts", lone)
    with pytest.raises(ModelLoadError, match="contract="):
        load_model(lone)
    m = load_model(lone, contract=ref.contract)
    assert m.weights_format == "torchscript"
    # a weights file inside a bundle finds the bundle's configs by itself
    assert load_model(bundle / "models" / "model.ts").contract == ref.contract


def test_registry_name_downloads_into_cache_once_and_checks_md5(bundle, tmp_path, monkeypatch):
    import monai.bundle

    calls = []

    def fake_download(name=None, version=None, bundle_dir=None, **kw):
        calls.append((name, version))
        shutil.copytree(bundle, Path(bundle_dir) / name)

    monkeypatch.setattr(monai.bundle, "download", fake_download)
    entry = REGISTRY[BRATS_BUNDLE]
    monkeypatch.setitem(REGISTRY, BRATS_BUNDLE, dataclasses.replace(
        entry, md5={"models/model.pt": file_md5(bundle / "models" / "model.pt")}))
    m = load_model(BRATS_BUNDLE, cache=tmp_path)
    assert calls == [(BRATS_BUNDLE, "0.5.2")]
    assert "registry model" in m.source
    assert m.contract.trained_on == entry.contract.trained_on
    assert _same_weights(m.network, load_model(bundle).network)
    load_model(BRATS_BUNDLE, cache=tmp_path)
    assert len(calls) == 1
    # a corrupted cached file is caught by the md5 check
    with open(tmp_path / "bundles" / BRATS_BUNDLE / "models" / "model.pt", "ab") as f:
        f.write(b"junk")
    with pytest.raises(ModelDownloadError, match="does not match the published"):
        load_model(BRATS_BUNDLE, cache=tmp_path)


def test_registry_bundle_offline_says_how_to_use_a_local_copy(tmp_path, monkeypatch):
    import monai.bundle

    def no_network(**kw):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(monai.bundle, "download", no_network)
    with pytest.raises(ModelDownloadError) as exc:
        load_model(BRATS_BUNDLE, cache=tmp_path)
    msg = str(exc.value)
    assert "could not download" in msg and "name resolution" in msg
    assert "monai.bundle.download(name='brats_mri_segmentation', bundle_dir='DIR')" in msg
    assert "--model DIR/brats_mri_segmentation" in msg
    with pytest.raises(ModelDownloadError, match="downloading is off"):
        load_model(BRATS_BUNDLE, cache=tmp_path, allow_download=False)


def test_registry_bundle_without_the_downloader_dependency(tmp_path, monkeypatch):
    import monai.bundle
    from monai.utils import OptionalImportError

    def missing_dependency(**kw):
        raise OptionalImportError("import huggingface_hub (No module named 'huggingface_hub').")

    monkeypatch.setattr(monai.bundle, "download", missing_dependency)
    with pytest.raises(ModelDownloadError) as exc:
        load_model(BRATS_BUNDLE, cache=tmp_path)
    assert "pip install huggingface_hub" in str(exc.value) and "DIR/brats_mri_segmentation" in str(exc.value)


def test_verify_md5_on_a_small_file(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"napari-medai")
    import hashlib

    expected = hashlib.md5(b"napari-medai").hexdigest()
    assert file_md5(f) == expected
    assert verify_md5(f, expected.upper()) == expected
    with pytest.raises(ModelDownloadError) as exc:
        verify_md5(f, "0" * 32)
    assert file_md5(f) in str(exc.value) and "0" * 32 in str(exc.value)
    with pytest.raises(ModelDownloadError, match="missing"):
        verify_md5(tmp_path / "nope.bin", "0" * 32)


def _edit_inference(bundle: Path, tmp_path: Path, edit) -> Path:
    b = tmp_path / "edited"
    shutil.copytree(bundle, b)
    p = b / "configs" / "inference.json"
    doc = json.loads(p.read_text())
    edit(doc)
    p.write_text(json.dumps(doc))
    return b


def test_bundle_expressions_are_never_run(bundle, tmp_path):
    b = _edit_inference(bundle, tmp_path, lambda d: d["network_def"].update(
        init_filters="$__import__('os').system('touch /tmp/pwned') or 16"))
    with pytest.raises(ModelLoadError, match="never runs code"):
        load_model(b)


def test_bundle_references_are_resolved_as_data(bundle, tmp_path):
    def edit(d):
        d["n_in"] = 4
        d["network_def"]["in_channels"] = "@n_in"
    c, _ = bundle_contract(_edit_inference(bundle, tmp_path, edit))
    assert c.network.kwargs["in_channels"] == 4


def test_unknown_preprocessing_step_is_refused(bundle, tmp_path):
    b = _edit_inference(bundle, tmp_path, lambda d: d["preprocessing"]["transforms"].append(
        {"_target_": "ScaleIntensityRanged", "keys": "image", "a_min": 0, "a_max": 100}))
    with pytest.raises(ModelLoadError, match="ScaleIntensityRanged"):
        load_model(b)


def test_weights_that_do_not_fit_the_network_def(bundle, tmp_path):
    b = _edit_inference(bundle, tmp_path, lambda d: d["network_def"].update(init_filters=8))
    with pytest.raises(ModelLoadError, match="do not fit SegResNet"):
        load_model(b)


def test_pickled_objects_are_never_unpickled(bundle, tmp_path):
    b = tmp_path / "pickled"
    shutil.copytree(bundle, b)
    import argparse

    torch.save({"model": argparse.Namespace(payload="any object")}, b / "models" / "model.pt")
    with pytest.raises(ModelLoadError, match="weights_only=True"):
        load_model(b)


def test_unknown_names_and_missing_paths(tmp_path):
    with pytest.raises(UnknownModelError, match="Known models"):
        load_model("no-such-model")
    with pytest.raises(UnknownModelError, match="no such file"):
        load_model(str(tmp_path / "missing" / "model.pt"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelLoadError, match="neither a napari-medai model folder"):
        load_model(tmp_path / "empty")


def test_model_folder_round_trip_and_packaged_lookup(bundle, tmp_path, monkeypatch):
    ref = load_model(bundle)
    c = ref.contract.with_changes(name="mine", trained_on="3 test phantoms", is_trained=True)
    folder = save_model_folder(tmp_path / "mine", ref.network, c, training={"seed": 3, "n_cases": 3})
    m = load_model(folder)
    assert m.contract == c and m.info["training"]["seed"] == 3
    assert _same_weights(m.network, ref.network)
    doc = json.loads((folder / "model.json").read_text())
    assert doc["format"] == "napari-medai-model" and doc["contract"]["is_trained"]
    # a packaged model: missing from every search dir -> says how to get it; $NAPARI_MEDAI_MODELS
    # comes before the copy shipped inside the package
    import napari_medai.core.models.loading as loading

    monkeypatch.setenv("NAPARI_MEDAI_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("NAPARI_MEDAI_MODELS", str(tmp_path / "models"))
    shipped = loading.model_search_dirs()[-1]
    monkeypatch.setattr(loading, "model_search_dirs", lambda: [tmp_path / "models"])
    with pytest.raises(ModelNotAvailableError, match="train_default_brain_model"):
        load_model(DEFAULT_BRAIN_MODEL)
    monkeypatch.undo()
    monkeypatch.setenv("NAPARI_MEDAI_MODELS", str(tmp_path / "models"))
    shutil.copytree(folder, tmp_path / "models" / "brain_tumour_default")
    assert load_model(DEFAULT_BRAIN_MODEL).contract == c
    assert (shipped / "brain_tumour_default" / "model.pt").is_file()


def test_the_shipped_default_model_loads_and_says_it_learnt_from_phantoms(monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_MEDAI_CACHE", str(tmp_path / "cache"))  # nothing in the cache
    monkeypatch.delenv("NAPARI_MEDAI_MODELS", raising=False)
    m = load_model(DEFAULT_BRAIN_MODEL)
    assert m.is_trained and m.contract.channels == ("t1c", "t1", "t2", "flair")
    assert "packaged" in str(m.path)
    assert "synthetic brain-tumour phantoms" in m.contract.trained_on
    assert "smoke run" not in m.contract.trained_on
    assert m.info["training"]["stop_reason"] in ("early_stopping", "time_limit", "max_epochs")


def test_ldct_model_folder_is_handed_to_the_denoiser_loader(tmp_path):
    """A folder written by train_ldct holds a denoiser contract (no channels or labels): load_model
    dispatches on the contract's task instead of failing on it."""
    from napari_medai.core.phantoms import ldct_phantom
    from napari_medai.core.tasks.ldct import DenoiserContract, LdctPair, load_denoiser, train_ldct

    ph = ldct_phantom(seed=0, n_slices=1, size=64)
    out = tmp_path / "ldct"
    train_ldct([LdctPair(ph["full_dose"], ph["low_dose"])], out_dir=out, filters=2, patch=32, batch_size=1,
               steps_per_epoch=1, max_epochs=1, val_fraction=0.0, device="cpu")
    m = load_model(out)
    assert isinstance(m.contract, DenoiserContract) and m.contract.task == "ldct_denoising"
    assert m.is_trained and m.path == out
    assert _same_weights(m.network, load_denoiser(out).network)
    assert load_model(out / "model.json").contract == m.contract
    assert load_model(out / "model.pt").contract == m.contract
    with pytest.raises(ModelLoadError, match="load the folder"):
        load_model(out / "checkpoint.pt")
    # ... and code that segments refuses it with a message, not an AttributeError
    from napari_medai.core.inference.segmentation import predict

    with pytest.raises(ModelLoadError, match="ldct_denoising model, not a segmentation model"):
        predict(out, [ph["full_dose"]])


def test_a_model_of_another_task_is_refused(bundle):
    from napari_medai.core.models.loading import require_segmentation_model

    m = load_model(bundle)
    assert require_segmentation_model(m, task="brain_tumour") is m
    with pytest.raises(ModelLoadError, match="segments 'brain_tumour', not 'stroke'; choose a stroke model"):
        require_segmentation_model(m, task="stroke")


def test_random_model_is_marked_untrained(bundle):
    ref = load_model(bundle)
    m = LoadedModel.random(ref.contract, seed=0)
    assert not m.is_trained and m.weights_format == "random"
    assert "NOT TRAINED" in m.describe()
    with torch.no_grad():
        assert np.isfinite(sum(float(p.sum()) for p in m.network.parameters()))
