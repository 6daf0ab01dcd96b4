"""The data-copying test C_T (Meehan, Chaudhuri, Dasgupta, AISTATS 2020, arXiv:2004.05675).

As the authors' reference code (github.com/casey-meehan/data-copying, ``data_copying_tests.py``)
computes it: partition feature space into k cells by k-means on the *training* features; give
every training (T), held-out real (P_n) and generated (Q_m) sample the cell of its nearest
centroid. In each cell, L(x) is the Euclidean distance from x to its nearest training sample *of
that cell*; the Mann-Whitney U statistic of L(Q_m) against L(P_n) (U counts the pairs in which
the generated distance is the larger) is Z-scored under the null with a continuity correction,
Z_U = (U - (m n / 2 - 0.5)) / sqrt(m n (m + n + 1) / 12) (no tie correction). C_T is the average
of Z_U over the cells holding *more than* ``tau * m`` generated samples (the reference uses
tau = 20 / m: more than 20), weighted by the held-out samples' share of each cell.

C_T << 0: generated samples sit closer to the training data than fresh real data does (copying);
C_T ~ 0: no evidence of copying; C_T >> 0: underfitting. A cell without held-out samples makes the
test undefined (fewer cells fix it), as in the reference.
"""

from __future__ import annotations

import math

from dataclasses import dataclass

import numpy as np
import torch
from scipy.cluster.vq import kmeans2
from scipy.stats import mannwhitneyu

from dpkit.metrics.neighbours import nearest

__all__ = ["DataCopyingResult", "kmeans_cells", "z_u", "data_copying_test"]


@dataclass(frozen=True)
class DataCopyingResult:
    """C_T and its parts. ``ct`` is NaN when no cell holds enough generated samples.

    Attributes:
        ct: the statistic (<< 0: copying).
        cell_z: Z_U per cell (NaN for cells left out).
        cell_weights: held-out share per cell, P_n(pi).
        cell_generated: generated samples per cell.
        cells_used: cells with more than ``min_generated`` generated samples.
        min_generated: the threshold tau * m.
    """

    ct: float
    cell_z: tuple[float, ...]
    cell_weights: tuple[float, ...]
    cell_generated: tuple[int, ...]
    cells_used: int
    min_generated: float


def kmeans_cells(training: torch.Tensor, cells: int, *,
                 seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Seeded k-means (k-means++ start, SciPy's ``kmeans2``) of training features (M, D).

    Returns:
        centroids (k', D) float64 (clusters left empty are dropped, so k' <= ``cells``) and the
        training samples' cells (M,) int64, each in [0, k').
    """
    if not 1 <= cells <= training.shape[0]:
        raise ValueError(f"cells={cells} must be in [1, {training.shape[0]}] (training samples)")
    x = training.detach().double().cpu().numpy()
    centroids, _ = kmeans2(x, cells, iter=20, minit="++", seed=np.random.default_rng(seed))
    c = torch.from_numpy(np.ascontiguousarray(centroids))  # (k, D)
    _, labels = nearest(training, c)
    used = torch.unique(labels)  # drop empty clusters, relabel 0..k'-1
    c = c[used]
    _, labels = nearest(training, c)
    return c, labels


def z_u(generated_dist: np.ndarray, heldout_dist: np.ndarray) -> float:
    """Z-scored Mann-Whitney U of L(Q_m) (m,) against L(P_n) (n,), as the reference computes it."""
    m, n = len(generated_dist), len(heldout_dist)
    u = mannwhitneyu(generated_dist, heldout_dist, alternative="less",
                     method="asymptotic").statistic  # U of the generated sample
    return float((u - (m * n / 2 - 0.5)) / math.sqrt(m * n * (m + n + 1) / 12))


def data_copying_test(generated: torch.Tensor, training: torch.Tensor, heldout: torch.Tensor, *,
                      cells: int = 5, tau: float | None = None, seed: int = 0,
                      max_entries: int = 2 ** 24) -> DataCopyingResult:
    """C_T of generated features (m, D) against training (l, D) and held-out real (n, D) features.

    Args:
        cells: k of the k-means partition of the training features.
        tau: a cell counts when it holds more than ``tau * m`` generated samples
            (None: 20 / m, the reference experiments' choice).
        seed: seed of k-means.
        max_entries: bound on one distance-matrix block (float64 entries).

    Raises:
        ValueError: a cell holds no held-out sample (use fewer cells).
    """
    m = generated.shape[0]
    tau = 20 / m if tau is None else tau
    centroids, t_cells = kmeans_cells(training, cells, seed=seed)
    _, g_cells = nearest(generated, centroids)
    _, h_cells = nearest(heldout, centroids)
    k = centroids.shape[0]
    g_counts = torch.bincount(g_cells, minlength=k)  # (k,)
    h_share = torch.bincount(h_cells, minlength=k).double() / heldout.shape[0]  # P_n(pi), (k,)
    if (h_share == 0).any():
        empty = torch.nonzero(h_share == 0).flatten().tolist()
        raise ValueError(f"data-copying test: cell(s) {empty} of {k} hold no held-out sample; "
                         f"use fewer cells (cells={cells})")
    z = [math.nan] * k
    for i in range(k):
        if g_counts[i] == 0:
            continue
        cell_train = training[t_cells == i]
        g_dist, _ = nearest(generated[g_cells == i], cell_train, max_entries=max_entries)
        h_dist, _ = nearest(heldout[h_cells == i], cell_train, max_entries=max_entries)
        z[i] = z_u(g_dist.numpy(), h_dist.numpy())
    used = [i for i in range(k) if g_counts[i] / m > tau]  # Pi_tau
    if used:
        w = h_share[used]
        ct = float((w * torch.tensor([z[i] for i in used], dtype=torch.float64)).sum() / w.sum())
    else:
        ct = math.nan
    return DataCopyingResult(ct, tuple(z), tuple(h_share.tolist()),
                             tuple(int(c) for c in g_counts), len(used), tau * m)
