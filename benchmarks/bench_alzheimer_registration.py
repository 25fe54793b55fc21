"""Registration of the real ``chris_t1`` (skull and neck on) to MNI152 2009a, and the cohort simulator.

Default mode registers ``shared/data/brain_t1/chris_t1.nii.gz`` to
``mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz`` with
:func:`napari_medai.core.tasks.alzheimer.registration.register_to_template` and prints the
correlation inside the template's brain after initialisation only ("before") and after the affine
fit, the chosen initialisation, the affine's scales and the wall-clock seconds (``--threads``, 2 by
default). ``--overlay PNG`` also saves three orthogonal slices of the aligned T1 with the template's
brain outline.

``--simulator`` instead plants atrophy in the first ``--scans`` IXI scans (``shared/data/brain_t1_ixi``)
at each ``--severities`` and prints, per region, the requested fractional volume change, the calibrated
partial-volume change and the change counted on the written label map; then times ``--subjects``
whole subjects (atrophy, deformation, intensity, noise) at 2 mm.

Run: ``PYTHONPATH=src nice -n 10 python benchmarks/bench_alzheimer_registration.py [--threads 2]
[--overlay out.png]`` or ``... --simulator [--severities 0.1 0.2 0.3]``. One run each (no repeats).
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

import _common  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
T1 = DATA / "brain_t1" / "chris_t1.nii.gz"
TEMPLATE = DATA / "brain_t1" / "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
IXI = DATA / "brain_t1_ixi"


def _registration(args: argparse.Namespace, run: _common.BenchRun) -> None:
    from napari_medai.core.tasks.alzheimer.registration import load_template, register_to_template

    if not T1.is_file() or not TEMPLATE.is_file():
        sys.exit(f"needs {T1} and {TEMPLATE} (shared data)")
    template = load_template(TEMPLATE)
    res = register_to_template(T1, template, threads=args.threads, refuse=False)
    m = res.metrics
    print(f"chris_t1 -> MNI152 2009a ({template.mask_source} brain mask), {args.threads} thread(s)")
    print(f"  initialisation: {m['initialisation']}")
    print(f"  correlation inside the template's brain: before {m['correlation_before']:.4f}  "
          f"after rigid {m['correlation_after_rigid']:.4f}  after affine {m['correlation_after']:.4f}")
    print(f"  brain coverage {m['brain_coverage']:.3f}; scales {m['scales']}; anisotropy {m['anisotropy']}; "
          f"iterations {m['iterations']}; accepted {m['accepted']}")
    print(f"  seconds (wall clock, including reading and resampling): {m['seconds']:.1f}")
    run.record(what="registration", threads=args.threads, correlation_before=m["correlation_before"],
               correlation_after_rigid=m["correlation_after_rigid"], correlation_after=m["correlation_after"],
               brain_coverage=m["brain_coverage"], seconds=round(m["seconds"], 2))
    _shifted(res, template)
    if args.overlay:
        _overlay(res.aligned.data, template, Path(args.overlay))
        print(f"  wrote {args.overlay}")


def _shifted(res, template) -> None:
    """Correlation of the same fit moved 3, 6 and 10 mm along each axis: what the refusal floor separates."""
    import SimpleITK as sitk

    from napari_medai.core.io import read_volume
    from napari_medai.core.io.itk import volume_to_sitk
    from napari_medai.core.tasks.alzheimer.registration import brain_correlation

    fixed = sitk.Cast(volume_to_sitk(template.image), sitk.sitkFloat32)
    moving = sitk.Cast(volume_to_sitk(read_volume(T1, as_label=False)), sitk.sitkFloat32)
    tpl = sitk.GetArrayFromImage(fixed)
    for mm in (3.0, 6.0, 10.0):
        vals = []
        for axis in range(3):
            tx = sitk.AffineTransform(res.transform)
            t = list(tx.GetTranslation())
            t[axis] += mm
            tx.SetTranslation(t)
            out = sitk.GetArrayFromImage(sitk.Resample(moving, fixed, tx, sitk.sitkLinear, 0.0, sitk.sitkFloat32))
            vals.append(brain_correlation(tpl, out, template.brain_mask))
        print(f"  the fit moved {mm:g} mm along x / y / z (LPS): correlation "
              + " / ".join(f"{v:.3f}" for v in vals))


def _overlay(aligned, template, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tpl, mask = template.image.data, template.brain_mask
    c = [s // 2 for s in tpl.shape]
    fig, ax = plt.subplots(2, 3, figsize=(12, 8))
    for row, img in enumerate((tpl, aligned)):
        cuts = (img[c[0] - 18], img[:, c[1] + 10], img[:, :, c[2]])
        outl = (mask[c[0] - 18], mask[:, c[1] + 10], mask[:, :, c[2]])
        for col in range(3):
            ax[row, col].imshow(cuts[col], cmap="gray", origin="upper" if col == 0 else "lower")
            ax[row, col].contour(outl[col], levels=[0.5], colors="r", linewidths=0.6)
            ax[row, col].axis("off")
    ax[0, 0].set_title("MNI152 2009a (brain outline in red)")
    ax[1, 0].set_title("chris_t1 after affine registration")
    fig.tight_layout()
    fig.savefig(path, dpi=70)


def _simulator(args: argparse.Namespace, run: _common.BenchRun) -> None:
    from napari_medai.core.tasks.alzheimer.cohort import (
        load_sources,
        plant_atrophy,
        simulate_subject,
    )

    if not IXI.is_dir():
        sys.exit(f"needs {IXI} (shared data)")
    sources = load_sources(IXI)[: args.scans]
    for sev in args.severities:
        errs_pv, errs_lab = [], []
        print(f"severity {sev:g}")
        for s in sources:
            t0 = time.perf_counter()
            _, _, planted = plant_atrophy(s.t1.data, s.labels.data, sev, s.t1.spacing)
            dt = time.perf_counter() - t0
            for name, r in planted.regions.items():
                errs_pv.append(abs(r["achieved"] - r["requested"]))
                errs_lab.append(abs(r["label_change"] - r["requested"]))
                if s is sources[0]:
                    print(f"  {s.name} {name:28s} requested {r['requested']:+.4f}  partial-volume "
                          f"{r['achieved']:+.4f}  label map {r['label_change']:+.4f}")
            print(f"  {s.name}: {planted.iterations} calibration steps, min Jacobian {planted.min_jacobian}, "
                  f"ex vacuo {planted.ex_vacuo_ml} ml, {dt:.2f} s")
        print(f"  over {len(sources)} scans x {len(errs_lab) // len(sources)} regions: |partial-volume - requested| "
              f"max {max(errs_pv):.4f}; |label map - requested| max {max(errs_lab):.4f} mean "
              f"{statistics.mean(errs_lab):.4f}")
    times = []
    for i in range(args.subjects):
        t0 = time.perf_counter()
        simulate_subject(sources[i % len(sources)], severity=0.2 if i % 2 == 0 else 0.0, seed=i)
        times.append(time.perf_counter() - t0)
    print(f"whole subject at 2 mm (AD 0.2 and NC alternating), {args.subjects} runs: "
          f"median {statistics.median(times):.2f} s, min {min(times):.2f} s, max {max(times):.2f} s")
    run.record(what="simulator", subjects=args.subjects, seconds_median=round(statistics.median(times), 3),
               seconds_min=round(min(times), 3), seconds_max=round(max(times), 3))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=2, help="ITK threads for the registration (default 2)")
    p.add_argument("--overlay", default=None, help="save an overlay PNG of the aligned T1 and the template")
    p.add_argument("--simulator", action="store_true", help="measure the cohort simulator instead")
    p.add_argument("--severities", type=float, nargs="+", default=[0.1, 0.2, 0.3])
    p.add_argument("--scans", type=int, default=10, help="IXI scans used by --simulator (default 10)")
    p.add_argument("--subjects", type=int, default=4, help="whole subjects timed by --simulator (default 4)")
    _common.add_record_option(p)
    args = p.parse_args()
    run = _common.start("alzheimer_registration", args)
    if args.simulator:
        _simulator(args, run)
    else:
        _registration(args, run)
    run.finish()


if __name__ == "__main__":
    main()
