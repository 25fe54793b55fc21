"""Stroke MRI input checks: grids, b-values, ADC values, FLAIR resampling by world geometry."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.io import write_volume
from napari_medai.core.tasks.stroke.inputs import (
    check_adc_values,
    prepare_mri_inputs,
    read_sidecars,
    resample_linear,
    select_dwi_volume,
)
from napari_medai.core.volume import Volume


def _pair(shape=(16, 20, 20)) -> tuple[Volume, Volume]:
    z, y, x = np.indices(shape)
    r = np.sqrt(((z - shape[0] / 2) / (shape[0] / 2.4)) ** 2 + ((y - shape[1] / 2) / (shape[1] / 2.4)) ** 2
                + ((x - shape[2] / 2) / (shape[2] / 2.4)) ** 2)
    head = r < 1
    adc = np.where(head, 800.0, 0.0).astype(np.float32)
    dwi = np.where(head, 300.0, 0.0).astype(np.float32)
    kw = {"spacing": (2.0, 2.0, 2.0), "origin": (-10.0, 5.0, 3.0)}
    return Volume(dwi, name="dwi", source="s_dwi.nii.gz", **kw), Volume(adc, name="adc", source="s_adc.nii.gz", **kw)


def test_dwi_and_adc_on_different_grids_name_both_files_and_the_fix():
    dwi, adc = _pair()
    moved = adc.with_data(adc.data, origin=(0.0, 0.0, 0.0))
    with pytest.raises(InvalidInputError) as exc:
        prepare_mri_inputs(dwi, moved)
    msg = str(exc.value)
    assert "s_dwi.nii.gz" in msg and "s_adc.nii.gz" in msg and "origin" in msg and "resample the ADC" in msg
    assert len(msg.splitlines()) == 1


def test_negative_adc_is_refused_but_a_few_noisy_voxels_are_clipped_with_a_note():
    _, adc = _pair()
    bad = adc.data.copy()
    bad[:, :, :10] *= -1  # half the head negative
    with pytest.raises(InvalidInputError, match=r"s_adc\.nii\.gz: .*% of the ADC voxels are negative"):
        check_adc_values(adc.with_data(bad, units="1e-6 mm^2/s"))
    few = adc.data.copy()
    few[8, 10, 10] = -5.0
    out, notes = check_adc_values(adc.with_data(few))
    assert out.data.min() == 0.0 and notes and "1 negative voxel(s)" in notes[0]


def test_impossible_adc_values_are_refused():
    _, adc = _pair()
    with pytest.raises(InvalidInputError, match="exceed 10000"):
        check_adc_values(adc.with_data(adc.data * 20))


def test_4d_dwi_needs_b_values_and_uses_the_highest():
    dwi, adc = _pair()
    series = np.stack([dwi.data * 3, dwi.data * 0.9, dwi.data * 1.1, dwi.data * 0.5])
    dwi4 = dwi.with_data(series, channel_axis=0, channel_kind="time")
    with pytest.raises(InvalidInputError, match=r"s_dwi\.nii\.gz: a 4-D DWI with 4 volumes and no b-values.*\.bval"):
        prepare_mri_inputs(dwi4, adc)
    with pytest.raises(InvalidInputError, match="4 volumes but 3 b-values"):
        select_dwi_volume(dwi4, sidecar={"bvals": [0, 1000, 1000]})
    vol, b, notes = select_dwi_volume(dwi4, sidecar={"DiffusionBValue": [0, 1000, 1000, 500]})
    assert b == 1000 and vol.channel_axis is None
    head = dwi.data > 0
    np.testing.assert_allclose(vol.data[head], np.sqrt(0.9 * 1.1) * dwi.data[head], rtol=1e-5)  # geometric mean
    assert "geometric mean" in notes[0] and "b = 1000" in notes[0]
    vol, b, notes = select_dwi_volume(dwi4, sidecar={"bvals": [0, 500, 1000, 800], "bvals_file": "x.bval"})
    np.testing.assert_allclose(vol.data, dwi.data * 1.1, rtol=1e-6)
    assert "volume 2 of 4" in notes[0] and "x.bval" in notes[0]


def test_bval_file_and_sidecar_are_found_beside_the_image(tmp_path):
    dwi, _ = _pair()
    p = write_volume(dwi, tmp_path / "sub_dwi.nii.gz")
    (tmp_path / "sub_dwi.bval").write_text("0 1000 1000\n")
    (tmp_path / "sub_dwi.json").write_text('{"DiffusionBValue": 1000}')
    side = read_sidecars(dwi=p, adc=None)
    assert side["dwi"]["bvals"] == [0.0, 1000.0, 1000.0] and side["dwi"]["DiffusionBValue"] == 1000
    (tmp_path / "sub_dwi.bval").write_text("0 one\n")
    with pytest.raises(InvalidInputError, match=r"sub_dwi\.bval"):
        read_sidecars(dwi=p)


@pytest.mark.parametrize("angle", [0.0, 12.0])
def test_flair_resampling_keeps_world_positions(angle):
    dwi, adc = _pair(shape=(20, 24, 24))
    rot = Rotation.from_euler("x", angle, degrees=True).as_matrix()  # about S: a head turned in the plane
    flair_shape = (9, 100, 100)
    flair_data = np.full(flair_shape, 50.0, np.float32)
    dot = (4, 37, 61)
    flair_data[dot] = 5000.0
    flair = Volume(flair_data, spacing=(5.0, 0.45, 0.45), origin=(-12.0, 7.0, 5.0), direction=rot,
                   name="flair", source="s_flair.nii.gz")
    world_dot = flair.index_to_world(np.array([dot], float))[0]
    out = prepare_mri_inputs(dwi, adc, flair)
    assert out.flair.same_grid(dwi)
    note = [n for n in out.notes if n.startswith("FLAIR resampled")][0]
    assert "from 0.45x0.45x5 mm 100x100x9 onto the DWI grid 2x2x2 mm 24x24x20" in note and "linear" in note
    excess = np.clip(out.flair.data - 50.0, 0, None) * out.flair_coverage
    assert excess.max() > 0
    centroid = (np.argwhere(excess > 0) * excess[excess > 0][:, None]).sum(0) / excess.sum()
    assert np.linalg.norm(dwi.index_to_world(centroid[None, :])[0] - world_dot) < 1.0  # within half a DWI voxel
    # outside the FLAIR's field of view there is no signal and no coverage
    assert not out.flair_coverage.all() and (out.flair.data[~out.flair_coverage] == 0).all()


def test_resampling_onto_the_same_grid_is_the_identity():
    dwi, _ = _pair()
    same, cov = resample_linear(dwi, dwi)
    np.testing.assert_allclose(same.data, dwi.data, atol=1e-4)
    assert cov.all()
