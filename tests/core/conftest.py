"""Shared fixtures for the core tests.

I/O fixtures: ``shared_data`` (the real-data folder beside the repository, or a skip),
``shared_file`` (a file in it, or a skip),
``dicom_slice_writer`` and ``dicom_series_writer`` (synthetic uncompressed DICOM files written
with pydicom).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pytest

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """``../shared/data`` beside the repository; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real patient data not found at {SHARED_DATA} (only present on the project's test machines)")
    return SHARED_DATA


@pytest.fixture
def shared_file(shared_data: Path) -> Callable[[str], Path]:
    """``get(relative) -> Path`` of a file under the shared data folder (skips when missing)."""

    def get(relative: str) -> Path:
        p = shared_data / relative
        if not p.exists():
            pytest.skip(f"{relative} is not in {shared_data}")
        return p

    return get


def _write_slice(
    path: Path,
    pixels: np.ndarray,
    *,
    position: Sequence[float] = (0.0, 0.0, 0.0),
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing: Sequence[float] = (1.0, 1.0),
    slope: float = 1.0,
    intercept: float = 0.0,
    series_uid: str = "1.2.826.0.1.3680043.8.498.1",
    study_uid: str = "1.2.826.0.1.3680043.8.498.2",
    instance: int = 1,
    modality: str = "CT",
    slice_thickness: float | None = None,
    geometry: bool = True,
) -> Path:
    """Write one uncompressed (explicit VR little endian) single-frame DICOM file."""
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    pixels = np.ascontiguousarray(pixels)
    if pixels.dtype not in (np.uint16, np.int16):
        raise ValueError("test helper writes uint16 or int16 pixels")
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CT_IMAGE_STORAGE
    sop = generate_uid()
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset(str(path), {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = CT_IMAGE_STORAGE
    ds.SOPInstanceUID = sop
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = series_uid
    ds.Modality = modality
    ds.SeriesDescription = "synthetic"
    ds.InstanceNumber = instance
    if geometry:
        ds.ImagePositionPatient = [f"{v:.6f}" for v in position]
        ds.ImageOrientationPatient = [f"{v:.8f}" for v in orientation]
        ds.PixelSpacing = [f"{v:.6f}" for v in pixel_spacing]
    if slice_thickness is not None:
        ds.SliceThickness = slice_thickness
    ds.RescaleSlope = f"{slope:g}"
    ds.RescaleIntercept = f"{intercept:g}"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if pixels.dtype == np.int16 else 0
    ds.PixelData = pixels.astype(pixels.dtype.newbyteorder("<")).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return path


@pytest.fixture
def dicom_slice_writer() -> Callable[..., Path]:
    """``write(path, pixels, *, position, orientation, pixel_spacing, slope, intercept,
    series_uid, instance, modality, slice_thickness, geometry) -> path``."""
    return _write_slice


def _write_series(
    folder: Path,
    stack: np.ndarray,
    *,
    origin: Sequence[float] = (0.0, 0.0, 0.0),
    orientation: Sequence[float] = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0),
    pixel_spacing: Sequence[float] = (1.0, 1.0),
    slice_spacing: float = 2.0,
    names: Callable[[int], str] = lambda k: f"slice{k:03d}.dcm",
    skip: Sequence[int] = (),
    **kw: object,
) -> list[Path]:
    """Write ``stack[k]`` at ``origin + k * slice_spacing * normal`` to ``folder / names(k)``."""
    folder.mkdir(parents=True, exist_ok=True)
    o = np.asarray(orientation, dtype=float)
    normal = np.cross(o[:3], o[3:])
    out = []
    for k in range(stack.shape[0]):
        if k in skip:
            continue
        pos = np.asarray(origin, dtype=float) + k * slice_spacing * normal
        out.append(
            _write_slice(folder / names(k), stack[k], position=pos, orientation=orientation,
                         pixel_spacing=pixel_spacing, instance=k + 1, **kw)  # type: ignore[arg-type]
        )
    return out


@pytest.fixture
def dicom_series_writer() -> Callable[..., list[Path]]:
    """``write(folder, stack, *, origin, orientation, pixel_spacing, slice_spacing, names, skip,
    **slice_options) -> paths``: one file per slice of ``stack`` (slice, row, column)."""
    return _write_series
