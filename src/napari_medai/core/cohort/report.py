"""The files of a cohort run: the summary of every case, and the cohort evaluation with its figure.

* ``summary.csv`` -- one row per case: status, one-line reason, attempts, seconds, reused, the
  worker and its peak memory, the outputs and the task's headline numbers;
* ``summary.json`` -- the run (task, model, options, counts, per-worker peak memory, notes) and
  every case's full record;
* when cases were compared with a ground truth: ``evaluation.json`` and ``evaluation.csv`` (the
  documents of ``napari-medai evaluate``: per-case tables and the cohort summary with bootstrap
  95 % CIs, from :mod:`napari_medai.core.evaluate`) and ``evaluation.png`` (:func:`evaluation_figure`:
  Dice and HD95 per region as box and strip plots, and a Bland-Altman plot of the volumes).

Every file is written atomically.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..errors import InvalidInputError
from ..evaluate import (
    CaseResult,
    summarize_cases,
    to_json_dict,
    write_csv,
    write_json,
    write_text_atomically,
)
from ..io.atomic import atomic_path
from .adapters import make_convention

__all__ = ["case_results", "evaluation_figure", "summary_rows", "write_cohort_files"]

_BASE_COLUMNS = ("case", "status", "reason", "attempt", "seconds", "reused", "worker", "peak_rss_mb", "outputs")


def _worker_name(rec: Mapping[str, Any]) -> str:
    w = rec.get("worker") or {}
    if not w:
        return ""
    return str(w.get("address") or f"{w.get('host')}:{w.get('pid')}")


def summary_rows(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Header and rows of ``summary.csv`` (the headline numbers of every task found in the records)."""
    extra: list[str] = []
    for r in records:
        for k in (r.get("figures") or {}):
            if k not in extra:
                extra.append(k)
    header = [*_BASE_COLUMNS, *extra]
    rows = []
    for r in records:
        figs = r.get("figures") or {}
        row = [r.get("case"), r.get("status"), r.get("reason", ""), r.get("attempt", ""),
               "" if r.get("seconds") is None else r.get("seconds"), str(bool(r.get("reused"))).lower(),
               _worker_name(r), "" if r.get("peak_rss_mb") is None else r.get("peak_rss_mb"),
               ";".join((r.get("outputs") or {}).values())]
        for k in extra:
            v = figs.get(k)
            row.append("" if v is None or (isinstance(v, float) and not math.isfinite(v)) else v)
        rows.append(row)
    return header, rows


def _nan(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _nan(v) for k, v in value.items()}
    return math.nan if value is None else value


def case_results(records: Sequence[Mapping[str, Any]]) -> list[CaseResult]:
    """The :class:`~napari_medai.core.evaluate.CaseResult` of every done case compared with a ground truth."""
    out = []
    conventions: dict[str, Any] = {}
    for r in records:
        ev = r.get("evaluation")
        if r.get("status") != "done" or not ev:
            continue
        args = dict(ev.get("convention_args") or {"convention": ev.get("convention")})
        key = repr(sorted(args.items()))
        if key not in conventions:
            conventions[key] = make_convention(**args)
        out.append(CaseResult(
            case=str(ev.get("case") or r.get("case")), convention=conventions[key],
            regions={k: _nan(v) for k, v in (ev.get("regions") or {}).items()},
            labels={k: _nan(v) for k, v in (ev.get("labels") or {}).items()},
            tolerance_mm=float(ev.get("tolerance_mm", 1.0)), lesion_style=str(ev.get("lesion_style", "isles")),
            resampled=bool(ev.get("resampled")), spacing=tuple(ev.get("spacing_mm") or ()),
            shape=tuple(ev.get("shape") or ()), notes=list(ev.get("notes") or []), pred_source=ev.get("pred"),
            gt_source=ev.get("gt"),
        ))
    return out


def _finite(values: Sequence[Any]) -> list[float]:
    return [float(v) for v in values if v is not None and isinstance(v, (int, float)) and math.isfinite(float(v))]


