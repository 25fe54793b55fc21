"""Agreement between two sets of measurements (automatic vs reference): generic, numpy only.

Continuous values (e.g. Agatston scores per case):

* :func:`pearson_r` - Pearson correlation coefficient;
* :func:`icc_2_1` - intraclass correlation ICC(2,1) of Shrout & Fleiss (1979): two-way random
  effects, absolute agreement, single measure;
* :func:`bland_altman` - bias ``mean(auto - ref)``, SD of the differences (``ddof=1``) and the
  95 % limits of agreement ``bias +- 1.96 SD``; :func:`bland_altman_figure` draws it.

Ordered categories (e.g. CAC risk categories):

* :func:`risk_category` - the CAC risk category of an Agatston score;
* :func:`confusion_matrix` - counts of (first, second) category pairs;
* :func:`weighted_kappa` - Cohen's kappa, linearly (default), quadratically or not weighted.

:func:`agreement_summary` computes them all for paired scores. Nothing here imports pyplot: the
figure is a bare :class:`matplotlib.figure.Figure` with an Agg canvas, so it can be saved or embedded
in a Qt widget without touching global state.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import InvalidInputError

#: CAC risk categories in increasing order.
RISK_CATEGORIES: tuple[str, ...] = ("0", "1-10", "11-100", "101-400", ">400")
#: Width of the Bland-Altman limits of agreement in SDs.
LOA_Z = 1.96
KAPPA_WEIGHTS = ("linear", "quadratic", "none")


def _paired(a: Any, b: Any, *, name_a: str = "auto", name_b: str = "ref", min_n: int = 2) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(a, dtype=float).ravel()
    y = np.asarray(b, dtype=float).ravel()
    if x.size != y.size:
        raise InvalidInputError(f"{name_a} has {x.size} values but {name_b} has {y.size}; pair them case by case")
    if x.size < min_n:
        raise InvalidInputError(f"need at least {min_n} paired values, got {x.size}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidInputError(f"{name_a}/{name_b} contain NaN or infinite values; drop those cases first")
    return x, y


def pearson_r(x: Any, y: Any) -> float:
    """Pearson correlation coefficient of paired values.

    Returns NaN when either variable is constant (the correlation is undefined).
    """
    a, b = _paired(x, y, name_a="x", name_b="y")
    da, db = a - a.mean(), b - b.mean()
    den = math.sqrt(float(np.dot(da, da)) * float(np.dot(db, db)))
    if den == 0.0:
        return float("nan")
    return float(np.clip(np.dot(da, db) / den, -1.0, 1.0))


@dataclass(frozen=True)
class ICCResult:
    """ICC(2,1) and the two-way ANOVA it is computed from."""

    icc: float
    n_subjects: int
    n_raters: int
    ms_rows: float
    ms_columns: float
    ms_error: float


def icc_2_1(*ratings: Any, details: bool = False) -> float | ICCResult:
    """ICC(2,1): two-way random effects, absolute agreement, single rater (Shrout & Fleiss 1979).

    Parameters
    ----------
    *ratings
        Either one ``(n_subjects, n_raters)`` array, or one 1-D sequence per rater (e.g.
        ``icc_2_1(auto, ref)``).
    details
        Return an :class:`ICCResult` with the mean squares instead of the bare coefficient.

    Notes
    -----
    With the two-way ANOVA mean squares for subjects (rows) ``MSR``, raters (columns) ``MSC``
    and residual ``MSE``: ``ICC = (MSR - MSE) / (MSR + (k-1) MSE + k (MSC - MSE) / n)``.
    NaN when the denominator is 0 (all values equal).
    """
    if not ratings:
        raise InvalidInputError("icc_2_1 needs ratings: one (subjects x raters) array or one sequence per rater")
    if len(ratings) == 1:
        m = np.asarray(ratings[0], dtype=float)
        if m.ndim != 2:
            raise InvalidInputError("a single argument to icc_2_1 must be a 2-D (subjects x raters) array")
    else:
        cols = [np.asarray(r, dtype=float).ravel() for r in ratings]
        if len({c.size for c in cols}) != 1:
            raise InvalidInputError("every rater must rate the same subjects (sequences of equal length)")
        m = np.stack(cols, axis=1)
    n, k = m.shape
    if n < 2 or k < 2:
        raise InvalidInputError(f"ICC needs at least 2 subjects and 2 raters, got {n} x {k}")
    if not np.all(np.isfinite(m)):
        raise InvalidInputError("ratings contain NaN or infinite values; drop those subjects first")
    grand = m.mean()
    ss_rows = k * float(((m.mean(axis=1) - grand) ** 2).sum())
    ss_cols = n * float(((m.mean(axis=0) - grand) ** 2).sum())
    ss_total = float(((m - grand) ** 2).sum())
    ss_err = max(ss_total - ss_rows - ss_cols, 0.0)
    msr = ss_rows / (n - 1)
    msc = ss_cols / (k - 1)
    mse = ss_err / ((n - 1) * (k - 1))
    den = msr + (k - 1) * mse + k * (msc - mse) / n
    icc = float((msr - mse) / den) if den != 0 else float("nan")
    if details:
        return ICCResult(icc=icc, n_subjects=n, n_raters=k, ms_rows=msr, ms_columns=msc, ms_error=mse)
    return icc


@dataclass(frozen=True)
class BlandAltman:
    """Bland-Altman agreement of ``auto`` with ``ref``.

    Attributes
    ----------
    bias
        Mean of ``auto - ref``.
    sd
        Sample standard deviation (``ddof=1``) of the differences.
    loa_low, loa_high
        95 % limits of agreement, ``bias -+ 1.96 sd``.
    n
        Number of pairs.
    """

    bias: float
    sd: float
    loa_low: float
    loa_high: float
    n: int

    def as_dict(self) -> dict[str, float | int]:
        return {"bias": self.bias, "sd": self.sd, "loa_low": self.loa_low, "loa_high": self.loa_high, "n": self.n}


def bland_altman(auto: Any, ref: Any) -> BlandAltman:
    """Bias and 95 % limits of agreement of paired measurements (differences ``auto - ref``)."""
    a, r = _paired(auto, ref)
    d = a - r
    bias = float(d.mean())
    sd = float(d.std(ddof=1))
    return BlandAltman(bias=bias, sd=sd, loa_low=bias - LOA_Z * sd, loa_high=bias + LOA_Z * sd, n=int(d.size))


def risk_category(score: float) -> str:
    """CAC risk category of an Agatston score: ``'0'``, ``'1-10'``, ``'11-100'``, ``'101-400'``, ``'>400'``.

    Boundaries for non-integer scores: 0 -> '0'; (0, 10] -> '1-10'; (10, 100] -> '11-100';
    (100, 400] -> '101-400'; above 400 -> '>400'.
    """
    s = float(score)
    if not math.isfinite(s) or s < 0:
        raise InvalidInputError(f"an Agatston score must be finite and >= 0, got {score!r}")
    if s == 0:
        return "0"
    if s <= 10:
        return "1-10"
    if s <= 100:
        return "11-100"
    if s <= 400:
        return "101-400"
    return ">400"


def _categories(a: Sequence[Any], b: Sequence[Any], categories: Sequence[Any] | None) -> list[Any]:
    seen = list(a) + list(b)
    if categories is None:
        if all(isinstance(v, str) and v in RISK_CATEGORIES for v in seen):
            return list(RISK_CATEGORIES)
        try:
            return sorted(set(seen))
        except TypeError as exc:
            raise InvalidInputError("categories cannot be ordered; pass categories=[...] in their order") from exc
    cats = list(categories)
    if len(set(cats)) != len(cats):
        raise InvalidInputError("categories must be distinct")
    unknown = sorted({str(v) for v in seen if v not in cats})
    if unknown:
        raise InvalidInputError(f"values {unknown[:5]} are not among the categories {cats}")
    return cats


def confusion_matrix(first: Sequence[Any], second: Sequence[Any], *,
                     categories: Sequence[Any] | None = None) -> tuple[np.ndarray, list[Any]]:
    """Counts of category pairs: ``matrix[i, j]`` = cases with ``first == cats[i]`` and ``second == cats[j]``.

    Parameters
    ----------
    first, second
        Paired category labels (rows: ``first``, e.g. automatic; columns: ``second``, e.g. reference).
    categories
        Category order; default the CAC risk categories when every label is one, else sorted labels.

    Returns
    -------
    matrix, categories
    """
    a, b = list(first), list(second)
    if len(a) != len(b):
        raise InvalidInputError(f"first has {len(a)} labels but second has {len(b)}; pair them case by case")
    cats = _categories(a, b, categories)
    index = {c: i for i, c in enumerate(cats)}
    m = np.zeros((len(cats), len(cats)), dtype=np.int64)
    for x, y in zip(a, b):
        m[index[x], index[y]] += 1
    return m, cats


def weighted_kappa(cat_a: Sequence[Any], cat_b: Sequence[Any], *, weights: str = "linear",
                   categories: Sequence[Any] | None = None) -> float:
    """Cohen's kappa between two raters on ordered categories.

    Parameters
    ----------
    cat_a, cat_b
        Paired category labels.
    weights
        ``'linear'`` (disagreement weight ``|i - j| / (K - 1)``), ``'quadratic'``
        (``((i - j) / (K - 1))^2``) or ``'none'`` (unweighted kappa).
    categories
        Category order (see :func:`confusion_matrix`).

    Notes
    -----
    ``kappa = 1 - sum(w * observed) / sum(w * expected)`` with expected counts from the product of the
    marginals. When the expected disagreement is 0 (both raters put every case in the same single
    category) agreement is perfect and 1.0 is returned.
    """
    if weights not in KAPPA_WEIGHTS:
        raise InvalidInputError(f"weights must be one of {', '.join(KAPPA_WEIGHTS)}, got {weights!r}")
    m, cats = confusion_matrix(cat_a, cat_b, categories=categories)
    n = m.sum()
    if n == 0:
        raise InvalidInputError("kappa needs at least one pair of labels")
    k = len(cats)
    i, j = np.indices((k, k))
    if k == 1:
        return 1.0
    if weights == "linear":
        w = np.abs(i - j) / (k - 1)
    elif weights == "quadratic":
        w = ((i - j) / (k - 1)) ** 2
    else:
        w = (i != j).astype(float)
    obs = m / n
    exp = np.outer(obs.sum(axis=1), obs.sum(axis=0))
    den = float((w * exp).sum())
    num = float((w * obs).sum())
    if den == 0.0:
        return 1.0 if num == 0.0 else float("nan")
    return 1.0 - num / den


def agreement_summary(auto: Any, ref: Any) -> dict[str, Any]:
    """Every statistic of this module for paired Agatston scores (``auto`` vs ``ref``).

    Returns a JSON-ready dict: ``n``, ``pearson_r``, ``icc_2_1``, ``bland_altman`` (bias, sd,
    limits), ``categories`` (the auto and ref risk category per case), ``weighted_kappa_linear``,
    ``confusion_matrix`` (rows auto, columns ref) and ``category_order``.
    """
    a, r = _paired(auto, ref)
    ca = [risk_category(v) for v in a]
    cr = [risk_category(v) for v in r]
    m, cats = confusion_matrix(ca, cr, categories=RISK_CATEGORIES)
    return {
        "n": int(a.size),
        "pearson_r": pearson_r(a, r),
        "icc_2_1": icc_2_1(a, r),
        "bland_altman": bland_altman(a, r).as_dict(),
        "categories": {"auto": ca, "ref": cr},
        "weighted_kappa_linear": weighted_kappa(ca, cr, weights="linear", categories=RISK_CATEGORIES),
        "category_agreement": float(np.trace(m) / m.sum()),
        "confusion_matrix": m.tolist(),
        "category_order": list(cats),
    }


def bland_altman_figure(auto: Any, ref: Any, *, title: str = "Bland-Altman", units: str = "",
                        labels: Sequence[str] | None = None, figsize: tuple[float, float] = (5.0, 4.0),
                        dpi: int = 100) -> Any:
    """A Bland-Altman plot (difference vs mean) as a :class:`matplotlib.figure.Figure`.

    The figure is created without pyplot (no global figure registry, no backend switch) and carries
    an Agg canvas, so ``fig.savefig(path)`` works headless and a Qt widget can adopt it.

    Parameters
    ----------
    auto, ref
        Paired measurements; differences are ``auto - ref``.
    title, units
        Axis title and units (e.g. ``'Agatston'``) shown in the axis labels.
    labels
        Optional case names, written next to points outside the limits of agreement.
    """
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as exc:  # matplotlib is an optional dependency of the core
        raise InvalidInputError("the Bland-Altman figure needs matplotlib; pip install matplotlib") from exc
    a, r = _paired(auto, ref)
    ba = bland_altman(a, r)
    mean = (a + r) / 2.0
    diff = a - r
    fig = Figure(figsize=figsize, dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.scatter(mean, diff, s=18, color="tab:blue", alpha=0.8, zorder=3)
    u = f" ({units})" if units else ""
    for y, style, text in ((ba.bias, "-", f"bias {ba.bias:.3g}"),
                           (ba.loa_high, "--", f"+1.96 SD {ba.loa_high:.3g}"),
                           (ba.loa_low, "--", f"-1.96 SD {ba.loa_low:.3g}")):
        ax.axhline(y, color="tab:red" if style == "-" else "tab:gray", linestyle=style, linewidth=1)
        ax.annotate(text, xy=(1.0, y), xycoords=("axes fraction", "data"), xytext=(-4, 2),
                    textcoords="offset points", ha="right", va="bottom", fontsize=8)
    if labels is not None:
        names = list(labels)
        if len(names) != a.size:
            raise InvalidInputError(f"labels has {len(names)} names for {a.size} pairs")
        for x, y, name in zip(mean, diff, names):
            if y > ba.loa_high or y < ba.loa_low:
                ax.annotate(str(name), xy=(x, y), xytext=(3, 3), textcoords="offset points", fontsize=7)
    ax.set_xlabel(f"mean of auto and reference{u}")
    ax.set_ylabel(f"auto - reference{u}")
    ax.set_title(f"{title} (n = {ba.n})")
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    return fig
