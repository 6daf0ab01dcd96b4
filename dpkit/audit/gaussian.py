"""The idealised audit: canaries through a Gaussian mechanism calibrated to exactly (ε, δ).

Each of m canaries is included with probability 1/2; the score of an included canary is
N(μ, 1), of an excluded one N(0, 1), with μ = 1/σ of the analytical Gaussian mechanism (Balle &
Wang 2018) at (ε, δ): the strongest attack on the Gaussian mechanism, as in the experiments of
Steinke et al. (arXiv:2305.08846) and Mahloujifar et al. (arXiv:2410.22235). How far the bounds
fall below ε shows what m canaries can reveal at best.
"""

from __future__ import annotations

import numpy as np

from dpkit.audit.gdp import gaussian_mu
from dpkit.audit.report import AuditReport, audit_canaries
from dpkit.errors import require

__all__ = ["gaussian_canaries", "simulate_gaussian_audit"]


def gaussian_canaries(*, epsilon: float, delta: float, canaries: int,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """(m,) scores, (m,) bool membership and μ of the (ε, δ) Gaussian mechanism, seeded."""
    require(canaries >= 2, f"canaries={canaries} must be >= 2")
    mu = gaussian_mu(epsilon, delta)
    rng = np.random.default_rng(seed)
    is_member = rng.random(canaries) < 0.5  # (m,) each included with probability 1/2
    scores = rng.standard_normal(canaries) + mu * is_member  # (m,)
    return scores, is_member, mu


def simulate_gaussian_audit(*, epsilon: float, delta: float, canaries: int, seed: int = 0,
                            alpha: float = 0.05) -> AuditReport:
    """Audit the ideal (ε, δ) Gaussian mechanism with m canaries: both one-run bounds.

    A bound above ``epsilon`` here happens with probability at most alpha per bound.
    """
    require(epsilon > 0, f"epsilon={epsilon} must be > 0")
    scores, is_member, mu = gaussian_canaries(epsilon=epsilon, delta=delta, canaries=canaries,
                                              seed=seed)
    return audit_canaries(scores, is_member, claimed_epsilon=epsilon, delta=delta, alpha=alpha,
                          source={"mechanism": "gaussian", "sigma": 1 / mu, "mu": mu,
                                  "seed": seed})
