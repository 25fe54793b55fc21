"""Affine registration of a T1 head MRI (skull and neck on) to the MNI152 2009a brain template.

The template (``mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz``, 1 mm, brain only) comes from a
path the user gives, else from the ``nilearn`` package's own data folder when nilearn is installed
(``pip install nilearn``: its wheel ships the template and its GM / WM maps). nilearn is never
imported, only located, and is not a dependency.

The method (SimpleITK):

1. **Template brain mask**: GM + WM probability >= 0.5 when the maps sit beside the template (their
   names with ``_gm_`` / ``_wm_`` for ``_t1_``), else the template's largest Otsu component with its
   holes filled. The metric uses this mask dilated by ``mask_margin_mm`` (so the brain's edge, where
   skull-on and brain-only images differ most, still steers the fit); the reported correlation uses
   the mask itself.
2. **Robust initialisation** (translation only; the header gives the orientation): a head mask of
   the T1 (Otsu threshold at 4 mm, largest component, holes filled), then candidates -- the head's
   top minus a skull thickness of 0, 8 or 16 mm matched to the brain's top with the upper 60 mm of
   head and brain matched in left-right and front-back ("dome"), and the centres of mass of head and
   brain. The candidate with the best Mattes mutual information inside the template's brain wins.
   A neck or a large field of view shifts the head's centre of mass but not its top.
3. **Rigid, then affine**, each multi-resolution (4 mm then 2 mm, Gaussian smoothing 2 and 1 mm),
   Mattes mutual information (32 bins, 25 % then 10 % random samples, seeded) restricted to the
   dilated template brain (the fixed image cropped to its box), regular-step gradient descent with
   scales from physical shifts.
4. **Checks**: Pearson correlation between the template and the resampled T1 inside the template's
   brain (where the T1's field of view covers it) after initialisation only ("before") and after the
   affine fit ("after"). A fit is refused (:class:`RegistrationError`, metrics kept) when less than
   ``min_coverage`` of the template's brain lies in the T1's field of view, when the correlation
   after is under ``min_correlation``, when a scale of the affine (singular value of its matrix, T1 mm
   per template mm) is outside ``scale_range``, when it is too anisotropic (largest / smallest scale
   above ``max_anisotropy``, i.e. shear or squash), or when it mirrors the head (negative determinant).

   The correlation is plain Pearson at the template's 1 mm: a single subject's folds never match the
   smooth average template under an affine, so a good fit scores well below 1. Measured on the real
   ``chris_t1`` (skull and neck on; ``benchmarks/bench_alzheimer_registration.py``): 0.25 after
   initialisation, 0.43 after the affine fit; that fit moved 3 mm along x / y / z scores
   0.36 / 0.40 / 0.38, moved 6 mm 0.26 / 0.34 / 0.29, moved 10 mm 0.16 / 0.28 / 0.18. The default
   floor 0.3 refuses fits off by about a centimetre (6 mm left-right or up-down).

The transform maps template points (LPS mm) to T1 points, ITK's convention for resampling the T1
onto the template grid; :meth:`RegistrationResult.save_transform` writes it as a ``.tfm`` text file
that ITK, SimpleITK, 3D Slicer and ANTs read.

**Cohort preset.** :func:`coarse_template` gives the template (and its brain mask) on a coarser grid,
2 mm by default, the resolution of the simulated IXI subjects. :func:`register_to_template` with it
runs the same method on a grid 8 times smaller (its levels become 4 and 2 mm with shrink factors 2 and
1), and the aligned volume lies on the 2 mm MNI grid. One ITK thread, CPU time: 13.2 s at 1 mm and
7.0 s at 2 mm for one simulated IXI subject, 6.4-8.2 s at 2 mm for four (correlation 0.37-0.47 at
2 mm); ``benchmarks/alzheimer_landmarks.py`` times a whole cohort.
"""

from __future__ import annotations

