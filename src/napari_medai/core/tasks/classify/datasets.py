"""Labelled image folders (the review's recipe: one folder per class) and multi-label CSVs.

Layouts :func:`find_class_folders` accepts::

    DATA/NORMAL/*.png  DATA/PNEUMONIA/*.png                  one sub-folder per class
    DATA/train/<class>/...  DATA/val/<class>/...  DATA/test/<class>/...   splits above the classes

(``val`` may be called ``validation``/``valid``; ``test`` is never used for training.) Images are
the files :func:`~napari_medai.core.io.read_volume` opens as 2-D pictures or DICOM radiographs
(PNG, JPEG, TIFF, DICOM), found anywhere below a class folder; hidden files are skipped.

Multi-label data (:func:`read_labels_csv`): a CSV with an image column (``image``, ``path``, ``file``
or ChestX-ray14's ``Image Index``) and either one findings column (``findings``, ``labels`` or
``Finding Labels``; several findings joined by ``|`` or ``;``; ``No Finding`` or empty for none) or one
0/1 column per finding; an optional ``split`` column (train / val / test).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import InvalidInputError

__all__ = ["FolderDataset", "find_class_folders", "group_split", "groups_from_regex", "image_files", "read_labels_csv"]

_SPLIT_NAMES = {"train": "train", "training": "train", "val": "val", "valid": "val", "validation": "val",
                "test": "test", "testing": "test"}
_IMAGE_EXT = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".dcm", ".dicom")
_NONE_FINDINGS = {"", "no finding", "none", "normal", "no findings"}


@dataclass
class FolderDataset:
    """Labelled images.

    Attributes
    ----------
    root
        The data folder.
    classes
        Class names (single-label: the class folders, sorted; multi-label: the findings).
    items
        ``[(path, label)]``: the class name, or a tuple of findings for multi-label data.
    splits
        ``{path: "train" | "val" | "test"}`` for layouts that name splits; empty otherwise.
    multilabel
        Whether labels are sets of findings.
    """

    root: Path
    classes: tuple[str, ...]
    items: list[tuple[str, Any]]
    splits: dict[str, str] = field(default_factory=dict)
    multilabel: bool = False

    def split_of(self, path: str | os.PathLike[str]) -> str | None:
        """``"train"``, ``"val"``, ``"test"`` or ``None`` (no named split) for an item's path."""
        return self.splits.get(str(path))

    def subset(self, split: str) -> list[tuple[str, Any]]:
        """The items of one named split."""
        return [(p, y) for p, y in self.items if self.splits.get(p) == split]

    def counts(self) -> dict[str, dict[str, int]]:
        """``{split or "all": {class: n}}`` (findings counted per image for multi-label data)."""
        out: dict[str, dict[str, int]] = {}
        for p, y in self.items:
            d = out.setdefault(self.splits.get(p, "all"), dict.fromkeys(self.classes, 0))
            for c in (y if self.multilabel else (y,)):
                d[c] = d.get(c, 0) + 1
        return out

    def describe(self) -> str:
        """One line: root, image count and class counts per split."""
        parts = [f"{s}: " + ", ".join(f"{c} {n}" for c, n in d.items()) for s, d in self.counts().items()]
        return f"{len(self.items)} images in {self.root} ({'; '.join(parts)})"


