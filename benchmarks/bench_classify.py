"""Training and inference images per second of each image-classification architecture, on CPU (and CUDA when
there is one).

For each architecture of :data:`napari_medai.core.tasks.classify.ARCHITECTURES` (the networks
``train_classify`` builds, from :func:`~napari_medai.core.tasks.classify.classify_contract`):

* **training**: images per second of one optimisation step as the engine runs it -- forward, cross-entropy,
  backward and an AdamW step on a batch of ``--batch`` one-channel ``--size`` px images (after
  ``--warmup`` untimed steps; the median of ``--repeats`` timed steps);
* **inference (network)**: images per second of the network alone in eval mode under ``torch.no_grad`` on the
  same batch;
* **inference (end to end)**: images per second of ``classify_paths`` on ``--files`` grey 224 x 224 PNGs
  written to a temporary folder (reading, resizing, z-scoring, the network, one image at a time as the CLI
  and the widget's folder mode run it; no activation map), with a freshly trained-looking model folder of
  that architecture (random weights marked trained only inside this benchmark's temporary folder; the
  weights do not change the time).

The machine's conditions (cores, load average, versions, git commit) are printed first and the load
average again at the end (``benchmarks/_common.py``); ``--record FILE`` appends one JSON line per
architecture and device.

Usage::

    nice -n 10 python benchmarks/bench_classify.py                      # all architectures, CPU (+ CUDA)
    nice -n 10 python benchmarks/bench_classify.py --arch resnet10-slim --size 224 --record bench.jsonl

Measured (2026-12-03, 2 CPU cores shared with other jobs; 128 px, batch 32; no CUDA device), training /
network inference / end-to-end images per second: with ``--threads 1`` (load average 11-16) resnet10-slim
11.9 / 36.6 / 12.9, resnet18 1.9 / 6.6 / 4.7, densenet121 1.1 / 5.6 / 3.2; with torch's default 2 threads (load
5-8) 3.8 / 12.5 / 0.8, 2.0 / 5.4 / 0.8, 1.9 / 7.5 / 1.3 -- two threads per process on a busy 2-core machine
are slower than one.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import _common
import numpy as np


def _network(arch: str, size: int, n_classes: int = 2):
    from napari_medai.core.models.loading import build_network
    from napari_medai.core.tasks.classify import classify_contract

    contract = classify_contract([f"class{i}" for i in range(n_classes)], arch=arch, size=size)
    return contract, build_network(contract.network)


def _sync(device: str) -> None:
    import torch

    if device == "cuda":
        torch.cuda.synchronize()


def train_rate(arch: str, size: int, batch: int, device: str, warmup: int, repeats: int) -> tuple[float, list[float]]:
    """Images per second of a training step (median of the timed steps) and the steps' seconds."""
    import torch

    _contract, net = _network(arch, size)
    net = net.to(device).train()
    opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, 1, size, size, generator=gen).to(device)
    y = torch.randint(0, 2, (batch,), generator=gen).to(device)
    times = []
    for i in range(warmup + repeats):
        _sync(device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        _sync(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return batch / statistics.median(times), times


def infer_rate(arch: str, size: int, batch: int, device: str, warmup: int, repeats: int) -> tuple[float, list[float]]:
    """Images per second of the network in eval mode without gradients."""
    import torch

    _contract, net = _network(arch, size)
    net = net.to(device).eval()
    x = torch.randn(batch, 1, size, size, generator=torch.Generator().manual_seed(1)).to(device)
    times = []
    with torch.no_grad():
        for i in range(warmup + repeats):
            _sync(device)
            t0 = time.perf_counter()
            net(x)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
    return batch / statistics.median(times), times


def end_to_end_rate(arch: str, size: int, files: list[Path], folder: Path, device: str) -> tuple[float, float]:
    """Images per second of ``classify_paths`` over ``files`` (one untimed image first), and the seconds."""
    from napari_medai.core.models.persistence import save_model_folder
    from napari_medai.core.tasks.classify import classify_image, classify_paths, load_classifier

    contract, net = _network(arch, size)
    model_dir = folder / f"model-{arch}-{size}"
    save_model_folder(model_dir, net, contract.with_changes(is_trained=True, trained_on="bench_classify: random "
                                                                                         "weights, timing only"))
    lm = load_classifier(model_dir)
    classify_image(lm, files[0], cam=False, device=device)  # warm-up
    t0 = time.perf_counter()
    classify_paths(lm, files, cam=False, device=device)
    seconds = time.perf_counter() - t0
    return len(files) / seconds, seconds


def write_pngs(folder: Path, n: int) -> list[Path]:
    from skimage.io import imsave

    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i in range(n):
        p = folder / f"img_{i:03d}.png"
        imsave(str(p), rng.integers(0, 255, (224, 224), dtype=np.uint8), check_contrast=False)
        out.append(p)
    return out


def main() -> int:
    from napari_medai.core.tasks.classify import ARCHITECTURES, DEFAULT_SIZE, DEFAULTS

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--arch", nargs="*", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    ap.add_argument("--size", type=int, default=DEFAULT_SIZE, help="network input edge (default %(default)s)")
    ap.add_argument("--batch", type=int, default=int(DEFAULTS["batch_size"]), help="images per step")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--files", type=int, default=24, help="PNGs for the end-to-end inference rate (0: skip)")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--device", nargs="*", default=None, help="devices (default: cpu, and cuda when available)")
    _common.add_record_option(ap)
    args = ap.parse_args()

    import torch

    if args.threads > 0:
        torch.set_num_threads(args.threads)
    devices = args.device or (["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"])
    run = _common.start("classify", args)
    print(f"torch threads {torch.get_num_threads()}; size {args.size} px, batch {args.batch}, {args.repeats} timed "
          f"steps after {args.warmup} warm-up; devices {', '.join(devices)}"
          + ("" if torch.cuda.is_available() else " (no CUDA device here)"), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_classify_") as tmp:
        files = write_pngs(Path(tmp) / "png", args.files) if args.files > 0 else []
        print(f"{'arch':<14} {'device':<6} {'params M':>8} {'train img/s':>12} {'infer img/s':>12} "
              f"{'end-to-end img/s':>17}  load (1 min)", flush=True)
        for arch in args.arch:
            n_params = sum(p.numel() for p in _network(arch, args.size)[1].parameters()) / 1e6
            for device in devices:
                tr, tr_s = train_rate(arch, args.size, args.batch, device, args.warmup, args.repeats)
                inf, inf_s = infer_rate(arch, args.size, args.batch, device, args.warmup, args.repeats)
                e2e, e2e_s = end_to_end_rate(arch, args.size, files, Path(tmp), device) if files else (float("nan"), 0)
                load = _common.load_average()
                print(f"{arch:<14} {device:<6} {n_params:>8.2f} {tr:>12.1f} {inf:>12.1f} {e2e:>17.1f}  {load[0]:.2f}",
                      flush=True)
                run.record(arch=arch, device=device, size=args.size, batch=args.batch, params_m=round(n_params, 3),
                           torch_threads=torch.get_num_threads(), train_img_s=round(tr, 2),
                           infer_img_s=round(inf, 2), end_to_end_img_s=round(e2e, 2),
                           train_step_s=[round(t, 4) for t in tr_s], infer_batch_s=[round(t, 4) for t in inf_s],
                           end_to_end_s=round(e2e_s, 3), n_files=len(files))
    run.finish()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