import importlib.util
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import ProgressFn
from ...errors import InvalidInputError, MedaiError
from ...io import itk_to_volume_geometry, read_volume
from ...io.atomic import FolderNotWritableError, atomic_path, same_file
from ...io.itk import volume_to_sitk
from ...volume import Volume

__all__ = [
    "TEMPLATE_NAME",
    "RegistrationError",
    "RegistrationResult",
    "Template",
    "brain_correlation",
    "coarse_template",
    "find_template",
    "load_template",
    "register_to_template",
]

#: File name of the MNI152 2009a symmetric T1 template (as in nilearn's wheel and shared/data/brain_t1).
TEMPLATE_NAME = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
_MIN_FOV_MM = 80.0
_LEVELS_MM = (4.0, 2.0)
_SMOOTH_MM = (2.0, 1.0)
_SAMPLING = (0.25, 0.1)  # fraction of the voxels the metric samples at each level
_SKULL_MM = (0.0, 8.0, 16.0)
_DOME_MM = 60.0
#: Regular-step gradient descent: smallest step, relaxation, iterations per level (rigid, affine).
_MIN_STEP = 1e-4
_RELAXATION = 0.6
_ITERATIONS = (200, 300)


class RegistrationError(MedaiError):
    """A registration ran but clearly failed; ``metrics`` holds what was measured."""

    def __init__(self, message: str, metrics: dict[str, Any]) -> None:
        super().__init__(message)
        self.metrics = metrics


@dataclass
class Template:
    """The template image and its brain mask (array order, same grid)."""

    image: Volume
    brain_mask: np.ndarray
    mask_source: str
    path: str | None = None


