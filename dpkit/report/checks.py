"""What a report warns about: an ε that is no DP guarantee, an attack that beats its run's DP
bound, an audit that refutes its run's claim.

A DP guarantee bounds every membership test: TPR ≤ e^ε·FPR + δ (Kairouz et al. 2015). An
attack's ROC is an estimate from finitely many scores, so its raw points may sit above that line
by chance (at FPR = 0, any TPR > δ does). The check is therefore the valid one: the
Clopper–Pearson bound over every threshold of the ROC, each at α/K
(:func:`~dpkit.audit.clopper_pearson_union_bound`), proves ε_LB; ε_LB > the claimed ε means a
point of the ROC lies above the bound beyond sampling error, which points to a bug. The ε lower
bound the attack itself recorded (``epsilon_lower_bound``, ``epsilon_violation``) is checked too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from dpkit.audit import clopper_pearson_union_bound
from dpkit.report.collect import AttackSummary, RunSummary

__all__ = ["ALPHA", "ReportWarning", "roc_bound_excess", "run_warnings"]

ALPHA = 0.05  # the check holds with confidence 1 − ALPHA, per attack variant
DELTA_UNKNOWN = 1e-5  # δ of a run without a privacy report (the attacks' own default)


@dataclass(frozen=True)
class ReportWarning:
    """One warning: the run it concerns, what kind of problem (``epsilon-invalid``,
    ``attack-beats-dp-bound``, ``audit-violation``) and a sentence saying what it means."""

    run: str
    kind: str
    message: str

    def to_dict(self) -> dict[str, str]:
        return {"run": self.run, "kind": self.kind, "message": self.message}


def roc_bound_excess(members, nonmembers, *, epsilon: float, delta: float
                     ) -> tuple[float, float, float] | None:
    """(ε_LB, FPR, TPR) when the ROC lies above TPR = e^ε·FPR + δ beyond sampling error, else
    None. ``members`` (M,) and ``nonmembers`` (N,) are scores, higher = member."""
    if not math.isfinite(epsilon):
        return None
    bound = clopper_pearson_union_bound(members, nonmembers, alpha=ALPHA, delta=delta)
    if bound.epsilon_lower_bound <= epsilon:
        return None
    return (bound.epsilon_lower_bound, bound.false_positives / bound.nonmembers,
            bound.true_positives / bound.members)


def _attack_warnings(name: str, run: RunSummary, attack: AttackSummary) -> list[ReportWarning]:
    claimed = run.epsilon if run.epsilon is not None else attack.value("claimed_epsilon")
    if claimed is None or not math.isfinite(claimed):
        return []
    delta = run.delta if run.delta is not None else DELTA_UNKNOWN
    found = []
    recorded = attack.value("epsilon_lower_bound")
    if attack.result.get("epsilon_violation") is True or (recorded is not None
                                                          and recorded > claimed):
        found.append(ReportWarning(name, "attack-beats-dp-bound", (
            f"attack {attack.name}: its empirical epsilon lower bound {recorded:.3g} exceeds "
            f"the claimed epsilon {claimed:.3g}; this points to a bug (in the training's "
            f"privacy accounting or in the attack's member/non-member split)")))
    for variant, (members, nonmembers) in attack.scores.items():
        excess = roc_bound_excess(members, nonmembers, epsilon=claimed, delta=delta)
        if excess is not None:
            eps_lb, fpr, tpr = excess
            found.append(ReportWarning(name, "attack-beats-dp-bound", (
                f"attack {attack.name} ({variant}): its ROC lies above the DP bound "
                f"TPR <= e^eps FPR + delta (TPR {tpr:.3g} at FPR {fpr:.3g}; proves epsilon >= "
                f"{eps_lb:.3g} at {100 * (1 - ALPHA):g}% confidence against the claimed "
                f"{claimed:.3g}); this points to a bug")))
    return found


def run_warnings(name: str, run: RunSummary) -> list[ReportWarning]:
    """Every warning about one run (``name`` is how the report names it)."""
    found = []
    if not run.epsilon_valid and run.epsilon is not None:
        found.append(ReportWarning(name, "epsilon-invalid", (
            f"epsilon = {run.epsilon:.4g} is NOT a DP guarantee: the batches were not "
            f"Poisson-sampled, which the accountant assumes; retrain with Poisson sampling")))
    for attack in run.attacks:
        found += _attack_warnings(name, run, attack)
    if run.audit and run.audit.get("verdict") == "violation":
        lower = max((run.audit.get("epsilon_lower_bound") or {"?": 0.0}).values())
        found.append(ReportWarning(name, "audit-violation", (
            f"audit verdict 'violation': the canaries prove epsilon >= {lower:.3g}, above the "
            f"claimed {run.audit.get('claimed_epsilon', float('nan')):.3g}; the run's DP "
            f"guarantee does not hold")))
    return found
