"""The cases of a cohort and the content key that says whether a case is already done.

A :class:`CohortCase` names one case and the files it is made of (``inputs`` by role, an optional
``ground_truth``). Each task adapter (:mod:`.adapters`) finds its cases in a cohort folder with the
task's own finder where it has one (brain tumour, stroke) and with :func:`find_image_cases`
(cardiac CT, low-dose CT) otherwise.

:func:`case_key` is a SHA-256 of everything a case's result depends on: the task and its adapter
version, the bytes of every input file (and ground truth), the model (its files, or its name when
it is not a path) and the options. A re-run skips a case whose record carries the same key, so an
interrupted run resumes and a changed input, model or option is run again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

__all__ = [
    "CohortCase",
    "case_key",
    "find_image_cases",
    "hash_path",
    "model_fingerprint",
    "safe_case_name",
]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def safe_case_name(name: str) -> str:
    """A case name usable as a folder name (anything but letters, digits, ``._-`` becomes ``_``)."""
    out = _UNSAFE.sub("_", str(name)).strip("._")
    if not out:
        raise InvalidInputError(f"case name {name!r} has no letter or digit; rename the case")
    return out


@dataclass(frozen=True)
class CohortCase:
    """One case of a cohort.

    Attributes
    ----------
    name
        Case name, unique in the cohort (the output folder is named after it).
    inputs
        ``{role: path}`` of the files (or DICOM folders) the task reads, e.g. ``{"flair": ..., "t1c": ...}``.
    ground_truth
        Reference label map (or reference image) when the cohort has one, else None.
    extra
        Task-specific facts found with the case (e.g. ``{"layout": "brats2013"}``), JSON-friendly.
    """

    name: str
    inputs: dict[str, str]
    ground_truth: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __hash__(self) -> int:  # frozen dataclass with dict fields: hash the name only
        return hash(self.name)

    def files(self) -> list[str]:
        """Every input path of the case (ground truth included), in a fixed order."""
        out = [self.inputs[k] for k in sorted(self.inputs)]
        if self.ground_truth is not None:
            out.append(self.ground_truth)
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "inputs": dict(self.inputs), "ground_truth": self.ground_truth,
                "extra": dict(self.extra)}


def hash_path(path: str | os.PathLike[str], digest: Any | None = None, *, chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, or of every file under a folder (relative names and bytes, sorted).

    Parameters
    ----------
    path
        File or folder (e.g. a DICOM series, a model folder).
    digest
        A running ``hashlib`` object to update instead of a new one.

    Returns
    -------
    str
        Hex digest.
    """
    h = digest if digest is not None else hashlib.sha256()
    p = Path(path)
    if p.is_dir():
        for f in sorted(q for q in p.rglob("*") if q.is_file() and not q.name.startswith(".")):
            h.update(str(f.relative_to(p)).encode())
            h.update(b"\0")
            hash_path(f, h, chunk=chunk)
    elif p.is_file():
        with open(p, "rb") as fh:
            while True:
                block = fh.read(chunk)
                if not block:
                    break
                h.update(block)
    else:
        raise InvalidInputError(f"{p}: no such file or folder (it was listed as an input of a case)")
    return h.hexdigest()


def model_fingerprint(model: Any) -> str | None:
    """What identifies a model for :func:`case_key`: its files' hash when it is a path, else its name.

    A registry name of a packaged model (``brain-tumour-default``) is resolved to its folder, so
    retrained weights change the key.
    """
    if model is None:
        return None
    if not isinstance(model, (str, os.PathLike)):
        name = getattr(getattr(model, "contract", None), "name", None) or type(model).__name__
        source = getattr(model, "source", None)
        if source and Path(str(source)).exists():
            return f"{name}:{hash_path(source)}"
        return f"{name}:{source}"
    p = Path(model).expanduser()
    if p.exists():
        return f"path:{hash_path(p)}"
    try:
        from ..models.registry import get_entry, model_search_dirs

        entry = get_entry(str(model))
    except Exception:  # not a registry name either: the task says so when it loads the model
        return f"name:{model}"
    if entry.folder:
        for d in model_search_dirs():
            folder = d / entry.folder
            if folder.is_dir():
                return f"{entry.name}:{hash_path(folder)}"
    return f"{entry.name}:{entry.bundle_name}:{entry.bundle_version}"


