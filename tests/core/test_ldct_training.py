"""train_ldct: pairs (real or simulated) -> a model folder that load_denoiser and denoise() use."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from napari_medai.core.errors import InvalidInputError  # noqa: E402
from napari_medai.core.models.contract import NetworkSpec  # noqa: E402
from napari_medai.core.models.errors import ModelLoadError  # noqa: E402
from napari_medai.core.phantoms import ldct_phantom  # noqa: E402
from napari_medai.core.tasks.ldct import (  # noqa: E402
    DenoiserContract,
    LdctPair,
    denoise,
    load_denoiser,
    train_ldct,
)

TINY = {"filters": 4, "patch": 32, "batch_size": 2, "steps_per_epoch": 2, "max_epochs": 2, "device": "cpu"}


@pytest.fixture(scope="module")
def phantom_pairs():
    out = []
    for seed in (0, 1):
        ph = ldct_phantom(seed=seed, n_slices=1, size=64)
        out.append(LdctPair(full_dose=ph["full_dose"], low_dose=ph["low_dose"], name=f"ph{seed}"))
    return out


def test_train_on_real_pairs_writes_a_loadable_model_folder(tmp_path, phantom_pairs):
    out = tmp_path / "model"
    msgs = []
    res = train_ldct(phantom_pairs, out_dir=out, val_fraction=0.5, seed=0, progress=lambda f, m: msgs.append(m),
                     **TINY)
    assert (out / "model.pt").is_file() and (out / "model.json").is_file() and (out / "checkpoint.pt").is_file()
    doc = json.loads((out / "model.json").read_text())
    assert doc["format"] == "napari-medai-model"
    assert doc["contract"]["task"] == "ldct_denoising" and doc["contract"]["network"]["name"] == "REDCNN"
    assert doc["contract"]["is_trained"] and "real pair" in doc["contract"]["trained_on"]
    assert doc["training"]["stop_reason"] == "max_epochs" and len(doc["training"]["history"]) == 2
    assert res.monitor == "val_psnr" and res.val_pairs and res.baseline_val_psnr is not None
    assert res.epochs_run == 2 and "best epoch" in res.summary()
    assert any("epoch 2/2" in m for m in msgs)
    model = load_denoiser(out)
    assert isinstance(model.contract, DenoiserContract) and model.contract.network.kwargs == {"filters": 4}
    assert load_denoiser(out / "model.json").contract == model.contract
    img = phantom_pairs[0].low_dose.data
    r = denoise(img, method="trained", weights=out, device="cpu")
    assert r.image.shape == img.shape and np.isfinite(r.image).all()
    assert "REDCNN" in r.parameters["model"]


def test_on_metrics_reports_steps_and_epochs(tmp_path, phantom_pairs):
    seen = []
    recipe = {**TINY, "steps_per_epoch": 6, "max_epochs": 3, "batch_size": 4, "filters": 8}
    res = train_ldct(phantom_pairs, out_dir=tmp_path / "m", val_fraction=0.5, seed=0, learning_rate=2e-3,
                     on_metrics=seen.append, **recipe)
    steps = [m for m in seen if m["kind"] == "step"]
    epochs = [m for m in seen if m["kind"] == "epoch"]
    assert [m["global_step"] for m in steps] == list(range(1, 19))
    assert [m["epoch"] for m in epochs] == [1, 2, 3] and [m["global_step"] for m in epochs] == [6, 12, 18]
    loss = np.array([m["loss"] for m in steps])
    assert np.isfinite(loss).all() and loss[-6:].mean() < loss[:3].mean(), loss
    # the epoch records are the history the model folder keeps
    for m, h in zip(epochs, res.history):
        assert m["train_rmse_hu"] == pytest.approx(h["train_rmse_hu"], abs=1e-3)
        assert m["val_psnr"] == pytest.approx(h["val_psnr"], abs=1e-3) and np.isfinite(m["val_psnr"])
        assert m["train_loss"] == pytest.approx(np.mean([s["loss"] for s in steps if s["epoch"] == m["epoch"]]))
    assert epochs[-1]["best_epoch"] == res.best_epoch


def test_same_seed_same_weights_and_resume_continues(tmp_path, phantom_pairs):
    a = train_ldct(phantom_pairs, out_dir=tmp_path / "a", val_fraction=0.0, seed=3, **TINY)
    train_ldct(phantom_pairs, out_dir=tmp_path / "b", val_fraction=0.0, seed=3, **TINY)
    sa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    sb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.monitor == "-train_loss"
    more = train_ldct(phantom_pairs, out_dir=tmp_path / "a", val_fraction=0.0, seed=3, **{**TINY, "max_epochs": 3})
    assert more.resumed_from == 2 and more.epochs_run == 3
    with pytest.raises(InvalidInputError, match="other settings"):
        train_ldct(phantom_pairs, out_dir=tmp_path / "a", val_fraction=0.0, seed=4, **TINY)
    with pytest.raises(InvalidInputError, match="already holds a training run"):
        train_ldct(phantom_pairs, out_dir=tmp_path / "a", val_fraction=0.0, seed=3, resume=False, **TINY)


def test_simulated_pairs_from_full_dose_only(tmp_path):
    ph = ldct_phantom(seed=2, n_slices=2, size=64)
    res = train_ldct([(ph["full_dose"], None)], out_dir=tmp_path / "sim", simulate_dose=0.25, i0=2e5, **TINY)
    details = res.info["pairs"][0]
    assert details["kind"] == "simulated" and details["dose_fraction"] == 0.25 and details["slices"] == 2
    assert "simulated" in res.contract.trained_on
    with pytest.raises(InvalidInputError, match="simulate_dose"):
        train_ldct([(ph["full_dose"], None)], out_dir=tmp_path / "x", **TINY)
    with pytest.raises(InvalidInputError, match="pixel size is unknown"):
        train_ldct([(ph["full_dose"].data, None)], out_dir=tmp_path / "y", simulate_dose=0.25, **TINY)


def test_bad_folders_and_pairs_are_refused(tmp_path, phantom_pairs):
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("x")
    with pytest.raises(InvalidInputError, match="not an empty folder"):
        train_ldct(phantom_pairs, out_dir=busy, **TINY)
    with pytest.raises(InvalidInputError, match="differ in shape"):
        train_ldct([(np.zeros((64, 64)), np.zeros((64, 60)))], out_dir=tmp_path / "s", **TINY)
    with pytest.raises(InvalidInputError, match="too small to train on"):
        train_ldct([(np.zeros((40, 30)), np.zeros((40, 30)))], out_dir=tmp_path / "t", **TINY)
    with pytest.raises(InvalidInputError, match="smaller than the 48-pixel"):
        train_ldct([(np.zeros((40, 40)), np.zeros((40, 40)))], out_dir=tmp_path / "v", **{**TINY, "patch": 48})
    with pytest.raises(InvalidInputError, match="at least one training pair"):
        train_ldct([], out_dir=tmp_path / "u", **TINY)


def test_loading_checks_folders_and_contracts(tmp_path):
    from napari_medai.core.models.loading import save_model_folder
    from napari_medai.core.models.redcnn import build_redcnn

    c = DenoiserContract(name="t", network=NetworkSpec("REDCNN", {"filters": 3}))
    assert DenoiserContract.from_dict(c.to_dict()) == c
    save_model_folder(tmp_path / "m", build_redcnn("standard", filters=4), c)  # weights of 4, contract says 3
    with pytest.raises(ModelLoadError, match="wrong shapes"):
        load_denoiser(tmp_path / "m")
    with pytest.raises(ModelLoadError, match="no such file"):
        load_denoiser(tmp_path / "absent")
    with pytest.raises(InvalidInputError, match="not one napari-medai builds"):
        DenoiserContract(name="x", network=NetworkSpec("SegResNet", {}))
    with pytest.raises(InvalidInputError, match="not a CT denoiser"):
        DenoiserContract.from_dict({**c.to_dict(), "task": "brain_tumour"})
    seg = tmp_path / "seg.pt"
    torch.save({"a.weight": torch.zeros(2)}, seg)
    with pytest.raises(ModelLoadError, match="only the shared RED-CNN"):
        load_denoiser(seg)
    untrained = denoise(np.zeros((32, 32), np.float32), method="trained", weights=_untrained(tmp_path), device="cpu")
    assert any("NOT TRAINED" in n for n in untrained.notes)


def _untrained(tmp_path):
    from napari_medai.core.models.loading import save_model_folder
    from napari_medai.core.models.redcnn import build_redcnn

    c = DenoiserContract(name="u", network=NetworkSpec("REDCNN", {"filters": 2}))
    return save_model_folder(tmp_path / "untrained", build_redcnn("standard", filters=2), c)
