"""The one entry point of stroke lesion segmentation (the CLI and the widget call it).

:func:`segment_stroke` takes MRI (DWI + ADC, optional FLAIR) or a CT angiography and a method:

* ``"threshold"``: on MRI the weight-free clinical baseline (:mod:`.baseline_mri`), on CTA the
  hypodensity / hemispheric-asymmetry rule (:mod:`.baseline_cta`);
* ``"model"``: a trained network (:func:`.model.predict_stroke_model`), fed ADC in 10^-6 mm^2/s and
  DWI, or the CTA and (with ``mirror=True``) its mirror about the mid-sagittal plane.

It returns a :class:`StrokeResult`: the lesion labels on the DWI (or CTA) grid, a score map, the
lesion table with each lesion's side from the mid-sagittal plane (:mod:`.midline`), the total
volume, the ADC unit and how it was found, the DWI-FLAIR mismatch when FLAIR is given, the
parameters with their sources, and a note for everything done to the inputs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ...callbacks import Cancelled, ProgressFn, StopFn
from ...errors import InvalidInputError
from ...volume import Volume
from .baseline_mri import MRI_PARAMS_SOURCES, brain_mask_mri, segment_mri_baseline
from .inputs import prepare_mri_inputs
from .lesions import LesionRow, label_components, lesion_table
from .midline import MidSagittalPlane, find_mid_sagittal_plane
from .midline import mirror as mirror_volume
from .mismatch import RESEARCH_NOTE, MismatchReport, flair_mismatch
from .units import AdcUnit

__all__ = ["METHODS", "StrokeResult", "segment_stroke"]

METHODS = ("threshold", "model")


@dataclass
class StrokeResult:
    """Everything :func:`segment_stroke` found.

    Attributes
    ----------
    labels
        uint8 mask (1 = lesion), or each connected lesion its own id when asked, on the DWI (or
        CTA) grid.
    probability
        float32 0..1 on the same grid (the threshold methods give a score, not a calibrated
        probability), or None.
    lesions
        The lesion table (ids match ``labels`` when lesions are separated).
    total_volume_ml
        Sum of the lesion volumes.
    method
        ``"threshold-mri"``, ``"threshold-cta"`` or ``"model"``.
    adc_unit
        How the ADC unit was established (MRI only).
    mismatch
        DWI-FLAIR mismatch when FLAIR is given.
    notes
        One line per thing done to the inputs or found on the way.
    params
        Parameters used, each ``{"value": ..., "source": ...}``.
    modality
        ``"mri"`` or ``"cta"``.
    plane
        The mid-sagittal plane used for the sides (and the mirror), or None when it was not found.
    """

    labels: Volume
    probability: Volume | None
    lesions: list[LesionRow]
    total_volume_ml: float
    method: str
    adc_unit: AdcUnit | None
    mismatch: MismatchReport | None
    notes: list[str]
    params: dict
    modality: str = "mri"
    plane: MidSagittalPlane | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as a JSON-friendly dict (the CLI's ``--json``)."""
        plane = None
        if self.plane is not None:
            plane = {"normal": [round(v, 5) for v in self.plane.normal], "offset_mm": round(self.plane.offset_mm, 3),
                     "score": round(self.plane.score, 4), "method": self.plane.method}
        return {
            "method": self.method,
            "modality": self.modality,
            "adc_unit": None if self.adc_unit is None else self.adc_unit.to_json(),
            "parameters": self.params,
            "n_lesions": len(self.lesions),
            "total_volume_ml": round(self.total_volume_ml, 4),
            "lesions": [row.to_json() for row in self.lesions],
            "labels": "component ids" if self.labels.meta.get("separate_lesions") else "binary (1 = lesion)",
            "mismatch": None if self.mismatch is None else self.mismatch.to_json(),
            "mid_sagittal_plane": plane,
            "notes": list(self.notes),
            **self.extra,
        }

    def summary(self) -> str:
        """One line: method, lesion count, total volume."""
        return (f"{self.method}: {len(self.lesions)} lesion(s), total {self.total_volume_ml:.2f} ml")


def _find_plane(vol: Volume, notes: list[str]) -> MidSagittalPlane | None:
    try:
        plane = find_mid_sagittal_plane(vol)
    except InvalidInputError as exc:
        notes.append(f"mid-sagittal plane not found ({exc}); lesion sides unknown, no mirror")
        return None
    notes.append(plane.describe() if hasattr(plane, "describe") else f"mid-sagittal plane: {plane.method}")
    return plane


