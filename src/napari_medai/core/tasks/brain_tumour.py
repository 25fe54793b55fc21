"""Brain-tumour segmentation with a trained network: find cases, train, segment.

Case folders
------------
:func:`find_cases` looks for one sub-folder per case (or a single case folder) and recognises the
files of three naming layouts (case-insensitive; any image format napari-medai reads):

=========== ======================================= ============== =============== ==========
layout      channels                                label map      brain mask      convention
=========== ======================================= ============== =============== ==========
BraTS 2013  ``Flair_*``, ``T1c_*``, ``T1_*``, ``T2_*`` ``OTMultiClass*`` ``brainmask*`` brats2013
BraTS 2021  ``*_flair``, ``*_t1``, ``*_t1ce``, ``*_t2`` ``*_seg``     --              brats2021
BraTS 2023  ``*-t2f``, ``*-t1n``, ``*-t1c``, ``*-t2w``  ``*-seg``     --              brats2023
=========== ======================================= ============== =============== ==========

Training targets: regions, not labels
-------------------------------------
Labels are turned into the three nested BraTS regions -- whole tumour (WT), tumour core (TC) and
enhancing tumour (ET) -- each a sigmoid output, as in the MONAI BraTS bundle. Regions exist in
every BraTS convention (2013, 2021, 2023 and MSD), so cases of different conventions can be
pooled, and they are what BraTS ranks. The output map is written in the data's convention
(the convention shared by all training cases, else BraTS 2021): ET -> the enhancing label,
else TC -> the necrosis / NCR label (1), else WT -> the oedema label (2). In BraTS 2013 data the
non-enhancing label 3 is therefore never predicted: non-enhancing core comes out as 1
(necrosis), which leaves the WT/TC/ET regions, but not that label-wise split, intact.

Default recipe (:data:`DEFAULT_RECIPE`)
---------------------------------------
SegResNet (``init_filters`` 8, blocks 1-2-2-4), working at 2 mm isotropic on the brain's
bounding box (reoriented RAS), 64^3 patches (12.8 cm), batch 2, 40 steps per epoch, AdamW 2e-3,
every case training (no validation split; ``val_fraction`` adds one, with early stopping after 8
epochs without improvement), and a wall-time budget of 40 minutes -- sized to finish on 4 BraTS
cases on 2 CPU cores in under 45 minutes.
Inference uses 96^3 windows with Gaussian blending.

Intensities and the input check
-------------------------------
New models find the brain by the ``"constant-background"`` rule (:mod:`napari_medai.core.intensity`):
one region where any sequence differs from its constant background, so a case gives the same network
input whether its files are z-scored with a constant background (BraTS 2013) or raw with a zero
background (BraTS 2021/2023, TCGA); a case's ``brainmask*`` is then not needed (on BraTS 2013 the rule
reproduces it exactly). Folders trained before keep their per-channel rule. Training stores the
reference statistics of the out-of-distribution check (:mod:`napari_medai.core.ood`) in the model
folder; :func:`segment` returns its verdict in ``Prediction.quality``.

The nnU-Net-style ``augmentation="strong"`` and the time-budget learning-rate schedule
(``lr_schedule="time"``) are available but not the default: in the leave-one-case-out comparison of
``benchmarks/brats_recipe_cv.py`` on the four shared BraTS 2013 cases (14 minutes of one core per fold,
about 10 epochs) the two together gave a mean held-out WT Dice of 0.577 against the default's 0.663
(worse on 3 of 4 folds); strong augmentation slows learning, which a short CPU budget cannot repay.
``augmentation="contrast"`` (a random monotone intensity remapping, gamma and bias field drawn per
sequence, no spatial change: aimed at pat0005, whose bright cortex the default model calls oedema) gave
0.645 / 0.389 / 0.353 (WT / TC / ET, plain prediction; default 0.663 / 0.406 / 0.486) and still failed on
pat0005 (WT 0.168), so it is not the default either.
The inference settings the same folds chose are :data:`DEFAULT_INFERENCE`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..callbacks import MetricsFn, ProgressFn, StopFn
from ..errors import InvalidInputError
from ..models.contract import ModelContract, NetworkSpec, canonical_channel
from ..models.registry import DEFAULT_BRAIN_MODEL
from ..volume import Volume

__all__ = [
    "CHANNEL_ORDER",
    "DEFAULT_INFERENCE",
    "DEFAULT_RECIPE",
    "LAYOUTS",
    "BrainTumourCase",
    "brain_tumour_task",
    "CasesSummary",
    "common_channels",
    "describe_cases",
    "drop_small_components",
    "find_cases",
    "label_rules_for",
    "segment",
    "train_brain_tumour",
]

#: Order of the channels fed to the network (that of the MONAI BraTS bundle), restricted to those present.
CHANNEL_ORDER: tuple[str, ...] = ("t1c", "t1", "t2", "flair")

#: Training settings of the default recipe (keyword arguments of :func:`train_brain_tumour`).
DEFAULT_RECIPE: dict[str, Any] = {
    "init_filters": 8,
    "target_spacing": (2.0, 2.0, 2.0),
    "patch_size": (64, 64, 64),
    "roi_size": (96, 96, 96),
    "batch_size": 2,
    "iterations_per_epoch": 40,
    "max_epochs": 60,
    "patience": 8,
    "learning_rate": 2e-3,
    # every labelled case trains: the recipe the leave-one-case-out CV measured. With four cases, one held
    # out for validation costs a quarter of the data and picks the epoch by one noisy case (pat0005 as
    # that case peaked at WT 0.27 and stopped the run early); pass val_fraction for larger cohorts
    "val_fraction": 0.0,
    "time_limit_s": 40 * 60.0,
}

#: Inference settings of :func:`segment` chosen by the leave-one-case-out cross-validation on the four
#: shared BraTS 2013 cases (``benchmarks/brats_recipe_cv.py``): averaging the 8 flipped copies raised the
#: held-out WT Dice in 3 of 4 folds, and dropping tumour components smaller than a tenth of the largest
#: never lowered it (README, "Results on real data"). ``tta=False`` / ``min_component_fraction=0`` turn
#: them off.
DEFAULT_INFERENCE: dict[str, Any] = {"tta": True, "min_component_fraction": 0.1}

# role -> test on the lower-cased file stem, per layout
_LAYOUT_RULES: dict[str, dict[str, Callable[[str], bool]]] = {
    "brats2013": {
        "flair": lambda s: s == "flair" or s.startswith("flair_"),
        "t1c": lambda s: s == "t1c" or s.startswith("t1c_"),
        "t1": lambda s: s == "t1" or s.startswith("t1_"),
        "t2": lambda s: s == "t2" or s.startswith("t2_"),
        "label": lambda s: s.startswith("otmulticlass"),
        "brainmask": lambda s: s.startswith("brainmask"),
    },
    "brats2021": {
        "flair": lambda s: s.endswith("_flair"),
        "t1": lambda s: s.endswith("_t1"),
        "t1c": lambda s: s.endswith("_t1ce"),
        "t2": lambda s: s.endswith("_t2"),
        "label": lambda s: s.endswith("_seg"),
    },
    "brats2023": {
        "flair": lambda s: s.endswith("-t2f"),
        "t1": lambda s: s.endswith("-t1n"),
        "t1c": lambda s: s.endswith("-t1c"),
        "t2": lambda s: s.endswith("-t2w"),
        "label": lambda s: s.endswith("-seg"),
    },
}
#: Human description of the recognised names, per layout (for error messages).
LAYOUTS: dict[str, str] = {
    "brats2013": "BraTS 2013: Flair_*, T1c_*, T1_*, T2_*, OTMultiClass* (labels), brainmask*",
    "brats2021": "BraTS 2021: *_flair, *_t1, *_t1ce, *_t2, *_seg",
    "brats2023": "BraTS 2023: *-t2f, *-t1n, *-t1c, *-t2w, *-seg",
}


@dataclass
class BrainTumourCase:
    """One case folder found by :func:`find_cases`.

    Attributes
    ----------
    name
        Case name (the folder name).
    folder
        The case folder.
    layout
        ``"brats2013"``, ``"brats2021"`` or ``"brats2023"`` (which also names the label convention).
    channels
        ``{canonical channel: file}`` (``flair``, ``t1``, ``t1c``, ``t2``).
    label
        The label map, if any.
    brainmask
        The brain mask, if any.
    """

    name: str
    folder: Path
    layout: str
    channels: dict[str, Path] = field(default_factory=dict)
    label: Path | None = None
    brainmask: Path | None = None

    @property
    def convention(self) -> str:
        return self.layout

    def to_training_case(self, channels: Sequence[str] | None = None) -> Any:
        """A :class:`~napari_medai.core.training.TrainingCase` of this case."""
        from ..training import TrainingCase

        if self.label is None:
            raise InvalidInputError(f"case {self.name!r} ({self.folder}) has no label map; it cannot be trained on")
        use = list(channels) if channels is not None else list(self.channels)
        return TrainingCase(name=self.name, channels={c: self.channels[c] for c in use}, label=self.label,
                            convention=self.convention, brainmask=self.brainmask)


def _classify(folder: Path) -> BrainTumourCase | None:
    from ..io.names import image_files_in, split_extension

    files = image_files_in(folder)
    best: tuple[int, str, dict[str, list[Path]]] | None = None
    for layout, rules in _LAYOUT_RULES.items():
        found: dict[str, list[Path]] = {}
        for f in files:
            stem = split_extension(f)[0].lower()
            for role, test in rules.items():
                if test(stem):
                    found.setdefault(role, []).append(f)
                    break
        n = sum(len(v) for k, v in found.items() if k in CHANNEL_ORDER)
        if n and (best is None or n > best[0]):
            best = (n, layout, found)
    if best is None:
        return None
    _, layout, found = best
    for role, paths in found.items():
        if len(paths) > 1:
            raise InvalidInputError(
                f"{folder}: several files look like the {role} of one case ({', '.join(p.name for p in paths)}); "
                "keep one per case folder"
            )
    return BrainTumourCase(
        name=folder.name, folder=folder, layout=layout,
        channels={c: found[c][0] for c in CHANNEL_ORDER if c in found},
        label=found["label"][0] if "label" in found else None,
        brainmask=found["brainmask"][0] if "brainmask" in found else None,
    )


def find_cases(data_dir: str | os.PathLike[str], *, require_labels: bool = False) -> list[BrainTumourCase]:
    """The brain-tumour cases under ``data_dir`` (one sub-folder per case, or a single case folder).

    Parameters
    ----------
    data_dir
        Folder of case folders (see the module docstring for the recognised file names).
    require_labels
        Raise when a case has no label map (training needs them).

    Returns
    -------
    list of BrainTumourCase
        Sorted by name.

    Raises
    ------
    InvalidInputError
        When the folder is missing, holds no recognisable case, a case folder is ambiguous, or
        (with ``require_labels``) labels are missing; the message lists the expected names.
    """
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"{root}: no such folder; give the folder that holds one sub-folder per case")
    cases = []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        c = _classify(sub)
        if c is not None:
            cases.append(c)
    if not cases:
        single = _classify(root)
        if single is not None:
            cases = [single]
    if not cases:
        raise InvalidInputError(
            f"{root}: no brain-tumour case found. Put each case in its own sub-folder with files named as in "
            + "; or ".join(LAYOUTS.values())
        )
    if require_labels:
        unlabelled = [c.name for c in cases if c.label is None]
        if unlabelled:
            raise InvalidInputError(
                f"{root}: case(s) without a label map: {', '.join(unlabelled)}; training needs one per case "
                "(OTMultiClass*, *_seg or *-seg)"
            )
    return cases


def common_channels(cases: Sequence[BrainTumourCase]) -> tuple[str, ...]:
    """The channels present in every case, in :data:`CHANNEL_ORDER`."""
    if not cases:
        raise InvalidInputError("no cases given")
    common = [c for c in CHANNEL_ORDER if all(c in cs.channels for cs in cases)]
    if not common:
        have = {cs.name: sorted(cs.channels) for cs in cases}
        raise InvalidInputError(f"no MR sequence is present in every case: {have}")
    return tuple(common)


def label_rules_for(convention: str) -> tuple[tuple[tuple[str, int], ...], dict[int, str]]:
    """``(label_rules, label_names)`` turning WT/TC/ET regions into a BraTS convention's labels."""
    from ..metrics import CONVENTIONS

    if convention not in ("brats2013", "brats2021", "brats2023"):
        raise InvalidInputError(
            f"brain-tumour output can be written as brats2013, brats2021 or brats2023 labels, not {convention!r}"
        )
    conv = CONVENTIONS[convention]
    et = 3 if convention == "brats2023" else 4
    rules = (("ET", et), ("TC", 1), ("WT", 2))
    return rules, dict(conv.labels)


