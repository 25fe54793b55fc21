"""``--dicom-seg OUT.dcm`` / ``--dicom-sr OUT.dcm`` of the task commands whose input is a DICOM series.

Shared by ``cac``, ``brain-tumour`` and ``stroke``: the options, their check before any work (the
input must be a DICOM series folder; the report needs the SEG it references), and the writing of
the SEG (:func:`napari_medai.core.io.dicom_seg.write_dicom_seg`) and SR
(:func:`napari_medai.core.io.dicom_sr.write_dicom_sr`).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["add_dicom_arguments", "check_dicom_arguments", "write_dicom_results"]


def add_dicom_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``--dicom-seg`` and ``--dicom-sr``."""
    parser.add_argument("--dicom-seg", type=Path, default=None, metavar="OUT.dcm",
                        help="also write the labels as a DICOM Segmentation of the input series (input must be a "
                             "DICOM series folder)")
    parser.add_argument("--dicom-sr", type=Path, default=None, metavar="OUT.dcm",
                        help="also write the measurements as a DICOM SR (TID 1500) referencing the SEG and the "
                             "series (needs --dicom-seg)")


def check_dicom_arguments(args: argparse.Namespace, image: Path | None, *, option: str,
                          protect: Sequence[Path] = ()) -> None:
    """Refuse bad ``--dicom-seg`` / ``--dicom-sr`` before any work (one-line errors).

    ``image`` is the input the labels lie on (``--ct``, ``--flair``, ...), named ``option`` in messages.
    """
    from ..core.errors import InvalidInputError
    from ..core.evaluate import check_output_path

    seg, sr = getattr(args, "dicom_seg", None), getattr(args, "dicom_sr", None)
    if seg is None and sr is None:
        return
    if sr is not None and seg is None:
        raise InvalidInputError("--dicom-sr needs --dicom-seg OUT.dcm too (the report references the SEG's segments)")
    if image is None or not Path(image).is_dir():
        raise InvalidInputError(
            f"--dicom-seg/--dicom-sr need the image as a DICOM series folder, but {option} {image} is not a folder of "
            "DICOM files; give the series folder, or leave these options out (the labels are written as NIfTI)"
        )
    from ..core.io.dicom_seg import series_datasets

    series_datasets(image)  # headers only: a series a SEG cannot reference is refused now, not after the work
    outs = [p for p in (seg, sr) if p is not None]
    for o in outs:
        check_output_path(o, list(protect))
    if len({str(Path(o).resolve()) for o in outs}) != len(outs):
        raise InvalidInputError("--dicom-seg and --dicom-sr must be different files")


def write_dicom_results(
    args: argparse.Namespace,
    *,
    labels: Any,
    series: Any,
    algorithm: Any,
    groups: Callable[[set[int]], list[Any]] | None,
    task: str,
    convention: str | None = None,
    protect: Sequence[Path] = (),
) -> list[Path]:
    """Write the SEG (and SR) asked for; returns the files written.

    ``groups(present_label_values)`` builds the SR's measurement groups.
    """
    import numpy as np

    from ..core.io.dicom_seg import write_dicom_seg
    from ..core.io.dicom_sr import write_dicom_sr

    if getattr(args, "dicom_seg", None) is None:
        return []
    seg = write_dicom_seg(labels, series, args.dicom_seg, algorithm=algorithm, convention=convention,
                          overwrite=True, protect=protect, series_description=f"napari-medai {task}")
    written = [seg]
    if getattr(args, "dicom_sr", None) is not None and groups is not None:
        present = {int(v) for v in np.unique(np.asarray(labels.data)) if v != 0}
        written.append(write_dicom_sr(args.dicom_sr, seg_path=seg, series=series, groups=groups(present),
                                      algorithm=algorithm, task=task, overwrite=True, protect=protect))
    return written
