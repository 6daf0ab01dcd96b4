"""``dpkit privacy``: the DP-SGD privacy calculator."""

from __future__ import annotations

import click

from dpkit.commands.options import json_option
from dpkit.names import ACCOUNTANTS

__all__ = ["privacy"]


@click.command()
@click.option("--dataset-size", "-N", type=int, required=True, help="Number of training examples N.")
@click.option("--batch-size", "-B", type=int, required=True, help="Expected batch size B (q = B/N).")
@click.option("--epochs", type=int, required=True, help="Training epochs.")
@click.option("--noise-multiplier", type=float, default=None, help="Sigma: report epsilon for it.")
@click.option("--epsilon", type=float, default=None, help="Target epsilon: report the sigma reaching it.")
@click.option("--delta", type=float, default=1e-5, show_default=True, help="Delta; must be < 1/N.")
@click.option("--accountant", type=click.Choice(ACCOUNTANTS), default="prv", show_default=True,
              help="Accountant for calibration and for the 'epsilon' field (gdp is "
                   "shown as an extra line only: it can underestimate epsilon).")
@json_option
def privacy(dataset_size: int, batch_size: int, epochs: int, noise_multiplier: float | None,
            epsilon: float | None, delta: float, accountant: str, as_json: bool) -> None:
    """Epsilon of a planned DP-SGD run (RDP, PRV, GDP), or the sigma that reaches a target epsilon.

    \b
    dpkit privacy -N 60000 -B 256 --epochs 60 --noise-multiplier 1.1
    dpkit privacy -N 60000 -B 256 --epochs 60 --epsilon 3 --json
    """
    # The library (torch) is imported only now that the command runs: --help must not load it.
    from dpkit.commands.runners import privacy as runner

    runner.run(dataset_size=dataset_size, batch_size=batch_size, epochs=epochs,
               noise_multiplier=noise_multiplier, epsilon=epsilon, delta=delta,
               accountant=accountant, as_json=as_json)
