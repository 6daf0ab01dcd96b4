"""The f-DP one-run bound of Mahloujifar, Melis & Chaudhuri, "Auditing f-Differential Privacy in
One Run" (ICML 2025, arXiv:2410.22235), for Gaussian tradeoff curves.

Same experiment as Steinke et al. (:mod:`dpkit.audit.one_run`): m canaries, each included with
probability 1/2; the auditor makes r guesses and v of them are correct. Instead of the ε-DP
binomial tail, the analysis uses the whole tradeoff curve f of the claim. Their recursion
(``audit_rh_with_cap``, reconstruction with abstention, alphabet size 2) starts from the mass
α·v/m on "correct" and α·(r − v)/m on "wrong" guesses and walks i = v − 1, …, 0: f-DP forces the
wrong-guess mass up to h_i = max(h_{i+1}, f̄⁻¹(r_{i+1})) with f̄⁻¹(x) = Φ(Φ⁻¹(x) − μ) for μ-GDP,
and the correct-guess mass by i/(r − i) of that increase (capped at 1). If the masses end above
what r guesses can carry, r_0 + h_0 > r/m, then P[≥ v correct] ≤ α under the claim, which is
rejected at level α.

The rejection region is an interval μ ∈ [0, μ_LB]; we find μ_LB and report the ε of μ_LB-GDP at
the given δ (:func:`dpkit.audit.gdp.gdp_epsilon`). That ε is a lower bound on ε for a mechanism
whose privacy curve is Gaussian (the Gaussian mechanism, DP-SGD in its usual regime); it is a
statement about μ, i.e. it tests the f-DP claim, which is stronger than (ε, δ)-DP alone.
"""

from __future__ import annotations

import scipy.optimize
from scipy.special import ndtr, ndtri

from dpkit.audit._validate import check_alpha, check_delta
from dpkit.audit.gdp import gdp_epsilon
from dpkit.errors import require

__all__ = ["fdp_margin", "fdp_mu", "fdp_epsilon"]


def fdp_margin(mu: float, *, canaries: int, guesses: int, correct: int, alpha: float) -> float:
    """r_0 + h_0 − r/m of the recursion for μ-GDP: > 0 iff μ-GDP is rejected at level alpha.

    Non-increasing in μ (a larger μ lets the mechanism explain more correct guesses).
    """
    _check_counts(canaries, guesses, correct)
    right = alpha * correct / canaries  # r_v: mass on "v correct"
    wrong = alpha * (guesses - correct) / canaries  # h_v
    for i in range(correct - 1, -1, -1):
        new_wrong = max(wrong, float(ndtr(ndtri(right) - mu)))  # f̄⁻¹ of the GDP curve
        if new_wrong == wrong:  # neither mass can change any more
            break
        right = min(right + i / (guesses - i) * (new_wrong - wrong), 1.0)
        wrong = new_wrong
    return right + wrong - guesses / canaries


def fdp_mu(*, canaries: int, guesses: int, correct: int, alpha: float = 0.05,
           floor: float = 0.0) -> float:
    """The largest μ such that μ-GDP is rejected at level alpha by v = ``correct`` of r =
    ``guesses`` guesses among m = ``canaries``; ``floor`` (default 0) if none above it is."""
    check_alpha(alpha)
    _check_counts(canaries, guesses, correct)

    def margin(mu: float) -> float:
        return fdp_margin(mu, canaries=canaries, guesses=guesses, correct=correct, alpha=alpha)

    if correct == 0 or margin(floor) <= 0:
        return floor
    lo, hi = floor, max(1.0, 2 * floor)
    while margin(hi) > 0:
        lo, hi = hi, 2 * hi
    return float(scipy.optimize.brentq(margin, lo, hi, xtol=1e-10, rtol=1e-12))


def fdp_epsilon(*, canaries: int, guesses: int, correct: int, alpha: float = 0.05,
                delta: float) -> float:
    """ε lower bound at δ from the f-DP (Gaussian) analysis: ε of μ_LB-GDP (needs δ > 0)."""
    check_delta(delta, positive=True)
    return gdp_epsilon(fdp_mu(canaries=canaries, guesses=guesses, correct=correct, alpha=alpha),
                       delta)


def _check_counts(canaries: int, guesses: int, correct: int) -> None:
    require(0 <= correct <= guesses <= canaries and canaries >= 1,
            f"need 0 <= correct ({correct}) <= guesses ({guesses}) <= canaries ({canaries})")
