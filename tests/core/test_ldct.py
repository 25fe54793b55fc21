"""LDCT denoising core: classical filters, blending, noise2self, RED-CNN via denoise(), output writing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import ImageWriteError, InvalidInputError
from napari_medai.core.io import read_volume
from napari_medai.core.metrics.image_quality import noise_sd, psnr
from napari_medai.core.models import Cancelled
from napari_medai.core.tasks.ldct import (
    CLASSICAL_METHODS,
    L506_LIVER_ROI,
    METHODS,
    classical_parameters,
    denoise,
    estimate_noise_sd,
)
from napari_medai.core.tasks.ldct.output import write_ct_image
from napari_medai.core.volume import Volume

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
L506 = SHARED / "ldct_L506"
SHARED_WEIGHTS = SHARED / "weights" / "redcnn_shared_L1_25.pt"


def noisy_phantom(shape=(64, 64), sd=60.0, seed=0):
    """Uniform 40 HU soft-tissue square with white Gaussian noise, and the central ROI."""
    rng = np.random.default_rng(seed)
    clean = np.full(shape, 40.0, np.float32)
    noisy = clean + rng.normal(0.0, sd, shape).astype(np.float32)
    roi = np.zeros(shape[-2:], bool)
    roi[16:48, 16:48] = True
    return noisy, clean, roi


def test_methods_listed():
    assert METHODS == ("gaussian", "tv", "nlm", "bilateral", "redcnn", "trained", "noise2self")


def test_noise_estimate_is_right_for_white_noise():
    noisy, _, _ = noisy_phantom(shape=(128, 128), sd=30.0)
    assert estimate_noise_sd(noisy) == pytest.approx(30.0, rel=0.1)
    assert estimate_noise_sd(np.full((32, 32), 50.0)) == 0.0


@pytest.mark.parametrize("method", CLASSICAL_METHODS)
def test_each_classical_method_reduces_noise_on_a_uniform_phantom(method):
    noisy, clean, roi = noisy_phantom()
    r = denoise(noisy, method=method)
    assert r.image.shape == noisy.shape and r.image.dtype == np.float32
    assert noise_sd(r.image, roi) < 0.6 * noise_sd(noisy, roi)
    assert abs(float(r.image[roi].mean()) - 40.0) < 10.0  # no bias
    assert psnr(r.image, clean) > psnr(noisy, clean) + 3.0
    assert r.parameters["noise_sd_estimate"] == pytest.approx(60.0, rel=0.15)
    assert r.method == method and r.volume is None and r.parameters["blend"] == 0.0


def test_stacks_go_slice_by_slice_with_progress_and_cancel():
    noisy, _, _ = noisy_phantom()
    stack = np.stack([noisy, noisy[::-1]])
    calls = []
    r = denoise(stack, method="gaussian", progress=lambda f, m: calls.append((f, m)))
    assert r.image.shape == stack.shape
    np.testing.assert_allclose(r.image[0], denoise(noisy, method="gaussian").image, atol=1e-4)
    assert calls[-1][0] == 1.0 and any("slice 2/2" in m for _, m in calls)
    with pytest.raises(Cancelled):
        denoise(stack, method="tv", should_stop=lambda: True)


def test_options_override_defaults_and_unknown_ones_are_refused():
    noisy, _, _ = noisy_phantom()
    p = classical_parameters("tv", noisy, {"weight": 12.5})
    assert p["weight"] == 12.5
    assert classical_parameters("gaussian", noisy)["sigma_px"] == 1.0
    with pytest.raises(InvalidInputError, match="takes the options"):
        denoise(noisy, method="gaussian", options={"sigma": 2})
    with pytest.raises(InvalidInputError, match="unknown denoising method"):
        denoise(noisy, method="bm3d")
    with pytest.raises(InvalidInputError, match="uses no weights"):
        denoise(noisy, method="tv", weights="x.pt")
    with pytest.raises(InvalidInputError, match="needs weights"):
        denoise(noisy, method="redcnn")
    with pytest.raises(InvalidInputError, match="blend"):
        denoise(noisy, method="tv", blend=1.5)
    with pytest.raises(InvalidInputError, match="2-D slice or a 3-D stack"):
        denoise(np.zeros(10), method="tv")


def test_blend_keeps_a_fraction_of_the_removed_noise():
    noisy, _, _ = noisy_phantom()
    d = denoise(noisy, method="gaussian").image
    b = denoise(noisy, method="gaussian", blend=0.25)
    np.testing.assert_allclose(b.image, d + 0.25 * (noisy - d), atol=1e-4)
    np.testing.assert_allclose(denoise(noisy, method="gaussian", blend=1.0).image, noisy, atol=1e-4)
    assert b.parameters["blend"] == 0.25


def test_volume_in_volume_out():
    noisy, _, _ = noisy_phantom()
    vol = Volume(data=noisy[None], spacing=(3.0, 0.7, 0.7), modality="CT", units="HU", name="ld")
    r = denoise(vol, method="nlm")
    assert r.volume is not None and r.volume.spacing == (3.0, 0.7, 0.7)
    assert r.volume.name == "ld_nlm" and r.volume.meta["denoise"]["method"] == "nlm"
    np.testing.assert_array_equal(r.volume.data, r.image)


def test_noise2self_tiny_run_is_deterministic_with_a_seed():
    torch = pytest.importorskip("torch")  # noqa: F841
    noisy, _, _ = noisy_phantom(shape=(32, 32))
    opts = {"iterations": 3, "batch_size": 2, "patch": 16, "width": 4, "seed": 7}
    a = denoise(noisy, method="noise2self", options=opts, device="cpu")
    b = denoise(noisy, method="noise2self", options=opts, device="cpu")
    assert a.image.shape == noisy.shape and np.isfinite(a.image).all()
    np.testing.assert_array_equal(a.image, b.image)
    c = denoise(noisy, method="noise2self", options={**opts, "seed": 8}, device="cpu")
    assert not np.array_equal(a.image, c.image)
    assert a.parameters["iterations_run"] == 3 and a.parameters["blind_radius"] == 1
    stack = denoise(np.stack([noisy, noisy]), method="noise2self", options=opts, device="cpu")
    assert stack.image.shape == (2, 32, 32)
    with pytest.raises(Cancelled):
        denoise(noisy, method="noise2self", options=opts, device="cpu", should_stop=lambda: True)
    with pytest.raises(InvalidInputError, match="noise2self options"):
        denoise(noisy, method="noise2self", options={"epochs": 3})
    with pytest.raises(InvalidInputError, match="multiple of 4"):
        denoise(noisy, method="noise2self", options={"patch": 18})


def test_noise2self_learns_to_denoise_a_flat_image():
    pytest.importorskip("torch")
    noisy, _, roi = noisy_phantom(shape=(48, 48), sd=60.0, seed=3)
    roi = np.zeros((48, 48), bool)
    roi[8:40, 8:40] = True
    r = denoise(noisy, method="noise2self", options={"iterations": 60, "batch_size": 4, "patch": 32, "width": 8,
                                                     "learning_rate": 3e-3}, device="cpu")
    assert noise_sd(r.image, roi) < 0.7 * noise_sd(noisy, roi)


def test_noise2self_reports_each_step_and_stop_training_keeps_the_network():
    """on_metrics sees every step's finite loss, falling as the U-Net learns the anatomy;
    stop_training ends training early and still denoises (should_stop would discard everything)."""
    pytest.importorskip("torch")
    from napari_medai.core.phantoms import ldct_phantom

    img = ldct_phantom(seed=0, n_slices=1, size=64)["low_dose"].data[0]
    opts = {"iterations": 40, "batch_size": 4, "patch": 32, "width": 8, "learning_rate": 3e-3}
    seen = []
    r = denoise(img, method="noise2self", options=opts, device="cpu", on_metrics=seen.append)
    assert [m["step"] for m in seen] == list(range(1, 41))
    loss = np.array([m["loss"] for m in seen])
    assert np.isfinite(loss).all() and (loss > 0).all()
    # the first steps predict air/bone/tissue badly; the last ones are near the noise floor
    assert loss[-10:].mean() < 0.5 * loss[:5].mean(), loss
    np.testing.assert_allclose([m["masked_rmse_hu"] for m in seen], np.sqrt(loss) * 400.0, rtol=1e-6)
    assert r.parameters["stop_reason"] == "iterations" and r.parameters["iterations_run"] == 40

    seen2 = []
    stopped = denoise(img, method="noise2self", options=opts, device="cpu", on_metrics=seen2.append,
                      stop_training=lambda: len(seen2) >= 5)
    assert len(seen2) == 5 and stopped.parameters["iterations_run"] == 5
    assert stopped.parameters["stop_reason"] == "stopped"
    assert stopped.image.shape == img.shape and np.isfinite(stopped.image).all()
    # the same seed: the 5 steps before the stop are the first 5 of the full run
    np.testing.assert_allclose([m["loss"] for m in seen2], loss[:5], rtol=1e-5)


def test_redcnn_through_denoise(tmp_path):
    torch = pytest.importorskip("torch")
    from napari_medai.core.models.redcnn import build_redcnn

    sd = build_redcnn("shared", filters=4).state_dict()
    p = tmp_path / "tiny_shared.pt"
    torch.save(sd, p)
    noisy, _, _ = noisy_phantom(shape=(40, 40))
    r = denoise(noisy, method="redcnn", weights=p, device="cpu")
    assert r.image.shape == noisy.shape and r.parameters["weights"].endswith("tiny_shared.pt")
    with pytest.raises(InvalidInputError, match="at least 21"):
        denoise(noisy[:20, :20], method="redcnn", weights=p)


@pytest.mark.realdata
def test_real_l506_pair_reproduces_the_reference_figures():
    if not L506.is_dir():
        pytest.skip(f"ldct_L506 not found at {L506}")
    qd = read_volume(L506 / "L506_QD_3mm_sharp_slice32_uint16_hu+1024_512x512.raw").data.astype(np.float32)
    fd = np.load(L506 / "L506_FD_slice32_HU_int16.npy").astype(np.float32)
    np.testing.assert_array_equal(qd, np.load(L506 / "L506_QD_slice32_HU_int16.npy"))
    assert psnr(qd, fd) == pytest.approx(16.8, abs=0.05)  # README: 16.8 dB
    g = denoise(qd, method="gaussian", options={"sigma_px": 1.0}).image
    assert psnr(g, fd) == pytest.approx(20.7, abs=0.05)  # README: 20.7 dB for sigma 1 px
    # the liver ROI is uniform: the full dose shows ~45 HU noise, the quarter dose ~100
    assert 35 < noise_sd(fd[L506_LIVER_ROI], np.ones((32, 40), bool)) < 55
    assert 85 < noise_sd(qd[L506_LIVER_ROI], np.ones((32, 40), bool)) < 110


@pytest.mark.realdata
def test_shared_redcnn_on_a_real_crop():
    pytest.importorskip("torch")
    if not (L506.is_dir() and SHARED_WEIGHTS.is_file()):
        pytest.skip("ldct_L506 or the shared RED-CNN weights are absent")
    crop = (slice(120, 248), slice(90, 218))
    qd = np.load(L506 / "L506_QD_slice32_HU_int16.npy").astype(np.float32)[crop]
    fd = np.load(L506 / "L506_FD_slice32_HU_int16.npy").astype(np.float32)[crop]
    r = denoise(qd, method="redcnn", weights=SHARED_WEIGHTS, device="cpu")
    assert psnr(r.image, fd) > psnr(qd, fd) + 0.5


# ------------------------------------------------------------------------------------ output files
def test_write_npy_and_raw_round_trip(tmp_path):
    img = np.array([[-1000.0, -5.4], [40.2, 1200.0]], np.float32).repeat(4, 0).repeat(4, 1)
    p = write_ct_image(img, tmp_path / "out.npy")
    np.testing.assert_array_equal(np.load(p), img)
    raw = write_ct_image(img, tmp_path / "out_uint16_hu+1024_8x8.raw")
    back = read_volume(raw).data
    np.testing.assert_array_equal(back, np.rint(img))
    with pytest.raises(ImageWriteError, match="already exists"):
        write_ct_image(img, tmp_path / "out.npy")
    write_ct_image(img * 0, tmp_path / "out.npy", overwrite=True)
    with pytest.raises(ImageWriteError, match="gives none"):
        write_ct_image(img, tmp_path / "noshape.raw")
    with pytest.raises(ImageWriteError, match="do not fit uint16"):
        write_ct_image(img, tmp_path / "neg_uint16_8x8.raw")
    with pytest.raises(ImageWriteError, match="the name says shape"):
        write_ct_image(img, tmp_path / "x_hu+1024_4x4.raw")
    nii = write_ct_image(img, tmp_path / "out.nii.gz")
    np.testing.assert_allclose(read_volume(nii).data, img)


def test_write_refuses_inputs_even_with_overwrite(tmp_path):
    src = tmp_path / "ct.npy"
    np.save(src, np.zeros((8, 8), np.float32))
    vol = read_volume(src)
    with pytest.raises(ImageWriteError, match="refusing to overwrite"):
        write_ct_image(vol, src, overwrite=True)
    with pytest.raises(ImageWriteError, match="input"):
        write_ct_image(np.ones((8, 8)), src, overwrite=True, protect=[src])
    assert not np.load(src).any()
