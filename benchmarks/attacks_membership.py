"""Membership inference (loss attack, LiRA) against non-private vs DP classifiers on digits.

Usage (small scale, CPU, a few minutes):
    python benchmarks/attacks_membership.py --subset 300 --shadow-models 8 --epochs 60

Members: a random ``--subset`` of the digits training split; non-members: as many held-out
training-split examples. Prints one Markdown table row per privacy setting.
"""

from __future__ import annotations

import argparse
import time
import warnings

from dpkit.attacks import (LiRAConfig, attack_metrics, classifier_shadow_fit, lira_attack,
                           lira_population, loss_attack)
from dpkit.classifiers import ClassifierConfig, ModelConfig, evaluate_accuracy, fit_classifier
from dpkit.data import DataOptions, load_dataset
from dpkit.engine import PrivacyConfig


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--subset", type=int, default=300)
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--shadow-models", type=int, default=8)
    p.add_argument("--epsilons", default="inf,8,1")
    p.add_argument("--delta", type=float, default=1e-3)
    args = p.parse_args()
    warnings.filterwarnings("ignore")
    bundle = load_dataset("digits", DataOptions(subset=args.subset))
    members, nonmembers = lira_population(bundle)  # shadows train on as many as the target
    print("| target | test acc | loss AUC | LiRA online AUC | LiRA TPR@0.1% | LiRA TPR@1% | "
          "LiRA offline AUC | s / shadow |")
    print("|---|---|---|---|---|---|---|---|")
    for eps_text in args.epsilons.split(","):
        eps = float(eps_text)
        privacy = (PrivacyConfig(enabled=False) if eps == float("inf") else
                   PrivacyConfig(enabled=True, target_epsilon=eps, delta=args.delta))
        cfg = ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(256,)), privacy=privacy,
                               epochs=args.epochs, batch_size=args.batch_size, lr=0.1)
        target = fit_classifier(cfg, bundle.train, num_classes=10).model
        acc = evaluate_accuracy(target, bundle.test)
        loss = attack_metrics(loss_attack(target, members, nonmembers))
        t0 = time.perf_counter()
        lira = lira_attack(target, classifier_shadow_fit(cfg, num_classes=10), members,
                           nonmembers, LiRAConfig(shadow_models=args.shadow_models,
                                                  fixed_variance=True))
        per_shadow = (time.perf_counter() - t0) / args.shadow_models
        on, off = attack_metrics(lira.online), attack_metrics(lira.offline)
        name = "non-private" if eps == float("inf") else f"DP eps={eps:g}"
        print(f"| {name} | {acc:.3f} | {loss.auc:.3f} | {on.auc:.3f} | "
              f"{100 * on.tpr_at_fpr_0_001:.1f}% | {100 * on.tpr_at_fpr_0_01:.1f}% | "
              f"{off.auc:.3f} | {per_shadow:.1f} |", flush=True)


if __name__ == "__main__":
    main()
