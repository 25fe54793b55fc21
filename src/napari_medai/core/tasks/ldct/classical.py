"""Classical (non-learned) CT denoisers, applied slice by slice: Gaussian, TV, NLM, bilateral.

How the default parameters were chosen
--------------------------------------
The strength of each filter follows the image's own noise: it is a factor times the noise SD
that :func:`~._common.estimate_noise_sd` measures in soft tissue (``sigma``), so one default
fits a quarter-dose and a full-dose scan. The factors (and the Gaussian's width, which does not
scale) maximise PSNR in the [-160, 240] HU window on the project's ``ldct`` phantom
(:func:`napari_medai.core.phantoms.ldct_phantom`, seeds 0-1, 256 px, noise-free FBP reference)
at three noise levels (quarter dose with I0 = 1.5e6, 2e5 and 5e4, i.e. about 25, 65 and 130 HU
of noise). They were **not** tuned on the real ``ldct_L506`` pair, which is kept for testing
(``examples/ldct_L506_table.py``). ``python benchmarks/bench_ldct.py --tune`` reruns the grid
search and prints every setting's mean PSNR (the chosen ones: Gaussian 1.0 px 27.4 dB, TV 1.3 x
sigma 31.0 dB, NLM 1.5 x sigma 30.9 dB, bilateral 2.0 x sigma 26.3 dB, averaged over the six
phantom images). The noise estimate sees correlated CT noise only in part, so the factors are
relative to that estimate, not to the true noise SD.

=========== ===================================================== ====================================
method      what                                                  default
=========== ===================================================== ====================================
gaussian    :func:`scipy.ndimage.gaussian_filter`                 ``sigma_px`` = :data:`GAUSSIAN_SIGMA_PX`
tv          :func:`skimage.restoration.denoise_tv_chambolle`      ``weight`` = :data:`TV_FACTOR` x sigma
nlm         :func:`skimage.restoration.denoise_nl_means`          ``h`` = :data:`NLM_FACTOR` x sigma,
            (fast mode, 5 x 5 patches, 13 x 13 search)            ``sigma`` = sigma
bilateral   :func:`skimage.restoration.denoise_bilateral`         ``sigma_color`` = :data:`BILATERAL_FACTOR`
                                                                  x sigma (HU), ``sigma_spatial`` 1.5 px
=========== ===================================================== ====================================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from ...callbacks import ProgressFn, StopFn
from ...errors import InvalidInputError
from ._common import check_real, estimate_noise_sd, iter_slices

__all__ = [
    "BILATERAL_FACTOR",
    "BILATERAL_SIGMA_SPATIAL_PX",
    "CLASSICAL_METHODS",
    "GAUSSIAN_SIGMA_PX",
    "NLM_FACTOR",
    "TV_FACTOR",
    "classical_parameters",
    "denoise_classical",
]

#: Gaussian width in pixels (tuned on the phantom, see the module docstring).
GAUSSIAN_SIGMA_PX = 1.0
#: TV weight per HU of estimated noise SD.
TV_FACTOR = 1.3
#: NLM filtering strength ``h`` per HU of estimated noise SD.
NLM_FACTOR = 1.5
#: Bilateral range width (HU) per HU of estimated noise SD.
BILATERAL_FACTOR = 2.0
#: Bilateral spatial width in pixels.
BILATERAL_SIGMA_SPATIAL_PX = 1.5

CLASSICAL_METHODS = ("gaussian", "tv", "nlm", "bilateral")

_ALLOWED = {
    "gaussian": {"sigma_px"},
    "tv": {"weight", "n_iter_max"},
    "nlm": {"h", "sigma", "patch_size", "patch_distance"},
    "bilateral": {"sigma_color", "sigma_spatial"},
}


def classical_parameters(method: str, image: np.ndarray, options: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The parameters :func:`denoise_classical` will use: defaults from the noise estimate, then ``options``.

    Parameters
    ----------
    method
        One of :data:`CLASSICAL_METHODS`.
    image
        The image (HU) whose noise sets the defaults.
    options
        Explicit values overriding the defaults (names as in the module table).

    Returns
    -------
    dict
        Parameter values, plus ``noise_sd_estimate`` (HU).
    """
    if method not in _ALLOWED:
        raise InvalidInputError(f"unknown classical method {method!r}; use one of {', '.join(CLASSICAL_METHODS)}")
    opts = dict(options or {})
    unknown = sorted(set(opts) - _ALLOWED[method])
    if unknown:
        raise InvalidInputError(
            f"{method} takes the options {', '.join(sorted(_ALLOWED[method]))}; {', '.join(unknown)} "
            "is not one of them"
        )
    sigma = estimate_noise_sd(image)
    s = max(sigma, 1e-3)
    if method == "gaussian":
        p: dict[str, Any] = {"sigma_px": GAUSSIAN_SIGMA_PX}
    elif method == "tv":
        p = {"weight": TV_FACTOR * s, "n_iter_max": 200}
    elif method == "nlm":
        p = {"h": NLM_FACTOR * s, "sigma": s, "patch_size": 5, "patch_distance": 6}
    else:
        p = {"sigma_color": BILATERAL_FACTOR * s, "sigma_spatial": BILATERAL_SIGMA_SPATIAL_PX}
    p.update(opts)
    # validate
    if method == "gaussian":
        p["sigma_px"] = check_real(p["sigma_px"], "sigma_px", low=0.0, high=50.0)
    elif method == "tv":
        p["weight"] = check_real(p["weight"], "weight (HU)", low=0.0)
        p["n_iter_max"] = int(check_real(p["n_iter_max"], "n_iter_max", low=1, high=10000))
    elif method == "nlm":
        p["h"] = check_real(p["h"], "h (HU)", low=0.0, low_open=True)
        p["sigma"] = check_real(p["sigma"], "sigma (HU)", low=0.0)
        p["patch_size"] = int(check_real(p["patch_size"], "patch_size", low=1, high=31))
        p["patch_distance"] = int(check_real(p["patch_distance"], "patch_distance", low=1, high=50))
    else:
        p["sigma_color"] = check_real(p["sigma_color"], "sigma_color (HU)", low=0.0, low_open=True)
        p["sigma_spatial"] = check_real(p["sigma_spatial"], "sigma_spatial (px)", low=0.0, low_open=True)
    p["noise_sd_estimate"] = round(float(sigma), 3)
    return p


