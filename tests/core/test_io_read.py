"""read_volume: formats, 4-D files, label maps, NaN checks, raw/npy, and helpful errors."""

from __future__ import annotations

import gzip
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from napari_medai.core.errors import ImageReadError, InvalidInputError
from napari_medai.core.io import (
    SUPPORTED_EXTENSIONS,
    is_label_name,
    is_supported_path,
    read_volume,
    write_volume,
)
from napari_medai.core.io.names import raw_name_facts, split_extension
from napari_medai.core.volume import Volume


def save_nifti(path: Path, arr: np.ndarray, affine: np.ndarray | None = None, **header: object) -> Path:
    img = nib.Nifti1Image(arr, np.eye(4) if affine is None else affine)
    for key, value in header.items():
        img.header[key] = value
    nib.save(img, str(path))
    return path


# --------------------------------------------------------------------------- basic reading
def test_nifti_array_order_and_dtype(tmp_path: Path) -> None:
    arr = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)  # (i, j, k)
    v = read_volume(save_nifti(tmp_path / "ct.nii.gz", arr))
    assert v.data.shape == (4, 3, 2)
    assert v.data.dtype == np.int16
    # Volume index (k, j, i) holds file voxel (i, j, k)
    assert v.data[3, 2, 1] == arr[1, 2, 3]
    assert v.name == "ct"
    assert v.source == str((tmp_path / "ct.nii.gz").resolve())
    assert v.meta["format"] == "nifti"
    assert not v.is_label


def test_nifti_scaling_applied(tmp_path: Path) -> None:
    img = nib.Nifti1Image(np.array([[[0, 1], [2, 3]]], dtype=np.int16), np.eye(4))
    img.header.set_slope_inter(2.0, -10.0)
    nib.save(img, str(tmp_path / "scaled.nii"))
    v = read_volume(tmp_path / "scaled.nii")
    # voxel (i=0, j=1, k=1) stores 3 -> 3 * 2 - 10 = -4
    assert v.data[1, 1, 0] == pytest.approx(-4.0)


def test_itk_array_order(tmp_path: Path) -> None:
    arr = np.arange(24, dtype=np.uint16).reshape(2, 3, 4)  # SimpleITK array = (k, j, i)
    img = sitk.GetImageFromArray(arr)
    img.SetSpacing((0.5, 0.6, 3.0))
    for ext in (".nrrd", ".mha", ".nhdr", ".mhd"):
        sitk.WriteImage(img, str(tmp_path / f"a{ext}"))
        v = read_volume(tmp_path / f"a{ext}")
        np.testing.assert_array_equal(v.data, arr)
        assert v.spacing == pytest.approx((3.0, 0.6, 0.5))


def test_npy_is_one_mm_identity(tmp_path: Path) -> None:
    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.save(tmp_path / "slice.npy", arr)
    v = read_volume(tmp_path / "slice.npy")
    np.testing.assert_array_equal(v.data, arr)
    assert v.spacing == (1.0, 1.0) and v.origin == (0.0, 0.0)
    np.save(tmp_path / "four_d.npy", np.zeros((2, 2, 2, 2)))
    with pytest.raises(ImageReadError, match="4-D"):
        read_volume(tmp_path / "four_d.npy")


# --------------------------------------------------------------------------- raw
def test_raw_name_facts() -> None:
    f = raw_name_facts("L506_FD_3mm_sharp_slice32_uint16_hu+1024_512x512.raw")
    assert f.shape == (512, 512) and f.dtype == "uint16" and f.offset == 1024
    f = raw_name_facts("phantom_640x480x10_int16.raw")
    assert f.shape == (10, 480, 640) and f.dtype == "int16" and f.offset is None


def test_raw_shape_from_name_and_offset(tmp_path: Path) -> None:
    stored = np.array([[0, 1024, 2048, 1000], [24, 1124, 3000, 4095], [5, 6, 7, 8]], dtype="<u2")
    path = tmp_path / "ct_hu+1024_4x3.raw"  # width 4, height 3
    stored.tofile(path)
    v = read_volume(path)
    assert v.data.shape == (3, 4)
    np.testing.assert_array_equal(v.data, stored.astype(np.int32) - 1024)
    assert v.data.dtype == np.int16
    assert v.units == "HU" and v.modality == "CT"
    # the caller's options win over the name
    v2 = read_volume(path, offset=0)
    np.testing.assert_array_equal(v2.data, stored)
    v3 = read_volume(path, shape=(4, 3))
    assert v3.data.shape == (4, 3)


