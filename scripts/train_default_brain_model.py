"""Train napari-medai's default brain-tumour model (``brain-tumour-default``) on the project's phantoms.

Usage::

    python scripts/train_default_brain_model.py [--seeds 12] [--epochs 60] [--minutes 40]
                                                [--out DIR] [--device auto] [--resume] [--patience N] [--tiny]

The training data are napari-medai's own seeded synthetic brain-tumour phantoms
(:func:`napari_medai.core.phantoms.brain_tumour_phantom`, seeds 100, 101, ...; FLAIR, T1, T1c, T2,
brain mask, BraTS 2021 labels), never real patient data, so the weights may be shipped with the
project. The recipe is :data:`napari_medai.core.tasks.brain_tumour.DEFAULT_RECIPE`.

By default the model folder goes to ``<cache>/models/brain_tumour_default`` (``<cache>`` is
``$NAPARI_MEDAI_CACHE`` or ``~/.cache/napari-medai``), where ``load_model("brain-tumour-default")``
and ``napari-medai brain-tumour`` find it. ``--tiny`` runs a seconds-long smoke version (3 small
phantoms, 1 epoch) that only checks the pipeline; its model is marked as trained on that.

Phantom seeds 0-4 are left out of training: the demo and the threshold baseline use them.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

FIRST_SEED = 100


def build_cases(seeds: list[int], shape: tuple[int, int, int]) -> list:
    """One :class:`~napari_medai.core.training.TrainingCase` per phantom seed (in memory)."""
    from napari_medai.core.phantoms import brain_tumour_phantom
    from napari_medai.core.training import TrainingCase

    cases = []
    for s in seeds:
        v = brain_tumour_phantom(seed=s, shape=shape)
        cases.append(TrainingCase(
            name=f"phantom-seed{s}", channels={k: v[k] for k in ("flair", "t1", "t1c", "t2")},
            label=v["seg"], convention="brats2021", brainmask=v["brainmask"],
        ))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="train the brain-tumour-default model on synthetic phantoms")
    parser.add_argument("--seeds", type=int, default=12, help="number of phantoms (default 12)")
    parser.add_argument("--epochs", type=int, default=None, help="epoch limit (default: the recipe's)")
    parser.add_argument("--minutes", type=float, default=None, help="wall-time budget (default: the recipe's 40)")
    parser.add_argument("--patience", type=int, default=None,
                        help="epochs without improvement before stopping (default: the recipe's); may change on --resume")
    parser.add_argument("--out", type=Path, default=None, help="model folder (default: <cache>/models/brain_tumour_default)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--seed", type=int, default=0, help="training seed (default 0)")
    parser.add_argument("--resume", action="store_true", help="continue a run found in --out")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--tiny", action="store_true", help="smoke test: 3 small phantoms, 1 short epoch")
    args = parser.parse_args(argv)

    from napari_medai.core.models.registry import DEFAULT_BRAIN_MODEL, cache_dir, get_entry
    from napari_medai.core.tasks.brain_tumour import DEFAULT_RECIPE, brain_tumour_task
    from napari_medai.core.training import train

    entry = get_entry(DEFAULT_BRAIN_MODEL)
    out = args.out or cache_dir() / "models" / (entry.folder or DEFAULT_BRAIN_MODEL)
    recipe = dict(DEFAULT_RECIPE)
    n_seeds, shape = args.seeds, (96, 112, 96)
    if args.tiny:
        n_seeds, shape = 3, (48, 48, 48)
        recipe.update(patch_size=(32, 32, 32), roi_size=(32, 32, 32), iterations_per_epoch=1, batch_size=1,
                      max_epochs=1)
    if args.epochs is not None:
        recipe["max_epochs"] = args.epochs
    if args.minutes is not None:
        recipe["time_limit_s"] = args.minutes * 60.0
    if args.patience is not None:
        recipe["patience"] = args.patience
    if n_seeds < 2:
        parser.error("--seeds must be at least 2 (one case is held out for validation)")
    seeds = list(range(FIRST_SEED, FIRST_SEED + n_seeds))
    task = brain_tumour_task(
        ("flair", "t1", "t1c", "t2"), convention="brats2021", init_filters=recipe.pop("init_filters"),
        target_spacing=recipe.pop("target_spacing"), roi_size=recipe.pop("roi_size"), name=DEFAULT_BRAIN_MODEL,
    )
    print(f"building {n_seeds} phantoms (seeds {seeds[0]}-{seeds[-1]}, shape {shape})", flush=True)
    cases = build_cases(seeds, shape)
    t0 = time.perf_counter()
    result = train(
        task, cases, out_dir=out, seed=args.seed, device=args.device, resume=args.resume, num_threads=args.threads,
        trained_on=(f"napari-medai synthetic brain-tumour phantoms (seeds {seeds[0]}-{seeds[-1]}, {shape[0]}x"
                    f"{shape[1]}x{shape[2]} at 1 mm){' - smoke run, not a usable model' if args.tiny else ''}"),
        progress=lambda f, m: print(f"[{time.perf_counter() - t0:6.0f} s] {m}", flush=True),
        **recipe,
    )
    print(result.summary())
    print(f"load it with: load_model({str(out)!r}) or --model {out}"
          + (" (found as 'brain-tumour-default' in this location)" if args.out is None else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
