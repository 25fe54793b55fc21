"""Checks and preparation of stroke MRI inputs, before any work starts.

:func:`prepare_mri_inputs` takes the DWI, the ADC map and optionally a FLAIR image and returns
them ready for a method, or raises a one-line :class:`InvalidInputError` naming the file and the
fix:

* a 4-D DWI needs b-values (a ``.bval`` file beside it, or the sidecar's ``DiffusionBValue`` list);
  the highest-b volume is used (the geometric mean when several directions share it: the trace
  image), and a note says so;
* DWI and ADC must share one voxel grid (they come from one diffusion series);
* the ADC unit is established (:mod:`.units`) and the map converted to 10^-6 mm^2/s; a map with
  many negative or physically impossible values is refused (a few negative voxels from fitting
  noise are set to 0, with a note);
* a FLAIR on another grid is brought onto the DWI grid by its header geometry with linear
  interpolation (Gaussian anti-aliasing along axes that are downsampled), and a note says so.

File helpers for the CLI: :func:`find_sidecar` (``NAME.json`` beside ``NAME.nii.gz``),
:func:`read_bval_file` and :func:`read_sidecars`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InvalidInputError
from ...io import split_extension
from ...volume import Volume
from .units import AdcUnit, adc_in_1e6, detect_adc_unit

__all__ = [
    "ADC_MAX_PLAUSIBLE_1E6",
    "BAD_FRACTION_MAX",
    "MriInputs",
    "check_adc_values",
    "check_same_grid",
    "describe_grid",
    "find_sidecar",
    "prepare_mri_inputs",
    "read_bval_file",
    "read_sidecars",
    "resample_linear",
    "select_dwi_volume",
]

#: Largest plausible ADC in 10^-6 mm^2/s: free water at 37 C is about 3000-3200 (reference.md gives
#: CSF about 3000); fitting noise in the background can exceed it a little, 3x it cannot be tissue.
ADC_MAX_PLAUSIBLE_1E6 = 10000.0
#: Fraction of the positive ADC voxels that may be negative or above the plausible maximum
#: (interpolation and fitting noise) before the map is refused as not an ADC map.
BAD_FRACTION_MAX = 0.01


@dataclass
class MriInputs:
    """Stroke MRI inputs, checked and on one grid.

    Attributes
    ----------
    dwi
        The DWI (3-D; the highest-b volume of a 4-D series).
    adc
        The ADC map in 10^-6 mm^2/s (float32), on the DWI grid.
    adc_unit
        How the stored unit was established.
    flair
        FLAIR on the DWI grid (float32), or None.
    flair_coverage
        Boolean mask of DWI voxels inside the FLAIR's field of view (None without FLAIR).
    b_value
        The DWI's b-value in s/mm^2 when known.
    notes
        One line per thing done to the inputs (volume picked, resampling, voxels clipped).
    """

    dwi: Volume
    adc: Volume
    adc_unit: AdcUnit
    flair: Volume | None = None
    flair_coverage: np.ndarray | None = None
    b_value: float | None = None
    notes: list[str] = field(default_factory=list)


# ------------------------------------------------------------------------------------ files
def find_sidecar(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The BIDS sidecar JSON beside an image (``NAME.json`` for ``NAME.nii.gz``), or None.

    Raises
    ------
    InvalidInputError
        The sidecar exists but is not a JSON object.
    """
    p = Path(path)
    if p.is_dir():
        return None
    stem, _ = split_extension(p)
    side = p.with_name(stem + ".json")
    if not side.is_file():
        return None
    try:
        doc = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInputError(f"{side}: not a readable JSON sidecar ({exc}); fix or remove it") from exc
    if not isinstance(doc, dict):
        raise InvalidInputError(f"{side}: a sidecar must hold a JSON object; fix or remove it")
    return doc


def read_bval_file(path: str | os.PathLike[str]) -> list[float] | None:
    """b-values from the FSL ``.bval`` file beside a DWI (``NAME.bval``), or None when absent.

    Raises
    ------
    InvalidInputError
        The file holds something other than numbers.
    """
    p = Path(path)
    stem, _ = split_extension(p)
    bval = p.with_name(stem + ".bval")
    if not bval.is_file():
        return None
    try:
        return [float(x) for x in bval.read_text(encoding="utf-8").split()]
    except ValueError as exc:
        raise InvalidInputError(f"{bval}: a .bval file holds b-values separated by spaces ({exc})") from exc


