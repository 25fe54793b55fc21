"""Journeys through the low-dose CT widget as a user takes them.

Plugins > napari-medai > Low-dose CT denoising (napari's own ``add_plugin_dock_widget``, so the widget
gets napari's public viewer proxy, as a user's does), data from File > Open Sample, controls found by
the text a user reads, clicks with the mouse, and checks on the layers that appear and the numbers
shown. Every number is compared with the core function called here on the same arrays.

The sample is the 3 x 256 x 256 abdominal phantom (0.9 mm pixels, 3 mm slices); the network steps
are kept tiny (a few noise2self steps, one RED-CNN epoch of 3 steps with 4 filters).
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtWidgets import QLabel, QProgressBar, QTableWidget

from napari_medai._napari._widgets import RED

from .journey import (
    button,
    check,
    click,
    field,
    header_texts,
    layer_names,
    open_sample,
    open_widget,
    show_tab,
    step,
    table_texts,
    wait_until,
)

WIDGET = "Low-dose CT denoising"
#: A plugin widget that reaches a private attribute through napari's proxy is a bug (and stops working
#: in napari 0.10): make the proxy's warning an error, so the journey fails where it happens.
pytestmark = pytest.mark.filterwarnings("error:Private attribute access:FutureWarning")


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread (restored after): the tiny networks gain nothing from more, and on a machine whose
    cores are busy with other jobs two threads wait for each other."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


def _ldct(make_napari_viewer):
    """A viewer with File > Open Sample > napari-medai > Low-dose / full-dose CT pair, then the widget."""
    viewer = make_napari_viewer()
    open_sample(viewer, "ldct")
    return viewer, open_widget(viewer, WIDGET)


def _idle(w) -> None:
    assert w.wait_idle(120), "the job did not finish in 120 s"


def _red(w) -> list[str]:
    """The red messages the widget shows now."""
    return [lab.text() for lab in w.findChildren(QLabel) if lab.styleSheet() == RED and lab.isVisibleTo(w)]


def _shown(w) -> str:
    """Every text the widget shows now (labels only), joined: what a user reads."""
    return "\n".join(lab.text() for lab in w.findChildren(QLabel) if lab.isVisibleTo(w) and lab.text())


def _progress(w) -> int:
    return w.findChildren(QProgressBar)[0].value()


def _same_grid(a, b) -> None:
    np.testing.assert_allclose(a.scale, b.scale)
    np.testing.assert_allclose(a.translate, b.translate)
    assert a.data.shape == b.data.shape


# ------------------------------------------------------------------------------------------- simulate
def test_simulate_from_the_plugins_menu_equals_the_core(make_napari_viewer, qtbot):
    from napari_medai.core.simulation import simulate_low_dose

    viewer, w = _ldct(make_napari_viewer)
    full = viewer.layers["full_dose"]
    assert full.data.shape == (3, 256, 256)
    step("tab Simulate")
    page = show_tab(w, "Simulate")
    check()
    assert field(page, "full dose").currentText() == "full_dose"  # picked by its name
    assert field(page, "pixel size").value() == pytest.approx(full.scale[-1], abs=1e-4)  # from the layer's scale
    step("seed 3")
    field(page, "seed").setValue(3)
    click(qtbot, button(page, "Simulate low dose"))
    _idle(w)
    check()
    assert not _red(w), _red(w)
    assert layer_names(viewer) == ["full_dose", "low_dose", "full_dose_dose25%"]
    low = viewer.layers["full_dose_dose25%"]
    _same_grid(low, full)
    # one call of the core on the whole stack (so also 'napari-medai simulate-low-dose --seed 3')
    check("the core's reference on the same arrays")
    expected = simulate_low_dose(np.asarray(full.data, np.float32), pixel_size_mm=field(page, "pixel size").value(),
                                 dose_fraction=0.25, i0=1e5, seed=3)
    np.testing.assert_array_equal(low.data, expected)
    assert "seed 3" in _shown(w) and _progress(w) == 1000


# ------------------------------------------------------------------------------------------- denoise
def test_widget_opened_before_the_sample_then_a_classical_filter(make_napari_viewer, qtbot):
    from napari_medai.core.tasks.ldct import denoise

    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    # nothing open yet: the widget says what to open, in red, and adds nothing
    click(qtbot, button(show_tab(w, "Simulate"), "Simulate low dose"))
    _idle(w)
    check()
    assert len(_red(w)) == 1 and "Open Sample" in _red(w)[0] and "\n" not in _red(w)[0]
    assert len(viewer.layers) == 0
    open_sample(viewer, "ldct")
    step("tab Denoise")
    page = show_tab(w, "Denoise")
    check()
    assert field(page, "input").currentText() == "low_dose"  # the combos follow the layers that arrive
    step("tab Simulate")
    simulate_page = show_tab(w, "Simulate")
    check()
    assert field(simulate_page, "full dose").currentText() == "full_dose"
    step("tab Denoise, method tv")
    page = show_tab(w, "Denoise")
    field(page, "method").setCurrentText("tv")
    check()
    assert field(page, "weight").isVisibleTo(w)  # the filter's own parameter
    click(qtbot, button(page, "Denoise", exact=True))
    _idle(w)
    check()
    assert not _red(w), _red(w)
    low, out = viewer.layers["low_dose"], viewer.layers["low_dose_tv"]
    _same_grid(out, low)
    check("the core's reference on the same arrays")
    np.testing.assert_array_equal(out.data, denoise(np.asarray(low.data), method="tv").image)
    assert "tv parameters" in _shown(w) and "weight=" in _shown(w)
    # noise2self shows its own options only: no filter weight, no tv parameters
    step("method noise2self")
    field(page, "method").setCurrentText("noise2self")
    check()
    assert field(page, "iterations").isVisibleTo(w)
    assert not field(page, "weight").isVisibleTo(w)
    assert "tv parameters" not in _shown(w) and "weight=" not in _shown(w)
    step("method tv")
    field(page, "method").setCurrentText("tv")  # back: the tv run's parameters again
    check()
    assert "tv parameters" in _shown(w)


def test_noise2self_stop_keeps_what_was_learned_and_cancel_adds_nothing(make_napari_viewer, qtbot):
    viewer, w = _ldct(make_napari_viewer)
    step("tab Denoise, method noise2self, 400 iterations")
    page = show_tab(w, "Denoise")
    field(page, "method").setCurrentText("noise2self")
    field(page, "iterations").setValue(400)
    click(qtbot, button(page, "Denoise", exact=True))
    stop = button(page, "Stop training")
    wait_until(lambda: _progress(w) > 0, 120)  # a few steps trained
    click(qtbot, stop)
    _idle(w)
    check()
    assert not _red(w), _red(w)
    out = viewer.layers["low_dose_noise2self"]
    _same_grid(out, viewer.layers["low_dose"])
    assert np.isfinite(out.data).all()
    text = _shown(w)
    assert "Training was stopped after" in text and "of 400 steps" in text and "noise2self parameters" in text
    # Cancel instead: nothing is added, and the widget says so
    step("remove the result layer")
    viewer.layers.remove("low_dose_noise2self")
    n = len(viewer.layers)
    click(qtbot, button(page, "Denoise", exact=True))
    wait_until(lambda: _progress(w) > 0, 120)
    click(qtbot, button(w, "Cancel"))
    _idle(w)
    check()
    assert len(viewer.layers) == n
    assert any("nothing was added" in t for t in _red(w)), _red(w)


# ------------------------------------------------------------------------------------------- train
def test_train_one_tiny_epoch_denoise_with_it_then_stop_a_run(make_napari_viewer, qtbot, tmp_path):
    from napari_medai.core.tasks.ldct import denoise

    viewer, w = _ldct(make_napari_viewer)
    step("tab Train")
    page = show_tab(w, "Train")
    check()
    assert field(page, "full dose").currentText() == "full_dose"
    assert field(page, "low dose").currentText() == "low_dose"
    step("type the tiny settings")
    for label, value in (("epochs", 1), ("steps / epoch", 3), ("patch", 32), ("filters", 4), ("batch", 2)):
        field(page, label).setValue(value)
    field(page, "device").setCurrentText("cpu")
    field(page, "model folder").setText(str(tmp_path / "model"))
    n = len(viewer.layers)
    click(qtbot, button(page, "Train RED-CNN"))
    _idle(w)
    check()
    assert not _red(w), _red(w)
    assert (tmp_path / "model" / "model.json").is_file()
    assert "trained 1 epochs" in _shown(w) and len(viewer.layers) == n  # training adds no layer
    # the Denoise tab now offers the model: method 'trained' with the folder filled in
    step("tab Denoise, method trained")
    page = show_tab(w, "Denoise")
    field(page, "method").setCurrentText("trained")
    check()
    assert "trained on" in _shown(w)
    click(qtbot, button(page, "Denoise", exact=True))
    _idle(w)
    assert not _red(w), _red(w)
    low, out = viewer.layers["low_dose"], viewer.layers["low_dose_trained"]
    _same_grid(out, low)
    check("the core's reference on the same arrays")
    expected = denoise(np.asarray(low.data), method="trained", weights=tmp_path / "model", device="cpu").image
    np.testing.assert_allclose(out.data, expected, atol=1e-4)
    # a long run stopped in its first epoch: the widget says what was kept, and the button comes back
    step("tab Train, 5000 steps, another folder")
    page = show_tab(w, "Train")
    field(page, "steps / epoch").setValue(5000)  # one step moves the bar (0.2 per mille each)
    field(page, "model folder").setText(str(tmp_path / "stopped"))
    train = button(page, "Train RED-CNN")
    click(qtbot, train)
    wait_until(lambda: _progress(w) > 0, 120)
    click(qtbot, button(page, "Stop (keep best epoch)"))
    _idle(w)
    check()
    assert train.isEnabled()
    text = _shown(w)
    saved = (tmp_path / "stopped" / "model.json").is_file()
    assert ("stopped by you" in text) if saved else ("nothing was saved" in text), text


def test_model_folder_chosen_before_the_images(make_napari_viewer, qtbot, tmp_path):
    """The order of a second case: the model first (typed into the Denoise tab), then the images."""
    from qtpy.QtCore import Qt
    from qtpy.QtWidgets import QLineEdit

    from napari_medai.core.phantoms import ldct_phantom
    from napari_medai.core.tasks.ldct import denoise, train_ldct

    tiny = ldct_phantom(seed=1, n_slices=2, size=64)  # another case than the sample
    folder = tmp_path / "model"
    train_ldct([(tiny["full_dose"], tiny["low_dose"])], out_dir=folder, filters=4, patch=32, batch_size=2,
               steps_per_epoch=3, max_epochs=1, val_fraction=0.0, seed=0, device="cpu")
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    step("tab Denoise, method trained")
    page = show_tab(w, "Denoise")
    field(page, "method").setCurrentText("trained")
    check()
    assert "Folder" in _shown(w)  # says how to choose the model
    edit = next(e for e in page.findChildren(QLineEdit) if e.isVisibleTo(w) and "model folder" in e.placeholderText())
    step("type the model folder, Enter")
    qtbot.keyClicks(edit, str(folder))
    qtbot.keyClick(edit, Qt.Key_Return)
    check()
    assert "trained on" in _shown(w) and not _red(w), _shown(w)
    open_sample(viewer, "ldct")
    check()
    assert field(page, "input").currentText() == "low_dose" and field(page, "method").currentText() == "trained"
    click(qtbot, button(page, "Denoise", exact=True))
    _idle(w)
    check()
    assert not _red(w), _red(w)
    low, out = viewer.layers["low_dose"], viewer.layers["low_dose_trained"]
    _same_grid(out, low)
    check("the core's reference on the same arrays")
    expected = denoise(np.asarray(low.data), method="trained", weights=folder, device="cpu").image
    np.testing.assert_allclose(out.data, expected, atol=1e-4)


# ------------------------------------------------------------------------------------------- measure
def test_measure_rows_equal_the_core_quality_row(make_napari_viewer, qtbot):
    from napari_medai._napari.ldct_widget import shapes_to_mask
    from napari_medai.core.metrics.image_quality import quality_row

    viewer, w = _ldct(make_napari_viewer)
    full, low = viewer.layers["full_dose"], viewer.layers["low_dose"]
    # a rectangle drawn in uniform liver on the slice shown (a 2-D Shapes layer over the stack)
    r0, c0 = low.data_to_world((0, 100, 60))[1:]
    r1, c1 = low.data_to_world((0, 120, 85))[1:]
    step("draw a rectangle ROI")
    viewer.add_shapes([np.array([[r0, c0], [r0, c1], [r1, c1], [r1, c0]])], shape_type="rectangle", name="roi")
    step("tab Measure")
    page = show_tab(w, "Measure")
    check()
    assert field(page, "reference").currentText() == "full_dose"
    assert field(page, "noise ROI").currentText() == "roi"
    click(qtbot, button(page, "Measure"))
    _idle(w)
    check()
    assert not _red(w), _red(w)
    table = page.findChildren(QTableWidget)[0]
    assert header_texts(table) == ["image", "PSNR dB", "SSIM", "RMSE HU", "noise SD HU"]
    rows = table_texts(table)
    assert [r[0] for r in rows] == ["full_dose (reference)", "low_dose"]
    check("the core's reference on the same arrays")
    ref = np.asarray(full.data, np.float32)
    for cells, layer in zip(rows, (full, low)):
        mask, _ = shapes_to_mask(viewer.layers["roi"], layer, tuple(viewer.dims.point))
        assert mask.sum() > 400  # about 21 x 26 pixels
        q = quality_row(np.asarray(layer.data, np.float32), reference=None if layer is full else ref,
                        roi_mask=mask, window=(-160.0, 240.0), name=layer.name)
        if layer is full:
            assert cells[1:4] == ["–", "–", "–"]
        else:
            assert cells[1:4] == [f"{q['psnr']:.2f}", f"{q['ssim']:.3f}", f"{q['rmse']:.1f}"]
        assert cells[4] == f"{q['noise_sd']:.1f}"
    assert float(rows[1][4]) > float(rows[0][4])  # the low dose is noisier in the liver
    # Difference layer of the selected row: image - reference, on the image's grid
    step("select the low-dose row")
    table.selectRow(1)
    click(qtbot, button(page, "Difference layer"))
    check()
    assert not _red(w), _red(w)
    diff = viewer.layers["low_dose - full_dose"]
    _same_grid(diff, low)
    np.testing.assert_array_equal(diff.data, np.asarray(low.data, np.float32) - ref)


def test_the_dock_fits_a_small_screen_on_every_tab(make_napari_viewer):
    """The dock never asks for more height than a 1280 x 800 window has: a tall tab scrolls."""
    viewer, w = _ldct(make_napari_viewer)
    for tab in ("Simulate", "Denoise", "Train", "Measure"):
        step(f"tab {tab}")
        show_tab(w, tab)
        check()
        assert w.minimumSizeHint().height() < 600, (tab, w.minimumSizeHint())
        assert w.minimumSizeHint().width() < 600, (tab, w.minimumSizeHint())


# ------------------------------------------------------------------------------------------- refusals
def test_mr_images_and_labels_are_refused_and_nothing_is_added(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    open_sample(viewer, "brain_tumour")  # MR images and two Labels layers
    w = open_widget(viewer, WIDGET)
    step("look through the four tabs' image lists")
    names = layer_names(viewer)
    assert {"seg", "brainmask"} <= set(names)

    def offered(combo):
        return [combo.itemText(i) for i in range(combo.count())]

    # Labels layers are never offered as images
    for tab, label in (("Simulate", "full dose"), ("Denoise", "input"), ("Train", "full dose"), ("Measure", "reference")):
        items = offered(field(show_tab(w, tab), label))
        assert "seg" not in items and "brainmask" not in items and "flair" in items, (tab, items)
    # an MR image is refused by every tab with one red line, and nothing is added
    for tab, label, run in (("Simulate", "full dose", "Simulate low dose"), ("Denoise", "input", "Denoise"),
                            ("Measure", "reference", "Measure")):
        step(f"tab {tab}, choose flair")
        page = show_tab(w, tab)
        field(page, label).setCurrentText("flair")
        click(qtbot, button(page, run, exact=run == "Denoise"))
        _idle(w)
        check()
        red = _red(w)
        assert len(red) == 1 and "'flair' is not a CT (modality MR)" in red[0] and "\n" not in red[0], (tab, red)
        assert layer_names(viewer) == names
