"""Stroke networks: the task's contract, case discovery (ISLES'22 BIDS and one folder per case), input
scaling, training through the engine and prediction on the input grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.models.contract import ModelContract
from napari_medai.core.tasks.stroke.model import (
    DEFAULT_RECIPE,
    STROKE_CHANNELS,
    find_stroke_cases,
    network_name,
    stroke_model_inputs,
    stroke_task,
)
from napari_medai.core.volume import Volume

from .test_models_support import one_torch_thread  # noqa: F401

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
#: A DeepMedic small enough for a test (the layer count, pathways and contract are the real ones).
SMALL_DEEPMEDIC = {"feature_maps": [4] * 8, "fc_features": [8, 8]}


def _touch(folder: Path, *names: str) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for n in names:
        (folder / n).write_bytes(b"")


def write_stroke_cases(folder: Path, seeds=(1, 2, 3), shape=(24, 40, 36), layout: str = "folder",
                       adc_scale: float = 1.0) -> Path:
    """Stroke phantoms written as NIfTI: one folder per case (``dwi``, ``adc``, ``lesion``) or ISLES'22 BIDS.

    ``adc_scale`` 1e-3 writes the ADC in 10^-3 mm^2/s (as ISLES'22 does).
    """
    from napari_medai.core.io import write_volume
    from napari_medai.core.phantoms.stroke import stroke_phantom

    folder = Path(folder)
    for s in seeds:
        p = stroke_phantom(seed=s, shape=shape)
        adc = p["adc"].with_data(np.asarray(p["adc"].data, dtype=np.float32) * np.float32(adc_scale))
        if layout == "folder":
            case = folder / f"case{s:02d}"
            write_volume(p["dwi"], case / "dwi.nii.gz")
            write_volume(adc, case / "adc.nii.gz")
            write_volume(p["lesion"], case / "lesion.nii.gz")
        else:
            sub, ses = f"sub-strokecase{s:04d}", "ses-0001"
            raw = folder / "rawdata" / sub / ses
            write_volume(p["dwi"], raw / f"{sub}_{ses}_dwi.nii.gz")
            write_volume(adc, raw / f"{sub}_{ses}_adc.nii.gz")
            write_volume(p["lesion"], folder / "derivatives" / sub / ses / f"{sub}_{ses}_msk.nii.gz")
    return folder


# ---------------------------------------------------------------------------------------------
# contract
# ---------------------------------------------------------------------------------------------
def test_task_contract_per_modality_and_network():
    c = stroke_task().contract
    assert c.task == "stroke" and c.channels == ("dwi", "adc") and c.network.name == "SegResNet"
    assert c.label_convention == "isles" and c.output_channels == ("lesion",) and c.label_rules == (("lesion", 1),)
    assert c.output_kind == "sigmoid-regions" and c.normalization == "none" and not c.is_trained
    assert c.target_spacing == DEFAULT_RECIPE["target_spacing"] and c.roi_size == (64, 64, 64)
    assert ModelContract.from_dict(c.to_dict()) == c
    dm = stroke_task("cta", network="deepmedic").contract
    assert dm.network.name == "DeepMedic" and dm.roi_size == (45, 45, 45)
    assert dm.network.kwargs["feature_maps"] == [30, 30, 40, 40, 40, 40, 50, 50] and dm.network.kwargs["in_channels"] == 2
    assert dm.channels == ("cta", "ctamirror") and STROKE_CHANNELS["cta"] == ("cta", "cta_mirror")
    assert stroke_task(network="unet").contract.network.name == "UNet"
    assert network_name("BASICUNET") == "BasicUNet"
    with pytest.raises(InvalidInputError, match="unknown network 'resnet'"):
        stroke_task(network="resnet")  # a classifier is not a segmentation network
    with pytest.raises(InvalidInputError, match="unknown stroke modality"):
        stroke_task("ct")
    with pytest.raises(InvalidInputError, match="multiple of 8"):
        stroke_task(init_filters=12)
    with pytest.raises(InvalidInputError, match="unknown stroke_task option"):
        stroke_task(patch=3)


# ---------------------------------------------------------------------------------------------
# case discovery
# ---------------------------------------------------------------------------------------------
def test_isles22_bids_layout_is_recognised(tmp_path):
    for sub in ("sub-strokecase0001", "sub-strokecase0002"):
        ses = tmp_path / "rawdata" / sub / "ses-0001"
        _touch(ses, f"{sub}_ses-0001_dwi.nii.gz", f"{sub}_ses-0001_adc.nii.gz", f"{sub}_ses-0001_flair.nii.gz",
               f"{sub}_ses-0001_dwi.json")
    _touch(tmp_path / "derivatives" / "sub-strokecase0001" / "ses-0001", "sub-strokecase0001_ses-0001_msk.nii.gz",
           "sub-strokecase0001_ses-0001_snp.png")
    cases = find_stroke_cases(tmp_path)
    assert [c.name for c in cases] == ["sub-strokecase0001_ses-0001", "sub-strokecase0002_ses-0001"]
    a, b = cases
    assert a.layout == "isles22" and a.modality == "mri" and set(a.channels) == {"dwi", "adc", "flair"}
    assert a.channels["adc"].name.endswith("_adc.nii.gz") and a.label.name.endswith("_msk.nii.gz")
    assert b.label is None
    with pytest.raises(InvalidInputError, match="without a lesion mask: sub-strokecase0002_ses-0001"):
        find_stroke_cases(tmp_path, require_labels=True)


def test_challenge_release_layout_with_modality_folders(tmp_path):
    # the ISLES'22 release: no rawdata/, images in dwi/ and anat/ sub-folders of the session
    ses = tmp_path / "sub-strokecase0003" / "ses-0001"
    _touch(ses / "dwi", "sub-strokecase0003_ses-0001_dwi.nii.gz", "sub-strokecase0003_ses-0001_adc.nii.gz")
    _touch(ses / "anat", "sub-strokecase0003_ses-0001_FLAIR.nii.gz")
    _touch(tmp_path / "derivatives" / "sub-strokecase0003" / "ses-0001", "sub-strokecase0003_ses-0001_msk.nii.gz")
    (case,) = find_stroke_cases(tmp_path, require_labels=True)
    assert case.name == "sub-strokecase0003_ses-0001" and case.channels["flair"].parent.name == "anat"
    _touch(tmp_path / "sub-strokecase0004" / "ses-0001", "sub-strokecase0004_ses-0001_dwi.nii.gz")
    with pytest.raises(InvalidInputError, match=r"has a DWI but no ADC map \(\*_adc.nii.gz\)"):
        find_stroke_cases(tmp_path)


def test_one_folder_per_case_and_single_case_folder(tmp_path):
    _touch(tmp_path / "p1", "dwi.nii.gz", "adc.nii.gz", "lesion.nii.gz", "brain_mask.nii.gz", "notes.txt")
    _touch(tmp_path / "p2", "p2_DWI.nii.gz", "p2_ADC.nii.gz", "p2_msk.nii.gz", "p2_flair.nii.gz")
    _touch(tmp_path / "p3", "cta.nii.gz", "seg.nii.gz")
    _touch(tmp_path / "other", "t1.nii.gz")
    with pytest.raises(InvalidInputError, match="both MRI and CTA cases"):
        find_stroke_cases(tmp_path)
    (tmp_path / "p3" / "cta.nii.gz").unlink()
    cases = {c.name: c for c in find_stroke_cases(tmp_path)}
    assert set(cases) == {"p1", "p2"}
    assert cases["p1"].label.name == "lesion.nii.gz" and cases["p1"].layout == "folder"
    assert cases["p2"].label.name == "p2_msk.nii.gz" and cases["p2"].channels["flair"].name == "p2_flair.nii.gz"
    (single,) = find_stroke_cases(tmp_path / "p1")
    assert single.name == "p1" and single.channels["dwi"].name == "dwi.nii.gz"
    cta = tmp_path / "cta_cases"
    _touch(cta / "c1", "cta.nii.gz", "cta_mirror.nii.gz", "mask.nii.gz")
    (c1,) = find_stroke_cases(cta)
    assert c1.modality == "cta" and set(c1.channels) == {"cta", "cta_mirror"}


def test_folders_that_match_no_layout_get_a_clear_error(tmp_path):
    with pytest.raises(InvalidInputError, match="no such folder"):
        find_stroke_cases(tmp_path / "missing")
    _touch(tmp_path / "a", "image.nii.gz", "readme.txt")
    with pytest.raises(InvalidInputError) as exc:
        find_stroke_cases(tmp_path)
    msg = str(exc.value)
    assert "no stroke case found" in msg and "derivatives/sub-*/ses-*/*_msk.nii.gz" in msg and "lesion*" in msg
    _touch(tmp_path / "b", "dwi.nii.gz", "dwi_2.nii.gz", "adc.nii.gz")
    with pytest.raises(InvalidInputError, match="several files look like the dwi"):
        find_stroke_cases(tmp_path)


@pytest.mark.realdata
def test_the_real_isles22_case_is_found():
    root = SHARED_DATA / "isles22_case0009"
    if not root.is_dir():
        pytest.skip(f"ISLES'22 case not found at {root}")
    (case,) = find_stroke_cases(root, require_labels=True)
    assert case.name == "sub-strokecase0009_ses-0001" and case.layout == "isles22"
    assert set(case.channels) == {"dwi", "adc", "flair"} and case.label.name.endswith("_msk.nii.gz")


# ---------------------------------------------------------------------------------------------
# input scaling
# ---------------------------------------------------------------------------------------------
def _mri(shape=(16, 20, 18), seed=0, dwi_scale=1.0):
    rng = np.random.default_rng(seed)
    adc = np.zeros(shape, np.float32)
    adc[2:-2, 2:-2, 2:-2] = rng.normal(800, 50, size=(shape[0] - 4, shape[1] - 4, shape[2] - 4))
    dwi = np.where(adc > 0, rng.normal(300, 20, size=shape), rng.normal(0, 5, size=shape)).astype(np.float32)
    sp = (2.0, 2.0, 2.0)
    return {"DWI": Volume(dwi * np.float32(dwi_scale), spacing=sp), "ADC": Volume(adc, spacing=sp)}


def test_inputs_are_scaled_so_the_dwi_scale_does_not_matter():
    a, head = stroke_model_inputs(_mri())
    b, _ = stroke_model_inputs(_mri(dwi_scale=37.5))
    np.testing.assert_allclose(a["dwi"].data, b["dwi"].data, rtol=1e-5)
    assert float(np.median(a["dwi"].data[head])) == pytest.approx(1.0, abs=1e-3)
    assert float(np.median(a["adc"].data[head])) == pytest.approx(0.8, abs=0.01)  # 10^-3 mm^2/s
    assert not a["dwi"].data[~head].any() and not a["adc"].data[~head].any()
    wrong = _mri()
    wrong["ADC"] = wrong["ADC"].with_data(np.asarray(wrong["ADC"].data) / 1000)  # 10^-3 mm^2/s
    with pytest.raises(InvalidInputError, match="not in 10\\^-6 mm\\^2/s"):
        stroke_model_inputs(wrong)
    with pytest.raises(InvalidInputError, match="missing adc"):
        stroke_model_inputs({"dwi": _mri()["DWI"]})
    cta = Volume(np.full((8, 10, 12), -1000.0, np.float32))
    cta.data[2:6, 2:8, 2:10] = 40.0
    c, h = stroke_model_inputs({"cta": cta, "cta_mirror": cta}, "cta")
    assert float(c["cta"].data[h].max()) == pytest.approx(0.4) and not c["cta_mirror"].data[~h].any()


# ---------------------------------------------------------------------------------------------
# training and prediction through the engine
# ---------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def phantom_cases(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    return write_stroke_cases(tmp_path_factory.mktemp("stroke"), seeds=(1, 2), adc_scale=1e-3)


def test_train_deepmedic_then_predict_on_the_input_grid(phantom_cases, tmp_path):
    from napari_medai.core.models.loading import load_model
    from napari_medai.core.phantoms.stroke import stroke_phantom
    from napari_medai.core.tasks.stroke.model import predict_stroke_model, train_stroke

    steps = []
    result = train_stroke(phantom_cases, out_dir=tmp_path / "dm", network="deepmedic", max_epochs=1,
                          iterations_per_epoch=2, batch_size=1, val_fraction=0.5, roi_size=(25, 25, 25),
                          network_kwargs=SMALL_DEEPMEDIC, device="cpu",
                          on_step=lambda e, s, n, loss: steps.append((e, s, n)))
    assert steps == [(1, 1, 2), (1, 2, 2)] and result.epochs_run == 1 and result.val_cases
    model = load_model(result.out_dir)
    c = model.contract
    assert c.is_trained and c.task == "stroke" and c.network.name == "DeepMedic"
    assert "2 one folder per case stroke case(s)" in c.trained_on
    p = stroke_phantom(seed=5, shape=(24, 40, 36))
    mask, prob = predict_stroke_model(model, {"dwi": p["dwi"], "adc": p["adc"]}, device="cpu")
    assert mask.spatial_shape == p["dwi"].spatial_shape and prob.spatial_shape == p["dwi"].spatial_shape
    np.testing.assert_allclose(mask.affine, p["dwi"].affine)
    assert mask.is_label and mask.data.dtype == np.uint8 and set(np.unique(mask.data)) <= {0, 1}
    assert prob.data.dtype == np.float32 and float(prob.data.min()) >= 0.0 and float(prob.data.max()) <= 1.0
    np.testing.assert_array_equal(mask.data, (prob.data >= 0.5).astype(np.uint8))
    head = np.asarray(p["adc"].data) != 0
    assert not prob.data[~head].any()
    assert mask.meta["model"] == c.name and mask.meta["modality"] == "mri"
    # a reloaded folder predicts the same
    _, prob2 = predict_stroke_model(result.out_dir, {"dwi": p["dwi"], "adc": p["adc"]}, device="cpu")
    np.testing.assert_array_equal(prob.data, prob2.data)


def test_predict_refuses_other_models_and_wrong_units(phantom_cases):
    from napari_medai.core.models.errors import ModelLoadError
    from napari_medai.core.models.loading import LoadedModel
    from napari_medai.core.tasks.brain_tumour import brain_tumour_task
    from napari_medai.core.tasks.stroke.model import predict_stroke_model

    other = LoadedModel.random(brain_tumour_task(("flair",), roi_size=(16, 16, 16)).contract)
    with pytest.raises(ModelLoadError, match="not 'stroke'"):
        predict_stroke_model(other, _mri(), device="cpu")
    stroke = LoadedModel.random(stroke_task(network="deepmedic", network_kwargs=SMALL_DEEPMEDIC,
                                            roi_size=(16, 16, 16)).contract)
    chans = _mri()
    chans["ADC"] = chans["ADC"].with_data(np.asarray(chans["ADC"].data) / 1000)
    with pytest.raises(InvalidInputError, match="convert it with"):
        predict_stroke_model(stroke, chans, device="cpu")


def test_training_refuses_unknown_options_and_unlabelled_cases(phantom_cases, tmp_path):
    from napari_medai.core.tasks.stroke.model import train_stroke

    with pytest.raises(InvalidInputError, match="unknown recipe option"):
        train_stroke(phantom_cases, out_dir=tmp_path / "x", epochs=3)
    _touch(tmp_path / "nolabel" / "c1", "dwi.nii.gz", "adc.nii.gz")
    with pytest.raises(InvalidInputError, match="without a lesion mask"):
        train_stroke(tmp_path / "nolabel", out_dir=tmp_path / "y")


# ---------------------------------------------------------------------------------------------
# CT angiography: one folder per case (cta*, lesion*), the mirrored channel made about the found plane
# ---------------------------------------------------------------------------------------------
#: The smallest CTA phantom grid (2 mm voxels) that holds a head and a lesion.
TINY_CTA = (32, 40, 36)


def write_cta_cases(folder: Path, seeds=(1, 2), shape=TINY_CTA) -> Path:
    """CTA phantoms written as NIfTI, one folder per case: ``cta.nii.gz`` (HU) and ``lesion.nii.gz``."""
    from napari_medai.core.io import write_volume
    from napari_medai.core.phantoms.stroke import stroke_cta_phantom

    folder = Path(folder)
    for s in seeds:
        p = stroke_cta_phantom(seed=s, shape=shape)
        write_volume(p["cta"], folder / f"cta{s:02d}" / "cta.nii.gz")
        write_volume(p["lesion"], folder / f"cta{s:02d}" / "lesion.nii.gz")
    return folder


@pytest.fixture(scope="module")
def cta_model(tmp_path_factory):
    """Two tiny CTA phantom cases and a DeepMedic trained on them for one step."""
    pytest.importorskip("torch")
    from napari_medai.core.tasks.stroke.model import train_stroke

    root = tmp_path_factory.mktemp("cta")
    cases = write_cta_cases(root / "cases")
    steps = []
    result = train_stroke(cases, out_dir=root / "dm", network="deepmedic", max_epochs=1, iterations_per_epoch=1,
                          batch_size=1, val_fraction=0, patch_size=(25, 25, 25), roi_size=(25, 25, 25),
                          network_kwargs=SMALL_DEEPMEDIC, device="cpu", num_threads=1,
                          on_step=lambda e, s, n, loss: steps.append((e, s, n)))
    return {"cases": cases, "result": result, "steps": steps}


def test_cta_cases_are_found_and_read_with_the_mirror_about_the_found_plane(cta_model):
    from napari_medai.core.io import read_volume
    from napari_medai.core.tasks.stroke.midline import find_mid_sagittal_plane, mirror
    from napari_medai.core.tasks.stroke.model import read_training_case

    cases = find_stroke_cases(cta_model["cases"], require_labels=True)
    assert [c.name for c in cases] == ["cta01", "cta02"]
    assert all(c.modality == "cta" and set(c.channels) == {"cta"} and c.label.name == "lesion.nii.gz" for c in cases)
    chans, label, notes = read_training_case(cases[0])
    assert set(chans) == {"cta", "cta_mirror"} and label.same_grid(chans["cta"]) and label.data.any()
    assert any("mirrored about its mid-sagittal plane" in n for n in notes)
    # the second channel is the CTA reflected about the plane found in it (scaled and cropped like the CTA)
    cta = read_volume(cases[0].channels["cta"], as_label=False)
    expected, _ = stroke_model_inputs({"cta": cta, "cta_mirror": mirror(cta, find_mid_sagittal_plane(cta))}, "cta")
    box = tuple(slice(int(o), int(o) + n) for o, n in zip(
        np.rint(cta.world_to_index(np.array([chans["cta"].origin]))[0]), chans["cta"].spatial_shape))
    np.testing.assert_allclose(chans["cta_mirror"].data, np.asarray(expected["cta_mirror"].data)[box], atol=1e-6)
    # ... not its flip about the array's middle column (the phantom's head is off-centre and turned)
    assert not np.allclose(chans["cta_mirror"].data, np.flip(chans["cta"].data, axis=2), atol=0.05)


def test_cta_model_trains_and_predicts_on_the_input_grid(cta_model):
    from napari_medai.core.models.loading import load_model
    from napari_medai.core.phantoms.stroke import stroke_cta_phantom
    from napari_medai.core.tasks.stroke.midline import find_mid_sagittal_plane, mirror
    from napari_medai.core.tasks.stroke.model import predict_stroke_model

    result = cta_model["result"]
    assert cta_model["steps"] == [(1, 1, 1)] and result.epochs_run == 1
    model = load_model(result.out_dir)
    c = model.contract
    assert c.is_trained and c.task == "stroke" and c.network.name == "DeepMedic"
    assert c.channels == ("cta", "ctamirror") and c.network.kwargs["in_channels"] == 2
    assert "2 one folder per case stroke case(s)" in c.trained_on and "(cta+cta_mirror)" in c.trained_on
    p = stroke_cta_phantom(seed=3, shape=TINY_CTA)
    mask, prob = predict_stroke_model(model, {"cta": p["cta"]}, device="cpu")
    assert mask.spatial_shape == TINY_CTA and prob.spatial_shape == TINY_CTA
    np.testing.assert_allclose(mask.affine, p["cta"].affine)
    assert mask.is_label and mask.data.dtype == np.uint8 and set(np.unique(mask.data)) <= {0, 1}
    assert prob.data.dtype == np.float32 and 0.0 <= float(prob.data.min()) <= float(prob.data.max()) <= 1.0
    np.testing.assert_array_equal(mask.data, (prob.data >= 0.5).astype(np.uint8))
    assert not prob.data[np.asarray(p["cta"].data) <= -500.0].any()  # 0 outside the head
    assert mask.meta["modality"] == "cta" and any("mirrored" in n for n in mask.meta["notes"])
    assert 1 <= mask.meta["n_windows"] <= 27  # 25^3 windows over the head's box at 2 mm
    # the mirror made inside equals the one made with midline.mirror about the found plane
    given = mirror(p["cta"], find_mid_sagittal_plane(p["cta"]))
    _, prob2 = predict_stroke_model(model, {"cta": p["cta"], "cta_mirror": given}, device="cpu")
    np.testing.assert_array_equal(prob.data, prob2.data)


def test_segment_stroke_runs_a_cta_model_and_refuses_a_modality_mismatch(cta_model):
    from napari_medai.core.phantoms.stroke import stroke_cta_phantom, stroke_phantom
    from napari_medai.core.tasks.stroke.segment import segment_stroke

    folder = cta_model["result"].out_dir
    p = stroke_cta_phantom(seed=4, shape=TINY_CTA)
    res = segment_stroke(cta=p["cta"], method="model", model=str(folder), mirror=True, separate_lesions=True)
    assert res.method == "model" and res.modality == "cta" and res.adc_unit is None
    assert res.labels.same_grid(p["cta"]) and res.probability.same_grid(p["cta"])
    assert int(res.labels.data.max()) == len(res.lesions) and all(r.mean_adc is None for r in res.lesions)
    assert any("mirrored about the mid-sagittal plane" in n for n in res.notes)
    assert res.to_json()["parameters"]["model"] == {"value": str(folder), "source": "user"}
    mri = stroke_phantom(seed=1, shape=(24, 40, 36), with_flair=False)
    with pytest.raises(InvalidInputError, match=r"trained on CTA \(cta \+ cta_mirror\); give a CTA"):
        segment_stroke(dwi=mri["dwi"], adc=mri["adc"], method="model", model=folder)


def test_describe_stroke_cases_names_the_modality_and_refuses_a_mix(tmp_path):
    from napari_medai.core.tasks.stroke.model import StrokeCase, describe_stroke_cases

    mri = StrokeCase("a", tmp_path, "folder", {"dwi": tmp_path / "dwi.nii.gz", "adc": tmp_path / "adc.nii.gz"},
                     tmp_path / "lesion.nii.gz")
    cta = StrokeCase("b", tmp_path, "folder", {"cta": tmp_path / "cta.nii.gz"}, tmp_path / "lesion.nii.gz")
    one = describe_stroke_cases([mri], tmp_path)
    assert one.ok and one.modality == "mri" and one.rows == ["a: dwi + adc, lesion mask"]
    assert one.text.startswith("1 stroke case(s), MRI, one folder per case")
    assert "10^-6" in one.inputs
    mixed = describe_stroke_cases([mri, cta], tmp_path)
    assert not mixed.ok and "mix MRI and CTA" in mixed.text
    empty = describe_stroke_cases([], tmp_path)
    assert not empty.ok and str(tmp_path) in empty.text and "ISLES'22 BIDS" in empty.text
