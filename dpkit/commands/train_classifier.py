"""``dpkit train-classifier``: DP (and adversarially robust) classifiers."""

from __future__ import annotations

from typing import Any

import click

from dpkit.commands.options import (data_options, device_option, json_option, out_option,
                                    privacy_options, quiet_option, refuse_options_with_resume,
                                    seed_option, typed_options)
from dpkit.names import (ARCHITECTURES, NORMS, OPTIMIZERS, SCATTER_NORMS,
                         default_recipes_text)

__all__ = ["train_classifier_command"]


@click.command("train-classifier")
@click.option("--recipe", default="auto", show_default=True,
              help="A named recipe (dataset, model, batch size, C, lr, momentum, epochs, "
                   "grad-sample mode, augmult, epsilon) whose values become the defaults; "
                   "options given explicitly override them. 'list' prints the recipes; 'none' "
                   "= no recipe; 'auto' = the dataset's measured recipe for the --epsilon "
                   f"typed ({default_recipes_text()}), unless --model, --norm, --pgd, "
                   "--noise-augment, --augmult, --optimizer (...) choose another model or "
                   "objective.")
@data_options(default_dataset="digits")
@click.option("--model", "arch", type=click.Choice(ARCHITECTURES), default="cnn", show_default=True,
              help="cnn = Tramer-Boneh tanh CNN (28x28/32x32), mlp, resnet = GroupNorm ResNet, "
                   "scatternet-linear / scatternet-cnn = a linear model / small CNN on cached "
                   "ScatterNet features (Tramer-Boneh 2021).")
@click.option("--scatter-norm", type=click.Choice(SCATTER_NORMS), default="group",
              show_default=True,
              help="scatternet models: group = GroupNorm per example (no privacy cost); data = "
                   "mean/variance of the private features with DP, composed into epsilon.")
@click.option("--scatter-groups", type=int, default=27, show_default=True,
              help="scatternet models: GroupNorm groups over the 81 feature channels.")
@click.option("--norm-noise-multiplier", type=float, default=8.0, show_default=True,
              help="--scatter-norm data: noise multiplier of the DP statistics.")
@click.option("--norm", type=click.Choice(NORMS), default="none", show_default=True,
              help="Normalization; public-bn takes its statistics from --public-data only.")
@click.option("--weight-standardization", is_flag=True, help="Standardize conv weights.")
@click.option("--hidden", default="256,256", show_default=True, help="mlp hidden widths.")
@click.option("--no-bias", is_flag=True, help="mlp without biases (homogeneous network).")
@click.option("--init-scale", type=float, default=1.0, show_default=True,
              help="Multiply every parameter's default initialisation by this (e.g. 0.01: a "
                   "small init, which the KKT reconstruction attack assumes).")
@click.option("--width", type=int, default=16, show_default=True, help="resnet base width.")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default="sgd", show_default=True,
              help="DP-SGD, DP-Adam or DP-Adagrad.")
@click.option("--lr", type=float, default=0.1, show_default=True, help="Learning rate.")
@click.option("--momentum", type=float, default=0.9, show_default=True, help="SGD momentum.")
@click.option("--epochs", type=int, default=10, show_default=True, help="Training epochs.")
@click.option("--batch-size", type=int, default=256, show_default=True,
              help="Expected batch size B (Poisson sampling at q = B/N).")
@privacy_options
@click.option("--pgd", is_flag=True, help="PGD adversarial training (L-inf, random start).")
@click.option("--pgd-eps", type=float, default=0.1, show_default=True,
              help="L-inf budget in [0,1] pixel units.")
@click.option("--pgd-alpha", type=float, default=None, help="Step size (default 2.5*eps/steps).")
@click.option("--pgd-steps", type=int, default=10, show_default=True, help="1 = FGSM.")
@click.option("--adv-fraction", type=float, default=1.0, show_default=True,
              help="Probability that an example is replaced by its adversarial version "
                   "(an independent coin per example).")
@click.option("--noise-augment", type=float, default=0.0, show_default=True,
              help="Gaussian noise sigma (pixel units) on inputs, for randomized smoothing.")
@click.option("--augmult", type=int, default=1, show_default=True,
              help="Augmentation multiplicity: K views per example (random crop, and flips where "
                   "the dataset allows), gradients averaged before clipping; q unchanged.")
@click.option("--augment-flip/--no-augment-flip", default=None,
              help="Random horizontal flips of the --augmult views [default: on for "
                   "flip-invariant datasets (cifar10, fashion-mnist, ...), off for digits].")
@click.option("--ema", type=float, default=0.0, show_default=True,
              help="Average the weights with this EMA decay, e.g. 0.999 (no privacy cost); 0 = off.")
@click.option("--eval-every", type=int, default=1, show_default=True,
              help="Evaluate on the test set every N epochs (and after the last).")
@click.option("--public-data", default=None,
              help="Public data for --norm public-bn: 'holdout' or a dataset name (its test split).")
@click.option("--public-size", type=int, default=1000, show_default=True,
              help="Number of public examples.")
@click.option("--resume", "resume_dir", type=click.Path(file_okay=False), default=None,
              help="Continue an interrupted run from RUN_DIR/checkpoint.pt with its own settings.")
@out_option
@seed_option
@device_option
@quiet_option
@json_option
def train_classifier_command(**kw: Any) -> None:
    """Train a classifier with DP-SGD, optionally with PGD adversarial training.

    \b
    dpkit train-classifier --dataset digits --image-size 28 --epsilon 8 --epochs 10
    dpkit train-classifier --dataset fashion-mnist --epsilon 3 --pgd --pgd-eps 0.1
    dpkit train-classifier --dataset fashion-mnist --epsilon 3 --norm public-bn \\
        --public-data mnist --data-root DIR
    dpkit train-classifier --dataset fashion-mnist --epsilon 3     (its recipe: ScatterNet)
    dpkit train-classifier --recipe list
    dpkit train-classifier --recipe fmnist-scatternet-eps3 --epochs 30
    """
    ctx = click.get_current_context()
    if kw["resume_dir"] is not None:
        refuse_options_with_resume(ctx)
    kw["given"] = typed_options(ctx)  # a --recipe never overrides these
    # The library (torch) is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import train_classifier as runner

    runner.run(kw)
