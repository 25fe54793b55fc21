"""What a model expects and returns: the :class:`ModelContract`.

A contract is plain data (no torch): the kind of model, the input channels and their order, the
voxel grid the network works on (orientation, spacing), the intensity normalisation, the window
size, how the network outputs are read, the MONAI network that holds the weights, and whether
(and on what) the weights were trained.

Kinds
-----
``kind`` (:data:`MODEL_KINDS`) says what the outputs are:

* ``"segmentation"`` (the default, so contracts written before kinds existed read unchanged): a
  label map, with the label convention and output mapping below;
* ``"classification"``: one probability per class for the whole input (``input_mode="whole"``,
  the image resized to ``roi_size``) or for each patch of ``roi_size`` voxels
  (``input_mode="patch"``, patches centred where ``patch_source`` says: ``"points"`` given by the
  caller, or ``"grid"`` tiling the image), or one bag of patches at the contract's own
  ``landmark_points`` (``input_mode="landmarks"``: world points, a patch of ``roi_size`` around each,
  stacked along the channel axis; one answer per image, as in Liu et al. 2018); ``output_kind`` is ``"softmax"`` (exactly one class) or
  ``"sigmoid"`` (independent labels); ``output_channels`` are the class names and
  ``decision_thresholds`` the probability above which each class is called present (sigmoid) --
  for softmax models the arg-max decides and thresholds are informative;
* ``"image-to-image"``: an image out for an image in (``output_kind="image"``), e.g. a CT
  denoiser (the low-dose CT task keeps its own small contract with ``kind`` image-to-image).

The label convention, label names, label rules and class labels belong to segmentation and are
required (and checked) only there.

Orientation
-----------
``orientation`` says how the axes of the array fed to the network relate to the patient:

* ``"storage"``: the file's storage index order ``(i, j, k)``, unflipped, which is what MONAI's
  ``LoadImaged`` gives (it does not reorient). A :class:`~napari_medai.core.volume.Volume` keeps
  its data as ``(k, j, i)``, so this is the Volume's axes reversed.
* three letters such as ``"RAS"`` or ``"LPS"`` (nibabel / MONAI ``Orientationd`` convention): network
  axis *n* points towards letter *n* as its index grows. Any axis-aligned input is permuted and
  flipped to this layout (no interpolation) and back afterwards.

``target_spacing`` and ``roi_size`` are given in the network's axis order.

Segmentation outputs
--------------------
``"sigmoid-regions"``: one sigmoid channel per (possibly overlapping) region, e.g. tumour core,
whole tumour and enhancing tumour; a voxel gets the label of the first rule in ``label_rules``
whose region is above ``threshold`` (the MONAI BraTS bundle: ET -> 4, else TC -> 1, else WT -> 2).
``"softmax-labels"``: one softmax channel per class; the arg-max class ``c`` becomes the label
value ``class_labels[c]`` (``class_labels[0]`` is normally 0, background).

Normalisation
-------------
``"zscore-nonzero"``: per channel, z-score over the voxels that differ from the background
(MONAI ``NormalizeIntensity(nonzero=True, channel_wise=True)``); background stays 0. The
background is 0 for skull-stripped images; when the corners of a channel share another constant
value (images z-scored before skull stripping was applied), that value is the background. A
brain mask, when given, replaces this rule. ``"zscore"``: per channel over all voxels.
``"none"``: the network takes the intensities as they are.

``brain_region`` names how the voxels normalised over are found (:data:`BRAIN_REGIONS`, see
:mod:`napari_medai.core.intensity`): ``"channel-background"`` (the rule above, the default, so folders
written before the field existed behave as before), ``"constant-background"`` (one region for all
channels, whatever the file's background value), ``"nonzero"`` or ``"given-mask"``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from ..errors import InvalidInputError
from ..intensity import BRAIN_REGIONS, LEGACY_BRAIN_REGION

__all__ = [
    "BLEND_MODES",
    "BRAIN_REGIONS",
    "CHANNEL_ALIASES",
    "CONTRACT_FORMAT_VERSION",
    "INPUT_MODES",
    "MODEL_KINDS",
    "NORMALIZATIONS",
    "OUTPUT_KINDS",
    "OUTPUT_KINDS_BY_KIND",
    "PATCH_SOURCES",
    "ModelContract",
    "NetworkSpec",
    "canonical_channel",
    "channel_aliases",
    "guess_channel",
]

OutputKind = Literal["sigmoid-regions", "softmax-labels", "softmax", "sigmoid", "image"]
ModelKind = Literal["segmentation", "classification", "image-to-image"]
#: What a model's outputs are (see the module docstring).
MODEL_KINDS: tuple[str, ...] = ("segmentation", "classification", "image-to-image")
#: ``output_kind`` values allowed for each ``kind``.
OUTPUT_KINDS_BY_KIND: dict[str, tuple[str, ...]] = {
    "segmentation": ("sigmoid-regions", "softmax-labels"),
    "classification": ("softmax", "sigmoid"),
    "image-to-image": ("image",),
}
#: Segmentation output kinds (kept under this name for code written before kinds existed).
OUTPUT_KINDS: tuple[str, ...] = OUTPUT_KINDS_BY_KIND["segmentation"]
#: Classification inputs: the whole image, patches of ``roi_size``, or one bag of patches at fixed landmarks.
INPUT_MODES: tuple[str, ...] = ("whole", "patch", "landmarks")
#: Where the patches of a patch classifier come from: points given by the caller, or a grid.
PATCH_SOURCES: tuple[str, ...] = ("points", "grid")
NORMALIZATIONS: tuple[str, ...] = ("zscore-nonzero", "zscore", "none")
BLEND_MODES: tuple[str, ...] = ("constant", "gaussian")
CONTRACT_FORMAT_VERSION = 1

#: Canonical MR channel names and the spellings recognised for them (compared after lower-casing
#: and dropping every character that is not a letter or digit, so ``"T1-Gd"`` matches ``t1gd``).
CHANNEL_ALIASES: dict[str, tuple[str, ...]] = {
    "flair": ("flair", "t2f", "t2flair", "fl"),
    "t1c": ("t1c", "t1gd", "t1ce", "t1post", "t1contrast", "t1wce"),
    "t1": ("t1", "t1n", "t1w", "t1native", "t1pre"),
    "t2": ("t2", "t2w"),
}
_ALIAS_TO_CANONICAL = {a: c for c, aliases in CHANNEL_ALIASES.items() for a in aliases}
_ORIENT_LETTERS = {"R": "L", "L": "R", "A": "P", "P": "A", "S": "I", "I": "S"}
_AXIS_OF = {"R": 0, "L": 0, "A": 1, "P": 1, "S": 2, "I": 2}


def _squash(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def canonical_channel(name: str) -> str:
    """Canonical name of an input channel: ``"T2-FLAIR"`` -> ``"flair"``, ``"t1ce"`` -> ``"t1c"``.

    Names that are no known MR sequence are returned lower-cased with punctuation removed.
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"a channel name must be a non-empty string, got {name!r}")
    s = _squash(name)
    if not s:
        raise InvalidInputError(f"channel name {name!r} has no letters or digits")
    return _ALIAS_TO_CANONICAL.get(s, s)