def image_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Image files anywhere below ``folder`` (see the module docstring), sorted, hidden ones skipped."""
    from ...io.names import is_dicom_file

    out = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for f in sorted(filenames):
            if f.startswith("."):
                continue
            p = Path(dirpath) / f
            if p.suffix.lower() in _IMAGE_EXT or (not p.suffix and is_dicom_file(p)):
                out.append(p)
    return out


def _subdirs(p: Path) -> list[Path]:
    return sorted(d for d in p.iterdir() if d.is_dir() and not d.name.startswith("."))


def find_class_folders(root: str | os.PathLike[str]) -> FolderDataset:
    """Read a folder with one sub-folder per class (optionally ``train``/``val``/``test`` above them).

    Raises
    ------
    InvalidInputError
        The folder is missing, has fewer than two class folders, a class folder holds no image, or the
        split folders name different classes; the message names the folder and the fix.
    """
    p = Path(root).expanduser()
    if not p.is_dir():
        raise InvalidInputError(f"{p}: not a folder (give a folder with one sub-folder of images per class)")
    subs = _subdirs(p)
    split_dirs = {d: _SPLIT_NAMES[d.name.lower()] for d in subs if d.name.lower() in _SPLIT_NAMES}
    items: list[tuple[str, Any]] = []
    splits: dict[str, str] = {}
    if split_dirs:
        others = [d.name for d in subs if d not in split_dirs]
        if others:
            raise InvalidInputError(
                f"{p}: mixes split folders ({', '.join(d.name for d in split_dirs)}) with other folders "
                f"({', '.join(others[:3])}); put every class folder inside train/ (and val/ or test/)")
        if "train" not in split_dirs.values():
            raise InvalidInputError(f"{p}: has {', '.join(d.name for d in split_dirs)} but no train/ folder; "
                                    "add train/<class>/ folders with the training images")
        per_split: dict[str, tuple[str, ...]] = {}
        for d, s in split_dirs.items():
            classes, its = _class_items(d)
            per_split[s] = classes
            for path, c in its:
                items.append((path, c))
                splits[path] = s
        train_classes = per_split["train"]
        for s, cl in per_split.items():
            extra = sorted(set(cl) - set(train_classes))
            if extra:
                raise InvalidInputError(f"{p}/{s}: class folder(s) {', '.join(extra)} have no training images in "
                                        f"train/; every class needs a train/<class>/ folder")
        classes = train_classes
    else:
        classes, items = _class_items(p)
    return FolderDataset(root=p, classes=classes, items=items, splits=splits)


def _class_items(folder: Path) -> tuple[tuple[str, ...], list[tuple[str, str]]]:
    subs = _subdirs(folder)
    if not subs:
        loose = image_files(folder)
        hint = f" (it holds {len(loose)} image(s) directly)" if loose else ""
        raise InvalidInputError(f"{folder}: has no class sub-folders{hint}; put each class's images in a "
                                "sub-folder named after the class, e.g. NORMAL/ and PNEUMONIA/")
    if len(subs) < 2:
        raise InvalidInputError(f"{folder}: has one class folder ({subs[0].name}); a classifier needs at least two "
                                "(add a folder of images for another class)")
    items: list[tuple[str, str]] = []
    for d in subs:
        files = image_files(d)
        if not files:
            raise InvalidInputError(f"{d}: holds no image files (PNG, JPEG, TIFF or DICOM); add images or remove "
                                    "the folder")
        items.extend((str(f), d.name) for f in files)
    return tuple(d.name for d in subs), items


def _norm_col(name: str) -> str:
    return name.strip().lower().replace("_", " ")


def read_labels_csv(csv_path: str | os.PathLike[str], image_root: str | os.PathLike[str] | None = None,
                    *, classes: Sequence[str] | None = None) -> FolderDataset:
    """Multi-label data from a CSV (see the module docstring).

    Image paths are taken relative to ``image_root`` (default: the CSV's folder); an image name that is
    not found there is looked up by file name anywhere below it (ChestX-ray14 ships ``images_001/``...).

    Parameters
    ----------
    classes
        The findings to train (default: every finding the CSV names, in order of first appearance for
        the one-column form, column order for the 0/1 form).
    """
    cp = Path(csv_path).expanduser()
    if not cp.is_file():
        raise InvalidInputError(f"{cp}: the labels CSV does not exist")
    root = Path(image_root).expanduser() if image_root is not None else cp.parent
    with open(cp, newline="", encoding="utf-8-sig") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        raise InvalidInputError(f"{cp}: holds no rows (expected a header and one row per image)")
    cols = {_norm_col(c): c for c in rows[0]}
    img_col = next((cols[c] for c in ("image", "path", "file", "filename", "image index") if c in cols), None)
    if img_col is None:
        raise InvalidInputError(f"{cp}: no image column (name one column 'image', 'path' or 'Image Index')")
    find_col = next((cols[c] for c in ("findings", "labels", "finding labels", "label") if c in cols), None)
    split_col = cols.get("split")
    by_name: dict[str, Path] | None = None
    items: list[tuple[str, Any]] = []
    splits: dict[str, str] = {}
    seen: list[str] = []
    value_cols = [c for c in rows[0] if c not in (img_col, split_col) and c != find_col]
    for i, r in enumerate(rows, start=2):
        name = (r.get(img_col) or "").strip()
        if not name:
            raise InvalidInputError(f"{cp} line {i}: empty image name")
        path = root / name
        if not path.is_file():
            if by_name is None:
                by_name = {f.name: f for f in image_files(root)}
            if Path(name).name not in by_name:
                raise InvalidInputError(f"{cp} line {i}: image {name!r} not found below {root} (give --data the folder "
                                        "holding the images)")
            path = by_name[Path(name).name]
        if find_col is not None:
            raw = (r.get(find_col) or "").replace(";", "|")
            labels = tuple(x.strip() for x in raw.split("|") if x.strip().lower() not in _NONE_FINDINGS)
        else:
            labels = []
            for c in value_cols:
                v = (r.get(c) or "").strip()
                try:
                    on = float(v) >= 0.5 if v else False
                except ValueError as exc:
                    raise InvalidInputError(f"{cp} line {i}: column {c!r} holds {v!r}, not 0 or 1") from exc
                if on:
                    labels.append(c)
            labels = tuple(labels)
        for x in labels:
            if x not in seen:
                seen.append(x)
        items.append((str(path), labels))
        if split_col is not None:
            s = _SPLIT_NAMES.get((r.get(split_col) or "").strip().lower())
            if s is not None:
                splits[str(path)] = s
    names = tuple(classes) if classes is not None else (tuple(value_cols) if find_col is None else tuple(seen))
    if not names:
        raise InvalidInputError(f"{cp}: names no finding (every image is 'No Finding'); a multi-label classifier needs "
                                "at least one finding")
    unknown = sorted({x for _, ys in items for x in ys} - set(names))
    if classes is not None and unknown:
        items = [(p, tuple(y for y in ys if y in names)) for p, ys in items]
    return FolderDataset(root=root, classes=names, items=items, splits=splits, multilabel=True)


def groups_from_regex(pattern: str) -> Callable[[str], Hashable]:
    """A ``groups`` function: the first match of ``pattern`` in an image's file name (its first group when
    the pattern has one) is the patient id; a name without a match is its own group.

    Example: ``groups_from_regex(r"^(person\\d+|IM-\\d+)")`` keeps Kermany's ``person12_bacteria_3.jpeg`` and
    ``person12_virus_9.jpeg`` together.
    """
    import re

    try:
        rx = re.compile(pattern)
    except re.error as exc:
        raise InvalidInputError(f"group pattern {pattern!r} is not a regular expression: {exc}") from exc

    def group(path: str) -> Hashable:
        m = rx.search(Path(path).name)
        if m is None:
            return ("image", str(path))
        return ("group", m.group(1) if rx.groups else m.group(0))

    return group


def group_split(items: Sequence[tuple[str, Any]], *, val_fraction: float, seed: int,
                groups: Callable[[str], Hashable] | None = None) -> tuple[list[int], list[int]]:
    """Indices ``(train, validation)`` of a split that keeps each group on one side.

    Groups (``groups(path)``; default: every image its own group) are drawn per label (a group's
    label is its first image's; multi-label: its findings), so each label keeps about
    ``val_fraction`` of its groups in validation; at least one validation group per label that has
    two or more groups. Deterministic for a ``seed``.
    """
    if not 0.0 <= val_fraction < 1.0:
        raise InvalidInputError(f"val_fraction must lie in [0, 1), got {val_fraction}")
    n = len(items)
    if val_fraction == 0 or n == 0:
        return list(range(n)), []
    gid = [groups(p) if groups is not None else p for p, _ in items]
    members: dict[Hashable, list[int]] = {}
    for i, g in enumerate(gid):
        members.setdefault(g, []).append(i)
    by_label: dict[Any, list[Hashable]] = {}
    for g, idx in members.items():
        y = items[idx[0]][1]
        by_label.setdefault(tuple(y) if isinstance(y, (list, tuple)) else y, []).append(g)
    rng = np.random.default_rng(int(seed))
    val_groups: set[Hashable] = set()
    for label in sorted(by_label, key=str):
        gs = sorted(by_label[label], key=str)
        if len(gs) < 2:
            continue
        k = min(max(1, int(round(val_fraction * len(gs)))), len(gs) - 1)
        for j in rng.permutation(len(gs))[:k]:
            val_groups.add(gs[int(j)])
    if not val_groups:
        raise InvalidInputError(f"{n} image(s) in {len(members)} group(s) cannot be split into training and "
                                "validation; give more images or val_fraction=0")
    val = [i for i in range(n) if gid[i] in val_groups]
    train = [i for i in range(n) if gid[i] not in val_groups]
    if not train:
        raise InvalidInputError("the split left no training image; lower val_fraction")
    return train, val
