"""Geometry conversions (NIfTI / ITK / DICOM <-> Volume) and geometry round trips through files."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
import SimpleITK as sitk

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.io import (
    dicom_to_volume_geometry,
    itk_to_volume_geometry,
    nifti_affine_of,
    nifti_affine_to_volume_geometry,
    read_volume,
    volume_geometry_to_nifti_affine,
    volume_to_itk_geometry,
    write_volume,
)
from napari_medai.core.volume import Volume

FORMATS = [".nii.gz", ".nii", ".nrrd", ".mha", ".nhdr", ".mhd"]


def rotation(axis: tuple[float, float, float], degrees: float) -> np.ndarray:
    """Rodrigues rotation matrix."""
    a = np.asarray(axis, dtype=float)
    a /= np.linalg.norm(a)
    t = np.deg2rad(degrees)
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return np.eye(3) + np.sin(t) * k + (1 - np.cos(t)) * (k @ k)


# Volume directions (array order, reversed LPS) of three kinds of files:
DIRECTIONS = {
    # voxel axes i, j, k run towards L, P, S (DICOM/ITK default) -> identity
    "lps": np.eye(3),
    # voxel axes run towards R, A, S (the usual NIfTI layout) -> S stays, P and L flip
    "ras": np.diag([1.0, -1.0, -1.0]),
    # rotated 25 degrees about a skew axis, and with a flipped slice axis
    "oblique": rotation((1.0, 2.0, 3.0), 25.0) @ np.diag([-1.0, 1.0, 1.0]),
}


def make_volume(kind: str, *, is_label: bool = False) -> Volume:
    rng = np.random.default_rng(7)
    shape = (5, 6, 7)
    if is_label:
        data = rng.integers(0, 4, size=shape).astype(np.uint8)
    else:
        data = rng.normal(size=shape).astype(np.float32)
    return Volume(
        data,
        spacing=(2.5, 0.75, 1.25),
        origin=(-12.5, 33.25, 100.125),
        direction=DIRECTIONS[kind],
        is_label=is_label,
        name=kind,
    )


def assert_same_geometry(a: Volume, b: Volume, tol: float = 1e-5) -> None:
    np.testing.assert_allclose(a.spacing, b.spacing, atol=tol)
    np.testing.assert_allclose(a.origin, b.origin, atol=tol)
    np.testing.assert_allclose(a.direction, b.direction, atol=tol)


# --------------------------------------------------------------------------- conversions by hand
def test_nifti_affine_by_hand() -> None:
    # i -> R 2 mm, j -> A 3 mm, k -> S 4 mm; first voxel at RAS (10, 20, 30).
    aff = np.array([[2.0, 0, 0, 10], [0, 3, 0, 20], [0, 0, 4, 30], [0, 0, 0, 1]])
    g = nifti_affine_to_volume_geometry(aff)
    assert g.spacing == (4.0, 3.0, 2.0)
    # RAS (10, 20, 30) is LPS (-10, -20, 30), listed reversed (S, P, L)
    assert g.origin == (30.0, -20.0, -10.0)
    # array axis 0 (k) runs to +S; axis 1 (j) to +A = -P; axis 2 (i) to +R = -L
    np.testing.assert_array_equal(g.direction, np.diag([1.0, -1.0, -1.0]))
    back = volume_geometry_to_nifti_affine(*g)
    np.testing.assert_allclose(back, aff)


def test_nifti_affine_scales_and_rejects_degenerate() -> None:
    aff = np.diag([1.0, 1.0, 0.0, 1.0])
    with pytest.raises(InvalidInputError, match="zero-length"):
        nifti_affine_to_volume_geometry(aff)
    with pytest.raises(InvalidInputError, match="4x4"):
        nifti_affine_to_volume_geometry(np.eye(3))


def test_itk_geometry_by_hand() -> None:
    g = itk_to_volume_geometry((0.5, 0.7, 2.5), (1.0, 2.0, 3.0), (1, 0, 0, 0, 1, 0, 0, 0, 1))
    assert g.spacing == (2.5, 0.7, 0.5)
    assert g.origin == (3.0, 2.0, 1.0)
    np.testing.assert_array_equal(g.direction, np.eye(3))
    # ITK x axis along -P (column 0 = (0, -1, 0)), y along +L, z along +S
    d_itk = np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]])
    g = itk_to_volume_geometry((1, 1, 1), (0, 0, 0), d_itk.ravel())
    # array axis 2 (= ITK x) must point to world axis 1 (P) with sign -1
    assert g.direction[1, 2] == -1.0
    assert g.direction[2, 1] == 1.0
    assert g.direction[0, 0] == 1.0
    back = volume_to_itk_geometry(*g)
    np.testing.assert_array_equal(back.direction, d_itk)


def test_dicom_geometry_by_hand() -> None:
    # axial: rows run along +L (x), columns along +P; PixelSpacing = (row gap 0.5, column gap 0.8)
    g = dicom_to_volume_geometry(
        orientation=(1, 0, 0, 0, 1, 0), position=(10, 20, 30), pixel_spacing=(0.5, 0.8), slice_spacing=3.0
    )
    assert g.spacing == (3.0, 0.5, 0.8)
    assert g.origin == (30.0, 20.0, 10.0)
    np.testing.assert_array_equal(g.direction, np.eye(3))
    # sagittal: row direction +P, column direction -S (inferior), normal = row x col = -L (right)
    g = dicom_to_volume_geometry(
        orientation=(0, 1, 0, 0, 0, -1), position=(0, 0, 0), pixel_spacing=(1, 1), slice_spacing=1
    )
    expected = np.array([[0.0, -1, 0], [0, 0, 1], [-1, 0, 0]])
    np.testing.assert_array_equal(g.direction, expected)


@pytest.mark.parametrize("kind", sorted(DIRECTIONS))
def test_nifti_affine_inverts(kind: str) -> None:
    v = make_volume(kind)
    g = nifti_affine_to_volume_geometry(nifti_affine_of(v))
    assert_same_geometry(v, Volume(v.data, spacing=g.spacing, origin=g.origin, direction=g.direction), 1e-12)


@pytest.mark.parametrize("kind", sorted(DIRECTIONS))
def test_world_coordinates_agree_with_nibabel_and_simpleitk(kind: str, tmp_path: Path) -> None:
    v = make_volume(kind)
    nii = write_volume(v, tmp_path / "v.nii.gz")
    nrrd = write_volume(v, tmp_path / "v.nrrd")
    aff = nib.load(str(nii)).affine
    img = sitk.ReadImage(str(nrrd))
    for idx in [(0, 0, 0), (4, 5, 6), (1, 2, 3), (2.5, 0.5, 6.0)]:
        w = v.index_to_world(np.array(idx))  # (S, P, L)
        ijk = np.array(idx[::-1], dtype=float)
        ras = aff[:3, :3] @ ijk + aff[:3, 3]
        np.testing.assert_allclose([-ras[0], -ras[1], ras[2]], w[::-1], atol=1e-4)
        lps = img.TransformContinuousIndexToPhysicalPoint(tuple(ijk))
        np.testing.assert_allclose(lps, w[::-1], atol=1e-9)


def test_2d_geometry_round_trip(tmp_path: Path) -> None:
    d = rotation((0, 0, 1), 30.0)[:2, :2]
    v = Volume(np.arange(12, dtype=np.int16).reshape(3, 4), spacing=(0.5, 0.25), origin=(7.0, -3.0), direction=d)
    for ext in (".nii.gz", ".nrrd", ".mha"):
        out = read_volume(write_volume(v, tmp_path / f"flat{ext}"))
        assert out.data.shape == (3, 4), ext
        np.testing.assert_array_equal(out.data, v.data)
        assert_same_geometry(v, out)


# --------------------------------------------------------------------------- files
@pytest.mark.parametrize("kind", sorted(DIRECTIONS))
def test_round_trip_through_every_format(kind: str, tmp_path: Path) -> None:
    original = make_volume(kind)
    current = original
    for n, ext in enumerate(FORMATS + [".nii.gz"]):
        path = write_volume(current, tmp_path / f"step{n}{ext}")
        current = read_volume(path)
        np.testing.assert_array_equal(current.data, original.data, err_msg=ext)
        assert current.data.dtype == original.data.dtype, ext
        assert_same_geometry(original, current)


def _write_source_image(kind: str, ext: str, folder: Path) -> Path:
    """A source image written by the format's own library (not by napari-medai)."""
    v = make_volume(kind)
    path = folder / f"image_{kind}{ext}"
    if ext.startswith(".nii"):
        affine = nifti_affine_of(v)
        img = nib.Nifti1Image(v.data.T, affine)
        img.header.set_qform(affine, code=1)
        img.header.set_sform(affine, code=1)
        nib.save(img, str(path))
    else:
        g = volume_to_itk_geometry(v.spacing, v.origin, v.direction)
        img = sitk.GetImageFromArray(v.data)
        img.SetSpacing(g.spacing)
        img.SetOrigin(g.origin)
        img.SetDirection(g.direction.ravel().tolist())
        sitk.WriteImage(img, str(path))
    return path