def guess_channel(name: str) -> str | None:
    """The MR sequence a layer or file name refers to, or ``None``.

    The whole name is tried first (``"FLAIR"``), then its parts split at punctuation and spaces from
    the last to the first, alone and joined with the next part: ``"BraTS-GLI-00001-000-t2f"`` ->
    ``"flair"``, ``"BraTS2021_00001_t1ce"`` -> ``"t1c"``, ``"Flair_subtrMeanDivStd"`` -> ``"flair"``,
    ``"sub-01_T2_FLAIR"`` -> ``"flair"``. Names without a known sequence give ``None``.
    """
    if not isinstance(name, str):
        return None
    whole = _squash(name)
    if whole in _ALIAS_TO_CANONICAL:
        return _ALIAS_TO_CANONICAL[whole]
    parts = [p for p in re.split(r"[^a-z0-9]+", name.lower()) if p]
    for i in range(len(parts) - 1, -1, -1):
        if i + 1 < len(parts) and parts[i] + parts[i + 1] in _ALIAS_TO_CANONICAL:
            return _ALIAS_TO_CANONICAL[parts[i] + parts[i + 1]]
        if parts[i] in _ALIAS_TO_CANONICAL:
            return _ALIAS_TO_CANONICAL[parts[i]]
    return None


def channel_aliases(name: str) -> tuple[str, ...]:
    """The spellings accepted for a canonical channel (just the name for unknown channels)."""
    c = canonical_channel(name)
    return CHANNEL_ALIASES.get(c, (c,))


