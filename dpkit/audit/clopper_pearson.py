"""Clopper–Pearson ε lower bounds from a membership test's counts (Jagielski et al. 2020,
arXiv:2006.07709; Nasr et al. 2021, arXiv:2101.04535).

An (ε, δ)-DP mechanism forces every membership test to satisfy TPR ≤ e^ε FPR + δ and, testing
the other way round, TNR ≤ e^ε FNR + δ. With exact (Clopper–Pearson) one-sided intervals at α/2
each — TPR ≥ TPR_lo and FPR ≤ FPR_hi hold together with probability ≥ 1 − α — both directions
give a bound at confidence 1 − α from the same two intervals (TNR_lo = 1 − FPR_hi,
FNR_hi = 1 − TPR_lo):

    ε_LB = max(ln((TPR_lo − δ) / FPR_hi), ln((TNR_lo − δ) / FNR_hi), 0)

a direction whose numerator is ≤ 0 gives no evidence. Scores follow :mod:`dpkit.attacks.scores`:
higher = more likely a member.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import scipy.stats

from dpkit.audit._validate import check_alpha, check_delta, check_scores
from dpkit.errors import require

__all__ = ["ClopperPearsonBound", "clopper_pearson_interval", "clopper_pearson_epsilon",
           "clopper_pearson_best_threshold", "clopper_pearson_union_bound"]


@dataclass(frozen=True)
class ClopperPearsonBound:
    """An ε lower bound from one threshold's counts (``to_dict`` is the ``--json`` form).

    Attributes:
        epsilon_lower_bound: ε_LB ≥ 0; holds with probability ≥ 1 − ``alpha`` when
            ``valid`` (one pre-chosen threshold, or the union bound over all thresholds tried).
        direction: ``"tpr/fpr"``, ``"tnr/fnr"`` (the reversed test won) or ``"none"`` (0).
        tpr_lower, fpr_upper: the two Clopper–Pearson endpoints, each at ``per_test_alpha / 2``.
        threshold: the score threshold used (score ≥ threshold = guess member); None for counts.
        thresholds_tried: K thresholds swept; ``per_test_alpha`` = ``alpha / K`` under the union
            bound, else ``alpha``.
        valid: False when the threshold was picked on the same data without correction: the bound
            is then optimistic (its confidence is below 1 − alpha).
    """

    epsilon_lower_bound: float
    direction: str
    true_positives: int
    members: int
    false_positives: int
    nonmembers: int
    tpr_lower: float
    fpr_upper: float
    alpha: float
    per_test_alpha: float
    delta: float
    threshold: float | None = None
    thresholds_tried: int = 1
    valid: bool = True

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def clopper_pearson_interval(successes: int, trials: int, *, alpha: float) -> tuple[float, float]:
    """Exact two-sided interval for a binomial proportion, α/2 on each side.

    Equals ``scipy.stats.binomtest(successes, trials).proportion_ci(1 - alpha, "exact")``.
    """
    require(trials >= 1 and 0 <= successes <= trials,
            f"successes={successes} must lie in [0, trials={trials}] with trials >= 1")
    check_alpha(alpha)
    lower, upper = _cp_lower(np.asarray(successes), trials, alpha / 2), _cp_upper(
        np.asarray(successes), trials, alpha / 2)
    return float(lower), float(upper)


def clopper_pearson_epsilon(*, true_positives: int, members: int, false_positives: int,
                            nonmembers: int, alpha: float = 0.05, delta: float = 0.0
                            ) -> ClopperPearsonBound:
    """ε lower bound at confidence 1 − alpha from one test's counts, chosen before the data.

    Args:
        true_positives: members guessed "member" (out of ``members``).
        false_positives: non-members guessed "member" (out of ``nonmembers``).
    """
    for name, k, n in (("true_positives", true_positives, members),
                       ("false_positives", false_positives, nonmembers)):
        require(n >= 1 and 0 <= k <= n, f"{name}={k} must lie in [0, {n}] (and {n} >= 1)")
    check_alpha(alpha)
    check_delta(delta)
    eps, tpr_lo, fpr_hi, direction = _epsilons(np.asarray([true_positives]), members,
                                               np.asarray([false_positives]), nonmembers,
                                               alpha, delta)
    return ClopperPearsonBound(
        epsilon_lower_bound=float(eps[0]), direction=str(direction[0]),
        true_positives=int(true_positives), members=int(members),
        false_positives=int(false_positives), nonmembers=int(nonmembers),
        tpr_lower=float(tpr_lo[0]), fpr_upper=float(fpr_hi[0]), alpha=alpha,
        per_test_alpha=alpha, delta=delta)


def clopper_pearson_best_threshold(member_scores: np.ndarray, nonmember_scores: np.ndarray, *,
                                   alpha: float = 0.05, delta: float = 0.0
                                   ) -> ClopperPearsonBound:
    """The best bound over every threshold, each at level alpha — OPTIMISTIC.

    Choosing the threshold on the same scores the bound is computed from is a multiple test:
    the reported ε_LB holds with probability below 1 − alpha (``valid=False``). Choose the
    threshold on separate data, or use :func:`clopper_pearson_union_bound`.

    Args:
        member_scores: (M,) scores of members; higher = more likely a member.
        nonmember_scores: (N,) scores of non-members.
    """
    return _sweep(member_scores, nonmember_scores, alpha=alpha, delta=delta, union_bound=False)


def clopper_pearson_union_bound(member_scores: np.ndarray, nonmember_scores: np.ndarray, *,
                                alpha: float = 0.05, delta: float = 0.0) -> ClopperPearsonBound:
    """The best bound over the K distinct thresholds, each at alpha / K: valid at 1 − alpha.

    Args:
        member_scores: (M,) scores of members; higher = more likely a member.
        nonmember_scores: (N,) scores of non-members.
    """
    return _sweep(member_scores, nonmember_scores, alpha=alpha, delta=delta, union_bound=True)


def _sweep(member_scores: np.ndarray, nonmember_scores: np.ndarray, *, alpha: float,
           delta: float, union_bound: bool) -> ClopperPearsonBound:
    members = check_scores(member_scores, "member_scores")
    nonmembers = check_scores(nonmember_scores, "nonmember_scores")
    check_alpha(alpha)
    check_delta(delta)
    thresholds = np.union1d(members, nonmembers)  # (K,) ascending; guess member iff score >= t
    tp = members.size - np.searchsorted(np.sort(members), thresholds, side="left")  # (K,)
    fp = nonmembers.size - np.searchsorted(np.sort(nonmembers), thresholds, side="left")  # (K,)
    per_test = alpha / thresholds.size if union_bound else alpha
    eps, tpr_lo, fpr_hi, direction = _epsilons(tp, members.size, fp, nonmembers.size, per_test,
                                               delta)
    best = int(np.argmax(eps))
    return ClopperPearsonBound(
        epsilon_lower_bound=float(eps[best]), direction=str(direction[best]),
        true_positives=int(tp[best]), members=members.size, false_positives=int(fp[best]),
        nonmembers=nonmembers.size, tpr_lower=float(tpr_lo[best]),
        fpr_upper=float(fpr_hi[best]), alpha=alpha, per_test_alpha=per_test, delta=delta,
        threshold=float(thresholds[best]), thresholds_tried=int(thresholds.size),
        valid=union_bound or thresholds.size == 1)


def _cp_lower(k: np.ndarray, n: int, tail: float) -> np.ndarray:
    """One-sided lower Clopper–Pearson endpoint: P[Binom(n, p) >= k] = tail."""
    with np.errstate(invalid="ignore"):
        return np.where(k > 0, scipy.stats.beta.ppf(tail, k, n - k + 1), 0.0)


def _cp_upper(k: np.ndarray, n: int, tail: float) -> np.ndarray:
    """One-sided upper Clopper–Pearson endpoint: P[Binom(n, p) <= k] = tail."""
    with np.errstate(invalid="ignore"):
        return np.where(k < n, scipy.stats.beta.ppf(1 - tail, k + 1, n - k), 1.0)


def _epsilons(tp: np.ndarray, members: int, fp: np.ndarray, nonmembers: int, alpha: float,
              delta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(K,) ε_LB, TPR_lo, FPR_hi and winning direction per threshold."""
    tpr_lo = _cp_lower(tp, members, alpha / 2)  # (K,)
    fpr_hi = _cp_upper(fp, nonmembers, alpha / 2)  # (K,)
    with np.errstate(divide="ignore", invalid="ignore"):
        forward = np.where(tpr_lo > delta, np.log(tpr_lo - delta) - np.log(fpr_hi), -np.inf)
        tnr_lo, fnr_hi = 1 - fpr_hi, 1 - tpr_lo
        reverse = np.where(tnr_lo > delta, np.log(tnr_lo - delta) - np.log(fnr_hi), -np.inf)
    eps = np.maximum(np.maximum(forward, reverse), 0.0)
    direction = np.where(eps <= 0, "none", np.where(forward >= reverse, "tpr/fpr", "tnr/fnr"))
    assert np.all(np.isfinite(eps)), "CP endpoints are never exactly 0 (FPR_hi) or 1 (TPR_lo)"
    return eps, tpr_lo, fpr_hi, direction

