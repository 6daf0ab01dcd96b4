"""Generating images from a trained generator, and exporting them for other tools."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from torch import nn

from dpkit.data.tensors import to_uint8  # re-exported: dpkit.gan.sampling.to_uint8 predates it
from dpkit.engine import check_new_run_dir, create_run_dir
from dpkit.errors import require
from dpkit.gan.loading import load_gan
from dpkit.gan.models import balanced_labels, run_generator
from dpkit.names import SAMPLE_FORMATS

__all__ = ["generate", "sample_labels", "to_uint8", "export_png", "export_npz", "SampleExport",
           "sample_run", "SAMPLE_FORMATS"]

def _check_counts(n: int, batch_size: int, name: str = "n") -> None:
    require(n >= 1, f"{name}={n} must be >= 1")
    require(batch_size >= 1, f"batch_size={batch_size} must be >= 1")


def sample_labels(n: int, num_classes: int, label: int | None = None) -> torch.Tensor | None:
    """Labels for ``n`` generated images: all ``label``, or balanced over the K classes (the
    uniform public prior); None for an unconditional generator."""
    if not num_classes:
        require(label is None, f"label={label}: the generator is not class-conditional, it "
                               f"cannot generate a given class; omit the class")
        return None
    if label is None:
        return balanced_labels(n, num_classes)
    require(0 <= label < num_classes,
            f"label={label} is out of range for this generator's classes (0..{num_classes - 1})")
    return torch.full((n,), label, dtype=torch.long)


@torch.no_grad()
def generate(generator: nn.Module, n: int, *, latent_dim: int, seed: int,
             device: torch.device | str = "cpu", batch_size: int = 256,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """Draw ``n`` images from ``generator`` (in eval mode), reproducibly.

    Latents z ~ N(0, I) are drawn on the CPU from a generator seeded with ``seed``, so the images
    are the same on every device.

    Args:
        generator: maps latents (B, Z) (and labels (B,) when conditional) to images
            (B, C, H, W) in [-1, 1].
        n: number of images.
        latent_dim: Z.
        seed: seed of the latent draws.
        device: where to run the generator.
        batch_size: latents per forward pass.
        labels: (n,) class of each image for a conditional generator (see
            :func:`sample_labels`); None: balanced over the classes.

    Returns:
        Float tensor (n, C, H, W) in [-1, 1], on the CPU.
    """
    _check_counts(n, batch_size)
    require(labels is None or labels.shape == (n,), f"labels must have shape ({n},)")
    if labels is None and getattr(generator, "num_classes", 0):
        labels = balanced_labels(n, generator.num_classes)  # over all n, not per batch
    was_training = generator.training
    generator.eval()
    rng = torch.Generator().manual_seed(seed)
    chunks = []
    try:
        for start in range(0, n, batch_size):
            z = torch.randn(min(batch_size, n - start), latent_dim, generator=rng)  # (b, Z)
            y = None if labels is None else labels[start:start + len(z)].to(device)  # (b,)
            chunks.append(run_generator(generator, z.to(device), y).clamp_(-1, 1).cpu())
    finally:
        generator.train(was_training)
    return torch.cat(chunks)


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


def export_npz(images: torch.Tensor, path: str | Path,
               labels: torch.Tensor | None = None) -> Path:
    """Write images (N, C, H, W) in [-1, 1] to ``path`` as key ``images``: uint8 (N, C, H, W),
    and their classes as key ``labels`` (int64 (N,)) when given."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = {"images": to_uint8(images).numpy()}
    if labels is not None:
        arrays["labels"] = labels.numpy()
    np.savez_compressed(path, **arrays)
    return path


@dataclass(frozen=True)
class SampleExport:
    """What :func:`sample_run` wrote (``dpkit sample --json``)."""

    out: Path
    path: Path
    n: int
    format: str
    shape: tuple[int, ...]
    source_run: Path
    checkpoint_epoch: int
    seed: int
    label: int | None = None  # the class asked for (None: balanced over the classes, or none)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "path": str(self.path), "n": self.n, "format": self.format,
                "shape": list(self.shape), "source_run": str(self.source_run),
                "checkpoint_epoch": self.checkpoint_epoch, "seed": self.seed,
                "class": self.label}

    def summary(self) -> str:
        what = f" of class {self.label}" if self.label is not None else ""
        return (f"wrote {self.n} images{what} {self.shape} as {self.format} to {self.path} "
                f"(generator of {self.source_run}, epoch {self.checkpoint_epoch})")


def sample_run(run_dir: str | Path, *, num_samples: int, out: str | Path | None = None,
               fmt: str = "png",
               batch_size: int = 256, seed: int = 0, device: torch.device | str = "cpu",
               label: int | None = None) -> SampleExport:
    """Generate ``num_samples`` images from a ``train-gan`` run's generator into a fresh directory
    (``OUT/images/000000.png ...`` or ``OUT/samples.npz``, plus ``OUT/config.json``).

    ``label`` asks a class-conditional generator for one class (default: balanced over the
    classes; npz files then also hold ``labels``). Everything is checked before the directory
    is created: a refused request leaves nothing.
    """
    n = num_samples
    _check_counts(n, batch_size, "num_samples")  # before loading anything
    require(fmt in SAMPLE_FORMATS, f"fmt={fmt!r} must be one of {', '.join(SAMPLE_FORMATS)}")
    check_new_run_dir(out)
    gan = load_gan(run_dir, device=device, load_data=False)
    labels = sample_labels(n, gan.num_classes, label)
    images = generate(gan.generator, n, latent_dim=gan.latent_dim, seed=seed, device=device,
                      batch_size=batch_size, labels=labels)  # (n, C, H, W)
    target = create_run_dir("sample", out)
    path = target.file("samples.npz") if fmt == "npz" else target.file("images")
    if fmt == "npz":
        export_npz(images, path, labels=labels)
    else:
        export_png(images, path)
    result = SampleExport(out=target.path, path=path, n=n, format=fmt,
                          shape=tuple(images.shape[1:]), source_run=gan.run_dir,
                          checkpoint_epoch=gan.epoch, seed=seed, label=label)
    target.write_config({"command": "sample", **result.to_dict()})
    return result
