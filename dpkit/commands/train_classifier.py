"""``dpkit train-classifier``: DP (and adversarially robust) classifiers."""

from __future__ import annotations

import math
from typing import Any

import click

from dpkit.classifiers import (ARCHITECTURES, NORMS, OPTIMIZERS, ClassifierConfig, ModelConfig,
                               PGDConfig, TrainResult, resume_classifier, train_classifier)
from dpkit.commands.options import (data_options, device_option, emit, fmt_eps, json_option,
                                    out_option, parse_int_list, privacy_config_from,
                                    privacy_notes, privacy_options, quiet_option,
                                    refuse_options_with_resume, seed_option)
from dpkit.commands.flags import to_cli
from dpkit.data import DataOptions
from dpkit.engine import INVALID_EPSILON, resolve_device

__all__ = ["train_classifier_command"]


def _text(r: TrainResult) -> str:
    privacy = (f"epsilon = {fmt_eps(r.epsilon)} at delta = {r.delta:g} (noise multiplier "
               f"{r.noise_multiplier:.4g})" if math.isfinite(r.epsilon)
               else "non-private (epsilon = inf)")
    if not r.epsilon_valid:
        privacy += f" [{INVALID_EPSILON}]"
    lines = [f"run directory: {r.run_dir}",
             f"trained {r.epochs} epochs on {r.train_size} examples; {privacy}"]
    if r.test_accuracy is not None:
        lines.append(f"test accuracy: {r.test_accuracy:.4f}")
    if r.robust_accuracy is not None:
        lines.append(f"robust accuracy (PGD, test): {r.robust_accuracy:.4f}")
    lines += [f"note: {to_cli(n)}" for n in r.notes]
    lines += privacy_notes(noise_reproducible=r.noise_reproducible)
    return "\n".join(lines)


def _pgd_from(kw: dict[str, Any]) -> PGDConfig | None:
    on, eps, alpha, steps = kw.pop("pgd"), kw.pop("pgd_eps"), kw.pop("pgd_alpha"), kw.pop("pgd_steps")
    if not on:
        return None
    return PGDConfig(eps=eps, steps=steps, alpha=alpha, random_start=steps > 1)


@click.command("train-classifier")
@data_options(default_dataset="digits")
@click.option("--model", "arch", type=click.Choice(ARCHITECTURES), default="cnn", show_default=True,
              help="cnn = Tramer-Boneh tanh CNN (28x28/32x32), mlp, resnet = GroupNorm ResNet.")
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
    """
    if kw["resume_dir"] is not None:
        refuse_options_with_resume(click.get_current_context())
    device = resolve_device(kw.pop("device"))
    as_json, quiet = kw.pop("as_json"), kw.pop("quiet")
    if kw["resume_dir"] is not None:
        result = resume_classifier(kw["resume_dir"], device=device, quiet=quiet)
        emit(result, as_json=as_json, text=lambda: _text(result))
        return
    privacy = privacy_config_from(kw)
    hidden = parse_int_list(kw.pop("hidden"), name="--hidden") or ()
    model = ModelConfig(arch=kw.pop("arch"), norm=kw.pop("norm"),
                        weight_standardization=kw.pop("weight_standardization"),
                        bias=not kw.pop("no_bias"), hidden=hidden, width=kw.pop("width"),
                        init_scale=kw.pop("init_scale"))
    if kw["public_data"] is not None and model.norm != "public-bn":
        raise click.UsageError("--public-data is only used by --norm public-bn; add --norm "
                               "public-bn or drop --public-data")
    data = DataOptions(data_root=kw.pop("data_root"), download=kw.pop("download"),
                       image_size=kw.pop("image_size"), grayscale=kw.pop("grayscale"),
                       subset=kw.pop("subset"),
                       classes=parse_int_list(kw.pop("classes"), name="--classes"),
                       public=kw.pop("public_data"), public_size=kw.pop("public_size"),
                       seed=kw["seed"])
    cfg = ClassifierConfig(model=model, privacy=privacy, optimizer=kw.pop("optimizer"),
                           lr=kw.pop("lr"), momentum=kw.pop("momentum"), epochs=kw.pop("epochs"),
                           batch_size=kw.pop("batch_size"), pgd=_pgd_from(kw),
                           adv_fraction=kw.pop("adv_fraction"),
                           noise_augment=kw.pop("noise_augment"), ema=kw.pop("ema"),
                           eval_every=kw.pop("eval_every"),
                           seed=kw.pop("seed"))
    result = train_classifier(cfg, dataset=kw.pop("dataset"), data=data, out=kw.pop("out"),
                              device=device, quiet=quiet)
    emit(result, as_json=as_json, text=lambda: _text(result))
