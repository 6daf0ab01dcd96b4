"""ScatterNet classifiers of Tramèr & Boneh 2021 (arXiv:2011.11660): a fixed scattering transform,
a normalisation of its features, and a linear model or a small tanh CNN on top.

Normalisations of the (K, h, w) features (K = 81 per input channel):

* ``group``: GroupNorm without affine parameters over groups of channels, per example (the
  paper's "ScatterNet + GroupNorm"); it uses no statistics of the data set, so costs no privacy.
* ``data``: per-channel standardisation with a mean and variance estimated from the private
  training set with the Gaussian mechanism (:func:`dp_feature_statistics`); its privacy cost is
  composed with DP-SGD's in the run's ε (see :func:`normalization_mechanisms`).
* ``none``: the raw features.

Training runs on the head (:class:`ScatterHead`) over cached features; the saved model
(:class:`ScatterNet`) is the transform plus the head and takes images, like every dpkit
classifier. The transform holds no state worth saving: only the head is in ``state_dict()``.
"""

from __future__ import annotations

import torch
from torch import nn

from dpkit.classifiers.scattering import ScatteringParams, scatter_images, scattering_transform
from dpkit.engine import RandomSource
from dpkit.errors import require
from dpkit.names import SCATTER_HEADS, SCATTER_NORMS

__all__ = ["SCATTER_HEADS", "SCATTER_NORMS", "MEAN_CLIP", "SQUARE_CLIP", "NORM_NOISE_MULTIPLIER",
           "FeatureStandardize",
           "ScatterHead", "ScatterNet", "dp_feature_statistics", "normalization_mechanisms"]

# Clipping bounds (L2, per example) of the two statistics of ``data`` normalisation: the
# per-channel spatial means and mean squares of the 81 features of a 28 px grayscale image in
# [0, 1]. Fixed public constants, the 90% quantiles of the per-example norms on the embedded
# ``digits`` (resized to 28 px; a public stand-in, not the private data; medians 0.32 and 0.17,
# maxima 0.43 and 0.31). The paper's code takes the median over the private data, which leaks.
MEAN_CLIP = 0.36
SQUARE_CLIP = 0.22
# σ of the Gaussian noise on each statistic, in units of its clipping bound (the paper's
# bn_noise_multiplier = 8)
NORM_NOISE_MULTIPLIER = 8.0


def normalization_mechanisms(noise_multiplier: float) -> list[tuple[float, float, int]]:
    """The accountant history of the ``data`` normalisation: two Gaussian mechanisms (the
    clipped sums of the means and of the mean squares) over the whole data set (q = 1), each
    with noise multiplier σ_norm, as (σ, q, steps) entries that Opacus's accountants compose
    with DP-SGD's steps."""
    return [(noise_multiplier, 1.0, 2)]


def _clip_rows(v: torch.Tensor, bound: float) -> torch.Tensor:  # (N, K) -> (N, K), ‖row‖ ≤ bound
    norms = v.norm(dim=1, keepdim=True)
    return v * (bound / (norms + 1e-12)).clamp(max=1.0)


@torch.no_grad()
def dp_feature_statistics(features: torch.Tensor, *, noise_multiplier: float | None,
                          source: RandomSource | None, mean_clip: float = MEAN_CLIP,
                          square_clip: float = SQUARE_CLIP
                          ) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and variance of features (N, K, h, w), with DP.

    Each example contributes its per-channel spatial means m_i (K,) and mean squares s_i (K,),
    clipped to L2 norms ``mean_clip`` and ``square_clip``; each clipped sum gets Gaussian noise
    of std σ·bound (sensitivity ``bound`` under adding or removing one example) and is divided by
    N (the data set size, public as in DP-SGD's q = B/N). var = max(E[s] − E[m]², 0).

    ``noise_multiplier=None`` computes the same clipped statistics without noise (training
    without DP). Tramèr & Boneh 2021 (arXiv:2011.11660, the "BN" input normalisation).

    Returns:
        (mean (K,), var (K,)).
    """
    n, k = features.shape[:2]
    flat = features.reshape(n, k, -1)  # (N, K, h·w)
    m = _clip_rows(flat.mean(-1), mean_clip)  # (N, K)
    s = _clip_rows((flat ** 2).mean(-1), square_clip)  # (N, K)
    sum_m, sum_s = m.sum(0), s.sum(0)  # (K,)
    if noise_multiplier is not None:
        assert source is not None, "DP statistics need a noise source"
        sum_m = sum_m + source.gaussian(sum_m.shape, noise_multiplier * mean_clip,
                                        device=sum_m.device, dtype=sum_m.dtype)
        sum_s = sum_s + source.gaussian(sum_s.shape, noise_multiplier * square_clip,
                                        device=sum_s.device, dtype=sum_s.dtype)
    mean = sum_m / max(n, 1)
    var = (sum_s / max(n, 1) - mean ** 2).clamp(min=0)
    return mean, var


class FeatureStandardize(nn.Module):
    """(x − mean_c) / sqrt(var_c + 1e-5) per channel, 0 where var_c = 0; mean and var are buffers
    (set once from DP statistics, never trained)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("var", torch.ones(channels))

    def set_statistics(self, mean: torch.Tensor, var: torch.Tensor) -> None:
        self.mean.copy_(mean)
        self.var.copy_(var)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, K, h, w) -> (B, K, h, w)
        mean, var = self.mean.view(1, -1, 1, 1), self.var.view(1, -1, 1, 1)
        return (x - mean) / torch.sqrt(var + 1e-5) * (var != 0).to(x.dtype)


