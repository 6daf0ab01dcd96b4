"""scikit-learn's bundled handwritten digits (1,797 8×8 images): the embedded default, no download."""

from __future__ import annotations

from pathlib import Path

import torch
from sklearn.datasets import load_digits

from dpkit.data.sources import RawSplit

__all__ = ["load_digits_split", "DIGITS_TEST_SIZE"]

DIGITS_TEST_SIZE = 297  # fixed split: 1,500 training and 297 test images


def load_digits_split(split: str, *, root: Path | None = None, download: bool = False) -> RawSplit:
    """The fixed train (1,500) / test (297) split of sklearn's digits, as uint8 (N, 1, 8, 8)."""

    data = load_digits()
    images = torch.from_numpy(data.images).float()  # (1797, 8, 8) in [0, 16]
    images = (images * (255.0 / 16.0)).round().to(torch.uint8).unsqueeze(1)
    labels = torch.from_numpy(data.target).long()
    perm = torch.randperm(images.shape[0], generator=torch.Generator().manual_seed(1797))
    idx = perm[DIGITS_TEST_SIZE:] if split == "train" else perm[:DIGITS_TEST_SIZE]
    idx = idx.sort().values
    return RawSplit(images[idx], labels[idx])
