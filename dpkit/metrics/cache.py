"""On-disk cache of reference-set features, keyed by (dataset, split, images, extractor).

Evaluating several generators against the same training or test split re-uses the split's
features (and so its FID statistics). The key hashes the reference images themselves and the
extractor's weights, so a different subset, image size or classifier never hits a stale entry.
Default location: ``$XDG_CACHE_HOME/dpkit/features`` (``~/.cache/dpkit/features``).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch

from dpkit.metrics.features import FeatureSpec, extract_features, extractor_identity

__all__ = ["default_cache_dir", "images_identity", "CachedFeatures", "cached_reference_features"]


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/dpkit/features``, falling back to ``~/.cache/dpkit/features``."""
    root = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(root) / "dpkit" / "features"


def images_identity(images: torch.Tensor) -> str:
    """Hash (hex, 16 chars) of a uint8 image tensor's shape and bytes."""
    h = hashlib.sha256(str(tuple(images.shape)).encode())
    h.update(images.contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class CachedFeatures:
    """Reference features (N, D) and where they came from."""

    features: torch.Tensor
    path: Path | None
    hit: bool


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text)[:40]


def cached_reference_features(images: torch.Tensor, extractor: torch.nn.Module, spec: FeatureSpec,
                              *, dataset: str, split: str, cache_dir: str | Path | None = None,
                              use_cache: bool = True, batch_size: int = 256,
                              device: torch.device | str = "cpu",
                              quiet: bool = True) -> CachedFeatures:
    """Features of reference images (uint8 (N, C, H, W)), read from or written to the cache.

    Args:
        images: the reference split's uint8 images.
        extractor: the torch-fidelity extractor built for ``spec``.
        spec: which features (part of the file name, for people browsing the cache).
        dataset, split: names for the file name.
        cache_dir: cache folder (default :func:`default_cache_dir`).
        use_cache: False computes without reading or writing the cache.
        quiet: no progress bar while extracting.
    """
    if not use_cache:
        return CachedFeatures(extract_features(extractor, images, batch_size=batch_size,
                                               device=device, quiet=quiet), None, False)
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    key = f"{images_identity(images)}-{extractor_identity(extractor)}"
    path = root / f"{_slug(dataset)}-{_slug(split)}-{_slug(spec.kind)}-{key}.pt"
    if path.is_file():
        try:
            entry = torch.load(path, map_location="cpu", weights_only=True)
            return CachedFeatures(entry["features"], path, True)
        except (RuntimeError, KeyError, EOFError):  # corrupt entry: recompute
            pass
    feats = extract_features(extractor, images, batch_size=batch_size, device=device,
                             quiet=quiet)
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".tmp{os.getpid()}")
    torch.save({"features": feats, "dataset": dataset, "split": split, "features_name": spec.name},
               tmp)
    tmp.replace(path)  # atomic: a concurrent reader never sees half a file
    return CachedFeatures(feats, path, False)
