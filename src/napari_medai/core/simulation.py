"""Low-dose CT simulation by noise insertion in the projection domain.

The model, applied slice by slice (axis 0 of a 3-D array holds the slices):

1. HU to linear attenuation: ``mu = mu_water * (1 + HU / 1000)`` (per mm; air -1000 HU -> 0,
   values below -1000 HU are clipped to 0).
2. Parallel-beam forward projection with :func:`skimage.transform.radon` over ``n_angles`` views
   in [0, 180) degrees; multiplying by the pixel size gives dimensionless line integrals ``p``.
3. Detected photon counts ``N ~ Poisson(I0 * d * exp(-p))`` for dose fraction ``d``, plus optional
   zero-mean Gaussian electronic noise, clamped to ``N >= 1``.
4. Noisy line integrals ``p' = -ln(N / (I0 * d))``, reconstructed by filtered back-projection
   (:func:`skimage.transform.iradon`, ramp filter, linear interpolation) and converted back to HU.

Filtered back-projection of *noise-free* projections is not the input image: discretisation
blurs edges slightly and leaves faint streaks. The fair full-dose reference for a simulated low-dose
image is therefore :func:`reconstruct_noise_free` with the same geometry (differences between the
two are then quantum/electronic noise only). :func:`simulate_low_dose_pair` returns both from one
forward projection. Outside the scanner's field of view (the circle inscribed in the padded square)
the reconstruction is set to air (-1000 HU).

A stack is simulated with one random generator seeded once, slice after slice, so the same seed
gives the same stack whichever caller (CLI, widget, script) asks. Long stacks report
``progress(fraction, message)`` before each slice and stop with
:class:`~napari_medai.core.models.errors.Cancelled` when ``should_stop()`` returns True; the
callbacks never change the result.

Non-square slices are padded with air to a square before projection and cropped back afterwards.
When a slice has attenuating material outside the inscribed circle, the projection uses the full
diagonal (``circle=False``) so nothing is cut off.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import cast

import numpy as np
from skimage.transform import iradon, radon

from .callbacks import Cancelled, ProgressFn, StopFn  # plain types: imports no torch
from .errors import InvalidInputError

# ``progress(fraction in [0, 1], message)`` is called before each slice and once at the end;
# ``should_stop()`` is asked before each slice, and True stops with :class:`Cancelled`.

__all__ = ["simulate_low_dose", "reconstruct_noise_free", "simulate_low_dose_pair", "default_n_angles"]

#: Linear attenuation of water (per mm) at an effective energy of about 70 keV.
MU_WATER_PER_MM = 0.0192


def default_n_angles(size: int) -> int:
    """Number of views that samples a ``size`` x ``size`` slice fully: ``ceil(pi / 2 * size)``.

    Parameters
    ----------
    size
        Side of the (square, padded) slice in pixels.

    Returns
    -------
    int
        The number of projection angles over 180 degrees.
    """
    return int(math.ceil(math.pi / 2 * int(size)))


def simulate_low_dose(
    image_hu: np.ndarray,
    *,
    pixel_size_mm: float,
    dose_fraction: float = 0.25,
    i0: float = 1e5,
    electronic_noise_sd: float = 0.0,
    n_angles: int | None = None,
    seed: int = 0,
    mu_water: float = MU_WATER_PER_MM,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> np.ndarray:
    """Simulate a reduced-dose CT acquisition of an image in Hounsfield units.

    Parameters
    ----------
    image_hu
        2-D slice ``(rows, columns)`` or 3-D stack ``(slices, rows, columns)`` in HU; finite.
    pixel_size_mm
        In-plane pixel size in mm (square pixels); sets the physical path lengths.
    dose_fraction
        Fraction of the full dose, in (0, 1]; the mean photon count per ray is ``i0 * dose_fraction``.
    i0
        Unattenuated photon count per detector bin and view at full dose.
    electronic_noise_sd
        Standard deviation of additive Gaussian noise on the counts (0 to switch it off).
    n_angles
        Number of views over [0, 180) degrees; ``None`` uses :func:`default_n_angles` of the
        padded slice size.
    seed
        Seed of the random generator; the same seed gives the same image (a stack draws its
        slices' noise from this one generator, in slice order).
    mu_water
        Linear attenuation of water in 1/mm.
    progress
        Optional ``progress(fraction, message)``, called before each slice and at the end.
    should_stop
        Optional ``should_stop() -> bool``, asked before each slice.

    Returns
    -------
    numpy.ndarray
        float32 array of ``image_hu``'s shape, in HU.

    Raises
    ------
    InvalidInputError
        When an argument is out of range or the image is not a finite 2-D/3-D array.
    Cancelled
        When ``should_stop()`` returned True (nothing is returned).

    Notes
    -----
    Compare the result with :func:`reconstruct_noise_free` (same geometry), not with the input,
    to see the added noise only.
    """
    low, _ = _simulate(
        image_hu,
        pixel_size_mm=pixel_size_mm,
        dose_fraction=dose_fraction,
        i0=i0,
        electronic_noise_sd=electronic_noise_sd,
        n_angles=n_angles,
        seed=seed,
        mu_water=mu_water,
        want_reference=False,
        progress=progress,
        should_stop=should_stop,
    )
    return low


def reconstruct_noise_free(
    image_hu: np.ndarray,
    *,
    pixel_size_mm: float,
    n_angles: int | None = None,
    mu_water: float = MU_WATER_PER_MM,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> np.ndarray:
    """Filtered back-projection of noise-free projections (the reference of :func:`simulate_low_dose`).

    Parameters
    ----------
    image_hu
        2-D slice or 3-D stack ``(slices, rows, columns)`` in HU; finite.
    pixel_size_mm
        In-plane pixel size in mm.
    n_angles
        Number of views (``None``: :func:`default_n_angles`); use the same value as for the
        low-dose simulation.
    mu_water
        Linear attenuation of water in 1/mm.
    progress, should_stop
        As for :func:`simulate_low_dose`.

    Returns
    -------
    numpy.ndarray
        float32 array of ``image_hu``'s shape, in HU.
    """
    image, n_angles_checked, mu_w, px = _validate_common(image_hu, pixel_size_mm, n_angles, mu_water)
    out = np.empty(image.shape, dtype=np.float32)
    n = image.shape[0]
    for k in range(n):
        _report(k, n, "reconstructing", progress, should_stop)
        proj = _Projection(image[k], px, n_angles_checked, mu_w)
        out[k] = proj.reconstruct(proj.sinogram)
    if progress is not None:
        progress(1.0, f"reconstructed {n} slice(s)")
    return out if np.ndim(image_hu) == 3 else out[0]


def simulate_low_dose_pair(
    image_hu: np.ndarray,
    *,
    pixel_size_mm: float,
    dose_fraction: float = 0.25,
    i0: float = 1e5,
    electronic_noise_sd: float = 0.0,
    n_angles: int | None = None,
    seed: int = 0,
    mu_water: float = MU_WATER_PER_MM,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Low-dose image and its noise-free reference from one forward projection.

    Parameters are those of :func:`simulate_low_dose` (the same seed draws the same noise).

    Returns
    -------
    low_dose, noise_free : tuple of numpy.ndarray
        Both float32 in HU with ``image_hu``'s shape; ``noise_free`` equals what
        :func:`reconstruct_noise_free` returns for the same geometry (the two are back-projected
        together, which costs about as much as one).
    """
    low, ref = _simulate(
        image_hu,
        pixel_size_mm=pixel_size_mm,
        dose_fraction=dose_fraction,
        i0=i0,
        electronic_noise_sd=electronic_noise_sd,
        n_angles=n_angles,
        seed=seed,
        mu_water=mu_water,
        want_reference=True,
        progress=progress,
        should_stop=should_stop,
    )
    return low, cast(np.ndarray, ref)


# ---------------------------------------------------------------------------------------- helpers
def _simulate(
    image_hu: np.ndarray,
    *,
    pixel_size_mm: float,
    dose_fraction: float,
    i0: float,
    electronic_noise_sd: float,
    n_angles: int | None,
    seed: int,
    mu_water: float,
    want_reference: bool,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[np.ndarray, np.ndarray | None]:
    image, n_ang, mu_w, px = _validate_common(image_hu, pixel_size_mm, n_angles, mu_water)
    d = _check_real(dose_fraction, "dose_fraction")
    if not 0.0 < d <= 1.0:
        raise InvalidInputError(
            f"dose_fraction must be in (0, 1] (e.g. 0.25 for quarter dose), got {dose_fraction!r}"
        )
    i0_value = _check_real(i0, "i0")
    if i0_value <= 0:
        raise InvalidInputError(f"i0 (photons per ray at full dose) must be > 0, got {i0!r}")
    e_sd = _check_real(electronic_noise_sd, "electronic_noise_sd")
    if e_sd < 0:
        raise InvalidInputError(f"electronic_noise_sd must be >= 0, got {electronic_noise_sd!r}")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer, got {seed!r}")
    rng = np.random.default_rng(int(seed))
    blank = i0_value * d

    low = np.empty(image.shape, dtype=np.float32)
    ref = np.empty(image.shape, dtype=np.float32) if want_reference else None
    n = image.shape[0]
    for k in range(n):
        _report(k, n, "simulating", progress, should_stop)
        proj = _Projection(image[k], px, n_ang, mu_w)
        counts = rng.poisson(blank * np.exp(-proj.sinogram)).astype(np.float64)
        if e_sd > 0:
            counts += rng.normal(0.0, e_sd, size=counts.shape)
        np.maximum(counts, 1.0, out=counts)
        noisy = -np.log(counts / blank)
        if ref is None:
            low[k] = proj.reconstruct(noisy)
        else:
            low[k], ref[k] = proj.reconstruct_two(noisy, proj.sinogram)
    if progress is not None:
        progress(1.0, f"simulated {n} slice(s)")
    if np.ndim(image_hu) == 2:
        return low[0], (None if ref is None else ref[0])
    return low, ref


class _Projection:
    """Forward projection of one slice, remembering how to reconstruct and crop it back."""

    def __init__(self, slice_hu: np.ndarray, pixel_size_mm: float, n_angles: int | None, mu_water: float):
        self.pixel_size_mm = pixel_size_mm
        self.mu_water = mu_water
        rows, cols = slice_hu.shape
        n = max(rows, cols)
        self.n = n
        self.r0 = (n - rows) // 2
        self.c0 = (n - cols) // 2
        self.rows, self.cols = rows, cols
        mu = np.zeros((n, n), dtype=np.float64)
        mu[self.r0 : self.r0 + rows, self.c0 : self.c0 + cols] = np.clip(
            mu_water * (1.0 + slice_hu.astype(np.float64) / 1000.0), 0.0, None
        )
        # skimage's circle=True assumes nothing attenuates outside the inscribed circle.
        yy, xx = np.ogrid[:n, :n]
        centre = (n - 1) / 2.0
        outside = (yy - centre) ** 2 + (xx - centre) ** 2 > (n / 2.0) ** 2
        self.circle = not bool(np.any(mu[np.broadcast_to(outside, mu.shape)] > 1e-9 * mu_water))
        self.fov = ~outside
        size_for_angles = n if self.circle else int(math.ceil(math.sqrt(2) * n))
        self.n_angles = default_n_angles(size_for_angles) if n_angles is None else n_angles
        self.theta = np.linspace(0.0, 180.0, self.n_angles, endpoint=False)
        # radon sums pixel values along rays in pixel steps: times pixel size = line integral.
        self.sinogram = radon(mu, theta=self.theta, circle=self.circle) * pixel_size_mm

    def reconstruct(self, sinogram: np.ndarray) -> np.ndarray:
        """Filtered back-projection to HU (float32, cropped to the input slice)."""
        rec = iradon(
            sinogram / self.pixel_size_mm,
            theta=self.theta,
            output_size=self.n,
            filter_name="ramp",
            interpolation="linear",
            circle=self.circle,
        )
        return self._to_hu(rec)

    def reconstruct_two(self, first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Reconstruct two sinograms at the cost of about one.

        The same algorithm as :func:`skimage.transform.iradon` (ramp filter, linear interpolation,
        same geometry; checked against it by the tests) with the two sinograms packed as the real and
        imaginary parts of one complex sinogram, so the interpolation positions are shared.
        """
        packed = (first + 1j * second) / self.pixel_size_mm
        if self.circle:
            # rays outside the inscribed circle see nothing: extend the detector to the diagonal,
            # keeping the centre bin, so the filter's tails are not cut
            n_det = packed.shape[0]
            wide = int(np.ceil(np.sqrt(2) * n_det))
            before = wide // 2 - n_det // 2
            packed = np.pad(packed, ((before, wide - n_det - before), (0, 0)))
        n_det, n_ang = packed.shape
        padded = max(64, int(2 ** np.ceil(np.log2(2 * n_det))))
        spectrum = np.fft.fft(np.pad(packed, ((0, padded - n_det), (0, 0))), axis=0)
        filtered = np.fft.ifft(spectrum * _ramp_filter(padded)[:, None], axis=0)[:n_det]
        radius = self.n // 2
        grid = np.arange(self.n) - radius
        xpr, ypr = grid[:, None], grid[None, :]
        det = np.arange(n_det) - n_det // 2
        rec = np.zeros((self.n, self.n), dtype=np.complex128)
        for column, angle in zip(filtered.T, np.deg2rad(self.theta)):
            t = ypr * np.cos(angle) - xpr * np.sin(angle)
            rec += np.interp(t, det, column, left=0.0, right=0.0)
        if self.circle:
            rec[xpr**2 + ypr**2 > radius**2] = 0.0
        rec *= np.pi / (2 * n_ang)
        return self._to_hu(rec.real), self._to_hu(rec.imag)

    def _to_hu(self, mu_rec: np.ndarray) -> np.ndarray:
        hu = 1000.0 * (mu_rec / self.mu_water - 1.0)
        if self.circle:
            hu[~self.fov] = -1000.0
        return hu[self.r0 : self.r0 + self.rows, self.c0 : self.c0 + self.cols].astype(np.float32)


def _ramp_filter(size: int) -> np.ndarray:
    """Ramp filter response for ``size`` (even) padded detector samples.

    Built in the spatial domain (Kak & Slaney, eq. 61: 1/4 at 0, 0 at other even lags,
    -1 / (pi n)^2 at odd lags) and transformed, which avoids the DC bias of a sampled |f|.
    """
    lags = np.concatenate([np.arange(1, size // 2 + 1, 2), np.arange(size // 2 - 1, 0, -2)])
    h = np.zeros(size)
    h[0] = 0.25
    h[1::2] = -1.0 / (np.pi * lags) ** 2
    return 2.0 * np.real(np.fft.fft(h))


def _report(k: int, n: int, what: str, progress: ProgressFn | None, should_stop: StopFn | None) -> None:
    """Before slice ``k`` of ``n``: stop when asked to, else say which slice comes."""
    if should_stop is not None and should_stop():
        raise Cancelled(f"{what} stopped before slice {k + 1} of {n}")
    if progress is not None:
        progress(k / n, f"{what} slice {k + 1}/{n}")


def _check_real(value: object, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(float(value)):
        raise InvalidInputError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _validate_common(
    image_hu: np.ndarray, pixel_size_mm: float, n_angles: int | None, mu_water: float
) -> tuple[np.ndarray, int | None, float, float]:
    arr = np.asarray(image_hu)
    if arr.ndim not in (2, 3):
        raise InvalidInputError(
            f"image_hu must be a 2-D slice or a 3-D stack (slices, rows, columns), got shape {arr.shape}"
        )
    if arr.size == 0 or min(arr.shape[-2:]) < 2:
        raise InvalidInputError(f"image_hu slices must be at least 2 x 2 pixels, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) and not np.issubdtype(arr.dtype, np.complexfloating)):
        raise InvalidInputError(f"image_hu must hold real numbers (HU), got dtype {arr.dtype}")
    if not np.all(np.isfinite(arr)):
        raise InvalidInputError("image_hu contains NaN or infinite values; replace them (e.g. by -1000 HU, air)")
    px = _check_real(pixel_size_mm, "pixel_size_mm")
    if px <= 0:
        raise InvalidInputError(f"pixel_size_mm must be > 0 (mm per pixel), got {pixel_size_mm!r}")
    mu_w = _check_real(mu_water, "mu_water")
    if mu_w <= 0:
        raise InvalidInputError(f"mu_water must be > 0 (attenuation of water per mm, ~0.019), got {mu_water!r}")
    if n_angles is not None and (isinstance(n_angles, bool) or not isinstance(n_angles, Integral) or n_angles < 2):
        raise InvalidInputError(f"n_angles must be an integer >= 2 or None (automatic), got {n_angles!r}")
    stack = arr[None] if arr.ndim == 2 else arr
    return stack, (None if n_angles is None else int(n_angles)), mu_w, px