def _make_feature_norm(norm: str, channels: int, groups: int) -> nn.Module:
    require(norm in SCATTER_NORMS, f"scatter_norm={norm!r} is unknown; choose one of "
                                   f"{', '.join(SCATTER_NORMS)}")
    if norm == "group":
        require(channels % groups == 0, f"scatter_groups={groups} must divide the {channels} "
                                        f"scattering channels, e.g. scatter_groups=27")
        return nn.GroupNorm(groups, channels, affine=False)
    if norm == "data":
        return FeatureStandardize(channels)
    return nn.Identity()


class ScatterHead(nn.Module):
    """What DP-SGD trains on scattering features (B, K, h, w): normalisation, then

    * ``linear``: flatten - Linear(K·h·w, classes);
    * ``cnn`` (Tramèr & Boneh's CNN on ScatterNet features for 28 px images): conv 16@3x3 s2 p1 -
      tanh - conv 32@3x3 s1 p1 - tanh - flatten - fc 32 - tanh - fc.
    """

    def __init__(self, feature_shape: tuple[int, int, int], num_classes: int, *,
                 head: str = "linear", norm: str = "group", groups: int = 27) -> None:
        super().__init__()
        require(head in SCATTER_HEADS, f"head={head!r} is unknown; choose one of "
                                       f"{', '.join(SCATTER_HEADS)}")
        k, h, w = feature_shape
        self.norm = _make_feature_norm(norm, k, groups)
        if head == "linear":
            self.body: nn.Module = nn.Flatten()
            width = k * h * w
        else:
            self.body = nn.Sequential(nn.Conv2d(k, 16, 3, stride=2, padding=1), nn.Tanh(),
                                      nn.Conv2d(16, 32, 3, stride=1, padding=1), nn.Tanh(),
                                      nn.Flatten(), nn.Linear(32 * ((h + 1) // 2) * ((w + 1) // 2),
                                                              32), nn.Tanh())
            width = 32
        self.fc = nn.Linear(width, num_classes)

    def features(self, f: torch.Tensor) -> torch.Tensor:  # (B, K, h, w) -> (B, width)
        return self.body(self.norm(f))

    def forward(self, f: torch.Tensor) -> torch.Tensor:  # (B, K, h, w) -> (B, classes)
        return self.fc(self.features(f))


class ScatterNet(nn.Module):
    """Images (B, C, H, W) in [-1, 1] -> scattering features -> :class:`ScatterHead`.

    Args:
        in_channels, image_size, num_classes: the images and outputs.
        head: "linear" or "cnn".
        norm: "group", "data" or "none" (see the module docstring).
        groups: GroupNorm groups (27 in the paper for 81 channels).
        params: the scattering transform (J = 2, L = 8).
    """

    def __init__(self, in_channels: int, image_size: int, num_classes: int, *,
                 head: str = "linear", norm: str = "group", groups: int = 27,
                 params: ScatteringParams = ScatteringParams()) -> None:
        super().__init__()
        self.params = params
        self.image_size = image_size
        # not a submodule: its fixed filters stay out of state_dict() and Opacus's view
        self._transform = [scattering_transform(image_size, params)]
        self.head = ScatterHead(params.feature_shape(in_channels, image_size), num_classes,
                                head=head, norm=norm, groups=groups)

    def scatter(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, K, h, w)
        t = self._transform[0]
        if next(iter(t.buffers()), torch.empty(0)).device != x.device:
            self._transform[0] = t = t.to(x.device)
        return scatter_images(x, t)

    def features(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, width)
        return self.head.features(self.scatter(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, classes)
        return self.head(self.scatter(x))
