"""Model contract and registry: plain data, validated, importable without torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.models import (
    REGISTRY,
    ModelContract,
    NetworkSpec,
    UnknownModelError,
    canonical_channel,
    get_entry,
    guess_channel,
    list_models,
)
from napari_medai.core.models.registry import (
    BRATS_BUNDLE,
    DEFAULT_BRAIN_MODEL,
    cache_dir,
    model_search_dirs,
)


def _contract(**kw) -> ModelContract:
    base = {
        "name": "m", "task": "brain_tumour", "channels": ("flair", "t1c"), "output_kind": "sigmoid-regions",
        "output_channels": ("TC", "WT", "ET"), "label_convention": "brats2021",
        "label_names": {1: "NCR/NET", 2: "ED", 4: "ET"},
        "network": NetworkSpec("SegResNet", {"init_filters": 8, "in_channels": 2, "out_channels": 3}),
        "roi_size": (64, 64, 64), "label_rules": (("ET", 4), ("TC", 1), ("WT", 2)),
    }
    base.update(kw)
    return ModelContract(**base)


def test_registry_and_models_package_import_without_torch():
    code = (
        "import sys, napari_medai.core.models.registry, napari_medai.core.models, "
        "napari_medai.core.models.contract;"
        "from napari_medai.core.models import get_entry; get_entry('brats_mri_segmentation').contract.summary();"
        "print(','.join(m for m in ('torch', 'monai') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_unknown_model_lists_valid_names_and_suggests():
    with pytest.raises(UnknownModelError) as exc:
        get_entry("brats_mri_segmentaton")
    msg = str(exc.value)
    assert "did you mean 'brats_mri_segmentation'" in msg
    for name in list_models():
        assert name in msg


def test_brats_bundle_entry_matches_the_published_facts():
    e = get_entry(BRATS_BUNDLE)
    c = e.contract
    assert e.kind == "monai-bundle" and e.bundle_version == "0.5.2"
    assert e.md5["models/model.pt"] == "870e677b782a5184cbc48db1456b78e8"
    assert c.channels == ("t1c", "t1", "t2", "flair")
    assert c.network.name == "SegResNet"
    assert c.network.kwargs == {"blocks_down": [1, 2, 2, 4], "blocks_up": [1, 1, 1], "init_filters": 16,
                                "in_channels": 4, "out_channels": 3, "dropout_prob": 0.2}
    assert c.output_kind == "sigmoid-regions" and c.output_channels == ("TC", "WT", "ET")
    assert c.threshold == 0.5
    assert c.label_rules == (("ET", 4), ("TC", 1), ("WT", 2))
    assert c.roi_size == (240, 240, 160) and c.overlap == 0.5
    assert c.normalization == "zscore-nonzero" and c.target_spacing == (1.0, 1.0, 1.0)
    assert c.label_convention == "brats2021" and c.is_trained
    assert "BraTS 2018" in c.trained_on


def test_default_brain_model_entry_says_how_to_get_it():
    e = get_entry(DEFAULT_BRAIN_MODEL)
    assert e.kind == "packaged" and "train_default_brain_model" in e.how_to_get


def test_cache_and_search_dirs_follow_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NAPARI_MEDAI_CACHE", str(tmp_path / "c"))
    monkeypatch.setenv("NAPARI_MEDAI_MODELS", str(tmp_path / "m"))
    assert cache_dir() == tmp_path / "c"
    dirs = model_search_dirs()
    assert dirs[0] == tmp_path / "m" and dirs[1] == tmp_path / "c" / "models"


@pytest.mark.parametrize(
    ("name", "canonical"),
    [("FLAIR", "flair"), ("t2f", "flair"), ("T2-FLAIR", "flair"), ("t1ce", "t1c"), ("T1Gd", "t1c"),
     ("t1c", "t1c"), ("t1n", "t1"), ("T1w", "t1"), ("t2w", "t2"), ("T2", "t2"), ("ADC", "adc")],
)
def test_channel_names_are_canonicalised(name, canonical):
    assert canonical_channel(name) == canonical


def test_contract_round_trips_through_dict():
    c = _contract(target_spacing=(2, 2, 2), orientation="ras", trained_on="3 phantoms", is_trained=True)
    d = c.to_dict()
    assert d["orientation"] == "RAS"
    c2 = ModelContract.from_dict(d)
    assert c2 == c
    assert c2.to_dict() == d
    assert c.label_values == (1, 2, 4)
    assert "trained on 3 phantoms" in c.summary()


def test_untrained_contract_says_so():
    c = _contract()
    assert not c.is_trained
    assert "NOT TRAINED" in c.summary()


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"channels": ("flair", "t1c", "t2")}, "takes 2 input channels"),
        ({"channels": ("flair", "t2f")}, "repeat"),
        ({"label_rules": (("XX", 4),)}, "not output channels"),
        ({"label_rules": ()}, "need label_rules"),
        ({"roi_size": (64, 64)}, "roi_size needs 3"),
        ({"orientation": "RRS"}, "orientation must be"),
        ({"normalization": "minmax"}, "normalization must be"),
        ({"threshold": 1.5}, "threshold"),
        ({"overlap": 1.0}, "overlap"),
        ({"is_trained": True}, "must say what it was trained on"),
        ({"output_kind": "softmax-labels", "class_labels": (0, 1)}, "one class label per output"),
        ({"label_names": {1: "NCR/NET"}}, "has no name"),
    ],
)
def test_contract_validation_says_what_is_wrong(changes, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        _contract(**changes)


def test_network_spec_refuses_non_json_arguments():
    with pytest.raises(InvalidInputError, match="plain JSON"):
        NetworkSpec("SegResNet", {"act": object()})
    with pytest.raises(InvalidInputError, match="MONAI class name"):
        NetworkSpec("os.system", {})


def test_contract_from_newer_format_is_refused():
    d = _contract().to_dict()
    d["format_version"] = 99
    with pytest.raises(InvalidInputError, match="upgrade"):
        ModelContract.from_dict(d)


def test_every_registry_entry_is_consistent():
    for name, entry in REGISTRY.items():
        assert entry.name == name
        assert entry.how_to_get
        assert entry.task
        if entry.contract is not None:
            assert entry.contract.name == name
            assert entry.contract.task == entry.task


@pytest.mark.parametrize(("name", "channel"), [
    ("FLAIR", "flair"), ("BraTS-GLI-00001-000-t2f", "flair"), ("BraTS-GLI-00001-000-t1n", "t1"),
    ("BraTS-GLI-00001-000-t1c", "t1c"), ("BraTS-GLI-00001-000-t2w", "t2"), ("BraTS2021_00001_t1ce", "t1c"),
    ("BraTS2021_00001_t1", "t1"), ("Flair_subtrMeanDivStd", "flair"), ("T1c_subtrMeanDivStd", "t1c"),
    ("sub-01_T2_FLAIR", "flair"), ("case t1 ce", "t1c"), ("t2 [1]", "t2"),
    ("BraTS-GLI-00001-000-seg", None), ("brainmask", None), ("ct", None),
])
def test_guess_channel_from_layer_and_file_names(name, channel):
    assert guess_channel(name) == channel

