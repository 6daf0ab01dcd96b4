"""ScatterNet features (Oyallon & Mallat 2015, arXiv:1412.8659) for DP training on handcrafted
features (Tramèr & Boneh 2021, arXiv:2011.11660): computed once per dataset split, cached on disk.

The scattering transform is fixed (no parameter is learned from data), so it is computed outside
the DP loop and costs no privacy; DP-SGD then trains a small head on the cached features.
As in Tramèr & Boneh's code, images enter the transform in [0, 1] (dpkit's [-1, 1] is mapped
back), with J = 2 and L = 8: a (C, H, W) image becomes (81·C, H/4, W/4) features.

A cache file stores, with the features, what they were computed from (dataset, split, J, L,
input shape and a SHA-256 of the input images); a file whose record does not match the images at
hand is recomputed and overwritten, never trusted silently.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import scipy.special
import torch
from torch import nn

from dpkit.data import ImageTensorDataset
from dpkit.errors import require

if not hasattr(scipy.special, "sph_harm"):  # kymatio 0.3 imports it (3-D scattering, unused
    # here); SciPy 1.17 only has sph_harm_y, with the degree/order and the angles swapped
    scipy.special.sph_harm = (  # type: ignore[attr-defined]
        lambda m, n, theta, phi: scipy.special.sph_harm_y(n, m, phi, theta))
from kymatio.torch import Scattering2D  # noqa: E402

__all__ = ["ScatteringParams", "FeatureDataset", "scattering_transform", "scatter_images",
           "cached_features", "cache_dir_for", "CACHE_ENV"]

CACHE_ENV = "DPKIT_CACHE"  # overrides ~/.cache/dpkit when set
_CHUNK = 1024


@dataclass(frozen=True)
class ScatteringParams:
    """The scattering transform: J scales (features are H/2^J x W/2^J), L angles."""

    J: int = 2
    L: int = 8

    def __post_init__(self) -> None:
        require(self.J >= 1, f"J={self.J} must be >= 1")
        require(self.L >= 1, f"L={self.L} must be >= 1")

    def channels(self, in_channels: int) -> int:
        """K = C·(1 + J·L + L²·J(J−1)/2): 81 per input channel for J = 2, L = 8."""
        j, l = self.J, self.L
        return in_channels * (1 + j * l + l * l * j * (j - 1) // 2)

    def feature_shape(self, in_channels: int, image_size: int) -> tuple[int, int, int]:
        s = image_size // 2 ** self.J
        return (self.channels(in_channels), s, s)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class FeatureDataset(torch.utils.data.Dataset):
    """Precomputed float features (N, K, h, w) and labels; the image datasets' batch interface
    (``__getitems__``, ``labels``, ``shape``, ``subset``, ``tensors``)."""

    def __init__(self, features: torch.Tensor, labels: torch.Tensor) -> None:
        require(features.shape[0] == labels.shape[0], "features and labels differ in length")
        self.features = features
        self.labels = labels.long()

    def __len__(self) -> int:
        return self.features.shape[0]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features[i], self.labels[i]

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.as_tensor(indices, dtype=torch.long)
        return self.features[idx], self.labels[idx]

    def tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self.features, self.labels

    def subset(self, indices: torch.Tensor) -> "FeatureDataset":
        return FeatureDataset(self.features[indices], self.labels[indices])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.features.shape[1:])


def scattering_transform(image_size: int, params: ScatteringParams) -> nn.Module:
    """kymatio's Scattering2D for (size, size) inputs (no trainable parameters)."""
    require(image_size % 2 ** params.J == 0 and image_size >= 2 ** (params.J + 2),
            f"image_size={image_size} must be a multiple of {2 ** params.J} and at least "
            f"{2 ** (params.J + 2)} for the scattering transform (J={params.J}); use "
            f"image_size=28 or 32")
    return Scattering2D(J=params.J, shape=(image_size, image_size), L=params.L)


def scatter_images(images: torch.Tensor, transform: nn.Module) -> torch.Tensor:
    """Images (B, C, H, W) in [-1, 1] -> features (B, K, H/2^J, W/2^J); K = 81·C for J=2, L=8."""
    b, c, h, w = images.shape
    x = (images + 1) / 2  # (B, C, H, W) in [0, 1], as in Tramèr & Boneh
    out = transform(x.contiguous())  # (B, C, K/C, h, w)
    return out.reshape(b, -1, out.shape[-2], out.shape[-1])  # (B, K, h, w)


def _fingerprint(ds: ImageTensorDataset) -> str:
    h = hashlib.sha256()
    h.update(str(tuple(ds.images.shape)).encode())
    h.update(ds.images.contiguous().numpy().tobytes())
    return h.hexdigest()


def cache_dir_for(data_root: str | None) -> Path:
    """Where features are cached: DATA_ROOT/scattering when a data root is given, else
    $DPKIT_CACHE/scattering or ~/.cache/dpkit/scattering."""
    if data_root is not None:
        return Path(data_root) / "scattering"
    base = os.environ.get(CACHE_ENV)
    return (Path(base) if base else Path.home() / ".cache" / "dpkit") / "scattering"


def cached_features(ds: ImageTensorDataset, *, params: ScatteringParams,
                    cache_dir: str | Path | None, name: str = "data",
                    split: str = "train") -> FeatureDataset:
    """The scattering features of every image of ``ds`` (with its labels), read from
    ``cache_dir`` when a file there was computed from exactly these images and parameters, else
    computed (in chunks, no gradients) and written there.

    Args:
        ds: images (N, C, H, W).
        params: J and L.
        cache_dir: folder of cache files; None computes without caching.
        name, split: name the cache file (``{name}-{split}-n{N}-{C}x{H}-J{J}-L{L}.pt``).

    Returns:
        A :class:`FeatureDataset` of (N, K, H/2^J, W/2^J) float32 features.
    """
    n = len(ds)
    c, h, _ = ds.shape
    record = {"name": name, "split": split, "params": params.to_dict(),
              "images_shape": [n, c, h, h], "sha256": _fingerprint(ds)}
    path = None
    if cache_dir is not None:
        path = Path(cache_dir) / f"{name}-{split}-n{n}-{c}x{h}-J{params.J}-L{params.L}.pt"
        if path.is_file():
            try:
                stored = torch.load(path, map_location="cpu", weights_only=True)
                feats = stored["features"]
                if (stored.get("record") == record
                        and tuple(feats.shape) == (n, *params.feature_shape(c, h))):
                    return FeatureDataset(feats, ds.labels)
            except Exception:  # an unreadable file is recomputed like a stale one
                pass
            warnings.warn(f"scattering cache {path} does not match these images or parameters; "
                          f"recomputing it")
    transform = scattering_transform(h, params)
    images, labels = ds.tensors()
    with torch.no_grad():
        feats = (torch.cat([scatter_images(images[i:i + _CHUNK], transform)
                            for i in range(0, n, _CHUNK)]) if n
                 else torch.empty(0, *params.feature_shape(c, h)))
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        torch.save({"record": record, "features": feats}, tmp)
        tmp.replace(path)
    return FeatureDataset(feats, labels)
