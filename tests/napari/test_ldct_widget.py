"""The low-dose CT dock widget on a small CT phantom: simulate, denoise (classical, noise2self with its live
curve and Stop, RED-CNN, a trained folder), train on pairs, measure, difference layer, and refusals.

Every number the widget shows is checked against the core function computed here on the same arrays."""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import pytest
from qtpy.QtCore import Qt

from napari_medai._napari.layers import volume_to_layer_data
from napari_medai._napari.ldct_widget import SIMULATE, LdctWidget, shapes_to_mask
from napari_medai.core.metrics.image_quality import image_quality, noise_sd
from napari_medai.core.tasks.ldct import METHODS, denoise, estimate_noise_sd

SHARED_WEIGHTS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "weights" / "redcnn_shared_L1_25.pt"
#: A uniform patch of the phantom's liver (rows, columns) on the 64-pixel slices.
LIVER = (slice(26, 35), slice(14, 24))
#: noise2self small enough to train in seconds on a busy CPU.
TINY_N2S = {"batch_size": 4, "patch": 32, "width": 8, "learning_rate": 3e-3}


@pytest.fixture(autouse=True)
def one_torch_thread():
    """One torch thread (restored after): tiny networks gain nothing from more, and on a machine whose
    cores are busy with other jobs two threads wait for each other (20 noise2self steps: 0.2 s vs 24 s)."""
    torch = pytest.importorskip("torch")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@functools.lru_cache(maxsize=1)
def _phantom():
    from napari_medai.core.phantoms import ldct_phantom

    return ldct_phantom(seed=0, n_slices=2, size=64, i0=1e5)  # 3.6 mm pixels, quarter dose: ~50 HU of noise


def _add(viewer, name, *, slice_index=None, data=None):
    """Add a phantom volume (``full_dose`` / ``low_dose``) as a layer, or its one slice as a 2-D layer."""
    vol = _phantom()[name]
    if slice_index is not None:
        vol = vol.with_data(vol.data[slice_index], spacing=vol.spacing[1:], origin=vol.origin[1:],
                            direction=np.eye(2))
    if data is not None:
        vol = vol.with_data(data)
    (d, kw, _), = volume_to_layer_data(vol)
    return viewer.add_image(d, **kw)


@pytest.fixture
def slices(make_napari_viewer):
    """Viewer with the full- and low-dose 2-D slices (scale 3.59 mm, centred translate) and the widget."""
    viewer = make_napari_viewer()
    _add(viewer, "full_dose", slice_index=0)
    _add(viewer, "low_dose", slice_index=0)
    widget = LdctWidget(viewer)
    viewer.window.add_dock_widget(widget)
    return viewer, widget


def _run(qtbot, widget, button, timeout=120):
    qtbot.mouseClick(button, Qt.LeftButton)
    assert widget.wait_idle(timeout), "the job did not finish"


def _same_grid(a, b):
    np.testing.assert_allclose(a.scale, b.scale)
    np.testing.assert_allclose(a.translate, b.translate)
    assert a.data.shape == b.data.shape


def _cells(widget, row):
    return [widget.measure_tab.table.item(row, j).text() for j in range(widget.measure_tab.table.columnCount())]


