"""Stroke lesion segmentation with a trained network: find cases, the task's contract, train, predict.

Networks
--------
``SegResNet`` (default; MONAI, ``init_filters`` 8, blocks 1-2-2-4), ``DeepMedic`` (the two-pathway
3-D CNN of Kamnitsas 2017, :mod:`napari_medai.core.models.deepmedic`) or any other segmentation
network MONAI offers among :data:`~napari_medai.core.models.loading.ALLOWED_NETWORKS` (``UNet`` and
``BasicUNet`` have defaults here; give ``network_kwargs`` for the others). All train through the
engine's one loop (:func:`napari_medai.core.training.train`) and run through its sliding window
(:func:`napari_medai.core.inference.segmentation.predict`).

=========== ============== =============== ==============================================
network     training patch inference window notes
=========== ============== =============== ==============================================
SegResNet   48^3           64^3            multiples of 8 (three downsamplings)
DeepMedic   25^3           45^3            the published training / inference segments
others      48^3           64^3            multiples of 16 for four-level U-Nets
=========== ============== =============== ==============================================

Voxels are resampled to 2 mm isotropic (DWI is usually acquired near 2 mm; ISLES'22 DWI is 2 mm),
the network works in RAS axis order, and windows overlap by half with Gaussian blending.

Inputs and their scaling
------------------------
MRI models take DWI (b = 1000) and ADC **in 10^-6 mm^2/s** (:data:`STROKE_CHANNELS`); CTA models
take the CTA in HU and its copy mirrored about the mid-sagittal plane (``cta_mirror``, spelled
``ctamirror`` in the contract, whose channel names drop punctuation). The contract's
``normalization`` is ``"none"`` because the task scales the inputs itself, in
:func:`stroke_model_inputs`, the one function training and prediction both call:

* DWI is divided by its median inside the head (the voxels where the ADC map is non-zero), so the
  arbitrary scale of a DWI (scanner, coil, b = 0 signal) does not matter: parenchyma is about 1,
  an acute lesion 2-3;
* ADC keeps its physical meaning, divided by 1000 (i.e. in 10^-3 mm^2/s, parenchyma about 0.8,
  acute core below 0.62, CSF about 3) and clipped to [0, 5]: a fixed scale, so what a network
  learns about "ADC below 620" on one cohort holds on another (a z-score would shift with the
  amount of CSF in each head);
* CTA: HU clipped to [-50, 150] and divided by 100 (parenchyma about 0.35, contrast-filled vessels
  and bone saturate at 1.5);
* everything outside the head is 0, and the network runs only on the head's bounding box
  (plus 8 voxels).

Outputs are in the ISLES convention (``isles``: 1 = lesion): one sigmoid lesion map, thresholded at
0.5, and its probability.

Case folders
------------
:func:`find_stroke_cases` recognises the ISLES'22 BIDS layout (``rawdata/sub-*/ses-*/[dwi/]*_dwi.nii.gz``,
``*_adc.nii.gz``, optional ``*_flair.nii.gz``, expert masks ``derivatives/sub-*/ses-*/*_msk.nii.gz``;
``rawdata`` may be left out, as in the challenge release) and a plain layout of one folder per case
holding ``dwi*``, ``adc*`` (or ``cta*``) and a lesion mask ``lesion*``, ``mask*``, ``msk*`` or ``seg*``
(names may also end ``_dwi``, ``-adc``, ``_lesion`` ...). A single case folder is one case.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...callbacks import Cancelled, MetricsFn, ProgressFn, StopFn
from ...errors import InvalidInputError
from ...inference.prepare import bounding_box
from ...models.contract import ModelContract, NetworkSpec, canonical_channel
from ...volume import Volume

__all__ = [
    "CTA_CLIP_HU",
    "DEFAULT_RECIPE",
    "HEAD_MARGIN",
    "LAYOUTS",
    "NETWORK_DEFAULTS",
    "STROKE_CHANNELS",
    "StrokeCase",
    "StrokeCasesSummary",
    "describe_stroke_cases",
    "find_stroke_cases",
    "head_mask",
    "load_stroke_model",
    "network_name",
    "predict_stroke_model",
    "read_training_case",
    "stroke_model_inputs",
    "stroke_task",
    "train_stroke",
]

#: Input channels of a stroke model, per modality, in the order the network takes them.
STROKE_CHANNELS: dict[str, tuple[str, ...]] = {"mri": ("dwi", "adc"), "cta": ("cta", "cta_mirror")}
#: HU window of the CTA channels (clipped, then divided by 100).
CTA_CLIP_HU: tuple[float, float] = (-50.0, 150.0)
#: Voxels kept around the head's bounding box.
HEAD_MARGIN = 8
#: Training patch and inference window per network (voxels at 2 mm); ``"*"`` for other MONAI networks.
NETWORK_DEFAULTS: dict[str, dict[str, tuple[int, int, int]]] = {
    "SegResNet": {"patch_size": (48, 48, 48), "roi_size": (64, 64, 64)},
    "DeepMedic": {"patch_size": (25, 25, 25), "roi_size": (45, 45, 45)},
    "*": {"patch_size": (48, 48, 48), "roi_size": (64, 64, 64)},
}
#: Training settings (keyword arguments of :func:`train_stroke`); patch and window per network above.
DEFAULT_RECIPE: dict[str, Any] = {
    "target_spacing": (2.0, 2.0, 2.0),
    "init_filters": 8,
    "batch_size": 2,
    "iterations_per_epoch": 40,
    "max_epochs": 40,
    "patience": 8,
    "learning_rate": 2e-3,
    "val_fraction": 0.25,
    "time_limit_s": 30 * 60.0,
}
_TRAIN_OPTIONS = {"patch_size", "roi_size", "network_kwargs", "pos_fraction", "weight_decay", "val_overlap",
                  "amp", "deterministic", "model_name", "num_threads", "device", "trained_on"}
#: Human description of the recognised layouts (for error messages).
LAYOUTS: dict[str, str] = {
    "isles22": "ISLES'22 BIDS: rawdata/sub-*/ses-*/*_dwi.nii.gz and *_adc.nii.gz, expert masks in "
               "derivatives/sub-*/ses-*/*_msk.nii.gz",
    "folder": "one folder per case: dwi*, adc* (or cta*) and lesion*, mask*, msk* or seg*",
}
_ROLE_KEYS: dict[str, tuple[str, ...]] = {
    "dwi": ("dwi",), "adc": ("adc",), "flair": ("flair",), "cta": ("cta",),
    "cta_mirror": ("ctamirror", "cta_mirror", "cta-mirror"),
    "label": ("lesion", "mask", "msk", "seg"),
}
_MONAI_DEFAULT_KWARGS: dict[str, dict[str, Any]] = {
    "UNet": {"channels": [16, 32, 64, 128], "strides": [2, 2, 2], "num_res_units": 1},
    "BasicUNet": {"features": [16, 16, 32, 64, 128, 16]},
}


# ---------------------------------------------------------------------------------------------
# networks and the contract
# ---------------------------------------------------------------------------------------------
def _segmentation_networks() -> tuple[str, ...]:
    from ...models.loading import ALLOWED_NETWORKS, PROJECT_NETWORKS

    classifiers = {"Classifier", "DenseNet", "DenseNet121", "ResNet"}
    return tuple(n for n in (*ALLOWED_NETWORKS, *PROJECT_NETWORKS) if n not in classifiers)


def network_name(name: str) -> str:
    """The network class for a name given in any case (``"deepmedic"`` -> ``"DeepMedic"``).

    Raises
    ------
    InvalidInputError
        For a name that is not an allowed segmentation network (the message lists them).
    """
    known = _segmentation_networks()
    for n in known:
        if str(name).strip().lower() == n.lower():
            return n
    raise InvalidInputError(f"unknown network {name!r}; a stroke model is one of {', '.join(known)}")


def _modality_of(channels: Sequence[str]) -> str:
    chans = tuple(canonical_channel(c) for c in channels)
    for modality, names in STROKE_CHANNELS.items():
        if chans == tuple(canonical_channel(c) for c in names):
            return modality
    raise InvalidInputError(f"a stroke model takes {' or '.join('+'.join(v) for v in STROKE_CHANNELS.values())}, "
                            f"not {'+'.join(chans)}")


def stroke_task(modality: str = "mri", *, network: str = "SegResNet", **options: Any) -> Any:
    """The :class:`~napari_medai.core.training.TaskSpec` of a stroke lesion model.

    Parameters
    ----------
    modality
        ``"mri"`` (DWI + ADC in 10^-6 mm^2/s) or ``"cta"`` (CTA + its mirrored copy, HU).
    network
        ``"SegResNet"`` (default), ``"DeepMedic"`` or another MONAI segmentation network (any case).
    **options
        ``init_filters`` (SegResNet width, a multiple of 8; default 8), ``roi_size`` (inference window,
        default per :data:`NETWORK_DEFAULTS`), ``target_spacing`` (mm, default 2 mm isotropic; ``None``:
        the data's own), ``network_kwargs`` (extra or replacing network arguments, JSON values),
        ``name`` (model name).

    Returns
    -------
    TaskSpec

    Raises
    ------
    InvalidInputError
        Unknown modality, network or option, or arguments the network refuses.
    """
    from ...training import TaskSpec

    if modality not in STROKE_CHANNELS:
        raise InvalidInputError(f"unknown stroke modality {modality!r}; choose {' or '.join(STROKE_CHANNELS)}")
    unknown = sorted(set(options) - {"init_filters", "roi_size", "target_spacing", "network_kwargs", "name"})
    if unknown:
        raise InvalidInputError(f"unknown stroke_task option(s) {unknown}; known: init_filters, roi_size, "
                                "target_spacing, network_kwargs, name")
    net = network_name(network)
    chans = STROKE_CHANNELS[modality]
    defaults = NETWORK_DEFAULTS.get(net, NETWORK_DEFAULTS["*"])
    roi = tuple(int(r) for r in options.get("roi_size") or defaults["roi_size"])
    spacing = options.get("target_spacing", DEFAULT_RECIPE["target_spacing"])
    kwargs: dict[str, Any] = {"spatial_dims": 3, "in_channels": len(chans), "out_channels": 1}
    if net == "SegResNet":
        init = int(options.get("init_filters") or DEFAULT_RECIPE["init_filters"])
        if init < 8 or init % 8:
            raise InvalidInputError(f"init_filters must be a multiple of 8 (group norm), got {init}")
        kwargs.update({"blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1], "init_filters": init,
                       "dropout_prob": 0.2})
    elif net == "DeepMedic":
        from ...models.deepmedic import DEFAULT_FC_FEATURES, DEFAULT_FEATURE_MAPS

        kwargs.update({"feature_maps": list(DEFAULT_FEATURE_MAPS), "fc_features": list(DEFAULT_FC_FEATURES),
                       "downsample": 3, "norm": "batch"})
    else:
        kwargs.update(_MONAI_DEFAULT_KWARGS.get(net, {}))
    extra = options.get("network_kwargs") or {}
    if not isinstance(extra, Mapping):
        raise InvalidInputError(f"network_kwargs must be a mapping of JSON values, got {type(extra).__name__}")
    kwargs.update(dict(extra))
    name = options.get("name") or f"stroke-{modality}-{net.lower()}"
    scaling = ("DWI / its median in the head, ADC (10^-6 mm^2/s) / 1000" if modality == "mri"
               else f"HU clipped to {CTA_CLIP_HU[0]:g}..{CTA_CLIP_HU[1]:g} / 100")
    contract = ModelContract(
        name=name, task="stroke", channels=chans, output_kind="sigmoid-regions", output_channels=("lesion",),
        label_convention="isles", label_names={1: "lesion"}, label_rules=(("lesion", 1),),
        network=NetworkSpec(net, kwargs), roi_size=roi,
        target_spacing=None if spacing is None else tuple(float(s) for s in spacing),
        orientation="RAS", normalization="none", threshold=0.5, overlap=0.5, blend_mode="gaussian",
        crop_foreground=False,
        description=f"napari-medai stroke lesion {net} ({modality.upper()}); inputs scaled by the stroke task "
                    f"(stroke_model_inputs: {scaling}); run it with predict_stroke_model",
    )
    from ...models.loading import build_network

    build_network(contract.network)  # refuse arguments the network does not take, before any work
    return TaskSpec(contract=contract, description=f"stroke lesion ({modality.upper()}, ISLES convention)")


# ---------------------------------------------------------------------------------------------
# input scaling, shared by training and prediction
# ---------------------------------------------------------------------------------------------
def head_mask(channels: Mapping[str, Volume], modality: str) -> np.ndarray:
    """The voxels of the head: the ADC map's non-zero voxels (MRI), or CTA above -500 HU (CTA)."""
    if modality == "mri":
        adc = np.asarray(channels["adc"].data)
        m = np.isfinite(adc) & (adc != 0)
    else:
        cta = np.asarray(channels["cta"].data)
        m = np.isfinite(cta) & (cta > -500.0)
    return m


def _crop(vol: Volume, box: tuple[slice, ...]) -> Volume:
    start = np.array([[s.start for s in box]], dtype=float)
    origin = tuple(float(v) for v in vol.index_to_world(start)[0])
    return vol.with_data(np.ascontiguousarray(np.asarray(vol.data)[box]), origin=origin)


def _by_role(channels: Mapping[str, Volume], modality: str) -> dict[str, Volume]:
    given = {canonical_channel(str(k)): v for k, v in channels.items() if v is not None}
    out = {}
    for role in STROKE_CHANNELS[modality]:
        key = canonical_channel(role)
        if key not in given:
            raise InvalidInputError(
                f"a stroke {modality.upper()} model needs {' and '.join(STROKE_CHANNELS[modality])}; missing {role} "
                f"(given: {', '.join(str(k) for k in channels) or 'nothing'})"
            )
        v = given[key]
        if not isinstance(v, Volume):
            raise InvalidInputError(f"{role}: expected a Volume, got {type(v).__name__}")
        if v.channel_axis is not None:
            if v.n_channels != 1:
                raise InvalidInputError(f"{role} ({v.name}): give one 3-D image, got {v.n_channels} volumes")
            v = v.channel(0)
        if v.ndim_spatial != 3:
            raise InvalidInputError(f"{role} ({v.name}): a stroke model takes 3-D images, got {v.ndim_spatial}-D")
        out[role] = v
    first, *rest = STROKE_CHANNELS[modality]
    for role in rest:
        out[first].require_same_grid(out[role], what=f"{first} and {role}")
    return out


def _check_adc_1e6(adc: Volume) -> None:
    from .units import BRAIN_MEDIAN_RANGE_1E6

    a = np.asarray(adc.data)
    vals = a[np.isfinite(a) & (a > 0)]
    if vals.size == 0:
        raise InvalidInputError(f"ADC ({adc.source or adc.name}): no positive voxel; give the ADC map")
    med = float(np.median(vals))
    lo, hi = BRAIN_MEDIAN_RANGE_1E6
    if not lo <= med <= hi:
        raise InvalidInputError(
            f"ADC ({adc.source or adc.name}): brain median {med:.4g} is not in 10^-6 mm^2/s (expected {lo:.0f}-{hi:.0f}); "
            "a stroke model takes ADC in 10^-6 mm^2/s: convert it with "
            "napari_medai.core.tasks.stroke.units.detect_adc_unit / adc_in_1e6 first"
        )


def stroke_model_inputs(channels: Mapping[str, Volume], modality: str = "mri") -> tuple[dict[str, Volume], np.ndarray]:
    """The channels as a stroke model sees them (see the module docstring), and the head mask.

    Parameters
    ----------
    channels
        MRI: ``{"dwi": Volume, "adc": Volume}`` (ADC in 10^-6 mm^2/s); CTA: ``{"cta": ..., "cta_mirror": ...}``
        in HU. Names are matched case-insensitively; all on one grid.
    modality
        ``"mri"`` or ``"cta"``.

    Returns
    -------
    (dict of str to Volume, ndarray)
        Scaled float32 channels (same grid, keys as in :data:`STROKE_CHANNELS`) and the boolean head mask.

    Raises
    ------
    InvalidInputError
        A channel missing or on another grid, an ADC map not in 10^-6 mm^2/s, an empty head, or a DWI
        with no positive value inside the head.
    """
    if modality not in STROKE_CHANNELS:
        raise InvalidInputError(f"unknown stroke modality {modality!r}; choose {' or '.join(STROKE_CHANNELS)}")
    vols = _by_role(channels, modality)
    head = head_mask(vols, modality)
    ref = vols[STROKE_CHANNELS[modality][0]]
    if not head.any():
        what = "ADC map is 0 everywhere" if modality == "mri" else "CTA holds no voxel above -500 HU"
        raise InvalidInputError(f"{ref.source or ref.name}: no head found (the {what}); check the inputs")
    out: dict[str, Volume] = {}
    if modality == "mri":
        _check_adc_1e6(vols["adc"])
        dwi = np.nan_to_num(np.asarray(vols["dwi"].data, dtype=np.float32))
        inside = dwi[head & (dwi > 0)]
        if inside.size == 0:
            raise InvalidInputError(f"DWI ({vols['dwi'].source or vols['dwi'].name}): no positive value inside the "
                                    "head; give the b = 1000 diffusion-weighted image")
        scale = float(np.median(inside))
        out["dwi"] = vols["dwi"].with_data(np.where(head, np.clip(dwi / scale, 0.0, 20.0), 0.0).astype(np.float32),
                                           units="DWI / head median")
        adc = np.nan_to_num(np.asarray(vols["adc"].data, dtype=np.float32))
        out["adc"] = vols["adc"].with_data(np.where(head, np.clip(adc / 1000.0, 0.0, 5.0), 0.0).astype(np.float32),
                                           units="1e-3 mm^2/s")
    else:
        lo, hi = CTA_CLIP_HU
        for role in STROKE_CHANNELS["cta"]:
            hu = np.nan_to_num(np.asarray(vols[role].data, dtype=np.float32), nan=lo)
            out[role] = vols[role].with_data(np.where(head, np.clip(hu, lo, hi) / 100.0, 0.0).astype(np.float32),
                                             units="HU / 100")
    return out, head


# ---------------------------------------------------------------------------------------------
# case folders
# ---------------------------------------------------------------------------------------------
@dataclass
class StrokeCase:
    """One case found by :func:`find_stroke_cases`.

    Attributes
    ----------
    name
        Case name (``sub-X_ses-Y`` in BIDS, else the folder name).
    folder
        The folder holding the images.
    layout
        ``"isles22"`` or ``"folder"``.
    channels
        ``{role: file}``: ``dwi`` and ``adc`` (MRI) or ``cta`` (and ``cta_mirror`` when given); ``flair``
        when present.
    label
        The lesion mask (ISLES convention: > 0 = lesion), if any.
    """

    name: str
    folder: Path
    layout: str
    channels: dict[str, Path] = field(default_factory=dict)
    label: Path | None = None

    @property
    def modality(self) -> str:
        return "mri" if "dwi" in self.channels else "cta"


def _role(stem: str) -> str | None:
    s = stem.lower()
    if "brain" in s or "skull" in s:  # brain masks are not lesion masks
        return None
    for role in ("cta_mirror", "dwi", "adc", "flair", "cta", "label"):
        for key in _ROLE_KEYS[role]:
            if s == key or s.startswith(key + "_") or s.startswith(key + "-") or s.endswith("_" + key) \
                    or s.endswith("-" + key) or (s.startswith(key) and role != "cta"):
                return role
    return None


def _classify_folder(folder: Path, *, layout: str = "folder", name: str | None = None) -> StrokeCase | None:
    from ...io.names import image_files_in, split_extension

    found: dict[str, list[Path]] = {}
    for f in image_files_in(folder):
        role = _role(split_extension(f)[0])
        if role is not None:
            found.setdefault(role, []).append(f)
    if not (("dwi" in found and "adc" in found) or "cta" in found):
        return None
    for role, paths in found.items():
        if len(paths) > 1:
            raise InvalidInputError(
                f"{folder}: several files look like the {role} of one case ({', '.join(p.name for p in paths)}); "
                "keep one per case folder"
            )
    if "dwi" in found and "cta" in found:
        raise InvalidInputError(f"{folder}: holds both MRI (dwi, adc) and CTA files; keep one modality per case folder")
    chans = {r: found[r][0] for r in ("dwi", "adc", "cta", "cta_mirror", "flair") if r in found}
    return StrokeCase(name=name or folder.name, folder=folder, layout=layout, channels=chans,
                      label=found["label"][0] if "label" in found else None)


def _bids_cases(root: Path) -> list[StrokeCase]:
    raw = root / "rawdata" if (root / "rawdata").is_dir() else root
    deriv = root / "derivatives"
    cases = []
    for sub in sorted(p for p in raw.glob("sub-*") if p.is_dir()):
        sessions = sorted(p for p in sub.glob("ses-*") if p.is_dir()) or [sub]
        for ses in sessions:
            files = [p for p in sorted(ses.rglob("*")) if p.is_file()]
            lower = {p: p.name.lower() for p in files}
            dwi = [p for p in files if lower[p].endswith(("_dwi.nii.gz", "_dwi.nii"))]
            adc = [p for p in files if lower[p].endswith(("_adc.nii.gz", "_adc.nii"))]
            flair = [p for p in files if lower[p].endswith(("_flair.nii.gz", "_flair.nii"))]
            if not dwi and not adc:
                continue
            name = sub.name if ses is sub else f"{sub.name}_{ses.name}"
            for role, paths in (("dwi", dwi), ("adc", adc), ("flair", flair)):
                if len(paths) > 1:
                    raise InvalidInputError(f"{ses}: several {role} images ({', '.join(p.name for p in paths)}); "
                                            "keep one per session")
            if not dwi or not adc:
                raise InvalidInputError(f"{ses}: case {name} has {'a DWI' if dwi else 'an ADC map'} but no "
                                        f"{'ADC map (*_adc.nii.gz)' if dwi else 'DWI (*_dwi.nii.gz)'}; add it or remove the case")
            mdir = deriv / sub.name / (ses.name if ses is not sub else "")
            masks = sorted(p for p in mdir.rglob("*") if p.is_file() and p.name.lower().endswith(
                ("_msk.nii.gz", "_msk.nii"))) if mdir.is_dir() else []
            if len(masks) > 1:
                raise InvalidInputError(f"{mdir}: several lesion masks ({', '.join(p.name for p in masks)}); keep one")
            chans = {"dwi": dwi[0], "adc": adc[0], **({"flair": flair[0]} if flair else {})}
            cases.append(StrokeCase(name=name, folder=ses, layout="isles22", channels=chans,
                                    label=masks[0] if masks else None))
    return cases


@dataclass
class StrokeCasesSummary:
    """What a folder of stroke training cases holds, in words (:func:`describe_stroke_cases`).

    Attributes
    ----------
    text
        One line: how many cases, the modality and layout, the label convention; or what is wrong.
    ok
        True when the cases can be trained on together (at least one, all of one modality).
    modality
        ``"mri"`` or ``"cta"`` (``""`` when not ok).
    inputs
        The network's inputs in words, e.g. ``"dwi + adc (ADC converted to 10^-6 mm^2/s)"``.
    rows
        One line per case: ``"<name>: dwi + adc, lesion mask"``.
    """

    text: str
    ok: bool
    modality: str
    inputs: str
    rows: list[str]


def describe_stroke_cases(cases: Sequence[StrokeCase], folder: str | os.PathLike[str]) -> StrokeCasesSummary:
    """Describe the cases :func:`find_stroke_cases` found in ``folder``; mixed MRI and CTA cases are not ok."""
    rows = [f"{c.name}: {' + '.join(c.channels)}, lesion mask" for c in cases]
    if not cases:
        return StrokeCasesSummary(f"{folder}: no stroke cases with a lesion mask (layouts: "
                                  f"{'; '.join(LAYOUTS.values())})", False, "", "", rows)
    modalities = sorted({c.modality for c in cases})
    if len(modalities) > 1:
        return StrokeCasesSummary("the cases mix MRI and CTA: train one modality at a time (one folder each)",
                                  False, "", "", rows)
    modality = modalities[0]
    inputs = " + ".join(STROKE_CHANNELS[modality]) + (
        " (the mirror is made from the CTA)" if modality == "cta" else " (ADC converted to 10^-6 mm^2/s)")
    layout = LAYOUTS[cases[0].layout].split(":")[0]
    return StrokeCasesSummary(f"{len(cases)} stroke case(s), {modality.upper()}, {layout}; labels: ISLES "
                              "(1 = lesion).", True, modality, inputs, rows)


def find_stroke_cases(data_dir: str | os.PathLike[str], *, require_labels: bool = False) -> list[StrokeCase]:
    """The stroke cases under ``data_dir`` (see the module docstring for the recognised layouts).

    Parameters
    ----------
    data_dir
        An ISLES'22 BIDS root, a folder of case folders, or one case folder.
    require_labels
        Raise when a case has no lesion mask (training needs one per case).

    Returns
    -------
    list of StrokeCase
        Sorted by name.

    Raises
    ------
    InvalidInputError
        The folder is missing or matches neither layout (the message lists the expected names), a
        case is incomplete or ambiguous, or (``require_labels``) a mask is missing.
    """
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"{root}: no such folder; give an ISLES'22 BIDS folder or a folder with one sub-folder "
                                "per case")
    cases = _bids_cases(root)
    if not cases:
        for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            c = _classify_folder(sub)
            if c is not None:
                cases.append(c)
    if not cases:
        single = _classify_folder(root)
        if single is not None:
            cases = [single]
    if not cases:
        raise InvalidInputError(f"{root}: no stroke case found. Expected the " + "; or ".join(LAYOUTS.values()))
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise InvalidInputError(f"{root}: case names repeat ({sorted({n for n in names if names.count(n) > 1})}); "
                                "rename the case folders")
    modalities = sorted({c.modality for c in cases})
    if len(modalities) > 1:
        raise InvalidInputError(f"{root}: holds both MRI and CTA cases; train one modality at a time (one folder each)")
    if require_labels:
        missing = [c.name for c in cases if c.label is None]
        if missing:
            raise InvalidInputError(
                f"{root}: case(s) without a lesion mask: {', '.join(missing)}; training needs one per case "
                "(derivatives/sub-*/ses-*/*_msk.nii.gz, or lesion*/mask*/msk*/seg* in the case folder)"
            )
    return sorted(cases, key=lambda c: c.name)


