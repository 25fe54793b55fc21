"""Coronary calcium on a real chest CT: candidates, automatic artery assignment, Agatston score, figure.

Usage::

    python examples/cac_real_ct.py CT_FILE OUT.png [--panels 8] [--json OUT.json]

For example, with the real non-contrast chest CTs beside the repository (5 mm slices)::

    python examples/cac_real_ct.py ../shared/data/ct_chest_noncontrast/lung2_image.nrrd docs/cac-lung2.png

Prints how many candidates there are, how the automatic (heuristic, no trained model) step assigned
their 3-D groups, the scores per artery (with the 5 mm -> 3 mm slice correction stated), and writes a
PNG of the axial slices holding the most assigned calcium: candidates coloured by artery (unassigned
candidates such as bone are not coloured), the heart region outlined in yellow, the aortic root in
orange. These scans have no reference calcium score; look at the figure to judge the assignment.
"""

from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from napari_medai.core.errors import MedaiError, MedaiWarning  # noqa: E402
from napari_medai.core.io import read_volume  # noqa: E402
from napari_medai.core.tasks.cac import (  # noqa: E402
    analyse_anatomy,
    auto_assign,
    find_candidates,
    format_result,
    score,
    write_json,
)

COLOURS = {1: (1.0, 0.2, 0.8), 2: (1.0, 0.15, 0.1), 3: (0.2, 0.9, 0.2), 4: (0.2, 0.55, 1.0), 5: (1.0, 0.85, 0.0)}
NAMES = {1: "LM", 2: "LAD", 3: "LCX", 4: "RCA", 5: "non-coronary"}


def figure(ct, assignment, anatomy, *, panels: int = 8, title: str = ""):
    """Axial slices with the most assigned calcium, cropped to the heart, candidates coloured."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle, Patch

    data = np.asarray(ct.data)
    codes = np.asarray(assignment.data)
    region = anatomy.full_mask("heart_region")
    coronary = np.isin(codes, (1, 2, 3, 4))
    per_slice = coronary.sum(axis=(1, 2)) * 10 + (codes == 5).sum(axis=(1, 2))
    ks = np.argsort(per_slice)[::-1][:panels]
    ks = np.sort(ks[per_slice[ks] > 0])
    if ks.size == 0:
        hk = np.nonzero(region.any(axis=(1, 2)))[0]
        ks = hk[np.linspace(0, hk.size - 1, min(panels, hk.size)).astype(int)] if hk.size else np.array([0])
    rr, cc = np.nonzero(region[ks].any(axis=0) | np.isin(codes[ks], (1, 2, 3, 4)).any(axis=0))
    if rr.size:
        pad = int(round(15.0 / ct.spacing[1]))
        r0, r1 = max(0, rr.min() - pad), min(data.shape[1], rr.max() + pad)
        c0, c1 = max(0, cc.min() - pad), min(data.shape[2], cc.max() + pad)
    else:
        r0, r1, c0, c1 = 0, data.shape[1], 0, data.shape[2]
    ncol = min(4, len(ks))
    nrow = -(-len(ks) // ncol)
    fig = Figure(figsize=(3.2 * ncol, 3.4 * nrow + 0.6), dpi=72, layout="constrained")
    FigureCanvasAgg(fig)
    for i, k in enumerate(ks):
        ax = fig.add_subplot(nrow, ncol, i + 1)
        img = np.clip((data[k, r0:r1, c0:c1].astype(np.float32) + 200.0) / 800.0, 0.0, 1.0)
        rgb = np.repeat(img[..., None], 3, axis=2)
        sub = codes[k, r0:r1, c0:c1]
        for code, col in COLOURS.items():
            rgb[sub == code] = col
        ax.imshow(rgb, interpolation="nearest")
        if region[k].any():
            ax.contour(region[k, r0:r1, c0:c1], levels=[0.5], colors="yellow", linewidths=0.6)
        if int(k) in anatomy.aortic_root:
            r, c, rad = anatomy.aortic_root[int(k)]
            ax.add_patch(Circle((c - c0, r - r0), rad / ct.spacing[1], fill=False, color="orange", linewidth=0.8))
        n = {NAMES[c]: int(((sub == c) & (data[k, r0:r1, c0:c1] >= 130)).any()) for c in COLOURS}
        ax.set_title(f"slice {k}: " + ", ".join(name for name, v in n.items() if v), fontsize=7)
        ax.set_xticks([])
        ax.set_yticks([])
    handles = [Patch(color=col, label=NAMES[c]) for c, col in COLOURS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=8, frameon=False)
    fig.suptitle(title, fontsize=9)
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("ct", help="CT file in HU (NRRD, NIfTI, MHA, DICOM folder ...)")
    p.add_argument("out", help="PNG figure to write")
    p.add_argument("--panels", type=int, default=8, help="number of slices shown (default 8)")
    p.add_argument("--json", default=None, help="also write the scores as JSON")
    args = p.parse_args(argv)
    try:
        ct = read_volume(args.ct)
        t0 = time.perf_counter()
        cand, lesions = find_candidates(ct)
        t1 = time.perf_counter()
        anatomy = analyse_anatomy(ct)
        assignment = auto_assign(ct, cand, anatomy=anatomy)
        t2 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", MedaiWarning)
            result = score(ct, assignment)
        t3 = time.perf_counter()
    except MedaiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    groups = assignment.meta["groups"]
    coronary_groups = [g for g in groups if g["artery"] in ("LM", "LAD", "LCX", "RCA")]
    print(f"{ct.name}: {ct.spatial_shape} voxels, spacing {tuple(round(s, 3) for s in ct.spacing)} mm")
    print(f"candidates: {len(lesions)} 2-D regions >= 130 HU and >= 1 mm^2 in {cand.meta['n_groups']} 3-D groups")
    print("automatic assignment of the groups: "
          + ", ".join(f"{k} {v}" for k, v in assignment.meta["group_counts"].items()))
    print(f"coronary groups: {len(coronary_groups)}; anatomy: " + "; ".join(assignment.meta["anatomy_notes"]))
    print(f"time: candidates {t1 - t0:.2f} s, anatomy + assignment {t2 - t1:.2f} s, scoring {t3 - t2:.2f} s")
    print(format_result(result, max_lesions=25))
    fig = figure(ct, assignment, anatomy, panels=args.panels,
                 title=f"{ct.name}: automatic assignment (heuristic, no trained model) - Agatston total "
                       f"{result.total:.0f} ({result.category}), slice correction x{result.slice_factor:.3g}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    print(f"wrote {out} ({out.stat().st_size / 1024:.0f} KB)")
    if args.json:
        print(f"wrote {write_json(result, args.json, protect=[args.ct])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
