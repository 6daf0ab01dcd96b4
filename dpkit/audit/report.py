"""What an audit concludes: the ε lower bounds of every one-run analysis against the claimed ε.

One result type for every audit (the idealised Gaussian simulation here; audits of trained
classifiers and GANs later), so their ``--json`` outputs share the same keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from dpkit.audit.one_run import OneRunBound, one_run_bound
from dpkit.names import AUDIT_BOUNDS, AUDIT_VERDICTS

__all__ = ["AuditReport", "audit_canaries"]


@dataclass(frozen=True)
class AuditReport:
    """ε lower bounds of one run's canaries against the ε it claims.

    Attributes:
        claimed_epsilon, delta: the (ε, δ) guarantee audited.
        canaries: m, the number of canaries (each included with probability 1/2).
        epsilon_lower_bound: method name (``AUDIT_BOUNDS``) -> ε_LB at ``delta``.
        confidence: 1 − alpha; each bound holds with this probability on its own (the verdict
            takes the maximum of the bounds, so its false-alarm rate is at most
            len(AUDIT_BOUNDS) · alpha).
        verdict: ``"violation"`` when some bound exceeds the claimed ε, else ``"consistent"``
            (an audit can refute a claim, never confirm it).
        bounds: method name -> the full :class:`OneRunBound` (k, guesses, correct, ...).
        source: what produced the scores (for a simulation: mechanism, sigma, mu, seed).
    """

    claimed_epsilon: float
    delta: float
    canaries: int
    epsilon_lower_bound: dict[str, float]
    confidence: float
    verdict: str
    bounds: dict[str, OneRunBound] = field(default_factory=dict)
    source: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert self.verdict in AUDIT_VERDICTS, self.verdict

    def to_dict(self) -> dict[str, Any]:
        return {"claimed_epsilon": self.claimed_epsilon, "delta": self.delta,
                "canaries": self.canaries, "epsilon_lower_bound": dict(self.epsilon_lower_bound),
                "confidence": self.confidence, "verdict": self.verdict,
                "bounds": {k: b.to_dict() for k, b in self.bounds.items()},
                "source": dict(self.source)}


def audit_canaries(scores: np.ndarray, is_member: np.ndarray, *, claimed_epsilon: float,
                   delta: float, alpha: float = 0.05, source: Mapping[str, Any] | None = None,
                   ) -> AuditReport:
    """Run every one-run bound (k searched with the union bound) and compare with the claim.

    Args:
        scores: (m,) canary scores, higher = more likely included.
        is_member: (m,) bool, each canary included independently with probability 1/2.
    """
    bounds = {name: one_run_bound(scores, is_member, method=name, alpha=alpha, delta=delta)
              for name in AUDIT_BOUNDS}
    lower = {name: b.epsilon_lower_bound for name, b in bounds.items()}
    verdict = "violation" if max(lower.values()) > claimed_epsilon else "consistent"
    return AuditReport(claimed_epsilon=float(claimed_epsilon), delta=float(delta),
                       canaries=int(np.asarray(scores).size), epsilon_lower_bound=lower,
                       confidence=1 - alpha, verdict=verdict, bounds=bounds,
                       source=dict(source or {}))