def read_training_case(case: StrokeCase) -> tuple[dict[str, Volume], Volume, list[str]]:
    """A case's model inputs (:func:`stroke_model_inputs`) cropped to the head, and its lesion mask.

    MRI cases go through :func:`~napari_medai.core.tasks.stroke.inputs.prepare_mri_inputs` (a 4-D DWI
    reduced to its b = 1000 image, the ADC unit detected from the values and the sidecar, converted
    to 10^-6 mm^2/s and checked). CTA cases without a ``cta_mirror`` file get the CTA mirrored about
    its mid-sagittal plane (:func:`~napari_medai.core.tasks.stroke.midline.mirror`).

    Returns
    -------
    (channels, label, notes)
        Channels keyed as :data:`STROKE_CHANNELS`; the mask as uint8 0/1 (any value > 0 is lesion).

    Raises
    ------
    InvalidInputError
        Missing mask, images on different grids, an ADC of unknown unit (the message names the file).
    """
    from ...io import read_volume

    if case.label is None:
        raise InvalidInputError(f"case {case.name!r} ({case.folder}) has no lesion mask; it cannot be trained on")
    notes: list[str] = []
    if case.modality == "mri":
        from .inputs import prepare_mri_inputs, read_sidecars

        dwi = read_volume(case.channels["dwi"], as_label=False)
        adc = read_volume(case.channels["adc"], as_label=False)
        mri = prepare_mri_inputs(dwi, adc, sidecars=read_sidecars(dwi=case.channels["dwi"], adc=case.channels["adc"]))
        raw = {"dwi": mri.dwi, "adc": mri.adc}
        notes += mri.notes
    else:
        raw = {"cta": read_volume(case.channels["cta"], as_label=False)}
        if "cta_mirror" in case.channels:
            raw["cta_mirror"] = read_volume(case.channels["cta_mirror"], as_label=False)
        raw, more = _with_cta_mirror(raw)
        notes += more
    scaled, head = stroke_model_inputs(raw, case.modality)
    ref = scaled[STROKE_CHANNELS[case.modality][0]]
    lab = read_volume(case.label, as_label=False)
    if lab.channel_axis is not None:
        lab = lab.channel(0)
    ref.require_same_grid(lab, what=f"case {case.name!r}: images and lesion mask {case.label.name}")
    mask = np.nan_to_num(np.asarray(lab.data, dtype=np.float32)) > 0.5
    label = ref.with_data(mask.astype(np.uint8), is_label=True, name=f"{case.name}_lesion",
                          label_names={1: "lesion"}, units="")
    box = bounding_box(head | mask, HEAD_MARGIN)
    return {k: _crop(v, box) for k, v in scaled.items()}, _crop(label, box), notes


