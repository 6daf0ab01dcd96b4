"""L∞ PGD and FGSM adversarial examples (Madry et al. 2018, arXiv:1706.06083).

Budgets are given in [0, 1] pixel units (the MNIST convention: ε = 0.1); dpkit's images live in
[-1, 1], so the attack works with 2ε in model space and keeps every example inside [-1, 1].

Used inside DP training, an attack must not disturb the private step: :func:`pgd_attack` only asks
autograd for the gradient with respect to the inputs (``torch.autograd.grad``), so no parameter's
``.grad`` is touched, and :func:`no_grad_sample` switches Opacus's per-sample hooks off for the
crafting passes and clears any ``grad_sample`` afterwards. :class:`AdversarialCoins` decides which
examples of a private batch are attacked when only a fraction is, without letting one example's
presence change what happens to another.
"""

from __future__ import annotations

import contextlib
from dataclasses import asdict, dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from dpkit.engine import hooks_off
from dpkit.errors import require

__all__ = ["PGDConfig", "AdversarialCoins", "pgd_attack", "fgsm_attack", "no_grad_sample",
           "PIXEL_SCALE"]

_PRIME = 2 ** 31 - 1  # modulus of the coins' hash

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
        require(0 <= self.eps <= 1, f"pgd.eps={self.eps} must be in [0, 1] (pixel units; "
                                    f"0.1 is the MNIST convention)")
        require(self.steps >= 1, f"pgd.steps={self.steps} must be >= 1")
        if self.alpha is not None:
            require(self.alpha > 0, f"pgd.alpha={self.alpha} must be > 0")

    @property
    def step_size(self) -> float:
        """Step size in pixel units."""
        if self.alpha is not None:
            return self.alpha
        return self.eps if self.steps == 1 else 2.5 * self.eps / self.steps

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def no_grad_sample(model: nn.Module) -> contextlib.AbstractContextManager[None]:
    """Run forward/backward passes that must not produce per-sample gradients (Opacus hooks off)."""
    return hooks_off(model)


class AdversarialCoins:
    """Which examples of a private batch are made adversarial, one coin per example.

    Why not "the first ⌈f·b⌉ examples": with Poisson sampling, adding one record to the batch
    would then change which *other* records are attacked, so one record moves the clipped sum
    by more than C (measured: 0.056–0.058 with C = 0.05) and DP-SGD's sensitivity bound fails.

    Here each example's coin is a function of that example alone and of a key drawn fresh for
    every step, independently of the data: coin(x, y) = [h_k(x, y) / p < f] with the hash
    h_k(x, y) = (Σ_j k_j·q_j + k_y·(y+1) + k_0) mod p over the example's 8-bit pixel values q
    (p = 2³¹ − 1 prime, k uniform on [0, p)). For any fixed key, example i's (possibly
    adversarial) input, and so its clipped gradient, depends on (x_i, y_i), the weights and the
    key only; adding or removing one record changes the clipped sum by that record's clipped
    gradient, norm ≤ C, whatever the rest of the batch. Over the key, each coin is Bernoulli(f)
    and the coins of two distinct examples are independent (the hash is pairwise independent).

    Args:
        fraction: f, the probability that an example is attacked.
        seed: seeds the keys (they need not be secret: the bound holds for every key).
    """

    def __init__(self, fraction: float, *, seed: int) -> None:
        require(0 < fraction <= 1, f"fraction {fraction} must be in (0, 1]")
        self.fraction = fraction
        self.generator = torch.Generator().manual_seed(seed)

    def draw(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """(B,) True where example i is attacked, for x (B, C, H, W) in [-1, 1] and y (B,).
        Draws one key per call, of the same size whatever B (empty batches included)."""
        dim = x.flatten(1).shape[1]  # D = C·H·W
        key = torch.randint(0, _PRIME, (dim + 2,), generator=self.generator)  # data-independent
        if x.shape[0] == 0:
            return torch.zeros(0, dtype=torch.bool, device=x.device)
        key = key.to(x.device)
        q = ((x.detach().flatten(1) + 1) * 127.5).round().clamp(0, 255).long()  # (B, D)
        h = (q * key[:dim]).sum(1) + key[dim] * (y.long() + 1) + key[dim + 1]  # (B,) < 2^53
        return (h % _PRIME).double() / _PRIME < self.fraction

    def state_dict(self) -> torch.Tensor:
        return self.generator.get_state()

    def load_state_dict(self, state: torch.Tensor) -> None:
        self.generator.set_state(state.cpu())  # a checkpoint read onto a GPU holds it there


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