def brain_tumour_task(
    channels: Sequence[str],
    *,
    convention: str = "brats2021",
    init_filters: int = DEFAULT_RECIPE["init_filters"],
    target_spacing: Sequence[float] | None = DEFAULT_RECIPE["target_spacing"],
    roi_size: Sequence[int] = DEFAULT_RECIPE["roi_size"],
    name: str = "brain-tumour-segresnet",
    brain_region: str = "constant-background",
) -> Any:
    """The :class:`~napari_medai.core.training.TaskSpec` of a brain-tumour model on ``channels``.

    Parameters
    ----------
    channels
        MR sequences the model takes (canonical names or aliases), ordered as :data:`CHANNEL_ORDER`.
    convention
        Label convention of the output map (the training data's).
    init_filters
        SegResNet width (a multiple of 8).
    target_spacing
        Working voxel size in mm (``None``: the data's own).
    roi_size
        Inference window (voxels at ``target_spacing``).
    name
        Model name.
    brain_region
        How the brain region is found for the normalisation (:data:`napari_medai.core.intensity.BRAIN_REGIONS`);
        the default, one region where any sequence differs from its constant background, gives the same
        input for BraTS 2013 files (z-scored, constant background) and raw files (background 0).
    """
    from ..training import TaskSpec

    chans = tuple(canonical_channel(c) for c in channels)
    unknown = [c for c in chans if c not in CHANNEL_ORDER]
    if unknown:
        raise InvalidInputError(f"unknown MR sequence(s) {unknown}; brain-tumour models take {', '.join(CHANNEL_ORDER)}")
    chans = tuple(c for c in CHANNEL_ORDER if c in chans)
    if int(init_filters) < 8 or int(init_filters) % 8:
        raise InvalidInputError(f"init_filters must be a multiple of 8 (group norm), got {init_filters}")
    rules, names = label_rules_for(convention)
    contract = ModelContract(
        name=name, task="brain_tumour", channels=chans, output_kind="sigmoid-regions",
        output_channels=("TC", "WT", "ET"), label_convention=convention, label_names=names,
        network=NetworkSpec("SegResNet", {
            "spatial_dims": 3, "blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1],
            "init_filters": int(init_filters), "in_channels": len(chans), "out_channels": 3,
            "dropout_prob": 0.2,
        }),
        roi_size=tuple(int(r) for r in roi_size),
        target_spacing=None if target_spacing is None else tuple(float(s) for s in target_spacing),
        orientation="RAS", normalization="zscore-nonzero", brain_region=brain_region, threshold=0.5,
        label_rules=rules,
        overlap=0.5, blend_mode="gaussian", crop_foreground=True,
        description="napari-medai brain-tumour SegResNet (sigmoid WT/TC/ET regions)",
    )
    return TaskSpec(contract=contract, description="brain tumour: WT/TC/ET regions from BraTS-style labels")


