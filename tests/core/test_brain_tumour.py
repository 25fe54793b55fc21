"""Brain-tumour task: case discovery in three naming layouts, label conventions, segment()."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks.brain_tumour import (
    DEFAULT_RECIPE,
    brain_tumour_task,
    common_channels,
    find_cases,
    label_rules_for,
)

from .test_models_support import one_torch_thread  # noqa: F401


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")


def test_three_layouts_are_recognised(tmp_path):
    _touch(tmp_path / "pat0003", "Flair_subtrMeanDivStd.nii.gz", "T1c_subtrMeanDivStd.nii.gz",
           "OTMultiClass.nii.gz", "brainmask.nii.gz", "License_CC_BY_NC_SA_3.0.txt")
    _touch(tmp_path / "BraTS2021_00000", *(f"BraTS2021_00000_{s}.nii.gz" for s in ("flair", "t1", "t1ce", "t2", "seg")))
    _touch(tmp_path / "BraTS-GLI-00001-000", *(f"BraTS-GLI-00001-000-{s}.nii.gz" for s in ("t2f", "t1n", "t1c", "t2w")))
    _touch(tmp_path / "notes")
    cases = {c.name: c for c in find_cases(tmp_path)}
    assert set(cases) == {"pat0003", "BraTS2021_00000", "BraTS-GLI-00001-000"}
    b13, b21, b23 = cases["pat0003"], cases["BraTS2021_00000"], cases["BraTS-GLI-00001-000"]
    assert b13.layout == "brats2013" and set(b13.channels) == {"flair", "t1c"}
    assert b13.label.name == "OTMultiClass.nii.gz" and b13.brainmask.name == "brainmask.nii.gz"
    assert b21.layout == "brats2021" and b21.channels["t1c"].name.endswith("_t1ce.nii.gz")
    assert b21.channels["t1"].name.endswith("_t1.nii.gz") and b21.label.name.endswith("_seg.nii.gz")
    assert b23.layout == "brats2023" and b23.channels["flair"].name.endswith("-t2f.nii.gz")
    assert b23.label is None and b23.convention == "brats2023"
    assert common_channels(list(cases.values())) == ("t1c", "flair")
    with pytest.raises(InvalidInputError, match="without a label map: BraTS-GLI-00001-000"):
        find_cases(tmp_path, require_labels=True)


def test_a_single_case_folder_is_one_case(tmp_path):
    _touch(tmp_path, "x_flair.nii.gz", "x_t1ce.nii.gz", "x_seg.nii.gz")
    cases = find_cases(tmp_path)
    assert len(cases) == 1 and cases[0].name == tmp_path.name


def test_no_case_and_ambiguous_case_errors_say_what_names_are_expected(tmp_path):
    with pytest.raises(InvalidInputError, match="no such folder"):
        find_cases(tmp_path / "missing")
    _touch(tmp_path / "a", "readme.txt", "image.nii.gz")
    with pytest.raises(InvalidInputError) as exc:
        find_cases(tmp_path)
    msg = str(exc.value)
    assert "Flair_*" in msg and "*_t1ce" in msg and "*-t2f" in msg
    _touch(tmp_path / "b", "b_flair.nii.gz", "c_flair.nii.gz")
    with pytest.raises(InvalidInputError, match="several files look like the flair"):
        find_cases(tmp_path)


def test_label_rules_per_convention():
    assert label_rules_for("brats2021")[0] == (("ET", 4), ("TC", 1), ("WT", 2))
    assert label_rules_for("brats2013")[0] == (("ET", 4), ("TC", 1), ("WT", 2))
    assert label_rules_for("brats2023")[0] == (("ET", 3), ("TC", 1), ("WT", 2))
    assert label_rules_for("brats2013")[1][3] == "non-enhancing"
    with pytest.raises(InvalidInputError, match="brats2013, brats2021 or brats2023"):
        label_rules_for("msd")


def test_task_contract_follows_the_recipe():
    task = brain_tumour_task(("t2f", "T1ce"), convention="brats2013")
    c = task.contract
    assert c.channels == ("t1c", "flair")  # bundle order
    assert c.network.kwargs["init_filters"] == DEFAULT_RECIPE["init_filters"] and c.network.kwargs["in_channels"] == 2
    assert c.target_spacing == DEFAULT_RECIPE["target_spacing"] and c.orientation == "RAS"
    assert c.output_channels == ("TC", "WT", "ET") and c.label_convention == "brats2013"
    assert not c.is_trained
    with pytest.raises(InvalidInputError, match="multiple of 8"):
        brain_tumour_task(("flair",), init_filters=12)
    with pytest.raises(InvalidInputError, match="unknown MR sequence"):
        brain_tumour_task(("adc",))


def test_segment_converts_conventions_and_refuses_other_tasks():
    torch = pytest.importorskip("torch")
    from napari_medai.core.models.loading import LoadedModel
    from napari_medai.core.tasks.brain_tumour import segment

    from .test_models_support import small_brain_case

    task = brain_tumour_task(("flair", "t1c"), init_filters=8, target_spacing=None, roi_size=(16, 16, 16))
    torch.manual_seed(0)
    model = LoadedModel.random(task.contract, seed=0)
    case = small_brain_case(shape=(16, 20, 16))
    chans = {"flair": case["flair"], "t1c": case["t1c"]}
    a = segment(chans, model=model, device="cpu")
    b = segment(chans, model=model, device="cpu", convention="brats2023")
    la, lb = a.labels.data, b.labels.data
    np.testing.assert_array_equal(la == 4, lb == 3)
    np.testing.assert_array_equal(np.isin(la, [1, 2]), np.isin(lb, [1, 2]))
    assert b.labels.meta["convention"] == "brats2023" and b.region_volumes_ml == pytest.approx(a.region_volumes_ml)
    other = LoadedModel.from_network(model.network, model.contract.with_changes(task="stroke"))
    with pytest.raises(InvalidInputError, match="not a brain-tumour model"):
        segment(chans, model=other, device="cpu")


@pytest.mark.realdata
def test_real_case_folders_are_found(shared_data):
    b13 = find_cases(shared_data / "brats2013_flair_t1c", require_labels=True)
    assert [c.name for c in b13] == [f"brats_2013_pat000{i}_1" for i in (3, 4, 5, 6)]
    assert all(c.layout == "brats2013" and c.brainmask is not None for c in b13)
    b23 = find_cases(shared_data / "brats2023_gli_00001")
    assert len(b23) == 1 and b23[0].layout == "brats2023" and set(b23[0].channels) == {"flair", "t1", "t1c", "t2"}


def test_drop_small_components():
    from napari_medai.core.tasks.brain_tumour import drop_small_components
    from napari_medai.core.volume import Volume

    lab = np.zeros((20, 20, 20), np.uint8)
    lab[2:12, 2:12, 2:12] = 2
    lab[4:8, 4:8, 4:8] = 4
    lab[16:18, 16:18, 16:18] = 1  # 8 voxels: a far-away blob
    lab[15, 2, 2] = 2
    out, n = drop_small_components(Volume(lab, is_label=True, meta={"convention": "brats2021"}), fraction=0.1)
    assert n == 2 and out.data[16:18, 16:18, 16:18].max() == 0 and out.data[15, 2, 2] == 0
    np.testing.assert_array_equal(out.data[:13, :13, :13], lab[:13, :13, :13])
    assert "postprocessing" in out.meta and out.meta["convention"] == "brats2021"
    same, n0 = drop_small_components(out, fraction=0.1)
    assert n0 == 0 and same is out
    with pytest.raises(InvalidInputError, match="min_component_fraction"):
        drop_small_components(out, fraction=0)