def _one_slice(method: str, x: np.ndarray, p: Mapping[str, Any]) -> np.ndarray:
    if method == "gaussian":
        from scipy import ndimage

        return ndimage.gaussian_filter(x, sigma=p["sigma_px"], mode="nearest")
    if method == "tv":
        from skimage.restoration import denoise_tv_chambolle

        return denoise_tv_chambolle(x, weight=p["weight"], max_num_iter=p["n_iter_max"])
    if method == "nlm":
        from skimage.restoration import denoise_nl_means

        return denoise_nl_means(x, h=p["h"], sigma=p["sigma"], patch_size=p["patch_size"],
                                patch_distance=p["patch_distance"], fast_mode=True)
    from skimage.restoration import denoise_bilateral

    # skimage's bilateral works on the image's own value scale; shift to non-negative values
    lo = float(x.min())
    out = denoise_bilateral((x - lo).astype(np.float64), sigma_color=p["sigma_color"],
                            sigma_spatial=p["sigma_spatial"], bins=max(1000, int(np.ptp(x) / 2) + 1))
    return out + lo


def denoise_classical(
    image: np.ndarray,
    method: str,
    *,
    options: Mapping[str, Any] | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Denoise a slice or a stack (slice by slice) with a classical filter.

    Parameters
    ----------
    image
        float32 2-D slice or 3-D stack in HU.
    method
        ``"gaussian"``, ``"tv"``, ``"nlm"`` or ``"bilateral"``.
    options
        Parameter overrides (see :func:`classical_parameters`).
    progress, should_stop
        Called/polled once per slice; cancellation raises :class:`~napari_medai.core.models.Cancelled`.

    Returns
    -------
    denoised, parameters
        float32 array of the input's shape, and the parameters used.
    """
    params = classical_parameters(method, image, options)
    stack = image[None] if image.ndim == 2 else image
    out = np.empty(stack.shape, dtype=np.float32)
    for k, sl in iter_slices(stack, label=method, progress=progress, should_stop=should_stop):
        out[k] = _one_slice(method, sl.astype(np.float64), params)
    return (out[0] if image.ndim == 2 else out), params