# ------------------------------------------------------------------------------------------- simulate
def test_simulate_a_stack_equals_one_core_call_and_is_noisier(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    full = _add(viewer, "full_dose")
    widget = LdctWidget(viewer)
    assert widget.simulate_tab.sim_combo.currentText() == "full_dose"
    assert widget.simulate_tab.pixel_spin.value() == pytest.approx(full.scale[-1], abs=1e-4)  # from the layer's scale
    widget.simulate_tab.dose_spin.setValue(25.0)
    widget.simulate_tab.seed_spin.setValue(3)
    _run(qtbot, widget, widget.simulate_tab.simulate_button)
    low = viewer.layers["full_dose_dose25%"]
    _same_grid(low, full)
    from napari_medai.core.simulation import simulate_low_dose, simulate_low_dose_pair

    # the stack is one call of the core (so also `napari-medai simulate-low-dose --seed 3`) on the whole stack
    px = widget.simulate_tab.pixel_spin.value()
    expected = simulate_low_dose(full.data, pixel_size_mm=px, dose_fraction=0.25, i0=1e5, seed=3)
    np.testing.assert_array_equal(low.data, expected)
    assert widget.jobs.progress.value() == 1000 and "seed 3" in widget.jobs.status.text()
    assert noise_sd(low.data[0][LIVER], np.ones((9, 10), bool)) > 1.5 * noise_sd(full.data[0][LIVER],
                                                                                  np.ones((9, 10), bool))
    first = np.array(low.data)
    _run(qtbot, widget, widget.simulate_tab.simulate_button)  # same seed: the same image (the layer is replaced)
    assert [ly.name for ly in viewer.layers].count("full_dose_dose25%") == 1
    np.testing.assert_array_equal(viewer.layers["full_dose_dose25%"].data, first)
    widget.simulate_tab.seed_spin.setValue(4)
    widget.simulate_tab.ref_check.setChecked(True)
    _run(qtbot, widget, widget.simulate_tab.simulate_button)
    assert not np.array_equal(viewer.layers["full_dose_dose25%"].data, first)
    assert "full_dose_noise_free" in viewer.layers
    assert viewer.layers["full_dose_dose25%"].metadata["napari_medai"]["header"]["simulated_low_dose"]["seed"] == 4
    pair = simulate_low_dose_pair(full.data, pixel_size_mm=px, dose_fraction=0.25, i0=1e5, seed=4)
    np.testing.assert_array_equal(viewer.layers["full_dose_dose25%"].data, pair[0])
    np.testing.assert_array_equal(viewer.layers["full_dose_noise_free"].data, pair[1])


# ------------------------------------------------------------------------------------------- denoise
def test_method_list_comes_from_the_core(slices):
    _, widget = slices
    assert [widget.denoise_tab.method_combo.itemText(i) for i in range(widget.denoise_tab.method_combo.count())] == list(METHODS)


def test_gaussian_auto_and_by_hand(slices, qtbot):
    viewer, widget = slices
    low = viewer.layers["low_dose"]
    assert widget.denoise_tab.input_combo.currentText() == "low_dose"
    widget.denoise_tab.method_combo.setCurrentText("gaussian")
    _run(qtbot, widget, widget.denoise_tab.denoise_button)
    out = viewer.layers["low_dose_gaussian"]
    _same_grid(out, low)
    np.testing.assert_array_equal(out.data, denoise(low.data, method="gaussian").image)
    assert estimate_noise_sd(out.data) < 0.5 * estimate_noise_sd(low.data)
    assert "sigma_px=1" in widget.denoise_tab.notes.text()
    widget.denoise_tab.param_auto.setChecked(False)  # by hand: starts at the auto value, then 2 px
    assert widget.denoise_tab.param_spin.isEnabled() and widget.denoise_tab.param_spin.value() == pytest.approx(1.0)
    widget.denoise_tab.param_spin.setValue(2.0)
    _run(qtbot, widget, widget.denoise_tab.denoise_button)
    np.testing.assert_array_equal(viewer.layers["low_dose_gaussian"].data,
                                  denoise(low.data, method="gaussian", options={"sigma_px": 2.0}).image)
    assert widget.last_result.parameters["sigma_px"] == 2.0
    widget.denoise_tab.blend_spin.setValue(0.25)
    _run(qtbot, widget, widget.denoise_tab.denoise_button)
    np.testing.assert_allclose(viewer.layers["low_dose_gaussian"].data,
                               denoise(low.data, method="gaussian", options={"sigma_px": 2.0}, blend=0.25).image)


def test_noise2self_draws_its_loss_and_lowers_the_noise(slices, qtbot):
    viewer, widget = slices
    low = viewer.layers["low_dose"]
    widget.tabs.setCurrentIndex(1)
    widget.denoise_tab.method_combo.setCurrentText("noise2self")
    assert widget.denoise_tab.stop_n2s_button.isVisibleTo(widget) and not widget.denoise_tab.n2s_plot.isVisibleTo(widget)
    widget.denoise_tab.noise2self_options = dict(TINY_N2S)
    widget.denoise_tab.n2s_iter_spin.setValue(60)
    _run(qtbot, widget, widget.denoise_tab.denoise_button, timeout=300)
    assert widget.denoise_tab.n2s_plot.isVisibleTo(widget)  # the curve shows once a run has started
    out = viewer.layers["low_dose_noise2self"]
    _same_grid(out, low)
    xs, ys = widget.denoise_tab.n2s_plot.series["masked RMSE"]
    assert xs == list(range(1, 61)) and np.isfinite(ys).all()
    assert np.mean(ys[-10:]) < np.mean(ys[:5])  # the curve falls
    roi = np.zeros(low.data.shape, bool)
    roi[LIVER] = True
    assert noise_sd(out.data, roi) < 0.8 * noise_sd(low.data, roi), widget.jobs.status.text()
    assert widget.last_result.parameters["stop_reason"] == "iterations"


def test_stop_keeps_what_noise2self_learned_and_cancel_adds_nothing(slices, qtbot):
    viewer, widget = slices
    widget.denoise_tab.method_combo.setCurrentText("noise2self")
    widget.denoise_tab.noise2self_options = dict(TINY_N2S)
    widget.denoise_tab.n2s_iter_spin.setValue(5000)  # a point every 25 steps
    qtbot.mouseClick(widget.denoise_tab.denoise_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(widget.denoise_tab.n2s_plot.series.get("masked RMSE", ([], []))[0]) >= 1, timeout=120_000)
    assert widget.denoise_tab.stop_n2s_button.isEnabled()
    qtbot.mouseClick(widget.denoise_tab.stop_n2s_button, Qt.LeftButton)
    assert widget.wait_idle(120)
    p = widget.last_result.parameters
    assert p["stop_reason"] == "stopped" and 25 <= p["iterations_run"] < 5000
    assert "low_dose_noise2self" in viewer.layers and "stopped after" in widget.jobs.status.text()
    assert np.isfinite(viewer.layers["low_dose_noise2self"].data).all()
    # Cancel instead: nothing is added, and the widget says so
    viewer.layers.remove("low_dose_noise2self")
    n = len(viewer.layers)
    qtbot.mouseClick(widget.denoise_tab.denoise_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(widget.denoise_tab.n2s_plot.series.get("masked RMSE", ([], []))[0]) >= 1, timeout=120_000)
    qtbot.mouseClick(widget.jobs.cancel_button, Qt.LeftButton)
    assert widget.wait_idle(120)
    assert len(viewer.layers) == n and "nothing was added" in widget.jobs.status.text()


def test_cpu_threads_reach_the_network_methods_and_are_restored(slices, qtbot, monkeypatch):
    import torch

    import napari_medai.core.tasks.ldct as ldct

    viewer, widget = slices
    seen = []  # torch threads inside the core call (the worker thread)

    def spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return real(*args, **kwargs)

    real = ldct.denoise
    monkeypatch.setattr(ldct, "denoise", spy)
    assert widget.denoise_tab.threads_spin.value() == 0 and widget.denoise_tab.threads_spin.text() == "default"
    widget.denoise_tab.method_combo.setCurrentText("noise2self")
    widget.denoise_tab.noise2self_options = dict(TINY_N2S)
    widget.denoise_tab.n2s_iter_spin.setValue(3)
    widget.denoise_tab.threads_spin.setValue(2)  # the autouse fixture set 1
    _run(qtbot, widget, widget.denoise_tab.denoise_button, timeout=300)
    assert "low_dose_noise2self" in viewer.layers, widget.jobs.status.text()
    widget.denoise_tab.method_combo.setCurrentText("gaussian")  # a classical filter: torch's setting untouched
    assert not widget.denoise_tab.threads_spin.isEnabled()
    _run(qtbot, widget, widget.denoise_tab.denoise_button)
    assert seen == [2, 1], seen  # set for the network, restored after it
    # the Train tab's own setting reaches train_ldct
    from napari_medai.core.models.errors import Cancelled

    def fake_train(pairs, **kwargs):
        seen.append(torch.get_num_threads())
        raise Cancelled("the test stops here")

    monkeypatch.setattr(ldct, "train_ldct", fake_train)
    widget.train_tab.train_low_combo.setCurrentText(SIMULATE)
    widget.train_tab.out_edit.setText("unused")
    widget.train_tab.train_threads_spin.setValue(3)
    _run(qtbot, widget, widget.train_tab.train_button)
    assert seen[-1] == 3 and "the test stops here" in widget.jobs.status.text()


@pytest.mark.skipif(not SHARED_WEIGHTS.is_file(), reason=f"shared RED-CNN weights not found at {SHARED_WEIGHTS}")
def test_redcnn_with_the_shared_weights(slices, qtbot):
    viewer, widget = slices
    low = viewer.layers["low_dose"]
    widget.denoise_tab.method_combo.setCurrentText("redcnn")
    widget.denoise_tab.weights_edit.setText(str(SHARED_WEIGHTS))
    assert widget.denoise_tab.check_model()
    assert "external weights" in widget.denoise_tab.model_info.text()
    _run(qtbot, widget, widget.denoise_tab.denoise_button, timeout=300)
    out = viewer.layers["low_dose_redcnn"]
    _same_grid(out, low)
    expected = denoise(low.data, method="redcnn", weights=SHARED_WEIGHTS, device="cpu").image
    np.testing.assert_allclose(out.data, expected, atol=1e-3)
    assert estimate_noise_sd(out.data) < estimate_noise_sd(low.data)


# ------------------------------------------------------------------------------------------- train
def test_train_on_a_pair_then_denoise_with_it(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    _add(viewer, "full_dose")  # 2 slices: one pair per slice, one held out for validation
    low = _add(viewer, "low_dose")
    widget = LdctWidget(viewer)
    assert widget.train_tab.train_full_combo.currentText() == "full_dose" and widget.train_tab.train_low_combo.currentText() == "low_dose"
    for spin, v in ((widget.train_tab.epochs_spin, 2), (widget.train_tab.steps_spin, 4), (widget.train_tab.patch_spin, 32),
                    (widget.train_tab.filters_spin, 4), (widget.train_tab.batch_spin, 2)):
        spin.setValue(v)
    widget.train_tab.val_spin.setValue(0.5)
    widget.train_tab.train_device_combo.setCurrentText("cpu")
    widget.train_tab.out_edit.setText(str(tmp_path / "model"))
    _run(qtbot, widget, widget.train_tab.train_button, timeout=300)
    res = widget.last_result
    assert (tmp_path / "model" / "model.json").is_file(), widget.jobs.status.text()
    assert res.epochs_run == 2 and res.monitor == "val_psnr" and "best epoch" in widget.jobs.status.text()
    assert len(widget.train_tab.train_plot.series["train RMSE"][0]) >= 2 and len(widget.train_tab.train_plot.series["val. PSNR"][0]) == 2
    assert widget.denoise_tab.folder_edit.text() == str(tmp_path / "model")
    widget.denoise_tab.method_combo.setCurrentText("trained")
    assert widget.denoise_tab.check_model() and "trained on" in widget.denoise_tab.model_info.text()
    _run(qtbot, widget, widget.denoise_tab.denoise_button)
    out = viewer.layers["low_dose_trained"]
    _same_grid(out, low)
    np.testing.assert_allclose(out.data, denoise(low.data, method="trained", weights=tmp_path / "model",
                                                 device="cpu").image, atol=1e-4)
    # the same folder again: refused with the reason, nothing added
    widget.train_tab.train_low_combo.setCurrentText(SIMULATE)
    n = len(viewer.layers)
    _run(qtbot, widget, widget.train_tab.train_button)
    assert "other settings" in widget.jobs.status.text() and len(viewer.layers) == n


def test_stopping_training_before_an_epoch_says_nothing_was_saved(slices, qtbot, tmp_path):
    viewer, widget = slices
    widget.train_tab.train_low_combo.setCurrentText(SIMULATE)
    for spin, v in ((widget.train_tab.epochs_spin, 1), (widget.train_tab.steps_spin, 100000), (widget.train_tab.patch_spin, 32),
                    (widget.train_tab.filters_spin, 4), (widget.train_tab.batch_spin, 2)):
        spin.setValue(v)
    widget.train_tab.out_edit.setText(str(tmp_path / "m"))
    qtbot.mouseClick(widget.train_tab.train_button, Qt.LeftButton)
    qtbot.waitUntil(lambda: len(widget.train_tab.train_plot.series.get("train RMSE", ([], []))[0]) >= 1, timeout=120_000)
    qtbot.mouseClick(widget.train_tab.stop_train_button, Qt.LeftButton)
    assert widget.wait_idle(60)
    assert "nothing was saved" in widget.jobs.status.text()
    assert not (tmp_path / "m" / "model.pt").exists()


# ------------------------------------------------------------------------------------------- measure
def _roi_layer(viewer, low, rows=(26, 35), cols=(14, 24)):
    """A rectangle covering exactly those pixel rows/columns of ``low``, drawn in world mm (scale 1)."""
    lo = np.asarray(low.data_to_world((rows[0] - 0.5, cols[0] - 0.5)))
    hi = np.asarray(low.data_to_world((rows[1] - 0.5, cols[1] - 0.5)))
    return viewer.add_shapes([np.array([lo, [lo[0], hi[1]], hi, [hi[0], lo[1]]])], shape_type="rectangle",
                             name="roi")


def test_measure_table_equals_the_core(slices, qtbot):
    viewer, widget = slices
    full, low = viewer.layers["full_dose"], viewer.layers["low_dose"]
    widget.denoise_tab.method_combo.setCurrentText("gaussian")
    _run(qtbot, widget, widget.denoise_tab.denoise_button)
    roi = _roi_layer(viewer, low)
    assert widget.measure_tab.ref_combo.currentText() == "full_dose" and widget.measure_tab.roi_combo.currentText() == "roi"
    mask = np.zeros(low.data.shape, bool)
    mask[LIVER] = True
    np.testing.assert_array_equal(shapes_to_mask(roi, low)[0], mask)
    _run(qtbot, widget, widget.measure_tab.measure_button)
    names = [r["name"] for r in widget.measure_tab.rows]
    assert names == ["full_dose", "low_dose", "low_dose_gaussian"]
    for i, r in enumerate(widget.measure_tab.rows):
        data = viewer.layers[r["name"]].data
        assert r["noise_sd"] == noise_sd(data, mask)
        if r["name"] == "full_dose":
            assert r["psnr"] is None and _cells(widget, i)[0] == "full_dose (reference)"
            continue
        q = image_quality(data, full.data, window=(-160.0, 240.0))
        assert (r["psnr"], r["ssim"], r["rmse"]) == (q["psnr"], q["ssim"], q["rmse"])
        assert _cells(widget, i) == [r["name"], f"{q['psnr']:.2f}", f"{q['ssim']:.3f}", f"{q['rmse']:.1f}",
                                     f"{r['noise_sd']:.1f}"]
    rows = {r["name"]: r for r in widget.measure_tab.rows}
    assert rows["low_dose_gaussian"]["noise_sd"] < rows["low_dose"]["noise_sd"]
    # another window changes the scores the same way the core does
    widget.measure_tab.win_lo.setValue(-1000.0)
    widget.measure_tab.win_hi.setValue(1000.0)
    _run(qtbot, widget, widget.measure_tab.measure_button)
    assert widget.measure_tab.rows[1]["psnr"] == image_quality(low.data, full.data, window=(-1000.0, 1000.0))["psnr"]


def test_without_reference_only_noise_sd(slices, qtbot):
    viewer, widget = slices
    _roi_layer(viewer, viewer.layers["low_dose"])
    widget.measure_tab.ref_combo.setCurrentText("none")
    _run(qtbot, widget, widget.measure_tab.measure_button)
    for i, r in enumerate(widget.measure_tab.rows):
        assert r["psnr"] is None and r["ssim"] is None and r["rmse"] is None and r["noise_sd"] > 0
        assert _cells(widget, i)[1:4] == ["–", "–", "–"]
    assert "no reference" in widget.jobs.status.text()


def test_difference_layer_is_image_minus_reference(slices, qtbot):
    viewer, widget = slices
    _run(qtbot, widget, widget.measure_tab.measure_button)
    widget.measure_tab.table.selectRow([r["name"] for r in widget.measure_tab.rows].index("low_dose"))
    assert widget.measure_tab.add_difference()
    diff = viewer.layers["low_dose - full_dose"]
    _same_grid(diff, viewer.layers["low_dose"])
    np.testing.assert_array_equal(diff.data, viewer.layers["low_dose"].data - viewer.layers["full_dose"].data)


def test_roi_on_a_stack_marks_the_slice_each_shape_lies_in(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    low = _add(viewer, "low_dose")  # (2, 64, 64), 3 mm slices
    corner = lambda k, r, c: np.asarray(low.data_to_world((k, r - 0.5, c - 0.5)))  # noqa: E731
    rect = np.array([corner(1, 10, 20), corner(1, 10, 40), corner(1, 30, 40), corner(1, 30, 20)])
    ell = np.array([corner(0, 40, 10), corner(0, 60, 10), corner(0, 60, 30), corner(0, 40, 30)])
    shapes = viewer.add_shapes([rect, ell, rect[:2]], shape_type=["rectangle", "ellipse", "line"], ndim=3)
    mask, notes = shapes_to_mask(shapes, low)
    assert mask[1, 10:30, 20:40].all() and mask[1].sum() == 400
    assert mask[0].sum() == pytest.approx(np.pi * 10 * 10, rel=0.05) and mask[0, 50, 20] and not mask[0, 40, 10]
    assert notes == ["shape 3 is a line (no area); skipped"]
    # a 2-D Shapes layer over the stack marks the slice the viewer shows
    flat = viewer.add_shapes([rect[:, 1:]], shape_type="rectangle", ndim=2)
    viewer.dims.set_point(0, low.data_to_world((1, 0, 0))[0])
    mask2, _ = shapes_to_mask(flat, low, tuple(viewer.dims.point))
    assert mask2[1].sum() == 400 and not mask2[0].any()
    widget = LdctWidget(viewer)  # the widget's noise SD uses the same mask
    widget.measure_tab.ref_combo.setCurrentText("none")
    widget.measure_tab.roi_combo.setCurrentText(flat.name)
    _run(qtbot, widget, widget.measure_tab.measure_button)
    assert widget.measure_tab.rows[0]["name"] == "low_dose" and widget.measure_tab.rows[0]["noise_sd"] == noise_sd(low.data, mask2)
    assert widget.measure_tab.rows[0]["noise_sd"] == noise_sd(low.data[1], mask2[1])


# ------------------------------------------------------------------------------------------- refusals
def test_bad_input_gives_a_message_and_adds_no_layer(slices, qtbot, tmp_path):
    viewer, widget = slices
    red = "color: #ff7070;"

    def refused(button, *words):
        n = len(viewer.layers)
        _run(qtbot, widget, button)
        text = widget.jobs.status.text()
        assert len(viewer.layers) == n, text
        assert widget.jobs.status.styleSheet() == red and all(w in text for w in words), text

    # a reference of another shape
    small = _add(viewer, "full_dose", slice_index=0, data=np.zeros((48, 48), np.float32))
    small.name = "small_ref"
    widget.measure_tab.ref_combo.setCurrentText("small_ref")
    refused(widget.measure_tab.measure_button, "shape (64, 64)", "(48, 48)", "same grid")
    assert "error" in _cells(widget, [r["name"] for r in widget.measure_tab.rows].index("low_dose"))[1]
    n = len(viewer.layers)
    assert not widget.measure_tab.add_difference() and len(viewer.layers) == n and "shape" in widget.jobs.status.text()
    # redcnn without weights, with a bogus file, and with weights of another network
    widget.denoise_tab.method_combo.setCurrentText("redcnn")
    refused(widget.denoise_tab.denoise_button, "needs weights")
    bogus = tmp_path / "bogus.pt"
    bogus.write_bytes(b"not a torch file")
    widget.denoise_tab.weights_edit.setText(str(bogus))
    refused(widget.denoise_tab.denoise_button, "bogus.pt")
    import torch

    other = tmp_path / "other.pt"
    torch.save({"layer.weight": torch.zeros(3)}, other)
    widget.denoise_tab.weights_edit.setText(str(other))
    refused(widget.denoise_tab.denoise_button, "other.pt", "shared RED-CNN")
    # a model folder that does not exist; an untrained one says so before and after running
    widget.denoise_tab.method_combo.setCurrentText("trained")
    widget.denoise_tab.folder_edit.setText(str(tmp_path / "absent"))
    refused(widget.denoise_tab.denoise_button, "no such file")
    from napari_medai.core.models.contract import NetworkSpec
    from napari_medai.core.models.loading import save_model_folder
    from napari_medai.core.models.redcnn import build_redcnn
    from napari_medai.core.tasks.ldct import DenoiserContract

    folder = save_model_folder(tmp_path / "untrained", build_redcnn("standard", filters=2),
                               DenoiserContract(name="u", network=NetworkSpec("REDCNN", {"filters": 2})))
    widget.denoise_tab.folder_edit.setText(str(folder))
    widget.denoise_tab.check_model()
    assert "NOT TRAINED" in widget.denoise_tab.model_info.text() and widget.denoise_tab.model_info.styleSheet() == red
    _run(qtbot, widget, widget.denoise_tab.denoise_button)
    assert "low_dose_trained" in viewer.layers and "NOT TRAINED" in widget.denoise_tab.notes.text()
    # layers that are not a 2-D / 3-D CT
    viewer.add_image(np.zeros((2, 2, 16, 16), np.float32), name="four_d")
    widget.denoise_tab.input_combo.setCurrentText("four_d")
    widget.denoise_tab.method_combo.setCurrentText("gaussian")
    refused(widget.denoise_tab.denoise_button, "4 dimensions", "2-D slice or a 3-D stack")
    widget.simulate_tab.sim_combo.setCurrentText("four_d")
    refused(widget.simulate_tab.simulate_button, "4 dimensions")
    # training without a model folder
    widget.train_tab.out_edit.setText("")
    refused(widget.train_tab.train_button, "model folder")


def test_an_empty_viewer_says_what_to_open(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    widget = LdctWidget(viewer)
    for button in (widget.simulate_tab.simulate_button, widget.denoise_tab.denoise_button, widget.train_tab.train_button):
        _run(qtbot, widget, button)
        assert "pick the" in widget.jobs.status.text() and "Open Sample" in widget.jobs.status.text()
    _run(qtbot, widget, widget.measure_tab.measure_button)
    assert "tick at least one image layer" in widget.jobs.status.text()
    assert len(viewer.layers) == 0


# ------------------------------------------------------------------------------------------- napari's proxy
@pytest.mark.filterwarnings("error:Private attribute access:FutureWarning")
def test_layer_checks_work_through_the_proxy_napari_gives_plugin_widgets(make_napari_viewer):
    """Opened from the Plugins menu, the widget's viewer and layers are napari's PublicOnlyProxy objects:
    the kind of a layer is checked with isinstance and nothing private is reached through them."""
    from napari_medai._napari.ldct._common import ct_volume, image_layer, image_names, shapes_names
    from napari_medai.core.errors import InvalidInputError

    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((16, 16), np.float32), name="ct", scale=(0.5, 0.5))
    viewer.add_image(np.ones((16, 16), np.float32), name="mr", metadata={"napari_medai": {"modality": "MR"}})
    viewer.add_labels(np.zeros((16, 16), np.uint8), name="mask")
    viewer.add_shapes(name="roi")
    _dock, widget = viewer.window.add_plugin_dock_widget("napari-medai", "Low-dose CT denoising")
    proxy = widget.viewer
    assert type(proxy).__name__ == "PublicOnlyProxy" and type(proxy.layers["ct"]).__name__ == "PublicOnlyProxy"
    assert image_names(proxy) == ["ct", "mr"] and shapes_names(proxy) == ["roi"]
    layer = image_layer(proxy, "ct", "input")
    vol = ct_volume(layer)
    assert vol.modality == "CT" and vol.spacing == pytest.approx((0.5, 0.5))
    with pytest.raises(InvalidInputError, match="'mask' is a Labels layer, not an image"):
        image_layer(proxy, "mask", "input")
    with pytest.raises(InvalidInputError, match=r"'mr' is not a CT \(modality MR\)"):
        image_layer(proxy, "mr", "input")
    assert widget.simulate_tab.sim_combo.currentText() == "ct"  # the combos list the proxied images
    assert [widget.measure_tab.roi_combo.itemText(i) for i in range(widget.measure_tab.roi_combo.count())] == [
        "none", "roi"]