def read_sidecars(**paths: str | os.PathLike[str] | None) -> dict[str, dict[str, Any]]:
    """Sidecars of the given inputs (``dwi=..., adc=..., flair=...``); a DWI's ``.bval`` goes in ``"bvals"``."""
    out: dict[str, dict[str, Any]] = {}
    for key, path in paths.items():
        if path is None:
            continue
        doc = find_sidecar(path) or {}
        if key == "dwi":
            bvals = read_bval_file(path)
            if bvals is not None:
                doc = {**doc, "bvals": bvals, "bvals_file": str(Path(path).with_name(split_extension(Path(path))[0] + ".bval"))}
        if doc:
            out[key] = doc
    return out


# ------------------------------------------------------------------------------------ checks
def _what(vol: Volume, role: str) -> str:
    return str(vol.source) if vol.source else f"{role} {vol.name!r}"


def describe_grid(vol: Volume) -> str:
    """``"0.45x0.45x5 mm 512x512x29"``: spacing and shape in x, y, z order."""
    sp = "x".join(f"{s:.3g}" for s in reversed(vol.spacing))
    sh = "x".join(str(n) for n in reversed(vol.spatial_shape))
    return f"{sp} mm {sh}"


def check_same_grid(a: Volume, b: Volume, *, role_a: str, role_b: str, fix: str) -> None:
    """One-line error naming both volumes when their grids differ."""
    diffs = a.grid_differences(b)
    if diffs:
        raise InvalidInputError(
            f"{_what(a, role_a)} and {_what(b, role_b)} are not on the same voxel grid "
            f"({role_b} vs {role_a}: {'; '.join(diffs)}); {fix}"
        )


def _b_values(sidecar: Mapping | None, vol: Volume) -> tuple[list[float] | None, str]:
    if sidecar:
        if "bvals" in sidecar:
            return [float(b) for b in sidecar["bvals"]], f"b-values from {sidecar.get('bvals_file', 'the .bval file')}"
        b = sidecar.get("DiffusionBValue")
        if isinstance(b, (list, tuple)):
            return [float(x) for x in b], "b-values from the sidecar (DiffusionBValue)"
        if isinstance(b, (int, float)) and not isinstance(b, bool):
            return [float(b)], "b-value from the sidecar (DiffusionBValue)"
    b = vol.meta.get("b_value")
    if isinstance(b, (int, float)) and not isinstance(b, bool):
        return [float(b)], "b-value from the image's metadata"
    return None, ""


def select_dwi_volume(dwi: Volume, *, sidecar: Mapping | None = None) -> tuple[Volume, float | None, list[str]]:
    """The DWI volume to segment: the volume itself when 3-D, the highest-b volume of a 4-D series.

    Parameters
    ----------
    dwi
        A 3-D DWI, or a 4-D series (leading axis = volumes).
    sidecar
        The DWI's sidecar; ``"bvals"`` (from a ``.bval`` file) or ``DiffusionBValue`` (one value or
        one per volume) give the b-values.

    Returns
    -------
    (Volume, b-value or None, notes)

    Raises
    ------
    InvalidInputError
        A 4-D DWI without b-values, with as many b-values as volumes missing, or whose highest b is 0.
    """
    what = _what(dwi, "DWI")
    bvals, how = _b_values(sidecar, dwi)
    if dwi.channel_axis is None:
        if bvals is not None and len(bvals) == 1:
            return dwi, bvals[0], [f"DWI b = {bvals[0]:g} s/mm^2 ({how})"]
        return dwi, None, ["DWI b-value not given (assumed to be the b = 1000 trace image)"]
    n = dwi.n_channels
    if bvals is None:
        raise InvalidInputError(
            f"{what}: a 4-D DWI with {n} volumes and no b-values; put its .bval file beside it "
            f"(same name, .bval), give the sidecar's DiffusionBValue list, or pass the b = 1000 trace image as a 3-D file"
        )
    if len(bvals) != n:
        raise InvalidInputError(
            f"{what}: {n} volumes but {len(bvals)} b-values ({how}); give one b-value per volume"
        )
    top = max(bvals)
    if top <= 0:
        raise InvalidInputError(f"{what}: every b-value is 0 ({how}); give the diffusion-weighted series")
    picked = [i for i, b in enumerate(bvals) if b == top]
    data = np.asarray(dwi.data, dtype=np.float64)[picked]
    if len(picked) == 1:
        img = data[0]
        note = f"DWI: volume {picked[0]} of {n} used, b = {top:g} s/mm^2, the highest ({how})"
    else:
        img = np.exp(np.mean(np.log(np.clip(data, 1e-6, None)), axis=0))
        note = (f"DWI: geometric mean (trace image) of the {len(picked)} volumes at b = {top:g} s/mm^2, "
                f"the highest, of {n} ({how})")
    vol = dwi.with_data(img.astype(np.float32), channel_axis=None, channel_names=None)
    return vol, top, [note]