@dataclass
class RegistrationResult:
    """The T1 on the template grid, the affine transform and the measured figures."""

    aligned: Volume
    transform: Any  # SimpleITK.AffineTransform: template point (LPS mm) -> T1 point
    metrics: dict[str, Any] = field(default_factory=dict)

    @property
    def matrix(self) -> np.ndarray:
        """4 x 4 homogeneous matrix of the transform (ITK LPS x, y, z order)."""
        return _homogeneous(self.transform)

    def save_transform(self, path: str | os.PathLike[str], *, overwrite: bool = False,
                       protect: tuple[str | os.PathLike[str], ...] = ()) -> Path:
        """Write the transform as an ITK ``.tfm`` text file, atomically; never over ``protect``."""
        import SimpleITK as sitk

        target = Path(path)
        if target.suffix.lower() not in (".tfm", ".txt"):
            raise InvalidInputError(f"{target}: a transform is written as ITK text; give a name ending in .tfm")
        for p in protect:
            if p is not None and same_file(target, p):
                raise InvalidInputError(f"{target}: refusing to overwrite an input file; choose another name")
        if target.exists() and not overwrite:
            raise InvalidInputError(f"{target}: already exists; pass overwrite (--overwrite) or choose another name")
        try:
            with atomic_path(target, suffix=".tfm") as tmp:
                sitk.WriteTransform(self.transform, str(tmp))
        except FolderNotWritableError as exc:
            raise MedaiError(f"{target}: cannot write here ({exc.strerror or exc})") from exc
        return target

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready metrics plus the 4 x 4 matrix."""
        return {**self.metrics, "matrix_lps": self.matrix.round(6).tolist()}


# ---------------------------------------------------------------------------------------- template
def find_template(path: str | os.PathLike[str] | None = None) -> Path:
    """The MNI152 template file: ``path`` (a file, or a folder holding :data:`TEMPLATE_NAME`), else
    the copy inside an installed nilearn.

    Raises
    ------
    InvalidInputError
        ``path`` does not exist, or no path was given and nilearn is not installed.
    """
    if path is not None:
        p = Path(path).expanduser()
        if p.is_dir():
            p = p / TEMPLATE_NAME
        if not p.is_file():
            raise InvalidInputError(
                f"{p}: template not found; give the MNI152 2009a T1 file ({TEMPLATE_NAME}) or a folder holding it")
        return p
    spec = importlib.util.find_spec("nilearn")
    for loc in (spec.submodule_search_locations or []) if spec is not None else []:
        cand = Path(loc) / "datasets" / "data" / TEMPLATE_NAME
        if cand.is_file():
            return cand
    raise InvalidInputError(
        f"no MNI152 template: give its path (--template {TEMPLATE_NAME}) or install nilearn "
        "(`pip install nilearn`), whose wheel ships the template")


def _binary_cleanup(mask: np.ndarray) -> np.ndarray:
    from scipy import ndimage

    lab, n = ndimage.label(mask)
    if n == 0:
        return mask
    sizes = np.bincount(lab.ravel())
    sizes[0] = 0
    return ndimage.binary_fill_holes(lab == int(np.argmax(sizes)))


def _otsu_mask(data: np.ndarray) -> np.ndarray:
    from skimage.filters import threshold_otsu

    values = data[data > 0] if np.any(data > 0) else data.ravel()
    return _binary_cleanup(data > threshold_otsu(values))


def load_template(path: str | os.PathLike[str] | None = None) -> Template:
    """Read the template (see :func:`find_template`) and make its brain mask (see module notes)."""
    p = find_template(path)
    image = read_volume(p, as_label=False)
    if image.ndim_spatial != 3 or image.channel_axis is not None:
        raise InvalidInputError(f"{p}: the template must be one 3-D image, got shape {image.data.shape}")
    maps = [p.with_name(p.name.replace("_t1_", f"_{t}_")) for t in ("gm", "wm")]
    if "_t1_" in p.name and all(m.is_file() for m in maps):
        prob = np.zeros(image.spatial_shape, dtype=np.float32)
        for m in maps:
            v = read_volume(m, as_label=False)
            if not v.same_grid(image):
                raise InvalidInputError(f"{m}: not on the template's grid; use the maps that ship with {p.name}")
            d = v.data.astype(np.float32)
            prob += d / 255.0 if float(d.max()) > 1.0 else d
        mask, source = prob >= 0.5, "gm+wm>=0.5"
    else:
        mask, source = _otsu_mask(image.data.astype(np.float32)), "template otsu"
    if mask.sum() < 1000:
        raise InvalidInputError(f"{p}: its brain mask holds {int(mask.sum())} voxels; is this the T1 template?")
    return Template(image=image, brain_mask=np.ascontiguousarray(mask), mask_source=source, path=str(p))


def coarse_template(template: Template | str | os.PathLike[str] | None = None, spacing_mm: float = 2.0) -> Template:
    """The template on a coarser grid (the cohort preset; see the module notes).

    Parameters
    ----------
    template
        A :class:`Template`, a template path, or None for nilearn's copy.
    spacing_mm
        Voxel size of the new grid (same origin and direction), at least the template's own.

    Returns
    -------
    Template
        The image smoothed (Gaussian, sigma = (new - old spacing) / 2 per axis) and linearly
        resampled; the brain mask is the linearly resampled mask at >= 0.5.
    """
    import SimpleITK as sitk

    tpl = template if isinstance(template, Template) else load_template(template)
    if not float(spacing_mm) >= min(tpl.image.spacing) or not np.isfinite(spacing_mm):
        raise InvalidInputError(
            f"spacing_mm must be at least the template's voxel size ({min(tpl.image.spacing):g} mm), got {spacing_mm}")
    img = _resample_to_spacing(sitk.Cast(volume_to_sitk(tpl.image), sitk.sitkFloat32), float(spacing_mm))
    ref = sitk.Cast(volume_to_sitk(tpl.image), sitk.sitkFloat32)
    m = sitk.GetImageFromArray(tpl.brain_mask.astype(np.float32))
    m.CopyInformation(ref)
    m = sitk.Resample(m, img, sitk.Transform(), sitk.sitkLinear, 0.0, sitk.sitkFloat32)
    geom = itk_to_volume_geometry(img.GetSpacing(), img.GetOrigin(), img.GetDirection())
    image = Volume(sitk.GetArrayFromImage(img), spacing=geom.spacing, origin=geom.origin, direction=geom.direction,
                   modality="MR", name=f"{tpl.image.name}_{spacing_mm:g}mm")
    mask = np.ascontiguousarray(sitk.GetArrayFromImage(m) >= 0.5)
    return Template(image=image, brain_mask=mask, mask_source=f"{tpl.mask_source} at {spacing_mm:g} mm",
                    path=tpl.path)


# ------------------------------------------------------------------------------------------- helpers
def _homogeneous(tx: Any) -> np.ndarray:
    a = np.asarray(tx.GetMatrix(), dtype=float).reshape(3, 3)
    c = np.asarray(tx.GetCenter(), dtype=float)
    t = np.asarray(tx.GetTranslation(), dtype=float)
    h = np.eye(4)
    h[:3, :3] = a
    h[:3, 3] = t + c - a @ c
    return h


def brain_correlation(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Pearson correlation of ``a`` and ``b`` inside ``mask`` (0 when either is constant there)."""
    x = a[mask].astype(np.float64)
    y = b[mask].astype(np.float64)
    x -= x.mean()
    y -= y.mean()
    den = float(np.sqrt((x * x).sum() * (y * y).sum()))
    return float((x * y).sum() / den) if den > 0 else 0.0


