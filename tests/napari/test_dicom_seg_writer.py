"""File > Save Selected Layers as DICOM SEG, and a SEG file opened as a Labels layer on its series."""

from __future__ import annotations

import numpy as np
import pytest

from tests.core.dicom_objects import phantom_stack, write_ct_series


def test_labels_of_a_dicom_series_save_as_seg_and_reopen_aligned(make_napari_viewer, tmp_path):
    from napari_medai.core.io import read_volume

    write_ct_series(tmp_path / "series", phantom_stack())
    viewer = make_napari_viewer()
    viewer.open(str(tmp_path / "series"), plugin="napari-medai")
    image = viewer.layers[-1]
    lab = np.zeros(image.data.shape, np.uint8)
    lab[2:4, 10:13, 12:15] = 2
    labels = viewer.add_labels(lab, name="calcium", scale=image.scale, translate=image.translate,
                               metadata={k: dict(v) for k, v in image.metadata.items()})
    viewer.layers.selection = {labels}
    out = tmp_path / "calcium_seg.dcm"
    saved = viewer.layers.save(str(out), selected=True, plugin="napari-medai")
    assert saved == [str(out)]
    back = read_volume(out)  # the reader's path: a SEG is a label volume
    assert back.is_label and int((back.data == 2).sum()) == int((lab == 2).sum())
    viewer.open(str(out), plugin="napari-medai")
    reopened = viewer.layers[-1]
    assert type(reopened).__name__ == "Labels"
    for idx in np.argwhere(reopened.data == 2)[:5]:  # the same world points as the painted voxels
        k, j, i = np.rint(image.world_to_data(reopened.data_to_world(idx))).astype(int)
        assert lab[k, j, i] == 2


def test_labels_not_from_a_dicom_series_are_refused(tmp_path):
    from napari_medai._napari.writer import write_dicom_seg
    from napari_medai.core.errors import ImageWriteError

    with pytest.raises(ImageWriteError, match="DICOM series folder"):
        write_dicom_seg(str(tmp_path / "x.dcm"), np.ones((2, 3, 4), np.uint8), {"name": "painted", "metadata": {}})
    assert not (tmp_path / "x.dcm").exists()
