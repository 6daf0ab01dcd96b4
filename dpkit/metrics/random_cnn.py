"""A randomly initialised, fixed-seed CNN: image features that need no training and no download.

Random-network embeddings give meaningful FID-like distances (Naeem et al., "Reliable Fidelity
and Diversity Metrics for Generative Models", ICML 2020, arXiv:2002.09797, the section on random
embeddings). The weights are a pure function of the seed: drawn from a dedicated CPU
``torch.Generator``, never from (and never advancing) the global RNG, so ``random-cnn:SEED``
means the same network on every machine and run. Numbers are comparable only with other
``random-cnn:SEED`` numbers of the same seed and :data:`RANDOM_CNN_VERSION`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["RandomCNN", "RANDOM_CNN_VERSION", "RANDOM_CNN_WIDTHS", "RANDOM_CNN_SIZE",
           "RANDOM_CNN_SLOPE", "MAX_SEED"]

# bump when the architecture or the initialisation changes: cached features then miss
RANDOM_CNN_VERSION = "random-cnn-v2"
RANDOM_CNN_WIDTHS = (64, 128, 256, 512)  # one 3x3 stride-2 conv per width
RANDOM_CNN_SIZE = 32  # input side: 32 -> 16 -> 8 -> 4 -> 2 (the data dpkit trains on is 28-64 px)
RANDOM_CNN_SLOPE = 0.2  # LeakyReLU negative slope
MAX_SEED = 2**63 - 1


class RandomCNN(nn.Module):
    """Four 3x3 stride-2 convolutions (3-64-128-256-512), LeakyReLU(0.2), global average pool.

    No normalisation layer, so a sample's features do not depend on its batch. Weights are
    Kaiming-normal for LeakyReLU(0.2) (std = gain / sqrt(fan_in)), biases zero, drawn in order
    from ``torch.Generator(device='cpu').manual_seed(seed)``.

    Args:
        seed: the network's seed, 0 <= seed <= 2**63 - 1.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        if not 0 <= seed <= MAX_SEED:
            raise ValueError(f"seed={seed} must be in [0, 2**63 - 1]")
        self.seed = seed
        g = torch.Generator(device="cpu").manual_seed(seed)
        gain = math.sqrt(2.0 / (1.0 + RANDOM_CNN_SLOPE ** 2))
        convs = []
        c_in = 3
        for c_out in RANDOM_CNN_WIDTHS:
            # skip_init: no default initialisation, so the global RNG is never drawn from
            conv = nn.utils.skip_init(nn.Conv2d, c_in, c_out, 3, stride=2, padding=1)
            with torch.no_grad():
                std = gain / math.sqrt(c_in * 9)
                conv.weight.copy_(torch.randn(conv.weight.shape, generator=g,
                                              dtype=torch.float32) * std)
                conv.bias.zero_()
            convs.append(conv)
            c_in = c_out
        self.convs = nn.ModuleList(convs)
        self.requires_grad_(False)  # fixed: never trained

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Features (B, 512) of float images (B, 3, 32, 32) in [-1, 1]."""
        for conv in self.convs:
            x = F.leaky_relu(conv(x), RANDOM_CNN_SLOPE)  # (B, C', H/2, W/2)
        return x.mean(dim=(2, 3))  # (B, 512)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)
