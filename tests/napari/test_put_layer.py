"""put_layer: a result layer of the same name on the same grid gets the new data in place; otherwise replaced."""

from __future__ import annotations

import numpy as np

from napari_medai._napari.layers import META_KEY, put_layer, volume_to_layer_data
from napari_medai.core.volume import Volume


def _vol(data, *, name, spacing=(2.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), label=False):
    return Volume(data=data, spacing=spacing, origin=origin, is_label=label, modality="CT", name=name,
                  label_names={1: "lesion"} if label else None)


def test_same_grid_updates_the_layer_in_place(make_napari_viewer):
    viewer = make_napari_viewer()
    a = np.zeros((4, 6, 5), np.float32)
    b = np.arange(120, dtype=np.float32).reshape(4, 6, 5)
    viewer.add_image(np.ones((4, 6, 5)), name="ct")
    first = put_layer(viewer, *volume_to_layer_data(_vol(a, name="result"))[0])
    first.visible = False
    data, kw, kind = volume_to_layer_data(_vol(b, name="result"))[0]
    kw["metadata"][META_KEY]["role"] = "second"
    kw["contrast_limits"] = (-500.0, 700.0)
    kw["colormap"] = "magma"
    second = put_layer(viewer, data, kw, kind)
    assert second is first and [ly.name for ly in viewer.layers] == ["ct", "result"]
    np.testing.assert_array_equal(second.data, b)
    assert second.metadata[META_KEY]["role"] == "second" and second.visible
    assert tuple(second.contrast_limits) == (-500.0, 700.0) and second.colormap.name == "magma"


def test_labels_in_place_keep_names_and_colours(make_napari_viewer):
    viewer = make_napari_viewer()
    m1 = np.zeros((4, 6, 5), np.uint8)
    m2 = m1.copy()
    m2[1, 2:4, 2:4] = 1
    first = put_layer(viewer, *volume_to_layer_data(_vol(m1, name="lesions", label=True))[0])
    second = put_layer(viewer, *volume_to_layer_data(_vol(m2, name="lesions", label=True))[0])
    assert second is first and int(second.data.sum()) == 4
    assert list(second.features["name"]) == ["background", "lesion"]


def test_another_grid_or_kind_replaces_the_layer(make_napari_viewer):
    viewer = make_napari_viewer()
    a = np.zeros((4, 6, 5), np.float32)
    first = put_layer(viewer, *volume_to_layer_data(_vol(a, name="result"))[0])
    moved = put_layer(viewer, *volume_to_layer_data(_vol(a, name="result", origin=(5.0, 0.0, 0.0)))[0])
    assert moved is not first and len(viewer.layers) == 1 and tuple(moved.translate) == (5.0, 0.0, 0.0)
    bigger = put_layer(viewer, *volume_to_layer_data(_vol(np.zeros((5, 6, 5), np.float32), name="result"))[0])
    assert bigger is not moved and bigger.data.shape == (5, 6, 5)
    labels = put_layer(viewer, *volume_to_layer_data(_vol(np.zeros((5, 6, 5), np.uint8), name="result",
                                                          label=True))[0])
    assert labels is not bigger and type(labels).__name__ == "Labels" and len(viewer.layers) == 1
