"""Alzheimer classifier: the landmark network, patches at landmarks, occlusion, evaluation, source splits.

Everything runs on tiny synthetic cohorts already on one 2 mm grid (the AD subjects carry a dark blob),
so no registration runs; the real-data benchmark is ``benchmarks/alzheimer_classifier.py``.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.inference.classification import classification_input
from napari_medai.core.io import write_volume
from napari_medai.core.landmark_patches import (
    landmark_indices,
    occlusion_contributions,
    occlusion_map,
    splat_saliency,
)
from napari_medai.core.models.contract import ModelContract
from napari_medai.core.recipes.base import split_groups
from napari_medai.core.tasks.alzheimer.evaluate import (
    evaluate_alzheimer,
    evaluation_from_probabilities,
)
from napari_medai.core.tasks.alzheimer.model import DISCLAIMER, landmark_contract
from napari_medai.core.tasks.alzheimer.predict import AlzheimerPrediction, predict_alzheimer
from napari_medai.core.tasks.alzheimer.subjects import describe_alzheimer_cohort
from napari_medai.core.tasks.alzheimer.train import train_alzheimer
from napari_medai.core.volume import Volume

from .test_models_support import one_torch_thread  # noqa: F401  (fixture)

# MNI-like grid: array axes (S, P, L), x right, y anterior, z up (as the 2 mm template grid)
DIRECTION = np.array([[1.0, 0, 0], [0, -1.0, 0], [0, 0, -1.0]])
SHAPE = (16, 20, 16)
BLOB = (8, 6, 10)
TINY_NET = {"features": [4, 8], "fc": [16], "patch_fc": 8, "embedding": 4}
TRAIN = {"align": "skip", "max_epochs": 3, "steps_per_epoch": 4, "batch_size": 8, "learning_rate": 3e-3}


def tiny_cohort(root: Path, *, n_sources: int = 6, per_source: int = 4, seed: int = 1) -> Path:
    """``n_sources`` x ``per_source`` subjects on one grid, AD / NC alternating within each source (the
    AD subjects darker around ``BLOB``); labels.csv with a source column. Returns the CSV."""
    rng = np.random.default_rng(seed)
    zz, yy, xx = np.indices(SHAPE)
    blob = np.exp(-((zz - BLOB[0]) ** 2 + (yy - BLOB[1]) ** 2 + (xx - BLOB[2]) ** 2) / (2 * 1.5**2))
    rows = ["subject,diagnosis,source"]
    k = 0
    for s in range(n_sources):
        base = 100 + 10 * rng.standard_normal(SHAPE)
        for j in range(per_source):
            dx = "AD" if j % 2 else "NC"
            img = base + 3 * rng.standard_normal(SHAPE) - (40 * blob if dx == "AD" else 0)
            write_volume(Volume(img.astype(np.float32), spacing=(2.0,) * 3, origin=(-16.0, 20.0, 16.0),
                                direction=DIRECTION), root / "t1" / f"s{k}.nii.gz")
            rows.append(f"s{k},{dx},src{s}")
            k += 1
    (root / "labels.csv").write_text("\n".join(rows) + "\n")
    return root / "labels.csv"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("alzcls")
    labels = tiny_cohort(root / "cohort")
    test = {"s16", "s17", "s18", "s19", "s20", "s21", "s22", "s23"}  # sources src4, src5
    lines = labels.read_text().splitlines()
    (root / "train.csv").write_text("\n".join([lines[0], *[r for r in lines[1:] if r.split(",")[0] not in test]]) + "\n")
    return {"root": root, "dir": root / "cohort", "labels": labels, "train": root / "train.csv"}


@pytest.fixture(scope="module")
def landmark_model(cohort) -> Path:
    import torch

    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train_alzheimer(cohort["dir"], cohort["train"], cohort["root"] / "lm-model", n_landmarks=3,
                        min_distance_mm=6.0, patch=6, network=TINY_NET, **TRAIN)
    finally:
        torch.set_num_threads(n)
    return cohort["root"] / "lm-model"


# --------------------------------------------------------------------------------------- network
def test_landmark_network_shapes_parameters_and_embedding(one_torch_thread):  # noqa: F811
    import torch

    from napari_medai.core.models.landmark_net import (
        build_landmark_net,
        landmark_net_parameter_count,
    )

    net = build_landmark_net(n_landmarks=3, in_channels=2, features=[4, 8], fc=[16], patch_fc=8, embedding=4)
    x = torch.randn(2, 6, 8, 8, 8)
    assert tuple(net(x).shape) == (2, 2)
    assert tuple(net.patch_features(x).shape) == (2, 3, 8)
    assert sum(p.numel() for p in net.parameters()) == landmark_net_parameter_count(
        n_landmarks=3, in_channels=2, features=[4, 8], fc=[16], patch_fc=8, embedding=4)
    # the same patch at every landmark still gives each landmark its own features (the embedding)
    same = torch.randn(1, 2, 8, 8, 8).repeat(1, 3, 1, 1, 1)
    f = net.patch_features(same)[0]
    assert not torch.allclose(f[0], f[1]) and not torch.allclose(f[1], f[2])
    no_emb = build_landmark_net(n_landmarks=3, in_channels=2, features=[4, 8], embedding=0)
    g = no_emb.patch_features(same)[0]
    assert torch.allclose(g[0], g[1]) and torch.allclose(g[1], g[2])
    with pytest.raises(ValueError, match="takes"):
        net(torch.randn(1, 5, 8, 8, 8))
    for bad, msg in (({"n_landmarks": 0}, "n_landmarks"), ({"n_landmarks": 2, "features": []}, "features"),
                     ({"n_landmarks": 2, "dropout": 1.0}, "dropout"), ({"n_landmarks": 2, "spatial_dims": 2}, "3-D")):
        with pytest.raises(InvalidInputError, match=msg):
            build_landmark_net(**bad)


def test_landmark_contract_round_trips_and_refuses_mismatches():
    c = landmark_contract([(0.0, 2.0, 4.0), (6.0, -8.0, 10.0)], patch=6)
    again = ModelContract.from_dict(json.loads(json.dumps(c.to_dict())))
    assert again == c and again.landmark_points == ((0.0, 2.0, 4.0), (6.0, -8.0, 10.0))
    assert "2 landmark patches of 6x6x6" in c.summary()
    with pytest.raises(InvalidInputError, match="2 landmark patches but 1"):
        c.with_changes(landmark_points=((0.0, 0.0, 0.0),))
    with pytest.raises(InvalidInputError, match="needs landmark_points"):
        c.with_changes(landmark_points=())
    with pytest.raises(InvalidInputError, match="belong to input_mode 'landmarks'"):
        c.with_changes(input_mode="whole")


# --------------------------------------------------------------------------------------- patches
def test_patches_are_cut_at_the_landmarks_and_zero_padded_at_the_edge():
    shape = (10, 12, 14)
    data = np.arange(np.prod(shape), dtype=np.float32).reshape(shape) + 1.0
    vol = Volume(data, spacing=(2.0,) * 3, origin=(-10.0, 12.0, 14.0), direction=DIRECTION)
    inner, edge = (5, 6, 7), (0, 1, 13)
    world = vol.index_to_world(np.array([inner, edge], dtype=float))
    c = landmark_contract(world, patch=4).with_changes(normalization="none")
    bag, pts = classification_input(c, vol)
    assert bag.shape == (1, 2, 4, 4, 4) and pts is None
    # network axes = the Volume's axes reversed ("storage"); a 4-voxel patch spans centre-2 .. centre+1
    want = data[3:7, 4:8, 5:9].transpose(2, 1, 0)
    np.testing.assert_array_equal(bag[0, 0], want)
    assert bag[0, 1, 2, 2, 2] == data[edge]
    patch = bag[0, 1].transpose(2, 1, 0)  # back to array order: rows before index 0 / past 13 are padding
    assert np.all(patch[:2] == 0) and np.all(patch[:, :, 3:] == 0)
    np.testing.assert_array_equal(patch[2:, 1:, :3], data[0:2, 0:3, 11:14])
    np.testing.assert_array_equal(landmark_indices(world, vol), [inner, edge])
    far = vol.index_to_world(np.array([[5.0, 6.0, 20.0]]))
    with pytest.raises(InvalidInputError, match="lies outside the image"):
        classification_input(landmark_contract(far, patch=4), vol)
    with pytest.raises(InvalidInputError, match="takes no points"):
        classification_input(c, vol, points=[(1, 1, 1)])


def test_occlusion_of_each_patch_on_a_linear_model(one_torch_thread):  # noqa: F811
    import torch

    class Linear(torch.nn.Module):  # AD logit = sum_l w_l * mean(patch l); NC logit 0
        def __init__(self, w):
            super().__init__()
            self.w = torch.tensor(w)

        def forward(self, x):
            z = (x.flatten(2).mean(2) * self.w).sum(1)
            return torch.stack([torch.zeros_like(z), z], dim=1)

    w = [1.0, -2.0, 0.5]
    rng = np.random.default_rng(0)
    bag = rng.uniform(0, 1, (1, 3, 4, 4, 4)).astype(np.float32)
    m = bag[0].reshape(3, -1).mean(1).astype(np.float64)
    z = float(np.dot(w, m))
    base, contrib = occlusion_contributions(Linear(w), bag, 3, batch_size=2)
    sig = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    assert base == pytest.approx(sig(z), abs=1e-6)
    np.testing.assert_allclose(contrib, [sig(z) - sig(z - wl * ml) for wl, ml in zip(w, m)], atol=1e-6)
    assert contrib[0] > 0 and contrib[1] < 0  # positive weight pushes towards AD, negative away

    class Sum(torch.nn.Module):  # AD logit = sum of the voxels of channel 0
        def forward(self, x):
            z = x[:, 0].flatten(1).sum(1)
            return torch.stack([torch.zeros_like(z), z], dim=1)

    img = np.zeros((1, 1, 4, 4, 4), np.float32)
    img[0, 0, 0, 0, 0] = 2.0
    base, omap = occlusion_map(Sum(), img, block=2)
    assert base == pytest.approx(sig(2.0), abs=1e-6)
    assert omap[0, 0, 0] == pytest.approx(sig(2.0) - 0.5, abs=1e-6) and omap[1, 1, 1] == omap[0, 0, 0]
    assert np.all(omap[2:] == 0) and omap.shape == (4, 4, 4)


def test_saliency_peaks_at_each_landmark_with_its_value():
    vol = Volume(np.zeros((20, 20, 20), np.float32), spacing=(2.0,) * 3)
    sal = splat_saliency([0.3, -0.2], np.array([[5, 5, 5], [15, 14, 13]]), vol, patch_mm=8.0)
    assert sal[5, 5, 5] == pytest.approx(0.3, abs=1e-6) and sal[15, 14, 13] == pytest.approx(-0.2, abs=1e-6)
    assert sal.max() == pytest.approx(0.3, abs=1e-6) and sal.min() == pytest.approx(-0.2, abs=1e-6)
    # sigma = 8 / 4 = 2 mm: one voxel (2 mm) away the blob is exp(-1/2) of its peak
    assert sal[6, 5, 5] == pytest.approx(0.3 * math.exp(-0.5), rel=1e-5)


# ------------------------------------------------------------------------------------- evaluation
def test_evaluation_numbers_on_hand_made_probabilities(tmp_path):
    from napari_medai.core.metrics.roc import delong_auc

    truth = [1, 1, 1, 0, 0, 0]
    probs = [0.9, 0.8, 0.4, 0.6, 0.3, 0.1]
    ev = evaluation_from_probabilities([f"s{i}" for i in range(6)], truth, probs, threshold=0.5)
    assert ev.auc == pytest.approx(8 / 9)  # 0.4 loses only to 0.6
    est = delong_auc(probs, truth)
    assert ev.auc_ci == (est.ci_low, est.ci_high) and ev.auc_variance == est.variance
    # at 0.5: AD called for 0.9, 0.8 (true) and 0.6 (false); 0.4 missed
    assert (ev.accuracy, ev.sensitivity, ev.specificity) == pytest.approx((4 / 6, 2 / 3, 2 / 3))
    low = ev.at_threshold(0.35)
    assert (low["tp"], low["fp"], low["tn"], low["fn"]) == (3, 1, 2, 0) and low["sensitivity"] == 1.0
    np.testing.assert_allclose(ev.fpr, [0, 0, 0, 1 / 3, 1 / 3, 2 / 3, 1])
    np.testing.assert_allclose(ev.tpr, [0, 1 / 3, 2 / 3, 2 / 3, 1, 1, 1])
    doc = json.loads(json.dumps(ev.to_json()))
    assert doc["auc"] == pytest.approx(8 / 9) and doc["roc"]["thresholds"][0] is None and len(doc["subjects"]) == 6
    png = ev.roc_png(tmp_path / "roc.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(InvalidInputError, match="threshold"):
        evaluation_from_probabilities(["a", "b"], [1, 0], [0.2, 0.1], threshold=1.5)


def test_split_by_group_keeps_every_source_on_one_side():
    names = [f"s{i}" for i in range(20)]
    groups = [f"src{i % 7}" for i in range(20)]
    for seed in range(5):
        train, val = split_groups(names, groups, val_fraction=0.25, seed=seed)
        assert sorted(train + val) == sorted(names) and train and val
        g_train = {groups[names.index(n)] for n in train}
        g_val = {groups[names.index(n)] for n in val}
        assert not g_train & g_val and len(val) >= 5
    assert split_groups(names, groups, val_fraction=0.25, seed=3) == split_groups(names, groups, val_fraction=0.25, seed=3)
    assert split_groups(names, groups, val_fraction=0.0, seed=0) == (names, [])
    with pytest.raises(InvalidInputError, match="one group"):
        split_groups(names, ["a"] * 20, val_fraction=0.2, seed=0)
    with pytest.raises(InvalidInputError, match="one group per case"):
        split_groups(names, groups[:3], val_fraction=0.2, seed=0)


# ------------------------------------------------------------------------------ train / predict / evaluate
def test_cohort_description_and_bad_options(cohort, tmp_path):
    assert describe_alzheimer_cohort(cohort["dir"], cohort["labels"]) == "24 subjects (12 AD / 12 NC) from 6 source scans"
    with pytest.raises(InvalidInputError, match="no such folder"):
        describe_alzheimer_cohort(tmp_path / "none", cohort["labels"])
    cases = [({"model": "voxels"}, "model must be one of"), ({"n_landmarks": 0}, "n_landmarks"),
             ({"patch": 2}, "patch edge"), ({"val_fraction": 0.0}, "val_fraction"), ({"lr": 1}, "unknown training")]
    for extra, msg in cases:
        with pytest.raises(InvalidInputError, match=msg):
            train_alzheimer(cohort["dir"], cohort["labels"], tmp_path / "m", align="skip", **extra)
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(InvalidInputError, match="is not empty"):
        train_alzheimer(cohort["dir"], cohort["labels"], tmp_path / "full", align="skip")


def test_landmark_model_splits_by_source_and_stores_its_landmarks(landmark_model, cohort):
    info = json.loads((landmark_model / "alzheimer.json").read_text())
    assert info["split_by"] == "source" and not set(info["train_sources"]) & set(info["val_sources"])
    assert set(info["train_sources"]) | set(info["val_sources"]) == {"src0", "src1", "src2", "src3"}
    doc = json.loads((landmark_model / "model.json").read_text())
    pts = np.array(doc["contract"]["landmark_points"]) if "contract" in doc else None
    assert pts is not None and pts.shape == (3, 3)
    # the most significant landmark lies on the planted blob (within 2 voxels: 12 noisy training subjects,
    # 4 mm smoothing)
    grid = Volume(np.zeros(SHAPE, np.float32), spacing=(2.0,) * 3, origin=(-16.0, 20.0, 16.0), direction=DIRECTION)
    first = np.rint(grid.world_to_index(pts[:1]))[0]
    assert np.abs(first - BLOB).max() <= 2
    assert (landmark_model / "landmarks.csv").read_text().startswith("rank,")


def test_landmark_model_predicts_and_evaluates_held_out_sources(landmark_model, cohort, one_torch_thread):  # noqa: F811
    from napari_medai.core.io import read_volume

    test = [f"s{k}" for k in range(16, 24)]
    ev = evaluate_alzheimer(landmark_model, cohort["dir"], cohort["labels"], subjects=test, align="skip")
    assert ev.notes[-1].startswith("held out") and ev.auc >= 0.75 and len(ev.subjects) == 8
    seen = evaluate_alzheimer(landmark_model, cohort["dir"], cohort["labels"], subjects=["s0", "s1"], align="skip")
    assert "NOT a held-out evaluation" in seen.notes[-1]
    ad = read_volume(cohort["dir"] / "t1" / "s17.nii.gz")  # an AD subject of a held-out source
    p = predict_alzheimer(landmark_model, ad, already_aligned=True)
    assert isinstance(p, AlzheimerPrediction) and p.trained and 0 <= p.probability <= 1
    assert p.probability == pytest.approx(ev.probabilities[ev.subjects.index("s17")], abs=1e-5)
    assert p.decision == ("AD" if p.probability >= p.threshold else "NC")
    assert p.contributions.shape == (3,) and p.landmarks_mm.shape == (3, 3)
    assert p.saliency.same_grid(ad) and np.abs(p.saliency.data).max() > 0
    doc = json.loads(json.dumps(p.to_json()))
    assert doc["disclaimer"] == DISCLAIMER and len(doc["landmarks"]) == 3 and doc["registration"]["skipped"]


def test_whole_brain_baseline_trains_the_same_way(cohort, tmp_path, one_torch_thread):  # noqa: F811
    from napari_medai.core.io import read_volume

    out = tmp_path / "wb"
    res = train_alzheimer(cohort["dir"], cohort["train"], out, model="whole-brain", network={"width": 4},
                          **{**TRAIN, "max_epochs": 2})
    info = json.loads((out / "alzheimer.json").read_text())
    assert info["model"] == "whole-brain" and info["landmarks"] == [] and res.epochs_run == 2
    assert res.contract.input_mode == "whole" and res.contract.roi_size == (16, 16, 16)  # 4 mm: 8x10x8, raised to 16
    vol = read_volume(cohort["dir"] / "t1" / "s3.nii.gz")
    p = predict_alzheimer(out, vol, already_aligned=True, occlusion_block=4)
    assert p.model_kind == "whole-brain" and p.landmarks_mm.shape == (0, 3) and p.saliency.same_grid(vol)
    assert np.isfinite(p.saliency.data).all() and p.trained


def test_an_untrained_model_says_so_and_gives_no_probability(cohort, tmp_path):
    from napari_medai.core.io import read_volume
    from napari_medai.core.models.loading import build_network
    from napari_medai.core.models.persistence import save_model_folder

    grid = read_volume(cohort["dir"] / "t1" / "s1.nii.gz")
    c = landmark_contract(grid.index_to_world(np.array([[8.0, 6.0, 10.0]])), patch=6,
                          features=[4], fc=[], patch_fc=4, embedding=2)
    save_model_folder(tmp_path / "untrained", build_network(c.network), c)
    p = predict_alzheimer(tmp_path / "untrained", grid, already_aligned=True)
    assert not p.trained and math.isnan(p.probability) and p.decision == "not trained"
    assert "NOT TRAINED" in p.summary() and np.isnan(p.contributions).all() and not p.saliency.data.any()
    assert p.to_json()["probability_ad"] is None
    with pytest.raises(InvalidInputError, match="NOT TRAINED"):
        evaluate_alzheimer(tmp_path / "untrained", cohort["dir"], cohort["labels"], align="skip")


def test_cross_validation_by_source_predicts_every_subject_once_out_of_fold(cohort, tmp_path, one_torch_thread):  # noqa: F811
    from napari_medai.core.tasks.alzheimer.cross_validation import cross_validate_alzheimer

    out = tmp_path / "cv"
    ev = cross_validate_alzheimer(cohort["dir"], cohort["labels"], out, folds=3, n_landmarks=2, min_distance_mm=6.0,
                                  patch=6, network=TINY_NET, **{**TRAIN, "max_epochs": 1, "steps_per_epoch": 2})
    assert sorted(ev.subjects) == sorted(f"s{k}" for k in range(24)) and ev.truth.sum() == 12
    for k in range(1, 4):  # each fold's model never saw the sources it predicted
        info = json.loads((out / f"fold-{k}" / "model" / "alzheimer.json").read_text())
        train_csv = (out / f"fold-{k}" / "train_labels.csv").read_text()
        held = {f"src{s}" for s in range(6)} - {ln.split(",")[2] for ln in train_csv.splitlines()[1:]}
        assert len(held) == 2 and not held & set(info["train_sources"] + info["val_sources"])
    assert "3-fold cross-validation by source" in ev.notes[0] and 0 <= ev.auc <= 1
    with pytest.raises(InvalidInputError, match="folds must be 2 to 6"):
        cross_validate_alzheimer(cohort["dir"], cohort["labels"], tmp_path / "cv2", folds=7, align="skip")
