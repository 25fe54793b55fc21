"""The de-identification widget's folders: what is refused before any work, the output folder suggested for
an input, and the de-identified series found in an output folder.

The core (:func:`~napari_medai.core.deidentify.deidentify_folder`) checks the same things and more; these
checks run on the GUI thread when De-identify is pressed, so a wrong choice is said at once (and a folder
of thousands of files is never scanned only to be refused).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ...core.deidentify import is_inside

#: Files looked at for a DICOM marker before a folder is called non-DICOM (the core scans the rest).
SCAN_LIMIT = 5000


def has_dicom(folder: Path, limit: int = SCAN_LIMIT) -> tuple[bool | None, int]:
    """``(found, n_checked)``: a file with the DICOM marker below ``folder`` (None: none in the first ``limit``)."""
    from ...core.io.names import is_dicom_file

    n = 0
    for p in folder.rglob("*"):
        if not p.is_file():
            continue
        n += 1
        if is_dicom_file(p):
            return True, n
        if n >= limit:
            return None, n
    return False, n


def problem(in_dir: str, out_dir: str) -> str:
    """Why de-identifying ``in_dir`` into ``out_dir`` cannot start ('' when it can).

    Refused: no input chosen or no such folder, a folder without DICOM files, no output chosen, an output
    folder inside the input (or holding it), an output folder that is not empty.
    """
    if not in_dir.strip():
        return "choose the folder of DICOM files to de-identify ('Input folder…')"
    src = Path(in_dir.strip()).expanduser()
    if not src.is_dir():
        return f"{src}: no such folder; choose the folder holding the DICOM files ('Input folder…')"
    if not out_dir.strip():
        return "choose a new or empty output folder ('Output folder…')"
    dst = Path(out_dir.strip()).expanduser()
    if is_inside(dst, src):
        return (f"{dst}: the output folder lies inside the input folder {src}; choose one outside it "
                "(the input is never modified)")
    if is_inside(src, dst):
        return f"{dst}: the output folder holds the input folder {src}; choose a new folder outside it"
    if dst.exists() and (not dst.is_dir() or any(dst.iterdir())):
        return f"{dst}: exists and is not an empty folder; choose a new output folder"
    found, n = has_dicom(src)
    if found is False:
        return (f"{src}: holds no DICOM file ({n} file{'s' if n != 1 else ''} checked, none with the DICM marker); "
                "choose the folder holding the DICOM series")
    return ""


def suggested_output(in_dir: str) -> str:
    """A new folder beside ``in_dir``: ``<name>_deidentified`` (``_2``, ``_3``, ... when it is taken)."""
    src = Path(in_dir.strip()).expanduser()
    if not in_dir.strip() or not src.name:
        return ""
    base = src.parent / f"{src.name}_deidentified"
    candidate, k = base, 2
    while candidate.exists() or Path(f"{candidate}_review").exists():
        candidate = Path(f"{base}_{k}")
        k += 1
    return str(candidate)


@dataclass(frozen=True)
class OutputSeries:
    """One de-identified series of an output folder (its folder is named by its new Series Instance UID)."""

    folder: Path
    n_files: int

    @property
    def text(self) -> str:
        uid = self.folder.name
        short = uid if len(uid) <= 24 else f"{uid[:12]}…{uid[-8:]}"
        return f"{short} ({self.n_files} file{'s' if self.n_files != 1 else ''})"


def output_series(out_dir: Path, written: list[str]) -> list[OutputSeries]:
    """The series folders of the files ``written`` (paths relative to ``out_dir``), largest first."""
    counts: dict[str, int] = {}
    for rel in written:
        top = rel.split("/", 1)[0]
        counts[top] = counts.get(top, 0) + 1
    return [OutputSeries(out_dir / name, n) for name, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


__all__ = ["SCAN_LIMIT", "OutputSeries", "has_dicom", "output_series", "problem", "suggested_output"]
