"""DP classifiers on Fashion-MNIST (full 60k/10k, δ = 1e-5): the accuracy table of BENCHMARKS.md.

Trains the Tramèr–Boneh CNN with the reference DP-SGD recipe (40 epochs, B = 2048, C = 0.1,
SGD lr 4 momentum 0.9, ghost clipping) at each requested ε, optionally with PGD adversarial
training (ε_adv = 0.1) and public-data BatchNorm (MNIST test images as public data), and prints
one Markdown row per run (clean accuracy; robust accuracy under PGD-20 with 1 restart on the first
``--robust-examples`` test images).

    python benchmarks/classifier_fashion.py --epsilon 3                       # one row, ~6 min alone
    python benchmarks/classifier_fashion.py --epsilon 1,3,8,inf               # the table
    python benchmarks/classifier_fashion.py --epsilon 3 --pgd                 # DP + PGD
    python benchmarks/classifier_fashion.py --epsilon 3 --pgd --public-bn --mnist-root DIR
    python benchmarks/classifier_fashion.py --epsilon 3 --epochs 2 --subset 6000   # quick try

MNIST's files must sit in ``--mnist-root``/MNIST/raw (torchvision's layout): in a flat folder
Fashion-MNIST would read MNIST's identically named test files (dpkit refuses that).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import torch

from dpkit.classifiers import (ClassifierConfig, ModelConfig, PGDConfig, load_classifier,
                               robust_accuracy, train_classifier)
from dpkit.data import DataOptions
from dpkit.engine import PrivacyConfig, resolve_device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epsilon", default="3", help="comma-separated; 'inf' = non-private")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=2048)
    ap.add_argument("--max-grad-norm", type=float, default=0.1)
    ap.add_argument("--lr", type=float, default=4.0)
    ap.add_argument("--momentum", type=float, default=0.9)
    ap.add_argument("--ema", type=float, default=0.0)
    ap.add_argument("--eval-every", type=int, default=5)
    ap.add_argument("--mode", default="ghost", choices=["hooks", "functorch", "ghost"])
    ap.add_argument("--pgd", action="store_true")
    ap.add_argument("--pgd-steps", type=int, default=5, help="PGD steps during training")
    ap.add_argument("--public-bn", action="store_true")
    ap.add_argument("--mnist-root", default=None,
                    help="folder with MNIST's idx files in MNIST/raw/ (public data)")
    ap.add_argument("--subset", type=int, default=None)
    ap.add_argument("--robust-examples", type=int, default=1000)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--runs", default="benchmarks/runs")
    args = ap.parse_args()

    device = resolve_device(args.device)
    rows = []
    for text in args.epsilon.split(","):
        eps = float(text)
        private = math.isfinite(eps)
        privacy = (PrivacyConfig(target_epsilon=eps, delta=1e-5, max_grad_norm=args.max_grad_norm,
                                 grad_sample_mode=args.mode) if private
                   else PrivacyConfig(enabled=False))
        norm = "public-bn" if args.public_bn else "none"
        cfg = ClassifierConfig(
            model=ModelConfig(arch="cnn", norm=norm), privacy=privacy, optimizer="sgd",
            lr=args.lr if private else 0.1, momentum=args.momentum, epochs=args.epochs,
            batch_size=args.batch_size if private else 256, ema=args.ema,
            eval_every=args.eval_every,
            pgd=PGDConfig(eps=0.1, steps=args.pgd_steps) if args.pgd else None, robust_eval_size=0)
        data = DataOptions(subset=args.subset, data_root=args.mnist_root,
                           public="mnist" if args.public_bn else None, public_size=10000)
        tag = f"eps{text}{'-pgd' if args.pgd else ''}{'-pbn' if args.public_bn else ''}"
        out = Path(args.runs) / f"classifier-fashion-{tag}-{time.strftime('%Y%m%d-%H%M%S')}"
        t0 = time.perf_counter()
        result = train_classifier(cfg, dataset="fashion-mnist", data=data, out=out, device=device,
                                  quiet=True)
        minutes = (time.perf_counter() - t0) / 60
        loaded = load_classifier(out, device=device)
        test = loaded.bundle.test
        n = min(args.robust_examples, len(test))
        rob = robust_accuracy(loaded.model, test.subset(torch.arange(n)),
                              PGDConfig(eps=0.1, steps=20), restarts=1, device=device)
        row = {"epsilon": result.epsilon, "pgd": args.pgd, "public_bn": args.public_bn,
               "test_accuracy": result.test_accuracy, "robust_accuracy_pgd20": rob.robust_accuracy,
               "robust_examples": n, "minutes": round(minutes, 1), "run_dir": str(out),
               "noise_multiplier": result.noise_multiplier, "epochs": args.epochs}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("\n| target ε | PGD training | public-bn | test acc. | PGD-20 acc. (ε=0.1) | minutes |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        eps = r["epsilon"]
        print(f"| {'∞' if not math.isfinite(eps) else f'{eps:.2f}'} | {'yes' if r['pgd'] else 'no'} "
              f"| {'yes' if r['public_bn'] else 'no'} | {100 * r['test_accuracy']:.2f}% "
              f"| {100 * r['robust_accuracy_pgd20']:.1f}% | {r['minutes']} |")


if __name__ == "__main__":
    main()
