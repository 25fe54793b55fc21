"""Reader and writer hooks through napari itself."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"


def test_viewer_open_reads_image_and_label_by_name(make_napari_viewer, cube_pair):
    p_img, p_lab, _ = cube_pair
    viewer = make_napari_viewer()
    viewer.open(p_img, plugin="napari-medai")
    viewer.open(p_lab, plugin="napari-medai")
    img, lab = viewer.layers
    assert type(img).__name__ == "Image"
    assert type(lab).__name__ == "Labels"
    assert np.issubdtype(lab.data.dtype, np.integer)
    # exactly the same data->world mapping: the two overlay voxel for voxel
    for idx in ([0, 0, 0], [5, 7, 11], [19, 39, 47]):
        np.testing.assert_allclose(img.data_to_world(idx), lab.data_to_world(idx), atol=1e-6)
    # spacing travels to the layer (oblique: scale carries spacing, affine the rotation)
    np.testing.assert_allclose(sorted(img.scale), sorted([0.8, 1.1, 2.5]), atol=1e-5)


# napari 0.9's own "Convert to Labels" copies the image's default projection mode ("mean") and then warns
# that Labels cannot use it; the cause is in napari's layer action, not in napari-medai.
@pytest.mark.filterwarnings('ignore:projection mode "mean" is not compatible with Labels layers:UserWarning')
def test_user_can_override_label_rule(make_napari_viewer, cube_pair):
    p_img, p_lab, _ = cube_pair
    viewer = make_napari_viewer()
    # script: napari's own layer_type override of the reader's choice
    viewer.open(p_lab, plugin="napari-medai", layer_type="image")
    assert type(viewer.layers[-1]).__name__ == "Image"
    # GUI: the layer list's "Convert to Labels" action keeps the geometry
    viewer.open(p_img, plugin="napari-medai")
    image = viewer.layers[-1]
    viewer.layers.selection = {image}
    viewer.layers.selection.active = image
    from napari.layers._layer_actions import _convert_to_labels

    _convert_to_labels(viewer.layers)
    labels = [ly for ly in viewer.layers if type(ly).__name__ == "Labels"]
    assert len(labels) == 1
    np.testing.assert_allclose(labels[0].data_to_world([3, 4, 5]), image.data_to_world([3, 4, 5]))


def test_saving_labels_layer_keeps_source_geometry(make_napari_viewer, cube_pair, tmp_path):
    import SimpleITK as sitk

    p_img, p_lab, aff = cube_pair
    viewer = make_napari_viewer()
    viewer.open(p_img, plugin="napari-medai")
    viewer.open(p_lab, plugin="napari-medai")
    lab = viewer.layers[-1]
    lab.data[0, 0, 0] = 2  # an edit
    for ext in (".nii.gz", ".nrrd"):
        out = tmp_path / f"edited{ext}"
        viewer.layers.selection = {lab}
        saved = viewer.layers.save(str(out), selected=True, plugin="napari-medai")
        assert saved == [str(out)]
        ref = sitk.ReadImage(p_img)
        got = sitk.ReadImage(str(out))
        np.testing.assert_allclose(got.GetSpacing(), ref.GetSpacing(), atol=1e-5)
        np.testing.assert_allclose(got.GetOrigin(), ref.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(got.GetDirection(), ref.GetDirection(), atol=1e-5)
        arr = sitk.GetArrayFromImage(got)
        assert arr[0, 0, 0] == 2 and arr.sum() == lab.data.sum()
    np.testing.assert_allclose(nib.load(str(tmp_path / "edited.nii.gz")).affine, aff, atol=1e-4)


def test_writer_refuses_to_overwrite_the_source(make_napari_viewer, cube_pair):
    from napari_medai._napari.writer import write_labels
    from napari_medai.core.errors import ImageWriteError

    _, p_lab, _ = cube_pair
    viewer = make_napari_viewer()
    viewer.open(p_lab, plugin="napari-medai")
    lab = viewer.layers[-1]
    before = Path(p_lab).read_bytes()
    with pytest.raises(ImageWriteError, match="source|input"):
        write_labels(p_lab, lab.data, lab._get_state())
    assert Path(p_lab).read_bytes() == before


def test_bad_file_gives_a_specific_error(make_napari_viewer, tmp_path):
    bad = tmp_path / "notes.nii.gz"
    bad.write_text("this is not an image")
    viewer = make_napari_viewer()
    with pytest.raises(Exception) as info:
        viewer.open(str(bad), plugin="napari-medai")
    text = str(info.value) + str(getattr(info.value, "__cause__", ""))
    assert "notes.nii.gz" in text
    assert len(viewer.layers) == 0


def test_dicom_jpeg2000_folder_opens_in_hu(make_napari_viewer):
    folder = SHARED / "ct_dicom_jpeg2000" / "series"
    if not folder.is_dir():
        pytest.skip(f"real DICOM series not found at {folder} (needs ../shared/data)")
    viewer = make_napari_viewer()
    viewer.open(str(folder), plugin="napari-medai")
    layer = viewer.layers[-1]
    assert layer.data.shape[0] == 20
    assert layer.data.min() < -900  # air in HU
    # 3 mm thick slices reconstructed every 2 mm: spacing is the distance between positions
    assert layer.scale[0] == pytest.approx(2.0, abs=1e-3)
    assert layer.scale[1] == pytest.approx(0.9765625, abs=1e-6)


def test_folder_without_dicom_gets_a_specific_message(make_napari_viewer, tmp_path):
    folder = tmp_path / "not_dicom"
    folder.mkdir()
    (folder / "readme.txt").write_text("no images here")
    viewer = make_napari_viewer()
    with pytest.raises(Exception) as info:
        viewer.open(str(folder), plugin="napari-medai")
    text = str(info.value) + str(getattr(info.value, "__cause__", ""))
    assert "not_dicom" in text and "DICOM" in text


def test_tiff_folder_is_left_to_other_readers(tmp_path):
    from napari_medai._napari.reader import get_reader_auto

    (tmp_path / "a.tif").write_bytes(b"II*\x00")
    assert get_reader_auto(str(tmp_path)) is None


def test_four_d_channels_open_as_separate_layers(make_napari_viewer, tmp_path):
    data = np.zeros((8, 10, 12, 2), np.float32)  # i, j, k, channel
    data[..., 0] = 1.0
    data[..., 1] = 2.0
    img = nib.Nifti1Image(data, np.diag([1.5, 1.5, 3.0, 1.0]))
    path = tmp_path / "two_channels.nii.gz"
    nib.save(img, str(path))
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-medai")
    assert len(viewer.layers) == 2
    assert {float(ly.data.max()) for ly in viewer.layers} == {1.0, 2.0}
    assert viewer.layers[0].data.shape == (12, 10, 8)
    np.testing.assert_allclose(viewer.layers[0].scale, (3.0, 1.5, 1.5))


def test_four_d_time_series_opens_as_one_layer_with_time_axis(make_napari_viewer, tmp_path):
    data = np.random.default_rng(0).random((8, 10, 12, 5)).astype(np.float32)
    img = nib.Nifti1Image(data, np.diag([2.0, 2.0, 2.0, 1.0]))
    img.header.set_xyzt_units("mm", "sec")
    img.header["pixdim"][4] = 2.5
    path = tmp_path / "bold.nii.gz"
    nib.save(img, str(path))
    viewer = make_napari_viewer()
    viewer.open(str(path), plugin="napari-medai")
    assert len(viewer.layers) == 1
    layer = viewer.layers[0]
    assert layer.data.shape == (5, 12, 10, 8)
    assert layer.scale[0] == pytest.approx(2.5)


def test_layer_to_volume_keeps_labels_through_the_plugin_proxy():
    """Widgets opened from the Plugins menu see PublicOnlyProxy layers; a Labels layer stays a label map."""
    from napari.layers import Labels
    from napari.utils._proxies import PublicOnlyProxy

    from napari_medai._napari.layers import layer_to_volume

    layer = Labels(np.zeros((4, 5, 6), np.uint8), scale=(2.0, 1.0, 1.0))
    vol = layer_to_volume(PublicOnlyProxy(layer))
    assert vol.is_label
    assert vol.spacing == (2.0, 1.0, 1.0)
