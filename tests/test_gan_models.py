"""DCGAN generator and GroupNorm discriminator."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dpkit.engine import validate_private_model
from dpkit.errors import DPKitError
from dpkit.gan import Discriminator, Generator, build_models


@pytest.mark.parametrize("size", [28, 32, 64])
@pytest.mark.parametrize("channels", [1, 3])
def test_shapes_and_range(size, channels):
    g, d = build_models(latent_dim=16, channels=channels, image_size=size, g_width=8, d_width=8)
    x = g(torch.randn(5, 16))
    assert x.shape == (5, channels, size, size)
    assert x.min() >= -1 and x.max() <= 1
    assert d(x).shape == (5,)


@pytest.mark.parametrize("size", [28, 32, 64])
def test_discriminator_has_no_batchnorm_and_is_dp_trainable(size):
    d = Discriminator(channels=3, image_size=size, width=16)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in d.modules())
    assert any(isinstance(m, nn.GroupNorm) for m in d.modules())
    validate_private_model(d)  # raises on anything Opacus cannot clip per example


def test_discriminator_examples_are_independent():
    """GroupNorm: one example's output does not depend on the rest of the batch."""
    d = Discriminator(channels=1, image_size=32, width=8)
    x = torch.randn(6, 1, 32, 32)
    together = d(x)
    alone = torch.cat([d(x[i:i + 1]) for i in range(6)])
    torch.testing.assert_close(together, alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("size", [16, 48])
def test_unsupported_image_size_is_refused(size):
    with pytest.raises(DPKitError, match="image_size=28, 32, 64"):
        Generator(image_size=size)


def test_public_api_is_importable():
    import dpkit.gan as gan

    for name in gan.__all__:
        assert getattr(gan, name) is not None, name
    assert {"train_gan", "GANConfig", "load_gan", "LoadedGAN", "generate"} <= set(gan.__all__)
