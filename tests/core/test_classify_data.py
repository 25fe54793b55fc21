"""Labelled image folders, labels CSVs and patient-grouped splits of the classification task."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks.classify import (
    find_class_folders,
    group_split,
    groups_from_regex,
    read_labels_csv,
)


def blob_image(rng: np.random.Generator, present: bool, size: int = 32) -> tuple[np.ndarray, tuple[int, int] | None]:
    """A noisy grey square, with one bright disc (radius 3-4 px) when ``present``; returns (uint8 image, centre)."""
    a = rng.normal(90, 12, (size, size))
    centre = None
    if present:
        cy, cx = (int(v) for v in rng.integers(7, size - 7, 2))
        yy, xx = np.mgrid[:size, :size]
        a[(yy - cy) ** 2 + (xx - cx) ** 2 <= int(rng.integers(3, 5)) ** 2] += 100
        centre = (cy, cx)
    return np.clip(a, 0, 255).astype(np.uint8), centre


def write_blob_folder(root: Path, n: int = 16, *, seed: int = 0, size: int = 32, classes=("absent", "present"),
                      ext: str = ".png", rgb: bool = False) -> dict[str, tuple[int, int]]:
    """``root/<class>/img_XX<ext>``: ``n`` images per class, the second class with a bright blob.
    Returns ``{path: blob centre}``."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    centres = {}
    for k, cls in enumerate(classes):
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, c = blob_image(rng, present=k == 1, size=size)
            p = root / cls / f"img_{seed}_{i:02d}{ext}"
            Image.fromarray(np.stack([img] * 3, -1) if rgb else img).save(p)
            if c is not None:
                centres[str(p)] = c
    return centres


def test_flat_class_folders(tmp_path: Path) -> None:
    write_blob_folder(tmp_path, n=3)
    (tmp_path / "absent" / "notes.txt").write_text("not an image")
    (tmp_path / "absent" / ".hidden.png").write_bytes(b"")
    ds = find_class_folders(tmp_path)
    assert ds.classes == ("absent", "present") and len(ds.items) == 6 and not ds.multilabel
    assert all(Path(p).suffix == ".png" for p, _ in ds.items)
    assert ds.split_of(ds.items[0][0]) is None and ds.counts() == {"all": {"absent": 3, "present": 3}}
    assert "6 images" in ds.describe()


def test_split_folders_above_the_classes(tmp_path: Path) -> None:
    write_blob_folder(tmp_path / "train", n=4)
    write_blob_folder(tmp_path / "val", n=2, seed=1)
    write_blob_folder(tmp_path / "test", n=1, seed=2)
    ds = find_class_folders(tmp_path)
    assert ds.classes == ("absent", "present")
    assert len(ds.subset("train")) == 8 and len(ds.subset("val")) == 4 and len(ds.subset("test")) == 2
    p = ds.subset("test")[0][0]
    assert ds.split_of(p) == "test"


@pytest.mark.parametrize("layout, message", [
    ("missing", "not a folder"),
    ("no_subfolders", "has no class sub-folders .*holds 1 image"),
    ("one_class", "has one class folder"),
    ("empty_class", "holds no image files"),
    ("mixed", "mixes split folders"),
    ("no_train", "no train/ folder"),
    ("val_only_class", "have no training images in train/"),
])
def test_bad_layouts_are_refused_with_the_fix(tmp_path: Path, layout: str, message: str) -> None:
    from PIL import Image

    root = tmp_path / "data"
    img = np.zeros((4, 4), np.uint8)
    if layout != "missing":
        root.mkdir()
    if layout == "no_subfolders":
        Image.fromarray(img).save(root / "a.png")
    elif layout == "one_class":
        (root / "only").mkdir()
        Image.fromarray(img).save(root / "only" / "a.png")
    elif layout == "empty_class":
        write_blob_folder(root, n=1)
        (root / "third").mkdir()
    elif layout == "mixed":
        write_blob_folder(root / "train", n=1)
        write_blob_folder(root, n=1)
    elif layout == "no_train":
        write_blob_folder(root / "val", n=1)
    elif layout == "val_only_class":
        write_blob_folder(root / "train", n=1)
        write_blob_folder(root / "val", n=1, classes=("absent", "other"))
    with pytest.raises(InvalidInputError, match=message):
        find_class_folders(root)


def test_labels_csv_findings_column_and_zero_one_columns(tmp_path: Path) -> None:
    from PIL import Image

    (tmp_path / "images_001").mkdir()
    for n in ("a.png", "b.png", "c.png"):
        Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / "images_001" / n)
    (tmp_path / "labels.csv").write_text("Image Index,Finding Labels,split\na.png,Effusion|Atelectasis,train\n"
                                         "b.png,No Finding,val\nc.png,Atelectasis,test\n")
    ds = read_labels_csv(tmp_path / "labels.csv")  # names found below the CSV's folder
    assert ds.multilabel and ds.classes == ("Effusion", "Atelectasis")
    assert [y for _, y in ds.items] == [("Effusion", "Atelectasis"), (), ("Atelectasis",)]
    assert ds.split_of(ds.items[1][0]) == "val"
    (tmp_path / "wide.csv").write_text("image,Effusion,Mass\nimages_001/a.png,1,0\nimages_001/b.png,0,1\n")
    wide = read_labels_csv(tmp_path / "wide.csv")
    assert wide.classes == ("Effusion", "Mass") and [y for _, y in wide.items] == [("Effusion",), ("Mass",)]
    (tmp_path / "bad.csv").write_text("image,Effusion\nmissing.png,1\n")
    with pytest.raises(InvalidInputError, match="missing.png.*not found"):
        read_labels_csv(tmp_path / "bad.csv")
    (tmp_path / "noimg.csv").write_text("name,Effusion\na.png,1\n")
    with pytest.raises(InvalidInputError, match="no image column"):
        read_labels_csv(tmp_path / "noimg.csv")


def test_group_split_keeps_a_patient_on_one_side_and_is_deterministic() -> None:
    items = [(f"/d/P/person{i // 2}_virus_{i}.jpeg", "PNEUMONIA") for i in range(20)]
    items += [(f"/d/N/IM-{i // 3:04d}-000{i % 3}.jpeg", "NORMAL") for i in range(18)]
    groups = groups_from_regex(r"^(person\d+|IM-\d+)")
    tr, va = group_split(items, val_fraction=0.25, seed=3, groups=groups)
    assert sorted(tr + va) == list(range(len(items)))
    assert not ({groups(items[i][0]) for i in tr} & {groups(items[i][0]) for i in va})
    assert {items[i][1] for i in va} == {"PNEUMONIA", "NORMAL"}  # each label has validation groups
    assert (tr, va) == group_split(items, val_fraction=0.25, seed=3, groups=groups)
    assert (tr, va) != group_split(items, val_fraction=0.25, seed=4, groups=groups)
    assert groups("/x/other.png") == ("image", "/x/other.png")
    with pytest.raises(InvalidInputError, match="not a regular expression"):
        groups_from_regex("(")
