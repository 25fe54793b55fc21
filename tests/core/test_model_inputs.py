"""Channels and ground truth found by name: small cases worked out by hand."""

from __future__ import annotations

from napari_medai.core.model_inputs import (
    assign_channels,
    channel_label,
    check_channels,
    declared_contract,
    pick_ground_truth,
)

BRATS = ("t1c", "t1", "t2", "flair")


def test_only_named_images_fill_channels():
    # the bug: with the model chosen first, the first image ('flair') filled every channel
    assert assign_channels(BRATS, ["flair"]) == {"t1c": None, "t1": None, "t2": None, "flair": "flair"}
    assert assign_channels(BRATS, ["flair", "t1", "t1c", "t2", "brainmask"]) == {
        "t1c": "t1c", "t1": "t1", "t2": "t2", "flair": "flair"}
    assert assign_channels(BRATS, ["image", "scan 2"]) == dict.fromkeys(BRATS)


def test_names_from_files_and_a_kept_choice():
    names = ["BraTS-GLI-00001-000-t2f", "BraTS-GLI-00001-000-t1n", "BraTS-GLI-00001-000-t1c",
             "BraTS-GLI-00001-000-t2w"]
    got = assign_channels(BRATS, names)
    assert got == {"t1c": names[2], "t1": names[1], "t2": names[3], "flair": names[0]}
    # a user's choice stays while its image is open, even an odd one, and is not given to another channel
    got = assign_channels(BRATS, ["flair", "t1", "t1c", "t2", "mystery"], keep={"t2": "mystery", "t1": "gone"})
    assert got == {"t1c": "t1c", "t1": "t1", "t2": "mystery", "flair": "flair"}
    # two images of one sequence: the first fills the channel; the second is never used for another one
    assert assign_channels(("t1", "flair"), ["flair", "flair [1]"]) == {"t1": None, "flair": "flair"}


def test_check_channels_names_shared_and_missing():
    check = check_channels({"t1c": "flair", "t1": "t1", "t2": None, "flair": "flair"})
    assert not check.ok
    assert check.missing == ["t2"]
    assert check.shared == {"flair": ["t1c", "flair"]}
    assert check.message() == ("T1c and FLAIR all use 'flair': each channel needs its own image; "
                               "choose a layer for T2")
    assert check_channels({"t1": "a", "t2": "b"}).ok
    assert check_channels({"t1": "a"}).message() == ""


def test_pick_ground_truth():
    assert pick_ground_truth(["brainmask", "seg"]) == "seg"
    assert pick_ground_truth(["my labels", "ground truth"]) == "ground truth"
    assert pick_ground_truth(["brainmask", "mask", "brain mask labels"]) is None
    assert pick_ground_truth(["brain tumour (brain-tumour-default)", "brain tumour ground truth"]) == (
        "brain tumour ground truth")
    assert pick_ground_truth([]) is None


def test_declared_contract_without_weights():
    c = declared_contract("brain-tumour-default")  # read from the packaged model.json
    assert c is not None and set(c.channels) == set(BRATS) and c.label_convention == "brats2021"
    assert declared_contract("brats_mri_segmentation").channels == BRATS
    assert declared_contract("no-such-model") is None
    assert channel_label("t1c") == "T1c" and channel_label("flair") == "FLAIR"