@dataclass(frozen=True)
class NetworkSpec:
    """A MONAI network class (``monai.networks.nets.<name>``) and its keyword arguments.

    Only plain JSON values (numbers, strings, booleans, lists, dicts) are allowed as arguments,
    so a spec can be written to and read from ``model.json`` without running any code.
    """

    name: str
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", self.name):
            raise InvalidInputError(
                f"network name must be a MONAI class name such as 'SegResNet', got {self.name!r}"
            )
        if not isinstance(self.kwargs, Mapping):
            raise InvalidInputError(f"network kwargs must be a mapping, got {type(self.kwargs).__name__}")
        for k, v in self.kwargs.items():
            _check_plain(v, where=f"network argument {k!r}")
        object.__setattr__(self, "kwargs", dict(self.kwargs))

    def __hash__(self) -> int:
        return hash((self.name, repr(sorted(self.kwargs.items()))))

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kwargs": _plain(self.kwargs)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NetworkSpec:
        if not isinstance(d, Mapping) or "name" not in d:
            raise InvalidInputError("a network description needs a 'name' (MONAI class) and 'kwargs'")
        return cls(str(d["name"]), dict(d.get("kwargs") or {}))


def _check_plain(v: Any, *, where: str) -> None:
    if v is None or isinstance(v, (bool, int, str)):
        return
    if isinstance(v, float):
        if not math.isfinite(v):
            raise InvalidInputError(f"{where}: {v} is not a finite number")
        return
    if isinstance(v, (list, tuple)):
        for x in v:
            _check_plain(x, where=where)
        return
    if isinstance(v, Mapping):
        for k, x in v.items():
            if not isinstance(k, str):
                raise InvalidInputError(f"{where}: dictionary keys must be strings, got {k!r}")
            _check_plain(x, where=where)
        return
    raise InvalidInputError(f"{where}: {type(v).__name__} is not a plain JSON value")


def _plain(v: Any) -> Any:
    if isinstance(v, Mapping):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    return v


def _check_orientation(orientation: str, spatial_dims: int) -> str:
    if orientation == "storage":
        return orientation
    o = str(orientation).upper()
    if spatial_dims != 3 or len(o) != 3 or any(c not in _AXIS_OF for c in o) or len({_AXIS_OF[c] for c in o}) != 3:
        raise InvalidInputError(
            f"orientation must be 'storage' or three axis letters naming each of R/L, A/P and S/I once "
            f"(e.g. 'RAS', 'LPS'), got {orientation!r}"
        )
    return o