# ---------------------------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------------------------
def train_stroke(
    data_dir: str | os.PathLike[str] | None,
    *,
    out_dir: str | os.PathLike[str],
    network: str = "SegResNet",
    cases: Sequence[StrokeCase] | None = None,
    seed: int = 0,
    max_epochs: int | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_epoch: MetricsFn | None = None,
    on_step: Callable[[int, int, int, float], None] | None = None,
    stop_training: StopFn | None = None,
    resume: bool = False,
    **recipe: Any,
) -> Any:
    """Train a stroke lesion model on the cases of ``data_dir`` through the engine's one loop.

    Parameters
    ----------
    data_dir
        Folder of cases (:func:`find_stroke_cases`); may be ``None`` when ``cases`` is given.
    out_dir
        Model folder to write.
    network
        ``"SegResNet"`` (default), ``"DeepMedic"`` or another MONAI segmentation network.
    cases
        Use these cases instead of all in ``data_dir``.
    seed, max_epochs, progress, should_stop, on_epoch, on_step, stop_training, resume
        See :func:`napari_medai.core.training.train` (``max_epochs`` defaults to the recipe's).
    **recipe
        Overrides of :data:`DEFAULT_RECIPE`, and ``patch_size``, ``roi_size``, ``network_kwargs``,
        ``pos_fraction``, ``weight_decay``, ``val_overlap``, ``device``, ``num_threads``,
        ``model_name``, ``trained_on``, ``amp``, ``deterministic``.

    Returns
    -------
    TrainingResult
    """
    from ...training import train

    unknown = sorted(set(recipe) - set(DEFAULT_RECIPE) - _TRAIN_OPTIONS)
    if unknown:
        raise InvalidInputError(f"unknown recipe option(s) {unknown}; known: "
                                f"{', '.join(sorted(set(DEFAULT_RECIPE) | _TRAIN_OPTIONS))}")
    r = {**DEFAULT_RECIPE, **recipe}
    if max_epochs is not None:
        r["max_epochs"] = int(max_epochs)
    if cases is None:
        if data_dir is None:
            raise InvalidInputError("give a data folder or the cases to train on")
        found = find_stroke_cases(data_dir, require_labels=True)
    else:
        found = list(cases)
    if not found:
        raise InvalidInputError("no stroke cases to train on")
    modalities = sorted({c.modality for c in found})
    if len(modalities) > 1:
        raise InvalidInputError("the cases mix MRI and CTA; train one modality at a time")
    modality = modalities[0]
    net = network_name(network)
    defaults = NETWORK_DEFAULTS.get(net, NETWORK_DEFAULTS["*"])
    task = stroke_task(modality, network=net, init_filters=r.pop("init_filters"),
                       roi_size=r.pop("roi_size", None) or defaults["roi_size"],
                       target_spacing=r.pop("target_spacing"), network_kwargs=r.pop("network_kwargs", None),
                       name=r.pop("model_name", None))
    r.setdefault("patch_size", defaults["patch_size"])
    from ...training import TrainingCase

    training_cases = []
    for i, c in enumerate(found):
        if should_stop is not None and should_stop():
            raise Cancelled("training cancelled while reading the cases")
        if progress is not None:
            progress(0.0, f"reading stroke case {i + 1}/{len(found)}: {c.name}")
        chans, label, _notes = read_training_case(c)
        training_cases.append(TrainingCase(name=c.name, channels=chans, label=label, convention="isles"))
    desc = r.pop("trained_on", None) or (
        f"{len(found)} {LAYOUTS[found[0].layout].split(':')[0]} stroke case(s)"
        + (f" from {Path(data_dir).name}" if data_dir is not None else "")
        + f": {', '.join(c.name for c in found[:12])}{' ...' if len(found) > 12 else ''} "
        f"({'+'.join(STROKE_CHANNELS[modality])})"
    )
    return train(task, training_cases, out_dir=out_dir, seed=seed, resume=resume, trained_on=desc,
                 progress=progress, should_stop=should_stop, on_epoch=on_epoch, on_step=on_step,
                 stop_training=stop_training, **r)


