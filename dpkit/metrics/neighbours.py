"""Nearest neighbours in feature space, chunked: the one routine behind the memorization measures.

MiFID's per-sample output uses the cosine distance 1 - |cos(a, b)| (as the Kaggle scorer does);
the data-copying test and authenticity use the Euclidean distance, as their reference code does
(scikit-learn's ``NearestNeighbors``, p=2). Blocks of the distance matrix are bounded by
``max_entries`` float64 entries, so 10k generated x 60k training features never need 6e8 floats.
"""

from __future__ import annotations

import torch

__all__ = ["DISTANCES", "nearest"]

DISTANCES = ("l2", "cosine")


def _unit(x: torch.Tensor) -> torch.Tensor:
    """Rows L2-normalised; an all-zero row stays zero (cosine 0, distance 1 to everything)."""
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-300)


def nearest(queries: torch.Tensor, points: torch.Tensor, *, distance: str = "l2",
            exclude_self: bool = False,
            max_entries: int = 2 ** 24) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query row, the distance to its nearest point row and that point's index.

    Args:
        queries: (N, D) features.
        points: (M, D) features.
        distance: ``"l2"`` (Euclidean) or ``"cosine"`` (1 - |cos|, MiFID's distance).
        exclude_self: ``queries`` *is* ``points``; row i may not be its own neighbour
            (the nearest *other* point; needs M >= 2).
        max_entries: bound on one block of the distance matrix (float64 entries).

    Returns:
        distances (N,) float64 and indices (N,) int64 into ``points``.
    """
    if distance not in DISTANCES:
        raise ValueError(f"distance={distance!r} must be one of {DISTANCES}")
    if queries.ndim != 2 or points.ndim != 2 or queries.shape[1] != points.shape[1]:
        raise ValueError(f"features must be (N, D) and (M, D); got {tuple(queries.shape)} and "
                         f"{tuple(points.shape)}")
    if points.shape[0] < (2 if exclude_self else 1):
        raise ValueError(f"need at least {2 if exclude_self else 1} points, got {points.shape[0]}")
    if exclude_self and queries.shape[0] != points.shape[0]:
        raise ValueError("exclude_self needs queries and points to be the same set")
    q, p = queries.detach().double(), points.detach().double()  # (N, D), (M, D)
    if distance == "cosine":
        q, p = _unit(q), _unit(p)
    p_sq = (p * p).sum(dim=1)  # (M,)
    chunk = max(1, max_entries // p.shape[0])
    dists, idx = [], []
    for start in range(0, q.shape[0], chunk):
        block = q[start:start + chunk]  # (n, D)
        dot = block @ p.T  # (n, M)
        if distance == "cosine":
            d = (1.0 - dot.abs()).clamp_(min=0.0)
        else:
            d = ((block * block).sum(dim=1, keepdim=True) + p_sq - 2.0 * dot).clamp_(min=0.0)
        if exclude_self:
            rows = torch.arange(block.shape[0])
            d[rows, rows + start] = float("inf")
        best = d.min(dim=1)  # nearest point per query
        dists.append(best.values if distance == "cosine" else best.values.sqrt())
        idx.append(best.indices)
    return torch.cat(dists), torch.cat(idx)
