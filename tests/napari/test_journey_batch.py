"""Journey through Plugins > napari-medai > "Cohort batch run", as a user walks it.

A cohort of tiny low-dose CT phantoms (with their full-dose references) and one unreadable file is
run on a 2-worker Dask scheduler given by its address (started here, as a user's cluster would be).
The table must fill with one row per case as they finish, the failure with its reason; clicking a
case opens its CT, reference and denoised result in the viewer; a second run of the same folder
reuses every finished case.
"""

from __future__ import annotations

import numpy as np
import pytest
from qtpy.QtCore import Qt
from qtpy.QtWidgets import QTableWidget

from napari_medai.core.cohort import write_phantom_cohort
from napari_medai.core.io import read_volume

from .journey import button, check, click, field, layer_names, open_widget, table_texts, wait_until

pytest.importorskip("distributed")

WIDGET = "Cohort batch run"


def _run(qtbot, w) -> None:
    click(qtbot, button(w, "Run cohort"))
    wait_until(lambda: button(w, "Run cohort").isEnabled() and not w.busy, 120)


def test_run_a_cohort_then_open_a_case(make_napari_viewer, qtbot, tmp_path, scheduler):
    cohort = tmp_path / "cohort"
    write_phantom_cohort("denoise", cohort, seeds=(0, 1), phantom_options={"n_slices": 1, "size": 64})
    (cohort / "broken.nii.gz").write_bytes(b"not an image")
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    field(w, "task").setCurrentText("denoise")
    field(w, "cohort folder").setText(str(cohort))
    field(w, "output folder").setText(str(tmp_path / "out"))
    field(w, "method").setText("gaussian")
    field(w, "scheduler").setText(scheduler)
    assert not field(w, "reference folder").isEnabled()  # evaluate only
    _run(qtbot, w)
    check("the table and the summary")
    assert w.jobs.last_error == ""
    table = next(t for t in w.findChildren(QTableWidget) if t.isVisibleTo(w))
    rows = sorted(table_texts(table))
    assert [(r[0], r[1]) for r in rows] == [("broken", "failed"), ("case_000", "done"), ("case_001", "done")]
    assert "broken.nii.gz" in rows[0][4] and rows[1][3].startswith("psnr ") and " → " in rows[1][3]
    assert "2 of 3 case(s) done (0 reused), 1 failed" in w.summary.text()
    assert (tmp_path / "out" / "summary.csv").is_file()
    row = next(i for i, r in enumerate(table_texts(table)) if r[0] == "case_001")
    qtbot.mouseClick(table.viewport(), Qt.LeftButton, pos=table.visualItemRect(table.item(row, 0)).center())
    check("the case's layers")
    assert layer_names(viewer) == ["case_001 image", "case_001 ground truth", "case_001 denoised"]
    out = read_volume(tmp_path / "out" / "cases" / "case_001" / "case_001_gaussian.nii.gz")
    np.testing.assert_array_equal(np.asarray(viewer.layers["case_001 denoised"].data), out.data)
    assert w.status.text().startswith("Opened case case_001")
    _run(qtbot, w)  # the same cohort again: finished cases are reused, the broken one is tried again
    check("the second run")
    texts = sorted(table_texts(table))
    assert [(r[0], r[1]) for r in texts] == [("broken", "failed"), ("case_000", "done (reused)"),
                                             ("case_001", "done (reused)")]


def test_refuses_a_missing_cohort_folder(make_napari_viewer, qtbot, tmp_path):
    viewer = make_napari_viewer()
    w = open_widget(viewer, WIDGET)
    field(w, "cohort folder").setText(str(tmp_path / "nowhere"))
    field(w, "output folder").setText(str(tmp_path / "out"))
    click(qtbot, button(w, "Run cohort"))
    check("the refusal")
    assert "not a folder; choose the folder of cases" in w.status.text()
    assert not (tmp_path / "out").exists() and not w.busy
    field(w, "task").setCurrentText("evaluate")
    assert field(w, "reference folder").isEnabled() and not field(w, "method").isEnabled()
