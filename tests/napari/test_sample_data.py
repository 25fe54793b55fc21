"""File > Open Sample > napari-medai: each phantom opens with its ground truth on the same grid."""

from __future__ import annotations

import numpy as np
import pytest

SAMPLES = ["brain_tumour", "stroke", "cardiac_ct", "ldct", "alzheimer_cohort"]


@pytest.mark.parametrize("key", SAMPLES)
def test_sample_opens(make_napari_viewer, key):
    viewer = make_napari_viewer()
    viewer.open_sample("napari-medai", key)
    assert len(viewer.layers) >= 2
    kinds = {type(ly).__name__ for ly in viewer.layers}
    assert "Image" in kinds
    if key in ("brain_tumour", "stroke", "cardiac_ct"):
        labels = [ly for ly in viewer.layers if type(ly).__name__ == "Labels"]
        image = next(ly for ly in viewer.layers if type(ly).__name__ == "Image")
        assert labels, f"{key} opened without its ground truth"
        for lab in labels:
            assert lab.data.shape == image.data.shape
            np.testing.assert_allclose(lab.data_to_world([1, 2, 3]), image.data_to_world([1, 2, 3]))


def test_overlay_is_aligned_on_screen(make_napari_viewer):
    """Screenshot: the ground-truth layer and the image grid render on the same pixels."""
    viewer = make_napari_viewer(show=True)
    viewer.open_sample("napari-medai", "brain_tumour")
    seg = viewer.layers["seg"]
    flair = viewer.layers["flair"]
    # the tumour mask drawn as an image with the FLAIR layer's own transform
    probe = viewer.add_image((seg.data > 0).astype(np.float32), name="probe", colormap="gray",
                             contrast_limits=(0, 1), scale=flair.scale, translate=flair.translate,
                             affine=flair.affine)
    for ly in viewer.layers:
        ly.visible = False
    z = int(np.argmax((seg.data > 0).sum(axis=(1, 2))))
    viewer.dims.set_point(0, seg.data_to_world([z, 0, 0])[0])
    viewer.reset_view()
    seg.visible, seg.opacity = True, 1.0
    shot_seg = viewer.screenshot(canvas_only=True, flash=False)
    seg.visible, probe.visible = False, True
    shot_probe = viewer.screenshot(canvas_only=True, flash=False)
    a = shot_seg[..., :3].max(axis=-1) > 40
    b = shot_probe[..., :3].max(axis=-1) > 128
    assert a.sum() > 500, "the label layer did not render"
    iou = (a & b).sum() / (a | b).sum()
    assert iou > 0.97, f"label and image render on different pixels (IoU {iou:.3f})"
    # a one-voxel shift of the image transform is visible to this check
    probe.translate = np.asarray(flair.translate) + np.array([0, flair.scale[1] * 2, 0])
    b2 = viewer.screenshot(canvas_only=True, flash=False)[..., :3].max(axis=-1) > 128
    assert (a & b2).sum() / (a | b2).sum() < iou - 0.05


def test_hovering_an_artery_shows_its_name(make_napari_viewer):
    """The calcium sample's assignment layer: the status reads '2; name: LAD', not just '2'."""
    viewer = make_napari_viewer()
    viewer.open_sample("napari-medai", "cardiac_ct")
    layer = viewer.layers["assignment"]
    names = layer.metadata["napari_medai"]["label_names"]
    value = next(v for v, n in names.items() if n == "LAD")
    idx = np.argwhere(np.asarray(layer.data) == value)[0]
    world = layer.data_to_world(idx)
    viewer.dims.set_point(0, world[0])
    assert layer.get_status(world, world=True)["value"] == f"{value}; name: LAD"
