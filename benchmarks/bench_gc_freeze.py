"""What a full garbage collection costs the GUI thread with napari, the plugin's widgets, torch and MONAI
imported, before and after :func:`napari_medai._napari.long_lived.freeze_long_lived_objects`, and the
garbage that freeze keeps (it runs no full collection: whatever cyclic garbage the old generation holds
then is frozen too; counted here by unfreezing and collecting once).

A full collection holds the GIL while it walks every tracked object, so it freezes the viewer whichever
thread starts it; the freeze moves the objects the imports made to the permanent generation. Times are
the CPU time of this thread (``time.thread_time``), the least of ``--repeats`` collections, which the
machine's load distorts least; the load average is printed with them::

    .venv/bin/python benchmarks/bench_gc_freeze.py [--repeats 3] [--record FILE]
"""

from __future__ import annotations

import argparse
import gc
import time

from _common import add_record_option, start


def full_gc_cpu_ms(repeats: int) -> float:
    out = []
    for _ in range(repeats):
        t = time.thread_time()
        gc.collect()
        out.append(1e3 * (time.thread_time() - t))
    return min(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=3)
    add_record_option(ap)
    a = ap.parse_args()
    run = start("gc_freeze", a)
    import monai.inferers  # noqa: F401
    import monai.networks.nets  # noqa: F401
    import monai.transforms  # noqa: F401
    import napari._qt.qt_main_window  # noqa: F401 - as in a session with a window (current_viewer)
    import napari.viewer  # noqa: F401
    import torch  # noqa: F401

    import napari_medai._napari.segmentation_widget  # noqa: F401
    from napari_medai._napari.long_lived import freeze_long_lived_objects

    tracked = len(gc.get_objects())
    t = time.thread_time()
    froze = freeze_long_lived_objects()
    freeze_ms = 1e3 * (time.thread_time() - t)
    frozen = gc.get_freeze_count()
    after = full_gc_cpu_ms(a.repeats)
    gc.unfreeze()
    kept = gc.collect()  # the garbage the freeze had kept: everything is walked once
    before = full_gc_cpu_ms(a.repeats)
    print(f"tracked objects {tracked}; full collection {before:.1f} ms CPU without the freeze, {after:.2f} ms "
          f"after it (freeze {'done' if froze else 'not needed'}: {freeze_ms:.0f} ms, {frozen} objects frozen, "
          f"{kept} of them garbage)")
    run.record(tracked_objects=tracked, full_gc_cpu_ms_before=round(before, 2), full_gc_cpu_ms_after=round(after, 2),
               freeze_cpu_ms=round(freeze_ms, 1), frozen_garbage=kept)
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
