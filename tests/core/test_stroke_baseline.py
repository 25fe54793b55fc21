"""The weight-free MRI baseline and segment_stroke on the stroke phantom."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.callbacks import Cancelled
from napari_medai.core.errors import InvalidInputError
from napari_medai.core.phantoms.stroke import stroke_phantom
from napari_medai.core.tasks.stroke.baseline_mri import (
    MRI_PARAMS,
    MRI_PARAMS_SOURCES,
    segment_mri_baseline,
)
from napari_medai.core.tasks.stroke.segment import segment_stroke
from napari_medai.core.tasks.stroke.units import AdcUnit, adc_in_1e6


@pytest.fixture(scope="module")
def phantom():
    return stroke_phantom(seed=1)


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0, b > 0
    return 2.0 * np.count_nonzero(a & b) / (np.count_nonzero(a) + np.count_nonzero(b))


def test_every_parameter_has_a_source():
    assert set(MRI_PARAMS) == set(MRI_PARAMS_SOURCES)
    assert all(len(s) > 20 for s in MRI_PARAMS_SOURCES.values())
    assert MRI_PARAMS["adc_core_max"] == 620.0  # reference.md: the clinical core threshold


def test_baseline_finds_the_phantom_infarcts(phantom):
    res = segment_stroke(dwi=phantom["dwi"], adc=phantom["adc"])
    truth = phantom["lesion"]
    assert res.method == "threshold-mri" and res.adc_unit.unit == "1e-6"
    assert res.labels.same_grid(phantom["dwi"]) and res.labels.data.dtype == np.uint8
    assert _dice(res.labels.data, truth.data) > 0.85
    # every true infarct is found (any overlap), with a volume close to the truth
    assert len(res.lesions) == truth.meta["n_lesions"]
    assert res.total_volume_ml == pytest.approx(truth.meta["lesion_volume_ml"], rel=0.15)
    # sides from the mid-sagittal plane agree with the phantom's
    want = sorted((round(d["volume_ml"], 1), d["side"]) for d in truth.meta["lesions"])
    got = sorted((round(r.volume_ml, 1), r.side) for r in res.lesions)
    assert [s for _, s in got] == [s for _, s in want]
    assert all(r.mean_adc < 620 for r in res.lesions)
    assert res.probability.data.min() >= 0.0 and res.probability.data.max() <= 1.0
    doc = res.to_json()
    assert doc["parameters"]["adc_core_max"]["value"] == 620.0 and "reference.md" in doc["parameters"]["adc_core_max"]["source"]
    assert doc["mismatch"] is None and doc["adc_unit"]["source"] == "values"


def test_the_same_map_in_1e3_gives_the_same_lesions(phantom):
    adc3 = phantom["adc"].with_data(phantom["adc"].data * np.float32(1e-3), units="")
    a = segment_stroke(dwi=phantom["dwi"], adc=phantom["adc"], separate_lesions=True)
    b = segment_stroke(dwi=phantom["dwi"], adc=adc3, separate_lesions=True)
    assert b.adc_unit.unit == "1e-3"
    assert _dice(a.labels.data, b.labels.data) > 0.99
    assert a.labels.meta["separate_lesions"] and int(a.labels.data.max()) == len(a.lesions)


def test_the_threshold_never_runs_on_an_unestablished_unit(phantom):
    raw = phantom["adc"].with_data(phantom["adc"].data, units="")
    with pytest.raises(InvalidInputError, match="convert it to 10\\^-6"):
        segment_mri_baseline(phantom["dwi"], raw)
    ok = adc_in_1e6(raw, AdcUnit("1e-6", 1.0, "user", "test"))
    assert segment_mri_baseline(phantom["dwi"], ok).mask.data.any()


def test_cancel_and_progress(phantom):
    seen = []
    segment_stroke(dwi=phantom["dwi"], adc=phantom["adc"], progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(Cancelled):
        segment_stroke(dwi=phantom["dwi"], adc=phantom["adc"], should_stop=lambda: True)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({}, "no image given"),
        ({"dwi": "D"}, "the ADC is missing"),
        ({"dwi": "D", "adc": "A", "cta": "C"}, "not both"),
        ({"dwi": "D", "adc": "A", "mirror": True}, "for CTA models"),
        ({"dwi": "D", "adc": "A", "method": "model"}, "needs a model"),
        ({"dwi": "D", "adc": "A", "method": "magic"}, "unknown stroke method"),
    ],
)
def test_bad_choices_are_refused_before_any_work(kwargs, match):
    with pytest.raises(InvalidInputError, match=match):
        segment_stroke(**kwargs)


def test_model_method_gets_the_adc_in_1e6_and_answers_on_the_dwi_grid():
    torch = pytest.importorskip("torch")
    from napari_medai.core.models.loading import LoadedModel
    from napari_medai.core.tasks.stroke.model import stroke_task

    small = stroke_phantom(seed=2, shape=(24, 40, 36))
    # 32^3 windows: 4 over the phantom's head (16^3 took 32 windows, most of the test's time after the imports)
    model = LoadedModel.random(stroke_task(network="deepmedic", roi_size=(32, 32, 32),
                                           network_kwargs={"feature_maps": [4] * 8, "fc_features": [8, 8]}).contract)
    adc3 = small["adc"].with_data(small["adc"].data * np.float32(1e-3), units="")  # stored in 10^-3 mm^2/s
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        res = segment_stroke(dwi=small["dwi"], adc=adc3, method="model", model=model, separate_lesions=True)
    finally:
        torch.set_num_threads(threads)
    assert res.method == "model" and res.adc_unit.unit == "1e-3"
    assert res.labels.same_grid(small["dwi"]) and res.probability.same_grid(small["dwi"])
    assert float(res.probability.data.min()) >= 0.0 and float(res.probability.data.max()) <= 1.0
    assert int(res.labels.data.max()) == len(res.lesions)
    assert res.to_json()["parameters"]["model"]["source"] == "user"
    assert res.probability.meta["n_windows"] == 4


def test_flair_mismatch_on_the_phantom_tracks_the_designed_rsi():
    fresh = stroke_phantom(seed=1, flair_rsi=1.0)  # lesions invisible on FLAIR: a mismatch
    old = stroke_phantom(seed=1, flair_rsi=1.3)    # FLAIR-bright lesions
    a = segment_stroke(dwi=fresh["dwi"], adc=fresh["adc"], flair=fresh["flair"])
    b = segment_stroke(dwi=old["dwi"], adc=old["adc"], flair=old["flair"])
    assert a.mismatch.overall_rsi == pytest.approx(1.0, abs=0.05)
    assert b.mismatch.overall_rsi == pytest.approx(1.3, abs=0.1)
    assert "below" in a.mismatch.overall.interpretation and "above" in b.mismatch.overall.interpretation
    assert any(n.startswith("FLAIR resampled from 0.9x0.9x5 mm") for n in a.notes)
    assert a.to_json()["mismatch"]["note"] == "research measure, not a treatment decision"


def test_cta_threshold_goes_through_the_cta_baseline_with_its_sources():
    from napari_medai.core.phantoms.stroke import stroke_cta_phantom
    from napari_medai.core.tasks.stroke.baseline_cta import CTA_PARAMS_SOURCES

    ph = stroke_cta_phantom(seed=0)
    res = segment_stroke(cta=ph["cta"])
    assert res.method == "threshold-cta" and res.modality == "cta" and res.adc_unit is None
    assert res.labels.same_grid(ph["cta"]) and _dice(res.labels.data, ph["lesion"].data) > 0.5
    assert set(res.params) == set(CTA_PARAMS_SOURCES) and all(v["value"] is not None for v in res.params.values())
    assert res.lesions and all(r.mean_adc is None for r in res.lesions)
    with pytest.raises(InvalidInputError, match="FLAIR goes with DWI and ADC"):
        segment_stroke(cta=ph["cta"], flair=ph["cta"])
