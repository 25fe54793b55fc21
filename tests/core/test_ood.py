"""The out-of-distribution verdict (core.ood): limits from the training cases by leave-one-out,
hand-computed; a distorted or scrambled input is "unlike", a training case in another preparation
"like"; a model folder without reference statistics says so."""

from __future__ import annotations

import json

import numpy as np
import pytest

from napari_medai.core.ood import (
    LIKE,
    NO_REFERENCE,
    QUANTILE_LEVELS,
    UNLIKE,
    assess,
    build_reference,
    intensity_profile,
    prediction_signals,
    scatter,
    wasserstein,
)

from .test_models_support import one_torch_thread  # noqa: F401


def _profile(shift: float, corr: float = 0.9) -> dict:
    """A hand-made one-channel profile: standard-normal-like quantiles moved by ``shift``."""
    base = np.linspace(-2.0, 3.0, len(QUANTILE_LEVELS))
    return {"brain_voxels": 1000, "channels": {"flair": {
        "percentiles": {"1": -2.0 + shift, "5": -1.5, "25": -0.5, "50": 0.0, "75": 0.5, "95": 1.5, "99": 3.0 + shift},
        "quantiles": list(base + shift), "neighbour_correlation": corr}}}


def test_limits_are_the_training_range_widened_by_the_leave_one_out_surprise():
    cases = [{"name": f"c{i}", "profile": _profile(s, corr=r), "truth_fraction": f, "uncertainty_bits": u}
             for i, (s, r, f, u) in enumerate([(0.0, 0.90, 0.02, 0.30), (0.1, 0.88, 0.05, 0.32),
                                               (0.3, 0.92, 0.06, 0.40)])]
    ref = build_reference(cases)
    # leave-one-out distances: |s_i - mean(s_others)| = 0.2, 0.05, 0.25
    assert [c["intensity_distance"]["flair"] for c in ref["cases"]] == pytest.approx([0.2, 0.05, 0.25], abs=1e-4)
    # widened by max(gap at the top 0.05, floor 0.02 x spread 5) = 0.1
    assert ref["limits"]["intensity_distance"]["flair"] == pytest.approx(0.35, abs=1e-4)
    # correlation 0.88 .. 0.92, gaps 0.02 below and above, floor 0.05
    assert ref["limits"]["neighbour_correlation"]["flair"] == pytest.approx([0.83, 0.97], abs=1e-6)
    assert ref["limits"]["tumour_fraction"] == pytest.approx(0.06 + 0.02)  # gap 0.01 < floor 0.02 (no predictions)
    assert ref["limits"]["uncertainty_bits"] == pytest.approx(0.40 + 0.08)  # gap 0.08 > floor 0.05
    json.dumps(ref)  # it goes into model.json

    like = assess(ref, _profile(0.15), {"uncertainty_bits": 0.35, "tumour_fraction": 0.04})
    assert like.verdict == LIKE and like.like and not like.reasons
    assert like.numbers["intensity_distance"]["flair"]["value"] == pytest.approx(abs(0.15 - 0.4 / 3), abs=1e-4)
    shifted = assess(ref, _profile(0.8), {"uncertainty_bits": 0.35, "tumour_fraction": 0.04})
    assert shifted.verdict == UNLIKE and "flair intensities differ" in shifted.reasons[0]
    scrambled = assess(ref, _profile(0.1, corr=0.05), {"uncertainty_bits": 0.35, "tumour_fraction": 0.04})
    assert scrambled.verdict == UNLIKE and "noisier or less structured" in scrambled.reasons[0]
    whole_brain = assess(ref, _profile(0.1), {"uncertainty_bits": 0.6, "tumour_fraction": 0.2})
    assert len(whole_brain.reasons) == 2 and "20.0% of the brain" in whole_brain.reasons[1]
    assert "tumour_fraction: 0.2 (limit 0.08)" in whole_brain.details()


