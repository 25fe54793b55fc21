"""Reading and writing medical images as :class:`~napari_medai.core.volume.Volume`.

* :func:`read_volume` opens NIfTI, NRRD, MetaImage, DICOM (file or series folder), ``.npy`` and
  ``.raw``; :func:`write_volume` writes NIfTI, NRRD and MetaImage atomically.
* All geometry conversion lives in :mod:`napari_medai.core.io.geometry`.
* Heavy libraries (nibabel, SimpleITK, pydicom) are imported only when a file is read or written,
  so :func:`is_supported_path` is cheap for the napari reader hook.
"""

from __future__ import annotations

from .dicom import list_dicom_series, read_dicom_file, read_dicom_series
from .geometry import (
    Geometry,
    dicom_to_volume_geometry,
    itk_to_volume_geometry,
    nifti_affine_of,
    nifti_affine_to_volume_geometry,
    volume_geometry_to_nifti_affine,
    volume_to_itk_geometry,
)
from .names import (
    SUPPORTED_EXTENSIONS,
    WRITE_EXTENSIONS,
    format_of,
    is_dicom_file,
    is_label_name,
    is_supported_path,
    split_extension,
)
from .reader import read_volume
from .writer import write_volume

__all__ = [
    "SUPPORTED_EXTENSIONS",
    "WRITE_EXTENSIONS",
    "Geometry",
    "dicom_to_volume_geometry",
    "format_of",
    "is_dicom_file",
    "is_label_name",
    "is_supported_path",
    "itk_to_volume_geometry",
    "list_dicom_series",
    "nifti_affine_of",
    "nifti_affine_to_volume_geometry",
    "read_dicom_file",
    "read_dicom_series",
    "read_volume",
    "split_extension",
    "volume_geometry_to_nifti_affine",
    "volume_to_itk_geometry",
    "write_volume",
]
