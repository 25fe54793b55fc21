"""Journeys through Plugins > napari-medai > "Classify image" and "Image classification training", as a user
walks them.

Images come from File > Open (tiny grey PNGs written here: a bright blob or none); the classifier is a tiny one
trained once in a fixture with the core's ``train_classify`` on those images' class folders; controls are found by
what they read (journey helpers) and clicked. The numbers shown are compared with the core's ``classify_image``
on the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import QPoint, Qt
from qtpy.QtWidgets import QFileDialog, QTableWidget

from .journey import (
    button,
    check,
    click,
    field,
    header_texts,
    layer_names,
    open_path,
    open_widget,
    show_tab,
    step,
    table_texts,
    wait_until,
)

WIDGET = "Classify image"
TRAINING = "Image classification training (class folders)"
CLASSES = ("blob", "plain")


def _png(path: Path, pixels: np.ndarray) -> Path:
    from skimage.io import imsave

    path.parent.mkdir(parents=True, exist_ok=True)
    imsave(str(path), np.clip(pixels, 0, 255).astype(np.uint8), check_contrast=False)
    return path


def _image(rng: np.random.Generator, blob: bool) -> np.ndarray:
    img = rng.normal(70.0, 8.0, (40, 48))
    if blob:
        r, c = rng.integers(10, 30), rng.integers(10, 38)
        yy, xx = np.ogrid[:40, :48]
        img[(yy - r) ** 2 + (xx - c) ** 2 <= 30] += 140.0
    return img


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Class folders of 40x48 grey PNGs (8 with a blob, 8 plain), a classifier trained on them for one epoch at
    32 px, an untrained classifier of the same network, and a folder of new images to classify (one unreadable)."""
    pytest.importorskip("torch")
    from napari_medai.core.models.loading import LoadedModel
    from napari_medai.core.models.persistence import save_model_folder
    from napari_medai.core.tasks.classify import classify_contract, train_classify

    root = tmp_path_factory.mktemp("classify")
    rng = np.random.default_rng(0)
    for cls in CLASSES:
        for i in range(8):
            _png(root / "data" / cls / f"{cls}_{i}.png", _image(rng, cls == "blob"))
    train_classify(root / "data", root / "model", size=32, max_epochs=1, batch_size=8, seed=0, num_threads=1)
    random = LoadedModel.random(classify_contract(CLASSES, size=32, name="random-classifier"))
    save_model_folder(root / "untrained", random.network, random.contract)
    new = root / "new"
    for i in range(3):
        _png(new / f"case_{i}.png", _image(rng, i != 1))
    (new / "broken.png").write_bytes(b"not a png")
    return {"data": root / "data", "model": root / "model", "untrained": root / "untrained", "new": new,
            "blob": _png(root / "open" / "chest_blob.png", _image(rng, True)),
            "plain": _png(root / "open" / "chest_plain.png", _image(rng, False))}


@pytest.fixture
def notified(monkeypatch):
    """The napari notifications shown (an error a user sees besides the red status line)."""
    shown: list[str] = []
    monkeypatch.setattr("napari.utils.notifications.show_error", lambda text: shown.append(str(text)))
    return shown


def _pick_folder(qtbot, monkeypatch, w, button_text: str, folder: Path) -> None:
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(folder)))
    click(qtbot, button(w, button_text))


def _idle(w):
    wait_until(lambda: not w.busy, 120)


def _core(model, path, cam_class=None):
    from napari_medai.core.tasks.classify import classify_image

    return classify_image(model, path, cam_class=cam_class)


def _map(viewer):
    maps = [ly for ly in viewer.layers if ly.name.startswith("activation map")]
    assert len(maps) <= 1, layer_names(viewer)
    return maps[0] if maps else None


def _check_shown(w, viewer, image_name, ref):
    """The bars, the text and the map layer are the core's result ``ref`` on the same image."""
    bars = w.chart.bars
    assert [b[0] for b in bars] == list(ref.class_names)
    np.testing.assert_allclose([b[1] for b in bars], ref.probabilities, atol=1e-5)
    np.testing.assert_allclose([b[2] for b in bars], ref.thresholds)
    for name, p in zip(ref.class_names, ref.probabilities, strict=True):
        assert f"{name} {p:.2f} (threshold" in w.result_text.text()
    cam = _map(viewer)
    image = viewer.layers[image_name]
    assert cam is not None and cam.name == f"activation map: {ref.cam_class}"
    np.testing.assert_allclose(np.asarray(cam.data), ref.cam, atol=1e-5)
    assert cam.data.shape == image.data.shape
    np.testing.assert_allclose(cam.scale, image.scale)
    np.testing.assert_allclose(cam.translate, image.translate)
    assert 0.0 < cam.opacity < 1.0 and cam.blending == "additive"
    assert layer_names(viewer).index(cam.name) > layer_names(viewer).index(image_name)  # drawn over the image


