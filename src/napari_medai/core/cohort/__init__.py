"""Cohorts at scale: run a task over every case of a cohort on Dask distributed.

::

    from napari_medai.core.cohort import run_cohort

    run = run_cohort("brain-tumour", "cohort/", out_dir="results/")            # a LocalCluster of 2 processes
    run = run_cohort("stroke", cases, out_dir="results/", client="tcp://head:8786")   # an existing scheduler
    run.n_done, run.failed(), run.summary_csv, run.evaluation["summary"]

* :mod:`.adapters` -- the task table: how each task finds its cases and runs one (calling the
  task's own core functions);
* :mod:`.cases` -- :class:`CohortCase` and the content key that makes re-runs resume;
* :mod:`.runner` -- :func:`run_cohort`: Dask submission, retries after a worker died, records;
* :mod:`.report` -- ``summary.csv`` / ``summary.json``, the cohort evaluation and its figure;
* :mod:`.phantoms` -- phantom cohorts in each task's layout (tests, benchmarks).

Needs the ``cluster`` extra (``distributed``); importing this package does not import Dask.
"""

from .adapters import ADAPTERS, CaseOutput, TaskAdapter, get_adapter
from .cases import CohortCase, case_key, find_image_cases
from .phantoms import PHANTOM_TASKS, write_phantom_cohort
from .report import evaluation_figure, summary_rows
from .runner import (
    CASE_RECORD,
    CohortRun,
    CohortStatus,
    execute_case,
    read_record,
    run_cohort,
    start_client,
)

__all__ = [
    "ADAPTERS",
    "CASE_RECORD",
    "PHANTOM_TASKS",
    "CaseOutput",
    "CohortCase",
    "CohortRun",
    "CohortStatus",
    "TaskAdapter",
    "case_key",
    "evaluation_figure",
    "execute_case",
    "find_image_cases",
    "get_adapter",
    "read_record",
    "run_cohort",
    "start_client",
    "summary_rows",
    "write_phantom_cohort",
]
