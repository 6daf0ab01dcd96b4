"""Normalization layers that keep DP-SGD's per-example guarantee.

* :class:`PublicBatchNorm` — BatchNorm whose statistics come **only** from public data. Before each
  private step a public batch is passed through the network inside :func:`public_statistics`; every
  layer records the mean and variance of its public input (detached). Private examples are then
  normalized with those fixed numbers, so no private example ever influences another one, or the
  statistics. (Mixing private and public examples in the statistics, as some prior work did, breaks
  the per-example sensitivity bound.) The learnable scale and shift live in a separate
  :class:`ChannelAffine` module with its own per-sample gradient rule.
* :class:`WSConv2d` — a convolution with weight standardization (Qiao et al. 2019,
  arXiv:1903.10520), which helps GroupNorm networks trained with DP-SGD (De et al. 2022,
  arXiv:2204.13650).

The statistics are detached: the gradient treats them as constants. That drops the (public-data)
path from the parameters through the statistics, a small bias in the gradient, and keeps each
per-example gradient a function of its own example, the public batch and the weights only.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from dpkit.engine import materialized_rule, register_bookkeeping_rule, register_grad_sampler
from dpkit.errors import DPKitError
from dpkit.names import NORMS

__all__ = ["PublicBatchNorm", "PublicNorm", "ChannelAffine", "WSConv2d", "make_norm",
           "public_statistics", "uses_public_norm", "NORMS"]


class PublicNorm(nn.Module):
    """Normalize each channel with statistics measured on a public batch only (no parameters).

    Modes: inside :func:`public_statistics` the layer measures the batch mean/variance of its
    (public) input, stores them detached, updates the running averages and normalizes with them.
    Outside it, in training mode the stored public statistics of the current step are used; in
    eval mode the running averages are used. It never computes statistics of a private batch.

    Args:
        channels: number of channels C of inputs (B, C, ...).
        eps: added to the variance.
        momentum: running-average momentum (as in BatchNorm).
    """

    def __init__(self, channels: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.channels, self.eps, self.momentum = channels, eps, momentum
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))
        self.register_buffer("public_mean", torch.zeros(channels))
        self.register_buffer("public_var", torch.ones(channels))
        self.register_buffer("has_public", torch.tensor(False))
        self.collecting = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, ...)
        shape = (1, self.channels) + (1,) * (x.dim() - 2)
        if self.collecting:
            dims = [0] + list(range(2, x.dim()))
            with torch.no_grad():
                mean = x.mean(dim=dims)  # (C,)
                var = x.var(dim=dims, unbiased=False)  # (C,)
                self.public_mean.copy_(mean)
                self.public_var.copy_(var)
                self.has_public.fill_(True)
                self.running_mean.lerp_(mean, self.momentum)
                self.running_var.lerp_(var, self.momentum)
            mean, var = self.public_mean, self.public_var
        elif self.training:
            if not bool(self.has_public):
                raise DPKitError("public-bn layer has no public statistics yet; pass a public "
                                 "batch through the model inside public_statistics(model) first")
            mean, var = self.public_mean, self.public_var
        else:
            mean, var = self.running_mean, self.running_var
        return (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)


class ChannelAffine(nn.Module):
    """Per-channel scale and shift ``y = x * weight[c] + bias[c]`` (BatchNorm's affine part)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, C, ...)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.weight.view(shape) + self.bias.view(shape)


@register_grad_sampler(ChannelAffine)
def _channel_affine_grad_sample(layer: ChannelAffine, activations: list[torch.Tensor],
                                backprops: torch.Tensor) -> dict[nn.Parameter, torch.Tensor]:
    """Per-sample gradients of :class:`ChannelAffine`: sums over the spatial positions."""
    x = activations[0]  # (B, C, ...)
    out = {}
    if layer.weight.requires_grad:
        out[layer.weight] = (x * backprops).flatten(2).sum(-1) if x.dim() > 2 else x * backprops
    if layer.bias.requires_grad:
        out[layer.bias] = backprops.flatten(2).sum(-1) if backprops.dim() > 2 else backprops
    return out


def _channel_affine_bk_grads(layer: ChannelAffine, x: torch.Tensor,
                             g: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-sample gradients of :class:`ChannelAffine` by name, (B, C) each, for book-keeping."""
    grads = _channel_affine_grad_sample(layer, [x], g)
    return {name: grads[p] for name, p in (("weight", layer.weight), ("bias", layer.bias))
            if p in grads}


register_bookkeeping_rule(ChannelAffine, materialized_rule(_channel_affine_bk_grads))


class PublicBatchNorm(nn.Sequential):
    """BatchNorm with public-only statistics: :class:`PublicNorm` then :class:`ChannelAffine`.

    Deliberately not a subclass of ``nn.BatchNorm*`` (which DP training refuses).
    """

    def __init__(self, channels: int, *, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__(PublicNorm(channels, eps=eps, momentum=momentum), ChannelAffine(channels))


def uses_public_norm(model: nn.Module) -> bool:
    return any(isinstance(m, PublicNorm) for m in model.modules())


@contextlib.contextmanager
def public_statistics(model: nn.Module) -> Iterator[None]:
    """Within this block, forward passes set every :class:`PublicNorm`'s statistics.

    Only public data may be passed through the model inside this block.
    """
    layers = [m for m in model.modules() if isinstance(m, PublicNorm)]
    for m in layers:
        m.collecting = True
    try:
        yield
    finally:
        for m in layers:
            m.collecting = False


class WSConv2d(nn.Conv2d):
    """Conv2d with weight standardization: each output filter has zero mean and unit variance."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight  # (O, I, kh, kw)
        mean = w.mean(dim=(1, 2, 3), keepdim=True)
        var = w.var(dim=(1, 2, 3), keepdim=True, unbiased=False)
        w = (w - mean) * torch.rsqrt(var + 1e-5)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


def make_norm(kind: str, channels: int, *, groups: int = 8) -> nn.Module:
    """The normalization layer named ``kind`` ("none", "group", "public-bn") for C channels."""
    if kind == "none":
        return nn.Identity()
    if kind == "group":
        g = max(d for d in range(1, min(groups, channels) + 1) if channels % d == 0)
        return nn.GroupNorm(g, channels)
    if kind == "public-bn":
        return PublicBatchNorm(channels)
    raise DPKitError(f"unknown norm {kind!r}; choose one of {', '.join(NORMS)}")