# ------------------------------------------------------------------ journeys
def test_widget_and_model_first_then_image_shows_the_cores_bars_and_map(make_napari_viewer, qtbot, monkeypatch,
                                                                          tiny):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    assert "No model chosen" in w.model_info.text() and "ff7070" in w.model_info.styleSheet()
    _pick_folder(qtbot, monkeypatch, w, "Model folder", tiny["model"])
    assert "softmax classifier of blob, plain" in w.model_info.text() and "ff7070" not in w.model_info.styleSheet()
    assert [field(w, "map for").itemText(i) for i in range(3)] == ["most probable class", *CLASSES]
    open_path(viewer, tiny["blob"])
    assert field(w, "image").currentText() == "chest_blob"
    assert viewer.layers["chest_blob"].data.ndim == 2  # one grey channel from the napari-medai reader
    click(qtbot, button(w, "Classify"))
    _idle(w)
    assert not w.jobs.last_error, w.jobs.last_error
    check("the core on the same file")
    ref = _core(tiny["model"], tiny["blob"])
    _check_shown(w, viewer, "chest_blob", ref)
    top = ref.class_names[int(np.argmax(ref.probabilities))]
    assert ref.cam_class == top  # "most probable class"
    assert w.status.text().startswith(f"'chest_blob': {', '.join(ref.decisions)}")
    assert "not a diagnosis" in w.status.text()


def test_image_first_then_widget_and_the_map_of_another_class(make_napari_viewer, qtbot, monkeypatch, tiny):
    viewer = make_napari_viewer()
    open_path(viewer, tiny["plain"])
    open_path(viewer, tiny["blob"])
    w = open_widget(viewer, WIDGET)
    assert field(w, "image").currentText() == "chest_blob"  # the image opened last
    step("choose chest_plain")
    field(w, "image").setCurrentText("chest_plain")
    _pick_folder(qtbot, monkeypatch, w, "Model folder", tiny["model"])
    click(qtbot, button(w, "Classify"))
    _idle(w)
    check("most probable class")
    ref = _core(tiny["model"], tiny["plain"])
    _check_shown(w, viewer, "chest_plain", ref)
    other = next(c for c in CLASSES if c != ref.cam_class)
    step(f"map for {other}")
    field(w, "map for").setCurrentText(other)  # the map is made again for that class
    _idle(w)
    check("the other class's map")
    _check_shown(w, viewer, "chest_plain", _core(tiny["model"], tiny["plain"], cam_class=other))
    assert len([n for n in layer_names(viewer) if n.startswith("activation map")]) == 1  # replaced, not added


def test_no_model_or_an_untrained_one_shows_nothing(make_napari_viewer, qtbot, monkeypatch, tiny):
    viewer = make_napari_viewer()
    open_path(viewer, tiny["blob"])
    w = open_widget(viewer, WIDGET)
    before = layer_names(viewer)
    click(qtbot, button(w, "Classify"))
    assert "no classifier chosen" in w.status.text() and "ff7070" in w.status.styleSheet()
    assert w.chart.bars == [] and layer_names(viewer) == before
    _pick_folder(qtbot, monkeypatch, w, "Model folder", tiny["untrained"])
    assert "NOT TRAINED" in w.model_info.text() and "ff7070" in w.model_info.styleSheet()
    click(qtbot, button(w, "Classify"))
    _idle(w)
    assert "NOT TRAINED" in w.status.text() and "ff7070" in w.status.styleSheet()
    assert w.chart.bars == [] and layer_names(viewer) == before  # no probability, no map
    # the folder mode refuses it too
    show_tab(w, "Folder")
    _pick_folder(qtbot, monkeypatch, w, "Image folder", tiny["new"])
    click(qtbot, button(w, "Classify folder"))
    _idle(w)
    assert "NOT TRAINED" in w.status.text() and w.table.rowCount() == 0


def test_a_model_that_fails_to_load_is_a_notification_and_adds_nothing(make_napari_viewer, qtbot, monkeypatch, tiny,
                                                                       tmp_path, notified):
    import shutil

    broken = tmp_path / "broken-model"
    shutil.copytree(tiny["model"], broken)
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    _pick_folder(qtbot, monkeypatch, w, "Model folder", broken)
    open_path(viewer, tiny["blob"])
    step("the weights file is damaged after the model was chosen")
    (broken / "model.pt").write_bytes(b"damaged")
    before = layer_names(viewer)
    click(qtbot, button(w, "Classify"))
    _idle(w)
    assert w.jobs.last_error and "ff7070" in w.status.styleSheet()
    assert notified and notified[-1] == w.jobs.last_error
    assert layer_names(viewer) == before and w.chart.bars == []


