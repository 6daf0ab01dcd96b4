"""Mutation tests: break each privacy property on purpose and check that its test notices.

Every row of the review's table (issue "Privacy correctness") was a deliberate break that the
whole suite used to pass. Each test here applies one such break with monkeypatching and asserts
that the matching check of tests/privacy_checks.py (run unbroken by test_privacy_properties.py)
now fails.
"""

from __future__ import annotations

import pytest
import torch
from opacus.optimizers import DPOptimizerFastGradientClipping

import dpkit.classifiers.training as training
import dpkit.engine.private as private
import privacy_checks as checks
from dpkit.classifiers.adversarial import AdversarialCoins
from dpkit.classifiers.norms import PublicNorm, public_statistics
from dpkit.engine import PrivateSetup, SeededSource, unwrap_model


def test_gan_step_without_noise_is_caught(monkeypatch):
    """Break: the D step applies the clipped mean without noise; ε is still charged."""

    def noiseless_step(self, extra_grads=None):
        opt = self.optimizer
        opt.clip_and_accumulate()
        for p in opt.params:
            p.grad = p.summed_grad.view_as(p) / opt.expected_batch_size
        opt.step_hook(opt)  # the accountant is still charged σ
        if extra_grads is not None:
            for p, g in zip([p for p in self.model.parameters() if p.requires_grad], extra_grads):
                p.grad.add_(g)
        opt.original_optimizer.step()
        opt.zero_grad(set_to_none=True)

    monkeypatch.setattr(PrivateSetup, "step", noiseless_step)
    with pytest.raises(AssertionError, match="noise std"):
        checks.check_gan_noise_scale("hooks", clip_fake=True)


def test_ghost_mode_without_noise_is_caught(monkeypatch):
    """Break: ghost clipping runs with σ = 0 while the accountant is charged σ."""
    real = private._add_noise

    def add_noise(optimizer, source, *args, **kwargs):
        if isinstance(optimizer, DPOptimizerFastGradientClipping):
            for p in optimizer.params:
                p.grad = p.summed_grad.view_as(p)
            return
        real(optimizer, source, *args, **kwargs)

    monkeypatch.setattr(private, "_add_noise", add_noise)
    checks.check_engine_noise_scale("hooks")  # the other modes are untouched
    with pytest.raises(AssertionError, match="noise std"):
        checks.check_engine_noise_scale("ghost")


def test_sampling_at_one_over_steps_is_caught(monkeypatch):
    """Break: the sampler uses q = 1/⌊N/B⌋ while the accountant is charged B/N."""

    class WrongRate(private.PoissonBatchSampler):
        def __init__(self, *, num_samples, sample_rate, steps, source, shard=(0, 1)):
            super().__init__(num_samples=num_samples, sample_rate=1 / steps, steps=steps,
                             source=source, shard=shard)

    monkeypatch.setattr(private, "PoissonBatchSampler", WrongRate)
    with pytest.raises(AssertionError, match="inclusion rate"):
        checks.check_poisson_inclusion_rate()


def test_secure_mode_not_reaching_the_noise_is_caught(monkeypatch, tmp_path):
    """Break: --secure-mode is on, but the noise comes from a seeded generator."""
    monkeypatch.setattr(private, "make_source",
                        lambda *, secure, seed, device="cpu": SeededSource(seed, device))
    with pytest.raises(AssertionError, match="CSPRNG"):
        checks.check_secure_noise_source(monkeypatch, tmp_path)


def test_public_bn_learning_from_private_batches_is_caught(monkeypatch):
    """Break: public BatchNorm updates its running statistics from private batches."""
    real = PublicNorm.forward

    def leaky(self, x):
        if self.training and not self.collecting:
            dims = [0] + list(range(2, x.dim()))
            with torch.no_grad():
                self.running_mean.lerp_(x.mean(dim=dims), self.momentum)
                self.running_var.lerp_(x.var(dim=dims, unbiased=False), self.momentum)
        return real(self, x)

    monkeypatch.setattr(PublicNorm, "forward", leaky)
    with pytest.raises(AssertionError, match="private batches"):
        checks.check_public_bn_statistics_ignore_private_batches()


def test_pgd_crafted_with_private_batch_statistics_is_caught(monkeypatch):
    """Break: PGD crafting runs with public-bn measuring the (private) batch it attacks."""
    real = training.pgd_attack

    def mixing(model, x, y, cfg, **kw):
        with public_statistics(unwrap_model(model)):
            return real(model, x, y, cfg, **kw)

    monkeypatch.setattr(training, "pgd_attack", mixing)
    with pytest.raises(AssertionError, match="depends on another"):
        checks.check_pgd_inputs_are_per_example()


def test_first_k_adversarial_examples_is_caught(monkeypatch):
    """Break: the first round(f·b) examples are attacked (dpkit 0.1's rule), not a coin each."""

    def first_k(self, x, y):
        k = int(round(self.fraction * x.shape[0]))
        return torch.arange(x.shape[0]) < k

    monkeypatch.setattr(AdversarialCoins, "draw", first_k)
    with pytest.raises(AssertionError, match="moved the clipped sum"):
        checks.check_adv_fraction_sensitivity(0.5)


@pytest.mark.parametrize("conditioning", ["labelmap", "projection"])
def test_gan_labels_mixed_across_examples_are_caught(monkeypatch, conditioning):
    """Break: the conditional discriminator pairs each image with its neighbour's label, so one
    record's label moves another example's clipped gradient."""
    from dpkit.gan import Discriminator

    forward = Discriminator.forward

    def mixed(self, x, y=None):
        return forward(self, x, None if y is None else y.roll(1))

    monkeypatch.setattr(Discriminator, "forward", mixed)
    with pytest.raises(AssertionError, match="one record moved the clipped sum"):
        checks.check_gan_record_sensitivity(conditioning, "hooks")
