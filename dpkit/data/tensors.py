"""In-memory image datasets: uint8 storage, float batches in [-1, 1], and the two conversions."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

__all__ = ["ImageTensorDataset", "resize_uint8", "to_channels", "to_uint8", "to_unit_range"]


def to_unit_range(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) in [0, 255] -> float32 in [-1, 1]."""
    return images.float().div_(127.5).sub_(1.0)


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Float (N, C, H, W) in [-1, 1] -> uint8 (N, C, H, W) in [0, 255].

    Values outside [-1, 1] are clamped first; the inverse of :func:`to_unit_range` up to rounding.
    """
    return ((images.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def resize_uint8(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bilinear (antialiased) resize of uint8 (N, C, H, W) images to (size, size)."""
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    out = torch.empty(images.shape[0], images.shape[1], size, size, dtype=torch.uint8)
    for start in range(0, images.shape[0], 4096):  # bounded memory
        chunk = images[start:start + 4096].float()
        chunk = F.interpolate(chunk, size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)
        out[start:start + 4096] = chunk.round().clamp_(0, 255).to(torch.uint8)
    return out


def to_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Convert uint8 (N, C, H, W) images to 1 (ITU-R 601 luma) or 3 channels."""
    c = images.shape[1]
    if c == channels:
        return images
    if channels == 1 and c == 3:
        w = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
        return (images.float() * w).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    if channels == 3 and c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    raise ValueError(f"cannot convert {c} channels to {channels}")


class ImageTensorDataset(Dataset):
    """Images (uint8, (N, C, H, W)) and integer labels; items are float in [-1, 1].

    ``__getitems__`` returns a stacked batch, so a DataLoader fetches a whole batch with one
    indexing operation instead of N Python calls.
    """

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError("images must be uint8 of shape (N, C, H, W)")
        if labels.shape[0] != images.shape[0]:
            raise ValueError("images and labels differ in length")
        self.images = images
        self.labels = labels.long()

    def __len__(self) -> int:
        return self.images.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return to_unit_range(self.images[i]), self.labels[i]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return to_unit_range(self.images[idx]), self.labels[idx]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All images as float in [-1, 1] and all labels."""
        return to_unit_range(self.images), self.labels

    def subset(self, indices: torch.Tensor) -> "ImageTensorDataset":
        return ImageTensorDataset(self.images[indices], self.labels[indices])

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.images.shape[1:])  # type: ignore[return-value]
