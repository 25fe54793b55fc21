"""Overhead of napari-medai's ``predict`` over a bare MONAI sliding-window script.

One synthetic 240x240x155 four-channel case (1 mm, a bright 'tumour' in a noisy 'brain') goes
through the MONAI BraTS bundle architecture (SegResNet, init_filters 16, random weights) with the
bundle's window (240x240x160, overlap 0.5, one window per call), twice:

* ``predict``: napari-medai's :func:`~napari_medai.core.inference.segmentation.predict` (channel matching,
  grid checks, normalisation, orientation, progress/cancellation wrapper, label mapping, volumes);
* ``bare``: the few lines a MONAI user would write (stack, ``NormalizeIntensity(nonzero=True,
  channel_wise=True)``, ``sliding_window_inference``, sigmoid, threshold, the bundle's label
  mapping).

Each run of a variant is its own process, so peak memory (max RSS on the CPU, max allocated on CUDA)
is its own; with ``--repeat N`` the runs take turns (bare, predict, bare, predict, ...) so that load
from other processes hits both alike. The machine's conditions are printed with the figures
(``benchmarks/_common.py``) and ``--record FILE`` appends them to a JSON-lines history. Usage::

    python benchmarks/bench_inference.py [--device auto|cpu|cuda] [--repeat 1] [--threads N] [--record FILE]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

SHAPE = (155, 240, 240)  # Volume (array) order: 155 axial slices of 240x240


def _case():
    import numpy as np

    from napari_medai.core.volume import Volume

    rng = np.random.default_rng(0)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, s, dtype=np.float32) for s in SHAPE], indexing="ij")
    brain = (zz**2 / 0.8 + yy**2 / 0.7 + xx**2 / 0.55) < 1
    tumour = ((zz - 0.2) ** 2 + (yy + 0.1) ** 2 + (xx - 0.2) ** 2) < 0.04
    vols = {}
    for i, name in enumerate(("t1c", "t1", "t2", "flair")):
        img = np.where(brain, 100.0 + 10 * i, 0.0).astype(np.float32)
        img[tumour] += 80.0
        img[brain] += rng.normal(0, 8, int(brain.sum())).astype(np.float32)
        vols[name] = Volume(img, name=name, modality="MR")
    return vols


def _model():
    import torch

    from napari_medai.core.models import REGISTRY
    from napari_medai.core.models.loading import LoadedModel

    torch.manual_seed(0)
    return LoadedModel.random(REGISTRY["brats_mri_segmentation"].contract, seed=0)


def _timed(net):
    """``net`` wrapped so that the time spent inside its forward passes is summed (``.seconds``)."""
    import torch

    class Timed(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net
            self.seconds = 0.0

        def forward(self, x):
            t0 = time.perf_counter()
            y = self.net(x)
            self.seconds += time.perf_counter() - t0
            return y

    return Timed()


def _peak_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _run_variant(variant: str, device: str, repeat: int, threads: int | None) -> dict:
    import numpy as np
    import torch

    if threads:
        torch.set_num_threads(threads)
    from napari_medai.core.device import resolve_device

    dev = resolve_device(device)
    vols = _case()
    model = _model()
    c = model.contract
    net = _timed(model.network.to(dev))
    model = type(model).from_network(net, c, source="benchmark", weights_format="random")
    base_mb = _peak_mb(dev) if dev == "cpu" else 0.0
    if dev == "cuda":
        torch.cuda.reset_peak_memory_stats()
    times, net_times = [], []
    n_fg = None
    for _ in range(repeat):
        net.seconds = 0.0
        t0 = time.perf_counter()
        if variant == "predict":
            from napari_medai.core.inference.segmentation import predict

            pred = predict(model, vols, device=dev, progress=lambda f, m: None, should_stop=lambda: False)
            n_fg = int((pred.labels.data > 0).sum())
        else:
            from monai.inferers import sliding_window_inference
            from monai.transforms import NormalizeIntensity

            x = np.stack([vols[k].data for k in c.channels])
            x = NormalizeIntensity(nonzero=True, channel_wise=True)(torch.from_numpy(x))
            x = x.as_tensor()[None].to(dev)  # a plain tensor (no MetaTensor bookkeeping)
            # the bundle feeds the file's storage order: (i, j, k) = our arrays transposed
            x = x.permute(0, 1, 4, 3, 2).contiguous()
            with torch.inference_mode():
                if dev == "cuda":
                    with torch.autocast("cuda", dtype=torch.float16):
                        y = sliding_window_inference(x, c.roi_size, 1, net, overlap=c.overlap)
                else:
                    y = sliding_window_inference(x, c.roi_size, 1, net, overlap=c.overlap)
                p = torch.sigmoid(y.float())[0] >= 0.5
                lab = torch.where(p[2], 4, torch.where(p[0], 1, torch.where(p[1], 2, 0))).to(torch.uint8)
                lab = lab.permute(2, 1, 0).cpu().numpy()
            n_fg = int((lab > 0).sum())
        if dev == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
        net_times.append(net.seconds)
    outside = [t - n for t, n in zip(times, net_times)]
    return {"variant": variant, "device": dev, "threads": torch.get_num_threads(), "seconds": min(times),
            "all_seconds": times, "network_seconds": net_times, "outside_seconds": min(outside), "peak_mb": _peak_mb(dev), "base_mb": base_mb, "foreground_voxels": n_fg}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="predict() vs a bare MONAI sliding-window script")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--variant", choices=("predict", "bare"), default=None, help=argparse.SUPPRESS)
    _common.add_record_option(parser)
    args = parser.parse_args(argv)
    if args.variant:
        print(json.dumps(_run_variant(args.variant, args.device, args.repeat, args.threads)))
        return 0
    run = _common.start("inference", args)
    runs: dict[str, list[dict]] = {"bare": [], "predict": []}
    for _ in range(max(1, args.repeat)):  # one process per run, the variants in turns
        for variant in ("bare", "predict"):
            cmd = [sys.executable, __file__, "--variant", variant, "--device", args.device, "--repeat", "1"]
            if args.threads:
                cmd += ["--threads", str(args.threads)]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True)
            runs[variant].append(json.loads(out.stdout.strip().splitlines()[-1]))
    results = {}
    for variant, rs in runs.items():
        r = dict(rs[0])
        r["all_seconds"] = [x["seconds"] for x in rs]
        r["network_seconds"] = [x["network_seconds"][0] for x in rs]
        r["seconds"] = min(r["all_seconds"])
        r["outside_seconds"] = min(x["outside_seconds"] for x in rs)
        r["peak_mb"] = max(x["peak_mb"] for x in rs)
        results[variant] = r
    b, p = results["bare"], results["predict"]
    print(f"case 240x240x155 x 4 channels; SegResNet (bundle architecture, random weights); window 240x240x160, "
          f"overlap 0.5; device {p['device']} ({p['threads']} threads); best of {args.repeat}")
    unit = "max allocated" if p["device"] == "cuda" else "max RSS"
    for r in (b, p):
        runs = ", ".join(f"{t:.1f}" for t in r["all_seconds"])
        nets = ", ".join(f"{t:.1f}" for t in r["network_seconds"])
        print(f"  {r['variant']:8s} total {r['seconds']:7.2f} s (runs {runs}; inside the network {nets}); "
              f"outside the network {r['outside_seconds']:5.2f} s; peak {unit} {r['peak_mb']:6.0f} MB "
              f"(before the run {r['base_mb']:.0f} MB)")
    print(f"  overhead of predict: total time {100 * (p['seconds'] / b['seconds'] - 1):+.1f} % "
          f"(CPU contention makes this noisy); time outside the network {p['outside_seconds']:.2f} s vs "
          f"{b['outside_seconds']:.2f} s = {100 * (p['outside_seconds'] - b['outside_seconds']) / b['seconds']:+.1f} % "
          f"of the bare total; peak memory {100 * (p['peak_mb'] / b['peak_mb'] - 1):+.1f} %")
    if b["foreground_voxels"] != p["foreground_voxels"]:
        print(f"  note: label maps differ ({b['foreground_voxels']} vs {p['foreground_voxels']} foreground voxels)")
    for r in (b, p):
        run.record(variant=r["variant"], device=r["device"], threads=r["threads"], seconds=round(r["seconds"], 3),
                   all_seconds=[round(t, 3) for t in r["all_seconds"]], outside_seconds=round(r["outside_seconds"], 3),
                   peak_mb=round(r["peak_mb"], 1), foreground_voxels=r["foreground_voxels"])
    run.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