def evaluation_figure(results: Sequence[CaseResult], *, title: str = "") -> Any:
    """Dice and HD95 per region (box and strip plots) and a Bland-Altman plot of the volumes.

    The figure is built without pyplot (an Agg canvas), so it saves headless.

    Parameters
    ----------
    results
        Case results of one convention.
    title
        Figure title (e.g. the task and the number of cases).

    Returns
    -------
    matplotlib.figure.Figure
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # matplotlib is an optional dependency of the core
        raise InvalidInputError("the cohort figure needs matplotlib; pip install matplotlib") from exc
    import numpy as np

    from ..metrics.agreement_stats import bland_altman

    if not results:
        raise InvalidInputError("no evaluated case to plot")
    regions = list(results[0].regions)
    fig = Figure(figsize=(13.0, 4.2), dpi=100)
    FigureCanvasAgg(fig)
    rng = np.random.default_rng(0)  # jitter of the strip plots only
    for i, (metric, label) in enumerate((("dice", "Dice"), ("hd95_mm", "HD95 (mm)"))):
        ax = fig.add_subplot(1, 3, i + 1)
        data = [_finite([r.regions.get(reg, {}).get(metric) for r in results]) for reg in regions]
        shown = [d if d else [math.nan] for d in data]
        ax.boxplot(shown, showfliers=False, widths=0.5)
        for j, d in enumerate(data):
            if d:
                ax.scatter(j + 1 + rng.uniform(-0.12, 0.12, len(d)), d, s=14, alpha=0.8, color="tab:blue", zorder=3)
        ax.set_xticks(range(1, len(regions) + 1))
        ax.set_xticklabels([f"{reg}\n(n={len(d)})" for reg, d in zip(regions, data)], fontsize=8)
        ax.set_ylabel(label)
        if metric == "dice":
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(f"{label} per region")
        ax.grid(True, axis="y", alpha=0.3)
    ax = fig.add_subplot(1, 3, 3)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red", "tab:purple", "tab:brown"]
    all_pred: list[float] = []
    all_gt: list[float] = []
    for j, reg in enumerate(regions):
        pairs = [(r.regions[reg].get("volume_pred_ml"), r.regions[reg].get("volume_gt_ml")) for r in results
                 if reg in r.regions]
        pairs = [(p, g) for p, g in pairs if _finite([p]) and _finite([g])]
        if not pairs:
            continue
        p = np.array([a for a, _ in pairs], dtype=float)
        g = np.array([b for _, b in pairs], dtype=float)
        ax.scatter((p + g) / 2.0, p - g, s=16, alpha=0.8, color=colours[j % len(colours)], label=reg, zorder=3)
        all_pred += p.tolist()
        all_gt += g.tolist()
    if len(all_pred) >= 2:
        ba = bland_altman(all_pred, all_gt)
        for y, style, text in ((ba.bias, "-", f"bias {ba.bias:.3g}"), (ba.loa_high, "--", f"+1.96 SD {ba.loa_high:.3g}"),
                               (ba.loa_low, "--", f"-1.96 SD {ba.loa_low:.3g}")):
            ax.axhline(y, color="tab:red" if style == "-" else "tab:gray", linestyle=style, linewidth=1)
            ax.annotate(text, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(-4, 2),
                        textcoords="offset points", ha="right", va="bottom", fontsize=7)
        ax.set_title(f"Volumes, Bland-Altman (all regions, n = {ba.n})")
    else:
        ax.set_title("Volumes, Bland-Altman (fewer than 2 pairs)")
    ax.set_xlabel("mean of predicted and reference volume (ml)")
    ax.set_ylabel("predicted - reference (ml)")
    ax.grid(True, alpha=0.3)
    if all_pred:
        ax.legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _write_figure(fig: Any, path: Path) -> Path:
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, format="png")
    return path


def write_cohort_files(run: Any, *, cohort: Path | None, model: Any, options: Mapping[str, Any],
                       n_resamples: int = 2000, seed: int = 0) -> None:
    """Write the summary (and the cohort evaluation when there is one) of a finished ``run``.

    Fills ``run.files``, ``run.workers`` and ``run.evaluation``.
    """
    records = run.records
    inputs = [f for r in records for f in _case_files(r)]
    workers: dict[str, float] = {}
    for r in records:
        name = _worker_name(r)
        if name and r.get("peak_rss_mb") is not None and not r.get("reused"):
            workers[name] = max(workers.get(name, 0.0), float(r["peak_rss_mb"]))
    run.workers = workers
    header, rows = summary_rows(records)
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    write_text_atomically(run.summary_csv, buf.getvalue())
    counts = {s: sum(1 for r in records if r.get("status") == s) for s in ("done", "failed", "cancelled")}
    counts["reused"] = sum(1 for r in records if r.get("reused"))
    doc: dict[str, Any] = {
        "task": run.task, "cohort": None if cohort is None else str(cohort), "model": None if model is None else str(model),
        "options": dict(options), "n_cases": len(records), "counts": counts, "seconds": round(run.seconds, 3),
        "dashboard": run.dashboard, "workers_peak_rss_mb": workers, "notes": list(run.notes), "cases": records,
    }
    files = [run.summary_csv]
    results = case_results(records)
    if results:
        by_conv: dict[str, list[CaseResult]] = {}
        for r in results:
            by_conv.setdefault(r.convention.name, []).append(r)
        if len(by_conv) > 1:  # e.g. BraTS 2013 and 2023 cases together: one evaluation per convention
            run.notes.append("cases of several label conventions: one evaluation file set per convention")
        for i, (conv, group) in enumerate(sorted(by_conv.items(), key=lambda kv: -len(kv[1]))):
            stem = "evaluation" if i == 0 else f"evaluation_{conv}"
            summary = summarize_cases(group, n_resamples=n_resamples, seed=seed)
            ev_doc = to_json_dict(group, summary=summary, n_resamples=n_resamples, seed=seed)
            files.append(write_json(ev_doc, run.out_dir / f"{stem}.json", protect=inputs))
            files.append(write_csv(group, run.out_dir / f"{stem}.csv", protect=inputs))
            fig = evaluation_figure(group, title=f"{run.task}: {len(group)} case(s), {conv} convention")
            files.append(_write_figure(fig, run.out_dir / f"{stem}.png"))
            if i == 0:
                run.evaluation = ev_doc
                doc["evaluation"] = {"convention": conv, "n_cases": len(group), "summary": ev_doc["summary"]}
    doc["files"] = [str(Path(f).name) for f in files]
    write_json(doc, run.summary_json, protect=inputs)
    files.insert(1, run.summary_json)
    run.files = files


def _case_files(record: Mapping[str, Any]) -> list[str]:
    c = record.get("case_inputs") or {}
    out = list((c.get("inputs") or {}).values())
    if c.get("ground_truth"):
        out.append(c["ground_truth"])
    return out
