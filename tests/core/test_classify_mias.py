"""MIAS as classification data: labels, coordinates (worked by hand), patient groups, folds, class folders and
the activation-map hit rate, on a tiny synthetic MIAS folder written here (the real one is never needed)."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks.classify.mias import (
    MiasImage,
    MiasLesion,
    cam_hit_rate,
    cam_peak,
    circle_on_grid,
    group_of,
    patient_folds,
    patient_of,
    read_mias,
    task_items,
    write_class_folders,
)

LABELS = """Name,Background Tissue,Abnormality,Type,x,y,r
mdb001,G,CIRC,B,535,425,197
mdb002,G,NORM,,,,
mdb003,D,NORM,,,,
mdb004,D,SPIC,M,100,900,20
mdb005,F,CIRC,B,477,133,30
mdb005,F,CALC,M,500,168,26
mdb006,F,NORM,,,,
mdb007,D,CALC,M,*NOTE,3*,
mdb008,G,NORM,,,,
mdb009,G,ARCH,B,512,512,40
mdb010,G,NORM,,,,
mdb011,G,NORM,,,,
mdb012,G,NORM,,,,
"""


def _png(path, pixels):
    from skimage.io import imsave

    imsave(str(path), pixels.astype(np.uint8), check_contrast=False)


@pytest.fixture
def mias_dir(tmp_path):
    (tmp_path / "images").mkdir()
    (tmp_path / "labels.csv").write_text(LABELS)
    for n in range(1, 13):
        _png(tmp_path / "images" / f"mdb{n:03d}.png", np.full((16, 16), 10 * n))
    return tmp_path


def test_circle_on_grid_by_hand():
    # mdb001 on the shared 512 px PNG: x = 535 -> (535 + 0.5) / 2 - 0.5 = 267.25; y = 425 counted up from the
    # bottom row -> row (1023 - 425 + 0.5) / 2 - 0.5 = 298.75; radius 197 / 2
    assert circle_on_grid(MiasLesion("CIRC", "B", 535, 425, 197), (512, 512)) == (298.75, 267.25, 98.5)
    # on the original grid a pixel stays where it is, the row counted from the top
    assert circle_on_grid(MiasLesion("CIRC", "B", 535, 425, 197), (1024, 1024)) == (598.0, 535.0, 197.0)
    # a 4-pixel "film" shown at 2 pixels: its bottom-left pixel (0, 0) lies in the bottom-left quarter of
    # the small image's bottom-left pixel (centre at row 1.25, column -0.25)
    assert circle_on_grid(MiasLesion("CIRC", "B", 0, 0, 2), (2, 2), original_size=4) == (1.25, -0.25, 1.0)
    assert circle_on_grid(MiasLesion("CALC", "M"), (512, 512)) is None


def test_patients_are_odd_even_pairs():
    assert patient_of("mdb001") == patient_of("mdb002.png") == "woman001"
    assert patient_of("mdb003") == patient_of("mdb004") == "woman002"
    assert patient_of("mdb002") != patient_of("mdb003")
    assert group_of("/any/where/abnormal/mdb240.png") == "woman120"
    with pytest.raises(InvalidInputError, match="not a MIAS image name"):
        patient_of("scan_01.png")


def test_read_mias_groups_rows_by_image(mias_dir):
    images = read_mias(mias_dir)
    by = {im.name: im for im in images}
    assert len(images) == 12
    assert not by["mdb002"].abnormal and by["mdb002"].malignant is None
    assert by["mdb001"].abnormal and by["mdb001"].malignant is False
    # two rows: a benign mass and a malignant calcification -> one malignant image with two circles
    assert len(by["mdb005"].lesions) == 2 and by["mdb005"].malignant is True
    assert len(by["mdb005"].circles((512, 512))) == 2
    # "*NOTE 3*": widely spread calcifications have no circle
    assert by["mdb007"].abnormal and by["mdb007"].circles((512, 512)) == []
    assert by["mdb004"].tissue == "D"


def test_read_mias_errors(tmp_path, mias_dir):
    with pytest.raises(InvalidInputError, match="no labels.csv"):
        read_mias(tmp_path / "nothing")
    (mias_dir / "labels.csv").write_text(LABELS.replace("mdb004,D,SPIC,M", "mdb004,D,BLOB,M"))
    with pytest.raises(InvalidInputError, match="line 5: abnormality 'BLOB'"):
        read_mias(mias_dir)
    for p in (mias_dir / "images").iterdir():
        p.unlink()
    (mias_dir / "labels.csv").write_text(LABELS)
    with pytest.raises(InvalidInputError, match="none of the 12 images"):
        read_mias(mias_dir)


def test_task_items(mias_dir):
    images = read_mias(mias_dir)
    ab = {im.name: c for im, c in task_items(images, "abnormal")}
    assert len(ab) == 12 and sum(c == "abnormal" for c in ab.values()) == 5
    mal = {im.name: c for im, c in task_items(images, "malignancy")}
    assert mal == {"mdb001": "benign", "mdb004": "malignant", "mdb005": "malignant", "mdb007": "malignant",
                   "mdb009": "benign"}
    with pytest.raises(InvalidInputError, match="unknown MIAS task"):
        task_items(images, "density")


def test_patient_folds_keep_women_together_and_balance_classes(mias_dir):
    items = task_items(read_mias(mias_dir), "abnormal")
    folds = patient_folds(items, 3, seed=0)
    assert sorted(i for f in folds for i in f) == list(range(len(items)))  # each image exactly once
    women = [{items[i][0].patient for i in f} for f in folds]
    for a in range(3):
        for b in range(a + 1, 3):
            assert not women[a] & women[b]
    assert [len(f) for f in folds] == [4, 4, 4]
    # five women with one normal and one abnormal image, one with two normal ones: dealt in turn, the
    # all-normal woman first, so the folds hold 1, 2 and 2 of the mixed women
    mixed = {"woman001", "woman002", "woman003", "woman004", "woman005"}
    assert sorted(len(w & mixed) for w in women) == [1, 2, 2]
    assert patient_folds(items, 3, seed=0) == folds  # deterministic
    with pytest.raises(InvalidInputError, match="6 women cannot fill 7 folds"):
        patient_folds(items, 7)


def test_write_class_folders_links_never_overwrites(mias_dir, tmp_path):
    items = task_items(read_mias(mias_dir), "abnormal")
    split = {im.name: ("test" if im.patient == "woman001" else "train") for im, _c in items}
    out = write_class_folders(items, tmp_path / "folders", split=split)
    assert sorted(p.name for p in (out / "test" / "abnormal").iterdir()) == ["mdb001.png"]
    assert sorted(p.name for p in (out / "test" / "normal").iterdir()) == ["mdb002.png"]
    linked = out / "train" / "abnormal" / "mdb004.png"
    assert linked.read_bytes() == (mias_dir / "images" / "mdb004.png").read_bytes()
    with pytest.raises(InvalidInputError, match="not empty"):
        write_class_folders(items, out)
    with pytest.raises(InvalidInputError, match="without a split"):
        write_class_folders(items, tmp_path / "other", split={"mdb001": "train"})


def test_cam_hit_rate_and_chance():
    # a 64 px image of a 1024 px film: the lesion at original (512, 511, r 128) -> column (512.5) / 16 - 0.5 =
    # 31.53125, row (1023 - 511 + 0.5) / 16 - 0.5 = 31.53125, radius 8
    lesion = MiasLesion("CIRC", "B", 512, 511, 128)
    im = MiasImage("mdb001", None, "F", (lesion,))  # type: ignore[arg-type]
    other = MiasImage("mdb003", None, "F", (MiasLesion("CALC", "M"),))  # type: ignore[arg-type]
    pixels = np.zeros((64, 64))
    pixels[:, :32] = 200.0  # the breast: the left half (1/2 of the image)
    hit = np.zeros((64, 64))
    hit[30, 33] = 1.0  # inside the circle
    miss = np.zeros((64, 64))
    miss[5, 5] = 1.0
    assert cam_peak(hit) == (30, 33)
    res = cam_hit_rate([(im, hit, pixels), (im, miss, pixels), (other, hit, pixels)])
    assert (res.n_images, res.hits, res.rate) == (2, 1, 0.5)  # the image without a circle is left out
    # a map that is zero everywhere has no peak (its argmax, pixel (0, 0), means nothing): a miss, counted apart
    empty = cam_hit_rate([(im, np.zeros((64, 64)), None), (im, hit, None)])
    assert (empty.n_images, empty.hits, empty.n_empty) == (2, 1, 1) and empty.per_image[0]["peak"] is None
    # the circle's pixels inside the breast (columns < 32) over the breast's 2048 pixels
    rr, cc = np.indices((64, 64))
    inside = ((rr - 31.53125) ** 2 + (cc - 31.53125) ** 2 <= 64) & (cc < 32)
    assert res.chance == pytest.approx(inside.sum() / 2048)
    assert cam_hit_rate([(im, hit, None)]).chance is None
    with pytest.raises(InvalidInputError, match="differ in shape"):
        cam_hit_rate([(im, hit, np.zeros((32, 32)))])
