"""Kernel Inception Distance (Bińkowski et al., arXiv:1801.01401) via torch-fidelity.

Unbiased MMD² with the cubic polynomial kernel, averaged over random subsets; torch-fidelity's
``kid_features_to_metric`` does the work, dpkit picks a subset size that fits small sample sets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

__all__ = ["KIDResult", "kid_from_features"]


@dataclass(frozen=True)
class KIDResult:
    mean: float
    std: float
    subsets: int
    subset_size: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def kid_from_features(generated: torch.Tensor, reference: torch.Tensor, *, subsets: int = 100,
                      subset_size: int = 1000, seed: int = 2020) -> KIDResult:
    """KID between generated (N, D) and reference (M, D) features.

    ``subset_size`` is capped at min(N, M) so small evaluations still run.
    """
    size = min(subset_size, generated.shape[0], reference.shape[0])
    if size < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    out = kid_features_to_metric(generated.detach().cpu().float(), reference.detach().cpu().float(),
                                 kid_subsets=subsets, kid_subset_size=size, rng_seed=seed,
                                 verbose=False)
    return KIDResult(float(out[KEY_METRIC_KID_MEAN]), float(out[KEY_METRIC_KID_STD]), subsets, size)
