"""``dpkit audit gaussian``, ``train-classifier`` and ``train-gan``: empirical ε lower bounds
against a claimed ε."""

from __future__ import annotations

from typing import Any, Callable

import click

from dpkit.commands.options import json_option, seed_option, stack_options, typed_options
from dpkit.commands.train_classifier import train_classifier_command
from dpkit.commands.train_gan import train_gan_command
from dpkit.names import AUDIT_BOUNDS, CANARY_TYPES, GAN_CANARY_TYPES

F = Callable[..., Any]

__all__ = ["audit"]

_alpha = click.option("--alpha", type=float, default=0.05, show_default=True,
                      help="Significance: every bound holds with probability 1 - alpha.")


@click.group(help=f"""Privacy auditing in one run: lower bounds on epsilon from canaries.

    Each canary is included with probability 1/2; the bounds ({", ".join(AUDIT_BOUNDS)}) come
    from how many membership guesses on the highest / lowest scores are right (Steinke et al.
    2023; Mahloujifar et al. 2025, f-DP). A bound above the claimed epsilon is a violation.

    \b
    dpkit audit gaussian --epsilon 4 --delta 1e-5 --canaries 1000
    dpkit audit train-classifier --epsilon 2 --canaries 1000 --canary-type gradient
    dpkit audit train-gan --epsilon 2 --canaries 400 --canary-type gradient
    """)
def audit() -> None:
    pass


@audit.command("gaussian")
@click.option("--epsilon", type=float, required=True, help="Claimed epsilon of the mechanism.")
@click.option("--delta", type=float, default=1e-5, show_default=True, help="Claimed delta.")
@click.option("--canaries", type=int, default=1000, show_default=True,
              help="Number of canaries m.")
@_alpha
@seed_option
@json_option
def gaussian(epsilon: float, delta: float, canaries: int, alpha: float, seed: int,
             as_json: bool) -> None:
    """Audit the ideal Gaussian mechanism calibrated to exactly (epsilon, delta).

    Member scores N(mu, 1), non-member scores N(0, 1), mu = 1/sigma of the analytical Gaussian
    mechanism: the best any attack can do, so the bounds show what m canaries can reveal.

    \b
    dpkit audit gaussian --epsilon 4 --delta 1e-5 --canaries 1000 --seed 0 --json
    """
    # The library is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import audit as runner

    runner.gaussian(epsilon=epsilon, delta=delta, canaries=canaries, alpha=alpha, seed=seed,
                    as_json=as_json)


# every option of train-classifier (one list, declared there) except --resume: an audit is one
# uninterrupted run; --out names the audit directory (the training run goes in OUT/train)
_TRAINING_PARAMS = [p for p in train_classifier_command.params if p.name != "resume_dir"]


def _canary_options(types: tuple[str, ...], types_help: str) -> Callable[[F], F]:
    """--canaries, --canary-type (one of ``types``), --alpha and --audit-seed."""
    return stack_options([
        click.option("--canaries", type=click.IntRange(min=2), required=True,
                     help="Number of canaries m, each included with probability 1/2."),
        click.option("--canary-type", type=click.Choice(types), default="gradient",
                     show_default=True, help=types_help),
        _alpha,
        click.option("--audit-seed", type=int, default=0, show_default=True,
                     help="Seed of the canaries and their membership (not of the training)."),
    ])


@audit.command("train-classifier", params=list(_TRAINING_PARAMS))
@_canary_options(CANARY_TYPES,
                 "mislabeled: held-out examples with a wrong label (needs --subset to leave m "
                 "held out); ood: uniform-noise images; gradient: white-box Dirac gradients of "
                 "norm C added to the clipped sum (needs DP-SGD; --noise-multiplier 0 for the "
                 "non-private baseline).")
def train_classifier(**kw: object) -> None:
    """Audit a train-classifier run: train once with m canaries, then bound epsilon from below.

    Takes every train-classifier option. The claimed epsilon and delta are the trained run's;
    the audit directory (--out) holds canaries.csv (the membership: keep it secret), audit.json,
    precision.png and the training run in train/.

    \b
    dpkit audit train-classifier --dataset digits --epsilon 2 --canaries 200 \\
        --canary-type gradient --model mlp --batch-size 32 --epochs 2 --lr 0.5 --momentum 0
    dpkit audit train-classifier --dataset digits --subset 1200 --no-dp --canaries 200 \\
        --canary-type mislabeled --json
    """
    # The library is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import audit as runner

    runner.train_classifier(dict(kw) | {"given": typed_options(click.get_current_context())})


_GAN_TRAINING_PARAMS = [p for p in train_gan_command.params if p.name != "resume"]


@audit.command("train-gan", params=list(_GAN_TRAINING_PARAMS))
@_canary_options(GAN_CANARY_TYPES,
                 "gradient: white-box Dirac gradients of norm C added to the discriminator's "
                 "clipped sum (needs DP-SGD; --noise-multiplier 0 for the non-private "
                 "baseline); image: held-out real images (needs --subset to leave m held out) "
                 "scored by the final discriminator's logit.")
def train_gan(**kw: object) -> None:
    """Audit a train-gan run's discriminator: train once with m canaries, then bound epsilon.

    Takes every train-gan option. The claimed epsilon and delta are the trained run's. The
    canaries are scored on the final discriminator (the private network; the generator is
    post-processing), so the audit tests the DP-SGD that the claimed epsilon rests on. The audit
    directory (--out) holds canaries.csv (the membership: keep it secret), audit.json,
    precision.png and the training run in train/.

    \b
    dpkit audit train-gan --dataset digits --subset 64 --image-size 28 --epsilon 2 \\
        --canaries 400 --batch-size 64 --epochs 10 --lr-d 1e-3 --latent-dim 16 \\
        --g-width 8 --d-width 8
    dpkit audit train-gan --dataset digits --subset 16 --image-size 28 --no-dp \\
        --canaries 48 --canary-type image --epochs 80 --lr-d 5e-3 --json
    """
    # The library is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import audit as runner

    runner.train_gan(dict(kw))
