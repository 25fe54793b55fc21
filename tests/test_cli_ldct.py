"""CLI round trips: simulate-low-dose, denoise (.npy / .raw / NIfTI, JSON layout), train ldct."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from napari_medai.cli import main
from napari_medai.core.io import read_volume

L506 = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "ldct_L506"


def _slice(n: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[:n, :n]
    c = (n - 1) / 2
    img = np.full((n, n), -1000.0, np.float32)
    img[(yy - c) ** 2 + (xx - c) ** 2 <= (0.4 * n) ** 2] = 40.0
    img[(yy - c) ** 2 + (xx - c - 6) ** 2 <= 16] = 300.0
    return img


def test_simulate_low_dose_npy_round_trip(tmp_path, capsys):
    src = tmp_path / "fd.npy"
    np.save(src, _slice())
    out = tmp_path / "ld.npy"
    ref = tmp_path / "ref.npy"
    assert main(["simulate-low-dose", "--ct", str(src), "--dose-fraction", "0.25", "--pixel-size", "0.8",
                 "--seed", "3", "--out", str(out), "--reference", str(ref)]) == 0
    low, noise_free = np.load(out), np.load(ref)
    assert low.shape == (64, 64) and low.dtype == np.float32
    inside = (slice(24, 40), slice(16, 28))
    assert 5.0 < float((low - noise_free)[inside].std()) < 200.0  # noise was added
    # the same seed gives the same image
    again = tmp_path / "ld2.npy"
    assert main(["simulate-low-dose", "--ct", str(src), "--pixel-size", "0.8", "--seed", "3", "--out", str(again)]) == 0
    np.testing.assert_array_equal(np.load(again), low)
    capsys.readouterr()
    # .npy stores no pixel size: refused with the fix
    assert main(["simulate-low-dose", "--ct", str(src), "--out", str(tmp_path / "x.npy")]) == 2
    assert "--pixel-size" in capsys.readouterr().err
    # never over the input, even with --overwrite
    assert main(["simulate-low-dose", "--ct", str(src), "--pixel-size", "1", "--out", str(src), "--overwrite"]) == 2
    assert "refusing to overwrite" in capsys.readouterr().err
    np.testing.assert_array_equal(np.load(src), _slice())


def test_simulate_low_dose_from_nifti_keeps_the_geometry(tmp_path):
    from napari_medai.core.io import write_volume
    from napari_medai.core.volume import Volume

    src = tmp_path / "fd.nii.gz"
    write_volume(Volume(data=np.stack([_slice(), _slice()]), spacing=(3.0, 0.7, 0.7), modality="CT", units="HU"), src)
    out = tmp_path / "ld.nii.gz"
    assert main(["simulate-low-dose", "--ct", str(src), "--out", str(out)]) == 0
    vol = read_volume(out)
    assert vol.data.shape == (2, 64, 64) and np.allclose(vol.spacing, (3.0, 0.7, 0.7))


def test_denoise_raw_input_npy_output_with_metrics_json(tmp_path, capsys):
    fd = _slice()
    rng = np.random.default_rng(0)
    qd = fd + rng.normal(0, 60, fd.shape).astype(np.float32)
    raw = tmp_path / "qd_uint16_hu+1024_64x64.raw"
    np.rint(qd + 1024).astype("<u2").tofile(raw)
    ref = tmp_path / "fd.npy"
    np.save(ref, fd)
    out = tmp_path / "den.npy"
    js = tmp_path / "m.json"
    assert main(["denoise", "--ct", str(raw), "--method", "tv", "--reference", str(ref), "--roi", "24", "40", "16",
                 "28", "--json", str(js), "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "PSNR" in text and "wrote" in text
    den = np.load(out)
    assert den.shape == (64, 64)
    doc = json.loads(js.read_text())
    assert doc["method"] == "tv" and doc["window_hu"] == [-160.0, 240.0]
    for key in ("input", "output"):
        assert {"psnr", "ssim", "rmse", "noise_sd"} <= set(doc[key])
    assert doc["output"]["psnr"] > doc["input"]["psnr"]
    assert doc["output"]["noise_sd"] < doc["input"]["noise_sd"]
    assert doc["parameters"]["noise_sd_estimate"] > 0 and doc["seconds"] >= 0
    # the raw input read in HU: the metrics match a direct computation
    from napari_medai.core.metrics.image_quality import psnr

    assert doc["input"]["psnr"] == pytest.approx(psnr(read_volume(raw).data, fd))


def test_denoise_options_window_and_formats(tmp_path, capsys):
    src = tmp_path / "ct.npy"
    np.save(src, _slice())
    out = tmp_path / "g.nii.gz"
    js = tmp_path / "g.json"
    assert main(["denoise", "--ct", str(src), "--method", "gaussian", "--option", "sigma_px=2", "--window", "-1000",
                 "1000", "--json", str(js), "--out", str(out)]) == 0
    doc = json.loads(js.read_text())
    assert doc["parameters"]["sigma_px"] == 2 and doc["window_hu"] == [-1000.0, 1000.0]
    assert doc["input"] == {} and doc["output"] == {}  # no reference, no ROI: no metrics
    assert read_volume(out).data.shape == (64, 64)
    raw_out = tmp_path / "g_uint16_hu+1024_64x64.raw"
    assert main(["denoise", "--ct", str(src), "--method", "gaussian", "--out", str(raw_out)]) == 0
    assert read_volume(raw_out).data.shape == (64, 64)
    capsys.readouterr()
    assert main(["denoise", "--ct", str(src), "--method", "gaussian", "--option", "sigma", "--out",
                 str(tmp_path / "y.npy")]) == 2
    assert "KEY=VALUE" in capsys.readouterr().err
    assert main(["denoise", "--ct", str(src), "--method", "redcnn", "--out", str(tmp_path / "z.npy")]) == 2
    assert "needs weights" in capsys.readouterr().err
    assert main(["denoise", "--ct", str(src), "--method", "gaussian", "--reference", str(tmp_path / "nope.npy"),
                 "--out", str(tmp_path / "w.npy")]) == 2


def test_denoise_never_overwrites_an_input(tmp_path, capsys):
    src = tmp_path / "ct.npy"
    np.save(src, _slice())
    ref = tmp_path / "fd.npy"
    np.save(ref, _slice())
    for target in (src, ref):
        assert main(["denoise", "--ct", str(src), "--reference", str(ref), "--method", "gaussian", "--out",
                     str(target), "--overwrite"]) == 2
        assert "overwrite" in capsys.readouterr().err
    assert main(["denoise", "--ct", str(src), "--reference", str(ref), "--method", "gaussian", "--out",
                 str(tmp_path / "o.npy"), "--json", str(ref), "--overwrite"]) == 2
    np.testing.assert_array_equal(np.load(src), _slice())
    np.testing.assert_array_equal(np.load(ref), _slice())
    out = tmp_path / "o.npy"
    assert main(["denoise", "--ct", str(src), "--method", "gaussian", "--out", str(out)]) == 0
    assert main(["denoise", "--ct", str(src), "--method", "gaussian", "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_train_ldct_then_denoise_with_the_model(tmp_path, capsys):
    pytest.importorskip("torch")
    fds = []
    for i in range(2):
        p = tmp_path / f"fd{i}.npy"
        np.save(p, np.roll(_slice(), 3 * i, axis=1))
        fds.append(str(p))
    model = tmp_path / "model"
    assert main(["train", "ldct", "--full-dose", *fds, "--simulate-dose", "0.25", "--pixel-size", "0.8",
                 "--out", str(model), "--epochs", "1", "--steps", "2", "--batch", "2", "--patch", "32",
                 "--filters", "4", "--device", "cpu"]) == 0
    text = capsys.readouterr().out
    assert "trained 1 epochs" in text and (model / "model.json").is_file()
    out = tmp_path / "den.npy"
    assert main(["denoise", "--ct", fds[0], "--method", "trained", "--weights", str(model), "--out", str(out),
                 "--device", "cpu"]) == 0
    assert np.load(out).shape == (64, 64)
    assert main(["train", "ldct", "--full-dose", *fds, "--out", str(tmp_path / "m2")]) == 2
    assert "--simulate-dose" in capsys.readouterr().err
    assert main(["train", "ldct", "--full-dose", *fds, "--low-dose", fds[0], "--out", str(tmp_path / "m3")]) == 2
    assert "one low-dose scan per full-dose image" in capsys.readouterr().err


@pytest.mark.realdata
def test_denoise_real_l506_raw_against_npy_reference(tmp_path):
    if not L506.is_dir():
        pytest.skip(f"ldct_L506 not found at {L506}")
    js = tmp_path / "m.json"
    assert main(["denoise", "--ct", str(L506 / "L506_QD_3mm_sharp_slice32_uint16_hu+1024_512x512.raw"),
                 "--method", "gaussian", "--option", "sigma_px=1", "--reference",
                 str(L506 / "L506_FD_slice32_HU_int16.npy"), "--json", str(js), "--out", str(tmp_path / "g.npy")]) == 0
    doc = json.loads(js.read_text())
    assert doc["input"]["psnr"] == pytest.approx(16.8, abs=0.05)
    assert doc["output"]["psnr"] == pytest.approx(20.7, abs=0.05)
