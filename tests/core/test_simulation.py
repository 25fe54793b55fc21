"""Low-dose CT simulation: noise level versus dose, reference reconstruction, validation."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.transform import iradon, radon

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.simulation import (
    default_n_angles,
    reconstruct_noise_free,
    simulate_low_dose,
    simulate_low_dose_pair,
)


def water_disc(n: int = 96, radius: float = 38.0) -> np.ndarray:
    """Air square with a centred water disc (0 HU)."""
    yy, xx = np.mgrid[:n, :n]
    c = (n - 1) / 2.0
    img = np.full((n, n), -1000.0)
    img[(yy - c) ** 2 + (xx - c) ** 2 <= radius**2] = 0.0
    return img


def central_roi(shape: tuple[int, int], radius: float) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    cy, cx = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    return (yy - cy) ** 2 + (xx - cx) ** 2 <= radius**2


def test_noise_sd_scales_as_inverse_sqrt_dose():
    img = water_disc()
    roi = central_roi(img.shape, 14.0)
    ref = reconstruct_noise_free(img, pixel_size_mm=1.0)
    sd = {}
    for dose in (1.0, 0.25):
        low = simulate_low_dose(img, pixel_size_mm=1.0, dose_fraction=dose, seed=11)
        sd[dose] = float((low - ref)[roi].std())
    # variance of log counts ~ 1 / (I0 * dose): quarter dose doubles the noise SD
    assert sd[0.25] / sd[1.0] == pytest.approx(2.0, abs=0.3)
    assert sd[1.0] > 1.0  # the noise is there at all


def test_noise_free_reconstruction_recovers_water_and_air():
    img = water_disc()
    ref = reconstruct_noise_free(img, pixel_size_mm=0.8)
    assert ref.dtype == np.float32 and ref.shape == img.shape
    roi = central_roi(img.shape, 20.0)
    assert abs(float(ref[roi].mean())) < 3.0  # water is 0 HU
    assert float(np.abs(ref[roi]).max()) < 15.0
    corner = ref[:6, :6]
    assert np.all(corner == -1000.0)  # outside the field of view: air


def test_low_dose_is_unbiased_and_pair_matches_single_functions():
    img = water_disc(n=64, radius=24.0)
    low, ref = simulate_low_dose_pair(img, pixel_size_mm=1.0, dose_fraction=0.5, seed=3)
    # same seed, same noise realisation (back-projected by skimage here, packed in the pair)
    single = simulate_low_dose(img, pixel_size_mm=1.0, dose_fraction=0.5, seed=3)
    np.testing.assert_allclose(low, single, atol=1e-3)
    # the pair's reference uses packed two-at-once back-projection: equal to the skimage path
    np.testing.assert_allclose(ref, reconstruct_noise_free(img, pixel_size_mm=1.0), atol=1e-3)
    roi = central_roi(img.shape, 10.0)
    assert abs(float(low[roi].mean() - ref[roi].mean())) < 10.0


def test_reference_equals_skimage_iradon_by_hand():
    """The reference is FBP (skimage iradon, ramp) of the line integrals of mu = mu_w (1 + HU/1000)."""
    n, px, mu_w = 48, 0.5, 0.02
    img = water_disc(n=n, radius=18.0)
    img[20:26, 20:30] = 400.0
    mu = mu_w * (1.0 + img / 1000.0)
    theta = np.linspace(0.0, 180.0, 60, endpoint=False)
    rec_mu = iradon(radon(mu, theta=theta, circle=True), theta=theta, circle=True, filter_name="ramp")
    expected = 1000.0 * (rec_mu / mu_w - 1.0)
    got = reconstruct_noise_free(img, pixel_size_mm=px, n_angles=60, mu_water=mu_w)
    inside = central_roi(img.shape, n / 2.0 - 1.0)
    np.testing.assert_allclose(got[inside], expected[inside], atol=0.05)
    # and the noisy path's reference is the same image
    _, ref = simulate_low_dose_pair(img, pixel_size_mm=px, n_angles=60, mu_water=mu_w, seed=0)
    np.testing.assert_allclose(ref[inside], expected[inside], atol=0.05)


def test_deterministic_per_seed():
    img = water_disc(n=48, radius=18.0)
    a = simulate_low_dose(img, pixel_size_mm=1.0, seed=5)
    b = simulate_low_dose(img, pixel_size_mm=1.0, seed=5)
    c = simulate_low_dose(img, pixel_size_mm=1.0, seed=6)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_stack_non_square_and_material_outside_the_circle():
    # a rectangle of soft tissue reaching the corners of the padded square: projected over the diagonal
    stack = np.full((2, 40, 56), -1000.0)
    stack[:, 2:38, 1:55] = 50.0
    low, ref = simulate_low_dose_pair(stack, pixel_size_mm=1.0, seed=1, dose_fraction=1.0)
    assert low.shape == stack.shape and ref.shape == stack.shape
    assert low.dtype == np.float32
    np.testing.assert_array_equal(ref[0], ref[1])  # same slice, same reference
    assert not np.array_equal(low[0], low[1])  # independent noise per slice
    assert float(ref[0, 10:30, 10:46].mean()) == pytest.approx(50.0, abs=5.0)
    assert float(ref[0, 4:10, 3:9].mean()) == pytest.approx(50.0, abs=15.0)  # near a corner: kept


def test_electronic_noise_adds_noise():
    img = water_disc(n=48, radius=18.0)
    roi = central_roi(img.shape, 8.0)
    ref = reconstruct_noise_free(img, pixel_size_mm=1.0)
    quiet = simulate_low_dose(img, pixel_size_mm=1.0, i0=2e3, seed=2)
    loud = simulate_low_dose(img, pixel_size_mm=1.0, i0=2e3, electronic_noise_sd=40.0, seed=2)
    assert (loud - ref)[roi].std() > (quiet - ref)[roi].std()


def test_default_n_angles():
    assert default_n_angles(100) == 158  # ceil(pi / 2 * 100) = ceil(157.08)
    assert default_n_angles(2) == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dose_fraction": 0.0}, "dose_fraction"),
        ({"dose_fraction": 1.5}, "dose_fraction"),
        ({"i0": -1.0}, "i0"),
        ({"electronic_noise_sd": -1.0}, "electronic_noise_sd"),
        ({"pixel_size_mm": 0.0}, "pixel_size_mm"),
        ({"n_angles": 1}, "n_angles"),
        ({"seed": 1.5}, "seed"),
        ({"seed": -2}, "seed"),
        ({"mu_water": 0.0}, "mu_water"),
    ],
)
def test_invalid_options(kwargs, match):
    options = {"pixel_size_mm": 1.0, **kwargs}
    with pytest.raises(InvalidInputError, match=match):
        simulate_low_dose(water_disc(n=16, radius=5.0), **options)


def test_invalid_images():
    with pytest.raises(InvalidInputError, match="2-D slice or a 3-D stack"):
        simulate_low_dose(np.zeros(10), pixel_size_mm=1.0)
    bad = water_disc(n=16, radius=5.0)
    bad[3, 3] = np.nan
    with pytest.raises(InvalidInputError, match="NaN"):
        reconstruct_noise_free(bad, pixel_size_mm=1.0)
    with pytest.raises(InvalidInputError, match="real numbers"):
        simulate_low_dose(np.full((8, 8), "a"), pixel_size_mm=1.0)


def test_progress_and_stop_callbacks_do_not_change_the_result():
    from napari_medai.core.models.errors import Cancelled

    stack = np.stack([water_disc(n=32, radius=12.0)] * 3)
    plain = simulate_low_dose(stack, pixel_size_mm=1.0, seed=7)
    calls = []
    reported = simulate_low_dose(stack, pixel_size_mm=1.0, seed=7, progress=lambda f, m: calls.append((f, m)),
                                 should_stop=lambda: False)
    np.testing.assert_array_equal(reported, plain)  # bit-identical: the callbacks draw no random numbers
    assert [f for f, _ in calls] == [0.0, 1 / 3, 2 / 3, 1.0]
    assert calls[1][1] == "simulating slice 2/3"
    # one generator for the stack: its first slice is the slice simulated alone, the next ones are not
    np.testing.assert_array_equal(plain[0], simulate_low_dose(stack[0], pixel_size_mm=1.0, seed=7))
    assert not np.array_equal(plain[1], simulate_low_dose(stack[1], pixel_size_mm=1.0, seed=7))
    # the pair and the reference report too
    pair_calls, ref_calls = [], []
    low, ref = simulate_low_dose_pair(stack, pixel_size_mm=1.0, seed=7, progress=lambda f, m: pair_calls.append(f))
    assert pair_calls == [0.0, 1 / 3, 2 / 3, 1.0]
    np.testing.assert_allclose(low, plain, atol=1e-3)
    rec = reconstruct_noise_free(stack, pixel_size_mm=1.0, progress=lambda f, m: ref_calls.append(m))
    assert ref_calls[0] == "reconstructing slice 1/3" and len(ref_calls) == 4
    np.testing.assert_allclose(rec, ref, atol=1e-3)
    # asked to stop before the second slice: Cancelled, after exactly one slice's work
    asked = []

    def stop_at_second() -> bool:
        asked.append(1)
        return len(asked) == 2

    for fn in (simulate_low_dose, simulate_low_dose_pair, reconstruct_noise_free):
        asked.clear()
        with pytest.raises(Cancelled, match="slice 2 of 3"):
            fn(stack, pixel_size_mm=1.0, should_stop=stop_at_second)
