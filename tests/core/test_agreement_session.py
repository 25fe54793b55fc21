"""The live agreement session: incremental tables equal to a computation from scratch, picking, guessing."""

from __future__ import annotations

import numpy as np
import pytest

from napari_medai.core.agreement_session import (
    AgreementSession,
    LayerInfo,
    guess_convention,
    label_values,
    looks_like,
    pick_pair,
)
from napari_medai.core.error_map import lesion_list
from napari_medai.core.errors import GeometryMismatchError, InvalidInputError
from napari_medai.core.evaluate import evaluate_volumes
from napari_medai.core.volume import Volume

from .test_metrics_live import _same, _strokes, _tumour_pair

SPACING = (2.0, 0.8, 0.7)


def _vol(data, name):
    return Volume(data=data, spacing=SPACING, is_label=True, name=name)


def _scratch(pred, gt, convention="brats2021", tolerance_mm=1.0, lesion_style="isles"):
    res = evaluate_volumes(_vol(pred.copy(), "pred"), _vol(gt.copy(), "gt"), convention=convention,
                           tolerance_mm=tolerance_mm, lesion_style=lesion_style)
    return res, lesion_list(pred, gt, spacing=SPACING, labels=(1, 2, 4))


@pytest.mark.parametrize("lesion_style", ["isles", "brats2023"])
def test_session_after_random_strokes_equals_scratch(lesion_style):
    pred, gt = _tumour_pair()
    rng = np.random.default_rng(5)
    session = AgreementSession()
    kw = {"convention": "brats2021", "tolerance_mm": 1.5, "lesion_style": lesion_style, "pred_key": 1, "gt_key": 2}
    snap = session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw)
    assert snap is not None and snap.full
    session.recompute(snap)
    for k, (target, sl, value) in enumerate(_strokes(pred, gt, rng, 20)):
        target[sl] = value
        # the panel knows which layer sent the event, and now and then only that something changed
        session.note_edit(None if k % 4 == 3 else ("pred" if target is pred else "gt"))
        snap = session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw)
        ref, ref_lesions = _scratch(pred, gt, tolerance_mm=1.5, lesion_style=lesion_style)
        if snap is None:  # the stroke wrote the values already there
            continue
        assert not snap.full
        live = session.recompute(snap)
        _same(live.result.regions, ref.regions, f"stroke {k}")
        _same(live.result.labels, ref.labels, f"stroke {k}")
        assert live.lesions == ref_lesions, f"stroke {k}"
    assert session.cache.hits > 0


def test_snapshot_is_a_copy_and_unchanged_maps_ask_nothing():
    pred, gt = _tumour_pair(seed=2)
    session = AgreementSession()
    kw = {"convention": "brats2021", "pred_key": "p", "gt_key": "g"}
    snap = session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw)
    before = snap.pred.data.copy()
    pred[10:12, 10:20, 10:20] = 4  # painted while the worker would read the snapshot
    assert np.array_equal(snap.pred.data, before)
    session.recompute(snap)
    # no edit noted: nothing read, nothing to do (a slice change sends the same events as an edit)
    assert session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw) is None
    session.note_edit("gt")  # an event from the reference that changed nothing
    assert session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw) is None
    session.note_edit("pred")
    snap = session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw)
    assert snap.changes == {"pred": ((10, 12), (10, 20), (10, 20)), "gt": None}
    session.recompute(snap)
    session.settings_changed()
    snap = session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **{**kw, "tolerance_mm": 2.0})
    assert snap is not None and snap.full and snap.tolerance_mm == 2.0
    # another layer under the same role: copied afresh
    session.recompute(snap)
    snap = session.snapshot(_vol(pred.copy(), "other"), _vol(gt, "gt"), **{**kw, "pred_key": "q"})
    assert snap.changes["pred"] is True


def test_grid_mismatch_and_bad_convention_are_reported_without_cli_flags():
    pred, gt = _tumour_pair(seed=1)
    session = AgreementSession()
    coarse = Volume(data=pred[:, ::2, ::2].copy(), spacing=(2.0, 1.6, 1.4), is_label=True, name="coarse")
    with pytest.raises(GeometryMismatchError, match="different voxel grids") as err:
        session.snapshot(coarse, _vol(gt, "gt"), convention="brats2021")
    assert "--" not in str(err.value)
    with pytest.raises(InvalidInputError, match="unknown label convention"):
        session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), convention="nonsense", pred_key=1)
    # the failed attempts leave the session ready: the next snapshot computes everything
    snap = session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), convention="brats2021", pred_key=1)
    assert snap is not None and snap.full
    with pytest.raises(InvalidInputError, match="3"):
        bad = _vol(np.where(pred == 4, 3, pred), "pred")
        session.recompute(snap.__class__(**{**snap.__dict__, "pred": bad}))
    # after a failed recomputation the next one starts afresh and is right
    snap = session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), convention="brats2021", pred_key=1)
    assert snap is not None and snap.full
    live = session.recompute(snap)
    ref, ref_lesions = _scratch(pred, gt)
    _same(live.result.regions, ref.regions)
    assert live.lesions == ref_lesions


