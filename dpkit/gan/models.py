"""DCGAN generator and discriminator (Radford et al. 2015, arXiv:1511.06434) for DP training.

Only the discriminator sees private data, so only it must be trainable with per-example gradients:
it uses GroupNorm (per-example statistics) and never BatchNorm. The generator is trained only
through the discriminator's output on generated images; it never touches a private example, so its
BatchNorm layers (statistics over *generated* batches) cost no privacy.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from dpkit.errors import DPKitError, require

__all__ = ["IMAGE_SIZES", "Generator", "Discriminator", "build_models"]

IMAGE_SIZES = (28, 32, 64)


def _layout(image_size: int) -> tuple[int, int]:
    """(base resolution, number of stride-2 stages) so that base * 2**stages == image_size."""
    if image_size not in IMAGE_SIZES:
        raise DPKitError(f"image_size={image_size} is not supported by the DCGAN; use one of "
                         f"image_size={', '.join(map(str, IMAGE_SIZES))}")
    base = 7 if image_size == 28 else 4
    return base, int(round(math.log2(image_size // base)))


def _groups(channels: int) -> int:
    """Number of GroupNorm groups: 32 at most, each group holding at least 4 channels."""
    for g in (32, 16, 8, 4, 2):
        if channels % g == 0 and channels // g >= 4:
            return g
    return 1


class Generator(nn.Module):
    """DCGAN generator: latent (B, Z) -> images (B, C, S, S) in [-1, 1] (tanh).

    A projection to (width * 2**(k-1), base, base) with a transposed convolution, then k-1
    stride-2 transposed convolutions that double the resolution and halve the width, and a last
    one to C channels. BatchNorm is used between layers: the generator never sees private data
    (its gradient comes only through the discriminator's private-trained weights on generated
    images), so batch statistics over generated images leak nothing and DP allows any
    normalization here.

    Args:
        latent_dim: Z, size of the latent vector.
        channels: C, 1 or 3.
        image_size: S, 28, 32 or 64.
        width: channels of the last hidden layer (DCGAN's ``ngf``).
    """

    def __init__(self, *, latent_dim: int = 100, channels: int = 1, image_size: int = 32,
                 width: int = 64) -> None:
        super().__init__()
        require(channels in (1, 3), f"channels={channels} must be 1 or 3")
        require(latent_dim >= 1 and width >= 1, "latent dim and width must be >= 1")
        base, stages = _layout(image_size)
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        ch = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim, ch, base, 1, 0, bias=False),
                                   nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], self.latent_dim, 1, 1))  # (B, C, S, S)


class Discriminator(nn.Module):
    """DCGAN discriminator with GroupNorm: images (B, C, S, S) -> logits (B,).

    Stride-2 convolutions halve the resolution down to ``base`` (4, or 7 for 28 px), each followed
    by GroupNorm (not on the first layer, as in DCGAN) and LeakyReLU(0.2); a last convolution over
    the whole base map gives one logit. GroupNorm normalizes each example on its own, so
    per-example gradients stay per-example and DP-SGD's clipping bounds each example's influence.

    Args:
        channels: C, 1 or 3.
        image_size: S, 28, 32 or 64.
        width: channels of the first layer (DCGAN's ``ndf``).
    """

    def __init__(self, *, channels: int = 1, image_size: int = 32, width: int = 64) -> None:
        super().__init__()
        require(channels in (1, 3), f"channels={channels} must be 1 or 3")
        require(width >= 1, "width must be >= 1")
        base, stages = _layout(image_size)
        self.channels, self.image_size = channels, image_size
        layers: list[nn.Module] = [nn.Conv2d(channels, width, 4, 2, 1),
                                   nn.LeakyReLU(0.2, inplace=False)]
        ch = width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                       nn.GroupNorm(_groups(ch * 2), ch * 2), nn.LeakyReLU(0.2, inplace=False)]
            ch *= 2
        layers += [nn.Conv2d(ch, 1, base, 1, 0)]
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).view(x.shape[0])  # (B,)


def _dcgan_init(m: nn.Module) -> None:
    """DCGAN initialization: N(0, 0.02) convolutions, N(1, 0.02) normalization scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_models(*, latent_dim: int, channels: int, image_size: int, g_width: int,
                 d_width: int) -> tuple[Generator, Discriminator]:
    """A generator and a discriminator that fit together."""
    return (Generator(latent_dim=latent_dim, channels=channels, image_size=image_size,
                      width=g_width),
            Discriminator(channels=channels, image_size=image_size, width=d_width))