# ---------------------------------------------------------------------------------------------
# prediction
# ---------------------------------------------------------------------------------------------
def _with_cta_mirror(channels: Mapping[str, Volume]) -> tuple[dict[str, Volume], list[str]]:
    """The CTA channels, with the CTA mirrored about its mid-sagittal plane when no mirror is given."""
    given = {canonical_channel(str(k)): v for k, v in channels.items() if v is not None}
    if canonical_channel("cta_mirror") in given or "cta" not in given:
        return dict(channels), []
    from .midline import find_mid_sagittal_plane, mirror

    plane = find_mid_sagittal_plane(given["cta"])
    return ({"cta": given["cta"], "cta_mirror": mirror(given["cta"], plane)},
            [f"CTA mirrored about its mid-sagittal plane for the model's second channel ({plane.method})"])


def load_stroke_model(model: Any) -> tuple[Any, str]:
    """Load a stroke model and say which modality it takes, before any image is read.

    Parameters
    ----------
    model
        A :class:`~napari_medai.core.models.LoadedModel`, a model folder or registry name.

    Returns
    -------
    (LoadedModel, str)
        The model and its modality, ``"mri"`` or ``"cta"`` (from its contract's channels).

    Raises
    ------
    ModelLoadError, InvalidInputError
        Not a segmentation model of task ``stroke``, or channels that are neither modality's.
    """
    from ...models.loading import load_model, require_segmentation_model

    lm = require_segmentation_model(load_model(model), task="stroke")
    return lm, _modality_of(lm.contract.channels)


