"""Checks of the auditing inputs, in one place: each names the value and the fix."""

from __future__ import annotations

import numpy as np

from dpkit.errors import require

__all__ = ["check_alpha", "check_delta", "check_scores", "check_membership"]


def check_alpha(alpha: float) -> None:
    require(0 < alpha < 1, f"alpha={alpha} must be in (0, 1): the bound holds with probability "
                           f"1 - alpha (0.05 for 95% confidence)")


def check_delta(delta: float, *, positive: bool = False) -> None:
    if positive:
        require(0 < delta < 1, f"delta={delta} must be in (0, 1): a Gaussian (f-DP) curve has "
                               f"delta(epsilon) > 0 for every finite epsilon")
    else:
        require(0 <= delta < 1, f"delta={delta} must be in [0, 1)")


def check_scores(scores: np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(scores, dtype=np.float64)
    require(arr.ndim == 1 and arr.size >= 1,
            f"{name} must be a non-empty 1-D array of scores, got shape {arr.shape}")
    require(bool(np.all(np.isfinite(arr))), f"{name} holds NaN or infinite scores; drop them")
    return arr


def check_membership(scores: np.ndarray, is_member: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(m,) float scores and (m,) bool membership of the same canaries."""
    arr = check_scores(scores, "scores")
    member = np.asarray(is_member)
    require(member.dtype == np.bool_ and member.shape == arr.shape,
            f"is_member must be a bool array of shape {arr.shape} (one flag per score), got "
            f"dtype {member.dtype}, shape {member.shape}")
    return arr, member
