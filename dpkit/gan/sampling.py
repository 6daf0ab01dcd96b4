"""Generating images from a trained generator, and exporting them for other tools."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn

from dpkit.errors import require

__all__ = ["generate", "to_uint8", "export_png", "export_npz"]


@torch.no_grad()
def generate(generator: nn.Module, n: int, *, latent_dim: int, seed: int,
             device: torch.device | str = "cpu", batch_size: int = 256) -> torch.Tensor:
    """Draw ``n`` images from ``generator`` (in eval mode), reproducibly.

    Latents z ~ N(0, I) are drawn on the CPU from a generator seeded with ``seed``, so the images
    are the same on every device.

    Args:
        generator: maps latents (B, Z) to images (B, C, H, W) in [-1, 1].
        n: number of images.
        latent_dim: Z.
        seed: seed of the latent draws.
        device: where to run the generator.
        batch_size: latents per forward pass.

    Returns:
        Float tensor (n, C, H, W) in [-1, 1], on the CPU.
    """
    require(n >= 1, f"--n {n} must be >= 1")
    require(batch_size >= 1, f"batch size {batch_size} must be >= 1")
    was_training = generator.training
    generator.eval()
    rng = torch.Generator().manual_seed(seed)
    chunks = []
    try:
        for start in range(0, n, batch_size):
            z = torch.randn(min(batch_size, n - start), latent_dim, generator=rng)  # (b, Z)
            chunks.append(generator(z.to(device)).clamp_(-1, 1).cpu())  # (b, C, H, W)
    finally:
        generator.train(was_training)
    return torch.cat(chunks)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float (N, C, H, W) in [-1, 1] -> uint8 (N, C, H, W) in [0, 255]."""
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def export_png(images: torch.Tensor, folder: str | Path) -> list[Path]:
    """Write each image (N, C, H, W) in [-1, 1] as ``folder/000000.png``, ... (L or RGB)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = to_uint8(images).permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
    width = max(6, len(str(len(arr) - 1)))
    paths = []
    for i, img in enumerate(arr):
        path = folder / f"{i:0{width}d}.png"
        Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(path)
        paths.append(path)
    return paths


def export_npz(images: torch.Tensor, path: str | Path) -> Path:
    """Write images (N, C, H, W) in [-1, 1] to ``path`` as key ``images``: uint8 (N, C, H, W)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, images=to_uint8(images).numpy())
    return path
