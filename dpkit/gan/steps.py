"""One discriminator step and one generator step of DP-GAN training.

The discriminator's loss is ``L = BCE(D(real), 1) + BCE(D(fake), 0)``. Only the first term depends
on private data, so only its per-example gradients need clipping (norm C) and noise (σC); the
second term (on generated images, which are post-processing of earlier private steps) is added
without noise, clipped per example by default only to keep the two terms on the same scale.
Each discriminator step draws exactly one Poisson batch and
charges the accountant exactly once, at q = B/N — unlike running two DP steps, one on real and one
on fake data, which double-charges privacy (Opacus issue #418). The noisy sum is divided by the
expected batch size B, so one real example moves the update by at most C/B and the Gaussian
mechanism's sensitivity is C, as in DP-SGD (Abadi et al. 2016, arXiv:1607.00133).

A class-conditional discriminator takes (x, y): a real record's label goes through the same
per-example forward and backward as its image, so the clipped per-example gradient covers the
whole record. Generated images carry labels drawn from the public prior.

Across processes each process passes its shard of the real batch and its share of the B generated
images (``fake_total`` = B): the discriminator's clipped sums and the generator's gradients are
summed over the processes, each weighted by 1/B, so the update is the single-process one.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from dpkit.engine import PrivateSetup, all_reduce_sum

__all__ = ["DStepStats", "GStepStats", "discriminator_step", "generator_step", "real_loss"]


@dataclass(frozen=True)
class DStepStats:
    """Diagnostics of one discriminator step (real-data values are NOT covered by ε)."""

    loss_real: float
    loss_fake: float
    d_real: float  # mean sigmoid(D(real))
    d_fake: float  # mean sigmoid(D(fake))
    real_size: int


@dataclass(frozen=True)
class GStepStats:
    """Diagnostics of one generator step, computed on generated images only (free of privacy
    cost: the discriminator is already private, generated images are post-processing)."""

    loss: float
    fake_accuracy: float  # share of the generated batch the discriminator calls fake (D < 0.5)


def real_loss(logits: torch.Tensor) -> torch.Tensor:
    """BCE-with-logits of real examples against label 1, mean over the batch; 0 for an empty one."""
    if logits.shape[0] == 0:
        return logits.sum()  # empty Poisson batch: zero loss, zero-size per-example gradients
    return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def _fake_loss(logits: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))


def _stats(out_real: torch.Tensor, out_fake: torch.Tensor, loss_real: torch.Tensor,
           loss_fake: torch.Tensor) -> DStepStats:
    n = out_real.shape[0]
    return DStepStats(loss_real=float(loss_real.detach()) if n else float("nan"),
                      loss_fake=float(loss_fake.detach()),
                      d_real=float(torch.sigmoid(out_real).mean()) if n else float("nan"),
                      d_fake=float(torch.sigmoid(out_fake).mean()), real_size=n)


def _share(fake: torch.Tensor, fake_total: int | None) -> float:
    """This process's part of the logical step's generated images (1 for one process)."""
    return fake.shape[0] / (fake_total or fake.shape[0])


def discriminator_step(setup: PrivateSetup, fake: torch.Tensor, real: torch.Tensor, *,
                       clip_fake: bool = True, real_labels: torch.Tensor | None = None,
                       fake_labels: torch.Tensor | None = None,
                       fake_total: int | None = None) -> DStepStats:
    """One discriminator update on a freshly drawn real batch and a generated batch.

    Private update, with per-example clipping ``clip_C(g) = g * min(1, C / ||g||)``:
    ``(Σ_real clip_C(∇ℓ_i) + N(0, σ²C²I)) / B + fake term``, where the fake term is
    ``Σ_fake clip_C(∇ℓ_j) / B`` (``clip_fake``, the default) or the unclipped
    ``∇ mean_j ℓ_j``. Clipping the generated half changes nothing for privacy; it keeps both
    halves on the same scale (per-example gradient norms of a fresh DCGAN discriminator are
    ~40, so with C = 1 an unclipped generated half outweighs the real half ~40 times and the
    discriminator learns to call everything fake).

    Args:
        setup: the discriminator's private setup (``make_private`` with it, or DP off).
        fake: generated images (B, C, H, W), detached from the generator.
        real: the batch the setup's loader just yielded (b, C, H, W); b may be 0 (Poisson).
        clip_fake: clip the generated examples' gradients per example too (no noise).
        real_labels, fake_labels: (b,) and (B,) labels for a class-conditional discriminator.
        fake_total: generated images of the logical step over all processes (default: this
            process's ``fake.shape[0]``, right for one process).

    Returns:
        Losses and mean discriminator outputs of this step (this process's examples).

    Raises:
        PrivacyViolation: if the optimizer did not take exactly one accounted noisy step.
    """
    d, opt = setup.model, setup.optimizer
    opt.zero_grad(set_to_none=True)
    if not setup.private:
        out_real, out_fake = d(real, real_labels), d(fake, fake_labels)
        loss_real, loss_fake = real_loss(out_real), _fake_loss(out_fake)
        (loss_real + loss_fake).backward()
        opt.step()
        return _stats(out_real.detach(), out_fake.detach(), loss_real, loss_fake)

    params = [p for p in d.parameters() if p.requires_grad]
    b = real.shape[0]
    fake_grads = None
    if clip_fake:  # one per-example pass over real and generated examples (GroupNorm: no mixing)
        labels_in = (None if real_labels is None or fake_labels is None
                     else torch.cat([real_labels, fake_labels]))
        out = d(torch.cat([real, fake]), labels_in)  # (b + B,)
        out_real, out_fake = out[:b], out[b:]
        labels = torch.cat([torch.ones_like(out_real), torch.zeros_like(out_fake)])
        loss_real, loss_fake = real_loss(out_real), _fake_loss(out_fake)
        if setup.config.grad_sample_mode == "ghost":
            # Opacus's two-pass ghost loss: per-example norms from the first backward, then
            # p.grad = Σ_i clip_C(∇ℓ_i) over real and generated examples from the second
            setup.criterion(out, labels).backward()
        else:
            loss = F.binary_cross_entropy_with_logits(out, labels)  # per-example grads: ∇ℓ_i
            loss.backward()  # hooks/functorch: -> p.grad_sample; bk: Σ_i clip_C(∇ℓ_i) -> p.grad
    else:
        with setup.hooks_off():  # generated images: plain gradient, no per-example gradients
            out_fake = d(fake, fake_labels)  # (B,)
            loss_fake = _fake_loss(out_fake)
            fake_grads = list(torch.autograd.grad(loss_fake * _share(fake, fake_total), params))
        if b == 0 and setup.config.grad_sample_mode == "functorch":
            out_real, loss_real = real.new_zeros(0), real.new_zeros(())  # vmap needs >= 1 example
            setup.empty_batch_grads()
        else:
            out_real = d(real, real_labels)  # (b,)
            loss_real = real_loss(out_real)
            loss_real.backward()  # per-example gradients -> p.grad_sample
    # clip each example to C, sum, add N(0, σ²C²), divide by B, charge the accountant once;
    # then + ∇ mean_j BCE(D(fake_j), 0) when unclipped (no private data: no noise needed)
    setup.step(extra_grads=fake_grads)
    return _stats(out_real.detach(), out_fake.detach(), loss_real, loss_fake)


def generator_step(setup: PrivateSetup, g_optimizer: torch.optim.Optimizer,
                   fake: torch.Tensor, fake_labels: torch.Tensor | None = None, *,
                   fake_total: int | None = None) -> GStepStats:
    """One generator update through the discriminator (non-saturating loss, BCE(D(G(z)), 1)).

    The discriminator's hooks are off (no per-example gradients), only the generator's
    gradients are computed, and the discriminator's gradients are cleared afterwards.

    Args:
        setup: the discriminator's setup.
        g_optimizer: the generator's optimizer.
        fake: generated images G(z) (B, C, H, W), still attached to the generator's graph (it may
            be the batch the discriminator step just saw, detached there, as in DCGAN).
        fake_labels: (B,) labels the images were generated for (class-conditional).
        fake_total: generated images over all processes (default ``fake.shape[0]``); the
            gradients of each process's share are summed over the processes.

    Returns:
        The generator loss and the discriminator's accuracy on the generated batch of every
        process (the same on all of them, so their n_D schedules agree).
    """
    g_params = [p for group in g_optimizer.param_groups for p in group["params"]
                if p.requires_grad]
    g_optimizer.zero_grad(set_to_none=True)
    try:
        with setup.hooks_off():
            out = setup.model(fake, fake_labels)  # (B,)
            loss = F.binary_cross_entropy_with_logits(out, torch.ones_like(out))
            share = _share(fake, fake_total)
            grads = list(torch.autograd.grad(loss * share, g_params))
    finally:
        setup.optimizer.zero_grad(set_to_none=True)
    totals = torch.stack([loss.detach() * share, (out.detach() < 0).float().sum()
                          / (fake_total or fake.shape[0])]).double()  # (2,)
    all_reduce_sum([*grads, totals], setup.world)  # the mean over the B generated images
    for p, g in zip(g_params, grads):
        p.grad = g
    g_optimizer.step()
    return GStepStats(loss=float(totals[0]), fake_accuracy=float(totals[1]))
