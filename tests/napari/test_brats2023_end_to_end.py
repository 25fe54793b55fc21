"""The real BraTS 2023 case (4 sequences, BraTS 2023 file names, LPS) through the plugin end to end:
opened with the plugin's reader, the channels matched by layer name, segmented by the packaged
``brain-tumour-default`` model, and the label layer on exactly the input's world grid."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("monai")

pytestmark = [pytest.mark.realdata, pytest.mark.slow]

CASE = "brats2023_gli_00001"
FOLDER = Path(__file__).resolve().parents[2].parent / "shared" / "data" / CASE


def test_brats2023_case_segments_and_overlays_in_napari(make_napari_viewer, qtbot):
    from napari_medai.core.io import read_volume

    from .journey import button, click, field, open_widget

    folder = FOLDER
    if not folder.is_dir():
        pytest.skip(f"real data {CASE} not found at {folder} (only on the project's test machines)")
    viewer = make_napari_viewer()
    files = sorted(folder.glob("*.nii.gz"))
    assert len(files) == 4
    for f in files:
        viewer.open(str(f), plugin="napari-medai")
    names = {ly.name for ly in viewer.layers}
    widget = open_widget(viewer, "Brain tumour segmentation (MRI)")
    assert field(widget, "model").currentText() == "brain-tumour-default"
    assert widget.wait_idle(600) and widget.model is not None, widget.jobs.status.text()
    assert widget.model.contract.is_trained
    assert "phantom" in widget.model_info.text().lower()  # says what it was trained on
    assert "not for real scans" in widget.jobs.status.text()  # and that it is a demonstration model
    chosen = {ch: field(widget, row, exact=True).currentText()
              for ch, row in {"flair": "FLAIR", "t1": "T1", "t1c": "T1c", "t2": "T2"}.items()}
    assert chosen == {ch: next(n for n in names if n.endswith(suffix)) for ch, suffix in
                      {"flair": "t2f", "t1": "t1n", "t1c": "t1c", "t2": "t2w"}.items()}
    click(qtbot, button(widget, "Segment"))
    assert widget.wait_idle(600)
    assert widget.prediction is not None, widget.jobs.status.text()
    out = viewer.layers["brain tumour (brain-tumour-default)"]
    flair_layer = viewer.layers[chosen["flair"]]
    # the label map lies on the input's grid: same shape and the same voxel-to-world mapping
    assert out.data.shape == flair_layer.data.shape == (155, 240, 240)
    for idx in ([0, 0, 0], [154, 239, 239], [77, 12, 201]):
        np.testing.assert_allclose(out.data_to_world(idx), flair_layer.data_to_world(idx), atol=1e-6)
    labels = set(np.unique(out.data).tolist())
    assert labels <= {0, 1, 2, 4} and len(labels) > 1
    # every tumour voxel lies inside the head (where the FLAIR has signal), as an overlay must
    flair = read_volume(next(f for f in files if f.name.endswith("t2f.nii.gz"))).data
    assert np.all(flair[out.data > 0] > 0)
    assert "ml" in widget.volumes.text()
