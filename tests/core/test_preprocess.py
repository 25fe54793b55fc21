"""Preprocessing is written once: what training prepares is what the network sees at inference."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("monai")

from napari_medai.core.inference import segmentation  # noqa: E402
from napari_medai.core.models import LoadedModel  # noqa: E402
from napari_medai.core.phantoms import brain_tumour_phantom  # noqa: E402
from napari_medai.core.recipes.segmentation import TrainingCase, _prepare_case  # noqa: E402
from napari_medai.core.tasks.brain_tumour import brain_tumour_task  # noqa: E402

from .test_models_support import one_torch_thread  # noqa: E402, F401


@pytest.mark.parametrize("spacing", [(1.5, 1.5, 1.5), None])
def test_a_training_case_is_the_input_the_model_sees_at_inference(monkeypatch, spacing):
    vols = brain_tumour_phantom(seed=4, shape=(48, 48, 48))
    task = brain_tumour_task(("flair", "t1c"), init_filters=8, target_spacing=spacing, roi_size=(32, 32, 32))
    c = task.contract
    assert c.crop_foreground and c.orientation == "RAS"  # the case exercises crop, reorientation (and resampling)
    case = TrainingCase("p4", {"flair": vols["flair"], "t1c": vols["t1c"]}, vols["seg"], "brats2021",
                        brainmask=vols["brainmask"])
    trained_on = _prepare_case(case, task, patch=(8, 8, 8)).image  # no padding: the grid exceeds the patch

    seen = []
    real = segmentation.infer_array

    def spy(network, image, **kw):
        seen.append(np.array(image, copy=True))
        return real(network, image, **kw)

    monkeypatch.setattr(segmentation, "infer_array", spy)
    model = LoadedModel.random(c.with_changes(is_trained=True, trained_on="test"), seed=0)
    segmentation.predict(model, {"flair": vols["flair"], "t1c": vols["t1c"]}, brainmask=vols["brainmask"], device="cpu")
    assert len(seen) == 1
    np.testing.assert_array_equal(seen[0], trained_on)
