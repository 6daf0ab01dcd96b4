"""L∞ PGD and FGSM adversarial examples (Madry et al. 2018, arXiv:1706.06083).

Budgets are given in [0, 1] pixel units (the MNIST convention: ε = 0.1); dpkit's images live in
[-1, 1], so the attack works with 2ε in model space and keeps every example inside [-1, 1].

Used inside DP training, an attack must not disturb the private step: :func:`pgd_attack` only asks
autograd for the gradient with respect to the inputs (``torch.autograd.grad``), so no parameter's
``.grad`` is touched, and :func:`no_grad_sample` switches Opacus's per-sample hooks off for the
crafting passes and clears any ``grad_sample`` afterwards.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any, Iterator

import torch
import torch.nn.functional as F
from opacus.grad_sample.gsm_base import AbstractGradSampleModule
from torch import nn

from dpkit.errors import require

__all__ = ["PGDConfig", "pgd_attack", "fgsm_attack", "no_grad_sample", "PIXEL_SCALE"]

PIXEL_SCALE = 2.0  # [0, 1] pixel units -> [-1, 1] model units


@dataclass(frozen=True)
class PGDConfig:
    """An L∞ PGD attack.

    Attributes:
        eps: L∞ budget in [0, 1] pixel units (0.1 on MNIST-like data).
        steps: iterations; 1 with ``random_start=False`` and ``alpha=eps`` is FGSM.
        alpha: step size in pixel units; None = 2.5 * eps / steps (Madry et al.).
        random_start: start from a uniform point in the ε-ball.
    """

    eps: float = 0.1
    steps: int = 10
    alpha: float | None = None
    random_start: bool = True

    def __post_init__(self) -> None:
        require(0 <= self.eps <= 1, f"--pgd-eps {self.eps} must be in [0, 1] (pixel units; "
                                    f"0.1 is the MNIST convention)")
        require(self.steps >= 1, f"--pgd-steps {self.steps} must be >= 1")
        if self.alpha is not None:
            require(self.alpha > 0, f"--pgd-alpha {self.alpha} must be > 0")

    @property
    def step_size(self) -> float:
        """Step size in pixel units."""
        if self.alpha is not None:
            return self.alpha
        return self.eps if self.steps == 1 else 2.5 * self.eps / self.steps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@contextlib.contextmanager
def no_grad_sample(model: nn.Module) -> Iterator[None]:
    """Run forward/backward passes that must not produce per-sample gradients (Opacus hooks off)."""
    gsm = model if isinstance(model, AbstractGradSampleModule) else None
    if gsm is not None:
        gsm.disable_hooks()
    try:
        yield
    finally:
        if gsm is not None:
            gsm.enable_hooks()
            for p in gsm.parameters():
                p.grad_sample = None


def pgd_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, cfg: PGDConfig, *,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Untargeted L∞ PGD on the cross-entropy loss.

    Example i's perturbation depends only on (x_i, y_i) and the weights: the loss is a sum of
    per-example terms and the model must not mix examples (no batch statistics; dpkit's models
    use GroupNorm or public-only BatchNorm), so ∂(Σ_j ℓ_j)/∂x_i = ∂ℓ_i/∂x_i.

    Args:
        model: the classifier (its mode is left as is; call it inside :func:`no_grad_sample`
            when it is an Opacus GradSampleModule).
        x: images in [-1, 1], (B, C, H, W).
        y: labels, (B,).
        cfg: the attack.
        generator: for the random start (default: torch's global generator).

    Returns:
        Adversarial images (B, C, H, W), with ||x_adv - x||∞ ≤ 2·eps and values in [-1, 1].
    """
    eps = cfg.eps * PIXEL_SCALE
    alpha = cfg.step_size * PIXEL_SCALE
    x = x.detach()
    if x.shape[0] == 0 or eps == 0:
        return x.clone()
    if cfg.random_start:
        noise = torch.rand(x.shape, generator=generator, device=x.device if generator is None
                           else generator.device).to(x.device)
        delta = (noise * 2 - 1) * eps
    else:
        delta = torch.zeros_like(x)
    x_adv = (x + delta).clamp(-1, 1)
    for _ in range(cfg.steps):
        x_adv.requires_grad_(True)
        with torch.enable_grad():
            loss = F.cross_entropy(model(x_adv), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x_adv)
        x_adv = x_adv.detach() + alpha * grad.sign()
        x_adv = torch.min(torch.max(x_adv, x - eps), x + eps).clamp(-1, 1)
    return x_adv.detach()


def fgsm_attack(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015, arXiv:1412.6572): one step of size ε."""
    return pgd_attack(model, x, y, PGDConfig(eps=eps, steps=1, alpha=eps, random_start=False))
