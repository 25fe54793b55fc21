"""The Alzheimer widget's words: layer names, tooltips, and the core's results as the sentences it shows.

Nothing is computed here: every figure comes from the core's result objects
(:class:`~napari_medai.core.tasks.alzheimer.registration.RegistrationResult` metrics,
:class:`~napari_medai.core.tasks.alzheimer.landmarks.LandmarkResult`, the classifier's prediction and
evaluation); this module only words them, and the command line's flags become the widget's controls.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ...core.errors import MedaiError

#: Names of the layers the widget adds.
TEMPLATE = "MNI152 template"
TEMPLATE_BRAIN = "MNI152 brain outline"
P_MAP = "AD vs NC -log10 p"
LANDMARKS = "landmarks"
CONTRIBUTIONS = "landmark contributions"
SALIENCY = "AD saliency"

#: The keys that run the shown tab's action (not used by napari itself).
RUN_SHORTCUT = "Ctrl+Shift+A"

#: Alignment choices of a cohort: (shown text, ``align`` of the core's ``discover_landmarks``).
ALIGN_CHOICES = (("register each T1 to MNI152 (auto)", "auto"), ("register each T1 to MNI152", "register"),
                 ("already aligned (one common grid)", "skip"))
#: Grid choices of a registration: (shown text, ``spacing_mm``; None = the template's own).
GRID_CHOICES = (("2 mm (faster; the cohort preset)", 2.0), ("the template's own (1 mm for MNI152)", None))

TIPS = {
    "t1": "The T1-weighted head image to align or classify (skull and neck may be on); only Image layers are offered",
    "template": "The MNI152 2009a T1 template (mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz); its GM / WM maps "
                "beside it give the brain mask. nilearn's wheel ships it.",
    "grid": "The grid the T1 is resampled onto: the template's own (1 mm) or a coarser 2 mm copy (8 times fewer "
            "voxels, about half the time)",
    "align": "Register the T1 to MNI152 off the GUI thread (affine; the correlation inside the template's brain is "
             "shown before and after; a clearly failed fit is refused with its reason)",
    "cohort": "The cohort folder: t1/<subject>.nii.gz (as 'napari-medai alzheimer simulate-cohort' writes it) or "
              "<subject>.nii.gz",
    "labels": "A CSV with a subject and a diagnosis column (AD, NC or CN)",
    "write_cohort": "Write the open subject layers that carry a diagnosis (File > Open Sample > T1 brain cohort) to "
                    "a folder of your choice, with their labels.csv, and use them here",
    "n": "L, the number of landmarks: the most significant voxels of the AD vs NC comparison (50 in Liu et al. 2018)",
    "distance": "The smallest distance between two landmarks",
    "alignment": "How the cohort is brought onto one grid: registered to MNI152 (skipped when the T1s already lie on "
                 "its grid), or trusted to be aligned already",
    "find": "Align the cohort, compare AD with NC voxel by voxel (Welch's t-test) and pick the landmarks (off the "
            "GUI thread; Cancel stops it and adds nothing)",
    "model": "A napari-medai model folder trained for Alzheimer's disease (model.json + model.pt)",
    "aligned": "The T1 already lies on the model's MNI152 grid: registration is skipped",
    "predict": "Register the T1, then the probability of AD, each landmark's contribution (occlusion) and a "
               "saliency map",
    "evaluate": "Predict every subject of a labelled cohort: the ROC curve, AUC with its DeLong 95 % confidence "
                "interval, and accuracy / sensitivity / specificity at the threshold",
    "threshold": "P(AD) at or above which a subject is called AD; the figures below follow it at once",
}


def gui_words(text: str) -> str:
    """A core message with the command line's flags replaced by the widget's controls."""
    for flag, control in (("--cohort", "'cohort folder'"), ("--labels", "'labels CSV'"),
                          ("--n", "'landmarks L'"), ("--min-distance", "'min distance'"),
                          ("--template", "'template'"), ("--model", "'model'"), ("--t1", "'T1'"),
                          ("--drop-failed", "leaving its row out of the labels CSV"),
                          ("--aligned", "'alignment'")):
        text = re.sub(rf"(?<![\w-]){re.escape(flag)}(?![\w-])", control, text)
    return re.sub(r"(?<![\w-])--[a-z][a-z-]*", "the matching setting", text)


def reworded(exc: MedaiError) -> MedaiError:
    """The same error (same class, metrics kept) with :func:`gui_words`."""
    text = gui_words(str(exc))
    if text == str(exc):
        return exc
    try:
        new = type(exc)(text, exc.metrics) if hasattr(exc, "metrics") else type(exc)(text)
    except TypeError:
        new = MedaiError(text)
    return new


# ------------------------------------------------------------------ registration
def registration_text(metrics: dict[str, Any]) -> str:
    """The correlation inside the template's brain before and after, and how the fit was judged."""
    before, after = metrics.get("correlation_before"), metrics.get("correlation_after")
    head = (f"Correlation inside the template's brain: {before:.2f} after initialisation → {after:.2f} after the "
            "affine fit" if before is not None and after is not None else "No correlation was measured")
    facts = []
    if metrics.get("brain_coverage") is not None:
        facts.append(f"brain in view {100 * float(metrics['brain_coverage']):.0f} %")
    if metrics.get("scales"):
        facts.append("scales " + " / ".join(f"{float(s):.2f}" for s in metrics["scales"]))
    if metrics.get("initialisation"):
        facts.append(f"start: {metrics['initialisation']}")
    if metrics.get("seconds") is not None:
        facts.append(f"{float(metrics['seconds']):.1f} s")
    verdict = "accepted" if metrics.get("accepted", True) else f"REFUSED: {metrics.get('reason')}"
    return f"{head} ({', '.join(facts)}); {verdict}."


