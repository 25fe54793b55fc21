"""Classify image widget: torchxrayvision's published weights found in its cache are offered beside "Model
folder…", and choosing one classifies an open image with the CheXNeXt findings (issue 15)."""

from __future__ import annotations

import numpy as np
import pytest

from .journey import wait_until


def test_xrv_weights_in_the_cache_are_offered_and_classify(make_napari_viewer, tmp_path, monkeypatch) -> None:
    pytest.importorskip("torch")
    from napari_medai._napari.classify.widget import ClassifyWidget
    from napari_medai.core.tasks.classify import CHEXNEXT_LABELS, XRV_WEIGHTS
    from napari_medai.core.tasks.classify.xrv import XRV_CACHE_ENV

    from ..core.test_classify_xrv import _save_fake

    viewer = make_napari_viewer()
    monkeypatch.setenv(XRV_CACHE_ENV, str(tmp_path / "empty"))
    assert ClassifyWidget(viewer).xrv_combo.isHidden()  # nothing found: nothing offered

    _save_fake(tmp_path / XRV_WEIGHTS["densenet121-res224-nih"].filename)
    monkeypatch.setenv(XRV_CACHE_ENV, str(tmp_path))
    w = ClassifyWidget(viewer)
    assert not w.xrv_combo.isHidden()
    items = [w.xrv_combo.itemText(i) for i in range(w.xrv_combo.count())]
    assert items == ["torchxrayvision…", "xrv:densenet121-res224-nih"]
    w.xrv_combo.activated.emit(1)
    assert w.model_edit.text() == "xrv:densenet121-res224-nih" and w.info.usable
    assert w.info.classes == CHEXNEXT_LABELS and "densenet121-res224-nih" in w.model_info.text()

    viewer.add_image(np.random.default_rng(0).integers(0, 256, (230, 210)).astype(np.float32), name="cxr")
    w.refresh_images()
    assert w.classify()
    wait_until(lambda: w.result is not None or not w.jobs.busy, 600)  # a DenseNet-121 on a busy 2-core machine
    try:
        wait_until(lambda: w.result is not None, 10)  # the result is shown a turn of the event loop after the job
    except AssertionError:
        pytest.fail(f"no result shown; status: {w.status.text()}")
    assert w.result.class_names == CHEXNEXT_LABELS and w.result.trained