def predict_stroke_model(
    model: Any,
    channels: Mapping[str, Volume],
    *,
    device: str = "auto",
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> tuple[Volume, Volume]:
    """Segment stroke lesions with a trained stroke model.

    Parameters
    ----------
    model
        A :class:`~napari_medai.core.models.LoadedModel`, a model folder or registry name, of task ``stroke``.
    channels
        MRI models: ``{"dwi": Volume, "adc": Volume}`` with the ADC in 10^-6 mm^2/s (convert with
        :func:`~napari_medai.core.tasks.stroke.units.adc_in_1e6`); CTA models: ``{"cta": ..., "cta_mirror": ...}``
        in HU, one grid; without ``cta_mirror`` the CTA is mirrored about its mid-sagittal plane
        (:func:`~napari_medai.core.tasks.stroke.midline.mirror`).
    device, progress, should_stop
        See :func:`napari_medai.core.inference.segmentation.predict`.

    Returns
    -------
    (Volume, Volume)
        The lesion mask (uint8, 1 = lesion, ISLES convention) and the lesion probability (float32,
        0..1), both on the input grid; 0 outside the head. ``meta`` says which model made them.

    Raises
    ------
    InvalidInputError, ModelLoadError, Cancelled
        Not a stroke model, missing channels, an ADC not in 10^-6 mm^2/s, cancelled.
    """
    from ...inference.segmentation import predict

    lm, modality = load_stroke_model(model)
    c: ModelContract = lm.contract
    channels, notes = _with_cta_mirror(channels) if modality == "cta" else (channels, [])
    scaled, head = stroke_model_inputs(channels, modality)
    ref = scaled[STROKE_CHANNELS[modality][0]]
    box = bounding_box(head, HEAD_MARGIN)
    cropped = {k: _crop(v, box) for k, v in scaled.items()}
    pred = predict(lm, cropped, device=device, uncertainty=None, return_probabilities=True, progress=progress,
                   should_stop=should_stop)
    prob = np.zeros(ref.spatial_shape, dtype=np.float32)
    prob[box] = np.asarray(pred.probabilities.data, dtype=np.float32)[0]
    prob[~head] = 0.0
    mask = (prob >= c.threshold).astype(np.uint8)
    meta = {**pred.labels.meta, "modality": modality, "notes": [*notes, *pred.notes],
            "seconds": round(pred.seconds, 2), "n_windows": pred.n_windows}
    mask_vol = ref.with_data(mask, is_label=True, name=f"{c.name}_lesion", label_names={1: "lesion"}, units="",
                             source=None, meta=meta)
    prob_vol = ref.with_data(prob, is_label=False, name=f"{c.name}_probability", units="probability",
                             label_names=None, source=None, meta=dict(meta))
    return mask_vol, prob_vol
