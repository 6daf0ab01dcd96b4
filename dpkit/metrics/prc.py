"""Improved precision and recall (Kynkäänniemi et al., arXiv:1904.06991) via torch-fidelity.

Precision: fraction of generated samples inside the k-NN balls of the real samples; recall: fraction
of real samples inside the k-NN balls of the generated ones. torch-fidelity's
``prc_features_to_metric`` computes both (its input 1 is the generated set).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch_fidelity.metric_prc import (KEY_METRIC_F_SCORE, KEY_METRIC_PRECISION,
                                       KEY_METRIC_RECALL, prc_features_to_metric)

__all__ = ["PrecisionRecall", "precision_recall_from_features"]


@dataclass(frozen=True)
class PrecisionRecall:
    precision: float
    recall: float
    f_score: float
    neighborhood: int

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def precision_recall_from_features(generated: torch.Tensor, reference: torch.Tensor, *,
                                   neighborhood: int = 3) -> PrecisionRecall:
    """Precision and recall of generated (N, D) against reference (M, D) features."""
    if min(generated.shape[0], reference.shape[0]) <= neighborhood:
        raise ValueError(f"precision/recall with k={neighborhood} needs more than {neighborhood} "
                         f"samples in each set")
    out = prc_features_to_metric(generated.detach().cpu().float(), reference.detach().cpu().float(),
                                 prc_neighborhood=neighborhood, save_cpu_ram=True, verbose=False)
    return PrecisionRecall(float(out[KEY_METRIC_PRECISION]), float(out[KEY_METRIC_RECALL]),
                           float(out[KEY_METRIC_F_SCORE]), neighborhood)