def _mask_image(mask: np.ndarray, ref: Any) -> Any:
    import SimpleITK as sitk

    img = sitk.GetImageFromArray(mask.astype(np.uint8))
    img.CopyInformation(ref)
    return img


def _points_lps(img: Any, mask: np.ndarray) -> np.ndarray:
    """World (LPS x, y, z) points of the ``True`` voxels of ``mask`` (array order of ``img``)."""
    idx = np.argwhere(mask)[:, ::-1].astype(float)  # (k, j, i) -> (i, j, k)
    d = np.asarray(img.GetDirection(), dtype=float).reshape(3, 3)
    return (d @ (idx * np.asarray(img.GetSpacing())).T).T + np.asarray(img.GetOrigin())


def _resample_to_spacing(img: Any, spacing_mm: float) -> Any:
    import SimpleITK as sitk

    size = [max(1, int(round(n * s / spacing_mm))) for n, s in zip(img.GetSize(), img.GetSpacing(), strict=True)]
    sigma = [max(0.0, (spacing_mm - s) / 2.0) for s in img.GetSpacing()]
    smooth = sitk.SmoothingRecursiveGaussian(img, sigma) if max(sigma) > 0 else img
    return sitk.Resample(smooth, size, sitk.Transform(), sitk.sitkLinear, img.GetOrigin(),
                         [spacing_mm] * 3, img.GetDirection(), 0.0, sitk.sitkFloat32)


def _check_t1(t1: Volume, what: str) -> None:
    if t1.channel_axis is not None or t1.ndim_spatial != 3:
        raise InvalidInputError(f"{what}: registration needs one 3-D T1 image, got shape {t1.data.shape}")
    if t1.is_label:
        raise InvalidInputError(f"{what}: is a label map; give the T1-weighted image")
    data = t1.data
    if data.dtype.kind not in "iuf" or not np.all(np.isfinite(data)):
        raise InvalidInputError(f"{what}: holds non-numeric, NaN or infinite values; give a T1 image")
    if float(data.max()) <= float(data.min()):
        raise InvalidInputError(f"{what}: is constant ({float(data.min()):g} everywhere); give a T1 image")
    fov = np.asarray(t1.spatial_shape) * np.asarray(t1.spacing)
    if fov.min() < _MIN_FOV_MM:
        raise InvalidInputError(
            f"{what}: covers only {' x '.join(f'{f:.0f}' for f in fov)} mm; registration to MNI152 needs "
            f"the whole brain (at least {_MIN_FOV_MM:.0f} mm per axis)")