@pytest.mark.parametrize("kind", sorted(DIRECTIONS))
@pytest.mark.parametrize("source_ext", [".nii.gz", ".nrrd", ".mha"])
def test_label_written_on_image_geometry_matches_in_nibabel_and_simpleitk(
    kind: str, source_ext: str, tmp_path: Path
) -> None:
    src = _write_source_image(kind, source_ext, tmp_path)
    image = read_volume(src)
    label = image.with_data((image.data > 0).astype(np.uint8), is_label=True, name="mask")
    ref = sitk.ReadImage(str(src))
    for ext in (".nii.gz", ".nrrd", ".mha"):
        out = write_volume(label, tmp_path / f"mask_{kind}{ext}")
        got = sitk.ReadImage(str(out))
        np.testing.assert_allclose(got.GetOrigin(), ref.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(got.GetSpacing(), ref.GetSpacing(), atol=1e-5)
        np.testing.assert_allclose(got.GetDirection(), ref.GetDirection(), atol=1e-5)
        np.testing.assert_array_equal(sitk.GetArrayFromImage(got), label.data)
        if ext == ".nii.gz":
            got_aff = nib.load(str(out)).affine
            if source_ext == ".nii.gz":
                np.testing.assert_allclose(got_aff, nib.load(str(src)).affine, atol=1e-5)
            else:
                np.testing.assert_allclose(got_aff, nifti_affine_of(image), atol=1e-5)
            hdr = nib.load(str(out)).header
            assert int(hdr["qform_code"]) > 0 and int(hdr["sform_code"]) > 0
            assert hdr.get_intent()[0] == "label"


def test_nifti_header_codes_are_kept(tmp_path: Path) -> None:
    v = make_volume("ras")
    affine = nifti_affine_of(v)
    img = nib.Nifti1Image(v.data.T, affine)
    img.header.set_qform(affine, code=1)
    img.header.set_sform(affine, code=4)  # MNI
    nib.save(img, str(tmp_path / "mni.nii.gz"))
    back = read_volume(tmp_path / "mni.nii.gz")
    assert back.meta["nifti"]["qform_code"] == 1
    assert back.meta["nifti"]["sform_code"] == 4
    out = nib.load(str(write_volume(back, tmp_path / "again.nii")))
    assert int(out.header["qform_code"]) == 1
    assert int(out.header["sform_code"]) == 4


def test_nifti_in_metres_is_converted_to_mm(tmp_path: Path) -> None:
    aff = np.diag([0.002, 0.002, 0.003, 1.0])
    img = nib.Nifti1Image(np.zeros((2, 3, 4), np.int16), aff)
    img.header.set_xyzt_units("meter")
    nib.save(img, str(tmp_path / "m.nii"))
    v = read_volume(tmp_path / "m.nii")
    np.testing.assert_allclose(v.spacing, (3.0, 2.0, 2.0))


def test_real_labels_share_their_image_geometry(shared_file, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """BraTS (LPS) and ISLES (oblique) masks written back keep the image header geometry."""
    pairs = [
        ("brats2013_flair_t1c/brats_2013_pat0003_1/Flair_subtrMeanDivStd.nii.gz",
         "brats2013_flair_t1c/brats_2013_pat0003_1/OTMultiClass.nii.gz"),
        ("isles22_case0009/rawdata/sub-strokecase0009/ses-0001/sub-strokecase0009_ses-0001_dwi.nii.gz",
         "isles22_case0009/derivatives/sub-strokecase0009/ses-0001/sub-strokecase0009_ses-0001_msk.nii.gz"),
    ]
    for image_rel, label_rel in pairs:
        image_path, label_path = shared_file(image_rel), shared_file(label_rel)
        image = read_volume(image_path)
        label = read_volume(label_path)
        assert label.is_label and label.data.dtype.kind in "iu"
        assert image.same_grid(label)
        out = write_volume(image.with_data(label.data, is_label=True), tmp_path / f"{image.name}_seg.nii.gz")
        np.testing.assert_allclose(nib.load(str(out)).affine, nib.load(str(image_path)).affine, atol=1e-4)
        ref, got = sitk.ReadImage(str(image_path)), sitk.ReadImage(str(out))
        np.testing.assert_allclose(got.GetOrigin(), ref.GetOrigin(), atol=1e-4)
        np.testing.assert_allclose(got.GetSpacing(), ref.GetSpacing(), atol=1e-5)
        np.testing.assert_allclose(got.GetDirection(), ref.GetDirection(), atol=1e-5)
        np.testing.assert_array_equal(read_volume(out).data, label.data)
