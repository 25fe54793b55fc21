"""The subjects of a labelled cohort: the source scan each came from, a one-line description, and
their alignment on the MNI grid of the models (:data:`~.model.GRID_MM`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from ...callbacks import ProgressFn, StopFn
from .landmarks import (
    COHORT_MAX_ANISOTROPY,
    COHORT_MIN_CORRELATION,
    AlignedCohort,
    CohortSubject,
    align_cohort,
    labels_column,
    labels_reader,
    read_cohort,
)
from .model import GRID_MM

__all__ = ["align_subjects", "describe_alzheimer_cohort", "read_sources", "subject_groups"]


def read_sources(labels_csv: str | os.PathLike[str]) -> dict[str, str]:
    """``{subject: source}`` from the labels CSV's ``source`` column (empty dict when there is none)."""
    reader = labels_reader(labels_csv)
    s_col, src_col = labels_column(reader), labels_column(reader, ("source",))
    if s_col is None or src_col is None:
        return {}
    return {(r.get(s_col) or "").strip(): (r.get(src_col) or "").strip() for r in reader}


def subject_groups(subjects: Sequence[CohortSubject], sources: dict[str, str]) -> list[str]:
    """The source scan of each subject (the subject itself when ``sources`` does not name one)."""
    return [sources.get(s.subject) or s.subject for s in subjects]


def describe_alzheimer_cohort(cohort_dir: str | os.PathLike[str], labels_csv: str | os.PathLike[str]) -> str:
    """One line: ``"40 subjects (20 AD / 20 NC) from 10 source scans"``.

    Raises
    ------
    InvalidInputError
        A bad folder or CSV (see :func:`~.landmarks.read_cohort`).
    """
    subjects = read_cohort(cohort_dir, labels_csv)
    sources = read_sources(labels_csv)
    n_ad = sum(s.diagnosis == "AD" for s in subjects)
    groups = set(subject_groups(subjects, sources))
    where = (f"from {len(groups)} source scan{'s' if len(groups) != 1 else ''}" if sources
             else "(no source column: every subject is its own source)")
    return f"{len(subjects)} subjects ({n_ad} AD / {len(subjects) - n_ad} NC) {where}"


def align_subjects(subjects: list[CohortSubject], work_dir: Any, *, template: Any, align: str, drop_failed: bool,
                   progress: ProgressFn | None, should_stop: StopFn | None) -> AlignedCohort:
    """The subjects on the models' MNI grid (:func:`~.landmarks.align_cohort` with this task's limits, one thread)."""
    return align_cohort(subjects, template, work_dir, align=align, spacing_mm=GRID_MM,
                        max_anisotropy=COHORT_MAX_ANISOTROPY, min_correlation=COHORT_MIN_CORRELATION,
                        drop_failed=drop_failed, threads=1, progress=progress, should_stop=should_stop)