# -------------------------------------------------------------------------------------- registration
def _initial_translations(moving: Any, brain_pts: np.ndarray) -> dict[str, np.ndarray]:
    """Candidate translations (template -> T1, LPS mm) from the T1's head mask (module notes, step 2)."""
    import SimpleITK as sitk

    coarse = _resample_to_spacing(moving, 4.0)
    head = _otsu_mask(sitk.GetArrayFromImage(coarse))
    pts = _points_lps(coarse, head)
    if pts.shape[0] < 50:
        return {"image centre": np.zeros(3)}
    cands = {"centre of mass": pts.mean(0) - brain_pts.mean(0)}
    head_top = float(np.percentile(pts[:, 2], 99.5))
    brain_top = float(np.percentile(brain_pts[:, 2], 99.5))
    brain_dome = brain_pts[brain_pts[:, 2] > brain_top - _DOME_MM]
    for skull in _SKULL_MM:
        top = head_top - skull
        dome = pts[(pts[:, 2] > top - _DOME_MM) & (pts[:, 2] <= top)]
        if dome.shape[0] < 20:
            continue
        xy = dome[:, :2].mean(0) - brain_dome[:, :2].mean(0)
        cands[f"head top - {skull:g} mm"] = np.array([xy[0], xy[1], top - brain_top])
    return cands


def _method(spacing: float, seed: int, fixed_mask: Any, *, levels: bool, lr: float, iters: int) -> Any:
    import SimpleITK as sitk

    reg = sitk.ImageRegistrationMethod()
    reg.SetMetricAsMattesMutualInformation(numberOfHistogramBins=32)
    reg.SetMetricSamplingStrategy(reg.RANDOM)
    reg.SetMetricSamplingPercentage(_SAMPLING[-1], seed + 1)  # ITK reads seed 0 as 'wall clock' (not repeatable)
    reg.SetMetricFixedMask(fixed_mask)
    reg.SetInterpolator(sitk.sitkLinear)
    reg.SetOptimizerAsRegularStepGradientDescent(learningRate=lr, minStep=_MIN_STEP, numberOfIterations=iters,
                                                 gradientMagnitudeTolerance=1e-8, relaxationFactor=_RELAXATION)
    reg.SetOptimizerScalesFromPhysicalShift()
    if levels:
        shrink, sigmas = [], []
        for lv, sm in zip(_LEVELS_MM, _SMOOTH_MM, strict=True):
            f = max(1, int(round(lv / spacing)))
            if shrink and f == shrink[-1]:
                continue
            shrink.append(f)
            sigmas.append(sm)
        reg.SetShrinkFactorsPerLevel(shrink)
        reg.SetMetricSamplingPercentagePerLevel(list(_SAMPLING[-len(shrink):]), seed + 1)
        reg.SetSmoothingSigmasPerLevel(sigmas)
        reg.SmoothingSigmasAreSpecifiedInPhysicalUnitsOn()
    return reg


