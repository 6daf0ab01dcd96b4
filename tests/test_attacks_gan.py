"""GAN membership attacks on toy generators/discriminators whose leakage is known by design."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dpkit.attacks.gan_membership import (LatentSearchConfig, closest_distances,
                                          discriminator_attack, gan_leaks_attack,
                                          gan_leaks_latent_attack)
from dpkit.attacks.membership import membership_split
from dpkit.attacks.scores import attack_metrics
from dpkit.data import DataOptions, load_dataset


@pytest.fixture(scope="module")
def split():
    return membership_split(load_dataset("digits", DataOptions(subset=40)))


class _Memorizer(nn.Module):
    """G(z) = a training image chosen by z, plus a little noise: a GAN that copies its data."""

    def __init__(self, images: torch.Tensor, noise: float) -> None:
        super().__init__()
        self.register_buffer("images", images)
        self.noise = noise

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        idx = (z[:, 0].abs() * 1000).long() % self.images.shape[0]
        return (self.images[idx] + self.noise * z[:, 1:65].view(-1, 1, 8, 8)).clamp(-1, 1)


class _Span(nn.Module):
    """G(z) = Σ_j z_j m_j: linear span of the members; exactly reaches each member."""

    def __init__(self, images: torch.Tensor) -> None:
        super().__init__()
        self.basis = nn.Parameter(images.flatten(1).t().clone())  # (64, n)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (z @ self.basis.t()).view(-1, 1, 8, 8)


def test_closest_distances_matches_a_loop():
    g = torch.Generator().manual_seed(0)
    q, s = torch.randn(5, 1, 4, 4, generator=g), torch.randn(30, 1, 4, 4, generator=g)
    d, i = closest_distances(q, s, chunk=2)
    for k in range(5):
        ref = ((q[k] - s) ** 2).flatten(1).mean(1).sqrt()
        assert i[k] == ref.argmin() and torch.isclose(d[k], ref.min(), atol=1e-5)


def test_gan_leaks_detects_a_copying_generator_and_not_an_independent_one(split):
    members, nonmembers = split
    copier = _Memorizer(members.tensors()[0], noise=0.05)
    leak = attack_metrics(gan_leaks_attack(copier, members, nonmembers, latent_dim=65,
                                           num_samples=2000))
    assert leak.auc > 0.95
    outsider = load_dataset("digits").test.tensors()[0][:200]
    blind = attack_metrics(gan_leaks_attack(_Memorizer(outsider, 0.05), members, nonmembers,
                                            latent_dim=65, num_samples=2000))
    assert abs(blind.auc - 0.5) < 0.2


def test_latent_search_reaches_members_exactly(split):
    members, nonmembers = split
    gen = _Span(members.tensors()[0])
    scores = gan_leaks_latent_attack(gen, members, nonmembers, latent_dim=len(members),
                                     cfg=LatentSearchConfig(num_samples=50, steps=300, lr=0.05))
    m = attack_metrics(scores)
    assert m.auc > 0.8 and m.tpr_at_fpr_0_01 > 0.5
    assert scores.members.max() > -0.1  # some members reconstructed almost exactly
    assert all(p.requires_grad for p in gen.parameters())


def test_discriminator_attack_uses_higher_logit_as_member(split):
    members, nonmembers = split
    mem = members.tensors()[0]

    class NearestMember(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:  # "real" logit = −distance
            return -closest_distances(x, mem)[0]

    m = attack_metrics(discriminator_attack(NearestMember(), members, nonmembers))
    assert m.auc == 1.0 and m.method == "discriminator"
