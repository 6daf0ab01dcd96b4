"""DCGAN generator and discriminator (Radford et al. 2015, arXiv:1511.06434) for DP training.

Both can be class-conditional (``num_classes`` > 0): the generator takes (z, y) with the one-hot
label appended to z (Mirza & Osindero 2014, arXiv:1411.1784); the discriminator sees (x, y)
either as one-hot *label maps* stacked onto the image channels (``conditioning="labelmap"``, the
design of Bie et al.'s DP-GAN code, alexbie98/dpgan-revisit) or through a *projection* term
``<embed(y), h(x)>`` added to the logit (Miyato & Koyama 2018, arXiv:1802.05637). Either way
the label enters the discriminator through ordinary per-example layers (a convolution or an
embedding), so DP-SGD's per-example clipping bounds the influence of the whole record (x, y).

Only the discriminator sees private data, so only it must be trainable with per-example gradients:
it uses GroupNorm (per-example statistics) and never BatchNorm. The generator is trained only
through the discriminator's output on generated images; it never touches a private example, so its
BatchNorm layers (statistics over *generated* batches) cost no privacy.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from dpkit.errors import DPKitError, require
from dpkit.names import CONDITIONINGS

__all__ = ["IMAGE_SIZES", "CONDITIONINGS", "Generator", "Discriminator", "build_models",
           "balanced_labels", "run_generator"]

IMAGE_SIZES = (28, 32, 64)


def balanced_labels(n: int, num_classes: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """Labels 0, 1, ..., K-1, 0, 1, ... (n of them): the uniform public class prior, balanced.

    The labels of generated images are not private: they come from this public prior, never
    from the private label histogram (which would need its own DP release and accounting).
    """
    return torch.arange(n, device=device) % num_classes  # (n,)


def run_generator(generator: nn.Module, z: torch.Tensor,
                  y: torch.Tensor | None = None) -> torch.Tensor:
    """``generator(z)``, or ``generator(z, y)`` given labels: any module that maps latents to
    images works, class-conditional (dpkit's :class:`Generator`) or not (one taking z only)."""
    return generator(z) if y is None else generator(z, y)


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
        num_classes: K > 0 makes it class-conditional: the one-hot label is appended to z.
    """

    def __init__(self, *, latent_dim: int = 100, channels: int = 1, image_size: int = 32,
                 width: int = 64, num_classes: int = 0) -> None:
        super().__init__()
        require(channels in (1, 3), f"channels={channels} must be 1 or 3")
        require(latent_dim >= 1 and width >= 1, "latent dim and width must be >= 1")
        require(num_classes >= 0, f"num_classes={num_classes} must be >= 0")
        base, stages = _layout(image_size)
        self.latent_dim, self.channels, self.image_size = latent_dim, channels, image_size
        self.num_classes = num_classes
        ch = width * 2 ** (stages - 1)
        layers: list[nn.Module] = [nn.ConvTranspose2d(latent_dim + num_classes, ch, base, 1, 0,
                                                      bias=False),
                                   nn.BatchNorm2d(ch), nn.ReLU(True)]
        for _ in range(stages - 1):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False),
                       nn.BatchNorm2d(ch // 2), nn.ReLU(True)]
            ch //= 2
        layers += [nn.ConvTranspose2d(ch, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(_dcgan_init)

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Images (B, C, S, S) from latents z (B, Z) and, when conditional, labels y (B,);
        y = None gives :func:`balanced_labels` (the uniform public prior)."""
        if self.num_classes:
            if y is None:
                y = balanced_labels(z.shape[0], self.num_classes, z.device)
            z = torch.cat([z, F.one_hot(y, self.num_classes).to(z.dtype)], 1)  # (B, Z + K)
        return self.net(z.view(z.shape[0], -1, 1, 1))  # (B, C, S, S)


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
        num_classes: K > 0 makes it class-conditional (it then needs the labels).
        conditioning: ``"labelmap"`` (K one-hot channels stacked onto the image) or
            ``"projection"`` (logit + <embed(y), sum-pooled last features>).
    """

    def __init__(self, *, channels: int = 1, image_size: int = 32, width: int = 64,
                 num_classes: int = 0, conditioning: str = "labelmap") -> None:
        super().__init__()
        require(channels in (1, 3), f"channels={channels} must be 1 or 3")
        require(width >= 1, "width must be >= 1")
        require(num_classes >= 0, f"num_classes={num_classes} must be >= 0")
        require(conditioning in CONDITIONINGS,
                f"conditioning={conditioning!r} must be one of {', '.join(CONDITIONINGS)}")
        base, stages = _layout(image_size)
        self.channels, self.image_size = channels, image_size
        self.num_classes, self.conditioning = num_classes, conditioning
        label_maps = num_classes if num_classes and conditioning == "labelmap" else 0
        layers: list[nn.Module] = [nn.Conv2d(channels + label_maps, width, 4, 2, 1),
                                   nn.LeakyReLU(0.2, inplace=False)]
        ch = width
        for _ in range(stages - 1):
            layers += [nn.Conv2d(ch, ch * 2, 4, 2, 1, bias=False),
                       nn.GroupNorm(_groups(ch * 2), ch * 2), nn.LeakyReLU(0.2, inplace=False)]
            ch *= 2
        # the last layer (one logit over the base map) stays in ``net``: checkpoint keys unchanged
        self.net = nn.Sequential(*layers, nn.Conv2d(ch, 1, base, 1, 0))
        self.embed = (nn.Embedding(num_classes, ch)
                      if num_classes and conditioning == "projection" else None)
        self.apply(_dcgan_init)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (B,) of images x (B, C, S, S) with, when conditional, their labels y (B,)."""
        if self.num_classes:
            require(y is not None, "a class-conditional discriminator needs the labels")
            assert y is not None
            if self.embed is None:  # label maps: one-hot channels, constant over the image
                maps = F.one_hot(y, self.num_classes).to(x.dtype)  # (B, K)
                x = torch.cat([x, maps[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        h = self.net[:-1](x)  # (B, ch, base, base)
        out = self.net[-1](h).view(x.shape[0])  # (B,)
        if self.embed is not None:
            out = out + (self.embed(y) * h.sum((2, 3))).sum(1)  # projection term
        return out


def _dcgan_init(m: nn.Module) -> None:
    """DCGAN initialization: N(0, 0.02) convolutions, N(1, 0.02) normalization scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.Embedding):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def build_models(*, latent_dim: int, channels: int, image_size: int, g_width: int,
                 d_width: int, num_classes: int = 0,
                 conditioning: str = "labelmap") -> tuple[Generator, Discriminator]:
    """A generator and a discriminator that fit together (class-conditional if K > 0)."""
    return (Generator(latent_dim=latent_dim, channels=channels, image_size=image_size,
                      width=g_width, num_classes=num_classes),
            Discriminator(channels=channels, image_size=image_size, width=d_width,
                          num_classes=num_classes, conditioning=conditioning))