def register_to_template(
    t1: Volume | str | os.PathLike[str],
    template: Template | str | os.PathLike[str] | None = None,
    *,
    min_correlation: float = 0.3,
    min_coverage: float = 0.9,
    scale_range: tuple[float, float] = (0.7, 1.4),
    max_anisotropy: float = 1.3,
    mask_margin_mm: float = 4.0,
    seed: int = 0,
    threads: int | None = None,
    refuse: bool = True,
    progress: ProgressFn | None = None,
) -> RegistrationResult:
    """Affinely register a T1 (skull and neck on or off) to the MNI152 template.

    Parameters
    ----------
    t1
        The T1-weighted head image (a Volume or a path).
    template
        A :class:`Template`, a template path, or None for nilearn's copy (see :func:`find_template`).
    min_correlation
        Floor of the correlation inside the template's brain after registration.
    min_coverage
        Smallest fraction of the template's brain that must fall inside the T1's field of view.
    scale_range, max_anisotropy
        Allowed scales of the affine (T1 mm per template mm) and largest / smallest scale.
    mask_margin_mm
        Dilation of the brain mask used by the metric.
    seed
        Seed (>= 0) of the metric's random sampling: the same seed and thread count give the same result.
    threads
        ITK threads (None: SimpleITK's default, all cores).
    refuse
        Raise :class:`RegistrationError` for a failed fit (True) or return it with
        ``metrics["accepted"] = False`` and the reason (False).
    progress
        ``progress(fraction, message)`` after each stage.

    Returns
    -------
    RegistrationResult
        ``aligned`` (float32 Volume on the template grid, 0 outside the T1), ``transform``, ``metrics``
        (correlation before / after, the initialisation chosen, scales, anisotropy, determinant,
        iterations, seconds, accepted, reason).
    """
    import SimpleITK as sitk
    from scipy import ndimage

    t0 = time.perf_counter()
    if int(seed) < 0:
        raise InvalidInputError(f"seed must be >= 0, got {seed}")
    what = str(t1) if not isinstance(t1, Volume) else (t1.source or t1.name)
    if not isinstance(t1, Volume):
        t1 = read_volume(t1, as_label=False)
    _check_t1(t1, what)
    tpl = template if isinstance(template, Template) else load_template(template)
    old_threads = sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()
    if threads is not None:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(int(threads))
    say = progress or (lambda f, m: None)
    try:
        fixed = sitk.Cast(volume_to_sitk(tpl.image), sitk.sitkFloat32)
        moving = sitk.Cast(volume_to_sitk(t1), sitk.sitkFloat32)
        spacing = float(min(fixed.GetSpacing()))
        vox = np.asarray(fixed.GetSpacing())[::-1]
        margin = np.maximum(1, np.round(mask_margin_mm / vox)).astype(int)
        dilated = ndimage.binary_dilation(tpl.brain_mask, structure=np.ones(tuple(2 * margin + 1), bool))
        # the registration sees only the box around the dilated brain (the output keeps the whole grid)
        nz = np.argwhere(dilated)
        lo, hi = np.maximum(nz.min(0) - margin, 0), np.minimum(nz.max(0) + margin + 1, dilated.shape)
        box = tuple(slice(int(a), int(b)) for a, b in zip(lo, hi, strict=True))
        fixed_box = fixed[box[2], box[1], box[0]]  # SimpleITK slices in (x, y, z) order, keeping positions
        metric_mask = _mask_image(dilated[box], fixed_box)
        brain_pts = _points_lps(fixed, tpl.brain_mask)
        centre = brain_pts.mean(0)

        say(0.05, "initialising from the head mask")
        probe = _method(spacing, seed, metric_mask, levels=False, lr=1.0, iters=1)
        scored = {}
        for name, t in _initial_translations(moving, brain_pts).items():
            tx = sitk.Euler3DTransform(centre.tolist(), 0.0, 0.0, 0.0, t.tolist())
            probe.SetInitialTransform(tx)
            scored[name] = (float(probe.MetricEvaluate(fixed_box, moving)), tx)
        init_name = min(scored, key=lambda k: scored[k][0])  # Mattes MI is negated: lower is better
        rigid = sitk.Euler3DTransform(scored[init_name][1])

        def resampled(tx: Any) -> np.ndarray:
            return sitk.GetArrayFromImage(sitk.Resample(moving, fixed, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32))

        ones = sitk.Image(moving.GetSize(), sitk.sitkUInt8) + 1
        ones.CopyInformation(moving)

        def covered(tx: Any) -> np.ndarray:  # template brain voxels that fall inside the T1's field of view
            inside = sitk.Resample(ones, fixed, tx, sitk.sitkNearestNeighbor, 0, sitk.sitkUInt8)
            return tpl.brain_mask & (sitk.GetArrayFromImage(inside) > 0)

        tpl_data = sitk.GetArrayFromImage(fixed)
        corr_before = brain_correlation(tpl_data, resampled(rigid), covered(rigid))

        say(0.2, "rigid registration")
        reg = _method(spacing, seed, metric_mask, levels=True, lr=2.0, iters=_ITERATIONS[0])
        reg.SetInitialTransform(rigid, inPlace=True)
        reg.Execute(fixed_box, moving)
        rigid_iters = int(reg.GetOptimizerIteration())
        corr_rigid = brain_correlation(tpl_data, resampled(rigid), covered(rigid))

        say(0.55, "affine registration")
        affine = sitk.AffineTransform(3)
        affine.SetCenter(rigid.GetCenter())
        affine.SetMatrix(rigid.GetMatrix())
        affine.SetTranslation(rigid.GetTranslation())
        reg = _method(spacing, seed, metric_mask, levels=True, lr=0.5, iters=_ITERATIONS[1])
        reg.SetInitialTransform(affine, inPlace=True)
        reg.Execute(fixed_box, moving)
        affine_iters = int(reg.GetOptimizerIteration())
        final_mi = float(reg.GetMetricValue())

        say(0.9, "resampling onto the template grid")
        out = resampled(affine)
        in_view = covered(affine)
        coverage = float(in_view.sum() / max(1, tpl.brain_mask.sum()))
        corr_after = brain_correlation(tpl_data, out, in_view)
    finally:
        sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(old_threads)

    a = np.asarray(affine.GetMatrix(), dtype=float).reshape(3, 3)
    scales = np.linalg.svd(a, compute_uv=False)
    det = float(np.linalg.det(a))
    metrics: dict[str, Any] = {
        "t1": what,
        "template": tpl.path,
        "template_brain_mask": tpl.mask_source,
        "initialisation": init_name,
        "correlation_before": round(corr_before, 4),
        "correlation_after_rigid": round(corr_rigid, 4),
        "correlation_after": round(corr_after, 4),
        "brain_coverage": round(coverage, 4),
        "mattes_mi_after": round(final_mi, 4),
        "scales": [round(float(s), 4) for s in scales],
        "anisotropy": round(float(scales[0] / scales[-1]), 4),
        "determinant": round(det, 4),
        "iterations": {"rigid": rigid_iters, "affine": affine_iters},
        "seed": int(seed),
        "threads": threads,
        "seconds": round(time.perf_counter() - t0, 2),
    }
    reason = None
    if det <= 0:
        reason = "the affine mirrors the head (negative determinant)"
    elif coverage < min_coverage:
        reason = (f"only {100 * coverage:.0f} % of the template's brain falls inside the T1's field of view "
                  f"(needs {100 * min_coverage:.0f} %): give a scan of the whole head")
    elif corr_after < min_correlation:
        reason = (f"correlation inside the template's brain {corr_after:.2f} is under {min_correlation:g} "
                  "(is this a T1-weighted head MRI, with its orientation right in the header?)")
    elif scales.min() < scale_range[0] or scales.max() > scale_range[1]:
        reason = (f"scales {', '.join(f'{s:.2f}' for s in scales)} leave the anatomical range "
                  f"{scale_range[0]:g}-{scale_range[1]:g}")
    elif scales[0] / scales[-1] > max_anisotropy:
        reason = f"the affine shears or squashes the brain (anisotropy {scales[0] / scales[-1]:.2f} > {max_anisotropy:g})"
    metrics["accepted"] = reason is None
    metrics["reason"] = reason
    if reason is not None and refuse:
        raise RegistrationError(f"{what}: registration to MNI152 failed: {reason}", metrics)
    geom = itk_to_volume_geometry(fixed.GetSpacing(), fixed.GetOrigin(), fixed.GetDirection())
    aligned = Volume(out, spacing=geom.spacing, origin=geom.origin, direction=geom.direction, modality="MR",
                     name=f"{t1.name}_mni152", meta={"registration": dict(metrics)})
    say(1.0, f"registered: correlation {corr_before:.3f} -> {corr_after:.3f}")
    return RegistrationResult(aligned=aligned, transform=affine, metrics=metrics)
