"""Fréchet distance between Gaussian fits of two feature sets (FID, arXiv:1706.08500).

``features -> statistics -> distance``; the statistics and the distance are torch-fidelity's
(``fid_features_to_statistics``, ``fid_statistics_to_metric``). When the distance is not finite
(a singular covariance product), it is recomputed with ``eps`` added to both covariance diagonals,
as the TTUR and Kaggle MiFID scorers do.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch_fidelity.metric_fid import (KEY_METRIC_FID, fid_features_to_statistics,
                                       fid_statistics_to_metric)

__all__ = ["FeatureStatistics", "features_to_statistics", "frechet_distance", "fid_from_features"]


@dataclass(frozen=True)
class FeatureStatistics:
    """Mean (D,) and covariance (D, D) of N feature vectors (float64 numpy arrays)."""

    mu: np.ndarray
    sigma: np.ndarray
    count: int

    def to_torch_fidelity(self) -> dict[str, np.ndarray]:
        return {"mu": self.mu, "sigma": self.sigma}


def features_to_statistics(features: torch.Tensor) -> FeatureStatistics:
    """Gaussian fit of features (N, D), N >= 2 (unbiased covariance, as torch-fidelity)."""
    if features.dim() != 2 or features.shape[0] < 2:
        raise ValueError(f"need features of shape (N >= 2, D), got {tuple(features.shape)}")
    stats = fid_features_to_statistics(features.detach().cpu().double())
    return FeatureStatistics(np.atleast_1d(stats["mu"]), np.atleast_2d(stats["sigma"]),
                             int(features.shape[0]))


def frechet_distance(a: FeatureStatistics, b: FeatureStatistics, *, eps: float = 1e-6) -> float:
    """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}), retried with eps*I if not finite.

    Clamped at 0: the distance is non-negative, and for near-identical sets the matrix square
    root's rounding error makes the raw value slightly negative (which would make MiFID of a
    copier negative instead of huge)."""
    value = fid_statistics_to_metric(a.to_torch_fidelity(), b.to_torch_fidelity(),
                                     verbose=False)[KEY_METRIC_FID]
    if not math.isfinite(value):
        offset = eps * np.eye(a.sigma.shape[0])
        value = fid_statistics_to_metric({"mu": a.mu, "sigma": a.sigma + offset},
                                         {"mu": b.mu, "sigma": b.sigma + offset},
                                         verbose=False)[KEY_METRIC_FID]
    return max(0.0, float(value))


def fid_from_features(generated: torch.Tensor, reference: torch.Tensor) -> float:
    """FID between generated (N, D) and reference (M, D) features."""
    return frechet_distance(features_to_statistics(generated), features_to_statistics(reference))