def case_key(task: str, version: int, case: CohortCase, *, model: Any = None,
             options: Mapping[str, Any] | None = None) -> str:
    """The content key of one case's run (see the module docstring)."""
    h = hashlib.sha256()
    head = {"task": task, "adapter_version": int(version), "model": model_fingerprint(model),
            "options": dict(options or {}), "roles": sorted(case.inputs),
            "ground_truth": case.ground_truth is not None}
    h.update(json.dumps(head, sort_keys=True, default=str).encode())
    for f in case.files():
        h.update(b"\0file\0")
        h.update(hash_path(f).encode())
    return h.hexdigest()


#: Suffixes (after the case name) of the files that belong to a case besides its image, by role.
ROLE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "ground_truth": ("_assignment", "_reference", "_fulldose", "_fd", "_gt", "_seg", "_label", "_labels",
                     "_mask", "-seg", "-gt", "-label"),
    "image": ("_image", "_ct", "_ld", "_lowdose", "_qd", "-image", "-ct"),
}


def _strip(stem: str, suffixes: Iterable[str]) -> tuple[str, bool]:
    low = stem.lower()
    for suf in suffixes:
        if low.endswith(suf) and len(stem) > len(suf):
            return stem[: -len(suf)], True
    return stem, False


def find_image_cases(folder: str | os.PathLike[str], *, what: str = "cohort folder",
                     ground_truth: bool = True, truth_suffixes: Iterable[str] | None = None) -> list[CohortCase]:
    """One case per image in ``folder``: a file directly inside it, or a sub-folder holding a DICOM series.

    ``NAME.nii.gz`` (also ``NAME_image``, ``NAME_ct``, ``NAME_qd`` ...) is the image of case ``NAME``.
    A file named like a reference (``NAME_assignment``, ``NAME_reference``, ``NAME_fd``, ``NAME_gt``,
    ``NAME_seg``, ``NAME_label``, ``NAME_mask`` ...) is never an image; when its suffix is one of
    ``truth_suffixes`` (default: all of them) it is case ``NAME``'s ground truth (the reference
    assignment of a calcium score, the full-dose image of a denoising), used when ``ground_truth``
    is True; other references (e.g. a lung-tumour mask beside a CT to be scored) are left alone.
    A sub-folder of DICOM files is one case named after the folder.

    Raises
    ------
    InvalidInputError
        The folder is missing or holds no image, or two files give one case the same role.
    """
    from ..io.names import SUPPORTED_EXTENSIONS, is_supported_path, split_extension

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise InvalidInputError(f"{what} {root}: no such folder")
    images: dict[str, str] = {}
    truths: dict[str, str] = {}
    for p in sorted(root.iterdir()):
        if p.name.startswith("."):
            continue
        if p.is_dir():
            if is_supported_path(p):  # a folder of DICOM files
                images[p.name] = str(p)
            continue
        stem, ext = split_extension(p)
        if ext not in SUPPORTED_EXTENSIONS or ext in (".json", ".csv"):
            continue
        base, is_truth = _strip(stem, ROLE_SUFFIXES["ground_truth"])
        if is_truth and truth_suffixes is not None and not _strip(stem, truth_suffixes)[1]:
            continue  # a reference of another kind: neither an image nor this task's ground truth
        if is_truth:
            if base in truths:
                raise InvalidInputError(f"{what} {root}: {Path(truths[base]).name} and {p.name} are both the "
                                        f"reference of case {base!r}; keep one")
            truths[base] = str(p)
            continue
        base, _ = _strip(stem, ROLE_SUFFIXES["image"])
        if base in images:
            raise InvalidInputError(f"{what} {root}: {Path(images[base]).name} and {p.name} both give case "
                                    f"{base!r}; keep one image per case")
        images[base] = str(p)
    if not images:
        raise InvalidInputError(f"{what} {root}: no image found (expected one file per case, e.g. case1.nii.gz, "
                                "or one DICOM folder per case)")
    return [CohortCase(name=safe_case_name(n), inputs={"image": images[n]},
                       ground_truth=truths.get(n) if ground_truth else None)
            for n in sorted(images)]
