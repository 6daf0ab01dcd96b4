"""The DP discriminator step: one accounted noisy step per draw, clipping of real examples only."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from dpkit.data import ImageTensorDataset
from dpkit.engine import PrivacyConfig, make_private
from dpkit.gan import Discriminator, Generator, discriminator_step, generator_step

N, B, Z = 64, 16, 8


@pytest.fixture
def tiny_data() -> ImageTensorDataset:
    gen = torch.Generator().manual_seed(1)
    images = torch.randint(0, 256, (N, 1, 28, 28), dtype=torch.uint8, generator=gen)
    return ImageTensorDataset(images, torch.zeros(N, dtype=torch.long))


def _setup(data, *, sigma: float, clip: float = 1.0, sgd: bool = False, copy_to: list | None = None):
    d = Discriminator(channels=1, image_size=28, width=8)
    if copy_to is not None:
        copy_to.append(copy.deepcopy(d))  # before Opacus registers its hooks
    opt = (torch.optim.SGD(d.parameters(), lr=1.0) if sgd
           else torch.optim.Adam(d.parameters(), lr=1e-3))
    cfg = PrivacyConfig(noise_multiplier=sigma, max_grad_norm=clip, accountant="rdp")
    return make_private(d, opt, data, cfg, batch_size=B, epochs=1, seed=0)


def _fake(n: int = B) -> torch.Tensor:
    with torch.no_grad():
        return Generator(latent_dim=Z, channels=1, image_size=28, width=8)(torch.randn(n, Z))


@pytest.mark.parametrize("clip_fake", [True, False])
def test_accountant_charged_once_per_discriminator_step(tiny_data, clip_fake):
    setup = _setup(tiny_data, sigma=1.0)
    g = Generator(latent_dim=Z, channels=1, image_size=28, width=8)
    g_opt = torch.optim.Adam(g.parameters())
    k = 0
    for real, _ in setup.loader:
        discriminator_step(setup, _fake(), real, clip_fake=clip_fake)
        generator_step(setup, g_opt, g(torch.randn(B, Z)))
        k += 1
    assert k == N // B
    history = setup.accountant.history
    assert sum(n for _, _, n in history) == k  # not 2k: fakes are never a separate DP step
    assert all(s == 1.0 and q == pytest.approx(B / N) for s, q, _ in history)
    assert setup.report().steps == k
    assert all(getattr(p, "grad_sample", None) is None for p in setup.model.parameters())


def _clipped_sum(model, images, label: float, clip: float) -> tuple[list, list]:
    """Naive loop: sum over examples of per-example gradients clipped to ``clip``, and norms."""
    params = list(model.parameters())
    total = [torch.zeros_like(p) for p in params]
    norms = []
    for i in range(images.shape[0]):
        out = model(images[i:i + 1])
        grads = torch.autograd.grad(
            F.binary_cross_entropy_with_logits(out, torch.full_like(out, label)), params)
        norm = float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
        norms.append(norm)
        for t, g in zip(total, grads):
            t += min(1.0, clip / (norm + 1e-6)) * g
    return total, norms


@pytest.mark.parametrize("clip_fake", [True, False])
def test_sigma_zero_update_is_mean_of_clipped_real_grads_plus_fake_grad(tiny_data, clip_fake):
    clip = 0.05  # small enough that every real example is clipped
    copies: list = []
    setup = _setup(tiny_data, sigma=0.0, clip=clip, sgd=True, copy_to=copies)
    ref = copies[0]
    before = [p.detach().clone() for p in setup.module.parameters()]
    real, _ = next(iter(setup.loader))
    fake = _fake()
    discriminator_step(setup, fake, real, clip_fake=clip_fake)
    update = [b - p.detach() for b, p in zip(before, setup.module.parameters())]  # lr = 1

    real_sum, norms = _clipped_sum(ref, real, 1.0, clip)
    if clip_fake:
        fake_sum, fake_norms = _clipped_sum(ref, fake, 0.0, clip)
        fake_term = [f / B for f in fake_sum]  # clipped too, divided by the expected B
        assert min(fake_norms) > clip
    else:
        out = ref(fake)
        fake_term = torch.autograd.grad(  # unclipped mean over the generated batch
            F.binary_cross_entropy_with_logits(out, torch.zeros_like(out)), list(ref.parameters()))
    assert min(norms) > clip
    for u, r, f in zip(update, real_sum, fake_term):
        torch.testing.assert_close(u, r / B + f, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("clip_fake", [True, False])
def test_real_example_influence_is_bounded(tiny_data, clip_fake):
    """With σ = 0 and SGD(lr=1), changing one real example moves the update by <= 2C/B."""
    clip = 0.05
    real, _ = next(iter(_setup(tiny_data, sigma=0.0, clip=clip, sgd=True).loader))
    fake = _fake()
    updates = []
    for scale in (1.0, -50.0):
        torch.manual_seed(0)
        setup = _setup(tiny_data, sigma=0.0, clip=clip, sgd=True)
        next(iter(setup.loader))  # draw (the engine allows one step per drawn batch)
        x = real.clone()
        x[0] = x[0] * scale
        before = torch.cat([p.detach().flatten().clone() for p in setup.module.parameters()])
        discriminator_step(setup, fake, x, clip_fake=clip_fake)
        after = torch.cat([p.detach().flatten() for p in setup.module.parameters()])
        updates.append(before - after)
    assert float((updates[0] - updates[1]).norm()) <= 2 * clip / B + 1e-6


@pytest.mark.parametrize("clip_fake", [True, False])
def test_empty_poisson_batch_still_takes_a_noisy_accounted_step(tiny_data, clip_fake):
    setup = _setup(tiny_data, sigma=1.0)
    before = [p.detach().clone() for p in setup.module.parameters()]
    next(iter(setup.loader))  # the batch counter allows one step
    stats = discriminator_step(setup, _fake(), torch.zeros(0, 1, 28, 28), clip_fake=clip_fake)
    assert stats.real_size == 0
    assert setup.report().steps == 1
    assert any(not torch.equal(b, p) for b, p in zip(before, setup.module.parameters()))


def test_non_private_step_trains_both_terms(tiny_data):
    d = Discriminator(channels=1, image_size=28, width=8)
    setup = make_private(d, torch.optim.Adam(d.parameters(), lr=1e-3), tiny_data,
                         PrivacyConfig(enabled=False), batch_size=B, epochs=1)
    real, _ = next(iter(setup.loader))
    stats = discriminator_step(setup, _fake(), real)
    assert stats.real_size == B and setup.accountant is None


def test_generator_step_leaves_the_discriminator_untouched(tiny_data):
    setup = _setup(tiny_data, sigma=1.0)
    g = Generator(latent_dim=Z, channels=1, image_size=28, width=8)
    g_opt = torch.optim.Adam(g.parameters(), lr=1e-2)
    d_before = [p.detach().clone() for p in setup.module.parameters()]
    g_before = [p.detach().clone() for p in g.parameters()]
    generator_step(setup, g_opt, g(torch.randn(B, Z)))
    assert all(torch.equal(a, p) for a, p in zip(d_before, setup.module.parameters()))
    assert all(p.grad is None and getattr(p, "grad_sample", None) is None
               for p in setup.module.parameters())
    assert any(not torch.equal(a, p) for a, p in zip(g_before, g.parameters()))
    assert setup.report().steps == 0 and setup.model.hooks_enabled