def train_brain_tumour(
    data_dir: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str],
    cases: Sequence[BrainTumourCase] | None = None,
    seed: int = 0,
    max_epochs: int | None = None,
    device: str = "auto",
    resume: bool = False,
    trained_on: str | None = None,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    channels: Sequence[str] | None = None,
    convention: str | None = None,
    on_epoch: MetricsFn | None = None,
    on_step: Callable[[int, int, int, float], None] | None = None,
    stop_training: StopFn | None = None,
    **recipe: Any,
) -> Any:
    """Train a brain-tumour model on the cases of ``data_dir`` with the default recipe.

    Parameters
    ----------
    data_dir
        Folder of case folders (:func:`find_cases`).
    out_dir
        Model folder to write.
    cases
        Use these cases (e.g. a subset of :func:`find_cases`) instead of all in ``data_dir``.
    seed, max_epochs, device, resume, progress, should_stop, on_epoch, on_step, stop_training
        See :func:`napari_medai.core.training.train` (``max_epochs`` defaults to the recipe's).
    channels
        MR sequences the model takes (default: those present in every case, :func:`common_channels`);
        each must be present in every case.
    convention
        Label convention of the model's output map (default: the cases' convention when they share
        one, else BraTS 2021); the training targets are WT/TC/ET regions in any case.
    trained_on
        Description of the data for ``model.json`` (default: layout, folder and case names).
    **recipe
        Overrides of :data:`DEFAULT_RECIPE` (e.g. ``patch_size``, ``init_filters``,
        ``time_limit_s``, ``val_fraction``, ``iterations_per_epoch``).

    Returns
    -------
    TrainingResult
    """
    from ..training import train

    unknown = sorted(set(recipe) - set(DEFAULT_RECIPE) - {"batch_size", "pos_fraction", "val_overlap",
                                                            "weight_decay", "amp", "deterministic", "model_name",
                                                            "num_threads", "augmentation", "brain_region",
                                                            "lr_schedule"})
    if unknown:
        raise InvalidInputError(f"unknown recipe option(s) {unknown}; known: {', '.join(sorted(DEFAULT_RECIPE))}")
    r = {**DEFAULT_RECIPE, **recipe}
    if max_epochs is not None:
        r["max_epochs"] = int(max_epochs)
    found = list(cases) if cases is not None else find_cases(data_dir, require_labels=True)
    for c in found:
        if c.label is None:
            raise InvalidInputError(f"case {c.name!r} has no label map; it cannot be trained on")
    chans = common_channels(found)
    if channels is not None:
        chosen = [canonical_channel(c) for c in channels]
        if not chosen:
            raise InvalidInputError("no MR sequence chosen; choose at least one of " + ", ".join(chans))
        for ch in chosen:
            missing = [c.name for c in found if ch not in c.channels]
            if missing:
                raise InvalidInputError(
                    f"{ch} is missing in case(s) {', '.join(missing)}; leave it out or add its file to those cases "
                    f"(sequences present in every case: {', '.join(chans)})"
                )
        chans = tuple(c for c in CHANNEL_ORDER if c in chosen)
    conventions = sorted({c.convention for c in found})
    if convention is None:
        convention = conventions[0] if len(conventions) == 1 else "brats2021"
    task = brain_tumour_task(chans, convention=convention, init_filters=r.pop("init_filters"),
                             target_spacing=r.pop("target_spacing"), roi_size=r.pop("roi_size"),
                             name=r.pop("model_name", "brain-tumour-segresnet"),
                             brain_region=r.pop("brain_region", "constant-background"))
    desc = trained_on or (
        f"{len(found)} {'/'.join(LAYOUTS[c].split(':')[0] for c in conventions)} case(s) from "
        f"{Path(data_dir).name}: {', '.join(c.name for c in found)} (channels {', '.join(chans)})"
    )
    return train(task, [c.to_training_case(chans) for c in found], out_dir=out_dir, seed=seed, device=device,
                 resume=resume, trained_on=desc, progress=progress, should_stop=should_stop, on_epoch=on_epoch,
                 on_step=on_step, stop_training=stop_training, **r)