def _check_choice(
    dwi: Volume | None, adc: Volume | None, flair: Volume | None, cta: Volume | None,
    method: str, model: Any, mirror: bool,
) -> str:
    if method not in METHODS:
        raise InvalidInputError(f"unknown stroke method {method!r}; use one of {', '.join(METHODS)}")
    mri = dwi is not None or adc is not None
    if mri and cta is not None:
        raise InvalidInputError("give either MRI (DWI and ADC) or a CTA, not both")
    if not mri and cta is None:
        raise InvalidInputError("no image given: pass a DWI and an ADC map (MRI) or a CTA")
    if mri and (dwi is None or adc is None):
        missing = "ADC" if adc is None else "DWI"
        raise InvalidInputError(f"MRI needs both a DWI and an ADC map; the {missing} is missing")
    if flair is not None and not mri:
        raise InvalidInputError("FLAIR goes with DWI and ADC (the DWI-FLAIR mismatch); it is not used with a CTA")
    if mirror and mri:
        raise InvalidInputError("the mirrored channel (--mirror) is for CTA models; MRI models take DWI and ADC")
    if method == "model" and model is None:
        raise InvalidInputError("method 'model' needs a model (a folder from 'napari-medai train stroke')")
    return "mri" if mri else "cta"


def segment_stroke(
    *,
    dwi: Volume | None = None,
    adc: Volume | None = None,
    flair: Volume | None = None,
    cta: Volume | None = None,
    mirror: bool = False,
    method: str = "threshold",
    model: Any = None,
    adc_unit: str = "auto",
    sidecars: Mapping[str, Mapping] | None = None,
    separate_lesions: bool = False,
    progress: ProgressFn | None = None,
    should_stop: StopFn | None = None,
) -> StrokeResult:
    """Segment an ischaemic stroke lesion and tabulate it.

    Parameters
    ----------
    dwi, adc, flair
        MRI: DWI (3-D b = 1000, or a 4-D series with b-values in ``sidecars["dwi"]``), ADC map on
        the DWI grid in any unit of :mod:`.units`, optional FLAIR on any grid.
    cta
        CT angiography in HU (instead of MRI).
    mirror
        CTA models: add the CTA mirrored about the mid-sagittal plane as a channel.
    method
        ``"threshold"`` (weight-free baseline) or ``"model"``.
    model
        A trained stroke model (folder, registry name or loaded model) for ``method="model"``.
    adc_unit
        ``"auto"``, ``"1e-6"``, ``"1e-3"`` or ``"scaled:K"``.
    sidecars
        BIDS sidecars by role (``"dwi"``, ``"adc"``, ``"flair"``), see :func:`.inputs.read_sidecars`.
    separate_lesions
        Give each connected lesion its own id in ``labels`` (else a 0/1 mask).
    progress, should_stop
        The core's callbacks.

    Returns
    -------
    StrokeResult

    Raises
    ------
    InvalidInputError
        Bad input (before any long work); :class:`~napari_medai.core.callbacks.Cancelled` when stopped.
    """
    modality = _check_choice(dwi, adc, flair, cta, method, model, mirror)
    if method == "model":  # the model's modality is checked before any work
        from .model import STROKE_CHANNELS, load_stroke_model

        model_source = str(getattr(model, "source", None) or model)
        model, model_modality = load_stroke_model(model)
        if model_modality != modality:
            raise InvalidInputError(
                f"the model {model.contract.name} ({model_source}) was trained on {model_modality.upper()} "
                f"({' + '.join(STROKE_CHANNELS[model_modality])}); give "
                f"{'DWI and ADC' if model_modality == 'mri' else 'a CTA'}, or a model trained on "
                f"{modality.upper()}")

    def step(f: float, msg: str) -> None:
        if should_stop is not None and should_stop():
            raise Cancelled("stroke segmentation cancelled")
        if progress is not None:
            progress(f, msg)

    def sub(lo: float, hi: float) -> ProgressFn:
        return lambda f, msg: step(lo + (hi - lo) * float(f), msg)

    notes: list[str] = []
    unit: AdcUnit | None = None
    mismatch: MismatchReport | None = None
    adc_for_table: Volume | None = None
    step(0.0, "checking inputs")
    if modality == "mri":
        inp = prepare_mri_inputs(dwi, adc, flair, adc_unit=adc_unit, sidecars=sidecars)  # type: ignore[arg-type]
        notes += inp.notes
        unit = inp.adc_unit
        adc_for_table = inp.adc
        grid = inp.dwi
        step(0.1, "finding the mid-sagittal plane")
        plane = _find_plane(inp.dwi, notes)
        step(0.2, "segmenting")
        if method == "threshold":
            base = segment_mri_baseline(inp.dwi, inp.adc, progress=sub(0.2, 0.8), should_stop=should_stop)
            mask, prob = base.mask, base.score
            params = {k: {"value": v, "source": MRI_PARAMS_SOURCES[k]} for k, v in base.params.items()}
            notes.append(f"brain median DWI {base.dwi_reference:.4g}; {base.removed_components} candidate "
                         f"cluster(s) under {base.params['min_lesion_ml']} ml removed")
            method_name = "threshold-mri"
        else:
            from .model import predict_stroke_model

            mask, prob = predict_stroke_model(model, {"dwi": inp.dwi, "adc": inp.adc},
                                              progress=sub(0.2, 0.8), should_stop=should_stop)
            notes += list(mask.meta.get("notes") or [])
            params = {"model": {"value": model_source, "source": "user"}}
            method_name = "model"
    else:
        from .baseline_cta import CTA_PARAMS_SOURCES, check_cta, segment_cta_baseline

        check_cta(cta)  # type: ignore[arg-type]
        grid = cta  # type: ignore[assignment]
        step(0.1, "finding the mid-sagittal plane")
        plane = _find_plane(cta, notes)  # type: ignore[arg-type]
        step(0.2, "segmenting")
        if method == "threshold":
            mask, prob = segment_cta_baseline(cta, plane=plane, progress=sub(0.2, 0.8),  # type: ignore[arg-type]
                                              should_stop=should_stop)
            used = mask.meta.get("params") if isinstance(mask.meta.get("params"), Mapping) else {}
            params = {k: {"value": used.get(k), "source": src} for k, src in CTA_PARAMS_SOURCES.items()}
            method_name = "threshold-cta"
        else:
            from .model import predict_stroke_model

            channels = {"cta": cta}
            if mirror:
                if plane is None:
                    raise InvalidInputError("--mirror needs the mid-sagittal plane, which was not found in the CTA")
                channels["cta_mirror"] = mirror_volume(cta, plane)  # type: ignore[arg-type]
                notes.append("CTA mirrored about the mid-sagittal plane as the model's second channel")
            mask, prob = predict_stroke_model(model, channels, progress=sub(0.2, 0.8), should_stop=should_stop)
            notes += list(mask.meta.get("notes") or [])  # e.g. the CTA mirrored for the model without --mirror
            params = {"model": {"value": model_source, "source": "user"}}
            method_name = "model"
    step(0.8, "lesion table")
    binary = grid.with_data((np.asarray(mask.data) > 0).astype(np.uint8), is_label=True,
                            label_names={1: "ischaemic lesion"}, name="stroke lesion", units="",
                            meta={"method": method_name})
    rows = lesion_table(binary, adc=adc_for_table, plane=plane)
    if separate_lesions:
        labels = label_components(binary)
        labels.name = "stroke lesions"
        labels.meta["separate_lesions"] = True
    else:
        labels = binary
    if modality == "mri" and inp.flair is not None:
        step(0.9, "DWI-FLAIR mismatch")
        if plane is None:
            notes.append("DWI-FLAIR mismatch not computed: no mid-sagittal plane for the mirror region")
        elif rows:
            brain = base.brain if method == "threshold" else brain_mask_mri(inp.dwi, inp.adc)
            mismatch = flair_mismatch(binary, inp.flair, plane, coverage=inp.flair_coverage, within=brain)
            notes.append(f"DWI-FLAIR mismatch: {RESEARCH_NOTE}")
        else:
            notes.append("DWI-FLAIR mismatch not computed: no lesion found")
    if prob is not None:
        prob = grid.with_data(np.clip(np.asarray(prob.data, dtype=np.float32), 0.0, 1.0), is_label=False,
                              name="stroke probability" if method_name == "model" else "stroke score", units="",
                              meta=dict(prob.meta))
    step(1.0, "done")
    return StrokeResult(
        labels=labels, probability=prob, lesions=rows, total_volume_ml=float(sum(r.volume_ml for r in rows)),
        method=method_name, adc_unit=unit, mismatch=mismatch, notes=notes, params=params,
        modality=modality, plane=plane,
    )
