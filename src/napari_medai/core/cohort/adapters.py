"""Task adapters: how a cohort run finds the cases of a task and runs one of them.

A :class:`TaskAdapter` maps a task name to three things: how to find its cases in a cohort folder,
the per-case function (which calls the task's own core functions -- the same ones the task's
command and widget call -- and never re-implements them), and the outputs it writes.

* ``brain-tumour``: one sub-folder per case with BraTS file names
  (:func:`~napari_medai.core.tasks.brain_tumour.find_cases`); a trained model
  (:func:`~napari_medai.core.tasks.brain_tumour.segment`, ``method=model``) or the weight-free
  baseline (``method=threshold``, FLAIR + T1c); writes ``NAME_seg.nii.gz``.
* ``stroke``: an ISLES'22 BIDS folder or one folder per case
  (:func:`~napari_medai.core.tasks.stroke.model.find_stroke_cases`);
  :func:`~napari_medai.core.tasks.stroke.segment.segment_stroke`; writes ``NAME_lesions.nii.gz``
  (and ``NAME_probability.nii.gz`` when asked), the lesion table in the record.
* ``cac``: one CT per case, a file or a DICOM folder, ``NAME_assignment`` beside it its reference
  (:func:`.cases.find_image_cases`); ``find_candidates``, ``auto_assign``, ``score`` of
  :mod:`napari_medai.core.tasks.cac`; writes ``NAME_cac.json``, ``NAME_cac.csv``,
  ``NAME_assignment.nii.gz``; option ``dicom`` (``--dicom-results``) adds, for a DICOM series,
  ``NAME_seg.dcm`` and ``NAME_sr.dcm`` (:func:`~napari_medai.core.io.dicom_seg.write_dicom_seg`,
  :func:`~napari_medai.core.io.dicom_sr.write_dicom_sr`, as ``napari-medai cac --dicom-seg --dicom-sr``).
* ``denoise``: one CT per case, ``NAME_fd`` (or ``NAME_reference``) beside it its full-dose
  reference; :func:`napari_medai.core.tasks.ldct.denoise`; writes ``NAME_<method>.nii.gz``.
* ``evaluate``: the prediction folder, paired by case name with the reference folder (option
  ``gt``); :func:`napari_medai.core.evaluate.evaluate_volumes`; the table in the record.

When a case has a ground truth (a BraTS or ISLES label map, a reference calcium assignment, a
full-dose image), the record also holds its agreement with it: the evaluation table for
segmentations (summarised over the cohort with bootstrap CIs by :mod:`.report`), the reference
scores for calcium, image quality for denoising.

Per-case functions run in Dask worker processes. Models are loaded once per worker process and
kept (:func:`cached_model`).
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..callbacks import ProgressFn
from ..errors import InvalidInputError, MedaiWarning
from ..tasks.brain_tumour import DEFAULT_INFERENCE
from .cases import CohortCase, find_image_cases, safe_case_name

__all__ = [
    "ADAPTERS",
    "CaseOutput",
    "TaskAdapter",
    "cached_model",
    "evaluation_entry",
    "get_adapter",
    "make_convention",
]


@dataclass
class CaseOutput:
    """What a per-case function returns.

    Attributes
    ----------
    outputs
        ``{role: file name}`` of the files written into the case folder.
    figures
        The case's headline numbers, flat and JSON-friendly (the summary table's columns).
    report
        The task's full report of the case (JSON-friendly).
    evaluation
        The agreement with the ground truth (:func:`evaluation_entry`), when there is one.
    notes
        Warnings and remarks, one line each.
    """

    outputs: dict[str, str] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    evaluation: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


#: ``find(cohort_folder, options) -> cases``.
FindFn = Callable[[Path, Mapping[str, Any]], list[CohortCase]]
#: ``run(case, case_folder, model, options, progress) -> CaseOutput``.
RunFn = Callable[[CohortCase, Path, Any, Mapping[str, Any], ProgressFn | None], CaseOutput]


@dataclass(frozen=True)
class TaskAdapter:
    """How a cohort run handles one task.

    Attributes
    ----------
    name
        Task name (what ``napari-medai batch TASK`` takes).
    description
        One line for listings.
    find
        :data:`FindFn`: the cases of a cohort folder.
    run
        :data:`RunFn`: the work of one case (in a worker process).
    defaults
        Every option the task takes, with its default; others are refused.
    outputs
        Short description of the files written per case.
    version
        Bumped when the per-case work changes, so earlier results are not reused.
    model_default
        The model used when none is given (None: the task needs none, or needs one given).
    takes_model
        False when the task uses no model (a model given is then refused).
    passthrough
        The option (a dict) that collects options the adapter does not know, for tasks whose
        methods take their own parameters (denoise: ``weight=40`` goes to the method's ``options``).
    resolve_model
        ``resolve_model(model, options) -> model``: checks that the model fits the options (before
        any case runs) and returns the model the cases use (None when the chosen method needs none).
    """

    name: str
    description: str
    find: FindFn
    run: RunFn
    defaults: Mapping[str, Any]
    outputs: str
    version: int = 1
    model_default: str | None = None
    takes_model: bool = True
    passthrough: str | None = None
    resolve_model: Callable[[Any, Mapping[str, Any]], Any] | None = None

    def check_options(self, options: Mapping[str, Any] | None) -> dict[str, Any]:
        """The defaults updated with ``options``; an unknown option raises a one-line error (or, for a
        task with ``passthrough``, goes into that option: the denoising method's own parameters)."""
        given = dict(options or {})
        if self.passthrough is not None:
            extra = {k: given.pop(k) for k in sorted(set(given) - set(self.defaults))}
            if extra:
                given[self.passthrough] = {**dict(given.get(self.passthrough) or {}), **extra}
        unknown = sorted(set(given) - set(self.defaults))
        if unknown:
            known = ", ".join(sorted(self.defaults)) or "none"
            raise InvalidInputError(f"task {self.name!r} has no option {', '.join(unknown)}; its options: {known}")
        return {**self.defaults, **given}

    def model_for(self, model: Any, options: Mapping[str, Any]) -> Any:
        """The model the cases use: ``model`` or the task's default, checked against the options."""
        if model is not None and not self.takes_model:
            raise InvalidInputError(f"task {self.name!r} uses no model; leave --model out")
        if self.resolve_model is not None:
            return self.resolve_model(model, options)
        return model if model is not None else self.model_default


# ------------------------------------------------------------------------------------ helpers
_MODEL_CACHE: dict[tuple[str, str], Any] = {}


def cached_model(model: Any, load: Callable[[Any], Any], *, kind: str) -> Any:
    """``load(model)``, once per worker process for a model given by name or path (kept for the next case)."""
    if not isinstance(model, (str, os.PathLike)):
        return load(model)
    key = (kind, str(model))
    if key not in _MODEL_CACHE:
        _MODEL_CACHE[key] = load(model)
    return _MODEL_CACHE[key]


def make_convention(convention: str | None, regions: str | None = None, empty_rule: str | None = None) -> Any:
    """The label convention of an evaluation (as ``napari-medai evaluate`` builds it from its options)."""
    from ..metrics import custom_convention, get_convention

    if convention is None and regions:
        return custom_convention(regions, empty_rule=empty_rule or "nan")
    return get_convention(convention or "binary", regions=regions, empty_rule=empty_rule)


def evaluation_entry(result: Any, *, convention_args: Mapping[str, Any]) -> dict[str, Any]:
    """A case's :class:`~napari_medai.core.evaluate.CaseResult` as a JSON-friendly dict, with what
    :mod:`.report` needs to rebuild it (``convention_args`` for :func:`make_convention`)."""
    return {**result.to_dict(), "convention": result.convention.name, "convention_args": dict(convention_args),
            "tolerance_mm": result.tolerance_mm, "lesion_style": result.lesion_style}


def _main_metrics(result: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for region, row in result.regions.items():
        for k in ("dice", "hd95_mm", "volume_pred_ml", "volume_gt_ml"):
            if k in row:
                out[f"{region}_{k}"] = row[k]
    return out


def _add_evaluation(res: CaseOutput, prediction: Any, truth: Any, case: CohortCase, *, convention: str,
                    lesion_style: str, resample: Any) -> None:
    """Compare a case's ``prediction`` with its ``truth`` in ``convention``: the entry into ``res.evaluation``,
    the headline figures into ``res.figures``."""
    from ..evaluate import evaluate_volumes

    conv_args = {"convention": convention}
    result = evaluate_volumes(prediction, truth, convention=make_convention(**conv_args), resample=resample,
                              lesion_style=lesion_style, case=case.name)
    res.evaluation = evaluation_entry(result, convention_args=conv_args)
    res.figures.update(_main_metrics(result))


def _catch_warnings(run: Callable[[], Any], notes: list[str]) -> Any:
    """Run ``run()`` recording the package's warnings (e.g. a CT's slice spacing) as notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", MedaiWarning)
        out = run()
    for w in caught:
        if issubclass(w.category, MedaiWarning):
            notes.append(f"warning: {w.message}")
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return out


def _out(case: CohortCase, folder: Path, suffix: str) -> Path:
    return folder / f"{case.name}{suffix}"


# ------------------------------------------------------------------------------- brain tumour
def _find_brain(folder: Path, options: Mapping[str, Any]) -> list[CohortCase]:
    from ..tasks.brain_tumour import find_cases

    out = []
    for c in find_cases(folder):
        inputs = {k: str(p) for k, p in c.channels.items()}
        if c.brainmask is not None:
            inputs["brainmask"] = str(c.brainmask)
        out.append(CohortCase(name=safe_case_name(c.name), inputs=inputs,
                              ground_truth=None if c.label is None else str(c.label), extra={"layout": c.layout}))
    return out


def _run_brain(case: CohortCase, folder: Path, model: Any, options: Mapping[str, Any],
               progress: ProgressFn | None) -> CaseOutput:
    import numpy as np

    from ..inference.labels import region_volumes_ml
    from ..io import read_volume, write_volume
    from ..models import load_model
    from ..tasks.brain_tumour import segment

    res = CaseOutput()
    protect = case.files()
    chans = {k: read_volume(p, as_label=False) for k, p in case.inputs.items() if k != "brainmask"}
    mask = read_volume(case.inputs["brainmask"], as_label=True) if "brainmask" in case.inputs else None
    layout = case.extra.get("layout")
    convention = options["convention"] or (layout if case.ground_truth is not None else None)
    if options["method"] == "threshold":
        from ..tasks.brain_tumour_baseline import MODEL_NAME
        from ..tasks.brain_tumour_baseline import segment as baseline

        missing = [k for k in ("flair", "t1c") if k not in chans]
        if missing:
            raise InvalidInputError(f"case {case.name}: the threshold baseline needs FLAIR and T1c; "
                                    f"{' and '.join(missing)} missing in {case.extra.get('folder', 'the case folder')}")
        labels = baseline(chans["flair"], chans["t1c"], brainmask=mask)
        convention = convention or "brats2021"
        if convention == "brats2023":  # the baseline writes BraTS 2021 labels; 2023 calls ET 3
            data = np.asarray(labels.data).copy()
            data[data == 4] = 3
            from ..metrics import CONVENTIONS

            labels = labels.with_data(data, label_names=dict(CONVENTIONS["brats2023"].labels))
        labels.meta["convention"] = convention
        regions, _ = region_volumes_ml(labels, convention)
        res.report = {"method": MODEL_NAME, "convention": convention, "region_volumes_ml": regions}
    else:
        lm = cached_model(model, load_model, kind="brain_tumour")
        pred = segment(chans, model=lm, brainmask=mask, convention=convention, device=options["device"],
                       tta=options["tta"], uncertainty=None, min_component_fraction=options["min_component_fraction"],
                       progress=progress)
        labels, regions = pred.labels, pred.region_volumes_ml
        convention = labels.meta.get("convention", convention)
        res.notes += list(pred.notes)
        res.report = {"method": "model", "model": pred.model_name, "trained": pred.is_trained,
                      "convention": convention, "region_volumes_ml": regions, "device": pred.device}
    written = write_volume(labels, _out(case, folder, "_seg.nii.gz"), overwrite=True, protect=protect)
    res.outputs["segmentation"] = written.name
    res.figures = {f"{k}_ml": v for k, v in regions.items()}
    if case.ground_truth is not None and options["evaluate"]:
        gt = read_volume(case.ground_truth, as_label=True)
        _add_evaluation(res, labels, gt, case, convention=layout or convention, lesion_style="brats2023",
                        resample=options["resample"])
    return res


def _brain_model(model: Any, options: Mapping[str, Any]) -> Any:
    if options["method"] not in ("model", "threshold"):
        raise InvalidInputError(f"brain-tumour method {options['method']!r}: use model or threshold")
    if options["method"] == "threshold":
        if model is not None:
            raise InvalidInputError("the threshold baseline uses no model; leave --model out or use --method model")
        return None
    return model if model is not None else "brain-tumour-default"


BRAIN_TUMOUR = TaskAdapter(
    name="brain-tumour",
    description="segment brain tumours (BraTS-named case folders) with a trained model or the threshold baseline",
    find=_find_brain,
    run=_run_brain,
    defaults={"method": "model", "convention": None, **DEFAULT_INFERENCE,
              "device": "cpu", "evaluate": True, "resample": False},
    outputs="NAME_seg.nii.gz (labels in the case's BraTS convention when it has a label map)",
    model_default="brain-tumour-default",
    resolve_model=_brain_model,
)


# ------------------------------------------------------------------------------------- stroke
def _find_stroke(folder: Path, options: Mapping[str, Any]) -> list[CohortCase]:
    from ..tasks.stroke.model import find_stroke_cases

    return [CohortCase(name=safe_case_name(c.name), inputs={k: str(p) for k, p in c.channels.items()},
                       ground_truth=None if c.label is None else str(c.label),
                       extra={"layout": c.layout, "modality": c.modality})
            for c in find_stroke_cases(folder)]


def _run_stroke(case: CohortCase, folder: Path, model: Any, options: Mapping[str, Any],
                progress: ProgressFn | None) -> CaseOutput:
    import numpy as np

    from ..io import read_volume, write_volume
    from ..tasks.stroke.inputs import read_sidecars
    from ..tasks.stroke.model import load_stroke_model
    from ..tasks.stroke.segment import segment_stroke

    res = CaseOutput()
    protect = case.files()
    loaded = None
    if options["method"] == "model":
        loaded = cached_model(model, lambda m: load_stroke_model(m)[0], kind="stroke")
    vols = {k: read_volume(p, as_label=False) for k, p in case.inputs.items() if k != "cta_mirror"}
    sidecars = read_sidecars(**{k: case.inputs.get(k) for k in ("dwi", "adc", "flair")})
    result = segment_stroke(dwi=vols.get("dwi"), adc=vols.get("adc"), flair=vols.get("flair"), cta=vols.get("cta"),
                            mirror=options["mirror"], method=options["method"], model=loaded,
                            adc_unit=options["adc_unit"], sidecars=sidecars,
                            separate_lesions=options["separate_lesions"], progress=progress)
    res.outputs["lesions"] = write_volume(result.labels, _out(case, folder, "_lesions.nii.gz"), overwrite=True,
                                          protect=protect).name
    if options["probability"] and result.probability is not None:
        res.outputs["probability"] = write_volume(result.probability, _out(case, folder, "_probability.nii.gz"),
                                                  overwrite=True, protect=protect).name
    res.report = result.to_json()
    res.notes += list(result.notes)
    res.figures = {"method": result.method, "n_lesions": len(result.lesions),
                   "total_volume_ml": round(result.total_volume_ml, 4)}
    if case.ground_truth is not None and options["evaluate"]:
        gt = read_volume(case.ground_truth, as_label=True)
        binary = result.labels.with_data((np.asarray(result.labels.data) > 0).astype(np.uint8))
        truth = gt.with_data((np.asarray(gt.data) > 0).astype(np.uint8))
        _add_evaluation(res, binary, truth, case, convention="isles", lesion_style="isles",
                        resample=options["resample"])
    return res


def _stroke_model(model: Any, options: Mapping[str, Any]) -> Any:
    from ..tasks.stroke.segment import METHODS

    if options["method"] not in METHODS:
        raise InvalidInputError(f"stroke method {options['method']!r}: use one of {', '.join(METHODS)}")
    if options["method"] == "model" and model is None:
        raise InvalidInputError("stroke method 'model' needs --model MODEL_DIR (from 'napari-medai train stroke')")
    if options["method"] == "threshold" and model is not None:
        raise InvalidInputError("--model is used with --method model; add --method model or leave --model out")
    return model


STROKE = TaskAdapter(
    name="stroke",
    description="segment ischaemic stroke lesions (ISLES'22 BIDS or case folders; MRI or CTA)",
    find=_find_stroke,
    run=_run_stroke,
    defaults={"method": "threshold", "adc_unit": "auto", "mirror": False, "separate_lesions": False,
              "probability": False, "evaluate": True, "resample": False},
    outputs="NAME_lesions.nii.gz (+ NAME_probability.nii.gz with probability=true); the lesion table in the record",
    resolve_model=_stroke_model,
)


# ---------------------------------------------------------------------------------------- CAC
def _find_cac(folder: Path, options: Mapping[str, Any]) -> list[CohortCase]:
    return find_image_cases(folder, truth_suffixes=("_assignment",))


def _find_ldct(folder: Path, options: Mapping[str, Any]) -> list[CohortCase]:
    return find_image_cases(folder, truth_suffixes=("_fd", "_fulldose", "_reference"))


def _run_cac(case: CohortCase, folder: Path, model: Any, options: Mapping[str, Any],
             progress: ProgressFn | None) -> CaseOutput:
    from ..io import read_volume, write_volume
    from ..tasks.cac import auto_assign, find_candidates, score, to_json_dict, write_csv, write_json

    res = CaseOutput()
    protect = case.files()
    kw = {"min_area_mm2": options["min_area_mm2"], "calibration_factor": options["calibration_factor"],
          "slice_correction": options["slice_correction"], "connectivity": options["connectivity"]}

    def work() -> tuple[Any, Any, Any]:
        ct = read_volume(case.inputs["image"], as_label=False)
        if progress is not None:
            progress(0.2, "finding calcium candidates")
        candidates, lesions = find_candidates(ct, min_area_mm2=kw["min_area_mm2"], connectivity=kw["connectivity"])
        if progress is not None:
            progress(0.5, f"assigning {len(lesions)} candidate(s)")
        assignment = auto_assign(ct, candidates)
        return ct, assignment, score(ct, assignment, **kw)

    ct, assignment, result = _catch_warnings(work, res.notes)
    res.outputs["scores_json"] = write_json(result, _out(case, folder, "_cac.json"), protect=protect).name
    res.outputs["scores_csv"] = write_csv(result, _out(case, folder, "_cac.csv"), protect=protect).name
    res.outputs["assignment"] = write_volume(assignment, _out(case, folder, "_assignment.nii.gz"), overwrite=True,
                                             protect=protect).name
    res.report = to_json_dict(result)
    res.figures = {"agatston_total": result.total, "risk_category": result.category,
                   "volume_mm3_total": result.volume_mm3["total"], "lesions": result.lesion_count["total"],
                   **{f"agatston_{a}": v for a, v in result.agatston.items() if a != "total"}}
    if options["dicom"]:
        _write_cac_dicom(case, folder, ct, assignment, result, res, protect)
    if case.ground_truth is not None and options["evaluate"]:
        ref_assignment = read_volume(case.ground_truth, as_label=True)
        ref = _catch_warnings(lambda: score(ct, ref_assignment, **kw), res.notes)
        res.report["reference"] = to_json_dict(ref)
        res.figures.update({"reference_agatston_total": ref.total, "reference_risk_category": ref.category})
    return res


def _write_cac_dicom(case: CohortCase, folder: Path, ct: Any, assignment: Any, result: Any, res: CaseOutput,
                     protect: list[str]) -> None:
    """Option ``dicom``: the scored calcium as a DICOM SEG of the case's series and the scores as a DICOM SR
    referencing it (what ``napari-medai cac --dicom-seg --dicom-sr`` writes); a note for a non-DICOM image."""
    import numpy as np

    from ... import __version__
    from ..io.dicom_seg import Algorithm, write_dicom_seg
    from ..io.dicom_sr import cac_groups, write_dicom_sr
    from ..tasks.cac import CODES, scored_calcium

    image = Path(case.inputs["image"])
    if not image.is_dir():
        res.notes.append(f"dicom: {image.name} is not a DICOM series folder; no DICOM SEG/SR written (give the "
                         "case as its DICOM series folder to get them)")
        return
    calcium = scored_calcium(ct, assignment, result)
    if not np.any(calcium.data):  # a SEG needs a segment (and the SR references the SEG): a note, not a failure
        res.notes.append(f"dicom: no calcium at or above {result.threshold_hu:g} HU in {image.name}; no DICOM SEG/SR "
                         "written (a DICOM SEG needs at least one segment)")
        return
    alg = Algorithm("napari-medai cac", __version__, model=f"automatic assignment ({assignment.meta['method']})",
                    family="MorphologicalOperations")
    seg = write_dicom_seg(calcium, ct, _out(case, folder, "_seg.dcm"), algorithm=alg, convention="cac",
                          overwrite=True, protect=protect, series_description="napari-medai cac")
    present = {int(v) for v in np.unique(np.asarray(calcium.data)) if v != 0}
    sr = write_dicom_sr(_out(case, folder, "_sr.dcm"), seg_path=seg, series=ct,
                        groups=cac_groups(result, codes=CODES, present=present), algorithm=alg, task="cac",
                        overwrite=True, protect=protect)
    res.outputs["dicom_seg"] = seg.name
    res.outputs["dicom_sr"] = sr.name


CAC = TaskAdapter(
    name="cac",
    description="coronary artery calcium score of non-contrast CTs (automatic assignment)",
    find=_find_cac,
    run=_run_cac,
    defaults={"min_area_mm2": 1.0, "calibration_factor": None, "slice_correction": "scale", "connectivity": 8,
              "evaluate": True, "dicom": False},
    outputs="NAME_cac.json, NAME_cac.csv (scores per artery and lesion), NAME_assignment.nii.gz; with dicom=true "
            "and a DICOM series folder: NAME_seg.dcm (DICOM SEG of the scored calcium), NAME_sr.dcm (DICOM SR)",
    takes_model=False,
)


# ------------------------------------------------------------------------------------ denoise
def _run_denoise(case: CohortCase, folder: Path, model: Any, options: Mapping[str, Any],
                 progress: ProgressFn | None) -> CaseOutput:
    from ..io import read_volume
    from ..metrics.image_quality import image_quality
    from ..tasks.ldct import METHODS, denoise, load_denoiser
    from ..tasks.ldct.output import write_ct_image

    method = options["method"]
    if method not in METHODS:
        raise InvalidInputError(f"unknown denoising method {method!r}; use one of {', '.join(METHODS)}")
    res = CaseOutput()
    protect = case.files()
    vol = read_volume(case.inputs["image"], as_label=False)
    weights = None if model is None else cached_model(model, load_denoiser, kind="denoiser")
    out = denoise(vol, method=method, weights=weights, options=options["options"], blend=options["blend"],
                  device=options["device"], progress=progress)
    res.notes += list(out.notes)
    res.outputs["denoised"] = write_ct_image(out.volume, _out(case, folder, f"_{method}.nii.gz"), overwrite=True,
                                             protect=protect).name
    res.report = {"method": method, "parameters": out.parameters, "seconds": round(out.seconds, 3)}
    res.figures = {"method": method}
    if case.ground_truth is not None and options["evaluate"]:
        ref = read_volume(case.ground_truth, as_label=False)
        if ref.data.shape != vol.data.shape:
            raise InvalidInputError(f"case {case.name}: the reference {Path(case.ground_truth).name} has shape "
                                    f"{ref.data.shape} but the image {vol.data.shape}; give the full-dose image of "
                                    "the same slices")
        window = [float(v) for v in options["window"]]
        before = image_quality(vol.data, ref.data, window=window)
        after = image_quality(out.image, ref.data, window=window)
        res.report.update({"window_hu": window, "input": before, "output": after})
        res.figures.update({f"input_{k}": v for k, v in before.items()})
        res.figures.update({f"output_{k}": v for k, v in after.items()})
    return res


def _denoise_model(model: Any, options: Mapping[str, Any]) -> Any:
    from ..tasks.ldct import METHODS

    method = options["method"]
    if method not in METHODS:
        raise InvalidInputError(f"unknown denoising method {method!r}; use one of {', '.join(METHODS)}")
    if method in ("redcnn", "trained") and model is None:
        raise InvalidInputError(f"method {method!r} needs weights: give them as --model")
    if method not in ("redcnn", "trained") and model is not None:
        raise InvalidInputError(f"method {method!r} uses no weights; leave --model out or use redcnn / trained")
    return model


DENOISE = TaskAdapter(
    name="denoise",
    description="denoise (low-dose) CTs; NAME_fd / NAME_reference beside a CT is its full-dose reference",
    find=_find_ldct,
    run=_run_denoise,
    defaults={"method": "gaussian", "options": {}, "blend": 0.0, "device": "cpu", "window": (-160.0, 240.0),
              "evaluate": True},
    outputs="NAME_<method>.nii.gz; PSNR / SSIM / RMSE against the reference in the record",
    passthrough="options",
    resolve_model=_denoise_model,
)


# ----------------------------------------------------------------------------------- evaluate
def _find_evaluate(folder: Path, options: Mapping[str, Any]) -> list[CohortCase]:
    from ..evaluate import collect_cases, match_cases

    if not options.get("gt"):
        raise InvalidInputError("task 'evaluate' needs the reference folder: give --gt DIR (option gt)")
    pred = collect_cases(folder, what="prediction folder")
    gt = collect_cases(options["gt"], what="--gt folder")
    pairs, only_pred, _ = match_cases(pred, gt)
    cases = [CohortCase(name=safe_case_name(c), inputs={"prediction": str(p)}, ground_truth=str(g))
             for c, p, g in pairs]
    # a prediction without reference is a case that fails with the reason, not a silent omission
    cases += [CohortCase(name=safe_case_name(c), inputs={"prediction": str(pred[c])}) for c in only_pred]
    return sorted(cases, key=lambda c: c.name)


def _run_evaluate(case: CohortCase, folder: Path, model: Any, options: Mapping[str, Any],
                  progress: ProgressFn | None) -> CaseOutput:
    from ..evaluate import evaluate_volumes
    from ..io import read_volume

    if case.ground_truth is None:
        raise InvalidInputError(f"case {case.name}: no reference file of this name in the --gt folder "
                                f"{options.get('gt')}; name files alike (case1_pred.nii.gz, case1_seg.nii.gz)")
    conv_args = {"convention": options["convention"], "regions": options["regions"],
                 "empty_rule": options["empty_rule"]}
    conv = make_convention(**conv_args)
    style = options["lesion_style"]
    if style == "auto":
        style = "brats2023" if conv.name.startswith("brats") else "isles"
    ev = evaluate_volumes(read_volume(case.inputs["prediction"], as_label=True),
                          read_volume(case.ground_truth, as_label=True), convention=conv,
                          tolerance_mm=options["tolerance_mm"], resample=options["resample"], lesion_style=style,
                          case=case.name)
    res = CaseOutput(evaluation=evaluation_entry(ev, convention_args=conv_args), notes=list(ev.notes))
    res.figures = _main_metrics(ev)
    return res


EVALUATE = TaskAdapter(
    name="evaluate",
    description="agreement of a folder of predicted label maps with a reference folder (--gt)",
    find=_find_evaluate,
    run=_run_evaluate,
    defaults={"gt": None, "convention": None, "regions": None, "empty_rule": None, "tolerance_mm": 1.0,
              "lesion_style": "auto", "resample": False},
    outputs="the agreement table per case in its record; evaluation.json / .csv / .png over the cohort",
    takes_model=False,
)

#: Every task a cohort run knows, by name.
ADAPTERS: dict[str, TaskAdapter] = {a.name: a for a in (BRAIN_TUMOUR, STROKE, CAC, DENOISE, EVALUATE)}


def get_adapter(task: str | TaskAdapter) -> TaskAdapter:
    """The adapter of ``task`` (a name of :data:`ADAPTERS`, or an adapter, returned as is)."""
    if isinstance(task, TaskAdapter):
        return task
    key = str(task).replace("_", "-").lower()
    if key == "brain-tumor":
        key = "brain-tumour"
    if key not in ADAPTERS:
        raise InvalidInputError(f"unknown cohort task {task!r}; use one of {', '.join(ADAPTERS)}")
    return ADAPTERS[key]
