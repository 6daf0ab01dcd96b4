"""How close a reconstruction is to a training image: SSIM, PSNR, nearest-training-image matching.

SSIM follows Wang et al. 2004 (Gaussian window 11, sigma 1.5, K1 = 0.01, K2 = 0.03) computed over
the reflection-padded image, the same definition as torchmetrics'
``structural_similarity_index_measure``; the window shrinks for tiny images (7 for 8x8 digits). Images are in [-1, 1] (data range 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

__all__ = ["Match", "ssim", "psnr", "pairwise_ssim", "match_to_training", "rescale_per_image"]

DATA_RANGE = 2.0


def _gaussian_window(size: int, sigma: float, channels: int, device: torch.device,
                     dtype: torch.dtype) -> torch.Tensor:
    coords = torch.arange(size, device=device, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-coords ** 2 / (2 * sigma ** 2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()  # (C,1,k,k)


def ssim(a: torch.Tensor, b: torch.Tensor, *, data_range: float = DATA_RANGE,
         low: float = -1.0, kernel_size: int = 11, sigma: float = 1.5) -> torch.Tensor:
    """Structural similarity of image pairs (Wang et al. 2004).

    SSIM's luminance term assumes non-negative intensities, so images are first shifted by
    ``-low`` to [0, data_range] (on [-1, 1] unshifted, a contrast-inverted image would score like
    the right one). The result equals SSIM of the images mapped to [0, 1] with data range 1.

    Args:
        a, b: (N, C, H, W) images in [low, low + data_range] (dpkit: [-1, 1]).
        kernel_size: Gaussian window size; reduced to the largest odd size < min(H, W).

    Returns:
        (N,) SSIM per pair, mean over channels and valid window positions.
    """
    if a.shape != b.shape or a.dim() != 4:
        raise ValueError(f"ssim needs two (N, C, H, W) tensors of one shape, got {tuple(a.shape)} "
                         f"and {tuple(b.shape)}")
    a, b = a.double() - low, b.double() - low  # (N, C, H, W) in [0, data_range]
    k = min(kernel_size, min(a.shape[-2:]) - 1)
    k -= (k + 1) % 2  # odd, and its padding fits reflection
    win = _gaussian_window(k, sigma, a.shape[1], a.device, a.dtype)
    pad = (k - 1) // 2
    a = F.pad(a, (pad, pad, pad, pad), mode="reflect")
    b = F.pad(b, (pad, pad, pad, pad), mode="reflect")
    conv = lambda x: F.conv2d(x, win, groups=a.shape[1])  # noqa: E731
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    mu_a, mu_b = conv(a), conv(b)
    var_a = (conv(a * a) - mu_a ** 2).clamp_min(0)
    var_b = (conv(b * b) - mu_b ** 2).clamp_min(0)
    cov = conv(a * b) - mu_a * mu_b
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1).float()  # (N,)


def psnr(a: torch.Tensor, b: torch.Tensor, *, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of image pairs: (N, ...) x (N, ...) -> (N,)."""
    mse = (a.double() - b.double()).flatten(1).pow(2).mean(1).clamp_min(1e-12)
    return (10 * torch.log10(data_range ** 2 / mse)).float()


def pairwise_ssim(x: torch.Tensor, y: torch.Tensor, *, chunk: int = 4096) -> torch.Tensor:
    """SSIM between every x_i and every y_j: (N, C, H, W) x (M, C, H, W) -> (N, M)."""
    n, m = x.shape[0], y.shape[0]
    ii, jj = torch.meshgrid(torch.arange(n), torch.arange(m), indexing="ij")
    ii, jj = ii.reshape(-1), jj.reshape(-1)
    out = torch.cat([ssim(x[ii[s:s + chunk]], y[jj[s:s + chunk]])
                     for s in range(0, ii.numel(), chunk)])
    return out.view(n, m)


@dataclass(frozen=True)
class Match:
    """Each reconstruction paired with its nearest training image (by SSIM).

    Attributes:
        index: (N,) index of the matched training image.
        ssim: (N,) SSIM of each pair.
        psnr: (N,) PSNR of each pair in dB.
    """

    index: torch.Tensor
    ssim: torch.Tensor
    psnr: torch.Tensor


def rescale_per_image(x: torch.Tensor) -> torch.Tensor:
    """Stretch each image of (N, C, H, W) to span [-1, 1] (constant images become 0)."""
    flat = x.flatten(1)
    lo = flat.min(1).values.view(-1, 1, 1, 1)
    span = (flat.max(1).values.view(-1, 1, 1, 1) - lo).clamp_min(1e-12)
    return (x - lo) / span * 2 - 1


def match_to_training(recon: torch.Tensor, train: torch.Tensor, *,
                      rescale: bool = False) -> Match:
    """Pair every reconstruction (N, C, H, W) with the training image (M, C, H, W) of highest SSIM.

    Args:
        recon: reconstructions in [-1, 1].
        train: the training images they may come from.
        rescale: first stretch each reconstruction to span [-1, 1], as Haim et al. 2022 do for
            KKT reconstructions, whose brightness and contrast the attack does not determine.
    """
    recon = recon.detach().cpu().float()
    recon = rescale_per_image(recon) if rescale else recon.clamp(-1, 1)
    train = train.detach().cpu().float()
    best, index = pairwise_ssim(recon, train).max(dim=1)
    return Match(index=index, ssim=best, psnr=psnr(recon, train[index]))
