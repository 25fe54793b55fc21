"""The CTA hypodensity / hemispheric-asymmetry baseline on the CTA phantom, and the HU check."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from napari_medai.core.callbacks import Cancelled
from napari_medai.core.errors import InvalidInputError
from napari_medai.core.metrics.overlap import dice, sensitivity
from napari_medai.core.phantoms.stroke import stroke_cta_phantom, stroke_phantom
from napari_medai.core.tasks.stroke.baseline_cta import (
    CTA_PARAMS,
    CTA_PARAMS_SOURCES,
    CtaParams,
    check_cta,
    segment_cta_baseline,
)
from napari_medai.core.tasks.stroke.midline import MidSagittalPlane
from napari_medai.core.volume import Volume

_CACHE: dict[tuple, dict[str, Volume]] = {}


def cta(**kw) -> dict[str, Volume]:
    key = tuple(sorted(kw.items()))
    if key not in _CACHE:
        _CACHE[key] = stroke_cta_phantom(**kw)
    return _CACHE[key]


def _truth_plane(meta: dict) -> MidSagittalPlane:
    m = meta["midline"]
    return MidSagittalPlane(tuple(m["normal"]), m["offset_mm"], 1.0, "truth")


# seeds 0-4 chose the parameters; these are held out
@pytest.mark.parametrize("seed", [11, 13])
def test_finds_the_territorial_ischaemia(seed):
    c = cta(seed=seed)
    mask, score = segment_cta_baseline(c["cta"])
    gt = c["lesion"].data > 0
    pred = mask.data > 0
    assert mask.is_label and mask.data.dtype == np.uint8 and mask.label_names == {1: "ischaemic"}
    assert score.data.dtype == np.float32 and mask.same_grid(c["cta"]) and score.same_grid(c["cta"])
    assert float(score.data.min()) >= 0.0 and float(score.data.max()) <= 1.0
    assert dice(pred, gt) >= 0.6
    assert sensitivity(pred, gt) >= 0.5
    # everything found lies on the ischaemic (left) side of the head
    plane = _truth_plane(c["lesion"].meta)
    assert set(plane.side(c["cta"].index_to_world(np.argwhere(pred)))) == {"left"}
    # the score is high inside what was found, low in the other hemisphere
    assert float(score.data[pred].mean()) > 0.5
    world = c["cta"].index_to_world(np.argwhere(np.ones(gt.shape, bool)))
    right = (plane.signed_distance(world) < -5.0).reshape(gt.shape) & ~gt
    assert float(score.data[right].mean()) < 0.05
    assert mask.meta["method"] == "threshold-cta"
    assert mask.meta["params"] == CTA_PARAMS.to_dict()
    assert abs(mask.meta["mid_sagittal_plane"]["offset_mm"] - plane.offset_mm) < 1.5


@pytest.mark.parametrize("seed", [10, 12])
def test_no_infarct_no_lesion(seed):
    c = cta(seed=seed, with_infarct=False)
    mask, _ = segment_cta_baseline(c["cta"])
    assert float(mask.data.sum()) * c["cta"].voxel_volume_mm3 / 1000.0 <= 0.5  # ml of false positives


def test_an_invisible_infarct_is_not_found():
    c = cta(seed=11, hypodensity_hu=0.0, vessel_reduction=0.0)
    mask, _ = segment_cta_baseline(c["cta"], plane=_truth_plane(c["lesion"].meta))
    assert float(mask.data.sum()) * 8e-3 <= 0.5


def test_parameters_documented_and_checked():
    fields = {f.name for f in dataclasses.fields(CtaParams)}
    assert set(CTA_PARAMS_SOURCES) == fields
    assert all(len(text) > 40 for text in CTA_PARAMS_SOURCES.values())
    c = cta(seed=11)
    with pytest.raises(InvalidInputError, match="unknown CTA baseline parameter"):
        segment_cta_baseline(c["cta"], params={"threshold": 3.0})
    with pytest.raises(InvalidInputError, match="must increase"):
        segment_cta_baseline(c["cta"], params={"vessel_min_hu": 40.0})
    with pytest.raises(InvalidInputError, match="grow_hu"):
        segment_cta_baseline(c["cta"], params={"grow_hu": 5.0})
    # a stricter threshold finds less
    plane = _truth_plane(c["lesion"].meta)
    loose, _ = segment_cta_baseline(c["cta"], plane=plane)
    strict, _ = segment_cta_baseline(c["cta"], plane=plane, params=CtaParams(hypodensity_hu=5.0, grow_hu=4.0))
    assert 0 < strict.data.sum() < loose.data.sum()


def test_progress_and_stop():
    c = cta(seed=11)
    seen = []
    segment_cta_baseline(c["cta"], plane=_truth_plane(c["lesion"].meta), progress=lambda f, m: seen.append(f))
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    with pytest.raises(Cancelled):
        segment_cta_baseline(c["cta"], should_stop=lambda: True)


def test_check_cta_refuses_what_is_not_hu():
    c = cta(seed=11)["cta"]
    check_cta(c)  # a CTA in HU passes
    check_cta(c.with_data(c.data, modality="unknown", units=""))  # values alone suffice
    mr = stroke_phantom(seed=0, shape=(24, 40, 36), with_flair=False)["dwi"]
    with pytest.raises(InvalidInputError, match=r"modality is 'MR', not CT"):
        check_cta(mr)
    with pytest.raises(InvalidInputError, match=r"no air near -1000 HU.*MR image"):
        check_cta(mr.with_data(mr.data, modality="unknown", source="/data/dwi.nii.gz"))
    raw = c.with_data((c.data + 1024.0).astype(np.float32), source="/data/cta_raw.nii.gz")
    with pytest.raises(InvalidInputError, match=r"^/data/cta_raw.nii.gz: no air.*subtract 1024"):
        check_cta(raw)
    with pytest.raises(InvalidInputError, match="not HU"):
        check_cta(c.with_data(c.data, units="1e-6 mm^2/s"))
    with pytest.raises(InvalidInputError, match="one 3-D image"):
        check_cta(Volume(np.stack([c.data, c.data]), channel_axis=0, modality="CT", name="two"))
    cropped = c.with_data(np.clip(c.data, -200.0, None))  # no air left in the field of view
    with pytest.raises(InvalidInputError, match="air"):
        check_cta(cropped)
    # the segmentation checks before any work
    with pytest.raises(InvalidInputError, match="not CT"):
        segment_cta_baseline(mr)


_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"


@pytest.mark.skipif(not (_DATA / "isles22_case0009").is_dir() or not (_DATA / "ct_chest_noncontrast").is_dir(),
                    reason="the real ISLES'22 case or the real CT is not in ../shared/data")
def test_check_cta_on_real_files():
    from napari_medai.core.io import read_volume

    check_cta(read_volume(_DATA / "ct_chest_noncontrast" / "lung1_image.nrrd"))  # a real CT in HU passes
    ses = _DATA / "isles22_case0009" / "rawdata" / "sub-strokecase0009" / "ses-0001"
    for kind in ("dwi", "flair"):  # real MR is refused, and the message says so
        path = ses / f"sub-strokecase0009_ses-0001_{kind}.nii.gz"
        with pytest.raises(InvalidInputError, match=rf"{kind}.nii.gz: no air near -1000 HU \(values look like an MR"):
            check_cta(read_volume(path))
