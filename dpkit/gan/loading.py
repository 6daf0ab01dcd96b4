"""Loading a trained DP-GAN from its run directory."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dpkit.data import DatasetBundle, dataset_from_record
from dpkit.engine import load_checkpoint, open_run_dir
from dpkit.gan.models import Discriminator, Generator, build_models
from dpkit.gan.training import GANConfig

__all__ = ["LoadedGAN", "load_gan"]


@dataclass(frozen=True)
class LoadedGAN:
    """A trained GAN and what it was trained on.

    Attributes:
        generator: in eval mode (the weight-averaged generator when the run used ``ema``).
        discriminator: in eval mode.
        config: the run's ``config.json``.
        bundle: the exact data split of the run (None when loaded with ``load_data=False``).
        latent_dim: size of the generator's latent vector.
        run_dir: the run directory.
        epoch: the epoch of the checkpoint loaded.
        num_classes: K of a class-conditional generator (0: unconditional).
    """

    generator: Generator
    discriminator: Discriminator
    config: dict[str, Any]
    bundle: DatasetBundle | None
    latent_dim: int
    run_dir: Path
    epoch: int
    num_classes: int = 0


def load_gan(run_dir: str | Path, *, device: torch.device | str = "cpu",
             load_data: bool = True) -> LoadedGAN:
    """Load the latest checkpoint of a ``dpkit train-gan`` run.

    Args:
        run_dir: the run directory.
        device: where to put the models.
        load_data: also reload the run's data split (``split.json``) into ``bundle``.
    """
    run = open_run_dir(run_dir, kind="train-gan")
    config = run.config
    split = run.read_split()
    cfg = GANConfig.from_dict(config)
    generator, disc = build_models(latent_dim=cfg.latent_dim, channels=split["channels"],
                                   image_size=split["image_size"], g_width=cfg.g_width,
                                   d_width=cfg.d_width, num_classes=cfg.classes,
                                   conditioning=cfg.conditioning)
    generator, disc = generator.to(device), disc.to(device)
    # the published generator: the weight average when the run kept one
    key = "generator_ema" if cfg.ema else "generator"
    info = load_checkpoint(run.checkpoint_path, models={key: generator, "discriminator": disc},
                           restore_rng=False)
    bundle = dataset_from_record(split) if load_data else None
    return LoadedGAN(generator=generator.eval(), discriminator=disc.eval(), config=config,
                     bundle=bundle, latent_dim=cfg.latent_dim, run_dir=run.path,
                     epoch=info.epoch, num_classes=cfg.classes)
