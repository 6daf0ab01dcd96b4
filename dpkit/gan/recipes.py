"""Per-dataset training recipes: the settings ``dpkit train-gan --dataset D`` uses for whatever
the user leaves out, measured in BENCHMARKS.md ("Conditional DP DCGAN on Fashion-MNIST").

A recipe only changes defaults; every field stays a field of :class:`GANConfig`, recorded in
the run's ``config.json``. Datasets without a recipe use GANConfig's own defaults (tuned for
the embedded ``digits``).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dpkit.gan.training import GANConfig

__all__ = ["GAN_RECIPES", "RECIPE_FIELDS", "gan_recipe_config"]

# 28 px grayscale, 60k training images: the recipe measured best on Fashion-MNIST on a 2-core CPU
# (ε = 10: downstream 0.642 and FID 0.87 vs 0.647 and 1.78 with a constant n_D = 1)
_MNIST_LIKE: dict[str, Any] = {"image_size": 28, "batch_size": 128, "epochs": 10, "ema": 0.999,
                               "d_steps": 1, "d_steps_schedule": "adaptive"}
GAN_RECIPES: dict[str, dict[str, Any]] = {
    "fashion-mnist": _MNIST_LIKE,
    "mnist": _MNIST_LIKE,
    "kmnist": _MNIST_LIKE,
}
RECIPE_FIELDS = ("image_size", "batch_size", "epochs", "ema", "d_steps", "d_steps_schedule")


def gan_recipe_config(cfg: GANConfig, given: set[str]) -> GANConfig:
    """``cfg`` with the fields *not* in ``given`` (those the user left out) taken from the recipe
    of ``cfg.dataset`` (unchanged when the dataset has none)."""
    recipe = {k: v for k, v in GAN_RECIPES.get(cfg.dataset, {}).items() if k not in given}
    if not recipe:
        return cfg
    data = cfg.data
    if "image_size" in recipe:
        data = dataclasses.replace(data, image_size=recipe.pop("image_size"))
    return dataclasses.replace(cfg, data=data, **recipe)