def test_raw_errors(tmp_path: Path) -> None:
    path = tmp_path / "noshape.raw"
    np.zeros(10, dtype=np.uint16).tofile(path)
    with pytest.raises(ImageReadError, match="without a shape") as err:
        read_volume(path)
    assert "512x512" in str(err.value)
    with pytest.raises(ImageReadError, match="has 20 bytes"):
        read_volume(path, shape=(4, 4))
    with pytest.raises(InvalidInputError, match="DICOM folders only"):
        read_volume(path, shape=(5, 2), series_uid="1.2.3")
    with pytest.raises(InvalidInputError, match="not a NumPy dtype"):
        read_volume(path, shape=(5, 2), dtype="nonsense")


def test_options_for_other_formats_are_refused(tmp_path: Path) -> None:
    path = save_nifti(tmp_path / "x.nii", np.zeros((2, 2, 2), np.int16))
    with pytest.raises(InvalidInputError, match="raw"):
        read_volume(path, shape=(2, 2, 2))
    with pytest.raises(InvalidInputError, match="DICOM"):
        read_volume(path, series_uid="1.2.3")
    with pytest.raises(InvalidInputError, match="offset"):
        read_volume(path, offset=1024)


def test_real_ldct_raw_reads_in_hu(shared_file) -> None:  # type: ignore[no-untyped-def]
    raw = shared_file("ldct_L506/L506_FD_3mm_sharp_slice32_uint16_hu+1024_512x512.raw")
    npy = shared_file("ldct_L506/L506_FD_slice32_HU_int16.npy")
    v = read_volume(raw)
    ref = read_volume(npy)
    assert v.data.shape == (512, 512)
    assert v.units == "HU"
    np.testing.assert_array_equal(v.data, ref.data)
    np.testing.assert_array_equal(v.data, np.fromfile(raw, dtype="<u2").reshape(512, 512).astype(np.int32) - 1024)


# --------------------------------------------------------------------------- 4-D
def test_nifti_4d_time_when_header_says_so(tmp_path: Path) -> None:
    arr = np.arange(2 * 3 * 4 * 5, dtype=np.float32).reshape(2, 3, 4, 5)
    img = nib.Nifti1Image(arr, np.eye(4))
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((1.0, 1.0, 1.0, 2.5))
    nib.save(img, str(tmp_path / "fmri.nii.gz"))
    v = read_volume(tmp_path / "fmri.nii.gz")
    assert v.channel_axis == 0 and v.channel_kind == "time"
    assert v.data.shape == (5, 4, 3, 2)
    assert v.data[4, 3, 2, 1] == arr[1, 2, 3, 4]
    assert v.meta["time_step"] == pytest.approx(2.5)
    # written back it stays time with its step
    back = read_volume(write_volume(v, tmp_path / "again.nii.gz"))
    assert back.channel_kind == "time" and back.meta["time_step"] == pytest.approx(2.5)
    assert nib.load(str(tmp_path / "again.nii.gz")).header.get_xyzt_units() == ("mm", "sec")
    np.testing.assert_array_equal(back.data, v.data)


def test_nifti_4d_channels_without_time_unit(tmp_path: Path) -> None:
    arr = np.random.default_rng(0).normal(size=(4, 4, 3, 2)).astype(np.float32)
    img = nib.Nifti1Image(arr, np.eye(4))
    img.header.set_xyzt_units("mm", "unknown")
    nib.save(img, str(tmp_path / "multimodal.nii.gz"))
    v = read_volume(tmp_path / "multimodal.nii.gz")
    assert v.channel_axis == 0 and v.channel_kind == "channel" and v.n_channels == 2
    np.testing.assert_array_equal(v.channel(1).data, arr[..., 1].T)
    # a time unit but a zero step is still channels
    img.header.set_xyzt_units("mm", "sec")
    img.header.set_zooms((1.0, 1.0, 1.0, 0.0))
    nib.save(img, str(tmp_path / "zero_step.nii.gz"))
    assert read_volume(tmp_path / "zero_step.nii.gz").channel_kind == "channel"