@dataclass(frozen=True)
class ModelContract:
    """What a model takes and gives (see the module docstring).

    Parameters
    ----------
    name
        Model name (registry name, bundle name or the folder name of a trained model).
    task
        Clinical task, e.g. ``"brain_tumour"``.
    channels
        Canonical input channel names in the order the network takes them.
    output_kind
        Segmentation: ``"sigmoid-regions"`` or ``"softmax-labels"``; classification:
        ``"softmax"`` or ``"sigmoid"``; image-to-image: ``"image"``.
    output_channels
        Names of the network's output channels (regions such as ``"TC"``, ``"WT"``, ``"ET"``,
        segmentation class names, or the classes of a classifier).
    label_convention
        Segmentation only: name of the label convention of the output map (``"brats2021"``,
        ...; see :mod:`napari_medai.core.metrics.conventions`) or ``"custom"``.
    label_names
        Segmentation only: ``{label value: name}`` of the output map.
    network
        The MONAI network that holds the weights.
    roi_size
        Sliding-window size in voxels, network axis order; for a classifier, the size its input
        is resized to (whole input) or the patch size (patch input).
    spatial_dims
        2 or 3.
    target_spacing
        Voxel size (mm, network axis order) the network works at; ``None``: the input's.
    orientation
        ``"storage"`` or axis letters (see the module docstring).
    normalization
        One of :data:`NORMALIZATIONS`.
    threshold
        Probability threshold of sigmoid outputs.
    label_rules
        Sigmoid outputs: ``((region, label value), ...)`` in priority order.
    class_labels
        Softmax outputs: the label value of each class.
    overlap
        Default sliding-window overlap (0 <= overlap < 1).
    blend_mode
        How overlapping windows are blended: ``"constant"`` or ``"gaussian"``.
    crop_foreground
        Run the network only on the bounding box of the non-background voxels (plus a margin).
    trained_on
        One line saying what the weights were trained on (empty when untrained).
    is_trained
        False for random or missing weights; every output of such a model says so.
    description
        Free text for listings.
    kind
        ``"segmentation"`` (default), ``"classification"`` or ``"image-to-image"``.
    decision_thresholds
        Classification: the probability at or above which each class is called present (one per
        class; default 0.5 each).
    input_mode
        Classification: ``"whole"`` (the image resized to ``roi_size``) or ``"patch"``.
    patch_source
        Patch classifiers: ``"points"`` (centres given by the caller) or ``"grid"``.
    landmark_points
        Landmark classifiers (``input_mode="landmarks"``): the patch centres, world mm in the core's
        ``(S, P, L)`` order, on the (template) space the model was trained in; empty otherwise.
    brain_region
        How the brain region normalised over is found (:data:`BRAIN_REGIONS`; default the rule of
        folders written before the field existed).
    """

    name: str
    task: str
    channels: tuple[str, ...]
    output_kind: OutputKind
    output_channels: tuple[str, ...]
    label_convention: str = ""
    label_names: Mapping[int, str] = field(default_factory=dict)
    network: NetworkSpec | None = None
    roi_size: tuple[int, ...] = ()
    spatial_dims: int = 3
    target_spacing: tuple[float, ...] | None = None
    orientation: str = "storage"
    normalization: str = "zscore-nonzero"
    threshold: float = 0.5
    label_rules: tuple[tuple[str, int], ...] = ()
    class_labels: tuple[int, ...] = ()
    overlap: float = 0.5
    blend_mode: str = "constant"
    crop_foreground: bool = False
    trained_on: str = ""
    is_trained: bool = False
    description: str = ""
    kind: ModelKind = "segmentation"
    decision_thresholds: tuple[float, ...] = ()
    input_mode: str = "whole"
    patch_source: str = ""
    landmark_points: tuple[tuple[float, ...], ...] = ()
    brain_region: str = LEGACY_BRAIN_REGION

    def __post_init__(self) -> None:
        s = object.__setattr__
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError("a model contract needs a non-empty name")
        if self.kind not in MODEL_KINDS:
            raise InvalidInputError(
                f"model {self.name!r}: kind must be one of {', '.join(MODEL_KINDS)}, got {self.kind!r}"
            )
        if self.network is None:
            raise InvalidInputError(f"model {self.name!r}: a contract needs the network that holds the weights")
        if self.spatial_dims not in (2, 3):
            raise InvalidInputError(f"spatial_dims must be 2 or 3, got {self.spatial_dims!r}")
        chans = tuple(canonical_channel(c) for c in self.channels)
        if not chans:
            raise InvalidInputError(f"model {self.name!r}: give at least one input channel name")
        if len(set(chans)) != len(chans):
            raise InvalidInputError(f"model {self.name!r}: input channels {list(self.channels)} repeat a name")
        s(self, "channels", chans)
        allowed = OUTPUT_KINDS_BY_KIND[self.kind]
        if self.output_kind not in allowed:
            raise InvalidInputError(
                f"model {self.name!r}: output_kind of a {self.kind} model must be one of {', '.join(allowed)}, "
                f"got {self.output_kind!r}"
            )
        outs = tuple(str(o) for o in self.output_channels)
        if not outs or len(set(outs)) != len(outs):
            raise InvalidInputError(f"model {self.name!r}: output_channels must be distinct names, got {list(outs)}")
        s(self, "output_channels", outs)
        names = {}
        for k, v in dict(self.label_names).items():
            try:
                key = int(k)
            except (TypeError, ValueError) as exc:
                raise InvalidInputError(f"model {self.name!r}: label value {k!r} is not a whole number") from exc
            if key < 1:
                raise InvalidInputError(f"model {self.name!r}: label values must be >= 1 (0 is background), got {key}")
            names[key] = str(v)
        s(self, "label_names", dict(sorted(names.items())))
        if not isinstance(self.network, NetworkSpec):
            s(self, "network", NetworkSpec.from_dict(self.network))  # type: ignore[arg-type]
        kw = self.network.kwargs
        if "in_channels" in kw and int(kw["in_channels"]) != len(chans):
            raise InvalidInputError(
                f"model {self.name!r}: the network takes {kw['in_channels']} input channels but "
                f"{len(chans)} channel names are given ({', '.join(chans)})"
            )
        if "out_channels" in kw and int(kw["out_channels"]) != len(outs):
            raise InvalidInputError(
                f"model {self.name!r}: the network gives {kw['out_channels']} output channels but "
                f"{len(outs)} output names are given ({', '.join(outs)})"
            )
        roi = tuple(int(r) for r in self.roi_size)
        if len(roi) != self.spatial_dims or any(r < 1 for r in roi):
            raise InvalidInputError(
                f"model {self.name!r}: roi_size needs {self.spatial_dims} positive sizes, got {list(self.roi_size)}"
            )
        s(self, "roi_size", roi)
        if self.target_spacing is not None:
            sp = tuple(float(x) for x in self.target_spacing)
            if len(sp) != self.spatial_dims or not all(math.isfinite(x) and x > 0 for x in sp):
                raise InvalidInputError(
                    f"model {self.name!r}: target_spacing needs {self.spatial_dims} positive sizes in mm, "
                    f"got {self.target_spacing}"
                )
            s(self, "target_spacing", sp)
        s(self, "orientation", _check_orientation(self.orientation, self.spatial_dims))
        if self.normalization not in NORMALIZATIONS:
            raise InvalidInputError(
                f"model {self.name!r}: normalization must be one of {', '.join(NORMALIZATIONS)}, "
                f"got {self.normalization!r}"
            )
        if self.brain_region not in BRAIN_REGIONS:
            raise InvalidInputError(
                f"model {self.name!r}: brain_region must be one of {', '.join(BRAIN_REGIONS)}, got {self.brain_region!r}"
            )
        if not (0.0 < float(self.threshold) < 1.0):
            raise InvalidInputError(f"model {self.name!r}: threshold must lie in (0, 1), got {self.threshold}")
        s(self, "threshold", float(self.threshold))
        if not (0.0 <= float(self.overlap) < 1.0):
            raise InvalidInputError(f"model {self.name!r}: overlap must lie in [0, 1), got {self.overlap}")
        s(self, "overlap", float(self.overlap))
        if self.blend_mode not in BLEND_MODES:
            raise InvalidInputError(
                f"model {self.name!r}: blend_mode must be one of {', '.join(BLEND_MODES)}, got {self.blend_mode!r}"
            )
        rules = tuple((str(r), int(v)) for r, v in self.label_rules)
        classes = tuple(int(c) for c in self.class_labels)
        self._check_kind_fields(outs, rules, classes)
        if self.kind != "segmentation":
            values: list[int] = []
        elif self.output_kind == "sigmoid-regions":
            if not rules:
                raise InvalidInputError(
                    f"model {self.name!r}: sigmoid outputs need label_rules ((region, label), ...) "
                    "saying which label each region gives"
                )
            bad = [r for r, _ in rules if r not in outs]
            if bad:
                raise InvalidInputError(
                    f"model {self.name!r}: label_rules name regions {bad} that are not output channels {list(outs)}"
                )
            values = [v for _, v in rules]
        else:
            if len(classes) != len(outs):
                raise InvalidInputError(
                    f"model {self.name!r}: softmax outputs need one class label per output channel "
                    f"({len(outs)}), got {list(classes)}"
                )
            values = [v for v in classes if v != 0]
        for v in values:
            if v < 1:
                raise InvalidInputError(f"model {self.name!r}: output label values must be >= 1, got {v}")
            if names and v not in names:
                raise InvalidInputError(
                    f"model {self.name!r}: output label {v} has no name in label_names {names}"
                )
        s(self, "label_rules", rules)
        s(self, "class_labels", classes)
        if self.is_trained and not str(self.trained_on).strip():
            raise InvalidInputError(f"model {self.name!r}: a trained model must say what it was trained on (trained_on)")
        s(self, "is_trained", bool(self.is_trained))
        s(self, "trained_on", str(self.trained_on))

    def _check_kind_fields(self, outs: tuple[str, ...], rules: tuple, classes: tuple) -> None:
        """Fields that belong to one kind: required there, refused (or defaulted) elsewhere."""
        s = object.__setattr__
        if self.kind == "segmentation":
            if not str(self.label_convention).strip():
                raise InvalidInputError(
                    f"model {self.name!r}: a segmentation model needs a label_convention (e.g. 'brats2021' or "
                    "'custom')"
                )
            if self.decision_thresholds:
                raise InvalidInputError(f"model {self.name!r}: decision_thresholds belong to classifiers")
            s(self, "input_mode", "whole")
            s(self, "patch_source", "")
            s(self, "landmark_points", ())
            return
        if rules or classes or self.label_names:
            raise InvalidInputError(
                f"model {self.name!r}: label_rules, class_labels and label_names describe label maps; a "
                f"{self.kind} model has none"
            )
        if self.kind == "image-to-image":
            if self.decision_thresholds:
                raise InvalidInputError(f"model {self.name!r}: decision_thresholds belong to classifiers")
            s(self, "input_mode", "whole")
            s(self, "patch_source", "")
            s(self, "landmark_points", ())
            return
        th = tuple(float(t) for t in self.decision_thresholds) or (0.5,) * len(outs)
        if len(th) != len(outs) or not all(0.0 < t < 1.0 for t in th):
            raise InvalidInputError(
                f"model {self.name!r}: decision_thresholds need one value in (0, 1) per class ({len(outs)}), "
                f"got {list(self.decision_thresholds)}"
            )
        s(self, "decision_thresholds", th)
        if self.output_kind == "softmax" and len(outs) < 2:
            raise InvalidInputError(f"model {self.name!r}: a softmax classifier needs at least two classes")
        if self.input_mode not in INPUT_MODES:
            raise InvalidInputError(
                f"model {self.name!r}: input_mode must be one of {', '.join(INPUT_MODES)}, got {self.input_mode!r}"
            )
        if self.input_mode == "patch":
            if self.patch_source not in PATCH_SOURCES:
                raise InvalidInputError(
                    f"model {self.name!r}: a patch classifier must say where its patches come from "
                    f"(patch_source one of {', '.join(PATCH_SOURCES)}), got {self.patch_source!r}"
                )
        elif self.patch_source:
            raise InvalidInputError(f"model {self.name!r}: patch_source belongs to patch classifiers")
        self._check_landmarks()

    def _check_landmarks(self) -> None:
        pts = tuple(tuple(float(v) for v in p) for p in self.landmark_points)
        if self.input_mode != "landmarks":
            if pts:
                raise InvalidInputError(f"model {self.name!r}: landmark_points belong to input_mode 'landmarks'")
            return
        if not pts or any(len(p) != self.spatial_dims or not all(math.isfinite(v) for v in p) for p in pts):
            raise InvalidInputError(
                f"model {self.name!r}: a landmark classifier needs landmark_points, one finite world point of "
                f"{self.spatial_dims} coordinates (mm) per landmark")
        n = self.network.kwargs.get("n_landmarks")
        if n is not None and int(n) != len(pts):
            raise InvalidInputError(
                f"model {self.name!r}: the network takes {n} landmark patches but {len(pts)} landmark_points are given")
        object.__setattr__(self, "landmark_points", pts)

    @property
    def is_segmentation(self) -> bool:
        """True for segmentation models (a label map out)."""
        return self.kind == "segmentation"

    @property
    def patch_size(self) -> tuple[int, ...] | None:
        """The patch size of a patch classifier (``roi_size``), else ``None``."""
        return self.roi_size if self.kind == "classification" and self.input_mode == "patch" else None

    def __hash__(self) -> int:
        return hash((self.name, self.channels, self.output_channels, self.network, self.roi_size))

    # ------------------------------------------------------------------ derived facts
    @property
    def label_values(self) -> tuple[int, ...]:
        """The foreground label values the model can output."""
        if self.output_kind == "sigmoid-regions":
            vals = {v for _, v in self.label_rules}
        else:
            vals = {v for v in self.class_labels if v != 0}
        return tuple(sorted(vals))

    @property
    def training_status(self) -> str:
        """``"trained on ..."`` or ``"NOT TRAINED (random or missing weights)"``."""
        if self.is_trained:
            return f"trained on {self.trained_on}"
        return "NOT TRAINED (random or missing weights): its output means nothing"

    def summary(self) -> str:
        """One paragraph describing the model for listings and logs."""
        if self.kind == "classification":
            what = ("whole input resized to " if self.input_mode == "whole" else
                    f"{len(self.landmark_points)} landmark patches of " if self.input_mode == "landmarks" else
                    f"patches ({self.patch_source}) of ") + "x".join(map(str, self.roi_size))
            return (
                f"{self.name} ({self.task}): {self.network.name}, inputs {', '.join(self.channels)}, "
                f"{self.output_kind} classifier of {', '.join(self.output_channels)}; {what}; {self.training_status}"
            )
        if self.kind == "image-to-image":
            return (f"{self.name} ({self.task}): {self.network.name}, inputs {', '.join(self.channels)}, "
                    f"image to image; {self.training_status}")
        sp = "input spacing" if self.target_spacing is None else "x".join(f"{x:g}" for x in self.target_spacing) + " mm"
        return (
            f"{self.name} ({self.task}): {self.network.name}, inputs {', '.join(self.channels)}, "
            f"{self.output_kind} {', '.join(self.output_channels)} -> {self.label_convention} labels; "
            f"window {'x'.join(map(str, self.roi_size))} at {sp}; {self.training_status}"
        )

    def with_changes(self, **changes: Any) -> ModelContract:
        """A validated copy with some fields replaced."""
        d = {f: getattr(self, f) for f in self.__dataclass_fields__}
        d.update(changes)
        return ModelContract(**d)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly description (inverse of :meth:`from_dict`).

        Segmentation contracts are written exactly as before kinds existed (``kind`` is added
        for the other kinds only), so folders written today still read in older versions.
        """
        d = self._to_dict()
        if self.kind != "segmentation":
            for k in ("label_rules", "class_labels", "label_convention", "label_names"):
                del d[k]
            d["kind"] = self.kind
            if self.kind == "classification":
                d["decision_thresholds"] = list(self.decision_thresholds)
                d["input_mode"] = self.input_mode
                d["patch_source"] = self.patch_source
                if self.landmark_points:
                    d["landmark_points"] = [list(p) for p in self.landmark_points]
        if self.brain_region != LEGACY_BRAIN_REGION:  # older folders stay byte-identical when rewritten
            d["brain_region"] = self.brain_region
        return d

    def _to_dict(self) -> dict[str, Any]:
        return {
            "format_version": CONTRACT_FORMAT_VERSION,
            "name": self.name,
            "task": self.task,
            "channels": list(self.channels),
            "spatial_dims": self.spatial_dims,
            "orientation": self.orientation,
            "target_spacing": None if self.target_spacing is None else list(self.target_spacing),
            "normalization": self.normalization,
            "roi_size": list(self.roi_size),
            "overlap": self.overlap,
            "blend_mode": self.blend_mode,
            "crop_foreground": self.crop_foreground,
            "output_kind": self.output_kind,
            "output_channels": list(self.output_channels),
            "threshold": self.threshold,
            "label_rules": [[r, v] for r, v in self.label_rules],
            "class_labels": list(self.class_labels),
            "label_convention": self.label_convention,
            "label_names": {str(k): v for k, v in self.label_names.items()},
            "network": self.network.to_dict(),
            "trained_on": self.trained_on,
            "is_trained": self.is_trained,
            "description": self.description,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ModelContract:
        """Build (and validate) a contract from :meth:`to_dict` output.

        Raises
        ------
        InvalidInputError
            When a field is missing or invalid, or the format is newer than this napari-medai.
        """
        if not isinstance(d, Mapping):
            raise InvalidInputError("a model contract must be a JSON object")
        version = int(d.get("format_version", 1))
        if version > CONTRACT_FORMAT_VERSION:
            raise InvalidInputError(
                f"model contract format {version} is newer than this napari-medai understands "
                f"({CONTRACT_FORMAT_VERSION}); upgrade napari-medai"
            )
        kind = str(d.get("kind", "segmentation"))
        if kind not in MODEL_KINDS:
            raise InvalidInputError(
                f"model kind {kind!r} is not one this napari-medai knows ({', '.join(MODEL_KINDS)}); upgrade "
                "napari-medai or use the command of the model's task"
            )
        required = ("name", "task", "channels", "output_kind", "output_channels", "network", "roi_size")
        if kind == "segmentation":
            required = (*required, "label_convention")
        missing = [k for k in required if k not in d]
        if missing:
            raise InvalidInputError(f"model contract lacks {', '.join(missing)}")
        sp = d.get("target_spacing")
        return cls(
            name=str(d["name"]),
            task=str(d["task"]),
            channels=tuple(d["channels"]),
            output_kind=d["output_kind"],
            output_channels=tuple(d["output_channels"]),
            label_convention=str(d.get("label_convention", "")),
            label_names={int(k): str(v) for k, v in dict(d.get("label_names") or {}).items()},
            network=NetworkSpec.from_dict(d["network"]),
            roi_size=tuple(d["roi_size"]),
            spatial_dims=int(d.get("spatial_dims", 3)),
            target_spacing=None if sp is None else tuple(sp),
            orientation=str(d.get("orientation", "storage")),
            normalization=str(d.get("normalization", "zscore-nonzero")),
            threshold=float(d.get("threshold", 0.5)),
            label_rules=tuple((str(r), int(v)) for r, v in d.get("label_rules") or ()),
            class_labels=tuple(int(c) for c in d.get("class_labels") or ()),
            overlap=float(d.get("overlap", 0.5)),
            blend_mode=str(d.get("blend_mode", "constant")),
            crop_foreground=bool(d.get("crop_foreground", False)),
            trained_on=str(d.get("trained_on", "")),
            is_trained=bool(d.get("is_trained", False)),
            description=str(d.get("description", "")),
            kind=kind,  # type: ignore[arg-type]
            decision_thresholds=tuple(float(t) for t in d.get("decision_thresholds") or ()),
            input_mode=str(d.get("input_mode", "whole")),
            patch_source=str(d.get("patch_source", "")),
            landmark_points=tuple(tuple(float(v) for v in p) for p in d.get("landmark_points") or ()),
            brain_region=str(d.get("brain_region", LEGACY_BRAIN_REGION)),
        )


def opposite(letter: str) -> str:
    """The opposite orientation letter (``"R"`` -> ``"L"``)."""
    return _ORIENT_LETTERS[letter]


def orientation_axis(letter: str) -> int:
    """Patient axis of an orientation letter: 0 for R/L, 1 for A/P, 2 for S/I."""
    return _AXIS_OF[letter]


def check_channels_listed(channels: Sequence[str]) -> tuple[str, ...]:
    """Canonical, distinct channel names (helper for task code)."""
    out = tuple(canonical_channel(c) for c in channels)
    if len(set(out)) != len(out):
        raise InvalidInputError(f"channel names {list(channels)} repeat a sequence")
    return out
