"""DP DCGAN: GroupNorm discriminator trained with DP-SGD, generator private by post-processing."""

from dpkit.gan.loading import LoadedGAN, load_gan
from dpkit.gan.models import (CONDITIONINGS, IMAGE_SIZES, Discriminator, Generator,
                              balanced_labels, build_models)
from dpkit.gan.schedule import D_STEPS_LADDER, SCHEDULES, DStepSchedule
from dpkit.gan.sampling import export_npz, export_png, generate, sample_labels, to_uint8
from dpkit.gan.steps import DStepStats, discriminator_step, generator_step
from dpkit.gan.runs import GANResult, resume_gan, train_gan
from dpkit.gan.recipes import GAN_RECIPES, RECIPE_FIELDS, gan_recipe_config
from dpkit.gan.training import GANConfig, GANFit, check_gan_data, fit_gan

__all__ = [
    "IMAGE_SIZES", "CONDITIONINGS", "Generator", "Discriminator", "build_models",
    "balanced_labels", "D_STEPS_LADDER", "SCHEDULES", "DStepSchedule",
    "DStepStats", "discriminator_step", "generator_step",
    "GANConfig", "GANFit", "GANResult", "fit_gan", "check_gan_data", "train_gan", "resume_gan",
    "GAN_RECIPES", "RECIPE_FIELDS", "gan_recipe_config",
    "generate", "sample_labels", "to_uint8", "export_png", "export_npz", "LoadedGAN", "load_gan",
]