# ------------------------------------------------------------------ landmarks
def landmarks_text(result: Any, asked: int) -> str:
    """How many landmarks were found, from how many subjects, and how the cohort was aligned."""
    lms = result.landmarks
    maps = result.maps
    best = min((lm.p_value for lm in lms), default=1.0)
    fewer = f" (of {asked} asked: the brain mask holds no more at this distance)" if len(lms) < asked else ""
    return (f"{len(lms)} landmarks{fewer} from {maps.n_ad} AD and {maps.n_nc} NC subjects; smallest p "
            f"{best:.2g}; {result.seconds.get('total', 0.0):.1f} s. {result.cohort.note}.")


def neg_log10(p: np.ndarray) -> np.ndarray:
    """-log10 p as float32 (p clipped at 1e-300, so a p of 0 stays finite)."""
    return (-np.log10(np.clip(np.asarray(p, dtype=np.float64), 1e-300, 1.0))).astype(np.float32)


# ------------------------------------------------------------------ prediction
def prediction_text(pred: Any) -> tuple[str, bool]:
    """The headline of a prediction and whether it is a warning (an untrained model shows no probability)."""
    if not pred.trained:
        return ("This model is not trained (random weights): no probability is shown. Train one with "
                "'Alzheimer training' or 'napari-medai train alzheimer'.", True)
    return (f"P(AD) = {pred.probability:.2f} (threshold {pred.threshold:.2f}): {pred.decision}", False)


def model_text(pred: Any) -> str:
    """Which model spoke, what it was trained on, and how the T1 was aligned."""
    reg = pred.registration or {}
    aligned = (registration_text(reg) if reg.get("correlation_after") is not None
               else "The T1 was taken as already aligned to the model's grid.")
    return f"Model {pred.model_name}, trained on {pred.trained_on or 'nothing'}. {aligned}"


def contribution_legend(contributions: np.ndarray) -> str:
    """What the landmark colours mean, with the range shown."""
    c = np.asarray(contributions, dtype=float)
    if c.size == 0:
        return "This model has no landmarks (a whole-brain model): see the saliency layer."
    return (f"Landmark colour: the drop of P(AD) when its patch is hidden (occlusion). Red: the patch pushes "
            f"towards AD (up to {c.max():+.3f}); blue: towards NC (down to {c.min():+.3f}); white: no effect.")


# ------------------------------------------------------------------ evaluation
def evaluation_text(ev: Any) -> str:
    """AUC with its DeLong 95 % confidence interval and the cohort's size."""
    truth = np.asarray(ev.truth)
    lo, hi = ev.auc_ci
    return (f"AUC {ev.auc:.3f} [DeLong 95 % CI {lo:.3f}-{hi:.3f}] on {truth.size} subjects "
            f"({int(truth.sum())} AD / {int(truth.size - truth.sum())} NC)")


def threshold_text(threshold: float, figures: dict[str, Any]) -> str:
    """Accuracy, sensitivity and specificity at ``threshold`` (from the evaluation's ``at_threshold``)."""
    def pct(key: str) -> str:
        v = figures.get(key)
        return "–" if v is None or (isinstance(v, float) and v != v) else f"{100 * float(v):.1f} %"

    return (f"At P(AD) ≥ {threshold:.2f}: accuracy {pct('accuracy')}, sensitivity {pct('sensitivity')}, "
            f"specificity {pct('specificity')}")


__all__ = ["ALIGN_CHOICES", "CONTRIBUTIONS", "GRID_CHOICES", "LANDMARKS", "P_MAP",
           "RUN_SHORTCUT", "SALIENCY", "TEMPLATE", "TEMPLATE_BRAIN", "TIPS", "contribution_legend",
           "evaluation_text", "gui_words", "landmarks_text", "model_text", "neg_log10", "prediction_text",
           "registration_text", "reworded", "threshold_text"]
