"""Conditional DP DCGAN on Fashion-MNIST: train, then downstream accuracy and FID.

One run per call (so several can run side by side, one thread each): trains a class-conditional
DCGAN with ``dpkit.gan.train_gan`` on the full 60k/10k split (δ = 1e-5), then measures

* downstream accuracy: the Tramèr–Boneh CNN trained (non-privately) on ``--num-samples``
  generated images, tested on the real test split, next to the same CNN trained on as many real
  training images (``dpkit evaluate RUN --metric downstream``);
* FID against the test split on the named classifier features (``--features``),

and prints one Markdown row plus a JSON line. The run directory keeps the sample grids.

    python benchmarks/gan_downstream.py --epsilon 10 --epochs 10 --out benchmarks/runs/fm-e10
    python benchmarks/gan_downstream.py --no-dp --epochs 10 --out benchmarks/runs/fm-nodp
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from dpkit.data import DataOptions
from dpkit.engine import PrivacyConfig, resolve_device
from dpkit.evaluation.downstream import DownstreamConfig, evaluate_downstream_run
from dpkit.evaluation.generative import evaluate_generative_run
from dpkit.gan import GANConfig, train_gan
from dpkit.metrics.features import parse_features
from dpkit.metrics.generative import GenerativeEvalConfig


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--epsilon", type=float, default=None)
    ap.add_argument("--no-dp", action="store_true")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--d-steps", type=int, default=1)
    ap.add_argument("--schedule", default="constant")
    ap.add_argument("--threshold", type=float, default=0.6)
    ap.add_argument("--grace", type=int, default=200)
    ap.add_argument("--g-width", type=int, default=32)
    ap.add_argument("--d-width", type=int, default=32)
    ap.add_argument("--latent-dim", type=int, default=100)
    ap.add_argument("--conditioning", default="labelmap")
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--lr-d", type=float, default=2e-4)
    ap.add_argument("--lr-g", type=float, default=2e-4)
    ap.add_argument("--max-grad-norm", type=float, default=1.0)
    ap.add_argument("--subset", type=int, default=None)
    ap.add_argument("--dataset", default="fashion-mnist")
    ap.add_argument("--num-samples", type=int, default=10000)
    ap.add_argument("--features", default="classifier")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    device = resolve_device(args.device)
    privacy = (PrivacyConfig(enabled=False) if args.no_dp else
               PrivacyConfig(target_epsilon=args.epsilon, max_grad_norm=args.max_grad_norm))
    cfg = GANConfig(dataset=args.dataset, data=DataOptions(image_size=28, subset=args.subset),
                    privacy=privacy, latent_dim=args.latent_dim, g_width=args.g_width,
                    d_width=args.d_width, epochs=args.epochs, batch_size=args.batch_size,
                    lr_d=args.lr_d, lr_g=args.lr_g, d_steps=args.d_steps,
                    d_steps_schedule=args.schedule, d_steps_threshold=args.threshold,
                    d_steps_grace=args.grace, conditioning=args.conditioning, ema=args.ema,
                    seed=args.seed)
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    t0 = time.perf_counter()
    result = train_gan(cfg, out=out, device=device, quiet=True)
    train_s = time.perf_counter() - t0
    down = evaluate_downstream_run(out, DownstreamConfig(num_samples=args.num_samples,
                                                         seed=args.seed), device=device)
    gen = evaluate_generative_run(out, GenerativeEvalConfig(metrics=("fid",), reference="test",
                                                            num_samples=args.num_samples),
                                  parse_features(args.features), device=device)
    fid = gen.to_dict().get("fid")
    last = result.history[-1]
    row = {"run": str(out), "epsilon": result.report.epsilon,
           "sigma": result.report.noise_multiplier, "d_steps_total": result.steps,
           "g_steps_last_epoch": last["g_steps"], "n_d_last": last["d_steps_per_g_step"],
           "train_minutes": train_s / 60, "downstream": down.accuracy,
           "downstream_real": down.real_accuracy, "fid": fid, "features": args.features,
           "args": vars(args), "threads": torch.get_num_threads()}
    print(f"| {out.name} | {row['epsilon']:.3g} | {row['sigma']:.3g} | {result.steps} | "
          f"{row['n_d_last']} | {row['train_minutes']:.0f} min | {down.accuracy:.3f} | "
          f"{down.real_accuracy:.3f} | {fid:.2f} |")
    print(json.dumps(row))


if __name__ == "__main__":
    main()