def test_note_edit_rejects_unknown_roles():
    with pytest.raises(InvalidInputError, match="pred"):
        AgreementSession().note_edit("prediction")



@pytest.mark.parametrize("seed", [0, 1, 2])
def test_box_noted_updates_equal_scratch_and_the_no_box_path(seed):
    """Edits noted with their box (slices or (start, stop) pairs, now and then a box larger than the
    edit, two edits between snapshots) give the tables and lesions of a computation from scratch and
    of a session told nothing of where (which compares the whole maps)."""
    pred, gt = _tumour_pair(seed=seed)
    rng = np.random.default_rng(10 + seed)
    boxed, plain = AgreementSession(), AgreementSession()
    maps = {"boxed": (pred.copy(), gt.copy()), "plain": (pred, gt)}
    kw = {"convention": "brats2021", "tolerance_mm": 1.0, "pred_key": 1, "gt_key": 2}
    for session, (p, g) in ((boxed, maps["boxed"]), (plain, maps["plain"])):
        session.recompute(session.snapshot(_vol(p, "pred"), _vol(g, "gt"), **kw))
    strokes = list(_strokes(pred, gt, rng, 24))
    for k, (target, sl, value) in enumerate(strokes):
        which = "pred" if target is pred else "gt"
        for name, session in (("boxed", boxed), ("plain", plain)):
            p, g = maps[name]
            (p if which == "pred" else g)[sl] = value
            if name == "plain":
                session.note_edit(which)
            elif k % 3 == 0:
                session.note_edit(which, box=sl)
            elif k % 3 == 1:  # a box one voxel larger, running over the array's edge
                session.note_edit(which, box=[(max(s.start - 1, 0), s.stop + 1) for s in sl])
            else:
                session.note_edit(which, box=[(s.start, s.stop) for s in sl])
        if k % 4 == 1:
            continue  # two edits between snapshots: the boxes are merged
        snaps = {name: s.snapshot(_vol(maps[name][0], "pred"), _vol(maps[name][1], "gt"), **kw)
                 for name, s in (("boxed", boxed), ("plain", plain))}
        assert (snaps["boxed"] is None) == (snaps["plain"] is None), f"stroke {k}"
        if snaps["boxed"] is None:
            continue
        assert snaps["boxed"].changes == snaps["plain"].changes, f"stroke {k}"
        live = boxed.recompute(snaps["boxed"])
        other = plain.recompute(snaps["plain"])
        ref, ref_lesions = _scratch(*maps["boxed"])
        _same(live.result.regions, ref.regions, f"stroke {k}")
        _same(live.result.labels, ref.labels, f"stroke {k}")
        _same(live.result.regions, other.result.regions, f"stroke {k}")
        assert live.lesions == ref_lesions == other.lesions, f"stroke {k}"


def test_a_box_is_trusted_and_a_box_free_note_compares_everything():
    pred, gt = _tumour_pair()
    session = AgreementSession()
    kw = {"convention": "brats2021", "pred_key": 1, "gt_key": 2}
    session.recompute(session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw))
    pred[0, 0, 0] = 4  # an edit outside the noted box is not seen...
    session.note_edit("pred", box=(slice(10, 12), slice(10, 12), slice(10, 12)))
    assert session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw) is None
    session.note_edit("gt", box=((0, 3), (0, 3), (0, 3)))  # ...nor one of the other map's box
    assert session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw) is None
    session.note_edit("pred", box=((0, 3), (0, 3), (0, 3)))  # a box over the edit finds it
    snap = session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw)
    assert snap is not None and snap.changes == {"pred": ((0, 1), (0, 1), (0, 1)), "gt": None}
    session.recompute(snap)
    pred[5, 6, 7] = 1
    session.note_edit("pred", box=((30, 31), (0, 1), (0, 1)))
    session.note_edit("pred")  # a note without a box after one with: the whole map is compared
    snap = session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw)
    assert snap is not None and snap.changes["pred"] == ((5, 6), (6, 7), (7, 8))


@pytest.mark.parametrize("box", [((0, 3), (0, 3)), [(0, 2), (1, 3), "x"], (slice(0, 4, 2),) * 3,
                                 ((-1, 2), (0, 1), (0, 1)), ()])
def test_bad_edit_boxes_are_refused_with_the_fix(box):
    pred, gt = _tumour_pair()
    session = AgreementSession()
    kw = {"convention": "brats2021", "pred_key": 1, "gt_key": 2}
    session.recompute(session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw))
    with pytest.raises(InvalidInputError, match="axis|axes"):
        session.note_edit("pred", box=box)
        session.snapshot(_vol(pred, "pred"), _vol(gt, "gt"), **kw)


