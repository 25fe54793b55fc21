"""Cohort folders of phantoms, laid out as each task's adapter finds them (tests, benchmarks, demos).

:func:`write_phantom_cohort` writes ``n`` seeded phantoms of one task into a folder, in the layout
:mod:`.adapters` reads, with the ground truth beside each case:

============ ================================================================================
task         layout
============ ================================================================================
brain-tumour ``case_SEED/case_SEED_{flair,t1,t1ce,t2,seg}.nii.gz`` (BraTS 2021 names)
stroke       ``case_SEED/{dwi,adc,flair,lesion}.nii.gz`` (MRI) or ``{cta,lesion}.nii.gz`` (``cta=True``)
cac          ``case_SEED.nii.gz`` and ``case_SEED_assignment.nii.gz`` (the reference assignment)
denoise      ``case_SEED.nii.gz`` (simulated low dose) and ``case_SEED_fd.nii.gz`` (full dose)
============ ================================================================================
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError

__all__ = ["PHANTOM_TASKS", "write_phantom_cohort"]

#: Tasks :func:`write_phantom_cohort` writes.
PHANTOM_TASKS = ("brain-tumour", "stroke", "cac", "denoise")


def write_phantom_cohort(
    task: str,
    folder: str | os.PathLike[str],
    *,
    seeds: Iterable[int] = (0, 1),
    cta: bool = False,
    phantom_options: Mapping[str, Any] | None = None,
) -> list[Path]:
    """Write one phantom case per seed; returns the case paths (folders or image files).

    Parameters
    ----------
    task
        One of :data:`PHANTOM_TASKS`.
    folder
        The cohort folder (created; existing cases of the same names are replaced).
    seeds
        Phantom seeds, one case each (``case_SEED``).
    cta
        Stroke only: CT angiography phantoms instead of MRI.
    phantom_options
        Keyword arguments of the phantom generator (e.g. ``{"shape": (48, 56, 48)}`` for small
        brain-tumour phantoms, ``{"n_slices": 1, "size": 64}`` for small low-dose CT slabs).
    """
    from ..io import write_volume
    from ..phantoms import (
        brain_tumour_phantom,
        cardiac_ct_phantom,
        ldct_phantom,
        stroke_cta_phantom,
        stroke_phantom,
    )

    if task not in PHANTOM_TASKS:
        raise InvalidInputError(f"no phantom cohort for task {task!r}; use one of {', '.join(PHANTOM_TASKS)}")
    root = Path(folder)
    root.mkdir(parents=True, exist_ok=True)
    kw = dict(phantom_options or {})
    out: list[Path] = []
    for seed in seeds:
        name = f"case_{int(seed):03d}"
        if task == "brain-tumour":
            ph = brain_tumour_phantom(seed=int(seed), **kw)
            case = root / name
            for role, suffix in (("flair", "flair"), ("t1", "t1"), ("t1c", "t1ce"), ("t2", "t2"), ("seg", "seg")):
                write_volume(ph[role], case / f"{name}_{suffix}.nii.gz", overwrite=True)
            out.append(case)
        elif task == "stroke":
            ph = (stroke_cta_phantom if cta else stroke_phantom)(seed=int(seed), **kw)
            case = root / name
            for role, vol in ph.items():
                write_volume(vol, case / f"{role}.nii.gz", overwrite=True)
            out.append(case)
        elif task == "cac":
            ph = cardiac_ct_phantom(seed=int(seed), **kw)
            write_volume(ph["assignment"], root / f"{name}_assignment.nii.gz", overwrite=True)
            out.append(write_volume(ph["ct"], root / f"{name}.nii.gz", overwrite=True))
        else:
            ph = ldct_phantom(seed=int(seed), **kw)
            write_volume(ph["full_dose"], root / f"{name}_fd.nii.gz", overwrite=True)
            out.append(write_volume(ph["low_dose"], root / f"{name}.nii.gz", overwrite=True))
    return out