def test_folder_table_fills_sorts_and_a_row_opens_its_image_with_the_map(make_napari_viewer, qtbot, monkeypatch,
                                                                         tiny):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    _pick_folder(qtbot, monkeypatch, w, "Model folder", tiny["model"])
    show_tab(w, "Folder")
    _pick_folder(qtbot, monkeypatch, w, "Image folder", tiny["new"])
    click(qtbot, button(w, "Classify folder"))
    _idle(w)
    table = next(t for t in w.findChildren(QTableWidget) if "decision" in header_texts(t))
    assert header_texts(table) == ["image", "decision", "blob", "plain"]
    assert table.horizontalHeaderItem(2).toolTip() == "probability of blob"
    rows = {r[0]: r for r in table_texts(table)}
    assert sorted(rows) == ["broken.png", "case_0.png", "case_1.png", "case_2.png"]
    assert rows["broken.png"][1].startswith("not classified:") and rows["broken.png"][2] == "–"
    assert "3 of 4 image(s) classified; 1 could not be read" in w.folder_info.text()
    check("the core on the same files")
    refs = {f"case_{i}.png": _core(tiny["model"], tiny["new"] / f"case_{i}.png") for i in range(3)}
    for name, ref in refs.items():
        assert rows[name][1] == ", ".join(ref.decisions)
        assert [float(v) for v in rows[name][2:]] == pytest.approx(list(ref.probabilities), abs=6e-4)
    # sorting by the probability of blob: a click on its header, and another for the other order
    header = table.horizontalHeader()
    orders = []
    for turn in ("first", "second"):
        step(f"sort by blob, {turn} click")
        qtbot.mouseClick(header.viewport(), Qt.LeftButton,
                         pos=QPoint(header.sectionViewportPosition(2) + header.sectionSize(2) // 2, header.height() // 2))
        descending = header.sortIndicatorOrder() == Qt.DescendingOrder
        orders.append(descending)
        values = [float(r[2]) for r in table_texts(table) if r[2] != "–"]
        assert values == sorted(values, reverse=descending) and header.sortIndicatorSection() == 2
        assert table_texts(table)[-1 if not descending else 0][0] != "" and len(values) == 3
    assert orders[0] != orders[1]
    # a click on the row of case_2 opens it, classifies it and draws its map
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "case_2.png")
    step("click row case_2")
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=table.visualItemRect(table.item(row, 1)).center())
    _idle(w)
    assert "case_2" in layer_names(viewer)
    check("the row's image")
    _check_shown(w, viewer, "case_2", refs["case_2.png"])
    # the next row replaces the image the previous click opened
    row = next(r for r in range(table.rowCount()) if table.item(r, 0).text() == "case_0.png")
    step("click row case_0")
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=table.visualItemRect(table.item(row, 1)).center())
    _idle(w)
    assert "case_0" in layer_names(viewer) and "case_2" not in layer_names(viewer)
    check("the second row's image")
    _check_shown(w, viewer, "case_0", refs["case_0.png"])


def test_train_in_the_training_widget_then_use_it_in_classify_image(make_napari_viewer, qtbot, monkeypatch, tiny,
                                                                    tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    viewer = make_napari_viewer()
    w = open_widget(viewer, TRAINING)
    assert field(w, "task").currentText() == "image classification (class folders)"
    assert field(w, "network").currentText() == "resnet10-slim"
    _pick_folder(qtbot, monkeypatch, w, "Browse", tiny["data"])
    assert "16 images" in w.cases_info.text() and "ff7070" not in w.cases_info.styleSheet()
    click(qtbot, button(w, "advanced"))
    step("tiny settings")
    field(w, "max epochs").setValue(1)
    field(w, "image size").setValue(32)
    field(w, "batch").setValue(8)
    field(w, "CPU threads").setValue(1)
    click(qtbot, button(w, "Train"))
    wait_until(lambda: not w.busy, 180)
    assert not w.jobs.last_error, w.jobs.last_error
    assert w.summary.text().startswith("<b>Reached the epoch limit</b> after 1 epoch(s)")
    assert "validation AUC" in w.summary.text() and "train loss" in w.plot.series
    model_dir = Path(w.result.out_dir)
    assert model_dir.is_relative_to(tmp_path / "home")  # the default folder, never beside the data
    click(qtbot, button(w, "Use in Classify image"))
    c = w.segmentation_widget
    assert c is not None and field(c, "model").text() == str(model_dir)
    assert "trained on" in c.model_info.text() and "ff7070" not in c.model_info.styleSheet()
    open_path(viewer, tiny["blob"])
    click(qtbot, button(c, "Classify"))
    _idle(c)
    check("the trained model on the image")
    _check_shown(c, viewer, "chest_blob", _core(model_dir, tiny["blob"]))


def test_training_refuses_a_folder_without_classes_in_red(make_napari_viewer, qtbot, monkeypatch, tmp_path):
    empty = tmp_path / "no_classes"
    empty.mkdir()
    viewer = make_napari_viewer()
    w = open_widget(viewer, TRAINING)
    _pick_folder(qtbot, monkeypatch, w, "Browse", empty)
    assert "ff7070" in w.cases_info.styleSheet() and str(empty) in w.cases_info.text()
    click(qtbot, button(w, "Train"))
    assert w.jobs.last_error.startswith("Nothing to train on")
    assert not w.busy
