"""A DP-GAN small enough to train in seconds: what the GAN tests train (256 digits at 28 px)."""

from __future__ import annotations

from dpkit.data import DataOptions
from dpkit.engine import PrivacyConfig
from dpkit.gan import GANConfig

GAN_DATA = DataOptions(image_size=28, subset=256)


def tiny_gan_config(**kw) -> GANConfig:
    """The tiny configuration, any field overridden by ``kw``."""
    base = dict(dataset="digits", data=GAN_DATA, privacy=PrivacyConfig(noise_multiplier=1.0),
                latent_dim=16, g_width=8, d_width=8, epochs=2, batch_size=32, seed=3)
    return GANConfig(**(base | kw))
