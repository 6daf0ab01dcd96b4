"""Dataset reconstruction from a trained network's weights (Haim et al. 2022, arXiv:2206.07758).

A homogeneous ReLU network (no biases) trained with gradient descent on a binary task converges
in direction to a KKT point of the max-margin problem, so its weights are a combination of the
gradients at its training points:

    θ = Σ_i λ_i y_i ∇θ Φ(θ; x_i),   λ_i ≥ 0,  y_i ∈ {−1, +1}.

The attack turns this around: it optimises m candidates x_j (half labelled +1, half −1) and
coefficients λ_j to minimise ‖θ − Σ_j λ_j y_j ∇θ Φ(θ; x_j)‖² plus the paper's prior: candidates
stay in the image range [−1, 1] and λ_j ≥ λ_min. As in the paper's code, ReLU is replaced by a
steep softplus (β) during the search so that ∇x ∇θ Φ is informative. For a two-output classifier
Φ = logit_1 − logit_0 (class 1 is y = +1), which is homogeneous whenever the logits are.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from dpkit.engine import progress
from dpkit.errors import DPKitError, require

__all__ = ["KKTConfig", "KKTResult", "binary_margin", "check_homogeneous", "kkt_reconstruct"]


@dataclass(frozen=True)
class KKTConfig:
    """Settings of the KKT reconstruction.

    Attributes:
        candidates_per_class: m/2 candidates labelled +1 and as many labelled −1 (the paper uses
            2x the number of training images).
        iterations: SGD steps on the candidates and λ.
        lr: step size of the candidates (SGD, momentum 0.9).
        lambda_lr: step size of λ.
        init_scale: std of the Gaussian initialisation of the candidates.
        min_lambda: λ_min of the prior (λ_j ≥ λ_min keeps every candidate on the margin).
        softplus_beta: steepness of the softplus that replaces ReLU during the search.
        fit_scale: multiply Σ λ_j y_j ∇θΦ(x_j) by its best global scale (closed form) before
            comparing with θ, so the result does not depend on the norm training left θ at
            (the paper instead tunes λ_min and the learning rates per model).
        seed: seeds the initialisation.
    """

    candidates_per_class: int = 50
    iterations: int = 2000
    lr: float = 0.1
    lambda_lr: float = 0.1
    init_scale: float = 0.03
    min_lambda: float = 0.05
    softplus_beta: float = 150.0
    fit_scale: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.candidates_per_class >= 1,
                f"candidates_per_class={self.candidates_per_class} must be >= 1")
        require(self.iterations >= 1, f"iterations={self.iterations} must be >= 1")
        require(self.lr > 0, f"lr={self.lr} must be > 0")
        require(self.lambda_lr > 0, f"lambda_lr={self.lambda_lr} must be > 0")
        require(self.init_scale > 0, "init_scale must be > 0")
        require(self.min_lambda >= 0, "min_lambda must be >= 0")
        require(self.softplus_beta > 0, "softplus_beta must be > 0")

    def to_dict(self) -> dict[str, float | int]:
        return asdict(self)


@dataclass(frozen=True)
class KKTResult:
    """Candidates found by the search.

    Attributes:
        images: (m, C, H, W) candidates clamped to [−1, 1].
        labels: (m,) their class (0 or 1; class 1 is y = +1).
        lambdas: (m,) their coefficients λ_j.
        kkt_loss: final ‖θ − Σ λ_j y_j ∇θΦ(x_j)‖² / ‖θ‖².
    """

    images: torch.Tensor
    labels: torch.Tensor
    lambdas: torch.Tensor
    kkt_loss: float


def check_homogeneous(model: nn.Module) -> None:
    """Refuse models the KKT attack does not apply to (biases, normalisation, non-ReLU layers)."""
    allowed = (nn.Linear, nn.ReLU, nn.Flatten, nn.Identity, nn.Sequential)
    for name, m in model.named_modules():
        if name and not isinstance(m, allowed) and list(m.children()) == []:
            raise DPKitError(f"the KKT attack needs a homogeneous ReLU MLP; layer {name!r} is a "
                             f"{type(m).__name__}; train the target with arch='mlp', "
                             f"bias=False and norm='none'")
        if isinstance(m, nn.Linear) and m.bias is not None:
            raise DPKitError(f"the KKT attack needs a homogeneous ReLU MLP; layer {name!r} has a "
                             f"bias; train the target with arch='mlp' and bias=False")


def binary_margin(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Φ(θ; x): (B, C, H, W) -> (B,), the logit of class 1 minus that of class 0."""
    out = model(x)
    if out.dim() == 2 and out.shape[1] == 2:
        return out[:, 1] - out[:, 0]
    if out.dim() == 2 and out.shape[1] == 1:
        return out[:, 0]
    raise DPKitError(f"the KKT attack needs a binary classifier (1 or 2 outputs), got "
                     f"{tuple(out.shape[1:])} outputs; train with classes=(A, B)")