def check_adc_values(adc: Volume) -> tuple[Volume, list[str]]:
    """Refuse an ADC map (in 10^-6 mm^2/s) with many negative or impossible values; clip a few.

    Returns
    -------
    (Volume, notes)
        The map with its few negative voxels set to 0, and a note when any were.

    Raises
    ------
    InvalidInputError
        NaN/inf values, or more than 1 % of the nonzero voxels negative or above 10000 x 10^-6
        mm^2/s (three times free water).
    """
    what = _what(adc, "ADC")
    a = np.asarray(adc.data, dtype=np.float32)
    if not np.isfinite(a).all():
        raise InvalidInputError(f"{what}: the ADC map holds NaN or infinite values; set them to 0 (outside the head) first")
    nonzero = int(np.count_nonzero(a))
    neg = int(np.count_nonzero(a < 0))
    if nonzero and neg > BAD_FRACTION_MAX * nonzero:
        raise InvalidInputError(
            f"{what}: {100.0 * neg / nonzero:.1f}% of the ADC voxels are negative (min {float(a.min()):.4g}); "
            "an ADC map is >= 0: check that this file is the ADC map and not a difference or phase image"
        )
    high = int(np.count_nonzero(a > ADC_MAX_PLAUSIBLE_1E6))
    if nonzero and high > BAD_FRACTION_MAX * nonzero:
        raise InvalidInputError(
            f"{what}: {100.0 * high / nonzero:.1f}% of the ADC voxels exceed {ADC_MAX_PLAUSIBLE_1E6:.0f} x 10^-6 "
            "mm^2/s (free water is about 3000); check the file and its unit (--adc-unit)"
        )
    notes: list[str] = []
    if neg:
        a = np.where(a < 0, np.float32(0.0), a)
        notes.append(f"ADC: {neg} negative voxel(s) (fitting noise, {100.0 * neg / max(nonzero, 1):.2g}% of the map) set to 0")
    return adc.with_data(a), notes


# ------------------------------------------------------------------------------------ resampling
def resample_linear(moving: Volume, reference: Volume) -> tuple[Volume, np.ndarray]:
    """Resample an intensity image onto another grid by header geometry, with linear interpolation.

    Every reference voxel centre is mapped to world mm (``reference.affine``) and into ``moving``'s
    index space. Along a ``moving`` axis that is downsampled by a factor f > 1 (the reference voxel's
    extent in ``moving`` voxels), the image is first smoothed with a Gaussian of sigma (f - 1) / 2
    voxels (scikit-image's anti-aliasing rule), so a thin bright structure is not aliased.

    Parameters
    ----------
    moving
        Single-channel image to resample.
    reference
        Volume whose grid the result takes.

    Returns
    -------
    (Volume, coverage)
        ``moving``'s data on ``reference``'s grid as float32 (0 outside ``moving``'s field of view),
        and the boolean mask of reference voxels inside that field of view.
    """
    from scipy import ndimage as ndi

    if moving.channel_axis is not None or reference.ndim_spatial != moving.ndim_spatial:
        raise InvalidInputError(
            f"{_what(moving, 'image')}: resampling needs a single-channel image with as many spatial axes as the target"
        )
    n = reference.ndim_spatial
    m = np.linalg.inv(moving.affine) @ reference.affine
    data = np.asarray(moving.data, dtype=np.float32)
    factors = np.abs(m[:n, :n]).sum(axis=1)
    sigma = np.clip((factors - 1.0) / 2.0, 0.0, None)
    if np.any(sigma > 0):
        data = ndi.gaussian_filter(data, sigma=sigma, mode="nearest")
    out = ndi.affine_transform(data, m[:n, :n], offset=m[:n, n], output_shape=reference.spatial_shape,
                               order=1, mode="nearest", output=np.float32)
    ones = np.ones(moving.spatial_shape, dtype=np.uint8)
    coverage = ndi.affine_transform(ones, m[:n, :n], offset=m[:n, n], output_shape=reference.spatial_shape,
                                    order=0, mode="constant", cval=0) > 0
    out[~coverage] = 0.0
    vol = reference.with_data(out, name=moving.name, source=moving.source, is_label=False, label_names=None,
                              modality=moving.modality, units=moving.units, meta=dict(moving.meta))
    return vol, coverage