def segment(
    channels: Mapping[str, Volume] | Sequence[Volume],
    *,
    model: Any = DEFAULT_BRAIN_MODEL,
    brainmask: Volume | None = None,
    convention: str | None = None,
    device: str = "auto",
    tta: bool | int = DEFAULT_INFERENCE["tta"],
    uncertainty: str | None = "variance",
    return_probabilities: bool = False,
    min_component_fraction: float | None = DEFAULT_INFERENCE["min_component_fraction"],
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> Any:
    """Segment a brain tumour with a trained model.

    Parameters
    ----------
    channels
        ``{"flair": Volume, "t1c": Volume, ...}`` on one grid (names as in
        :data:`~napari_medai.core.models.CHANNEL_ALIASES`), at least the model's channels.
    model
        :class:`~napari_medai.core.models.LoadedModel`, registry name or path (default: the
        packaged default model).
    brainmask
        Optional brain mask (normalisation inside it; labels outside it are set to 0).
    convention
        Write the labels in this BraTS convention instead of the model's (region models only).
    device, tta, uncertainty, return_probabilities, progress, should_stop
        See :func:`napari_medai.core.inference.segmentation.predict`.
    min_component_fraction
        Post-processing: drop tumour components smaller than this fraction of the largest one
        (:func:`drop_small_components`); ``None`` or 0 keeps everything. ``tta`` and this default to
        :data:`DEFAULT_INFERENCE` (flip TTA on, 0.1), the settings the cross-validation chose.

    Returns
    -------
    Prediction
        Label map on the input grid (``meta["model"]``, ``meta["convention"]``), region volumes in ml,
        and ``quality``: whether the input is like the model's training cases (:class:`~napari_medai.core.ood.Quality`).
    """
    from ..inference.segmentation import predict
    from ..models.loading import LoadedModel, load_model

    lm = load_model(model)
    c = lm.contract
    if c.task != "brain_tumour":
        raise InvalidInputError(f"model {c.name!r} is a {c.task!r} model, not a brain-tumour model")
    if convention is not None and convention != c.label_convention:
        if c.output_kind != "sigmoid-regions" or set(c.output_channels) != {"TC", "WT", "ET"}:
            raise InvalidInputError(
                f"model {c.name!r} outputs {c.label_convention} labels directly; it cannot write {convention}"
            )
        rules, names = label_rules_for(convention)
        lm = LoadedModel(contract=c.with_changes(label_rules=rules, label_names=names, label_convention=convention),
                         network=lm.network, source=lm.source, path=lm.path, weights_format=lm.weights_format,
                         info=lm.info, notes=list(lm.notes))
    pred = predict(lm, channels, device=device, tta=tta, uncertainty=uncertainty, brainmask=brainmask,
                   return_probabilities=return_probabilities, progress=progress, should_stop=should_stop)
    if not min_component_fraction:
        return pred
    import dataclasses

    from ..inference.labels import region_volumes_ml

    labels, n_dropped = drop_small_components(pred.labels, fraction=min_component_fraction)
    regions, per_label = region_volumes_ml(labels, labels.meta.get("convention", lm.contract.label_convention))
    note = (f"dropped {n_dropped} tumour component(s) smaller than {min_component_fraction:g} of the largest"
            if n_dropped else "no tumour component was small enough to drop")
    return dataclasses.replace(pred, labels=labels, region_volumes_ml=regions, label_volumes_ml=per_label,
                               notes=[*pred.notes, note])


def drop_small_components(labels: Volume, *, fraction: float) -> tuple[Volume, int]:
    """Remove tumour components (26-connected, all labels together) smaller than ``fraction`` of the
    largest one.

    Scattered false-positive blobs far from the tumour inflate HD95 although they hardly change
    Dice; a glioma is usually one connected lesion. Satellite lesions smaller than the threshold
    are removed too (the caller, the command line and the widget say how many); :func:`segment` applies
    it by default with ``fraction`` 0.1 (:data:`DEFAULT_INFERENCE`: it raised WT Dice on 3 of 4
    cross-validation folds), and ``min_component_fraction=0`` turns it off.

    Returns
    -------
    (Volume, int)
        The cleaned label map (``meta["postprocessing"]`` says what was done) and the number of
        components removed.
    """
    import numpy as np
    from scipy import ndimage as ndi

    if not 0.0 < float(fraction) <= 1.0:
        raise InvalidInputError(f"min_component_fraction must lie in (0, 1], got {fraction}")
    data = np.asarray(labels.data)
    cc, n = ndi.label(data > 0, structure=np.ones((3,) * data.ndim, dtype=bool))
    if n <= 1:
        return labels, 0
    sizes = np.bincount(cc.ravel())
    sizes[0] = 0
    keep = sizes >= float(fraction) * sizes.max()
    keep[0] = False
    out = np.where(keep[cc], data, 0).astype(data.dtype)
    dropped = int(n - (keep.sum()))
    meta = {**labels.meta, "postprocessing": f"components < {fraction:g} x largest removed ({dropped})"}
    return labels.with_data(out, meta=meta), dropped


@dataclass
class CasesSummary:
    """What a folder of training cases holds, in words (:func:`describe_cases`).

    Attributes
    ----------
    text
        One paragraph: how many cases, their naming layout, the sequences every case has, those
        only some have, and which cases lack a label map (with the fix).
    ok
        True when every case can be trained on (each has a label map).
    channels
        The sequences present in every case (:func:`common_channels`), in :data:`CHANNEL_ORDER`.
    rows
        One line per case: ``"<name>: T1c, FLAIR + labels"`` (or ``", NO LABEL MAP"``).
    """

    text: str
    ok: bool
    channels: tuple[str, ...]
    rows: list[str]


def describe_cases(cases: Sequence[BrainTumourCase]) -> CasesSummary:
    """Describe the cases of a data folder (from :func:`find_cases`) for a reader choosing what to train on.

    Raises
    ------
    InvalidInputError
        No case, or no sequence present in every case (:func:`common_channels`).
    """
    from ..model_inputs import channel_label

    common = common_channels(cases)
    rows = [f"{c.name}: {', '.join(channel_label(s) for s in c.channels)}"
            + (" + labels" if c.label is not None else ", NO LABEL MAP") for c in cases]
    layouts = sorted({LAYOUTS[c.layout].split(":")[0] for c in cases})
    text = (f"{len(cases)} case(s), {' + '.join(layouts)} file names; sequences in every case: "
            + ", ".join(channel_label(s) for s in common))
    partial = [f"{channel_label(s)} (missing in {', '.join(c.name for c in cases if s not in c.channels)})"
               for s in CHANNEL_ORDER if s not in common and any(s in c.channels for c in cases)]
    if partial:
        text += ". Not offered, as some cases lack it: " + "; ".join(partial)
    unlabelled = [c.name for c in cases if c.label is None]
    if unlabelled:
        text += (f". No label map in {', '.join(unlabelled)}: add one per case (*_seg, *-seg or OTMultiClass*) "
                 "or move those cases out of the folder")
    return CasesSummary(text=text, ok=not unlabelled, channels=common, rows=rows)
