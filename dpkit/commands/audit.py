"""``dpkit audit gaussian`` (and later ``train-classifier``, ``train-gan``): empirical ε lower
bounds against a claimed ε."""

from __future__ import annotations

import click

from dpkit.commands.options import json_option, seed_option
from dpkit.names import AUDIT_BOUNDS

__all__ = ["audit"]

_alpha = click.option("--alpha", type=float, default=0.05, show_default=True,
                      help="Significance: every bound holds with probability 1 - alpha.")


@click.group(help=f"""Privacy auditing in one run: lower bounds on epsilon from canaries.

    Each canary is included with probability 1/2; the bounds ({", ".join(AUDIT_BOUNDS)}) come
    from how many membership guesses on the highest / lowest scores are right (Steinke et al.
    2023; Mahloujifar et al. 2025, f-DP). A bound above the claimed epsilon is a violation.

    \b
    dpkit audit gaussian --epsilon 4 --delta 1e-5 --canaries 1000
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
