"""Click-to-updated-scores latency of the calcium widget on a real CT, and the longest GUI stall meanwhile.

Opens ``../shared/data/ct_chest_noncontrast/lung2_image.nrrd`` (61 x 512 x 512, 5 mm slices, about 212
lesion rows) in a viewer, opens "Coronary calcium scoring (CT)" from the Plugins menu and auto-assigns.
Then, ``--clicks`` times, gives a lesion's 3-D candidate another artery through the path a canvas click
takes (``assign_at_index``: candidate lookup, ``data_setitem``, paint event, re-scoring of the touched
slices off the GUI thread, score and lesion tables updated) and times from the click until the widget
has shown the new scores (its ``scored`` signal, emitted after the tables are filled). A 5 ms QTimer on
the GUI thread records the longest gap between its ticks during the clicks (how long the viewer stood
still). The scores are checked against a full :func:`~napari_medai.core.tasks.cac.score` at the end.

Run: ``xvfb-run -a -s "-screen 0 1920x1200x24" .venv/bin/python benchmarks/bench_cac_latency.py [--clicks 20] [--record FILE]``

The machine's conditions are printed with the figures (``benchmarks/_common.py``); ``--record FILE``
appends them to a JSON-lines history.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))
DEFAULT = ROOT.parent / "shared" / "data" / "ct_chest_noncontrast" / "lung2_image.nrrd"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--ct", default=str(DEFAULT))
    p.add_argument("--clicks", type=int, default=20)
    import _common

    _common.add_record_option(p)
    args = p.parse_args(argv)
    run = _common.start("cac_latency", args)
    if not Path(args.ct).is_file():
        print(f"skipped: {args.ct} not found")
        return 0

    import numpy as np
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    import napari
    from napari_medai.core.tasks import cac

    viewer = napari.Viewer()
    viewer.window._qt_window.resize(1600, 1000)  # noqa: SLF001 - a benchmark script may size the window
    viewer.open(args.ct, plugin="napari-medai")
    _dock, w = viewer.window.add_plugin_dock_widget("napari-medai", "Coronary calcium scoring (CT)")
    t0 = time.perf_counter()
    w.auto_assign()
    assert w.wait_idle(600), w.jobs.status.text()
    print(f"{Path(args.ct).name}: auto-assign and first scoring {time.perf_counter() - t0:.1f} s, "
          f"{len(w.result.lesions)} lesions ({sum(les.artery in cac.ARTERIES for les in w.result.lesions)} coronary)")

    idle = _gaps(2.0)
    print(f"idle viewer (no clicks, 2 s): longest GUI-thread gap {idle.max():.0f} ms, median {np.median(idle):.1f} ms")

    scored: list[float] = []  # the new result reaches the GUI thread
    shown: list[float] = []  # ... and the tables show it: the click-to-scores end point
    clicks_ms: list[float] = []
    w.live.scored.connect(lambda _r: scored.append(time.perf_counter()))
    w.scored.connect(lambda _r: shown.append(time.perf_counter()))
    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()

    lesions = [les for les in w.result.lesions if les.artery in cac.ARTERIES] or w.result.lesions
    arteries = ["LAD", "RCA", "LCX", "non-coronary"]
    latencies = []
    for i in range(args.clicks):
        les = lesions[i % len(lesions)]
        target = next(a for a in arteries[i % 4:] + arteries if a != les.artery)
        n = len(shown)
        start = time.perf_counter()
        w.assign_at_index(les.centroid, target)
        clicks_ms.append((time.perf_counter() - start) * 1000.0)
        while len(shown) == n and time.perf_counter() - start < 30:
            QApplication.processEvents()
            time.sleep(0.001)
        latencies.append((shown[-1] - start) * 1000.0)
        w.wait_idle(30)
        lesions = [x for x in w.result.lesions if x.artery in cac.ARTERIES] or w.result.lesions
    timer.stop()
    gaps = np.diff(ticks) * 1000.0 if len(ticks) > 1 else np.zeros(1)
    print(f"click to updated scores, {len(latencies)} clicks: median {statistics.median(latencies):.0f} ms, "
          f"max {max(latencies):.0f} ms")
    print(f"longest GUI-thread gap during the clicks: {gaps.max():.0f} ms (5 ms timer; median gap {np.median(gaps):.1f} ms)")
    fill_ms, paint_ms = [], []
    for _ in range(10):
        t0 = time.perf_counter()
        w.score_table.show_result(w.result)
        w.lesion_table.set_lesions(w.result.lesions)
        t1 = time.perf_counter()
        w.lesion_table.view.viewport().repaint()  # paint now (the view asks only for the rows shown)
        fill_ms.append((t1 - t0) * 1000.0)
        paint_ms.append((time.perf_counter() - t1) * 1000.0)
    print(f"GUI-thread work per click (medians): the click's edit {statistics.median(clicks_ms):.0f} ms, "
          f"filling the two tables {statistics.median(fill_ms):.1f} ms, painting the lesion list "
          f"{statistics.median(paint_ms):.0f} ms")
    layer = viewer.layers["artery assignment"]
    ct = w.ct_volume()
    core_ms = _core_figures(ct, w.candidates, np.array(layer.data, copy=True), lesions, args.clicks)
    full = cac.score(ct, ct.with_data(np.asarray(layer.data), is_label=True), warn=False)
    print(f"shown total {w.score_table.value('total')}, full re-score {full.total:.1f}: "
          f"{'equal' if full == w.result else 'DIFFERENT'}")
    viewer.close()
    run.record(ct=Path(args.ct).name, clicks=len(latencies), click_to_scores_ms_median=round(statistics.median(latencies), 1),
               click_to_scores_ms_max=round(max(latencies), 1), gui_gap_ms_max=round(float(gaps.max()), 1),
               core_rescore_ms_median=round(statistics.median(core_ms), 1), equal_to_full_score=full == w.result)
    run.finish()
    return 0


def _core_figures(ct, candidates, codes, lesions, n_clicks: int) -> list[float]:
    """The core alone, no GUI: re-scoring the slices a click touches against a full score()."""

    from napari_medai.core.tasks import cac

    session = cac.ScoringSession(ct, codes)
    index = cac.CandidateIndex(candidates)
    t0 = time.perf_counter()
    cac.score(ct, ct.with_data(codes, is_label=True), warn=False)
    full_ms = (time.perf_counter() - t0) * 1000.0
    times = []
    for i in range(n_clicks):
        region, _ = index.region(lesions[i % len(lesions)].centroid)
        codes[region] = (i % 5) + 1
        t0 = time.perf_counter()
        session.update(codes, slices=cac.touched_slices(region))
        times.append((time.perf_counter() - t0) * 1000.0)
    print(f"core alone: re-score of the slices a click touches median {statistics.median(times):.0f} ms, max "
          f"{max(times):.0f} ms; a full score() {full_ms:.0f} ms")
    return times


def _gaps(seconds: float):
    """Gaps (ms) between the ticks of a 5 ms QTimer while the event loop runs ``seconds``."""
    import numpy as np
    from qtpy.QtCore import QTimer
    from qtpy.QtWidgets import QApplication

    ticks: list[float] = []
    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(lambda: ticks.append(time.perf_counter()))
    timer.start()
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        QApplication.processEvents()
        time.sleep(0.001)
    timer.stop()
    return np.diff(ticks) * 1000.0 if len(ticks) > 1 else np.zeros(1)


if __name__ == "__main__":
    raise SystemExit(main())