@pytest.mark.parametrize("ext", [".nii.gz", ".nrrd", ".mha"])
@pytest.mark.parametrize("kind", ["channel", "time"])
def test_4d_round_trip(kind: str, ext: str, tmp_path: Path) -> None:
    data = np.arange(3 * 2 * 3 * 4, dtype=np.int16).reshape(3, 2, 3, 4)
    v = Volume(data, spacing=(2.0, 1.0, 0.5), channel_axis=0, channel_kind=kind, meta={"time_step": 1.5})  # type: ignore[arg-type]
    back = read_volume(write_volume(v, tmp_path / f"four{ext}"))
    assert back.channel_axis == 0 and back.channel_kind == kind
    np.testing.assert_array_equal(back.data, data)
    assert back.spacing == pytest.approx((2.0, 1.0, 0.5))
    if kind == "time":
        assert back.meta["time_step"] == pytest.approx(1.5)


# --------------------------------------------------------------------------- labels
@pytest.mark.parametrize(
    "name",
    ["OTMultiClass.nii.gz", "case_seg.nii.gz", "case-seg.nrrd", "lung1_label.nrrd", "sub-01_msk.nii.gz",
     "brainmask.nii.gz", "BraTS-GLI-00001-000-seg.nii.gz", "liver_GT.mha", "groundtruth.nii", "Segmentation.nrrd",
     "patient_labels.nii.gz", "manual_annotation.nii.gz", "aseg.nii.gz", "labelsTr/case_001.nii.gz",
     "case_ground_truth.nii.gz", "TumorMask.nii.gz", "lung1_image_cac_assignment.nii.gz"],
)
def test_label_names(name: str) -> None:
    assert is_label_name(name)


@pytest.mark.parametrize(
    "name",
    ["T1c_subtrMeanDivStd.nii.gz", "Flair.nii.gz", "segment_ct.nii", "chris_t1.nii.gz", "imagesTr/case_001.nii.gz",
     "lung1_image.nrrd", "BraTS-GLI-00001-000-t1c.nii.gz", "target.nii.gz", "ghost.nii"],
)
def test_image_names(name: str) -> None:
    assert not is_label_name(name)


def test_label_auto_needs_name_and_whole_values(tmp_path: Path) -> None:
    ints = np.array([[[0, 1], [2, 4]]], dtype=np.int16)
    v = read_volume(save_nifti(tmp_path / "case_seg.nii.gz", ints))
    assert v.is_label and v.data.dtype == np.int16
    # whole-valued floats named as labels become the smallest integer dtype
    v = read_volume(save_nifti(tmp_path / "OTMultiClass.nii.gz", ints.astype(np.float32)))
    assert v.is_label and v.data.dtype == np.uint8
    np.testing.assert_array_equal(v.data, ints.T)
    # a label name with fractional values (probabilities) stays an image
    probs = np.array([[[0.0, 0.25], [0.5, 1.0]]], dtype=np.float32)
    v = read_volume(save_nifti(tmp_path / "tumour_probseg.nii.gz", probs))
    assert not v.is_label and v.data.dtype == np.float32
    # an image name stays an image even with integer data
    v = read_volume(save_nifti(tmp_path / "ct.nii.gz", ints))
    assert not v.is_label
    # unless asked
    v = read_volume(tmp_path / "ct.nii.gz", as_label=True)
    assert v.is_label
    v = read_volume(tmp_path / "case_seg.nii.gz", as_label=False)
    assert not v.is_label


def test_label_from_float_scaling_noise(tmp_path: Path) -> None:
    # like the BraTS brainmask: int32 storage with a slope that turns 1 into 0.99999997
    raw = np.array([[[-2147483648, 2147483520]]], dtype=np.int32)
    img = nib.Nifti1Image(raw, np.eye(4))
    img.header.set_slope_inter(2.3283064365386963e-10, 0.5)
    nib.save(img, str(tmp_path / "brainmask.nii.gz"))
    v = read_volume(tmp_path / "brainmask.nii.gz")
    assert v.is_label and v.data.dtype == np.uint8
    np.testing.assert_array_equal(v.data.ravel(), [0, 1])


def test_as_label_refuses_fractional_values(tmp_path: Path) -> None:
    probs = np.array([[[0.0, 0.25], [0.5, 1.0]]], dtype=np.float32)
    path = save_nifti(tmp_path / "prob.nii.gz", probs)
    with pytest.raises(ImageReadError, match=r"non-integer values in 2 of 4 voxels") as err:
        read_volume(path, as_label=True)
    assert err.value.path == str(path) and "as_label=False" in str(err.value)


