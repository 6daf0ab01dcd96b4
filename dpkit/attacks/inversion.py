"""Gradient inversion (Geiping et al. 2020, "Inverting Gradients", arXiv:2003.14053).

The attacker sees one gradient update computed on a small batch of private images — plain, or as
DP-SGD releases it (each example's gradient clipped to norm C, summed, Gaussian noise of std σC
added, divided by B) — and searches for images whose gradient points the same way:

    min_x̂  1 − cos(∇θ L(x̂, y), g_observed) + α · TV(x̂),   x̂ ∈ [−1, 1]

with signed Adam steps and step-decay of the learning rate, as in the paper; labels are assumed
known (they can be read off the last layer's gradient, Zhao et al. 2020). Clipping alone only
rescales a single example's gradient, so it protects nothing here; the noise is what protects.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from dpkit.engine import progress
from dpkit.errors import require

__all__ = ["InversionConfig", "observed_gradient", "invert_gradient", "total_variation"]


@dataclass(frozen=True)
class InversionConfig:
    """Settings of the gradient-inversion attack.

    Attributes:
        iterations: Adam steps per restart.
        lr: initial step size (decayed by 10x at 3/8, 5/8 and 7/8 of the iterations).
        tv_weight: α, weight of the total-variation prior.
        restarts: random initialisations; the one with the lowest final loss is kept.
        seed: seeds the initialisations.
    """

    iterations: int = 1000
    lr: float = 0.1
    tv_weight: float = 1e-2
    restarts: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.iterations >= 1, f"iterations={self.iterations} must be >= 1")
        require(self.lr > 0, f"lr={self.lr} must be > 0")
        require(self.tv_weight >= 0, f"tv_weight={self.tv_weight} must be >= 0")
        require(self.restarts >= 1, f"restarts={self.restarts} must be >= 1")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


def _params(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]


def observed_gradient(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *,
                      max_grad_norm: float | None = None, noise_multiplier: float = 0.0,
                      generator: torch.Generator | None = None) -> list[torch.Tensor]:
    """The gradient update an attacker observes for the batch (x, y).

    Args:
        model: the network at the weights the update is computed at.
        x: (B, C, H, W) private images; y: (B,) labels.
        max_grad_norm: per-example clipping norm C (None = no clipping: the plain mean gradient).
        noise_multiplier: σ; Gaussian noise of std σ·C is added to the clipped sum (needs C).
        generator: randomness of the noise.

    Returns:
        One tensor per trainable parameter: (Σ_i clip(g_i) + N(0, σ²C²)) / B.
    """
    require(noise_multiplier == 0 or max_grad_norm is not None,
            f"noise_multiplier={noise_multiplier} needs a clipping norm; pass max_grad_norm=C "
            f"too")
    params = _params(model)
    total = [torch.zeros_like(p) for p in params]
    for i in range(x.shape[0]):  # per-example gradients, as DP-SGD computes them
        loss = F.cross_entropy(model(x[i:i + 1]), y[i:i + 1])
        grads = torch.autograd.grad(loss, params)
        scale = 1.0
        if max_grad_norm is not None:
            norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
            scale = min(1.0, max_grad_norm / (float(norm) + 1e-12))
        for t, g in zip(total, grads):
            t.add_(g.detach(), alpha=scale)
    if noise_multiplier > 0:
        std = noise_multiplier * float(max_grad_norm)
        for t in total:
            t.add_(torch.randn(t.shape, generator=generator, device="cpu").to(t) * std)
    return [t / x.shape[0] for t in total]


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Mean absolute difference of neighbouring pixels of (B, C, H, W) images (a scalar)."""
    return ((x[..., 1:, :] - x[..., :-1, :]).abs().mean()
            + (x[..., :, 1:] - x[..., :, :-1]).abs().mean())


def _cosine_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor,
                 target: list[torch.Tensor]) -> torch.Tensor:
    grads = torch.autograd.grad(F.cross_entropy(model(x), y), _params(model), create_graph=True)
    dot = sum((g * t).sum() for g, t in zip(grads, target))
    norm_g = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    norm_t = math.sqrt(sum(float(t.pow(2).sum()) for t in target))
    return 1 - dot / (norm_g * norm_t + 1e-12)


def invert_gradient(model: nn.Module, target: list[torch.Tensor], labels: torch.Tensor,
                    shape: tuple[int, int, int], cfg: InversionConfig, *,
                    quiet: bool = True) -> torch.Tensor:
    """Reconstruct the batch behind an observed gradient.

    Args:
        model: the network the gradient was computed with (its weights are not changed).
        target: the observed gradient (from :func:`observed_gradient`), one tensor per parameter.
        labels: (B,) labels of the batch.
        shape: (C, H, W) of one image.
        cfg: attack settings.
        quiet: no progress bar (one step per iteration; a bar per restart).

    Returns:
        (B, C, H, W) reconstructions in [-1, 1].
    """
    device = labels.device
    target = [t.detach() for t in target]
    gen = torch.Generator().manual_seed(cfg.seed)
    milestones = [int(cfg.iterations * f) for f in (3 / 8, 5 / 8, 7 / 8)]
    best, best_loss = None, math.inf
    was_training = model.training
    model.eval()
    for restart in range(cfg.restarts):
        x = (torch.rand((labels.shape[0], *shape), generator=gen) * 2 - 1).to(device)
        x.requires_grad_(True)
        opt = torch.optim.Adam([x], lr=cfg.lr)
        sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones, gamma=0.1)
        desc = ("gradient inversion" if cfg.restarts == 1
                else f"gradient inversion {restart + 1}/{cfg.restarts}")
        for _ in progress(range(cfg.iterations), quiet=quiet, desc=desc):
            opt.zero_grad(set_to_none=True)
            loss = _cosine_loss(model, x, labels, target) + cfg.tv_weight * total_variation(x)
            (gx,) = torch.autograd.grad(loss, x)
            x.grad = gx.sign()
            opt.step()
            sched.step()
            with torch.no_grad():
                x.clamp_(-1, 1)
        final = float(_cosine_loss(model, x, labels, target).detach())
        if final < best_loss:
            best, best_loss = x.detach().clone(), final
    model.train(was_training)
    for p in model.parameters():
        p.grad = None
    assert best is not None
    return best
