"""2-D radiographs: PNG / JPEG / TIFF pictures and DICOM CR / DX / MG projection images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.errors import ImageReadError
from napari_medai.core.io import is_supported_path, read_volume


def _grey(shape=(20, 30), dtype=np.uint8, seed=0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    hi = np.iinfo(dtype).max
    return rng.integers(0, hi, size=shape, endpoint=True).astype(dtype)


def test_grey_png_8_and_16_bit_keep_values_as_2d(tmp_path: Path) -> None:
    from PIL import Image

    a8, a16 = _grey(), _grey(dtype=np.uint16, seed=1)
    Image.fromarray(a8).save(tmp_path / "g8.png")
    Image.fromarray(a16).save(tmp_path / "g16.png")
    for name, a in (("g8.png", a8), ("g16.png", a16)):
        vol = read_volume(tmp_path / name)
        assert vol.ndim_spatial == 2 and vol.channel_axis is None
        assert vol.data.shape == (20, 30) and vol.data.dtype == a.dtype
        np.testing.assert_array_equal(vol.data, a)
        assert vol.spacing == (1.0, 1.0) and vol.meta["spacing_known"] is False
        assert vol.meta["format"] == "raster" and vol.name == name[:-4]
    assert is_supported_path(tmp_path / "g8.png")


def test_rgb_holding_grey_becomes_one_channel_png_and_jpeg(tmp_path: Path) -> None:
    from PIL import Image

    a = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    rgb = np.stack([a, a, a], axis=-1)
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(rgb).save(tmp_path / "rgb.jpg", quality=95)
    png = read_volume(tmp_path / "rgb.png")
    assert png.data.shape == (48, 64) and png.meta["raster"]["grey_from_rgb"] is True
    np.testing.assert_array_equal(png.data, a)
    jpg = read_volume(tmp_path / "rgb.jpg")
    assert jpg.data.shape == (48, 64)
    assert np.abs(jpg.data.astype(int) - a.astype(int)).max() <= 4  # JPEG rounding only


def test_colour_picture_is_refused_with_a_reason(tmp_path: Path) -> None:
    from PIL import Image

    rgb = np.zeros((10, 10, 3), np.uint8)
    rgb[..., 0] = 200  # red
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    with pytest.raises(ImageReadError, match="colour image.*not a grey radiograph.*convert it to greyscale"):
        read_volume(tmp_path / "photo.png")


def test_tiff_16_bit_and_float(tmp_path: Path) -> None:
    import tifffile

    a16 = _grey(dtype=np.uint16, seed=2)
    af = np.random.default_rng(3).normal(size=(12, 14)).astype(np.float32)
    tifffile.imwrite(tmp_path / "a.tif", a16)
    tifffile.imwrite(tmp_path / "b.tiff", af)
    np.testing.assert_array_equal(read_volume(tmp_path / "a.tif").data, a16)
    b = read_volume(tmp_path / "b.tiff")
    assert b.data.dtype == np.float32 and b.ndim_spatial == 2
    np.testing.assert_array_equal(b.data, af)


def test_damaged_png_names_the_file(tmp_path: Path) -> None:
    p = tmp_path / "broken.png"
    p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(ImageReadError, match="broken.png: is not a readable picture file"):
        read_volume(p)


def _write_projection(path: Path, pixels: np.ndarray, *, modality: str, photometric: str,
                      imager_spacing=None, pixel_spacing=None, window=None, slope=1.0, intercept=0.0,
                      bits_stored=12) -> Path:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    sop_class = {"DX": "1.2.840.10008.5.1.4.1.1.1.1", "CR": "1.2.840.10008.5.1.4.1.1.1",
                 "MG": "1.2.840.10008.5.1.4.1.1.1.2"}[modality]
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Modality = modality
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows, ds.Columns = pixels.shape
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits_stored, bits_stored - 1, 0
    if imager_spacing is not None:
        ds.ImagerPixelSpacing = [f"{v:g}" for v in imager_spacing]
    if pixel_spacing is not None:
        ds.PixelSpacing = [f"{v:g}" for v in pixel_spacing]
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = f"{window[0]:g}", f"{window[1]:g}"
    if slope != 1.0 or intercept != 0.0:
        ds.RescaleSlope, ds.RescaleIntercept = f"{slope:g}", f"{intercept:g}"
    ds.PixelData = np.ascontiguousarray(pixels, dtype="<u2").tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


def test_dx_monochrome1_is_inverted_with_imager_spacing_and_window_kept_for_display(tmp_path: Path) -> None:
    # MONOCHROME1: low stored values are white. A "bone" block stored LOW must come out bright.
    px = np.full((16, 24), 3000, np.uint16)
    px[4:8, 6:12] = 200  # dense bone: white on a MONOCHROME1 display
    p = _write_projection(tmp_path / "chest.dcm", px, modality="DX", photometric="MONOCHROME1",
                          imager_spacing=(0.143, 0.15), window=(1000, 800))
    vol = read_volume(p)
    assert vol.ndim_spatial == 2 and vol.data.shape == (16, 24)
    assert vol.spacing == pytest.approx((0.143, 0.15))
    assert vol.meta["dicom"]["pixel_spacing_source"] == "ImagerPixelSpacing" and vol.meta["spacing_known"]
    assert vol.meta["dicom"]["inverted"] is True
    # inverted over the stored range 0..4095: v -> 4095 - v, values kept (not windowed)
    assert vol.data[5, 7] == 4095 - 200 and vol.data[0, 0] == 4095 - 3000
    assert vol.data[5, 7] > vol.data[0, 0]  # bone bright
    # the window moves with the inversion and stays display metadata
    assert vol.meta["dicom"]["WindowCenter"] == pytest.approx(4095 - 1000)
    assert vol.meta["dicom"]["WindowWidth"] == pytest.approx(800)
    assert vol.data.max() > vol.meta["dicom"]["WindowCenter"] + 400  # values outside the window were not clipped


def test_cr_prefers_pixel_spacing_and_applies_rescale(tmp_path: Path) -> None:
    px = (np.arange(12 * 10).reshape(12, 10) * 3).astype(np.uint16)
    p = _write_projection(tmp_path / "cr.dcm", px, modality="CR", photometric="MONOCHROME2",
                          imager_spacing=(0.2, 0.2), pixel_spacing=(0.18, 0.19), slope=2.0, intercept=-5.0)
    vol = read_volume(p)
    assert vol.data.shape == (12, 10) and vol.spacing == pytest.approx((0.18, 0.19))
    assert vol.meta["dicom"]["pixel_spacing_source"] == "PixelSpacing"
    np.testing.assert_allclose(vol.data, px * 2.0 - 5.0)
    assert vol.modality == "CR" and not vol.meta["dicom"]["inverted"]


def test_mammogram_without_spacing_says_so(tmp_path: Path) -> None:
    px = _grey((8, 8), np.uint16)[:, :] // 16
    vol = read_volume(_write_projection(tmp_path / "mg.dcm", px, modality="MG", photometric="MONOCHROME2"))
    assert vol.ndim_spatial == 2 and vol.spacing == (1.0, 1.0)
    assert vol.meta["spacing_known"] is False and "none" in vol.meta["dicom"]["pixel_spacing_source"]


def test_ct_slice_still_reads_as_3d(tmp_path: Path, dicom_slice_writer) -> None:
    p = dicom_slice_writer(tmp_path / "ct.dcm", np.zeros((6, 7), np.int16))
    assert read_volume(p).data.shape == (1, 6, 7)


def test_napari_opens_a_png_as_one_grey_image_layer(make_napari_viewer, tmp_path: Path) -> None:
    from PIL import Image

    a = np.tile(np.arange(40, dtype=np.uint8), (30, 1))
    Image.fromarray(np.stack([a, a, a], -1)).save(tmp_path / "cxr.png")
    px = np.full((16, 24), 100, np.uint16)
    dcm = _write_projection(tmp_path / "dx.dcm", px, modality="DX", photometric="MONOCHROME2",
                            imager_spacing=(0.5, 0.25))
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "cxr.png"), plugin="napari-medai")
    assert len(viewer.layers) == 1
    layer = viewer.layers[0]
    assert layer._type_string == "image" and layer.data.shape == (30, 40) and not layer.rgb
    np.testing.assert_array_equal(np.asarray(layer.data), a)
    viewer.open(str(dcm), plugin="napari-medai")
    assert viewer.layers[-1].data.shape == (16, 24)
    np.testing.assert_allclose(viewer.layers[-1].scale, (0.5, 0.25))