def test_real_brats_labels(shared_file) -> None:  # type: ignore[no-untyped-def]
    ot = read_volume(shared_file("brats2013_flair_t1c/brats_2013_pat0003_1/OTMultiClass.nii.gz"))
    assert ot.is_label and ot.data.dtype == np.uint8
    assert set(np.unique(ot.data)) <= {0, 1, 2, 3, 4}
    mask = read_volume(shared_file("brats2013_flair_t1c/brats_2013_pat0003_1/brainmask.nii.gz"))
    assert mask.is_label and set(np.unique(mask.data)) == {0, 1}
    flair = read_volume(shared_file("brats2013_flair_t1c/brats_2013_pat0003_1/Flair_subtrMeanDivStd.nii.gz"))
    assert not flair.is_label and flair.data.dtype == np.float32 and flair.data.shape == (155, 240, 240)
    assert flair.same_grid(ot)


# --------------------------------------------------------------------------- NaN
def test_all_nan_is_refused(tmp_path: Path) -> None:
    path = save_nifti(tmp_path / "empty.nii.gz", np.full((3, 4, 5), np.nan, np.float32))
    with pytest.raises(ImageReadError, match=r"every voxel \(60\) is NaN"):
        read_volume(path)


def test_some_nan_is_refused_with_count(tmp_path: Path) -> None:
    arr = np.ones((3, 4, 5), np.float32)
    arr[0, 0, :3] = np.nan
    path = save_nifti(tmp_path / "holes.nii.gz", arr)
    with pytest.raises(ImageReadError, match=r"3 of 60 voxels .* are NaN") as err:
        read_volume(path)
    assert "allow_nan=True" in str(err.value)
    v = read_volume(path, allow_nan=True)
    assert int(np.isnan(v.data).sum()) == 3


def test_nan_in_label_is_refused(tmp_path: Path) -> None:
    arr = np.zeros((2, 2, 2), np.float32)
    arr[0, 0, 0] = np.nan
    with pytest.raises(ImageReadError, match="1 NaN voxels"):
        read_volume(save_nifti(tmp_path / "x.nii.gz", arr), as_label=True)


# --------------------------------------------------------------------------- errors
def test_nonexistent_path_suggests_close_name(tmp_path: Path) -> None:
    save_nifti(tmp_path / "flair.nii.gz", np.zeros((2, 2, 2), np.int16))
    missing = tmp_path / "flare.nii.gz"
    with pytest.raises(ImageReadError, match="does not exist") as err:
        read_volume(missing)
    assert err.value.path == str(missing)
    assert "flair.nii.gz" in str(err.value)
    with pytest.raises(ImageReadError, match="does not exist"):
        read_volume(tmp_path / "nowhere" / "x.nii")


def test_unsupported_extension(tmp_path: Path) -> None:
    path = tmp_path / "photo.gif"  # (PNG, JPEG and TIFF open as 2-D radiographs: tests/core/test_io_radiograph.py)
    path.write_bytes(b"GIF89a" + b"\0" * 100)
    with pytest.raises(ImageReadError, match=r"unsupported extension '\.gif'") as err:
        read_volume(path)
    assert ".nii.gz" in str(err.value)
    assert not is_supported_path(path)


def test_truncated_nifti_gz(tmp_path: Path) -> None:
    path = save_nifti(tmp_path / "whole.nii.gz", np.random.default_rng(1).normal(size=(20, 20, 20)).astype(np.float32))
    blob = path.read_bytes()
    cut = tmp_path / "cut.nii.gz"
    cut.write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ImageReadError, match="truncated") as err:
        read_volume(cut)
    assert err.value.path == str(cut)
    assert err.value.__cause__ is not None  # the library error is chained, not shown
    assert "again" in (err.value.fix or "")


