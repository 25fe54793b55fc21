"""Training a radiograph classifier on labelled folders: :func:`train_classify`.

The review's recipe: images labelled by the folder they sit in, a CNN trained with a cross-entropy
cost (binary cross-entropy per finding for multi-label data) by back-propagation, part of the data
held out for validation. It runs on the engine's one loop
(:func:`~napari_medai.core.training.run_training`) with the classification recipe
(:class:`~napari_medai.core.recipes.ClassificationRecipe`): class-balanced sampling, the radiograph
augmentation (small rotations and scaling, brightness / contrast, no flips), early stopping on the
validation AUC, a checkpoint per epoch (stop and resume), a time budget, and the model folder
(``model.pt`` + ``model.json``: classes, input size and normalisation, the training data summary,
per-epoch loss and AUC).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any

from ...callbacks import ProgressFn, StopFn
from ...errors import InvalidInputError
from .datasets import FolderDataset, find_class_folders, group_split, read_labels_csv
from .networks import (
    ARCHITECTURES,
    DEFAULT_ARCH,
    DEFAULT_SIZE,
    classify_contract,
    head_prefix,
)
from .transfer import init_state

__all__ = ["DEFAULTS", "load_dataset", "train_classify"]

#: The default recipe (what ``napari-medai train classify --data DIR --out MODEL`` runs).
DEFAULTS: dict[str, Any] = {
    "arch": DEFAULT_ARCH, "size": DEFAULT_SIZE, "batch_size": 32, "learning_rate": 1e-3, "weight_decay": 1e-4,
    "max_epochs": 30, "patience": 6, "val_fraction": 0.2, "augment": "radiograph",
    # the command line's budget (train_classify itself has none unless given): fits 2 CPU cores' hour
    "time_limit_s": 45 * 60,
}


def load_dataset(data: str | os.PathLike[str] | FolderDataset, labels_csv: str | os.PathLike[str] | None = None
                 ) -> FolderDataset:
    """A :class:`FolderDataset` from class folders, or from a labels CSV (multi-label) with images under ``data``."""
    if isinstance(data, FolderDataset):
        return data
    if labels_csv is not None:
        return read_labels_csv(labels_csv, data)
    return find_class_folders(data)


def _case_names(paths: list[str], root: Path) -> list[str]:
    out = []
    for p in paths:
        try:
            out.append(str(Path(p).relative_to(root)))
        except ValueError:
            out.append(str(p))
    return out


def train_classify(
    data_dir: str | os.PathLike[str] | FolderDataset,
    out_dir: str | os.PathLike[str],
    *,
    arch: str = DEFAULTS["arch"],
    size: int = DEFAULTS["size"],
    init_from: str | os.PathLike[str] | None = None,
    finetune: str = "all",
    groups: Callable[[str], Hashable] | None = None,
    labels_csv: str | os.PathLike[str] | None = None,
    val_fraction: float = DEFAULTS["val_fraction"],
    max_epochs: int = DEFAULTS["max_epochs"],
    time_limit_s: float | None = None,
    seed: int = 0,
    device: str = "auto",
    resume: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
    batch_size: int = DEFAULTS["batch_size"],
    steps_per_epoch: int | None = None,
    learning_rate: float = DEFAULTS["learning_rate"],
    weight_decay: float = DEFAULTS["weight_decay"],
    patience: int = DEFAULTS["patience"],
    augment: str = DEFAULTS["augment"],
    num_threads: int | None = None,
    model_name: str | None = None,
    on_step: Callable[[int, int, int, float], None] | None = None,
    stop_training: StopFn | None = None,
) -> Any:
    """Train a 2-D classifier on a labelled folder (or a labels CSV) into the model folder ``out_dir``.

    Parameters
    ----------
    data_dir
        A folder with one sub-folder per class (optionally ``train/``, ``val/``, ``test/`` above them),
        the folder holding the images of ``labels_csv``, or a :class:`FolderDataset`.
    out_dir
        The model folder to write; a folder holding this run resumes when ``resume`` is True.
    arch, size
        One of :data:`~napari_medai.core.tasks.classify.ARCHITECTURES`; input edge in pixels.
    init_from
        Transfer learning: a model folder of the same architecture, a torchvision / MONAI state_dict
        file, a torchxrayvision DenseNet state_dict (all read with ``weights_only=True``), or torchxrayvision's
        published pickled DenseNets (``xrv:<name>`` or the file; read through :mod:`.xrv`'s stand-ins, their
        first layer adapted to z-scored images by :func:`~.xrv.zscore_input_adapter`).
    finetune
        ``"all"`` layers, or only the ``"head"`` (the last linear layer).
    groups
        ``groups(path) -> id``: images of one group (one patient) stay on one side of the split.
    labels_csv
        Multi-label data: a CSV of image -> findings (sigmoid outputs, binary cross-entropy).
    val_fraction
        Share of the training groups held out for validation when the data have no ``val/`` folder.
        ``test/`` images are never used here.
    max_epochs, patience, time_limit_s
        Epoch limit, epochs without a better validation AUC before stopping, wall-time budget (s).
    seed, device, resume, progress, should_stop, on_epoch, on_step, stop_training, num_threads
        As for :func:`~napari_medai.core.training.run_training`.
    batch_size, steps_per_epoch, learning_rate, weight_decay, augment
        Images per step; steps per epoch (default: one pass over the training images); AdamW
        settings; ``"radiograph"``, ``"flips"`` or ``"none"``.

    Returns
    -------
    napari_medai.core.training.ClassifierTrainingResult
    """
    from ...device import resolve_device
    from ...models.loading import build_network
    from ...recipes.classification import ClassificationCase, ClassificationRecipe
    from ...training import ClassifierTrainingResult, EpochRecord, run_training

    t_start = time.perf_counter()
    if arch not in ARCHITECTURES:
        raise InvalidInputError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    if finetune not in ("all", "head"):
        raise InvalidInputError(f"finetune must be 'all' or 'head', got {finetune!r}")
    if finetune == "head" and init_from is None:
        raise InvalidInputError("finetune='head' trains only the last layer: give init_from (the model to start from)")
    for name, val in (("max_epochs", max_epochs), ("batch_size", batch_size), ("patience", patience)):
        if int(val) < 1:
            raise InvalidInputError(f"{name} must be >= 1, got {val}")
    if time_limit_s is not None and not float(time_limit_s) > 0:
        raise InvalidInputError(f"time_limit_s must be > 0 seconds, got {time_limit_s}")
    ds = load_dataset(data_dir, labels_csv)
    contract = classify_contract(ds.classes, arch=arch, size=size, multilabel=ds.multilabel, name=model_name)

    named = bool(ds.splits)
    train_items = ds.subset("train") if named else list(ds.items)
    val_items = ds.subset("val") if named else []
    n_test = len(ds.subset("test")) if named else 0
    if not val_items:
        tr, va = group_split(train_items, val_fraction=val_fraction, seed=seed, groups=groups)
        train_items, val_items = [train_items[i] for i in tr], [train_items[i] for i in va]
        how = (f"{val_fraction:.0%} of the " + ("groups" if groups is not None else "images") + f" (seed {seed})"
               if val_items else "none")
    else:
        how = "the val/ folder"
    if groups is not None and val_items:
        overlap = {groups(p) for p, _ in train_items} & {groups(p) for p, _ in val_items}
        if overlap:
            raise InvalidInputError(f"{len(overlap)} group(s) have images in both train/ and val/ "
                                    f"(e.g. {sorted(map(str, overlap))[0]}); keep each patient in one folder")
    root = ds.root
    tr_names = _case_names([p for p, _ in train_items], root)
    va_names = _case_names([p for p, _ in val_items], root)
    cases = [ClassificationCase(n, p, list(y) if ds.multilabel else y)
             for n, (p, y) in zip(tr_names + va_names, train_items + val_items)]
    counts = {"train": _count(train_items, ds), "validation": _count(val_items, ds)}
    data_summary = {
        "root": str(root), "labels_csv": None if labels_csv is None else str(Path(labels_csv).resolve()),
        "classes": list(ds.classes), "multilabel": ds.multilabel, "n_train": len(train_items),
        "n_validation": len(val_items), "n_test_not_used": n_test, "per_class": counts,
        "validation_from": how, "grouped": groups is not None,
        "groups": None if groups is None else {"train": len({groups(p) for p, _ in train_items}),
                                               "validation": len({groups(p) for p, _ in val_items})},
    }
    init, init_report = None, None
    if init_from is not None:
        init, init_report = init_state(init_from, build_network(contract.network), arch, ds.classes)
        if init_report["source"].startswith("torchxrayvision"):  # it saw [-1024, 1024], not z-scores
            from .predict import as_radiograph
            from .xrv import zscore_input_adapter

            sample = [p for p, _ in train_items[:: max(1, len(train_items) // 32)]][:32]
            init, init_report["input_adapter"] = zscore_input_adapter(
                init, [as_radiograph(p).data for p in sample])
    steps = int(steps_per_epoch) if steps_per_epoch is not None else max(1, math.ceil(len(train_items) / int(batch_size)))
    dev = resolve_device(device)
    trained_on = (f"{len(train_items)} images of {root.name} ({', '.join(f'{c} {n}' for c, n in counts['train'].items())})"
                  + (", transfer from " + init_report["source"] if init_report else ""))
    recipe = ClassificationRecipe(
        contract, cases, train_names=tr_names, val_names=va_names, seed=seed, batch_size=batch_size,
        steps_per_epoch=steps, learning_rate=learning_rate, weight_decay=weight_decay, max_epochs=max_epochs,
        patience=patience, val_fraction=val_fraction, time_limit_s=time_limit_s, device=dev,
        trained_on=trained_on, model_name=contract.name, augment=augment, init_state=init, init_report=init_report,
        trainable=finetune, head_prefix=head_prefix(arch), data_summary=data_summary, tie_break_loss=True,
    )

    def epoch_cb(rec: EpochRecord) -> None:
        if on_epoch is not None:
            on_epoch({**rec.entry, "replayed": rec.replayed})

    run = run_training(
        recipe, out_dir=out_dir, seed=seed, max_epochs=max_epochs, patience=patience, steps_per_epoch=steps,
        device=dev, time_limit_s=time_limit_s, num_threads=num_threads, resume=resume, progress=progress,
        should_stop=should_stop, on_step=on_step, on_epoch=epoch_cb if on_epoch is not None else None,
        t_start=t_start, stop_training=stop_training,
    )
    return ClassifierTrainingResult.from_run(run, tr_names, va_names, best_validation=run.state.best_detail)


def _count(items: list[tuple[str, Any]], ds: FolderDataset) -> dict[str, int]:
    out = dict.fromkeys(ds.classes, 0)
    for _, y in items:
        for c in (y if ds.multilabel else (y,)):
            if c in out:
                out[c] += 1
    return out
