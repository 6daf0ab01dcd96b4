"""A dpkit generator as torch-fidelity's ``GenerativeModelBase``.

For calling ``torch_fidelity.calculate_metrics`` directly on a generator (torch-fidelity then
draws the latents itself, from its own seeded numpy RNG):

    calculate_metrics(input1=FidelityGenerator(gan.generator, gan.latent_dim),
                      input1_model_num_samples=10000, input2=UInt8Images(ref), fid=True,
                      feature_extractor="dpkit-classifier", feature_extractor_weights_path=RUN)
"""

from __future__ import annotations

import torch
from torch import nn
from torch_fidelity import GenerativeModelBase

from dpkit.data.tensors import to_uint8

__all__ = ["FidelityGenerator"]


class FidelityGenerator(GenerativeModelBase):
    """Latents z (B, Z) ~ N(0, I) -> uint8 images (B, C, H, W), as torch-fidelity expects."""

    def __init__(self, generator: nn.Module, latent_dim: int) -> None:
        super().__init__()
        self.generator = generator.eval()
        self._latent_dim = int(latent_dim)

    @property
    def z_size(self) -> int:
        return self._latent_dim

    @property
    def z_type(self) -> str:
        return "normal"

    @property
    def num_classes(self) -> int:
        return 0

    @torch.no_grad()
    def forward(self, z: torch.Tensor) -> torch.Tensor:  # (B, Z) -> (B, C, H, W) uint8
        return to_uint8(self.generator(z))
