"""``dpkit audit``, run: compute the audit and print its report."""

from __future__ import annotations

from dpkit.audit import AuditReport, simulate_gaussian_audit
from dpkit.commands.options import fmt_eps
from dpkit.commands.runners import emit

__all__ = ["gaussian", "report_text"]

_NAMES = {"steinke": "Steinke et al. 2023 (epsilon-DP)",
          "fdp": "Mahloujifar et al. 2025 (f-DP, Gaussian)"}


def report_text(report: AuditReport) -> str:
    lines = [f"claimed epsilon = {fmt_eps(report.claimed_epsilon)}, delta = {report.delta:g}, "
             f"{report.canaries} canaries, confidence {report.confidence:g}"]
    for name, bound in report.bounds.items():
        lines.append(f"  {name}: epsilon >= {bound.epsilon_lower_bound:.4f}  "
                     f"({_NAMES.get(name, name)}; {bound.correct}/{bound.guesses} guesses "
                     f"correct, k+ = {bound.k_plus}, k- = {bound.k_minus}, best of "
                     f"{bound.candidates} k by union bound)")
    lines.append(f"verdict: {report.verdict}")
    return "\n".join(lines)


def gaussian(*, epsilon: float, delta: float, canaries: int, alpha: float, seed: int,
             as_json: bool) -> None:
    report = simulate_gaussian_audit(epsilon=epsilon, delta=delta, canaries=canaries, seed=seed,
                                     alpha=alpha)
    emit(report, as_json=as_json, text=lambda: report_text(report))
