"""Certified L2 robustness by randomized smoothing (Cohen, Rosenfeld & Kolter 2019, arXiv:1902.02918).

The smoothed classifier g(x) = argmax_c P[f(x + δ) = c], δ ~ N(0, σ²I). CERTIFY: ``n0`` noisy
samples choose the top class ĉ; ``n`` fresh samples count how often f returns ĉ; p_A is the
one-sided (1 − α) Clopper–Pearson lower bound on that probability. If p_A < 1/2 the procedure
abstains; otherwise g(x) = ĉ within the L2 radius R = σ·Φ⁻¹(p_A), with probability ≥ 1 − α.

σ and radii are in [0, 1] pixel units (as in Cohen et al.); images live in [-1, 1], so the noise
added in model space has standard deviation 2σ, and a radius R in pixel units is 2R in model space.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from scipy.stats import beta, norm
from torch import nn

from dpkit.classifiers.adversarial import PIXEL_SCALE
from dpkit.data import ImageTensorDataset
from dpkit.engine import progress
from dpkit.errors import require

__all__ = ["ABSTAIN", "Certificate", "CertifiedResult", "clopper_pearson_lower", "certify",
           "certified_accuracy"]

ABSTAIN = -1


def clopper_pearson_lower(k: int, n: int, alpha: float) -> float:
    """One-sided (1 − α) Clopper–Pearson lower confidence bound on a binomial proportion k/n."""
    return 0.0 if k == 0 else float(beta.ppf(alpha, k, n - k + 1))


@dataclass(frozen=True)
class Certificate:
    """CERTIFY's answer for one input: ``prediction`` (or ABSTAIN = -1), radius, p_A lower bound."""

    prediction: int
    radius: float
    p_lower: float
    count: int


@torch.no_grad()
def _counts(model: nn.Module, x: torch.Tensor, n: int, sigma: float, num_classes: int,
            batch_size: int, gen: torch.Generator) -> torch.Tensor:
    counts = torch.zeros(num_classes, dtype=torch.long)
    left = n
    while left > 0:
        b = min(batch_size, left)
        batch = x.unsqueeze(0).expand(b, *x.shape)  # (b, C, H, W)
        noise = torch.randn(batch.shape, generator=gen).to(x.device) * (sigma * PIXEL_SCALE)
        pred = model(batch + noise).argmax(1).cpu()
        counts += torch.bincount(pred, minlength=num_classes)[:num_classes]
        left -= b
    return counts


def certify(model: nn.Module, x: torch.Tensor, *, sigma: float, n0: int = 100, n: int = 1000,
            alpha: float = 0.001, num_classes: int, batch_size: int = 500,
            generator: torch.Generator | None = None) -> Certificate:
    """Cohen et al.'s CERTIFY for one image x (C, H, W) in [-1, 1] (model in eval mode)."""
    require(sigma > 0, f"sigma={sigma} must be > 0")
    require(n0 >= 1 and n >= 1, f"n0={n0} and n={n} must be >= 1")
    require(0 < alpha < 1, f"alpha={alpha} must be in (0, 1)")
    gen = generator if generator is not None else torch.Generator().manual_seed(0)
    top = int(_counts(model, x, n0, sigma, num_classes, batch_size, gen).argmax())
    count = int(_counts(model, x, n, sigma, num_classes, batch_size, gen)[top])
    p_lower = clopper_pearson_lower(count, n, alpha)
    if p_lower < 0.5:
        return Certificate(ABSTAIN, 0.0, p_lower, count)
    return Certificate(top, float(sigma * norm.ppf(p_lower)), p_lower, count)


@dataclass(frozen=True)
class CertifiedResult:
    """Certified accuracy of the smoothed classifier at several L2 radii (pixel units).

    Attributes:
        sigma, n0, n, alpha: the certification settings.
        radii: the radii reported.
        certified_accuracy: share of examples predicted correctly with radius ≥ r, per r.
        abstain_rate: share of abstentions.
        examples: evaluated examples.
        radius_per_example: certified radius per example (0 when abstaining).
        correct: whether each smoothed prediction was right (False when abstaining).
    """

    sigma: float
    n0: int
    n: int
    alpha: float
    radii: list[float]
    certified_accuracy: list[float]
    abstain_rate: float
    examples: int
    radius_per_example: list[float]
    correct: list[bool]

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def certified_accuracy(model: nn.Module, dataset: ImageTensorDataset, *, sigma: float,
                       n0: int = 100, n: int = 1000, alpha: float = 0.001,
                       radii: Sequence[float] | None = None, num_classes: int,
                       device: torch.device | str = "cpu", seed: int = 0,
                       batch_size: int = 500, quiet: bool = True) -> CertifiedResult:
    """Certify every example of ``dataset``; certified accuracy at radii 0, 0.25, 0.5, ... ."""
    model.eval()
    gen = torch.Generator().manual_seed(seed)
    x_all, y_all = dataset.tensors()
    certs = [certify(model, x.to(device), sigma=sigma, n0=n0, n=n, alpha=alpha,
                     num_classes=num_classes, batch_size=batch_size, generator=gen)
             for x in progress(x_all, quiet=quiet, desc="certify", total=len(x_all))]
    correct = [c.prediction == int(y) for c, y in zip(certs, y_all)]
    rad = [c.radius for c in certs]
    if radii is None:
        top = max([r for r, ok in zip(rad, correct) if ok], default=0.0)
        radii = [0.25 * i for i in range(int(top / 0.25) + 2)]
    m = max(len(certs), 1)
    acc = [sum(ok and r >= t for ok, r in zip(correct, rad)) / m for t in radii]
    return CertifiedResult(sigma=sigma, n0=n0, n=n, alpha=alpha, radii=list(radii),
                           certified_accuracy=acc,
                           abstain_rate=sum(c.prediction == ABSTAIN for c in certs) / m,
                           examples=len(certs), radius_per_example=rad, correct=correct)
