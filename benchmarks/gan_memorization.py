"""Memorization contrast: a long non-private DCGAN vs a DP one on a small training set.

Trains on ``--subset`` images (default 1000 Fashion-MNIST images), then samples ``--samples``
images from each generator and measures, in pixel space (images in [0, 1], flattened), the MiFID
memorization distance d = mean over generated g of min over x of 1 - |cos(g, x)| against
(a) the training set and (b) an equally large set of held-out images from the same split. A
generator that memorizes is closer to its training images than to fresh ones (d_train < d_heldout);
a DP generator should not be. Saves a figure of the 8 generated images closest to a training
image, each above its nearest training image.

    python benchmarks/gan_memorization.py --epochs 200 --epsilon 10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from torchvision.utils import save_image

from dpkit.data import DataOptions, load_dataset
from dpkit.engine import PrivacyConfig, open_run_dir
from dpkit.gan import GANConfig, generate, load_gan, train_gan
from dpkit.metrics import memorization_distance


def _flat(images: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) in [-1, 1] -> (N, C*H*W) in [0, 1] (background 0, so cosine sees shapes)."""
    return ((images + 1) / 2).flatten(1)


def _nearest(gen: torch.Tensor, train: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.nn.functional.normalize(_flat(gen), dim=1)
    t = torch.nn.functional.normalize(_flat(train), dim=1)
    d = 1 - (g @ t.T).abs()  # (N, M)
    return d.min(dim=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--subset", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=200)
    ap.add_argument("--epsilon", type=float, default=10.0)
    ap.add_argument("--samples", type=int, default=2000)
    ap.add_argument("--batch-size", type=int, default=GANConfig.batch_size)
    ap.add_argument("--runs", default="benchmarks/runs")
    ap.add_argument("--figures", default="benchmarks/figures")
    ap.add_argument("--only", choices=["non-private", "dp"], default=None,
                    help="Train only one of the two generators (run both in parallel).")
    args = ap.parse_args()

    data = DataOptions(image_size=28, subset=args.subset)
    bundle = load_dataset(args.dataset, data)
    train = bundle.train.tensors()[0]  # (M, C, H, W)
    heldout = bundle.heldout.tensors()[0][:args.subset]
    figures = Path(args.figures)
    figures.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    real_to_train = memorization_distance(_flat(heldout), _flat(train))
    print(json.dumps({"baseline": "held-out real images", "d_to_train": real_to_train}))
    runs = {"non-private": ("non-private", PrivacyConfig(enabled=False)),
            "dp": (f"eps{args.epsilon:g}", PrivacyConfig(target_epsilon=args.epsilon))}
    for key, (name, privacy) in runs.items():
        if args.only is not None and key != args.only:
            continue
        cfg = GANConfig(dataset=args.dataset, data=data, privacy=privacy, epochs=args.epochs,
                        batch_size=args.batch_size)
        out = Path(args.runs) / f"memo-{args.dataset}-{name}-{stamp}"
        t0 = time.perf_counter()
        result = train_gan(cfg, out=out, quiet=True, bundle=bundle)
        run = open_run_dir(out)
        seconds = time.perf_counter() - t0
        gen = generate(load_gan(run.path, load_data=False).generator, args.samples, latent_dim=cfg.latent_dim,
                       seed=0)
        d_train = memorization_distance(_flat(gen), _flat(train))
        d_heldout = memorization_distance(_flat(gen), _flat(heldout))
        dist, idx = _nearest(gen, train)
        best = dist.argsort()[:8]
        save_image(torch.cat([gen[best], train[idx[best]]]),
                   figures / f"gan-memorization-{args.dataset}-{name}.png", nrow=8,
                   normalize=True, value_range=(-1, 1))
        print(json.dumps({"run": name, "train_size": result.train_size, "epochs": args.epochs,
                          "steps": result.steps, "epsilon": result.report.epsilon,
                          "sigma": result.report.noise_multiplier, "seconds": round(seconds),
                          "d_train": d_train, "d_heldout": d_heldout,
                          "ratio": d_train / d_heldout, "run_dir": str(run.path)}), flush=True)


if __name__ == "__main__":
    main()
