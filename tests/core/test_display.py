"""Display conventions computed by hand: windows (DICOM, CT rule, MR percentile, presets) and the
anatomical letters at each screen edge."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.display import (
    WINDOW_PRESETS,
    Window,
    dicom_window,
    dims_order_for,
    initial_window,
    looks_like_hu,
    orientation_known,
    percentile_window,
    preferred_vertical,
    preset_window,
    screen_edges,
    view_name,
)
from napari_medai.core.errors import InvalidInputError
from napari_medai.core.volume import Volume


def test_window_limits() -> None:
    assert Window(40, 400, "x").limits == (-160.0, 240.0)
    assert Window(-600, 1500, "x").limits == (-1350.0, 150.0)
    assert Window.from_dict(Window(1, 2, "s").as_dict()) == Window(1.0, 2.0, "s")
    assert Window.from_dict(None) is None and Window.from_dict({"centre": "x"}) is None


def test_presets_are_the_usual_ct_windows() -> None:
    assert WINDOW_PRESETS == {"brain": (40, 80), "soft tissue": (40, 400), "lung": (-600, 1500), "bone": (400, 1800)}
    assert preset_window("Lung").limits == (-1350.0, 150.0)
    assert preset_window("bone").limits == (-500.0, 1300.0)


def test_dicom_window_wins_over_the_ct_rule() -> None:
    vol = Volume(np.full((2, 3, 3), -1000, np.int16), modality="CT", units="HU",
                 meta={"dicom": {"WindowCenter": 60.0, "WindowWidth": 350.0}})
    win = initial_window(vol)
    assert (win.centre, win.width, win.source) == (60.0, 350.0, "DICOM")
    assert preset_window("DICOM", stored={"dicom": win.as_dict()}) == win


def test_ct_without_dicom_window_opens_in_soft_tissue() -> None:
    for meta in ({}, {"dicom": {"WindowCenter": float("nan"), "WindowWidth": float("nan")}},
                 {"dicom": {"WindowCenter": 40.0, "WindowWidth": 0.0}}):
        vol = Volume(np.zeros((2, 3, 3), np.int16), modality="CT", units="HU", meta=meta)
        assert initial_window(vol) == Window(40.0, 400.0, "soft tissue")
    assert dicom_window({}) is None


def test_hu_data_without_modality_is_ct() -> None:
    rng = np.random.default_rng(0)
    ct = rng.normal(40, 20, (8, 32, 32)).astype(np.int16)
    ct[:, :4] = -1000  # air above the patient
    assert looks_like_hu(ct)
    assert initial_window(Volume(ct)) == Window(40.0, 400.0, "soft tissue")
    mr = np.abs(rng.normal(500, 100, (8, 32, 32))).astype(np.float32)
    assert not looks_like_hu(mr)
    assert not looks_like_hu(np.zeros((2, 2), bool))


def test_mr_gets_the_percentile_window_of_nonzero_voxels() -> None:
    data = np.zeros((10, 10, 10), np.float32)
    data[2:8, 2:8, 2:8] = np.arange(216, dtype=np.float32).reshape(6, 6, 6) + 1
    win = initial_window(Volume(data, modality="MR"))
    lo, hi = np.percentile(np.arange(216) + 1, [0.5, 99.5])
    assert win.source == "auto"
    assert win.limits == pytest.approx((lo, hi))
    assert percentile_window(np.zeros((3, 3))) is None


def test_auto_returns_to_the_initial_window_and_dicom_needs_one() -> None:
    stored = {"initial": Window(700, 1200, "auto").as_dict(), "dicom": None}
    assert preset_window("auto", stored=stored) == Window(700, 1200, "auto")
    with pytest.raises(InvalidInputError, match="no DICOM window"):
        preset_window("DICOM", stored=stored)
    data = np.arange(1, 101, dtype=float)
    assert preset_window("auto", data=data).source == "auto"
    with pytest.raises(InvalidInputError, match="unknown window preset 'liver'.*brain, soft tissue, lung, bone"):
        preset_window("liver")


def test_screen_edges_in_the_three_views() -> None:
    # world axes (S, P, L); napari's default screen: rows grow downwards, columns to the right
    assert screen_edges((1, 2)) == {"top": "A", "bottom": "P", "left": "R", "right": "L"}  # axial, radiological
    assert screen_edges((0, 2)) == {"top": "I", "bottom": "S", "left": "R", "right": "L"}  # coronal upside down
    assert screen_edges((0, 2), "up") == {"top": "S", "bottom": "I", "left": "R", "right": "L"}
    assert screen_edges((0, 1), "up") == {"top": "S", "bottom": "I", "left": "A", "right": "P"}  # sagittal
    assert screen_edges((1, 2), "down", "left") == {"top": "A", "bottom": "P", "left": "L", "right": "R"}
    assert [preferred_vertical(a) for a in ((1, 2), (0, 2), (0, 1), (2, 0))] == ["down", "up", "up", "down"]
    assert [view_name(a) for a in ((1, 2), (0, 2), (0, 1))] == ["axial", "coronal", "sagittal"]
    with pytest.raises(InvalidInputError):
        screen_edges((1, 1))


def test_dims_order_keeps_leading_axes() -> None:
    assert dims_order_for("axial", 3) == (0, 1, 2)
    assert dims_order_for("coronal", 3) == (1, 0, 2)
    assert dims_order_for("sagittal", 3) == (2, 0, 1)
    assert dims_order_for("coronal", 4) == (0, 2, 1, 3)
    with pytest.raises(InvalidInputError, match="needs a 3-D image"):
        dims_order_for("axial", 2)


def test_orientation_is_unknown_for_arrays_and_dicom_without_positions() -> None:
    data = np.zeros((2, 3, 3))
    assert orientation_known(Volume(data))  # phantoms and files with geometry
    assert orientation_known(Volume(data, meta={"format": "nifti"}))
    assert not orientation_known(Volume(data, meta={"format": "npy"}))
    assert not orientation_known(Volume(data, meta={"format": "raw"}))
    no_pos = {"format": "dicom", "dicom": {"sorted_by": "instance-number (no ImagePositionPatient/...)"}}
    assert not orientation_known(Volume(data, meta=no_pos))
    assert orientation_known(Volume(data, meta={"format": "dicom", "dicom": {"sorted_by": "position"}}))
