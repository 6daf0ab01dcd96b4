"""Per-sample memorization: each generated sample's nearest training and held-out real sample.

On the same features and the same distance as MiFID (:mod:`dpkit.metrics.mifid`,
d = 1 - |cos(g, t)|), for every generated sample g: the index of its nearest training sample and
that distance, and the same against held-out real samples (data the generator never saw). A
generated sample much closer to a training image than to any held-out image is a candidate copy;
training images that are the nearest neighbour of many generated samples are the most copied.
Unlike :func:`~dpkit.metrics.mifid.memorization_distance`, no row is dropped (every generated
sample gets a row): an all-zero feature vector has distance 1 to everything.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dpkit.metrics.neighbours import nearest

__all__ = ["NearestNeighbours", "nearest_neighbours", "most_copied"]


@dataclass(frozen=True)
class NearestNeighbours:
    """Per generated sample i: ``train_index[i]``, ``train_distance[i]`` (its nearest training
    sample) and ``heldout_index[i]``, ``heldout_distance[i]`` (None without held-out features).

    ``most_copied``: (training index, how many generated samples have it as nearest neighbour),
    the most frequent first (ties: lower index first).
    """

    train_index: torch.Tensor  # (N,) int64
    train_distance: torch.Tensor  # (N,) float64
    heldout_index: torch.Tensor | None  # (N,) int64
    heldout_distance: torch.Tensor | None  # (N,) float64
    most_copied: tuple[tuple[int, int], ...]

    def closest(self, k: int) -> torch.Tensor:
        """Indices of the k generated samples closest to their training neighbour, closest first."""
        order = torch.argsort(self.train_distance, stable=True)
        return order[:k]


def most_copied(train_index: torch.Tensor, *, top: int = 10) -> tuple[tuple[int, int], ...]:
    """The ``top`` training indices named most often in ``train_index`` (N,), with their counts."""
    counts = torch.bincount(train_index)  # (M',) per training index
    order = sorted(((-int(c), i) for i, c in enumerate(counts.tolist()) if c > 0))[:top]
    return tuple((i, -c) for c, i in order)


def nearest_neighbours(generated: torch.Tensor, training: torch.Tensor,
                       heldout: torch.Tensor | None = None, *, top: int = 10,
                       max_entries: int = 2 ** 24) -> NearestNeighbours:
    """Each generated sample's nearest training (and held-out) sample, MiFID's cosine distance.

    Args:
        generated: features of generated samples (N, D).
        training: features of the generator's training set (M, D).
        heldout: features of real samples the generator did not see (K, D), or None.
        top: how many most-copied training indices to keep.
        max_entries: bound on one distance-matrix block in memory (float64 entries).
    """
    t_dist, t_idx = nearest(generated, training, distance="cosine", max_entries=max_entries)
    h_dist = h_idx = None
    if heldout is not None:
        h_dist, h_idx = nearest(generated, heldout, distance="cosine", max_entries=max_entries)
    return NearestNeighbours(t_idx, t_dist, h_idx, h_dist, most_copied(t_idx, top=top))
