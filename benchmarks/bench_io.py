"""Reading speed of napari-medai's I/O layer against the plain libraries.

Run: ``PYTHONPATH=src python benchmarks/bench_io.py [--repeats N] [--record FILE]``

* NIfTI: ``read_volume`` vs ``np.asanyarray(nibabel.load(p).dataobj)`` on a 240x240x155 volume
  (the BraTS FLAIR from ``../shared/data`` when present, else a synthetic one).
* DICOM: ``read_volume(folder)`` vs SimpleITK ``ImageSeriesReader`` (with
  ``GetGDCMSeriesFileNames``) on the real JPEG 2000 CT folder from ``../shared/data`` when present,
  and on a synthetic uncompressed 512x512x100 series written to a temporary folder.

Prints medians and ratios (targets: NIfTI <= 1.1x, DICOM <= 1.3x); no pass/fail. The two readers
run in turns (``benchmarks/_common.py``), the machine's conditions are printed with the figures, and
``--record FILE`` appends them to a JSON-lines history.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(REPO / "benchmarks"))

import _common  # noqa: E402

from napari_medai.core.io import read_volume  # noqa: E402

SHARED = REPO.parent / "shared" / "data"
BRATS_FLAIR = SHARED / "brats2013_flair_t1c" / "brats_2013_pat0003_1" / "Flair_subtrMeanDivStd.nii.gz"
J2K_FOLDER = SHARED / "ct_dicom_jpeg2000" / "series"


def timed(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn`` over ``repeats`` runs after one warm-up run."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def compare(label: str, ours: Callable[[], object], theirs: Callable[[], object], their_name: str,
            repeats: int, target: float, run: _common.BenchRun | None = None) -> None:
    # interleave the two so that drifting machine load hits both alike
    (t_ours, t_theirs), _ = _common.interleaved([ours, theirs], repeats, warmup=True)
    a, b = t_ours.median, t_theirs.median
    print(f"{label}")
    print(f"  read_volume        median {a * 1000:8.1f} ms")
    print(f"  {their_name:<18} median {b * 1000:8.1f} ms")
    print(f"  ratio {a / b:.2f}x (target <= {target}x)")
    if run is not None:
        run.record(case=label, reference=their_name, ratio=round(a / b, 3), target_ratio=target,
                   **t_ours.as_record("ours"), **t_theirs.as_record("theirs"))


def write_synthetic_series(folder: Path, n: int = 100, size: int = 512) -> None:
    from pydicom.dataset import FileDataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    rng = np.random.default_rng(0)
    base = (rng.normal(1024, 200, size=(size, size))).clip(0, 4095).astype(np.uint16)
    series, study = generate_uid(), generate_uid()
    order = rng.permutation(n)  # file names unrelated to position
    for k in range(n):
        meta = FileMetaDataset()
        meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
        meta.MediaStorageSOPInstanceUID = generate_uid()
        meta.TransferSyntaxUID = ExplicitVRLittleEndian
        ds = FileDataset(str(folder / f"IM{order[k]:04d}"), {}, file_meta=meta, preamble=b"\0" * 128)
        ds.SOPClassUID = meta.MediaStorageSOPClassUID
        ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.Modality = "CT"
        ds.InstanceNumber = k + 1
        ds.ImagePositionPatient = [-250.0, -250.0, -300.0 + 2.5 * k]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.9765625, 0.9765625]
        ds.SliceThickness = 2.5
        ds.RescaleSlope, ds.RescaleIntercept = 1, -1024
        ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
        ds.Rows = ds.Columns = size
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.PixelData = np.roll(base, k, axis=0).tobytes()
        ds.save_as(str(folder / f"IM{order[k]:04d}"), enforce_file_format=True)


def sitk_series_reader(folder: Path) -> Callable[[], np.ndarray]:
    import SimpleITK as sitk

    def run() -> np.ndarray:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(reader.GetGDCMSeriesFileNames(str(folder)))
        return sitk.GetArrayFromImage(reader.Execute())

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    _common.add_record_option(parser)
    args = parser.parse_args()
    run = _common.start("io", args)
    import nibabel as nib
    import SimpleITK as sitk

    print(f"napari-medai I/O benchmark (nibabel {nib.__version__}, SimpleITK {sitk.Version.VersionString()}, "
          f"{sitk.ProcessObject.GetGlobalDefaultNumberOfThreads()} ITK threads)")
    with tempfile.TemporaryDirectory() as tmp:
        tmpdir = Path(tmp)
        # ---------------------------------------------------------------- NIfTI
        if BRATS_FLAIR.exists():
            nii, what = BRATS_FLAIR, f"real BraTS FLAIR {BRATS_FLAIR.name}"
        else:
            nii, what = tmpdir / "synthetic_flair.nii.gz", "synthetic (../shared/data absent)"
            arr = np.random.default_rng(0).normal(size=(240, 240, 155)).astype(np.float32)
            nib.save(nib.Nifti1Image(arr, np.diag([-1.0, -1.0, 1.0, 1.0])), str(nii))
        shape = read_volume(nii).data.shape
        compare(f"NIfTI {'x'.join(map(str, shape[::-1]))} float32, {what}",
                lambda: read_volume(nii), lambda: np.asanyarray(nib.load(str(nii)).dataobj),
                "nibabel dataobj", args.repeats, 1.1, run)

        # ---------------------------------------------------------------- DICOM JPEG 2000
        if J2K_FOLDER.is_dir():
            try:
                ref = sitk_series_reader(J2K_FOLDER)()
                ok = True
            except RuntimeError as exc:
                ok = False
                print(f"SimpleITK cannot decode the JPEG 2000 folder: {str(exc).splitlines()[-1]}")
            if ok:
                ours = read_volume(J2K_FOLDER).data
                same = "identical voxels" if np.array_equal(ours, ref) else "VOXELS DIFFER"
                print(f"SimpleITK decodes the JPEG 2000 folder ({same} to read_volume)")
                compare(f"DICOM JPEG 2000 lossless, {ours.shape[0]} x 512x512 real CT slices",
                        lambda: read_volume(J2K_FOLDER), sitk_series_reader(J2K_FOLDER),
                        "SimpleITK series", max(3, args.repeats // 2), 1.3, run)
            else:
                t = timed(lambda: read_volume(J2K_FOLDER), max(3, args.repeats // 2))
                print(f"  read_volume on the JPEG 2000 folder: median {t * 1000:.1f} ms (no SimpleITK reference)")
        else:
            print(f"JPEG 2000 folder not found at {J2K_FOLDER}; skipped")

        # ---------------------------------------------------------------- DICOM uncompressed
        series = tmpdir / "series"
        series.mkdir()
        write_synthetic_series(series)
        ours = read_volume(series).data
        ref = sitk_series_reader(series)()
        same = "identical voxels" if np.array_equal(ours, ref) else "VOXELS DIFFER"
        compare(f"DICOM uncompressed synthetic 100 x 512x512 series ({same})",
                lambda: read_volume(series), sitk_series_reader(series), "SimpleITK series",
                max(3, args.repeats // 2), 1.3, run)
    run.finish()


if __name__ == "__main__":
    main()
