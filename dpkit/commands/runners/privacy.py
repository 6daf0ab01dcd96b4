"""``dpkit privacy``, run: plan the DP-SGD run and print its epsilons."""

from __future__ import annotations

from dpkit.commands.options import fmt_eps
from dpkit.commands.runners import emit
from dpkit.engine import PrivacyPlan, plan_privacy

__all__ = ["run"]

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


def run(*, dataset_size: int, batch_size: int, epochs: int, noise_multiplier: float | None,
        epsilon: float | None, delta: float, accountant: str, as_json: bool) -> None:
    plan = plan_privacy(dataset_size=dataset_size, batch_size=batch_size, epochs=epochs,
                        delta=delta, noise_multiplier=noise_multiplier, target_epsilon=epsilon,
                        accountant=accountant)
    emit(plan.to_dict() | {"epsilons": plan.to_dict()["epsilons"]}, as_json=as_json,
         text=lambda: _text(plan, epsilon is not None))
