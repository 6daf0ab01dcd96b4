"""Authenticity (Alaa, van Breugel, Saveliev, van der Schaar, ICML 2022, arXiv:2102.08921).

The paper's definition (Sec. 3.3): a generated sample g whose nearest training sample is t is
*unauthentic* when d(g, t) < d(t, t'), t' being t's nearest *other* training sample, i.e. g lies
inside t's nearest-neighbour ball; authenticity is the share of authentic generated samples
(authentic iff d(g, t) > d(t, t'); a tie counts as unauthentic, as ``<`` does in synthcity).
Distances are Euclidean on the features (synthcity and the authors' code use scikit-learn's
``NearestNeighbors(p=2)``). Note: synthcity's ``AlphaPrecision`` (and the authors' code it ports)
loops the other way round, over *real* samples and their nearest synthetic sample, and indexes the
real-to-real radii with synthetic indices; dpkit follows the per-generated-sample definition of
the paper. About 1 for a generator that does not copy, about 0 for one that returns its training
images.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from dpkit.metrics.neighbours import nearest

__all__ = ["AuthenticityResult", "authenticity"]


@dataclass(frozen=True)
class AuthenticityResult:
    """``authenticity``: the authentic share; ``authentic`` (N,) bool per generated sample."""

    authenticity: float
    authentic: torch.Tensor


def authenticity(generated: torch.Tensor, training: torch.Tensor, *,
                 max_entries: int = 2 ** 24) -> AuthenticityResult:
    """Authentic share of generated features (N, D) against training features (M >= 2, D)."""
    g_dist, g_idx = nearest(generated, training, max_entries=max_entries)  # (N,), (N,)
    t_radius, _ = nearest(training, training, exclude_self=True, max_entries=max_entries)  # (M,)
    authentic = g_dist > t_radius[g_idx]  # outside its nearest training sample's NN ball
    return AuthenticityResult(float(authentic.double().mean()), authentic)
