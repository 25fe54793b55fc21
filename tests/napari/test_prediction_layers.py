"""A segmentation's layers: the label layer first, the probability / uncertainty layers one per step."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from napari_medai._napari.layers import META_KEY
from napari_medai._napari.prediction_layers import add_prediction, prediction_layers
from napari_medai.core.volume import Volume


def _pred(seed: int) -> SimpleNamespace:
    rng = np.random.default_rng(seed)
    labels = Volume(data=rng.integers(0, 3, (4, 6, 5)).astype(np.uint8), spacing=(1.0, 1.0, 1.0),
                    origin=(0.0, 0.0, 0.0), is_label=True, modality="MR", name="seg", label_names={1: "ED", 2: "ET"})
    probs = Volume(data=rng.random((2, 4, 6, 5)).astype(np.float32), spacing=(1.0, 1.0, 1.0),
                   origin=(0.0, 0.0, 0.0), modality="MR", name="p", channel_axis=0, channel_names=["p ED", "p ET"])
    unc = labels.with_data(rng.random((4, 6, 5)).astype(np.float32), name="uncertainty", is_label=False,
                           label_names=None)
    return SimpleNamespace(labels=labels, probabilities=probs, uncertainty=unc, model_name="tiny")


def test_one_layer_per_step_label_layer_first(make_napari_viewer):
    viewer = make_napari_viewer()
    parts = prediction_layers(viewer, _pred(0), name="brain tumour (tiny)", convention="brats2021")
    first = next(parts)
    assert [ly.name for ly in viewer.layers] == ["brain tumour (tiny)"]
    assert first.metadata[META_KEY]["role"] == "prediction" and first.metadata[META_KEY]["convention"] == "brats2021"
    next(parts)  # the probabilities (one layer per channel, one napari call)
    assert [ly.name for ly in viewer.layers] == ["brain tumour (tiny)", "p ED", "p ET"]
    next(parts)
    assert viewer.layers[-1].name == "uncertainty" and not viewer.layers["uncertainty"].visible
    assert list(parts) == []


def test_add_prediction_adds_all_at_once_and_a_second_run_reuses_the_label_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    out = add_prediction(viewer, _pred(0), name="seg (tiny)", convention="brats2021")
    assert [ly.name for ly in viewer.layers] == ["seg (tiny)", "p ED", "p ET", "uncertainty"]
    again = add_prediction(viewer, _pred(1), name="seg (tiny)", convention="brats2021")
    assert again is out and sorted(ly.name for ly in viewer.layers) == ["p ED", "p ET", "seg (tiny)", "uncertainty"]
    np.testing.assert_array_equal(again.data, _pred(1).labels.data)
