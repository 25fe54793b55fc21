"""Is an input like the cases a model was trained on? A plain verdict with the numbers behind it.

A segmentation model trained on a few cases fails quietly on scans unlike them (another scanner,
another preparation, white-matter disease it never saw). Every prediction therefore carries four
signals, each compared with the same signal on the model's own training cases:

``intensity distance`` (per channel)
    The 1-D Wasserstein distance between the input's intensity distribution inside the brain (as the
    network sees it: after :func:`~napari_medai.core.inference.prepare.prepare_input`) and the average
    distribution of the training cases (the mean of their quantile functions, which is the
    Wasserstein barycentre in 1-D). In the units the network sees (SD of the brain for z-scored
    models). A linear change of a file's intensities is removed by the normalisation and is,
    rightly, invisible here; a change of contrast, a bias field, a swapped or wrong sequence is not.
``neighbour correlation`` (per channel)
    The correlation of each brain voxel's intensity with its neighbour's (averaged over the axes):
    about 0.9 for MR at 2 mm; lower for noisy or scrambled images, higher for blurred or
    up-sampled ones.
``uncertainty``
    The mean entropy of the output probabilities (bits; the largest over regions for sigmoid
    outputs) over the voxels where some tumour probability exceeds 0.1. With test-time augmentation
    the probabilities are flip averages, which raises it slightly (a stricter check).
``tumour fraction``
    The predicted foreground volume as a fraction of the brain region (a model that paints the
    white matter of the whole brain as tumour is caught here), against the training cases'
    fractions, expert-labelled and predicted by the kept weights (all of them together).
``scatter``
    The share of the predicted foreground outside its largest connected component (26-connected): a
    glioma is mostly one lesion, while false positives spread over the white matter are many; against
    the training cases' labelled and predicted scatter.

Limits come from the training cases alone. For each signal the training values span a range; the
range is widened by the largest *leave-one-out surprise* among them -- how far the most extreme
training case lies beyond the range of the others (so a held-out case as unusual as the most unusual
training case passes) -- and by at least a small floor (:data:`FLOORS`). For the intensity distance
the training values are themselves leave-one-out: each case's distance to the barycentre of the
others. The verdict is ``"unlike the training cases: check carefully"`` when any signal lies beyond
its limit, ``"like the training cases"`` otherwise, and ``"no reference statistics"`` for models
whose folder holds none (written before this check existed, or from elsewhere).

The reference (:func:`build_reference`) is written into ``model.json`` (``training.ood_reference``)
at the end of training by :class:`~napari_medai.core.recipes.SegmentationRecipe`; :func:`check_prediction`
is called by :func:`~napari_medai.core.inference.segmentation.predict` for every prediction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "FLOORS",
    "LIKE",
    "NO_REFERENCE",
    "REFERENCE_KEY",
    "UNLIKE",
    "Quality",
    "assess",
    "build_reference",
    "check_prediction",
    "intensity_profile",
    "prediction_signals",
    "scatter",
    "wasserstein",
]

#: Where the reference statistics live in ``model.json`` (under ``training``).
REFERENCE_KEY = "ood_reference"
LIKE = "like the training cases"
UNLIKE = "unlike the training cases: check carefully"
NO_REFERENCE = "no reference statistics: cannot tell whether the input is like the training cases"
#: Quantile levels kept per channel (midpoints of 100 equal-probability bins).
QUANTILE_LEVELS = (np.arange(100) + 0.5) / 100.0
#: Percentiles reported per channel.
PERCENTILES = (1, 5, 25, 50, 75, 95, 99)
#: Least widening of each limit: intensity distance as a fraction of the training cases' mean
#: 1st-99th percentile spread; correlation, entropy (bits) and tumour fraction as absolute values.
FLOORS: dict[str, float] = {"intensity_distance": 0.02, "neighbour_correlation": 0.05, "uncertainty_bits": 0.05,
                            "tumour_fraction": 0.02, "scatter": 0.1}
#: Foreground probability above which a voxel counts towards the uncertainty.
CANDIDATE_PROBABILITY = 0.1
REFERENCE_VERSION = 1


# ---------------------------------------------------------------------------------------------
# per case
# ---------------------------------------------------------------------------------------------
def brain_voxels(x: np.ndarray) -> np.ndarray:
    """The brain region of a prepared ``(C, *spatial)`` input: voxels where any channel is non-zero
    (the normalisation sets the background to exactly 0)."""
    return np.any(np.asarray(x) != 0, axis=0)


def _neighbour_correlation(v: np.ndarray, brain: np.ndarray) -> float:
    rs = []
    for ax in range(v.ndim):
        n = v.shape[ax]
        if n < 2:
            continue
        a = [slice(None)] * v.ndim
        b = [slice(None)] * v.ndim
        a[ax], b[ax] = slice(0, n - 1), slice(1, n)
        both = brain[tuple(a)] & brain[tuple(b)]
        if both.sum() < 3:
            continue
        xa, xb = v[tuple(a)][both].astype(np.float64), v[tuple(b)][both].astype(np.float64)
        sa, sb = xa.std(), xb.std()
        if sa > 0 and sb > 0:
            rs.append(float(np.mean((xa - xa.mean()) * (xb - xb.mean())) / (sa * sb)))
    return float(np.mean(rs)) if rs else float("nan")


def intensity_profile(x: np.ndarray, channels: Sequence[str] | None = None) -> dict[str, Any]:
    """Intensity statistics of a prepared ``(C, *spatial)`` input inside its brain region.

    Returns
    -------
    dict
        ``brain_voxels`` and, per channel (``channels`` names them; default ``c0``, ``c1``...):
        ``percentiles`` (:data:`PERCENTILES`), ``quantiles`` (at :data:`QUANTILE_LEVELS`: the
        distribution, from which a histogram or a distance follows) and ``neighbour_correlation``.
    """
    arr = np.asarray(x)
    brain = brain_voxels(arr)
    names = list(channels) if channels is not None else [f"c{i}" for i in range(arr.shape[0])]
    out: dict[str, Any] = {"brain_voxels": int(brain.sum()), "channels": {}}
    for name, v in zip(names, arr):
        vals = v[brain].astype(np.float64)
        if vals.size == 0:
            out["channels"][name] = None
            continue
        out["channels"][name] = {
            "percentiles": {str(p): round(float(q), 4) for p, q in zip(PERCENTILES, np.percentile(vals, PERCENTILES))},
            "quantiles": [round(float(q), 4) for q in np.quantile(vals, QUANTILE_LEVELS)],
            "neighbour_correlation": round(_neighbour_correlation(v, brain), 4),
        }
    return out


def prediction_signals(probs: np.ndarray, *, output_kind: str, threshold: float, brain: np.ndarray) -> dict[str, float]:
    """Uncertainty and predicted tumour fraction of ``(C_out, *spatial)`` probabilities on the grid of ``brain``.

    ``output_kind`` is the contract's (``"sigmoid-regions"``: regions thresholded at ``threshold``;
    ``"softmax-labels"``: class 0 is background).
    """
    p = np.clip(np.asarray(probs, dtype=np.float64), 1e-7, 1 - 1e-7)
    if output_kind == "sigmoid-regions":
        fg_prob = p.max(axis=0)
        predicted = fg_prob >= threshold
        ent = (-(p * np.log2(p) + (1 - p) * np.log2(1 - p))).max(axis=0)
    else:
        fg_prob = 1.0 - p[0]
        predicted = np.argmax(p, axis=0) > 0
        ent = -(p * np.log(p)).sum(axis=0) / math.log(max(p.shape[0], 2))
    cand = fg_prob > CANDIDATE_PROBABILITY
    n_brain = int(np.count_nonzero(brain))
    return {
        "uncertainty_bits": round(float(ent[cand].mean()), 4) if cand.any() else 0.0,
        "tumour_fraction": round(float(np.count_nonzero(predicted & brain)) / max(n_brain, 1), 5),
        "scatter": round(scatter(predicted & brain), 4),
        "candidate_voxels": int(np.count_nonzero(cand)),
    }


def scatter(mask: np.ndarray) -> float:
    """Share of a mask's voxels outside its largest 26-connected component (0 for an empty mask)."""
    from scipy import ndimage as ndi

    m = np.asarray(mask, bool)
    total = int(m.sum())
    if total == 0:
        return 0.0
    lab, n = ndi.label(m, structure=np.ones((3,) * m.ndim, bool))
    return 1.0 - float(np.bincount(lab.ravel())[1:].max()) / total if n > 1 else 0.0