# ------------------------------------------------------------------------------------ all together
def _single(vol: Volume, role: str) -> Volume:
    if not isinstance(vol, Volume):
        raise InvalidInputError(f"{role}: expected a Volume, got {type(vol).__name__}")
    if vol.ndim_spatial != 3:
        raise InvalidInputError(f"{_what(vol, role)}: the {role} must be a 3-D image, got {vol.ndim_spatial}-D")
    if vol.channel_axis is not None and vol.n_channels != 1:
        raise InvalidInputError(f"{_what(vol, role)}: the {role} must be one 3-D image, got {vol.n_channels} volumes")
    return vol.channel(0) if vol.channel_axis is not None else vol


def prepare_mri_inputs(
    dwi: Volume,
    adc: Volume,
    flair: Volume | None = None,
    *,
    adc_unit: str | None = "auto",
    sidecars: Mapping[str, Mapping] | None = None,
) -> MriInputs:
    """Check DWI, ADC (and FLAIR) and bring them onto the DWI grid in known units.

    Parameters
    ----------
    dwi
        DWI: 3-D (b = 1000 trace image) or a 4-D series with b-values in ``sidecars["dwi"]``.
    adc
        ADC map on the DWI grid, in any of the units of :mod:`.units`.
    flair
        Optional FLAIR, on any grid.
    adc_unit
        ``"auto"`` (detect), ``"1e-6"``, ``"1e-3"`` or ``"scaled:K"``.
    sidecars
        Sidecar dicts by role (``"dwi"``, ``"adc"``, ``"flair"``), e.g. from :func:`read_sidecars`.

    Returns
    -------
    MriInputs

    Raises
    ------
    InvalidInputError
        See the module docstring.
    """
    sidecars = sidecars or {}
    if not isinstance(dwi, Volume):
        raise InvalidInputError(f"DWI: expected a Volume, got {type(dwi).__name__}")
    if dwi.ndim_spatial != 3:
        raise InvalidInputError(f"{_what(dwi, 'DWI')}: the DWI must be 3-D or a 4-D series, got {dwi.ndim_spatial}-D")
    dwi3, b_value, notes = select_dwi_volume(dwi, sidecar=sidecars.get("dwi"))
    adc = _single(adc, "ADC")
    check_same_grid(dwi3, adc, role_a="DWI", role_b="ADC",
                    fix="DWI and ADC must come from the same diffusion series; resample the ADC onto the DWI grid first")
    unit = detect_adc_unit(adc, sidecar=sidecars.get("adc"), override=adc_unit)
    notes.append(f"ADC unit {unit.unit} ({unit.source}: {unit.evidence})")
    adc6, more = check_adc_values(adc_in_1e6(adc, unit))
    notes += more
    dwi3 = dwi3.with_data(np.asarray(dwi3.data, dtype=np.float32))
    if not np.isfinite(dwi3.data).all():
        raise InvalidInputError(f"{_what(dwi3, 'DWI')}: the DWI holds NaN or infinite values; set them to 0 first")
    out = MriInputs(dwi=dwi3, adc=adc6, adc_unit=unit, b_value=b_value, notes=notes)
    if flair is not None:
        flair = _single(flair, "FLAIR")
        if flair.same_grid(dwi3):
            out.flair = flair.with_data(np.asarray(flair.data, dtype=np.float32))
            out.flair_coverage = np.ones(dwi3.spatial_shape, dtype=bool)
            notes.append("FLAIR already on the DWI grid (not resampled)")
        else:
            out.flair, out.flair_coverage = resample_linear(flair, dwi3)
            frac = float(out.flair_coverage.mean())
            notes.append(
                f"FLAIR resampled from {describe_grid(flair)} onto the DWI grid {describe_grid(dwi3)} by header "
                f"geometry (linear interpolation); {100.0 * frac:.0f}% of the DWI grid lies inside the FLAIR's field of view"
            )
            if not out.flair_coverage.any():
                raise InvalidInputError(
                    f"{_what(flair, 'FLAIR')}: does not overlap the DWI in world space; check that both are of one patient and session"
                )
    return out
