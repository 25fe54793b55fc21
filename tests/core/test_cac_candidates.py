"""Candidate lesions, their 3-D groups, and a reader's reassignment."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks.cac import candidate_groups, find_candidates, reassign, score
from napari_medai.core.volume import Volume


def _ct() -> Volume:
    data = np.zeros((4, 30, 40), dtype=np.int16)
    data[:, 0, :] = -1000
    # plaque A: slices 0-2, overlapping footprints -> one group
    data[0, 5:8, 5:8] = 300
    data[1, 6:9, 6:9] = 450
    data[2, 8:10, 8:10] = 200          # touches slice 1 at (8, 8)
    # plaque B: slice 1 and slice 2, diagonal offset only (no face contact) -> two groups
    data[1, 20:22, 20:22] = 180
    data[2, 22:24, 22:24] = 180
    # a 3-pixel speck (0.75 mm^2) and a 129 HU region: not candidates
    data[0, 25, 30:33] = 500
    data[3, 10:15, 10:15] = 129
    return Volume(data=data, spacing=(3.0, 0.5, 0.5), modality="CT", units="HU", name="ct")


def test_candidates_ids_areas_and_groups():
    cand, lesions = find_candidates(_ct())
    assert cand.is_label and cand.data.dtype == np.int32
    assert [les["slice"] for les in lesions] == [0, 1, 1, 2, 2]
    assert [les["n_voxels"] for les in lesions] == [9, 9, 4, 4, 4]
    assert [les["area_mm2"] for les in lesions] == [2.25, 2.25, 1.0, 1.0, 1.0]
    assert [les["peak_hu"] for les in lesions] == [300, 450, 180, 200, 180]
    groups = [les["group"] for les in lesions]
    assert groups[0] == groups[1] == groups[3]            # plaque A across three slices
    assert groups[2] != groups[4]                          # plaque B: diagonal offset is not contact
    assert cand.meta["n_groups"] == 3
    assert cand.meta["group_of"][1:] == groups
    assert lesions[0]["centroid"] == (0.0, 6.0, 6.0)
    g = candidate_groups(cand)
    assert np.unique(g.data[cand.data > 0]).size == 3


def test_candidate_min_area_threshold_and_connectivity():
    ct = _ct()
    _, lesions = find_candidates(ct, min_area_mm2=0.75)
    assert len(lesions) == 6  # the 3-pixel speck joins
    _, lesions = find_candidates(ct, min_area_mm2=2.25)
    assert len(lesions) == 2
    _, lesions = find_candidates(ct, threshold_hu=129)
    assert any(les["n_voxels"] == 25 for les in lesions)
    with pytest.raises(InvalidInputError):
        find_candidates(ct, connectivity=6)


def test_reassign_whole_group_by_point_and_single_candidate_by_id():
    ct = _ct()
    cand, lesions = find_candidates(ct)
    empty = ct.with_data(np.zeros(ct.spatial_shape, np.uint8), is_label=True)
    a = reassign(empty, cand, (1, 7, 7), "LAD")  # click on plaque A in slice 1
    assert set(np.unique(a.data[cand.data > 0])) == {0, 2}
    assert (a.data == 2).sum() == 9 + 9 + 4
    assert a.meta["last_edit"]["candidates"] == [1, 2, 4]
    assert empty.data.max() == 0  # the input is not modified
    # a click 2 pixels off the plaque still picks it
    b = reassign(a, cand, (2, 11, 11), "RCA")
    assert (b.data == 4).sum() == 22
    # only the 2-D candidate, by id
    c = reassign(b, cand, 3, 3, whole_group=False)
    assert (c.data == 3).sum() == 4 and (c.data == 4).sum() == 22
    d = reassign(c, cand, 3, "unassigned")
    assert (d.data == 3).sum() == 0
    r = score(ct, b)
    assert r.lesion_count["RCA"] == 3 and r.agatston["RCA"] == 2.25 * 3 + 2.25 * 4 + 1.0 * 2
    with pytest.raises(InvalidInputError, match="no candidate"):
        reassign(empty, cand, (3, 28, 2), "LAD")
    with pytest.raises(InvalidInputError, match="unknown artery"):
        reassign(empty, cand, 1, "LCA")
    with pytest.raises(InvalidInputError, match="does not exist"):
        reassign(empty, cand, 99, "LAD")
