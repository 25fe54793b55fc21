"""Lesion table: numbers checked against hand-computed small masks."""

from __future__ import annotations

import math

import numpy as np
import pytest

from napari_medai.core.tasks.stroke.lesions import label_components, lesion_table
from napari_medai.core.tasks.stroke.midline import MidSagittalPlane
from napari_medai.core.volume import Volume

#: The plane L = 0 (world axis 2), > 0 = the patient's left.
PLANE = MidSagittalPlane(normal=(0.0, 0.0, 1.0), offset_mm=0.0, score=1.0, method="test plane L = 0")


def _grid(shape=(20, 24, 30), spacing=(2.0, 1.0, 1.5), origin=(0.0, 0.0, -22.5)):
    return Volume(np.zeros(shape, np.uint8), spacing=spacing, origin=origin, is_label=True, name="mask")


def test_box_volume_centroid_diameter_side_and_mean_adc():
    g = _grid()
    m = np.zeros(g.spatial_shape, np.uint8)
    m[2:5, 3:7, 20:25] = 1  # 3 x 4 x 5 voxels, all at L > 0
    adc = g.with_data(np.where(m > 0, 500.0, 800.0).astype(np.float32), is_label=False)
    (row,) = lesion_table(g.with_data(m), adc=adc, plane=PLANE)
    assert row.id == 1 and row.n_voxels == 60
    assert row.volume_ml == pytest.approx(60 * 2.0 * 1.0 * 1.5 / 1000.0)
    assert row.centroid_index == pytest.approx((3.0, 4.5, 22.0))
    assert row.centroid_world == pytest.approx((6.0, 4.5, -22.5 + 22.0 * 1.5))
    # the voxelised box's space diagonal: corners 3*2, 4*1, 5*1.5 mm apart
    assert row.max_diameter_mm == pytest.approx(math.sqrt(6.0**2 + 4.0**2 + 7.5**2))
    assert row.mean_adc == pytest.approx(500.0)
    assert row.side == "left"


def test_ellipsoid_diameter_is_its_long_axis():
    g = _grid(shape=(30, 30, 30), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    z, y, x = np.indices(g.spatial_shape)
    m = (((z - 15) / 6.0) ** 2 + ((y - 15) / 8.0) ** 2 + ((x - 15) / 12.0) ** 2 <= 1.0).astype(np.uint8)
    (row,) = lesion_table(g.with_data(m))
    # voxel centres reach +-12 mm along x; the corners add half a voxel at each end
    assert 24.0 <= row.max_diameter_mm <= 25.5
    assert row.side == "unknown" and row.mean_adc is None
    assert row.volume_ml == pytest.approx(4 / 3 * math.pi * 6 * 8 * 12 / 1000, rel=0.05)


def test_sides_right_left_and_midline():
    g = _grid()
    m = np.zeros(g.spatial_shape, np.uint8)
    m[5:8, 5:8, 2:5] = 1      # L = -22.5 + 3 * 1.5 = -18 mm: right
    m[5:8, 15:18, 14:17] = 1  # L = -22.5 + 15 * 1.5 = 0: midline
    m[12:15, 5:8, 26:29] = 1  # L = +18: left
    rows = lesion_table(g.with_data(m), plane=PLANE)
    by_l = sorted(rows, key=lambda r: r.centroid_world[2])
    assert [r.side for r in by_l] == ["right", "midline", "left"]


def test_connectivity_26_joins_diagonal_neighbours_6_does_not_and_ids_go_by_size():
    g = _grid(shape=(10, 10, 10), spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0))
    m = np.zeros(g.spatial_shape, np.uint8)
    m[1, 1, 1] = 1
    m[2, 2, 2] = 1            # touches the first only by a corner
    m[5:8, 5:8, 5:8] = 1      # 27 voxels
    lab26 = label_components(g.with_data(m))
    assert lab26.meta["n_lesions"] == 2 and lab26.data[6, 6, 6] == 1 and lab26.data[1, 1, 1] == 2
    assert label_components(g.with_data(m), connectivity=6).meta["n_lesions"] == 3
    rows = lesion_table(g.with_data(m))
    assert [r.n_voxels for r in rows] == [27, 2]
    # a label map whose values already number the lesions is kept as it is
    ids = m.copy()
    ids[2, 2, 2] = 2
    assert [r.n_voxels for r in lesion_table(g.with_data(ids))] == [28, 1]


def test_empty_mask_has_no_rows():
    assert lesion_table(_grid()) == []