def _smooth(model: nn.Module, beta: float) -> nn.Module:
    smooth = copy.deepcopy(model).eval()
    for name, m in list(smooth.named_modules()):
        for child_name, child in list(m.named_children()):
            if isinstance(child, nn.ReLU):
                setattr(m, child_name, nn.Softplus(beta=beta))
    for p in smooth.parameters():
        p.requires_grad_(True)
    return smooth


def kkt_reconstruct(model: nn.Module, shape: tuple[int, int, int], cfg: KKTConfig, *,
                    device: torch.device | str = "cpu", initial: nn.Module | None = None,
                    quiet: bool = True) -> KKTResult:
    """Search for training images that make the weights a KKT point (Haim et al. 2022).

    Args:
        model: a trained homogeneous ReLU MLP with 1 or 2 outputs (see :func:`check_homogeneous`).
        shape: (C, H, W) of one image.
        cfg: search settings.
        device: where to compute.
        initial: the same network at its initialisation, when the attacker can rebuild it (dpkit
            seeds it from the run's seed). The search then explains the weight change θ − θ₀
            instead of θ, which helps when training ended far from the KKT direction (an
            extension of the paper, whose targets start from a tiny initialisation).
        quiet: no progress bar (one step per iteration).

    Returns:
        The candidates, their labels and λ, and the final relative KKT residual.
    """
    check_homogeneous(model)
    net = _smooth(model, cfg.softplus_beta).to(device)
    params = list(net.parameters())
    theta = [p.detach().clone() for p in params]
    if initial is not None:
        theta = [t - p0.detach().to(t) for t, p0 in zip(theta, initial.parameters())]
    theta_sq = sum(float(t.pow(2).sum()) for t in theta)
    m = 2 * cfg.candidates_per_class
    gen = torch.Generator().manual_seed(cfg.seed)
    x = (torch.randn((m, *shape), generator=gen) * cfg.init_scale).to(device).requires_grad_(True)
    lam = torch.rand((m,), generator=gen).to(device).requires_grad_(True)
    y = torch.cat([torch.ones(cfg.candidates_per_class),
                   -torch.ones(cfg.candidates_per_class)]).to(device)  # (m,)
    opt_x = torch.optim.SGD([x], lr=cfg.lr, momentum=0.9)
    opt_l = torch.optim.SGD([lam], lr=cfg.lambda_lr, momentum=0.9)
    kkt = torch.tensor(0.0)
    for _ in progress(range(cfg.iterations), quiet=quiet, desc="KKT reconstruction"):
        phi = binary_margin(net, x)  # (m,)
        grads = torch.autograd.grad(phi, params, grad_outputs=lam * y / m, create_graph=True)
        if cfg.fit_scale:  # best global scale of the combination, in closed form
            dot = sum((t * g).sum() for t, g in zip(theta, grads))
            alpha = dot / sum(g.pow(2).sum() for g in grads).clamp_min(1e-30)
            grads = [alpha * g for g in grads]
        kkt = sum((t - g).pow(2).sum() for t, g in zip(theta, grads))
        prior = ((x - 1).relu().pow(2).sum() + (-1 - x).relu().pow(2).sum()
                 + 5 * (cfg.min_lambda - lam).relu().pow(2).sum())
        opt_x.zero_grad(set_to_none=True)
        opt_l.zero_grad(set_to_none=True)
        (kkt + prior).backward()
        opt_x.step()
        opt_l.step()
    labels = (y > 0).long().cpu()
    return KKTResult(images=x.detach().clamp(-1, 1).cpu(), labels=labels,
                     lambdas=lam.detach().cpu(), kkt_loss=float(kkt.detach()) / theta_sq)
