"""write_volume: refusal to clobber, protection of inputs, atomicity, dtypes, two-file formats."""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from napari_medai.core.errors import ImageWriteError, InvalidInputError
from napari_medai.core.io import nifti as nifti_module
from napari_medai.core.io import read_volume, write_volume
from napari_medai.core.volume import Volume


def small(is_label: bool = False, dtype: type = np.int16) -> Volume:
    data = (np.arange(24).reshape(2, 3, 4) % 5).astype(dtype)
    return Volume(data, spacing=(3.0, 1.0, 0.5), origin=(1.0, 2.0, 3.0), is_label=is_label, name="small")


def test_returns_absolute_path_and_creates_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    out = write_volume(small(), Path("deep/er/x.nii.gz"))
    assert out == tmp_path / "deep" / "er" / "x.nii.gz"
    assert out.is_file()


def test_refuses_existing_file_unless_overwrite(tmp_path: Path) -> None:
    target = tmp_path / "x.nrrd"
    write_volume(small(), target)
    with pytest.raises(ImageWriteError, match="already exists") as err:
        write_volume(small(), target)
    assert "overwrite=True" in str(err.value) and err.value.path == str(target)
    v = small()
    v.data[0, 0, 0] = 99
    write_volume(v, target, overwrite=True)
    assert read_volume(target).data[0, 0, 0] == 99


def test_refuses_source_even_with_overwrite(tmp_path: Path) -> None:
    src = write_volume(small(), tmp_path / "input.nii.gz")
    v = read_volume(src)
    before = src.read_bytes()
    with pytest.raises(ImageWriteError, match="read from"):
        write_volume(v, src, overwrite=True)
    # the same file through another spelling of its path
    with pytest.raises(ImageWriteError, match="read from"):
        write_volume(v, tmp_path / "sub" / ".." / "input.nii.gz", overwrite=True)
    assert src.read_bytes() == before


def test_refuses_protected_paths(tmp_path: Path) -> None:
    a = write_volume(small(), tmp_path / "a.mha")
    with pytest.raises(ImageWriteError, match="protected"):
        write_volume(small(), a, overwrite=True, protect=[tmp_path / "b.nii", str(a)])
    # protection also holds for a path that does not exist yet
    with pytest.raises(ImageWriteError, match="protected"):
        write_volume(small(), tmp_path / "c.nii", protect=[tmp_path / "c.nii"])
    assert not (tmp_path / "c.nii").exists()


@pytest.mark.parametrize("name", ["x.png", "x.nii.bz2", "x", "x.npy", "x.dcm"])
def test_unsupported_extension(name: str, tmp_path: Path) -> None:
    with pytest.raises(ImageWriteError, match="cannot write") as err:
        write_volume(small(), tmp_path / name)
    assert ".nii.gz" in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_not_a_volume(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="needs a Volume"):
        write_volume(np.zeros((2, 2, 2)), tmp_path / "x.nii")  # type: ignore[arg-type]


def test_folder_target(tmp_path: Path) -> None:
    (tmp_path / "d.nii").mkdir()
    with pytest.raises(ImageWriteError, match="is a folder"):
        write_volume(small(), tmp_path / "d.nii", overwrite=True)


def test_failed_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def half_write(volume: Volume, path: Path) -> None:
        path.write_bytes(b"\0" * 100)  # a partial file ...
        raise OSError("disk full")  # ... then the disk fills up

    monkeypatch.setattr(nifti_module, "write_nifti", half_write)
    with pytest.raises(ImageWriteError, match="disk full") as err:
        write_volume(small(), tmp_path / "x.nii.gz")
    assert err.value.__cause__ is not None
    assert list(tmp_path.iterdir()) == []
    # an existing file being replaced stays intact
    monkeypatch.undo()
    target = write_volume(small(), tmp_path / "keep.nii.gz")
    before = target.read_bytes()
    monkeypatch.setattr(nifti_module, "write_nifti", half_write)
    with pytest.raises(ImageWriteError):
        write_volume(small(), target, overwrite=True)
    assert target.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["keep.nii.gz"]


def test_interrupted_write_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(volume: Volume, path: Path) -> None:
        path.write_bytes(b"\0" * 10)
        raise KeyboardInterrupt

    monkeypatch.setattr(nifti_module, "write_nifti", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_volume(small(), tmp_path / "x.nii")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("ext", [".nhdr", ".mhd"])
def test_two_file_formats(ext: str, tmp_path: Path) -> None:
    out = write_volume(small(), tmp_path / f"two{ext}")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert f"two{ext}" in names and len(names) == 2  # header + data file, no temporary folder
    back = read_volume(out)
    np.testing.assert_array_equal(back.data, small().data)
    with pytest.raises(ImageWriteError, match="already exists"):
        write_volume(small(), out)


@pytest.mark.parametrize("ext", [".nii.gz", ".nii", ".nrrd", ".mha"])
@pytest.mark.parametrize("dtype", [np.uint8, np.int16, np.uint16, np.int32, np.float32, np.float64])
def test_dtype_is_kept(ext: str, dtype: type, tmp_path: Path) -> None:
    back = read_volume(write_volume(small(dtype=dtype), tmp_path / f"d{ext}"))
    assert back.data.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back.data, small(dtype=dtype).data)


def test_label_maps(tmp_path: Path) -> None:
    # bool labels are stored as uint8
    v = Volume(np.array([[[True, False], [False, True]]]), is_label=True)
    back = read_volume(write_volume(v, tmp_path / "b_seg.nii.gz"))
    assert back.is_label and back.data.dtype == np.uint8
    # whole-valued float labels become integers
    v = small(is_label=True, dtype=np.float32)
    out = write_volume(v, tmp_path / "f_seg.nii.gz")
    assert nib.load(str(out)).get_data_dtype() == np.uint8
    # int64 labels are narrowed for NIfTI
    v = small(is_label=True, dtype=np.int64)
    out = write_volume(v, tmp_path / "i_seg.nii.gz")
    assert nib.load(str(out)).get_data_dtype() == np.uint8
    # fractional values are refused
    v = small(is_label=True, dtype=np.float32).with_data(np.full((2, 3, 4), 0.5, np.float32))
    with pytest.raises(ImageWriteError, match="non-integer values in 24 of 24"):
        write_volume(v, tmp_path / "bad_seg.nii.gz")
    assert not (tmp_path / "bad_seg.nii.gz").exists()
