"""DP DCGAN: GroupNorm discriminator trained with DP-SGD, generator private by post-processing."""

from dpkit.gan.loading import LoadedGAN, load_gan
from dpkit.gan.models import IMAGE_SIZES, Discriminator, Generator, build_models
from dpkit.gan.sampling import export_npz, export_png, generate, to_uint8
from dpkit.gan.steps import DStepStats, discriminator_step, generator_step
from dpkit.gan.training import GANConfig, GANResult, train_gan

__all__ = [
    "IMAGE_SIZES", "Generator", "Discriminator", "build_models",
    "DStepStats", "discriminator_step", "generator_step",
    "GANConfig", "GANResult", "train_gan",
    "generate", "to_uint8", "export_png", "export_npz", "LoadedGAN", "load_gan",
]
