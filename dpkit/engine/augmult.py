"""Augmentation multiplicity (De et al. 2022, arXiv:2204.13650, Section 3.1): K augmented views of
every sampled example, whose per-example gradients are averaged *before* clipping.

Example i's gradient becomes g_i = (1/K) Σ_k ∇ℓ(θ; aug_k(x_i), y_i): one vector per example, so
clipping bounds one example's contribution by C exactly as without augmentation, the sampling
stays Poisson over examples at q = B/N (views are not records), and the accountant is charged as
before. The views of example i depend only on x_i and the augmentation generator's draws, which
are independent of the data.

Opacus computes per-view gradients with ``loss_reduction="mean"`` over the B·K rows it saw, and
rescales them by the number of rows, so each row's grad_sample is its own view's gradient; the
average over K views then is g_i, and DP-SGD divides the noisy sum by the expected B.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F

from dpkit.errors import DPKitError, require

__all__ = ["AugmultConfig", "augment_views", "average_view_grads", "attach_view_averaging",
           "check_augmult_mode"]


@dataclass(frozen=True)
class AugmultConfig:
    """K views per example: a random crop of the image padded by ``crop_padding`` pixels
    (reflection) and, with ``flip``, a horizontal flip with probability ½.

    Attributes:
        views: K (1 = off: the example itself, no augmentation).
        crop_padding: reflection padding of the random crop (0 = no crop); De et al. use 4 for
            32 px images; 2 suits 28 px.
        flip: random horizontal flips (only for data sets whose labels are flip-invariant:
            CIFAR-10, Fashion-MNIST; not digits).
    """

    views: int = 1
    crop_padding: int = 0
    flip: bool = False

    def __post_init__(self) -> None:
        require(self.views >= 1, f"augmult={self.views} must be >= 1 (1 = off)")
        require(self.crop_padding >= 0, f"augment_crop={self.crop_padding} must be >= 0")

    @property
    def enabled(self) -> bool:
        return self.views > 1

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def augment_views(x: torch.Tensor, cfg: AugmultConfig,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """K augmented views of each image: (B, C, H, W) -> (B·K, C, H, W), example i's views in rows
    i·K .. i·K + K − 1. The crop offsets and flips are drawn from ``generator`` (on the CPU),
    independently of the images."""
    b, c, h, w = x.shape
    k, p = cfg.views, cfg.crop_padding
    out = x.repeat_interleave(k, dim=0)  # (B·K, C, H, W)
    n = out.shape[0]
    if n == 0:
        return out
    if p > 0:
        require(p < h and p < w, f"augment_crop={p} must be smaller than the image ({h}x{w})")
        padded = F.pad(out, (p, p, p, p), mode="reflect")  # (B·K, C, H+2p, W+2p)
        dy = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
        dx = torch.randint(0, 2 * p + 1, (n,), generator=generator).to(x.device)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]  # (n,1,H,1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]  # (n,1,1,W)
        idx = torch.arange(n, device=x.device)[:, None, None, None]
        ch = torch.arange(c, device=x.device)[None, :, None, None]
        out = padded[idx, ch, rows, cols]  # (B·K, C, H, W)
    if cfg.flip:
        flip = (torch.rand(n, generator=generator) < 0.5).to(x.device)
        out = torch.where(flip[:, None, None, None], out.flip(-1), out)
    return out


def _flat(grad_sample: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(grad_sample, 0) if isinstance(grad_sample, list) else grad_sample


def average_view_grads(params: list[torch.Tensor], views: int) -> None:
    """Replace every parameter's ``grad_sample`` (B·K, ...) by the mean over each example's K
    views (B, ...), in place, before clipping."""
    for p in params:
        gs = getattr(p, "grad_sample", None)
        if gs is None:
            continue
        g = _flat(gs)
        if g.shape[0] % views != 0:
            raise DPKitError(f"{g.shape[0]} per-example gradients are not {views} views of each "
                             f"example; pass the batch through augment_views before the model")
        p.grad_sample = g.reshape(g.shape[0] // views, views, *g.shape[1:]).mean(1)  # (B, ...)


def check_augmult_mode(views: int, grad_sample_mode: str) -> None:
    """Refuse augmentation multiplicity where per-example gradients are never materialised."""
    if views > 1 and grad_sample_mode in ("ghost", "bk"):
        raise DPKitError(f"augmult={views} needs per-example gradients to average over views "
                         f"before clipping, which {grad_sample_mode} clipping never forms; use "
                         f"grad_sample_mode='hooks' or 'functorch' (or 'auto')")


def attach_view_averaging(optimizer: Any, views: int) -> None:
    """Make an Opacus DPOptimizer average each example's K view gradients before it clips (its
    ``clip_and_accumulate`` runs once per physical batch, so physical batches work too)."""
    if views <= 1:
        return
    clip: Callable[[], None] = optimizer.clip_and_accumulate

    def clip_and_accumulate() -> None:
        average_view_grads(optimizer.params, views)
        clip()

    optimizer.clip_and_accumulate = clip_and_accumulate
