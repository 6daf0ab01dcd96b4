"""Membership scores -> a VALID empirical ε lower bound (Nasr et al. 2021, arXiv:2101.04535).

An (ε, δ)-DP training run bounds every membership test: TPR ≤ e^ε FPR + δ. Counting a test's
true and false positives and taking Clopper–Pearson intervals (:mod:`dpkit.audit.clopper_pearson`)
turns an attack's ROC into ε_LB that holds with probability ≥ 1 − alpha — provided the threshold
was not tuned on the counted scores. Two ways of making it valid are computed, each at alpha / 2
(a union bound over the two, so reporting the larger keeps confidence 1 − alpha):

* ``"split-half"``: members and non-members are each split in two by a fixed-seed permutation
  (drawn from the counts only); the threshold is the best one on the first halves (the middle of
  its gap), and TP/FP are counted on the second halves (Nasr et al.'s "threshold chosen on
  separate data").
* ``"union-bound"``: all scores counted at each of K ≤ 100 thresholds, each tested at
  alpha / 2 / K. The thresholds are quantiles of the pooled scores (members and non-members
  together, labels unseen) at levels log-spaced from 1/(M+N) to ½ and mirrored towards 1, so the
  low-FPR tails of both test directions are covered.

A lower bound can refute a DP claim (ε_LB > claimed ε means broken DP) but never confirm one.
Scores follow :mod:`dpkit.attacks.scores`: higher = more likely a member.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dpkit.audit import (clopper_pearson_best_threshold, clopper_pearson_epsilon,
                         clopper_pearson_union_bound)

__all__ = ["DEFAULT_DELTA", "ALPHA", "SPLIT_SEED", "QUANTILE_THRESHOLDS", "EpsilonLowerBound",
           "epsilon_lower_bound", "quantile_thresholds"]

DEFAULT_DELTA = 1e-5  # δ when the run's own δ is unknown
ALPHA = 0.05  # 95% confidence
SPLIT_SEED = 0
QUANTILE_THRESHOLDS = 100  # at most this many thresholds in the union bound

_METHOD_TEXT = {"split-half": "threshold chosen on a separate half",
                "union-bound": "union bound over {k} score-quantile thresholds"}


@dataclass(frozen=True)
class EpsilonLowerBound:
    """Empirical ε lower bound of one attack (``to_dict`` keys start ``epsilon_lower_bound``).

    Attributes:
        epsilon: the larger of the two valid bounds (≥ 0); holds with probability ≥
            ``confidence``.
        method: ``"split-half"`` or ``"union-bound"``, whichever gave ``epsilon``.
        confidence: 1 − alpha (both bounds were computed at alpha / 2).
        delta: the δ of the (ε, δ) inequality tested.
        split_half: the split-half bound; None with fewer than 2 members or non-members.
        union_bound: the union bound over ``union_thresholds`` quantile thresholds.
    """

    epsilon: float
    method: str
    confidence: float
    delta: float
    split_half: float | None
    union_bound: float
    union_thresholds: int

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {"epsilon_lower_bound": self.epsilon,
                "epsilon_lower_bound_method": self.method,
                "epsilon_lower_bound_confidence": self.confidence,
                "epsilon_lower_bound_delta": self.delta,
                "epsilon_lower_bound_split_half": self.split_half,
                "epsilon_lower_bound_union_bound": self.union_bound,
                "epsilon_lower_bound_union_thresholds": self.union_thresholds}

    def summary(self) -> str:
        how = _METHOD_TEXT[self.method].format(k=self.union_thresholds)
        return (f"empirical epsilon >= {self.epsilon:.2f} ({100 * self.confidence:g}% confidence, "
                f"delta {self.delta:g}; Clopper-Pearson, {how})")


def quantile_thresholds(pooled: np.ndarray, *, count: int = QUANTILE_THRESHOLDS) -> np.ndarray:
    """(≤ count,) ascending distinct thresholds: quantiles of the pooled (M+N,) scores at levels
    log-spaced from 1/(M+N) to ½ and mirrored to 1 − 1/(M+N) (no membership labels used)."""
    low = np.geomspace(1.0 / pooled.size, 0.5, count // 2)  # (count/2,)
    levels = np.unique(np.r_[low, 1.0 - low])  # (≤ count,)
    return np.unique(np.quantile(pooled, levels))


def epsilon_lower_bound(members: np.ndarray, nonmembers: np.ndarray, *,
                        delta: float = DEFAULT_DELTA, alpha: float = ALPHA,
                        seed: int = SPLIT_SEED) -> EpsilonLowerBound:
    """Valid ε_LB at confidence 1 − alpha: the better of split-half and union bound.

    Args:
        members: (M,) member scores; higher = more likely a member.
        nonmembers: (N,) non-member scores.
        delta: δ of the tested (ε, δ) inequality (the run's δ).
        alpha: 1 − confidence; each method runs at alpha / 2.
        seed: seed of the split-half permutation (drawn from M and N only).
    """
    members = np.asarray(members, dtype=np.float64)
    nonmembers = np.asarray(nonmembers, dtype=np.float64)
    can_split = members.size >= 2 and nonmembers.size >= 2  # decided from the counts alone
    per_method = alpha / 2 if can_split else alpha
    union, k = _union_bound(members, nonmembers, alpha=per_method, delta=delta)
    split = (_split_half(members, nonmembers, alpha=per_method, delta=delta, seed=seed)
             if can_split else None)
    if split is not None and split >= union:
        best, method = split, "split-half"
    else:
        best, method = union, "union-bound"
    return EpsilonLowerBound(epsilon=best, method=method, confidence=1 - alpha, delta=delta,
                             split_half=split, union_bound=union, union_thresholds=k)


def _split_half(members: np.ndarray, nonmembers: np.ndarray, *, alpha: float, delta: float,
                seed: int) -> float:
    """Threshold chosen on one half of each side, TP/FP counted on the other half."""
    rng = np.random.default_rng(seed)
    pm, pn = rng.permutation(members.size), rng.permutation(nonmembers.size)
    m_choose, m_count = members[pm[:members.size // 2]], members[pm[members.size // 2:]]
    n_choose, n_count = nonmembers[pn[:nonmembers.size // 2]], nonmembers[pn[nonmembers.size // 2:]]
    chosen = clopper_pearson_best_threshold(m_choose, n_choose, alpha=alpha, delta=delta)
    assert chosen.threshold is not None, "a threshold sweep always names its threshold"
    # Every t in (next lower choosing score, chosen] splits the choosing halves alike; the middle
    # of that gap, not its edge (a choosing score), is the rule to carry to the counting halves.
    seen = np.union1d(m_choose, n_choose)  # (K,) ascending
    below = seen[seen < chosen.threshold]
    t = (below[-1] + chosen.threshold) / 2 if below.size else chosen.threshold
    return clopper_pearson_epsilon(
        true_positives=int(np.sum(m_count >= t)), members=m_count.size,
        false_positives=int(np.sum(n_count >= t)), nonmembers=n_count.size,
        alpha=alpha, delta=delta).epsilon_lower_bound


def _union_bound(members: np.ndarray, nonmembers: np.ndarray, *, alpha: float, delta: float
                 ) -> tuple[float, int]:
    """Union bound over the quantile thresholds: (ε_LB, thresholds tested)."""
    edges = quantile_thresholds(np.concatenate([members, nonmembers]))  # (K,)
    # bin index j = #edges <= score, so "bin >= j" is "score >= edges[j - 1]": the clopper_pearson
    # sweep over the distinct bins is the sweep over the quantile thresholds.
    bound = clopper_pearson_union_bound(np.searchsorted(edges, members, side="right"),
                                        np.searchsorted(edges, nonmembers, side="right"),
                                        alpha=alpha, delta=delta)
    return bound.epsilon_lower_bound, bound.thresholds_tried