def test_scatter_flags_false_positives_spread_over_the_brain():
    m = np.zeros((20, 20, 20), bool)
    m[2:6, 2:6, 2:6] = True  # one 64-voxel lesion
    assert scatter(m) == 0.0 and scatter(np.zeros_like(m)) == 0.0
    m[10, 10, 10] = m[15, 15, 15] = True  # two specks apart from it
    assert scatter(m) == pytest.approx(2 / 66)
    cases = [{"name": f"c{i}", "profile": _profile(0.0), "truth_fraction": 0.05, "truth_scatter": t, "scatter": p}
             for i, (t, p) in enumerate([(0.0, 0.02), (0.05, 0.1), (0.01, 0.03)])]
    ref = build_reference(cases)
    assert ref["limits"]["scatter"] == pytest.approx(0.1 + 0.1)  # top gap 0.05 < floor 0.1
    q = assess(ref, _profile(0.0), {"uncertainty_bits": 0.1, "tumour_fraction": 0.05, "scatter": 0.6})
    assert q.verdict == UNLIKE and q.reasons == [
        "60% of the predicted tumour lies outside its largest component, more scattered than the training "
        "cases allow (20%)"]
    assert assess(ref, _profile(0.0), {"tumour_fraction": 0.05, "scatter": 0.15}).verdict == LIKE


def test_no_reference_says_so_but_keeps_the_numbers():
    q = assess(None, _profile(0.0), {"uncertainty_bits": 0.2, "tumour_fraction": 0.01})
    assert q.verdict == NO_REFERENCE and q.like is None and q.numbers["tumour_fraction"]["value"] == 0.01
    one = build_reference([{"name": "a", "profile": _profile(0.0), "truth_fraction": 0.03}])
    assert assess(one, _profile(2.0), {}).verdict == NO_REFERENCE  # one case gives no leave-one-out


