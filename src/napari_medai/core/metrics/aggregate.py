"""Cohort summaries: mean, median, SD and a seeded 95 % bootstrap CI per metric per region."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import InvalidInputError

__all__ = ["bootstrap_ci", "summarize", "summarize_values"]


def bootstrap_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of the mean.

    Parameters
    ----------
    values
        Finite values (NaN must be removed first).
    n_resamples
        Number of bootstrap resamples (with replacement, same size as ``values``).
    confidence
        Coverage of the interval, e.g. 0.95.
    seed
        Seed of :func:`numpy.random.default_rng`; the same seed gives the same interval.

    Returns
    -------
    (float, float)
        Lower and upper bound; ``(nan, nan)`` for no values, ``(v, v)`` for a single value.
    """
    x = np.asarray(values, dtype=float).ravel()
    if not (isinstance(n_resamples, (int, np.integer)) and n_resamples >= 1):
        raise InvalidInputError(f"n_resamples must be a whole number >= 1, got {n_resamples!r}")
    if not 0 < confidence < 1:
        raise InvalidInputError(f"confidence must be between 0 and 1, got {confidence!r}")
    if np.isnan(x).any():
        raise InvalidInputError("bootstrap_ci got NaN values; drop them first (summarize does)")
    if x.size == 0:
        return (math.nan, math.nan)
    if x.size == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    means = np.empty(n_resamples)
    chunk = max(1, 2_000_000 // x.size)
    for start in range(0, n_resamples, chunk):
        stop = min(start + chunk, n_resamples)
        idx = rng.integers(0, x.size, size=(stop - start, x.size))
        means[start:stop] = x[idx].mean(axis=1)
    alpha = (1 - confidence) / 2
    lo, hi = np.percentile(means, [100 * alpha, 100 * (1 - alpha)])
    return (float(lo), float(hi))


def summarize_values(
    values: Iterable[float | None],
    *,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Mean, median, SD (ddof=1), bootstrap CI, count and NaN count of one metric.

    ``None``, NaN and infinite values are left out and counted in ``n_nan``.
    """
    raw = [math.nan if v is None else float(v) for v in values]
    x = np.asarray(raw, dtype=float)
    ok = x[np.isfinite(x)]
    out: dict[str, Any] = {"n": int(ok.size), "n_nan": int(x.size - ok.size)}
    if ok.size == 0:
        out.update(mean=math.nan, median=math.nan, sd=math.nan, ci95=[math.nan, math.nan])
        return out
    lo, hi = bootstrap_ci(ok, n_resamples=n_resamples, confidence=confidence, seed=seed)
    out.update(
        mean=float(ok.mean()),
        median=float(np.median(ok)),
        sd=float(ok.std(ddof=1)) if ok.size > 1 else math.nan,
        ci95=[lo, hi],
    )
    return out


def summarize(
    cases: Sequence[Mapping[str, Mapping[str, Any]]],
    *,
    metrics: Sequence[str] | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Summarise per-case tables over a cohort.

    Parameters
    ----------
    cases
        One ``{REGION: {METRIC: value}}`` mapping per case (e.g. ``table["regions"]``).
    metrics
        Metrics to summarise; by default every numeric (non-bool) metric found.
    n_resamples, seed, confidence
        Bootstrap settings; every (region, metric) uses a fresh generator seeded with ``seed``,
        so results do not depend on the order of regions or metrics.

    Returns
    -------
    dict
        ``{REGION: {METRIC: {"mean", "median", "sd", "ci95": [lo, hi], "n", "n_nan"}}}``.
    """
    regions: list[str] = []
    for case in cases:
        for r in case:
            if r not in regions:
                regions.append(r)
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for region in regions:
        rows = [case.get(region, {}) for case in cases]
        names = list(metrics) if metrics is not None else _numeric_keys(rows)
        out[region] = {
            m: summarize_values(
                [_num(row.get(m)) for row in rows], n_resamples=n_resamples, seed=seed,
                confidence=confidence,
            )
            for m in names
        }
    return out


def _numeric_keys(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    keys: list[str] = []
    for row in rows:
        for k, v in row.items():
            if k not in keys and _is_number(v):
                keys.append(k)
    return keys


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, (bool, np.bool_))


def _num(v: Any) -> float | None:
    return float(v) if _is_number(v) else None
