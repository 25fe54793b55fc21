"""Training, using and evaluating a radiograph classifier on tiny synthetic folders (bright blob vs none)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import ImageReadError, InvalidInputError
from napari_medai.core.models import LoadedModel, load_model
from napari_medai.core.tasks.classify import (
    classify_contract,
    classify_image,
    classify_paths,
    evaluate_classifier,
    train_classify,
)
from napari_medai.core.volume import Volume

from .test_classify_data import blob_image, write_blob_folder
from .test_models_support import one_torch_thread  # noqa: F401

FAST = {"size": 32, "batch_size": 16, "steps_per_epoch": 6, "learning_rate": 3e-3, "num_threads": 1}
#: The module's shared model works at 64 px, so that its Grad-CAM layer (layer2, 8 x 8 cells) can localise.
SIZE = 64


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> tuple[Path, Path, dict]:
    """(model folder, held-out folder, {held-out path: blob centre}): trained once for this module."""
    root = tmp_path_factory.mktemp("cls")
    write_blob_folder(root / "data", n=16, seed=0, size=SIZE)
    centres = write_blob_folder(root / "heldout", n=12, seed=7, size=SIZE)
    res = train_classify(root / "data", root / "model", max_epochs=4, seed=0,
                         **{**FAST, "size": SIZE, "steps_per_epoch": 5})
    assert res.epochs_run >= 1
    return root / "model", root / "heldout", centres


def test_it_learns_and_the_held_out_figures_are_right(trained, tmp_path: Path) -> None:
    model, heldout, _ = trained
    ev = evaluate_classifier(model, heldout)
    pc = ev.per_class["present"]
    assert ev.n_images == 24 and pc["n_positive"] == 12 and pc["n_negative"] == 12
    assert pc["auc"] > 0.9 and pc["auc_ci"][0] <= pc["auc"] <= pc["auc_ci"][1]
    assert ev.confusion.sum() == 24 and ev.confusion.shape == (2, 2)
    # sensitivity / specificity / accuracy agree with the confusion matrix (rows truth, columns decision)
    (tn, fp), (fn, tp) = ev.confusion
    assert pc["sensitivity"] == pytest.approx(tp / 12) and pc["specificity"] == pytest.approx(tn / 12)
    assert ev.accuracy == pytest.approx((tp + tn) / 24)
    doc = ev.to_json()
    assert json.loads(json.dumps(doc))["per_class"]["present"]["auc"] == pytest.approx(pc["auc"], abs=1e-6)
    png = ev.roc_png(tmp_path / "roc.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_model_folder_records_classes_input_and_training_data(trained) -> None:
    model, _, _ = trained
    doc = json.loads((model / "model.json").read_text())
    c = doc["contract"]
    assert c["output_channels"] == ["absent", "present"] and c["roi_size"] == [SIZE, SIZE]
    assert c["normalization"] == "zscore" and c["is_trained"] is True
    t = doc["training"]
    assert t["input"] == {"size": [SIZE, SIZE], "normalization": "zscore", "channels": ["image"]}
    assert t["data"]["n_train"] + t["data"]["n_validation"] == 32 and t["data"]["classes"] == ["absent", "present"]
    assert t["data"]["per_class"]["validation"]["present"] >= 1
    assert t["recipe"]["augmentation"]["kind"] == "radiograph (no flips)" and t["recipe"]["sampling"] == "class-balanced"
    assert {"val_auc", "val_loss", "train_loss"} <= set(t["history"][0])


def test_activation_map_lies_on_the_blob_on_the_input_grid(trained) -> None:
    model, _, centres = trained
    hits = []
    for path, (cy, cx) in centres.items():
        r = classify_image(model, path, cam_class="present")
        assert r.cam.shape == (SIZE, SIZE) and r.cam.min() >= 0.0 and r.cam.max() == pytest.approx(1.0)
        assert "Grad-CAM of layer layer2" in r.notes[-1]  # 8 x 8 cells at 64 px
        py, px = np.unravel_index(int(np.argmax(r.cam)), r.cam.shape)
        hits.append(np.hypot(py - cy, px - cx) <= 8)
    assert np.mean(hits) >= 0.75, hits
    # a non-square image: the map comes back on its own grid (rows x columns), peaking at the blob
    rng = np.random.default_rng(11)
    img = np.concatenate([blob_image(rng, False, SIZE)[0], blob_image(rng, False, SIZE)[0]], axis=0).astype(np.float32)
    yy, xx = np.mgrid[:2 * SIZE, :SIZE]
    img[(yy - 100) ** 2 + (xx - 16) ** 2 <= 16] += 100  # 128 x 64 image, blob low and left
    r = classify_image(model, Volume(img), cam_class="present")
    assert r.cam.shape == (2 * SIZE, SIZE)
    py, px = np.unravel_index(int(np.argmax(r.cam)), r.cam.shape)
    assert np.hypot(py - 100, px - 16) <= 16


def test_reloaded_model_and_paths_give_the_same_answers(trained) -> None:
    model, heldout, _ = trained
    files = sorted((heldout / "present").glob("*.png"))[:3]
    batch = classify_paths(model, [heldout / "present"], cam=False)
    assert [p for p, _ in batch][:3] == [str(f) for f in files]
    again = classify_image(load_model(model), files[0], cam=False)
    np.testing.assert_allclose(batch[0][1].probabilities, again.probabilities, rtol=1e-6)
    assert again.probabilities.sum() == pytest.approx(1.0) and again.trained
    assert again.decisions == [again.class_names[int(np.argmax(again.probabilities))]]
    j = again.to_json()
    assert j["trained"] and set(j["probabilities"]) == {"absent", "present"} and j["cam_shape"] is None


def test_an_untrained_network_never_shows_findings(tmp_path: Path) -> None:
    lm = LoadedModel.random(classify_contract(("NORMAL", "PNEUMONIA"), size=32))
    img, _ = blob_image(np.random.default_rng(0), True)
    r = classify_image(lm, img.astype(np.float32))
    assert r.trained is False and r.decisions == [] and r.cam is None
    assert "not trained" in r.summary() and any("NOT TRAINED" in n for n in r.notes)


def test_stop_and_resume(tmp_path: Path) -> None:
    write_blob_folder(tmp_path / "data", n=6)
    out = tmp_path / "model"
    first = train_classify(tmp_path / "data", out, max_epochs=1, **{**FAST, "steps_per_epoch": 2})
    assert first.epochs_run == 1
    with pytest.raises(InvalidInputError, match="already holds a training run"):
        train_classify(tmp_path / "data", out, max_epochs=2, **{**FAST, "steps_per_epoch": 2})
    second = train_classify(tmp_path / "data", out, max_epochs=2, resume=True, **{**FAST, "steps_per_epoch": 2})
    assert second.resumed_from == 1 and second.epochs_run == 2


def test_head_only_transfer_keeps_the_backbone(trained, tmp_path: Path) -> None:
    import torch

    model, _, _ = trained
    write_blob_folder(tmp_path / "data", n=6, seed=3)
    out = tmp_path / "tuned"
    train_classify(tmp_path / "data", out, init_from=model, finetune="head", max_epochs=1,
                   **{**FAST, "size": SIZE, "steps_per_epoch": 3})
    src = torch.load(model / "model.pt", weights_only=True)
    new = torch.load(out / "model.pt", weights_only=True)
    for k in src:
        if k.startswith("fc."):
            continue
        assert torch.equal(src[k], new[k]), k  # frozen weights and batch-norm statistics
    assert not torch.equal(src["fc.weight"], new["fc.weight"])
    doc = json.loads((out / "model.json").read_text())
    assert doc["training"]["init_from"]["head"] == "kept (same classes)"
    assert doc["training"]["recipe"]["trainable"] == "head" and "transfer from" in doc["contract"]["trained_on"]
    with pytest.raises(InvalidInputError, match="give init_from"):
        train_classify(tmp_path / "data", tmp_path / "x", finetune="head", **FAST)


def test_multilabel_csv_trains_sigmoid_findings(tmp_path: Path) -> None:
    from PIL import Image

    rng = np.random.default_rng(4)
    rows = ["image,findings"]
    for i in range(12):
        img, _ = blob_image(rng, present=i % 2 == 0)
        if i % 3 == 0:
            img[:, :3] = 255  # a bright edge: the second finding
        Image.fromarray(img).save(tmp_path / f"x{i}.png")
        found = [n for n, on in (("Mass", i % 2 == 0), ("Effusion", i % 3 == 0)) if on]
        rows.append(f"x{i}.png,{'|'.join(found) or 'No Finding'}")
    (tmp_path / "labels.csv").write_text("\n".join(rows) + "\n")
    res = train_classify(tmp_path, tmp_path / "model", labels_csv=tmp_path / "labels.csv", max_epochs=1,
                         **{**FAST, "steps_per_epoch": 2})
    lm = load_model(res.out_dir)
    assert lm.contract.output_kind == "sigmoid" and lm.contract.output_channels == ("Mass", "Effusion")
    r = classify_image(lm, tmp_path / "x0.png", cam_class="Effusion")
    assert r.probabilities.shape == (2,) and r.cam_class == "Effusion" and r.cam.shape == (32, 32)
    ev = evaluate_classifier(lm, tmp_path, labels_csv=tmp_path / "labels.csv")
    assert ev.multilabel and ev.confusion.shape == (2, 2, 2) and ev.per_class["Mass"]["n_positive"] == 6


def test_bad_images_are_refused_before_work(trained, tmp_path: Path) -> None:
    from PIL import Image

    model, _, _ = trained
    with pytest.raises(InvalidInputError, match="is 3-D"):
        classify_image(model, Volume(np.zeros((4, 32, 32), np.float32)))
    colour = np.zeros((32, 32, 3), np.uint8)
    colour[..., 2] = 255
    Image.fromarray(colour).save(tmp_path / "blue.png")
    with pytest.raises(ImageReadError, match="colour image"):
        classify_image(model, tmp_path / "blue.png")
    write_blob_folder(tmp_path / "other", n=2, classes=("absent", "elsewhere"))
    with pytest.raises(InvalidInputError, match="elsewhere.*does not know"):
        evaluate_classifier(model, tmp_path / "other")
    with pytest.raises(InvalidInputError, match="not a class"):
        classify_image(model, tmp_path / "other" / "absent" / "img_0_00.png", cam_class="tumour")


def test_radiograph_augmentation_never_flips_and_is_seeded() -> None:
    import torch

    from napari_medai.core.recipes.classification import radiograph_augment

    x = torch.zeros(64, 1, 32, 32)
    x[:, :, 2:8, 2:8] = 5.0  # a bright patch near the top-left corner
    a = radiograph_augment(x, np.random.default_rng(1))
    b = radiograph_augment(x, np.random.default_rng(1))
    assert torch.equal(a, b) and a.shape == x.shape
    for img in a[:, 0].numpy():
        img = img - np.median(img)
        cy, cx = np.unravel_index(int(np.argmax(img)), img.shape)
        assert cy < 16 and cx < 16  # rotated / scaled / shifted a little, never mirrored
    assert not torch.equal(a[0], a[1])