def test_truncated_uncompressed_nifti_and_nrrd(tmp_path: Path) -> None:
    arr = np.arange(20 * 20 * 20, dtype=np.float32).reshape(20, 20, 20)
    path = save_nifti(tmp_path / "whole.nii", arr)
    blob = path.read_bytes()
    (tmp_path / "cut.nii").write_bytes(blob[:-1000])
    with pytest.raises(ImageReadError, match="truncated"):
        read_volume(tmp_path / "cut.nii")
    sitk.WriteImage(sitk.GetImageFromArray(arr), str(tmp_path / "whole.nrrd"))
    blob = (tmp_path / "whole.nrrd").read_bytes()
    (tmp_path / "cut.nrrd").write_bytes(blob[:-1000])
    with pytest.raises(ImageReadError) as err:
        read_volume(tmp_path / "cut.nrrd")
    assert err.value.__cause__ is not None


@pytest.mark.parametrize("name", ["notes.nii", "notes.nii.gz", "notes.nrrd", "notes.mha", "notes.npy", "notes.dcm"])
def test_text_file_renamed_as_image(name: str, tmp_path: Path) -> None:
    path = tmp_path / name
    path.write_text("this is a text file, not an image\n" * 20)
    with pytest.raises(ImageReadError) as err:
        read_volume(path)
    assert err.value.path == str(path)
    assert err.value.fix


def test_gz_compressed_text_named_nifti(tmp_path: Path) -> None:
    path = tmp_path / "notes.nii.gz"
    path.write_bytes(gzip.compress(b"hello " * 200))
    with pytest.raises(ImageReadError, match="NIfTI"):
        read_volume(path)


# --------------------------------------------------------------------------- names
def test_split_extension_and_supported() -> None:
    assert split_extension("/a/b/Case.NII.GZ") == ("Case", ".nii.gz")
    assert split_extension("scan.nrrd") == ("scan", ".nrrd")
    assert ".nii.gz" in SUPPORTED_EXTENSIONS and ".mha" in SUPPORTED_EXTENSIONS


def test_is_supported_path(tmp_path: Path) -> None:
    nii = save_nifti(tmp_path / "a.nii.gz", np.zeros((2, 2, 2), np.int16))
    assert is_supported_path(nii)
    assert is_supported_path(tmp_path / "not_yet_written.nrrd")  # by extension
    assert not is_supported_path(tmp_path / "file.txt")
    assert not is_supported_path(tmp_path)  # a folder without DICOM
    assert not is_supported_path(12345)  # type: ignore[arg-type]


def test_2d_nifti_outside_axial_plane_keeps_3d_geometry(tmp_path: Path) -> None:
    # a single coronal-like 2-D image: i runs to +S (2 mm), j to +R (0.5 mm)
    affine = np.array([[0.0, 0.5, 0, 1], [0, 0, 1, 2], [2, 0, 0, 3], [0, 0, 0, 1]])
    arr = np.arange(6, dtype=np.int16).reshape(3, 2)  # (i, j)
    v = read_volume(save_nifti(tmp_path / "slice.nii", arr, affine))
    assert v.data.shape == (1, 2, 3)
    assert v.data[0, 1, 2] == arr[2, 1]
    # voxel (i=2, j=1): RAS = (0.5 + 1, 2, 2 * 2 + 3) = (1.5, 2, 7) -> LPS (-1.5, -2, 7)
    np.testing.assert_allclose(v.index_to_world(np.array([0, 1, 2])), [7.0, -2.0, -1.5])


def test_nifti_data_is_a_c_ordered_array(tmp_path: Path) -> None:
    v = read_volume(save_nifti(tmp_path / "c.nii.gz", np.zeros((4, 5, 6), np.float32)))
    assert v.data.flags.c_contiguous and v.data.flags.writeable


@pytest.mark.parametrize("ext", [".nii.gz", ".nrrd", ".mha"])
@pytest.mark.parametrize("kind", ["channel", "time"])
def test_2d_plus_channels_keeps_its_planes(kind: str, ext: str, tmp_path: Path) -> None:
    data = np.arange(2 * 3 * 4, dtype=np.int16).reshape(2, 3, 4)  # (c, rows, columns)
    v = Volume(data, spacing=(0.5, 0.25), channel_axis=0, channel_kind=kind)  # type: ignore[arg-type]
    back = read_volume(write_volume(v, tmp_path / f"rgbish{ext}"))
    assert back.channel_axis == 0 and back.channel_kind == kind and back.n_channels == 2
    # one plane per channel whether it comes back 2-D or as a single 3-D slice
    np.testing.assert_array_equal(back.data.reshape(2, 3, 4), data)
    assert back.spacing[-2:] == pytest.approx((0.5, 0.25))
