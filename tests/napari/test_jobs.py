"""JobRunner: a ``done`` that is a generator shows its parts one event-loop turn apart, and the runner stays
busy (its run buttons disabled) until the last part has run."""

from __future__ import annotations

from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QPushButton

from napari_medai._napari._jobs import JobRunner


def _runner(qtbot):
    jobs = JobRunner("idle")
    qtbot.addWidget(jobs)
    run = QPushButton("Run")
    qtbot.addWidget(run)
    jobs.add_run_buttons(run)
    return jobs, run


def test_generator_done_runs_its_parts_in_separate_turns(qtbot):
    jobs, run = _runner(qtbot)
    seen: list[str] = []
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(0)
    timer.timeout.connect(lambda: ticks.append(len(seen)))  # what had run when the event loop got a turn

    def done(value):
        seen.append(f"first {value}")
        assert jobs.busy and not run.isEnabled()
        yield
        seen.append("second")
        yield
        seen.append("third")

    timer.start()
    assert jobs.start(lambda: 7, done, "working…")
    assert jobs.wait_idle(30)
    timer.stop()
    assert seen == ["first 7", "second", "third"]
    assert 1 in ticks and 2 in ticks  # the event loop ran between the parts
    assert run.isEnabled() and not jobs.busy
    assert jobs.last_error == ""


def test_a_failing_part_is_shown_and_ends_the_job(qtbot):
    jobs, run = _runner(qtbot)
    seen: list[str] = []

    def done(_value):
        seen.append("first")
        yield
        raise ValueError("no room for the layer")

    assert jobs.start(lambda: None, done, "working…")
    assert jobs.wait_idle(30)
    assert seen == ["first"]
    assert "ValueError: no room for the layer" in jobs.status.text()
    assert run.isEnabled() and not jobs.busy


def test_a_second_job_waits_for_the_parts_of_the_first(qtbot):
    jobs, _run = _runner(qtbot)
    started: list[bool] = []

    def done(_value):
        yield
        started.append(jobs.start(lambda: 2, lambda _v: None, "second job"))  # parts still to run: refused
        yield

    assert jobs.start(lambda: 1, done, "first job")
    assert jobs.wait_idle(30)
    assert started == [False]
    assert jobs.start(lambda: 2, lambda _v: None, "second job")  # free again
    assert jobs.wait_idle(30) and jobs.last_result == 2


def test_run_now_runs_every_part_at_once(qtbot):
    jobs, _run = _runner(qtbot)
    seen: list[int] = []

    def done(value):
        seen.append(value)
        yield
        seen.append(value + 1)

    assert jobs.run_now(lambda: 1, done)
    assert seen == [1, 2] and not jobs.busy


def test_the_status_is_not_red_any_more_after_an_error_is_followed_by_news(make_napari_viewer):
    # under napari's style sheet Qt keeps a removed style sheet's colour in the label's palette: the user saw
    # "24 case(s) matched." in red after the agreement dock's "no case matches" (a screenshot, issue 10)
    viewer = make_napari_viewer()
    jobs = JobRunner("idle")
    viewer.window.add_dock_widget(jobs)
    label = jobs.status

    def colour() -> str:
        return label.palette().color(label.foregroundRole()).name()

    plain = colour()
    jobs.refuse(ValueError("no case matches"))
    assert colour() == "#ff7070"
    jobs.set_status("24 case(s) matched.")
    assert colour() == plain
