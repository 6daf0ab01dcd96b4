"""Privacy auditing in one training run (Steinke, Nasr & Jagielski 2023, arXiv:2305.08846), and
the guessing game shared with the f-DP analysis (:mod:`dpkit.audit.fdp`).

m canaries are each included in training independently with probability 1/2. From their scores
(higher = member) the auditor guesses "in" for the k+ highest, "out" for the k− lowest and
abstains on the rest: r = k+ + k− guesses, v correct. Under (ε, δ)-DP (their Theorem 5.2 and
Algorithm 2), with W ~ Binomial(r, e^ε / (1 + e^ε)):

    p(ε, δ) = P[W ≥ v] + 2 m δ · max_{i=1..v} P[v − i ≤ W < v] / i

bounds the probability of v or more correct guesses; ε_LB is the largest ε with p(ε, δ) ≤ α (for
δ = 0 the plain binomial tail). k is fixed by the user, or searched over K candidate (k+, k−)
pairs fixed before looking at the scores, each tested at α/K (union bound), so the reported bound
holds at confidence 1 − α either way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Callable, Sequence

import numpy as np
import scipy.optimize
import scipy.stats
from scipy.special import expit

from dpkit.audit._validate import check_alpha, check_delta, check_membership
from dpkit.audit.fdp import fdp_mu
from dpkit.audit.gdp import gdp_epsilon
from dpkit.errors import DPKitError, require
from dpkit.names import AUDIT_BOUNDS

__all__ = ["Guesses", "OneRunBound", "guess_counts", "default_candidates", "steinke_p_value",
           "steinke_epsilon", "one_run_bound"]

# Ties between scores are broken by a random order drawn from this fixed seed, never by the
# canaries' order: with members listed first, index order would turn equal scores into "correct"
# guesses.
_TIE_SEED = 0


@dataclass(frozen=True)
class Guesses:
    """The outcome of the guessing game: ``correct`` of ``guesses`` = k+ + k− were right."""

    canaries: int
    k_plus: int
    k_minus: int
    guesses: int
    correct: int


@dataclass(frozen=True)
class OneRunBound:
    """An ε lower bound from one run (``to_dict`` is the ``--json`` form).

    Attributes:
        method: ``"steinke"`` (ε-DP analysis) or ``"fdp"`` (Gaussian f-DP analysis).
        epsilon_lower_bound: ε_LB at ``delta``; holds with probability ≥ 1 − ``alpha``.
        selection: ``"fixed"`` (k given) or ``"union-bound"`` (best of ``candidates`` (k+, k−)
            pairs, each tested at alpha / candidates).
        mu_lower_bound: the GDP μ rejected (``fdp`` only; ε_LB is its ε at ``delta``).
    """

    method: str
    epsilon_lower_bound: float
    guesses: int
    correct: int
    k_plus: int
    k_minus: int
    canaries: int
    alpha: float
    delta: float
    selection: str
    candidates: int
    mu_lower_bound: float | None = None

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def guess_counts(scores: np.ndarray, is_member: np.ndarray, *, k_plus: int,
                 k_minus: int = 0) -> Guesses:
    """Guess "in" for the k+ highest scores, "out" for the k− lowest; count the correct ones.

    Args:
        scores: (m,) canary scores, higher = more likely included.
        is_member: (m,) bool, True where the canary was included in training.
    """
    scores, is_member = check_membership(scores, is_member)
    return _Ranking.of(scores, is_member).guesses(k_plus, k_minus)


@dataclass(frozen=True)
class _Ranking:
    """Membership of the canaries sorted by score, highest first, with prefix counts, so that
    every (k+, k−) is counted in O(1)."""

    members_in_top: np.ndarray  # (m + 1,) members among the k highest scores, k = 0..m

    @classmethod
    def of(cls, scores: np.ndarray, is_member: np.ndarray) -> "_Ranking":
        perm = np.random.default_rng(_TIE_SEED).permutation(scores.size)  # (m,) tie-break
        order = perm[np.argsort(-scores[perm], kind="stable")]  # (m,) highest score first
        return cls(np.concatenate([[0], np.cumsum(is_member[order])]))

    def guesses(self, k_plus: int, k_minus: int) -> Guesses:
        m = self.members_in_top.size - 1
        require(k_plus >= 0 and k_minus >= 0 and k_plus + k_minus <= m,
                f"k_plus={k_plus} and k_minus={k_minus} must be >= 0 with k_plus + k_minus <= "
                f"{m} canaries")
        top = self.members_in_top
        nonmembers_in_bottom = k_minus - int(top[m] - top[m - k_minus])
        return Guesses(canaries=m, k_plus=k_plus, k_minus=k_minus, guesses=k_plus + k_minus,
                       correct=int(top[k_plus]) + nonmembers_in_bottom)


def default_candidates(canaries: int) -> tuple[tuple[int, int], ...]:
    """The (k+, k−) pairs searched when k is not given, fixed by m alone: k = m/2, m/4, …, 1,
    guessing only "in" (k, 0) or both ways (k, k). About 2·log2(m) pairs."""
    require(canaries >= 2, f"canaries={canaries} must be >= 2")
    ks = sorted({max(1, canaries >> j) for j in range(1, canaries.bit_length() + 1)})
    return tuple((k, 0) for k in ks) + tuple((k, k) for k in ks if 2 * k <= canaries)


def steinke_p_value(*, canaries: int, guesses: int, correct: int, epsilon: float,
                    delta: float) -> float:
    """p(ε, δ): an upper bound on P[≥ ``correct`` of ``guesses`` correct] under (ε, δ)-DP
    (Steinke et al. 2023, Theorem 5.2)."""
    require(0 <= correct <= guesses <= canaries, f"need 0 <= correct ({correct}) <= guesses "
                                                 f"({guesses}) <= canaries ({canaries})")
    q = float(expit(epsilon))
    tail = float(scipy.stats.binom.sf(correct - 1, guesses, q))  # P[W >= v]
    if delta == 0 or correct == 0:
        return min(tail, 1.0)
    i = np.arange(1, correct + 1)  # (v,)
    below = np.cumsum(scipy.stats.binom.pmf(correct - i, guesses, q))  # P[v-i <= W < v]
    return min(tail + 2 * canaries * delta * float(np.max(below / i)), 1.0)


def steinke_epsilon(*, canaries: int, guesses: int, correct: int, alpha: float = 0.05,
                    delta: float = 0.0, floor: float = 0.0) -> float:
    """The largest ε with p(ε, δ) ≤ alpha; ``floor`` (default 0) if no ε above it is rejected."""
    check_alpha(alpha)
    check_delta(delta)

    def p(eps: float, d: float) -> float:
        return steinke_p_value(canaries=canaries, guesses=guesses, correct=correct,
                               epsilon=eps, delta=d)

    # p grows with ε and with δ: if even δ = 0 cannot reject ε = floor, nothing above is rejected
    if correct == 0 or p(floor, 0.0) > alpha or p(floor, delta) > alpha:
        return floor
    lo, hi = floor, max(1.0, 2 * floor)
    while p(hi, delta) <= alpha:
        lo, hi = hi, 2 * hi
    return float(scipy.optimize.brentq(lambda eps: alpha - p(eps, delta), lo, hi, xtol=1e-10,
                                       rtol=1e-12))


def _steinke(g: Guesses, alpha: float, delta: float, floor: float) -> float:
    return steinke_epsilon(canaries=g.canaries, guesses=g.guesses, correct=g.correct,
                           alpha=alpha, delta=delta, floor=floor)


def _fdp(g: Guesses, alpha: float, delta: float, floor: float) -> float:
    return fdp_mu(canaries=g.canaries, guesses=g.guesses, correct=g.correct, alpha=alpha,
                  floor=floor)


def _precision_lower(g: Guesses, alpha: float) -> float:
    """Clopper–Pearson lower bound on the fraction of correct guesses (0 without guesses)."""
    if g.correct == 0:
        return 0.0
    return float(scipy.stats.beta.ppf(alpha, g.correct, g.guesses - g.correct + 1))


# method -> (the statistic searched, non-decreasing in the evidence; its ε at δ). Steinke's
# statistic is ε itself; the f-DP one is μ, turned into ε only at the end.
_METHODS: dict[str, tuple[Callable[[Guesses, float, float, float], float],
                          Callable[[float, float], float]]] = {
    "steinke": (_steinke, lambda eps, delta: eps),
    "fdp": (_fdp, gdp_epsilon),
}
assert tuple(_METHODS) == AUDIT_BOUNDS


def one_run_bound(scores: np.ndarray, is_member: np.ndarray, *, method: str = "steinke",
                  alpha: float = 0.05, delta: float = 0.0, k_plus: int | None = None,
                  k_minus: int = 0, candidates: Sequence[tuple[int, int]] | None = None
                  ) -> OneRunBound:
    """ε lower bound at confidence 1 − alpha from one run's canary scores.

    Args:
        scores: (m,) canary scores, higher = more likely included.
        is_member: (m,) bool; each canary must have been included independently with
            probability 1/2 (the theorem's assumption; a fixed half-split is not covered).
        method: ``"steinke"`` (arXiv:2305.08846) or ``"fdp"`` (arXiv:2410.22235, needs δ > 0).
        k_plus, k_minus: fixed numbers of "in" / "out" guesses; leave k_plus None to search.
        candidates: the (k+, k−) pairs searched with the union bound (default
            :func:`default_candidates`); must not depend on the scores.
    """
    if method not in _METHODS:
        raise DPKitError(f"method={method!r} is not one of {', '.join(AUDIT_BOUNDS)}")
    check_alpha(alpha)
    check_delta(delta, positive=method == "fdp")
    scores, is_member = check_membership(scores, is_member)
    if k_plus is not None:
        require(candidates is None, "give either k_plus (fixed k) or candidates (search), "
                                    "not both")
        pairs, selection = [(k_plus, k_minus)], "fixed"
    else:
        require(k_minus == 0, f"k_minus={k_minus} needs k_plus too (fixed k); to search, pass "
                              f"candidates")
        pairs = list(default_candidates(scores.size) if candidates is None else candidates)
        require(len(pairs) >= 1, "candidates is empty")
        selection = "union-bound"
    statistic, to_epsilon = _METHODS[method]
    per_test = alpha / len(pairs)
    ranking = _Ranking.of(scores, is_member)
    tried = [ranking.guesses(kp, km) for kp, km in pairs]
    # Exact search, ordered for speed only: the candidates most precise by a lower confidence
    # bound first, so the best is found early and the rest fail the one-evaluation check.
    tried.sort(key=lambda g: -_precision_lower(g, per_test))
    best, best_guesses = 0.0, tried[0]
    for g in tried:
        value = statistic(g, per_test, delta, best)  # `best` unless g rejects more than it
        if value > best:
            best, best_guesses = value, g
    epsilon = to_epsilon(best, delta)
    return OneRunBound(method=method, epsilon_lower_bound=epsilon,
                       guesses=best_guesses.guesses, correct=best_guesses.correct,
                       k_plus=best_guesses.k_plus, k_minus=best_guesses.k_minus,
                       canaries=scores.size, alpha=alpha, delta=delta, selection=selection,
                       candidates=len(pairs), mu_lower_bound=best if method == "fdp" else None)

