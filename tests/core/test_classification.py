"""Model kinds in the contract, and the classification path end to end (lesion-presence phantoms)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics.classification import accuracy, roc_auc
from napari_medai.core.models.contract import ModelContract, NetworkSpec
from napari_medai.core.models.registry import REGISTRY

NET = NetworkSpec("DenseNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 2})


def _classifier(**kw) -> ModelContract:
    base = {"name": "c", "task": "t", "kind": "classification", "channels": ("image",), "output_kind": "softmax",
            "output_channels": ("no", "yes"), "network": NET, "roi_size": (32, 32), "spatial_dims": 2}
    return ModelContract(**{**base, **kw})


# ------------------------------------------------------------------------------------------ contract
def test_segmentation_is_the_default_kind_and_writes_what_it_wrote_before():
    c = REGISTRY["brain-tumour-default"].contract or ModelContract(
        name="s", task="brain_tumour", channels=("flair",), output_kind="sigmoid-regions", output_channels=("WT",),
        label_convention="brats2021", label_names={2: "edema"}, network=NetworkSpec("SegResNet", {}),
        roi_size=(8, 8, 8), label_rules=(("WT", 2),))
    assert c.kind == "segmentation" and c.is_segmentation
    d = c.to_dict()
    assert "kind" not in d and "decision_thresholds" not in d  # old readers see the same fields
    assert ModelContract.from_dict(d) == c


def test_classifier_contract_round_trips_and_needs_no_label_convention():
    c = _classifier(output_kind="sigmoid", output_channels=("a", "b", "c"), decision_thresholds=(0.3, 0.5, 0.7),
                    network=NetworkSpec("DenseNet", {"spatial_dims": 2, "in_channels": 1, "out_channels": 3}))
    d = c.to_dict()
    assert d["kind"] == "classification" and "label_convention" not in d and "label_rules" not in d
    back = ModelContract.from_dict(json.loads(json.dumps(d)))
    assert back == c and back.decision_thresholds == (0.3, 0.5, 0.7) and back.patch_size is None
    assert _classifier().decision_thresholds == (0.5, 0.5)  # one default per class
    assert "softmax classifier of no, yes" in _classifier().summary()
    patch = _classifier(input_mode="patch", patch_source="points")
    assert patch.patch_size == (32, 32) and ModelContract.from_dict(patch.to_dict()).patch_source == "points"


@pytest.mark.parametrize(("kw", "fragment"), [
    ({"output_kind": "sigmoid-regions"}, "output_kind of a classification model"),
    ({"label_rules": (("yes", 1),)}, "describe label maps"),
    ({"decision_thresholds": (0.5,)}, "one value in"),
    ({"input_mode": "patch"}, "patch_source"),
    ({"patch_source": "grid"}, "belongs to patch classifiers"),
    ({"output_channels": ("only",), "network": NetworkSpec("DenseNet", {})}, "at least two classes"),
    ({"kind": "regression"}, "kind must be one of"),
])
def test_classifier_contract_refuses_what_does_not_fit(kw, fragment):
    with pytest.raises(InvalidInputError, match=fragment):
        _classifier(**kw)


def test_segmentation_still_needs_its_label_convention_and_unknown_kinds_are_refused_on_read():
    with pytest.raises(InvalidInputError, match="label_convention"):
        ModelContract(name="s", task="t", channels=("flair",), output_kind="softmax-labels",
                      output_channels=("bg", "x"), class_labels=(0, 1), network=NetworkSpec("UNet", {}),
                      roi_size=(8, 8, 8))
    d = _classifier().to_dict()
    with pytest.raises(InvalidInputError, match="lacks label_convention"):
        ModelContract.from_dict({k: v for k, v in d.items() if k != "kind"})
    with pytest.raises(InvalidInputError, match="not one this napari-medai knows"):
        ModelContract.from_dict({**d, "kind": "detection"})


# ------------------------------------------------------------------------------------------ metrics
def test_roc_auc_by_hand():
    # positives score 0.9, 0.4; negatives 0.5, 0.1: pairs (0.9>0.5, 0.9>0.1, 0.4<0.5, 0.4>0.1) -> 3/4
    assert roc_auc([0.9, 0.5, 0.4, 0.1], [1, 0, 1, 0]) == pytest.approx(0.75)
    assert roc_auc([0.5, 0.5], [1, 0]) == pytest.approx(0.5)  # a tie counts one half
    assert accuracy([1, 0, 1], [1, 1, 1]) == pytest.approx(2 / 3)
    with pytest.raises(InvalidInputError, match="both positive and negative"):
        roc_auc([0.1, 0.2], [1, 1])


# ------------------------------------------------------------------------------------------ end to end
torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from .test_models_support import one_torch_thread  # noqa: E402, F401


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from napari_medai.core.tasks.lesion_presence import train_lesion_presence

    out = tmp_path_factory.mktemp("lesion") / "model"
    torch.set_num_threads(1)
    result = train_lesion_presence(out, n_cases=192, seed=0, max_epochs=6, steps_per_epoch=15, device="cpu")
    return out, result


def test_lesion_presence_learns_and_says_how(trained):
    from napari_medai.core.inference.classification import predict_classification
    from napari_medai.core.tasks.lesion_presence import lesion_presence_cases

    out, r = trained
    assert r.monitor == "val_auc" and r.best_metric > 0.9 and r.epochs_run == 6
    doc = json.loads((out / "model.json").read_text())
    assert doc["contract"]["kind"] == "classification" and doc["contract"]["is_trained"]
    assert doc["training"]["recipe"]["sampling"] == "class-balanced" and doc["training"]["recipe"]["loss"] == \
        "cross-entropy"
    assert set(doc["training"]["history"][0]) >= {"val_auc", "val_accuracy", "train_loss"}
    test = lesion_presence_cases(60, seed=99)  # held out: another seed
    p = [predict_classification(out, c.image, device="cpu").probabilities[1] for c in test]
    assert roc_auc(p, [c.label == "present" for c in test]) > 0.9


def test_reloaded_classifier_predicts_the_same_probabilities(trained):
    from napari_medai.core.inference.classification import (
        classification_input,
        predict_classification,
    )
    from napari_medai.core.inference.runners import run_model
    from napari_medai.core.inference.segmentation import predict
    from napari_medai.core.models import ModelLoadError, load_model
    from napari_medai.core.phantoms.lesion_presence import lesion_presence_phantom
    from napari_medai.core.recipes.classification import ClassificationRecipe
    from napari_medai.core.tasks.lesion_presence import lesion_presence_cases
    from napari_medai.core.training import split_cases

    out, r = trained
    m = load_model(out)
    assert m.contract.kind == "classification" and m.contract == r.contract
    vol = lesion_presence_phantom(seed=123, present=True)["image"]
    a = predict_classification(m, vol, device="cpu")
    b = predict_classification(load_model(out), vol.data, device="cpu")  # array or Volume: same input
    np.testing.assert_array_equal(a.probabilities, b.probabilities)
    assert a.present == ["present"] and a.probabilities.sum() == pytest.approx(1.0, abs=1e-6)
    assert run_model(out, vol, device="cpu").probabilities.tolist() == a.probabilities.tolist()
    with pytest.raises(ModelLoadError, match="not a segmentation model"):
        predict(m, {"image": vol})
    # training prepares a case exactly as inference does
    cases = lesion_presence_cases(4, seed=7)
    tr, va = split_cases([c.name for c in cases], val_fraction=0.5, seed=0)
    rec = ClassificationRecipe(r.contract, cases, train_names=tr, val_names=va, seed=0, batch_size=2,
                               steps_per_epoch=1, learning_rate=1e-3, weight_decay=0.0, max_epochs=1, patience=1,
                               val_fraction=0.5, time_limit_s=None, device="cpu")
    rec.prepare(None, None)
    np.testing.assert_array_equal(rec.x[cases[0].name], classification_input(m.contract, cases[0].image)[0][0])


def test_patch_classifier_points_map_to_the_same_patch():
    from napari_medai.core.inference.classification import classification_input
    from napari_medai.core.volume import Volume

    c = _classifier(input_mode="patch", patch_source="points", roi_size=(8, 8), normalization="none")
    img = np.arange(40 * 30, dtype=np.float32).reshape(40, 30)
    x, pts = classification_input(c, Volume(img), points=[(20, 10)])
    # storage orientation: network axes are the array's reversed; the patch is centred on (20, 10)
    assert x.shape == (1, 1, 8, 8) and x[0, 0, 4, 4] == img[20, 10]
    grid = _classifier(input_mode="patch", patch_source="grid", roi_size=(8, 8), normalization="none")
    xg, pg = classification_input(grid, Volume(img))
    assert len(xg) == len(pg) and len(pg) >= 12


def test_classifier_training_resumes_exactly(tmp_path):
    from napari_medai.core.tasks.lesion_presence import (
        lesion_presence_cases,
        lesion_presence_contract,
    )
    from napari_medai.core.training import train_classifier

    torch.set_num_threads(1)
    cases = lesion_presence_cases(16, seed=3, size=16)
    kw = {"seed": 2, "steps_per_epoch": 2, "batch_size": 4, "device": "cpu", "val_fraction": 0.25}
    contract = lesion_presence_contract(size=16)
    full = train_classifier(contract, cases, out_dir=tmp_path / "full", max_epochs=2, **kw)
    train_classifier(contract, cases, out_dir=tmp_path / "part", max_epochs=1, **kw)
    res = train_classifier(contract, cases, out_dir=tmp_path / "part", max_epochs=2, **kw)
    assert res.resumed_from == 1
    assert [h["train_loss"] for h in full.history] == [h["train_loss"] for h in res.history]
