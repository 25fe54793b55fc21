"""PSNR / SSIM / RMSE in an HU window, and noise SD: values worked out by hand and against skimage."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics.image_quality import (
    DEFAULT_WINDOW_HU,
    apply_window,
    image_quality,
    noise_sd,
    psnr,
    quality_row,
    rmse,
    ssim,
)


def test_constant_offset_by_hand():
    ref = np.zeros((16, 16))
    img = ref + 40.0  # inside [-160, 240]: MSE 1600
    assert rmse(img, ref) == pytest.approx(40.0)
    assert psnr(img, ref) == pytest.approx(20.0)  # 10 log10(400^2 / 1600)
    assert psnr(img, ref, data_range=800.0) == pytest.approx(10 * math.log10(800**2 / 1600))


def test_values_are_clipped_to_the_window_first():
    ref = np.full((16, 16), -1000.0)
    img = np.full((16, 16), -500.0)  # both below -160: identical after clipping
    assert rmse(img, ref) == 0.0
    assert psnr(img, ref) == math.inf
    ref2 = np.full((16, 16), 200.0)
    img2 = np.full((16, 16), 700.0)  # 700 counts as 240: error 40 HU
    assert rmse(img2, ref2) == pytest.approx(40.0)
    assert rmse(img2, ref2, window=None) == pytest.approx(500.0)
    assert psnr(img2, ref2, window=(-1000, 1000)) == pytest.approx(10 * math.log10(2000**2 / 500**2))
    np.testing.assert_array_equal(apply_window(np.array([[-300.0, 0.0], [100.0, 900.0]])),
                                  [[-160.0, 0.0], [100.0, 240.0]])


def test_ssim_of_constant_images_is_the_luminance_term():
    # sigma_x = sigma_y = 0, so SSIM = (2 mu_x mu_y + C1) / (mu_x^2 + mu_y^2 + C1), C1 = (0.01 * 400)^2 = 16
    a = np.full((24, 24), 100.0)
    b = np.full((24, 24), 50.0)
    assert ssim(a, b) == pytest.approx((2 * 100 * 50 + 16) / (100**2 + 50**2 + 16), rel=1e-9)
    assert ssim(a, a) == pytest.approx(1.0)


def test_ssim_matches_skimage_with_the_papers_settings():
    rng = np.random.default_rng(0)
    ref = rng.normal(40.0, 120.0, (64, 64))
    img = ref + rng.normal(0.0, 60.0, ref.shape)
    lo, hi = DEFAULT_WINDOW_HU
    expected = structural_similarity(
        np.clip(ref, lo, hi), np.clip(img, lo, hi), data_range=400.0, gaussian_weights=True, sigma=1.5,
        use_sample_covariance=False,
    )
    assert ssim(img, ref) == pytest.approx(expected, rel=1e-12)
    assert ssim(img, ref) == pytest.approx(ssim(ref, img), rel=1e-12)  # symmetric


def test_ssim_uniform7_is_scikit_images_default_and_unknown_kernels_are_refused():
    rng = np.random.default_rng(1)
    ref = rng.normal(40.0, 120.0, (48, 48))
    img = ref + rng.normal(0.0, 60.0, ref.shape)
    lo, hi = DEFAULT_WINDOW_HU
    expected = structural_similarity(np.clip(ref, lo, hi), np.clip(img, lo, hi), data_range=400.0)
    assert ssim(img, ref, kernel="uniform7") == pytest.approx(expected, rel=1e-12)
    assert abs(ssim(img, ref, kernel="uniform7") - ssim(img, ref)) > 1e-3  # a different number
    with pytest.raises(InvalidInputError, match="unknown SSIM kernel 'box'"):
        ssim(img, ref, kernel="box")


@pytest.mark.realdata
def test_l506_quarter_dose_ssim_in_both_conventions(shared_file):
    qd = np.load(shared_file("ldct_L506/L506_QD_slice32_HU_int16.npy")).astype(np.float64)
    fd = np.load(shared_file("ldct_L506/L506_FD_slice32_HU_int16.npy")).astype(np.float64)
    # the 0.70 quoted for this pair is scikit-image's default window; the papers' Gaussian gives 0.68
    assert ssim(qd, fd, kernel="uniform7") == pytest.approx(0.70, abs=0.005)
    assert ssim(qd, fd) == pytest.approx(0.68, abs=0.005)
    assert psnr(qd, fd) == pytest.approx(16.8, abs=0.05)


def test_stacks_are_scored_slice_by_slice_and_averaged():
    ref = np.zeros((2, 16, 16))
    img = ref.copy()
    img[0] += 40.0  # PSNR 20 dB
    img[1] += 4.0  # PSNR 40 dB
    assert psnr(img, ref) == pytest.approx(30.0)
    np.testing.assert_allclose(psnr(img, ref, per_slice=True), [20.0, 40.0])
    np.testing.assert_allclose(rmse(img, ref, per_slice=True), [40.0, 4.0])
    assert rmse(img, ref) == pytest.approx(22.0)
    s = ssim(img, ref, per_slice=True)
    assert s.shape == (2,) and ssim(img, ref) == pytest.approx(float(s.mean()))
    q = image_quality(img, ref)
    assert set(q) == {"psnr", "ssim", "rmse"} and q["psnr"] == pytest.approx(30.0)


def test_noise_sd_by_hand():
    img = np.zeros((4, 4))
    img[0, :] = [1.0, 2.0, 3.0, 4.0]
    roi = np.zeros((4, 4), bool)
    roi[0] = True
    assert noise_sd(img, roi) == pytest.approx(np.std([1, 2, 3, 4], ddof=1))  # 1.2910
    stack = np.stack([img, img + 10.0])
    # a 2-D mask applies to every slice; the SD pools all 8 pixels
    assert noise_sd(stack, roi) == pytest.approx(np.std([1, 2, 3, 4, 11, 12, 13, 14], ddof=1))
    assert noise_sd(img, roi.astype(np.uint8)) == pytest.approx(np.std([1, 2, 3, 4], ddof=1))


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: psnr(np.zeros((8, 8)), np.zeros((8, 9))), "different shapes"),
        (lambda: psnr(np.zeros(8), np.zeros(8)), "2-D slice or a 3-D stack"),
        (lambda: psnr(np.zeros((8, 8)), np.zeros((8, 8)), window=(240, -160)), "low < high"),
        (lambda: psnr(np.zeros((8, 8)), np.zeros((8, 8)), window=None), "data_range"),
        (lambda: rmse(np.full((8, 8), np.nan), np.zeros((8, 8))), "NaN"),
        (lambda: ssim(np.zeros((8, 8)), np.zeros((8, 8))), "at least 11 x 11"),
        (lambda: noise_sd(np.zeros((8, 8)), np.zeros((8, 8), bool)), "at least 2"),
        (lambda: noise_sd(np.zeros((8, 8)), np.full((8, 8), 3)), "0/1"),
        (lambda: noise_sd(np.zeros((8, 8)), np.ones((4, 4), bool)), "grid"),
    ],
)
def test_invalid_inputs_say_how_to_fix(call, match):
    with pytest.raises(InvalidInputError, match=match):
        call()


def test_quality_row_measures_what_it_is_given():
    rng = np.random.default_rng(2)
    ref = rng.normal(40.0, 100.0, (32, 32))
    img = ref + rng.normal(0.0, 30.0, ref.shape)
    roi = np.zeros(ref.shape, bool)
    roi[4:12, 4:12] = True
    full = quality_row(img, reference=ref, roi_mask=roi)
    assert full == {**image_quality(img, ref), "noise_sd": noise_sd(img, roi)}
    assert quality_row(img, roi_mask=roi) == {"psnr": None, "ssim": None, "rmse": None, "noise_sd": noise_sd(img, roi)}
    assert quality_row(img, reference=ref)["noise_sd"] is None
    with pytest.raises(InvalidInputError, match=r"'denoised' has shape \(32, 32\) but the reference has \(16, 16\)"):
        quality_row(img, reference=ref[:16, :16], name="denoised")

