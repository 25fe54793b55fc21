"""The segmentation widget in a real viewer, with a tiny random-weight model of the bundle's shape."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")


def _tiny_model():
    from napari_medai.core.models import NetworkSpec, get_entry
    from napari_medai.core.models.loading import LoadedModel

    contract = get_entry("brats_mri_segmentation").contract.with_changes(
        name="tiny-test-net",
        network=NetworkSpec("SegResNet", {"blocks_down": [1, 1], "blocks_up": [1], "init_filters": 8,
                                          "in_channels": 4, "out_channels": 3}),
        roi_size=(32, 32, 32),
    )
    return LoadedModel.random(contract, seed=0)


@pytest.fixture
def viewer_with_case(make_napari_viewer):
    from napari_medai._napari.layers import volume_to_layer_data
    from napari_medai.core.phantoms import make_phantom

    viewer = make_napari_viewer()
    case = make_phantom("brain_tumour", seed=1)
    for key in ("flair", "t1", "t1c", "t2", "seg"):
        vol = case[key]
        small = vol.with_data(np.ascontiguousarray(vol.data[30:62, 30:78, 20:68]))
        for data, kw, kind in volume_to_layer_data(small):
            getattr(viewer, f"add_{kind}")(data, **kw)
    return viewer


def test_channels_matched_by_layer_name(viewer_with_case):
    from napari_medai._napari.segmentation_widget import BrainTumourWidget

    widget = BrainTumourWidget(viewer_with_case)
    widget.model_combo.setCurrentText("brats_mri_segmentation")
    assert {ch: c.currentText() for ch, c in widget.channel_combos.items()} == {
        "t1c": "t1c", "t1": "t1", "t2": "t2", "flair": "flair"}


def test_untrained_model_runs_says_so_and_opens_agreement(viewer_with_case, qtbot):
    from napari_medai._napari.segmentation_widget import BrainTumourWidget

    viewer = viewer_with_case
    widget = BrainTumourWidget(viewer)
    viewer.window.add_dock_widget(widget)
    widget.model = _tiny_model()
    widget._build_channel_rows(widget.model.contract.channels)
    widget.tta_check.setChecked(True)
    widget.probabilities_check.setChecked(True)
    widget.run()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=120000)
    assert widget.prediction is not None, widget.status.text()
    out = widget.output_layer
    assert type(out).__name__ == "Labels"
    assert out.data.shape == viewer.layers["flair"].data.shape
    np.testing.assert_allclose(out.data_to_world([1, 2, 3]), viewer.layers["flair"].data_to_world([1, 2, 3]))
    assert set(np.unique(out.data)) <= {0, 1, 2, 4}
    assert "NOT TRAINED" in widget.status.text()
    assert widget.progress.value() == 1000
    assert any("uncertainty" in ly.name.lower() for ly in viewer.layers)
    # the ground truth was found and the agreement panel compares the pair
    assert widget.agreement is not None
    assert widget.agreement.wait_idle(60)
    assert widget.agreement.gt_combo.currentText() == "seg"
    assert widget.agreement.result is not None


def test_cancel_adds_nothing(viewer_with_case, qtbot):
    from napari_medai._napari.segmentation_widget import BrainTumourWidget

    viewer = viewer_with_case
    n_layers = len(viewer.layers)
    widget = BrainTumourWidget(viewer)
    widget.model = _tiny_model()
    widget._build_channel_rows(widget.model.contract.channels)
    widget._cancel = True
    widget.run()
    widget.cancel()
    qtbot.waitUntil(lambda: widget._worker is None, timeout=120000)
    assert len(viewer.layers) == n_layers
    assert "Cancelled" in widget.status.text() or widget.prediction is not None


def test_missing_channel_layer_is_reported(make_napari_viewer):
    from napari_medai._napari.segmentation_widget import BrainTumourWidget

    viewer = make_napari_viewer()
    widget = BrainTumourWidget(viewer)
    widget.model = _tiny_model()
    widget._build_channel_rows(widget.model.contract.channels)
    widget.run()
    assert "pick an image layer" in widget.status.text()


def test_a_denoiser_model_is_refused(make_napari_viewer, tmp_path):
    from napari_medai._napari.segmentation_widget import BrainTumourWidget
    from napari_medai.core.phantoms import ldct_phantom
    from napari_medai.core.tasks.ldct import LdctPair, train_ldct

    ph = ldct_phantom(seed=0, n_slices=1, size=64)
    out = tmp_path / "ldct"
    train_ldct([LdctPair(ph["full_dose"], ph["low_dose"])], out_dir=out, filters=2, patch=32, batch_size=1,
               steps_per_epoch=1, max_epochs=1, val_fraction=0.0, device="cpu")
    widget = BrainTumourWidget(make_napari_viewer())
    assert widget.load_model_source(out) is False
    assert widget.model is None
    assert "not a segmentation model" in widget.status.text()
