"""DWI-FLAIR mismatch: FLAIR relative signal intensity on constructed cases with known ratios."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.errors import InvalidInputError
from napari_medai.core.tasks.stroke.midline import MidSagittalPlane
from napari_medai.core.tasks.stroke.mismatch import RESEARCH_NOTE, flair_mismatch

PLANE = MidSagittalPlane(normal=(0.0, 0.0, 1.0), offset_mm=0.0, score=1.0, method="test plane L = 0")


def _case():
    from napari_medai.core.volume import Volume

    shape = (10, 20, 20)
    kw = {"spacing": (1.0, 1.0, 1.0), "origin": (0.0, 0.0, -9.5)}  # L runs -9.5..9.5: x index i mirrors 19 - i
    mask = np.zeros(shape, np.uint8)
    flair = np.full(shape, 100.0, np.float32)
    mask[3:6, 2:6, 13:17] = 1       # A: left, 48 voxels, FLAIR 130 -> rSI 1.3
    flair[3:6, 2:6, 13:17] = 130.0
    mask[3:6, 12:15, 2:5] = 1       # B: right, 27 voxels, FLAIR 105 -> rSI 1.05
    flair[3:6, 12:15, 2:5] = 105.0
    flair[3:6, 12:15, 15:18] = 100.0  # B's mirror (x 15..17): normal
    return Volume(mask, is_label=True, name="lesion", **kw), Volume(flair, name="flair", **kw)


def test_rsi_per_lesion_and_overall_with_the_research_note():
    mask, flair = _case()
    rep = flair_mismatch(mask, flair, PLANE)
    by_size = {m.n_lesion_voxels: m for m in rep.lesions}
    assert by_size[48].rsi == pytest.approx(1.3) and by_size[48].n_mirror_voxels == 48
    assert by_size[27].rsi == pytest.approx(1.05)
    assert rep.overall_rsi == pytest.approx((48 * 130 + 27 * 105) / 75 / 100.0)
    assert "above the published cut-offs" in by_size[48].interpretation
    assert "below the published cut-offs" in by_size[27].interpretation
    doc = rep.to_json()
    assert doc["note"] == RESEARCH_NOTE == "research measure, not a treatment decision"
    assert doc["cutoffs"] == [1.1, 1.2] and doc["overall_rsi"] == pytest.approx(1.21, abs=1e-4)  # 9075 / 75 / 100


def test_mirror_region_excludes_other_lesions_and_uncovered_voxels():
    mask, flair = _case()
    m = mask.data.copy()
    m[3:6, 2:6, 3:7] = 1  # a lesion exactly in A's mirror image, with bright FLAIR
    f = flair.data.copy()
    f[3:6, 2:6, 3:7] = 160.0
    rep = flair_mismatch(mask.with_data(m), flair.with_data(f), PLANE)
    # A and its mirror twin have no usable contralateral region left: no rSI rather than a wrong one
    assert sum(r.rsi is None for r in rep.lesions) == 2
    coverage = np.ones(mask.spatial_shape, bool)
    coverage[:, :, :10] = False  # FLAIR only over the left half
    rep2 = flair_mismatch(mask, flair, PLANE, coverage=coverage)
    assert all(r.rsi is None for r in rep2.lesions)
    assert any("lesion voxel(s) outside the FLAIR's field of view" in n for n in rep2.notes)
    # a mirror image outside the brain is no reference: with 'within' it is left out
    brain = np.ones(mask.spatial_shape, bool)
    brain[:, :8, :8] = False  # A's mirror (y 2..5, x 3..6) is outside; B's (y 12..14, x 15..17) inside
    rep3 = flair_mismatch(mask, flair, PLANE, within=brain)
    by_size = {m.n_lesion_voxels: m for m in rep3.lesions}
    assert by_size[48].rsi is None and by_size[27].rsi == pytest.approx(1.05)


def test_flair_must_be_on_the_lesion_grid():
    mask, flair = _case()
    with pytest.raises(InvalidInputError, match="not on the lesion grid.*resample"):
        flair_mismatch(mask, flair.with_data(flair.data, spacing=(2.0, 1.0, 1.0)), PLANE)
