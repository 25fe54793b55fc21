"""DICOM series and files: slice order, HU rescale, geometry vs SimpleITK, and failures."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
import SimpleITK as sitk

from napari_medai.core.errors import ImageReadError
from napari_medai.core.io import (
    is_supported_path,
    list_dicom_series,
    read_dicom_file,
    read_dicom_series,
    read_volume,
)


def stack_with_slice_ids(n: int, rows: int = 6, cols: int = 5) -> np.ndarray:
    """Slice k holds 100 * k + (a per-pixel pattern), so each slice is recognisable."""
    pattern = np.arange(rows * cols, dtype=np.uint16).reshape(rows, cols)
    return np.stack([pattern + np.uint16(100 * k) for k in range(n)])


def sitk_series(folder: Path) -> sitk.Image:
    reader = sitk.ImageSeriesReader()
    reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
    return reader.Execute()


def test_sorted_by_position_not_by_file_name(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    stack = stack_with_slice_ids(6)
    # file names in reverse order of position: slice 0 (lowest) is written as "IM5"
    dicom_series_writer(tmp_path / "rev", stack, slice_spacing=2.5, origin=(0, 0, -40), names=lambda k: f"IM{5 - k}")
    v = read_dicom_series(tmp_path / "rev")
    np.testing.assert_array_equal(v.data, stack)
    assert v.spacing == pytest.approx((2.5, 1.0, 1.0))
    assert v.origin == pytest.approx((-40.0, 0.0, 0.0))
    # shuffled names, no extension
    order = list(range(6))
    random.Random(3).shuffle(order)
    dicom_series_writer(tmp_path / "shuf", stack, slice_spacing=2.5, names=lambda k: f"file{order[k]}")
    v = read_volume(tmp_path / "shuf")
    np.testing.assert_array_equal(v.data, stack)
    assert v.meta["dicom"]["files"] == [f"file{order[k]}" for k in range(6)]


def test_descending_positions_flip_to_ascending(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    stack = stack_with_slice_ids(4)
    # written with positions going down: slice k at z = 10 - 3k
    dicom_series_writer(tmp_path / "s", stack, origin=(0, 0, 10), slice_spacing=-3.0)
    v = read_dicom_series(tmp_path / "s")
    np.testing.assert_array_equal(v.data, stack[::-1])
    # first voxel is the lowest slice (z = 10 - 9 = 1); k runs towards +S with 3 mm steps
    assert v.origin == pytest.approx((1.0, 0.0, 0.0))
    assert v.spacing[0] == pytest.approx(3.0)
    assert v.direction[0, 0] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "orientation",
    [
        (1, 0, 0, 0, 1, 0),  # axial
        (0, 1, 0, 0, 0, -1),  # sagittal
        (1, 0, 0, 0, 0, -1),  # coronal
        (0.8660254, 0.5, 0.0, -0.1710101, 0.2961981, -0.9396926),  # double oblique
    ],
)
def test_geometry_matches_simpleitk(orientation, tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    stack = stack_with_slice_ids(5, rows=7, cols=4)
    dicom_series_writer(tmp_path, stack, origin=(-20.5, 13.0, 7.25), orientation=orientation,
                        pixel_spacing=(0.7, 0.9), slice_spacing=1.5, names=lambda k: f"z{4 - k}.dcm")
    v = read_dicom_series(tmp_path)
    ref = sitk_series(tmp_path)
    np.testing.assert_array_equal(v.data, sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(v.spacing[::-1], ref.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(v.origin[::-1], ref.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(v.direction[::-1, ::-1].ravel(), ref.GetDirection(), atol=1e-5)
    # PixelSpacing (row gap, column gap) -> spacing of array axes (row, column)
    assert v.spacing[1:] == pytest.approx((0.7, 0.9))


def test_ct_rescale_to_hu(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    raw = np.array([[[0, 1024], [2048, 24]], [[1000, 1100], [3000, 4095]]], dtype=np.uint16)
    dicom_series_writer(tmp_path, raw, slope=1.0, intercept=-1024.0)
    v = read_dicom_series(tmp_path)
    assert v.modality == "CT" and v.units == "HU"
    assert v.data.dtype == np.int16
    np.testing.assert_array_equal(v.data, [[[-1024, 0], [1024, -1000]], [[-24, 76], [1976, 3071]]])


def test_float_rescale(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    raw = np.array([[[0, 10], [20, 30]]], dtype=np.uint16)
    dicom_series_writer(tmp_path, raw, slope=0.5, intercept=-3.0, modality="PT")
    v = read_dicom_series(tmp_path)
    assert v.data.dtype == np.float32 and v.modality == "PT" and v.units == ""
    np.testing.assert_allclose(v.data, [[[-3.0, 2.0], [7.0, 12.0]]])


def test_single_file_and_extensionless_file(tmp_path: Path, dicom_slice_writer) -> None:  # type: ignore[no-untyped-def]
    px = np.arange(12, dtype=np.int16).reshape(3, 4) - 5
    f = dicom_slice_writer(tmp_path / "one.dcm", px, position=(1, 2, 3), pixel_spacing=(0.5, 0.25),
                           slice_thickness=2.0)
    v = read_volume(f)
    assert v.data.shape == (1, 3, 4)
    np.testing.assert_array_equal(v.data[0], px)
    assert v.spacing == pytest.approx((2.0, 0.5, 0.25))
    assert v.origin == pytest.approx((3.0, 2.0, 1.0))
    g = dicom_slice_writer(tmp_path / "IM0001", px)
    assert is_supported_path(g)
    np.testing.assert_array_equal(read_volume(g).data[0], px)
    np.testing.assert_array_equal(read_dicom_file(g).data[0], px)


def test_series_without_position_tags_uses_instance_numbers(tmp_path: Path, dicom_slice_writer) -> None:  # type: ignore[no-untyped-def]
    for k, inst in enumerate([3, 1, 2]):
        dicom_slice_writer(tmp_path / f"f{k}.dcm", np.full((2, 2), inst, np.uint16), instance=inst, geometry=False)
    v = read_dicom_series(tmp_path)
    np.testing.assert_array_equal(v.data[:, 0, 0], [1, 2, 3])
    assert v.meta["dicom"]["sorted_by"].startswith("instance")


def test_missing_slice(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    dicom_series_writer(tmp_path, stack_with_slice_ids(7), slice_spacing=2.0, skip=(3,))
    with pytest.raises(ImageReadError, match="gap") as err:
        read_dicom_series(tmp_path)
    msg = str(err.value)
    assert "2 mm apart" in msg and "jump 4 mm" in msg and "about 1 slice(s) missing" in msg
    assert err.value.path == str(tmp_path)


def test_duplicate_positions(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    stack = stack_with_slice_ids(3)
    dicom_series_writer(tmp_path, stack, names=lambda k: f"a{k}.dcm")
    dicom_series_writer(tmp_path, stack, names=lambda k: f"b{k}.dcm")
    with pytest.raises(ImageReadError, match="same position"):
        read_dicom_series(tmp_path)


def test_mixed_series(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    dicom_series_writer(tmp_path, stack_with_slice_ids(4), series_uid="1.2.3.4", names=lambda k: f"a{k}.dcm")
    dicom_series_writer(tmp_path, stack_with_slice_ids(3) + 7, series_uid="1.2.3.5", names=lambda k: f"b{k}.dcm")
    with pytest.raises(ImageReadError, match="holds 2 DICOM series") as err:
        read_volume(tmp_path)
    msg = str(err.value)
    assert "1.2.3.4 (4 files" in msg and "1.2.3.5 (3 files" in msg and "series_uid" in msg
    v = read_volume(tmp_path, series_uid="1.2.3.5")
    np.testing.assert_array_equal(v.data, stack_with_slice_ids(3) + 7)
    with pytest.raises(ImageReadError, match="no series '9.9'"):
        read_dicom_series(tmp_path, series_uid="9.9")
    listing = list_dicom_series(tmp_path)
    assert [(s["series_uid"], s["n_files"]) for s in listing] == [("1.2.3.4", 4), ("1.2.3.5", 3)]


def test_inconsistent_slice_sizes(tmp_path: Path, dicom_series_writer, dicom_slice_writer) -> None:  # type: ignore[no-untyped-def]
    dicom_series_writer(tmp_path, stack_with_slice_ids(3, rows=4, cols=4))
    dicom_slice_writer(tmp_path / "odd.dcm", np.zeros((5, 4), np.uint16), position=(0, 0, 6))
    with pytest.raises(ImageReadError, match=r"different sizes \(3 of 4x4, 1 of 5x4\)"):
        read_dicom_series(tmp_path)


def test_folder_without_dicom(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("nothing here")
    (tmp_path / "scan.nii.gz").write_bytes(b"\0" * 400)
    with pytest.raises(ImageReadError, match=r"holds no DICOM files \(2 files checked\)") as err:
        read_volume(tmp_path)
    assert err.value.path == str(tmp_path)
    assert not is_supported_path(tmp_path)


def test_folder_of_nifti_files_says_open_them(tmp_path: Path) -> None:
    (tmp_path / "b.nii.gz").write_bytes(b"\0" * 10)
    (tmp_path / "a.nrrd").write_bytes(b"\0" * 10)
    with pytest.raises(ImageReadError, match=r"image files, which open one by one, e.g. a.nrrd, b.nii.gz"):
        read_volume(tmp_path)


def test_bids_folder_says_open_the_nifti_files(tmp_path: Path) -> None:
    """The ISLES 2022 layout: rawdata/sub-*/ses-*/..._dwi.nii.gz and derivatives/ with the mask."""
    ses = tmp_path / "case" / "rawdata" / "sub-strokecase0001" / "ses-0001"
    ses.mkdir(parents=True)
    for kind in ("dwi", "adc"):
        (ses / f"sub-strokecase0001_ses-0001_{kind}.nii.gz").write_bytes(b"\0" * 10)
        (ses / f"sub-strokecase0001_ses-0001_{kind}.json").write_text("{}")
    der = tmp_path / "case" / "derivatives" / "sub-strokecase0001" / "ses-0001"
    der.mkdir(parents=True)
    (der / "sub-strokecase0001_ses-0001_msk.nii.gz").write_bytes(b"\0" * 10)
    with pytest.raises(ImageReadError) as err:
        read_volume(tmp_path / "case")
    text = str(err.value)
    assert "this is a BIDS folder; open the NIfTI files inside it, e.g. " in text
    raw = Path("rawdata/sub-strokecase0001/ses-0001")
    assert str(raw / "sub-strokecase0001_ses-0001_adc.nii.gz") in text
    assert text.index("_dwi.nii.gz") < text.index("_msk.nii.gz")  # raw data before derivatives
    assert "files checked" not in text
    # a session folder is BIDS too, and so is a dataset with only dataset_description.json
    with pytest.raises(ImageReadError, match=r"BIDS folder.*e.g. sub-strokecase0001_ses-0001_adc.nii.gz"):
        read_volume(ses)
    (tmp_path / "ds").mkdir()
    (tmp_path / "ds" / "dataset_description.json").write_text("{}")
    with pytest.raises(ImageReadError, match=r"BIDS folder; open the NIfTI files inside its sub-\*/ses-\* folders"):
        read_volume(tmp_path / "ds")


def test_window_centre_and_width_first_values(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    import pydicom

    paths = dicom_series_writer(tmp_path / "s", stack_with_slice_ids(3), intercept=-1024)
    for p in paths:
        ds = pydicom.dcmread(p)
        ds.WindowCenter = ["60", "400"]
        ds.WindowWidth = ["350", "1800"]
        ds.save_as(p)
    v = read_dicom_series(tmp_path / "s")
    assert (v.meta["dicom"]["WindowCenter"], v.meta["dicom"]["WindowWidth"]) == (60.0, 350.0)
    from napari_medai.core.display import initial_window

    assert initial_window(v).limits == (-115.0, 235.0)


def test_folder_hint_names_subfolder(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    dicom_series_writer(tmp_path / "study" / "series1", stack_with_slice_ids(2))
    with pytest.raises(ImageReadError, match="series1"):
        read_volume(tmp_path / "study")
    assert is_supported_path(tmp_path / "study" / "series1")


def test_damaged_file_in_series(tmp_path: Path, dicom_series_writer) -> None:  # type: ignore[no-untyped-def]
    files = dicom_series_writer(tmp_path, stack_with_slice_ids(3, rows=16, cols=16))
    blob = files[1].read_bytes()
    # cut inside the header: pydicom stops silently, the reader must not drop the slice
    files[1].write_bytes(blob[:300])
    with pytest.raises(ImageReadError, match="damaged or incomplete") as err:
        read_dicom_series(tmp_path)
    assert err.value.path == str(files[1])
    # cut inside the pixel data: the decoder's complaint is chained
    files[1].write_bytes(blob[:-100])
    with pytest.raises(ImageReadError, match="pixel data cannot be read") as err:
        read_dicom_series(tmp_path)
    assert err.value.path == str(files[1])
    assert err.value.__cause__ is not None


def test_multiframe_file(tmp_path: Path) -> None:
    """An enhanced (multi-frame) file with per-frame positions given in reverse order."""
    from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    frames = stack_with_slice_ids(3, rows=2, cols=3)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2.1"  # Enhanced CT
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(tmp_path / "mf.dcm"), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.SeriesInstanceUID = generate_uid()
    ds.Modality = "CT"
    ds.Rows, ds.Columns, ds.NumberOfFrames = 2, 3, 3
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    shared = Dataset()
    pm = Dataset()
    pm.PixelSpacing = [0.5, 0.5]
    po = Dataset()
    po.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    pv = Dataset()
    pv.RescaleSlope, pv.RescaleIntercept = 1, -1024
    shared.PixelMeasuresSequence = Sequence([pm])
    shared.PlaneOrientationSequence = Sequence([po])
    shared.PixelValueTransformationSequence = Sequence([pv])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per = []
    for f in range(3):
        item, pp = Dataset(), Dataset()
        pp.ImagePositionPatient = [0, 0, 10 - 4 * f]  # frame 0 is the highest
        item.PlanePositionSequence = Sequence([pp])
        per.append(item)
    ds.PerFrameFunctionalGroupsSequence = Sequence(per)
    ds.PixelData = frames.astype("<u2").tobytes()
    ds.save_as(str(tmp_path / "mf.dcm"), enforce_file_format=True)
    v = read_volume(tmp_path / "mf.dcm")
    np.testing.assert_array_equal(v.data, frames[::-1].astype(np.int32) - 1024)
    assert v.spacing == pytest.approx((4.0, 0.5, 0.5))
    assert v.origin == pytest.approx((2.0, 0.0, 0.0))


def test_real_jpeg2000_series(shared_file) -> None:  # type: ignore[no-untyped-def]
    folder = shared_file("ct_dicom_jpeg2000/series")
    v = read_volume(folder)
    assert v.data.shape == (20, 512, 512) and v.data.dtype == np.int16
    assert v.modality == "CT" and v.units == "HU"
    assert v.data.min() >= -1024 and v.data.max() < 4000
    ref = sitk_series(folder)
    np.testing.assert_array_equal(v.data, sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(v.spacing[::-1], ref.GetSpacing(), atol=1e-5)
    np.testing.assert_allclose(v.origin[::-1], ref.GetOrigin(), atol=1e-5)
    np.testing.assert_allclose(v.direction[::-1, ::-1].ravel(), ref.GetDirection(), atol=1e-6)
    assert "JPEG" in str(v.meta["dicom"]["TransferSyntaxUID"]) or v.meta["dicom"]["TransferSyntaxUID"].startswith("1.2.840.10008.1.2.4")


def test_real_single_files(shared_file) -> None:  # type: ignore[no-untyped-def]
    ct = read_volume(shared_file("ct_dicom_jpeg2000/CT_small.dcm"))
    assert ct.data.shape == (1, 128, 128) and ct.units == "HU"
    ref = sitk.ReadImage(str(shared_file("ct_dicom_jpeg2000/CT_small.dcm")))
    np.testing.assert_array_equal(ct.data, sitk.GetArrayFromImage(ref))
    np.testing.assert_allclose(ct.origin[::-1], ref.GetOrigin(), atol=1e-5)
    mr = read_volume(shared_file("ct_dicom_jpeg2000/MR_small.dcm"))
    assert mr.modality == "MR" and mr.units == ""


def test_compressed_fast_path_equals_pydicom_decoding(shared_data):
    """The SimpleITK decode of a JPEG 2000 series gives the same voxels as pydicom's decoder."""
    from napari_medai.core.io import dicom as d

    folder = shared_data / "ct_dicom_jpeg2000" / "series"
    if not folder.is_dir():
        pytest.skip(f"{folder} not found (needs ../shared/data)")
    paths, _ = d._scan_folder(folder)
    slices = [sl for p in paths for sl in d._slices_of(d._dcmread(str(p)), str(p))]
    slices.sort(key=lambda s: float(s.position[2]))
    fast = d._decode_compressed_series(slices)
    assert fast is not None, "the fast path did not apply to a JPEG 2000 series"
    slow = d._decode_slices(slices, n=len(slices), where=str(folder))
    assert fast.dtype == slow.dtype
    np.testing.assert_array_equal(fast, slow)