def wasserstein(q1: Sequence[float], q2: Sequence[float]) -> float:
    """1-D Wasserstein distance of two distributions given by quantiles at the same levels."""
    return float(np.mean(np.abs(np.asarray(q1, float) - np.asarray(q2, float))))


# ---------------------------------------------------------------------------------------------
# the reference
# ---------------------------------------------------------------------------------------------
def _widened(values: Sequence[float], floor: float, *, low: bool) -> tuple[float | None, float | None]:
    """``(lower, upper)`` limits: the range widened by the largest leave-one-out surprise (at least ``floor``)."""
    v = sorted(float(x) for x in values if x is not None and math.isfinite(float(x)))
    if len(v) < 2:
        return None, None
    hi = v[-1] + max(v[-1] - v[-2], floor)
    lo = v[0] - max(v[1] - v[0], floor) if low else None
    return lo, hi


def build_reference(cases: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The reference statistics of a model's training cases and the limits drawn from them.

    Parameters
    ----------
    cases
        One mapping per training (and validation) case: ``name``, ``profile``
        (:func:`intensity_profile`), ``truth_fraction`` (the expert-labelled foreground as a fraction
        of the brain), ``truth_scatter`` (:func:`scatter` of the labelled foreground) and, when the
        trained model was run on it, ``uncertainty_bits``, ``tumour_fraction`` and ``scatter``
        (:func:`prediction_signals`).

    Returns
    -------
    dict
        JSON-friendly: ``cases`` (per-case signals), ``barycentre`` (mean quantiles per channel),
        ``limits`` and ``rule``. Fewer than 2 cases give no limits (the check then says so).
    """
    cases = [c for c in cases if c.get("profile")]
    chans = sorted({ch for c in cases for ch, v in c["profile"]["channels"].items() if v is not None},
                   key=lambda ch: list(cases[0]["profile"]["channels"]).index(ch) if ch in cases[0]["profile"]["channels"]
                   else 99)
    per_case: list[dict[str, Any]] = []
    bary: dict[str, list[float]] = {}
    limits: dict[str, Any] = {"intensity_distance": {}, "neighbour_correlation": {}}
    for ch in chans:
        qs = [np.asarray(c["profile"]["channels"][ch]["quantiles"], float) for c in cases
              if c["profile"]["channels"].get(ch)]
        bary[ch] = [round(float(x), 4) for x in np.mean(qs, axis=0)]
    for i, c in enumerate(cases):
        rec: dict[str, Any] = {"name": c.get("name", f"case{i}"), "intensity_distance": {},
                               "neighbour_correlation": {}}
        for ch in chans:
            prof = c["profile"]["channels"].get(ch)
            if not prof:
                continue
            others = [np.asarray(o["profile"]["channels"][ch]["quantiles"], float) for j, o in enumerate(cases)
                      if j != i and o["profile"]["channels"].get(ch)]
            if others:
                rec["intensity_distance"][ch] = round(wasserstein(prof["quantiles"], np.mean(others, axis=0)), 4)
            rec["neighbour_correlation"][ch] = prof["neighbour_correlation"]
        for k in ("truth_fraction", "tumour_fraction", "uncertainty_bits", "truth_scatter", "scatter"):
            if c.get(k) is not None:
                rec[k] = round(float(c[k]), 5)
        per_case.append(rec)
    for ch in chans:
        spreads = [c["profile"]["channels"][ch]["percentiles"]["99"] - c["profile"]["channels"][ch]["percentiles"]["1"]
                   for c in cases if c["profile"]["channels"].get(ch)]
        floor = FLOORS["intensity_distance"] * float(np.mean(spreads)) if spreads else 0.0
        limits["intensity_distance"][ch] = _widened([r["intensity_distance"].get(ch) for r in per_case], floor,
                                                    low=False)[1]
        limits["neighbour_correlation"][ch] = list(_widened([r["neighbour_correlation"].get(ch) for r in per_case],
                                                            FLOORS["neighbour_correlation"], low=True))
    limits["tumour_fraction"] = _widened([r.get(k) for r in per_case for k in ("truth_fraction", "tumour_fraction")],
                                         FLOORS["tumour_fraction"], low=False)[1]
    limits["scatter"] = _widened([r.get(k) for r in per_case for k in ("truth_scatter", "scatter")],
                                 FLOORS["scatter"], low=False)[1]
    limits["uncertainty_bits"] = _widened([r.get("uncertainty_bits") for r in per_case], FLOORS["uncertainty_bits"],
                                          low=False)[1]
    return {
        "version": REFERENCE_VERSION, "n_cases": len(per_case), "channels": chans, "cases": per_case,
        "barycentre": bary, "limits": limits,
        "rule": "range of the training cases widened by the largest leave-one-out surprise (at least "
                + ", ".join(f"{k} {v:g}" for k, v in FLOORS.items()) + "; intensity distance floor x the 1-99 "
                "percentile spread)",
    }


# ---------------------------------------------------------------------------------------------
# the verdict
# ---------------------------------------------------------------------------------------------
@dataclass
class Quality:
    """The out-of-distribution verdict of one prediction.

    Attributes
    ----------
    verdict
        :data:`LIKE`, :data:`UNLIKE` or :data:`NO_REFERENCE`.
    like
        True / False, or ``None`` without reference statistics.
    reasons
        One sentence per signal beyond its limit.
    numbers
        Every signal with its limit: ``{signal: {"value": ..., "limit": ...}}`` (per channel for the
        intensity signals).
    """

    verdict: str
    like: bool | None
    reasons: list[str] = field(default_factory=list)
    numbers: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly."""
        return {"verdict": self.verdict, "like_training_cases": self.like, "reasons": list(self.reasons),
                "numbers": self.numbers}

    def details(self) -> str:
        """The numbers behind the verdict, one line per signal (for a tooltip or a log)."""
        lines = []
        for sig, val in self.numbers.items():
            if isinstance(val, Mapping) and "value" not in val:
                for ch, v in val.items():
                    lines.append(f"{sig} {ch}: {_fmt(v)}")
            else:
                lines.append(f"{sig}: {_fmt(val)}")
        return "\n".join([*self.reasons, *lines])


def _fmt(v: Any) -> str:
    if not isinstance(v, Mapping):
        return str(v)
    lim = v.get("limit")
    if isinstance(lim, (list, tuple)):
        lim_s = " - ".join("-" if x is None else f"{x:.3g}" for x in lim)
    else:
        lim_s = "none" if lim is None else f"{lim:.3g}"
    val = v.get("value")
    return f"{'n/a' if val is None else format(val, '.3g')} (limit {lim_s})"


def assess(reference: Mapping[str, Any] | None, profile: Mapping[str, Any], signals: Mapping[str, float]) -> Quality:
    """The verdict of one input (:func:`intensity_profile`) and its prediction (:func:`prediction_signals`)
    against a model's reference (:func:`build_reference`; ``None``: no reference statistics)."""
    numbers: dict[str, Any] = {
        "uncertainty_bits": {"value": signals.get("uncertainty_bits"), "limit": None},
        "tumour_fraction": {"value": signals.get("tumour_fraction"), "limit": None},
        "scatter": {"value": signals.get("scatter"), "limit": None},
        "neighbour_correlation": {ch: {"value": p["neighbour_correlation"], "limit": None}
                                  for ch, p in profile.get("channels", {}).items() if p},
    }
    if not reference or not reference.get("limits") or int(reference.get("n_cases", 0)) < 2:
        return Quality(NO_REFERENCE, None, [], numbers)
    lim = reference["limits"]
    reasons: list[str] = []
    dist: dict[str, Any] = {}
    for ch, q in reference.get("barycentre", {}).items():
        p = profile.get("channels", {}).get(ch)
        if not p:
            continue
        d = wasserstein(p["quantiles"], q)
        hi = lim["intensity_distance"].get(ch)
        dist[ch] = {"value": round(d, 4), "limit": hi}
        if hi is not None and d > hi:
            reasons.append(f"{ch} intensities differ from the training cases' (distance {d:.3g} > {hi:.3g})")
    numbers["intensity_distance"] = dist
    for ch, entry in numbers["neighbour_correlation"].items():
        lo, hi = (lim["neighbour_correlation"].get(ch) or [None, None])
        entry["limit"] = [lo, hi]
        r = entry["value"]
        if r is None or not math.isfinite(r):
            continue
        if lo is not None and r < lo:
            reasons.append(f"{ch} is noisier or less structured than the training cases (neighbour correlation "
                           f"{r:.3g} < {lo:.3g})")
        elif hi is not None and r > hi:
            reasons.append(f"{ch} is smoother than the training cases (neighbour correlation {r:.3g} > {hi:.3g})")
    for key, words in (("uncertainty_bits", "the model is unsure (mean entropy {v:.3g} bits > {h:.3g})"),
                       ("tumour_fraction", "the predicted tumour is {v:.1%} of the brain, more than the training "
                                           "cases allow ({h:.1%})"),
                       ("scatter", "{v:.0%} of the predicted tumour lies outside its largest component, more "
                                   "scattered than the training cases allow ({h:.0%})")):
        if key not in lim:  # references written before the signal existed
            continue
        hi = lim.get(key)
        numbers[key]["limit"] = hi
        v = signals.get(key)
        if hi is not None and v is not None and v > hi:
            reasons.append(words.format(v=v, h=hi))
    return Quality(UNLIKE if reasons else LIKE, not reasons, reasons, numbers)


def check_prediction(
    x: np.ndarray, probs: np.ndarray, *, output_kind: str, threshold: float, reference: Mapping[str, Any] | None,
    channels: Sequence[str] | None = None,
) -> Quality:
    """The verdict of a prepared input ``x`` and the probabilities the model gave on its grid."""
    profile = intensity_profile(x, channels)
    signals = prediction_signals(probs, output_kind=output_kind, threshold=threshold, brain=brain_voxels(x))
    q = assess(reference, profile, signals)
    q.numbers["brain_voxels"] = profile["brain_voxels"]
    q.numbers["candidate_voxels"] = signals["candidate_voxels"]
    return q