def test_profile_and_signals_by_hand():
    from scipy import ndimage as ndi

    rng = np.random.default_rng(0)
    smooth = ndi.gaussian_filter(rng.normal(size=(24, 24, 24)), 2.0)
    smooth = (smooth - smooth.mean()) / smooth.std()
    x = np.stack([smooth, smooth])
    x[:, :4] = 0.0  # background slab
    brain = x[0] != 0
    scrambled = x.copy()
    perm = rng.permutation(brain.sum())
    for c in range(2):
        scrambled[c][brain] = x[c][brain][perm]
    p, s = intensity_profile(x, ["flair", "t1c"]), intensity_profile(scrambled, ["flair", "t1c"])
    assert p["brain_voxels"] == brain.sum() == s["brain_voxels"]
    assert p["channels"]["flair"]["neighbour_correlation"] > 0.8 > 0.1 > abs(s["channels"]["flair"]["neighbour_correlation"])
    assert wasserstein(p["channels"]["flair"]["quantiles"], s["channels"]["flair"]["quantiles"]) == pytest.approx(0.0)
    assert p["channels"]["flair"]["percentiles"]["50"] == pytest.approx(float(np.median(x[0][brain])), abs=1e-3)
    probs = np.zeros((3, 24, 24, 24))
    probs[1, 10:14, 10:14, 10:14] = 0.9  # a 4^3 tumour in region 1
    probs[1, 14, 10:14, 10:14] = 0.3  # an uncertain fringe
    sig = prediction_signals(probs, output_kind="sigmoid-regions", threshold=0.5, brain=brain)
    assert sig["tumour_fraction"] == pytest.approx(64 / brain.sum(), abs=1e-5)
    h = lambda q: -(q * np.log2(q) + (1 - q) * np.log2(1 - q))  # noqa: E731
    assert sig["uncertainty_bits"] == pytest.approx((64 * h(0.9) + 16 * h(0.3)) / 80, abs=1e-4)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A model trained for a few steps on two phantoms, with its reference statistics."""
    pytest.importorskip("monai")
    import torch

    from napari_medai.core.phantoms import brain_tumour_phantom
    from napari_medai.core.tasks.brain_tumour import brain_tumour_task
    from napari_medai.core.training import TrainingCase, train

    torch.set_num_threads(1)
    vols = {s: brain_tumour_phantom(seed=s, shape=(48, 48, 48)) for s in (1, 2)}
    cases = [TrainingCase(f"p{s}", {"flair": v["flair"], "t1c": v["t1c"]}, v["seg"], "brats2021")
             for s, v in vols.items()]
    task = brain_tumour_task(("flair", "t1c"), target_spacing=(1.5, 1.5, 1.5), roi_size=(32, 32, 32))
    out = tmp_path_factory.mktemp("ood") / "model"
    train(task, cases, out_dir=out, seed=0, max_epochs=1, patch_size=(32, 32, 32), batch_size=1,
          iterations_per_epoch=2, val_fraction=0.0, learning_rate=1e-2, device="cpu")
    return out, vols


def test_training_stores_the_reference_and_predictions_get_a_verdict(tiny, one_torch_thread):  # noqa: F811
    from napari_medai.core.inference.segmentation import predict
    from napari_medai.core.models import load_model

    out, vols = tiny
    doc = json.loads((out / "model.json").read_text())
    ref = doc["training"]["ood_reference"]
    assert ref["n_cases"] == 2 and [c["name"] for c in ref["cases"]] == ["p1", "p2"]
    assert set(ref["limits"]["intensity_distance"]) == {"t1c", "flair"}
    v = vols[2]
    flair, t1c = np.asarray(v["flair"].data, np.float32), np.asarray(v["t1c"].data, np.float32)
    brain = (flair != 0) | (t1c != 0)

    def run(f: np.ndarray, t: np.ndarray):
        return predict(out, {"flair": v["flair"].with_data(f), "t1c": v["t1c"].with_data(t)}, device="cpu",
                       uncertainty=None).quality

    # a training case in the other preparation (z-scored inside the brain, constant background -3)
    zf = np.full_like(flair, -3.0)
    zf[brain] = (flair[brain] - flair[brain].mean()) / flair[brain].std()
    same = run(zf, t1c)
    assert same.verdict == LIKE, same.details()
    # a linear change of intensities is removed by the normalisation: still like
    assert run(np.where(brain, 3.0 * flair + 500.0, 0.0).astype(np.float32), t1c).verdict == LIKE
    # a bias field: half of the brain twice as bright in FLAIR
    biased = flair.copy()
    biased[:, :, 24:] *= 2.0
    q = run(biased, t1c)
    assert q.verdict == UNLIKE and any("flair intensities differ" in r for r in q.reasons), q.details()
    # scrambled voxels (the same histogram, no anatomy)
    perm = np.random.default_rng(0).permutation(int(brain.sum()))
    sf, st = flair.copy(), t1c.copy()
    sf[brain], st[brain] = flair[brain][perm], t1c[brain][perm]
    q = run(sf, st)
    assert q.verdict == UNLIKE and any("noisier or less structured" in r for r in q.reasons), q.details()
    # a packaged model written before the check existed
    old = predict(load_model("brain-tumour-default"), {c: v[c] for c in ("flair", "t1c", "t1", "t2")},
                  device="cpu", uncertainty=None)
    assert old.quality.verdict == NO_REFERENCE and "input: no reference statistics" in old.summary()


def test_cli_writes_the_input_check_as_json(tiny, tmp_path, one_torch_thread, capsys):  # noqa: F811
    from napari_medai.cli import main
    from napari_medai.core.io import write_volume

    out, vols = tiny
    v = vols[2]
    files = {c: write_volume(v[c], tmp_path / f"case_{c}.nii.gz") for c in ("flair", "t1c")}
    seg, js = tmp_path / "seg.nii.gz", tmp_path / "seg.json"
    assert main(["brain-tumour", "--flair", str(files["flair"]), "--t1c", str(files["t1c"]), "--model", str(out),
                 "--out", str(seg), "--json", str(js), "--device", "cpu", "--quiet"]) == 0
    assert "input: like the training cases" in capsys.readouterr().out
    doc = json.loads(js.read_text())
    check = doc["input_check"]
    assert check["verdict"] == LIKE and check["like_training_cases"] is True
    assert set(check["numbers"]["intensity_distance"]) == {"t1c", "flair"} and "WT" in doc["region_volumes_ml"]
    assert main(["brain-tumour", "--flair", str(files["flair"]), "--t1c", str(files["t1c"]), "--model", str(out),
                 "--out", str(tmp_path / "s2.nii.gz"), "--json", str(tmp_path / "s2.txt")]) == 2
    assert "give a file name ending in .json" in capsys.readouterr().err
