"""Membership scores -> numbers: the one place every attack's scores become AUC and TPR@FPR.

Every attack in :mod:`dpkit.attacks` returns member and non-member scores with one direction:
**higher = more likely a member**. This module turns them into the ROC curve, AUC, balanced
accuracy, TPR at fixed low false-positive rates (Carlini et al. 2022, arXiv:2112.03570, argue
that low-FPR TPR on log axes is the number that matters) and the empirical ε lower bound the ROC
proves (:mod:`.epsilon`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from dpkit.attacks.epsilon import DEFAULT_DELTA, EpsilonLowerBound, epsilon_lower_bound
from dpkit.errors import DPKitError

__all__ = ["AttackMetrics", "MembershipScores", "RocCurve", "attack_metrics", "auc",
           "roc_curve", "tpr_at_fpr"]

LOW_FPRS: tuple[float, ...] = (0.001, 0.01)


@dataclass(frozen=True)
class MembershipScores:
    """Scores of one attack; higher = more likely a member.

    Attributes:
        method: attack name (e.g. ``"loss"``, ``"lira-online"``).
        members: (M,) scores of the examples the model was trained on.
        nonmembers: (N,) scores of examples it never saw.
    """

    method: str
    members: np.ndarray
    nonmembers: np.ndarray

    def __post_init__(self) -> None:
        for name in ("members", "nonmembers"):
            arr = _as_array(getattr(self, name), name)
            object.__setattr__(self, name, arr)


@dataclass(frozen=True)
class RocCurve:
    """ROC curve points, thresholds descending: (K,) ``fpr``, ``tpr`` from (0, 0) to (1, 1)."""

    fpr: np.ndarray
    tpr: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        return {"fpr": self.fpr.tolist(), "tpr": self.tpr.tolist()}


@dataclass(frozen=True)
class AttackMetrics:
    """What a membership attack achieves (``to_dict`` is the ``--json`` output).

    ``epsilon`` is the valid empirical ε lower bound of the attack's ROC (:mod:`.epsilon`).
    """

    method: str
    auc: float
    balanced_accuracy: float
    tpr_at_fpr_0_001: float
    tpr_at_fpr_0_01: float
    num_members: int
    num_nonmembers: int
    epsilon: EpsilonLowerBound

    def to_dict(self) -> dict[str, float | int | str | None]:
        return {"method": self.method, "auc": self.auc,
                "balanced_accuracy": self.balanced_accuracy,
                "tpr_at_fpr_0.001": self.tpr_at_fpr_0_001,
                "tpr_at_fpr_0.01": self.tpr_at_fpr_0_01,
                "num_members": self.num_members, "num_nonmembers": self.num_nonmembers,
                **self.epsilon.to_dict()}

    def summary(self) -> str:
        text = (f"{self.method}: AUC {self.auc:.4f}, balanced accuracy "
                f"{self.balanced_accuracy:.4f}, TPR {100 * self.tpr_at_fpr_0_001:.2f}% at 0.1% "
                f"FPR, {100 * self.tpr_at_fpr_0_01:.2f}% at 1% FPR "
                f"({self.num_members} members, {self.num_nonmembers} non-members)")
        if self.num_nonmembers < 1000:  # 0.1% FPR is below the resolution 1/num_nonmembers
            text += "; TPR at 0.1% FPR is at zero false positives here (needs >= 1000 non-members)"
        return f"{text}\n{self.epsilon.summary()}"


def _as_array(x: np.ndarray | torch.Tensor | list[float], name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise DPKitError(f"no {name} scores: an attack needs at least one member and one "
                         f"non-member")
    if not np.all(np.isfinite(arr)):
        raise DPKitError(f"{name} scores contain NaN or infinity; the attack diverged")
    return arr


def roc_curve(scores: MembershipScores) -> RocCurve:
    """ROC of the rule "member iff score >= t" over every threshold t (ties move together).

    Returns:
        RocCurve with one point per distinct score plus (0, 0).
    """
    s = np.concatenate([scores.members, scores.nonmembers])  # (M+N,)
    is_member = np.concatenate([np.ones(scores.members.size), np.zeros(scores.nonmembers.size)])
    order = np.argsort(-s, kind="mergesort")
    s, is_member = s[order], is_member[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]
    tp = np.cumsum(is_member)[last_of_tie]
    fp = np.cumsum(1 - is_member)[last_of_tie]
    tpr = np.r_[0.0, tp / scores.members.size]
    fpr = np.r_[0.0, fp / scores.nonmembers.size]
    return RocCurve(fpr=fpr, tpr=tpr)


def auc(curve: RocCurve) -> float:
    """Area under the ROC curve (trapezoids; ties count one half)."""
    return float(np.sum(np.diff(curve.fpr) * (curve.tpr[1:] + curve.tpr[:-1]) / 2))


def tpr_at_fpr(curve: RocCurve, max_fpr: float) -> float:
    """Largest TPR over thresholds whose FPR is at most ``max_fpr`` (no interpolation)."""
    ok = curve.fpr <= max_fpr + 1e-12
    return float(curve.tpr[ok].max())


def attack_metrics(scores: MembershipScores, *, delta: float = DEFAULT_DELTA) -> AttackMetrics:
    """AUC, best balanced accuracy over thresholds, TPR at 0.1% and 1% FPR, and the valid
    empirical ε lower bound at ``delta`` (the target run's δ) with 95% confidence."""
    curve = roc_curve(scores)
    return AttackMetrics(
        method=scores.method, auc=auc(curve),
        balanced_accuracy=float(np.max(0.5 * (1.0 + curve.tpr - curve.fpr))),
        tpr_at_fpr_0_001=tpr_at_fpr(curve, LOW_FPRS[0]),
        tpr_at_fpr_0_01=tpr_at_fpr(curve, LOW_FPRS[1]),
        num_members=int(scores.members.size), num_nonmembers=int(scores.nonmembers.size),
        epsilon=epsilon_lower_bound(scores.members, scores.nonmembers, delta=delta))
