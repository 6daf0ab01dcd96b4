"""SSIM / PSNR against torchmetrics and their defining properties; nearest-image matching."""

from __future__ import annotations

import pytest
import torch

from dpkit.attacks.image_quality import match_to_training, psnr, ssim


def test_ssim_matches_torchmetrics():
    tm = pytest.importorskip("torchmetrics.functional.image")
    g = torch.Generator().manual_seed(0)
    a = torch.rand(4, 1, 28, 28, generator=g) * 2 - 1
    b = (a + 0.3 * torch.randn(4, 1, 28, 28, generator=g)).clamp(-1, 1)
    # torchmetrics on the same images mapped to [0, 1]
    ref = torch.stack([tm.structural_similarity_index_measure((b[i:i + 1] + 1) / 2,
                                                              (a[i:i + 1] + 1) / 2,
                                                              data_range=1.0) for i in range(4)])
    assert torch.allclose(ssim(b, a), ref.float(), atol=1e-4)


def test_ssim_tells_an_inverted_image_from_the_original():
    g = torch.Generator().manual_seed(2)
    a = (torch.rand(2, 1, 16, 16, generator=g) * 2 - 1).clamp(-0.9, 0.9)
    assert (ssim(-a, a) < 0.5 * ssim(a, a)).all()


def test_ssim_and_psnr_properties():
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 1, 8, 8, generator=g) * 2 - 1
    assert torch.allclose(ssim(a, a), torch.ones(3), atol=1e-6)
    noisy = (a + 0.5 * torch.randn(3, 1, 8, 8, generator=g)).clamp(-1, 1)
    assert (ssim(a, noisy) < 0.9).all()
    assert torch.allclose(ssim(a, noisy), ssim(noisy, a))
    mse = (a - noisy).pow(2).flatten(1).mean(1)
    assert torch.allclose(psnr(a, noisy), 10 * torch.log10(4 / mse), atol=1e-4)


def test_match_to_training_finds_the_source_image():
    g = torch.Generator().manual_seed(2)
    train = torch.rand(20, 1, 8, 8, generator=g) * 2 - 1
    recon = train[[3, 7, 11]] + 0.05 * torch.randn(3, 1, 8, 8, generator=g)
    m = match_to_training(recon, train)
    assert m.index.tolist() == [3, 7, 11]
    assert (m.ssim > 0.9).all() and (m.psnr > 20).all()


def test_paired_grid_wraps_and_pads(tmp_path):
    from PIL import Image

    from dpkit.attacks.plots import paired_grid_png

    top, bottom = -torch.ones(5, 1, 8, 8), torch.zeros(5, 1, 8, 8)
    img = Image.open(paired_grid_png(top, bottom, tmp_path / "g.png", columns=3))
    assert img.size == (3 * 10 + 2, 4 * 10 + 2)  # 2 bands of 2 rows, 2-pixel padding
