"""Memorization-informed FID (Bai et al., KDD 2021, arXiv:2106.03062).

As the Kaggle "Generative Dog Images" scorer defines it: on the same features as FID, drop all-zero
rows, L2-normalise, d_ij = 1 - |cos(g_i, t_j)|, and d = mean over GENERATED i of min over TRAINING
j of d_ij (torchmetrics' MemorizationInformedFrechetInceptionDistance takes the minimum the other
way round). d_thr = d if d < eps else 1; MiFID = FID / (d_thr + 1e-15). A generator that copies its
training images gets d near 0 and a MiFID far above its FID.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch

from dpkit.metrics.fid import FeatureStatistics, features_to_statistics, frechet_distance

__all__ = ["MiFIDResult", "memorization_distance", "threshold_distance", "mifid",
           "mifid_from_features"]


@dataclass(frozen=True)
class MiFIDResult:
    fid: float
    memorization_distance: float
    memorization_distance_thresholded: float
    mifid: float
    threshold: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _normalized_nonzero(features: torch.Tensor) -> torch.Tensor:
    x = features.detach().double()
    x = x[(x != 0).any(dim=1)]  # drop all-zero rows
    if x.shape[0] == 0:
        raise ValueError("all feature vectors are zero; the memorization distance is undefined")
    return x / x.norm(dim=1, keepdim=True)


def memorization_distance(generated: torch.Tensor, training: torch.Tensor, *,
                          max_entries: int = 2 ** 24) -> float:
    """Mean over generated i of min over training j of 1 - |cos(g_i, t_j)|.

    Args:
        generated: features of generated samples (N, D).
        training: features of the generator's training set (M, D).
        max_entries: bound on the distance-matrix block in memory (float64 entries).
    """
    g, t = _normalized_nonzero(generated), _normalized_nonzero(training)  # (N', D), (M', D)
    chunk = max(1, max_entries // t.shape[0])
    mins = []
    for start in range(0, g.shape[0], chunk):
        d = (1.0 - (g[start:start + chunk] @ t.T).abs()).clamp_(min=0.0)  # (n, M'); no -1e-17
        mins.append(d.min(dim=1).values)  # nearest training example per generated sample
    return float(torch.cat(mins).mean())


def threshold_distance(d: float, eps: float) -> float:
    """d if d < eps else 1: only distances below eps count as memorization."""
    return d if d < eps else 1.0


def mifid(fid: float, d: float, *, eps: float = 0.1) -> MiFIDResult:
    """Combine an FID and a memorization distance into MiFID = FID / (d_thr + 1e-15)."""
    if not 0 < eps <= 1:
        raise ValueError(f"mifid threshold eps={eps} must be in (0, 1]")
    d_thr = threshold_distance(d, eps)
    return MiFIDResult(fid, d, d_thr, fid / (d_thr + 1e-15), eps)


def mifid_from_features(generated: torch.Tensor, training: torch.Tensor, *, eps: float = 0.1,
                        reference: FeatureStatistics | None = None) -> MiFIDResult:
    """MiFID of generated features (N, D) against training features (M, D).

    The FID term uses ``reference`` statistics when given (e.g. a test split), else the
    training features' statistics, as the Kaggle scorer does.
    """
    ref = reference if reference is not None else features_to_statistics(training)
    fid = frechet_distance(features_to_statistics(generated), ref)
    return mifid(fid, memorization_distance(generated, training), eps=eps)
