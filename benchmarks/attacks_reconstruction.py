"""Reconstruction attacks, non-private vs DP-SGD, on digits.

Usage (small scale, CPU, about a minute per setting):
    python benchmarks/attacks_reconstruction.py --subset 20 --epochs 1000

KKT (Haim et al. 2022): a homogeneous ReLU MLP (no biases, 64-200-200-2, weights initialised at
1% of PyTorch's default scale as the paper does) trained with dpkit's engine on ``--subset``
digits 0 vs 1, non-private and with DP-SGD at each ε; then the KKT search with 2x as many
candidates as training images. Gradient inversion (Geiping et al. 2020): one image's gradient
at the trained weights, plain and clipped (C=1) + noised with the σ the DP run used.
Reconstructions are stretched to [-1, 1] before SSIM (the homogeneous network's gradients fix
them only up to a positive scale).
"""

from __future__ import annotations

import argparse
import time
import warnings

import torch
from torch import nn

from dpkit.attacks import (InversionConfig, KKTConfig, invert_gradient, kkt_reconstruct,
                           match_to_training, observed_gradient)
from dpkit.data import DataOptions, load_dataset
from dpkit.engine import PrivacyConfig, make_private, seed_everything


def homogeneous_mlp(width: int, init_scale: float) -> nn.Module:
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, width, bias=False), nn.ReLU(),
                          nn.Linear(width, width, bias=False), nn.ReLU(),
                          nn.Linear(width, 2, bias=False))
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(init_scale)
    return model


def train(train_set, privacy: PrivacyConfig, *, epochs: int, batch_size: int, lr: float,
          width: int, init_scale: float) -> tuple[nn.Module, float, float]:
    seed_everything(0)
    model = homogeneous_mlp(width, init_scale)
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=lr), train_set, privacy,
                         batch_size=batch_size, epochs=epochs, seed=0)
    for _ in range(epochs):
        with setup.epoch_loader() as loader:
            for x, y in loader:
                setup.optimizer.zero_grad(set_to_none=True)
                setup.criterion(setup.model(x), y).backward()
                setup.optimizer.step()
    report = setup.report()
    trained = homogeneous_mlp(width, init_scale)  # a clean copy, without Opacus's hooks
    trained.load_state_dict(setup.module.state_dict())
    return trained.eval(), report.epsilon, report.noise_multiplier


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subset", type=int, default=20)
    p.add_argument("--epochs", type=int, default=1000)
    p.add_argument("--lr", type=float, default=0.5)
    p.add_argument("--width", type=int, default=200)
    p.add_argument("--init-scale", type=float, default=0.01)
    p.add_argument("--iterations", type=int, default=2000)
    p.add_argument("--epsilons", default="inf,8,1")
    p.add_argument("--delta", type=float, default=1e-3)
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    bundle = load_dataset("digits", DataOptions(classes=(0, 1), subset=args.subset))
    x, y = bundle.train.tensors()
    print("| target | train acc | KKT mean SSIM | KKT top-10 SSIM | KKT good (>0.4) | "
          "distinct recovered | inversion SSIM (1 image) | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for eps_text in args.epsilons.split(","):
        eps = float(eps_text)
        private = eps != float("inf")
        privacy = (PrivacyConfig(enabled=True, target_epsilon=eps, delta=args.delta) if private
                   else PrivacyConfig(enabled=False))
        t0 = time.perf_counter()
        model, spent, sigma = train(bundle.train, privacy, epochs=args.epochs,
                                    batch_size=args.subset // 2 if private else args.subset,
                                    lr=args.lr, width=args.width, init_scale=args.init_scale)
        acc = float((model(x).argmax(1) == y).float().mean())
        res = kkt_reconstruct(model, (1, 8, 8), KKTConfig(candidates_per_class=args.subset,
                                                          iterations=args.iterations))
        m = match_to_training(res.images, x, rescale=True)
        good = m.ssim > 0.4
        top = m.ssim.sort(descending=True).values[:10].mean()
        g = observed_gradient(model, x[:1], y[:1], max_grad_norm=1.0 if private else None,
                              noise_multiplier=sigma if private else 0.0,
                              generator=torch.Generator().manual_seed(0))
        rec = invert_gradient(model, g, y[:1], (1, 8, 8), InversionConfig(iterations=500))
        inv = float(match_to_training(rec, x[:1], rescale=True).ssim[0])
        name = "non-private" if not private else f"DP eps={spent:.2g} (sigma={sigma:.2f})"
        print(f"| {name} | {acc:.2f} | {m.ssim.mean():.3f} | {top:.3f} | {int(good.sum())} / "
              f"{len(m.ssim)} | {len(set(m.index[good].tolist()))} / {args.subset} | {inv:.3f} "
              f"| {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
