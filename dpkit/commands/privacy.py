"""``dpkit privacy``: the DP-SGD privacy calculator."""

from __future__ import annotations

import click

from dpkit.commands.options import emit, fmt_eps, json_option
from dpkit.engine import ACCOUNTANTS, PrivacyPlan, plan_privacy

_NOTES = {"gdp": " (CLT approximation; can underestimate; never used for a training run)"}


def _text(plan: PrivacyPlan, calibrated: bool) -> str:
    per_epoch = plan.steps // int(plan.epochs)
    lines = [
        f"DP-SGD with Poisson sampling: q = B/N = {plan.sample_rate:.6g}, "
        f"{plan.steps} steps ({int(plan.epochs)} epochs x {per_epoch}), delta = {plan.delta:g}",
        f"noise multiplier sigma = {plan.noise_multiplier:.6g}"
        + (f"  (calibrated with {plan.accountant} to reach epsilon = {plan.epsilon:.4g})"
           if calibrated else ""),
    ]
    for name, eps in plan.epsilons.items():
        mark = "  <- --accountant" if name == plan.accountant else ""
        lines.append(f"  {name}: epsilon = {fmt_eps(eps)}{_NOTES.get(name, '')}{mark}")
    return "\n".join(lines)


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
    plan = plan_privacy(dataset_size=dataset_size, batch_size=batch_size, epochs=epochs,
                        delta=delta, noise_multiplier=noise_multiplier, target_epsilon=epsilon,
                        accountant=accountant)
    emit(plan.to_dict() | {"epsilons": plan.to_dict()["epsilons"]}, as_json=as_json,
         text=lambda: _text(plan, epsilon is not None))