@pytest.mark.parametrize(("names", "expected"), [
    # a segmentation output (declared) next to the sample's brain mask and ground truth
    ([("flairmask", None), ("brainmask", None), ("seg", None), ("brain tumour", "prediction")],
     ("brain tumour", "seg")),
    # files: case_seg.nii.gz and case_pred.nii.gz, either order
    ([("case_seg", None), ("case_pred", None)], ("case_pred", "case_seg")),
    ([("case_pred", None), ("case_seg", None)], ("case_pred", "case_seg")),
    # only a mask besides the prediction: the mask is the last resort
    ([("brainmask", None), ("output", None)], ("output", "brainmask")),
    # a task widget's output without a declared role: a plain name, so the prediction
    ([("brainmask", None), ("seg", None), ("brain tumour (brain-tumour-default)", None)],
     ("brain tumour (brain-tumour-default)", "seg")),
    # plain names: newest is the prediction, the other the reference
    ([("a", None), ("b", None)], ("b", "a")),
    ([("OTMultiClass", None), ("model", None)], ("model", "OTMultiClass")),
    ([("ground truth", None), ("prediction", None)], ("prediction", "ground truth")),
    # one layer only
    ([("seg", None)], (None, "seg")),
    ([("case_pred", None)], ("case_pred", None)),
    ([], (None, None)),
    # a prediction named 'segmentation' is not ground truth
    ([("seg", None), ("segmentation", None)], ("segmentation", "seg")),
])
def test_pick_pair(names, expected):
    assert pick_pair([LayerInfo(n, r) for n, r in names]) == expected


def test_looks_like():
    assert looks_like("BraTS-GLI-00001-000-seg") == "gt"
    assert looks_like("brats_2013_pat0003_1 OTMultiClass") == "gt"
    assert looks_like("brainmask") == "mask"
    assert looks_like("case_msk") == "mask"
    assert looks_like("t1c") == ""
    assert looks_like("brain tumour (brain-tumour-default)") == ""  # a task widget's output, not a mask


@pytest.mark.parametrize(("values", "expected"), [
    ((1,), "binary"),
    ((1, 2, 4), "brats2021"),
    ((2, 4), "brats2021"),
    ((1, 2, 3), "brats2023"),
    ((1, 2, 3, 4), "brats2013"),
    ((1, 2), "brats2021"),
    ((), None),
    ((1, 5, 7), "label_1=1;label_5=5;label_7=7"),
])
def test_guess_convention(values, expected):
    assert guess_convention(values) == expected


def test_label_values():
    a = np.zeros((3, 4, 5), np.int32)
    a[0, 0, :3] = [1, 4, 2]
    assert label_values(a) == (1, 2, 4)
    assert label_values(a.astype(np.uint8)) == (1, 2, 4)
    assert label_values(a.astype(bool)) == (1,)
    assert label_values(np.zeros((2, 2), np.int16)) == ()
    assert label_values(np.array([[-1, 0], [70000, 3]])) == (-1, 3, 70000)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lesion_list_kept_overlaps_equal_scratch_after_random_edits(seed):
    """Small lesions of both maps painted and erased (they appear, merge, split, gain and lose their
    overlap with the other map): the lesion list kept up to date near each edit, with its kept
    per-lesion overlap counts, equals one from scratch."""
    rng = np.random.default_rng(seed)
    shape = (8, 24, 24)
    pred = np.zeros(shape, np.uint8)
    gt = np.zeros(shape, np.uint8)
    for arr in (pred, gt):
        for _ in range(6):
            c = rng.integers(0, shape)
            arr[tuple(slice(max(a - 1, 0), a + 2) for a in c)] = 1
    cache: dict = {}
    lesion_list(pred, gt, spacing=SPACING, cache=cache, changed={"pred": True, "gt": True})
    followed = 0
    for k in range(60):
        arr, which = (gt, "gt") if k % 3 == 2 else (pred, "pred")
        c = rng.integers(0, shape)
        half = rng.integers(0, 3, size=3)
        box = tuple((max(int(a - h), 0), min(int(a + h + 1), n)) for a, h, n in zip(c, half, shape))
        arr[tuple(slice(a, b) for a, b in box)] = int(rng.integers(0, 2))
        changed = {"pred": box if which == "pred" else None, "gt": box if which == "gt" else None}
        live = lesion_list(pred, gt, spacing=SPACING, cache=cache, changed=changed)
        assert live == lesion_list(pred, gt, spacing=SPACING), f"edit {k}"
        masks = cache.get("masks")
        for role, other in (("gt", "pred"), ("pred", "gt")):
            held = cache.get(("overlap", role))
            if held is None or masks is None:
                continue
            lab = held["comps"].labels
            expected = np.bincount(lab[masks[other]].ravel(), minlength=held["comps"].n + 1)
            np.testing.assert_array_equal(held["counts"], expected, err_msg=f"edit {k} {role}")
            followed += 1
    assert followed > 0
