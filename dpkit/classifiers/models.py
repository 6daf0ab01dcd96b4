"""Classifier architectures for DP training; every one has ``features(x)`` (penultimate layer).

* ``cnn``: the tanh CNN of Tramèr & Boneh 2021 (arXiv:2011.11660, Table 9; also Papernot et al.
  2020, arXiv:2007.14191) for 28x28 and 32x32 images.
* ``mlp``: a fully connected ReLU network; with ``bias=False`` it is positively homogeneous, as the
  dataset-reconstruction attack of Haim et al. 2022 (arXiv:2206.07758) requires.
* ``scatternet-linear``, ``scatternet-cnn``: a linear model or a small CNN on fixed ScatterNet
  features (Tramèr & Boneh 2021, arXiv:2011.11660); see :mod:`dpkit.classifiers.scatternet`.
* ``resnet``: a small pre-activation ResNet with GroupNorm (De et al. 2022, arXiv:2204.13650 use
  the same ingredients: GroupNorm and weight standardization) for CIFAR-10-like inputs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import nn

from dpkit.classifiers.norms import NORMS, WSConv2d, make_norm
from dpkit.classifiers.scatternet import NORM_NOISE_MULTIPLIER, ScatterNet
from dpkit.errors import DPKitError, require
from dpkit.names import ARCHITECTURES, SCATTER_NORMS, SCATTERNET_ARCHITECTURES

__all__ = ["ARCHITECTURES", "SCATTERNET_ARCHITECTURES", "DEFAULT_IMAGE_SIZE", "MIN_IMAGE_SIZE",
           "ModelConfig", "TramerBonehCNN", "MLP", "GroupNormResNet", "build_model"]


@dataclass(frozen=True)
class ModelConfig:
    """Which network to build.

    Attributes:
        arch: "cnn", "mlp" or "resnet".
        norm: "none", "group" or "public-bn" (statistics from public data only).
        weight_standardization: standardize conv weights (cnn, resnet).
        bias: biases in the mlp's layers (False makes it homogeneous).
        hidden: the mlp's hidden widths.
        width: the resnet's base width (stages have width, 2*width, 4*width channels).
        groups: GroupNorm groups.
        scatter_norm: scatternet models: how the scattering features are normalised, "group"
            (GroupNorm per example, no privacy cost), "data" (DP statistics of the private
            training set, composed into the run's ε) or "none".
        scatter_groups: scatternet models: GroupNorm groups over the 81·C feature channels.
        norm_noise_multiplier: scatternet models with scatter_norm="data": σ of the Gaussian
            noise on the statistics, in units of their clipping bounds.
        init_scale: every parameter's default PyTorch initialisation is multiplied by this
            after construction; a small value (e.g. 0.01) trains a homogeneous mlp from a small
            initialisation, as the reconstruction attack of Haim et al. 2022
            (arXiv:2206.07758) assumes. It does not change the architecture.
    """

    arch: str = "cnn"
    norm: str = "none"
    weight_standardization: bool = False
    bias: bool = True
    hidden: tuple[int, ...] = (256, 256)
    width: int = 16
    groups: int = 8
    init_scale: float = 1.0
    scatter_norm: str = "group"
    scatter_groups: int = 27
    norm_noise_multiplier: float = NORM_NOISE_MULTIPLIER

    def __post_init__(self) -> None:
        require(self.arch in ARCHITECTURES,
                f"arch={self.arch!r} is unknown; choose one of {', '.join(ARCHITECTURES)}")
        require(self.norm in NORMS,
                f"norm={self.norm!r} is unknown; choose one of {', '.join(NORMS)}")
        require(len(self.hidden) >= 1 and all(h >= 1 for h in self.hidden),
                f"hidden={tuple(self.hidden)} must be positive widths, e.g. hidden=(256, 256)")
        require(self.width >= 1, f"width={self.width} must be >= 1")
        require(self.groups >= 1, f"groups={self.groups} must be >= 1")
        require(self.init_scale > 0 and math.isfinite(self.init_scale),
                f"init_scale={self.init_scale} must be > 0, e.g. 0.01 (1 = PyTorch's default)")
        require(self.scatter_norm in SCATTER_NORMS, f"scatter_norm={self.scatter_norm!r} is "
                                                    f"unknown; choose one of "
                                                    f"{', '.join(SCATTER_NORMS)}")
        require(self.scatter_groups >= 1, f"scatter_groups={self.scatter_groups} must be >= 1")
        require(self.norm_noise_multiplier > 0 and math.isfinite(self.norm_noise_multiplier),
                f"norm_noise_multiplier={self.norm_noise_multiplier} must be > 0, e.g. 8")
        if self.is_scatternet:
            require(self.norm == "none" and not self.weight_standardization,
                    f"norm={self.norm!r} / weight_standardization apply to pixel models; a "
                    f"scatternet model normalises its features with scatter_norm (group, data "
                    f"or none)")
        if self.arch == "mlp":
            require(not self.weight_standardization,
                    "weight_standardization=True applies to conv layers; the mlp has none")
        if self.norm != "none" and self.arch == "mlp" and not self.bias:
            raise DPKitError(f"bias=False (a homogeneous mlp) cannot be combined with "
                             f"norm={self.norm!r}; use norm='none'")

    @property
    def is_scatternet(self) -> bool:
        """A head trained on fixed scattering features (computed once, outside DP-SGD)."""
        return self.arch in SCATTERNET_ARCHITECTURES

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelConfig":
        d = dict(d)
        d["hidden"] = tuple(d.get("hidden", (256, 256)))
        return cls(**d)


def _conv(ws: bool, *args: Any, **kwargs: Any) -> nn.Conv2d:
    return (WSConv2d if ws else nn.Conv2d)(*args, **kwargs)


class TramerBonehCNN(nn.Module):
    """conv 16@8x8 s2 p2 - tanh - maxpool 2 s1 - conv 32@4x4 s2 - tanh - maxpool 2 s1 - fc 32 - tanh - fc.

    Args:
        in_channels: image channels.
        image_size: 28 or 32 (any size >= 16 works; the flattened size is computed).
        num_classes: outputs.
        norm: normalization after each conv ("none", "group", "public-bn").
        weight_standardization: use :class:`~dpkit.classifiers.norms.WSConv2d`.
    """

    def __init__(self, in_channels: int, image_size: int, num_classes: int, *, norm: str = "none",
                 weight_standardization: bool = False, groups: int = 8) -> None:
        super().__init__()
        require(image_size >= MIN_IMAGE_SIZE["cnn"],
                f"the cnn needs images of at least 16x16 (got {image_size}x{image_size}); "
                f"use image_size=28")
        ws = weight_standardization
        self.body = nn.Sequential(
            _conv(ws, in_channels, 16, 8, stride=2, padding=2), make_norm(norm, 16, groups=groups),
            nn.Tanh(), nn.MaxPool2d(2, 1),
            _conv(ws, 16, 32, 4, stride=2), make_norm(norm, 32, groups=groups),
            nn.Tanh(), nn.MaxPool2d(2, 1),
            nn.Flatten(),
        )
        self.fc = nn.Sequential(nn.Linear(_flat_size(image_size), 32), nn.Tanh())
        self.head = nn.Linear(32, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 32)
        return self.fc(self.body(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.features(x))


def _flat_size(size: int) -> int:
    s = (size + 4 - 8) // 2 + 1 - 1  # conv 8x8 s2 p2, then maxpool 2 s1
    s = (s - 4) // 2 + 1 - 1  # conv 4x4 s2, then maxpool 2 s1
    return 32 * s * s


class MLP(nn.Module):
    """Flatten - [Linear - (norm) - ReLU] x len(hidden) - Linear.

    Args:
        in_features: C*H*W.
        hidden: hidden widths.
        num_classes: outputs.
        bias: False makes the network positively homogeneous in its parameters.
        norm: normalization of hidden activations ("none", "group", "public-bn").
    """

    def __init__(self, in_features: int, hidden: tuple[int, ...], num_classes: int, *,
                 bias: bool = True, norm: str = "none", groups: int = 8) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        prev = in_features
        for h in hidden:
            layers += [nn.Linear(prev, h, bias=bias), make_norm(norm, h, groups=groups), nn.ReLU()]
            prev = h
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev, num_classes, bias=bias)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, hidden[-1])
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class _Block(nn.Module):
    """Pre-activation basic block: norm-ReLU-conv-norm-ReLU-conv plus a (projected) shortcut."""

    def __init__(self, cin: int, cout: int, stride: int, norm: str, ws: bool, groups: int) -> None:
        super().__init__()
        self.n1 = make_norm(norm, cin, groups=groups)
        self.c1 = _conv(ws, cin, cout, 3, stride=stride, padding=1, bias=False)
        self.n2 = make_norm(norm, cout, groups=groups)
        self.c2 = _conv(ws, cout, cout, 3, padding=1, bias=False)
        self.act = nn.ReLU()
        self.short = (nn.Identity() if stride == 1 and cin == cout
                      else _conv(ws, cin, cout, 1, stride=stride, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.n1(x))
        out = self.c2(self.act(self.n2(self.c1(h))))
        return out + self.short(h)


class GroupNormResNet(nn.Module):
    """A small pre-activation ResNet: stem, three stages of ``depth`` blocks, global pooling.

    Args:
        in_channels, num_classes: input channels and outputs.
        width: channels of the first stage (then 2x, 4x).
        depth: blocks per stage.
        norm: "group" (default for DP), "public-bn" or "none".
        weight_standardization: standardize every conv's weights.
    """

    def __init__(self, in_channels: int, num_classes: int, *, width: int = 16, depth: int = 1,
                 norm: str = "group", weight_standardization: bool = False, groups: int = 8) -> None:
        super().__init__()
        ws = weight_standardization
        blocks: list[nn.Module] = [_conv(ws, in_channels, width, 3, padding=1, bias=False)]
        cin = width
        for stage, cout in enumerate((width, 2 * width, 4 * width)):
            for k in range(depth):
                stride = 2 if stage > 0 and k == 0 else 1
                blocks.append(_Block(cin, cout, stride, norm, ws, groups))
                cin = cout
        blocks += [make_norm(norm, cin, groups=groups), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                   nn.Flatten()]
        self.body = nn.Sequential(*blocks)
        self.head = nn.Linear(cin, num_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, 4*width)
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


# Smallest input each architecture takes, and the size dpkit resizes smaller images to when the
# user gave no --image-size.
MIN_IMAGE_SIZE = {"cnn": 16, "scatternet-linear": 16, "scatternet-cnn": 16}
DEFAULT_IMAGE_SIZE = 28


def build_model(cfg: ModelConfig, *, in_channels: int, image_size: int,
                num_classes: int) -> nn.Module:
    """Build the network ``cfg`` describes for (in_channels, image_size, image_size) inputs,
    with every parameter's default initialisation multiplied by ``cfg.init_scale``."""
    model: nn.Module
    if cfg.arch == "cnn":
        model = TramerBonehCNN(in_channels, image_size, num_classes, norm=cfg.norm,
                               weight_standardization=cfg.weight_standardization,
                               groups=cfg.groups)
    elif cfg.is_scatternet:
        model = ScatterNet(in_channels, image_size, num_classes,
                           head=cfg.arch.removeprefix("scatternet-"), norm=cfg.scatter_norm,
                           groups=cfg.scatter_groups)
    elif cfg.arch == "mlp":
        model = MLP(in_channels * image_size * image_size, cfg.hidden, num_classes,
                    bias=cfg.bias, norm=cfg.norm, groups=cfg.groups)
    else:
        model = GroupNormResNet(in_channels, num_classes, width=cfg.width, norm=cfg.norm,
                                weight_standardization=cfg.weight_standardization,
                                groups=cfg.groups)
    if cfg.init_scale != 1.0:
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(cfg.init_scale)
    return model
