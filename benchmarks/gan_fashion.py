"""DP DCGAN on Fashion-MNIST: time per epoch and sample grids, non-private and at a target ε.

Trains the same DCGAN twice with ``dpkit.gan.train_gan`` (``--no-dp`` and ``--epsilon E``), reads
the per-epoch wall time from each run's ``metrics.jsonl``, copies the last sample grid to
``--figures`` and prints one Markdown table row per run.

    python benchmarks/gan_fashion.py --epochs 2                 # timing (a few minutes on CPU)
    python benchmarks/gan_fashion.py --epochs 2 --subset 2000   # quick try
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from dpkit.data import DataOptions, load_dataset
from dpkit.engine import PrivacyConfig, open_run_dir, resolve_device
from dpkit.gan import GANConfig, train_gan


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--epsilon", type=float, default=10.0)
    ap.add_argument("--image-size", type=int, default=28)
    ap.add_argument("--subset", type=int, default=None)
    ap.add_argument("--batch-size", type=int, default=GANConfig.batch_size)
    ap.add_argument("--width", type=int, default=GANConfig.g_width)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--runs", default="benchmarks/runs")
    ap.add_argument("--figures", default="benchmarks/figures")
    ap.add_argument("--tag", default="cpu")
    args = ap.parse_args()

    device = resolve_device(args.device)
    data = DataOptions(image_size=args.image_size, subset=args.subset)
    bundle = load_dataset("fashion-mnist", data)
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    rows = []
    for name, privacy in (("non-private", PrivacyConfig(enabled=False)),
                          (f"eps{args.epsilon:g}", PrivacyConfig(target_epsilon=args.epsilon))):
        cfg = GANConfig(dataset="fashion-mnist", data=data, privacy=privacy,
                        epochs=args.epochs, batch_size=args.batch_size, g_width=args.width,
                        d_width=args.width)
        out = Path(args.runs) / f"fashion-{name}-{args.tag}-{stamp}"
        result = train_gan(cfg, out=out, device=device, quiet=True, bundle=bundle)
        run = open_run_dir(out)
        times = [m["seconds"] for m in result.history]
        grid = figures / f"gan-fashion-{name}-{args.tag}-e{args.epochs}.png"
        shutil.copy(run.file(f"samples/epoch_{args.epochs:03d}.png"), grid)
        row = {"run": name, "device": str(device), "threads": torch.get_num_threads(),
               "train_size": result.train_size, "batch_size": args.batch_size,
               "width": args.width, "epochs": args.epochs, "steps": result.steps,
               "epsilon": result.report.epsilon, "sigma": result.report.noise_multiplier,
               "s_per_epoch": sum(times) / len(times), "epoch_times": times,
               "grid": str(grid), "run_dir": str(run.path)}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| run | device | N | B | epochs | σ | ε | s/epoch |\n|---|---|---|---|---|---|---|---|")
    for r in rows:
        eps = "∞" if r["epsilon"] == float("inf") else f"{r['epsilon']:.3g}"
        print(f"| {r['run']} | {r['device']} ({r['threads']} thr) | {r['train_size']} | "
              f"{r['batch_size']} | {r['epochs']} | {r['sigma']:.3g} | {eps} | "
              f"{r['s_per_epoch']:.1f} |")


if __name__ == "__main__":
    main()
