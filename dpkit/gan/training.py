"""DP-GAN training: a DCGAN whose discriminator is trained with DP-SGD.

The generator only ever sees the discriminator's response to generated images, so it is
differentially private by post-processing (Xie et al. 2018, arXiv:1802.06739; Torkzadehmahani
et al. 2019, arXiv:2001.09700). See :mod:`dpkit.gan.steps` for the one-charge-per-step update.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torchvision.utils import save_image

from dpkit.data import DataOptions, ImageTensorDataset
from dpkit.engine import (PrivacyConfig, PrivacyReport, PrivateSetup, load_checkpoint,
                          make_private, save_checkpoint, seed_everything, train_epochs)
from dpkit.errors import PrivacyViolation, require
from dpkit.gan.models import IMAGE_SIZES, Discriminator, Generator, build_models
from dpkit.gan.steps import DStepStats, discriminator_step, generator_step

__all__ = ["GANConfig", "GANFit", "fit_gan", "check_gan_data", "save_grid", "GRID_SIZE",
           "PRIVATE_RECORD_KEYS"]

GRID_SIZE = 64  # images in each epoch's fixed-noise grid (8 x 8)
# Per-epoch values computed from the private real batches without noise: NOT covered by ε.
PRIVATE_RECORD_KEYS = ("d_loss_real", "d_real")


@dataclass(frozen=True)
class GANConfig:
    """Everything that defines a DP-GAN training run.

    Attributes:
        dataset: registered dataset name.
        data: how to load and split it (image size 28, 32 or 64).
        privacy: DP-SGD settings of the discriminator (``enabled=False`` trains without DP).
        latent_dim: size of the generator's latent vector.
        g_width, d_width: DCGAN widths (``ngf`` / ``ndf``).
        epochs: passes over the private data, counted in discriminator steps (⌊N/B⌋ per epoch).
        batch_size: expected real batch size B (q = B/N); also the generated batch size.
        lr_d, lr_g: Adam learning rates.
        betas: Adam betas of both optimizers.
        d_steps: discriminator steps per generator step.
        clip_fake: also clip the generated examples' per-example gradients at C (no noise; keeps
            the real and generated halves of the loss balanced). False adds that half unclipped.
        seed: seeds models, sampling, noise and latents.
    """

    dataset: str = "digits"
    data: DataOptions = field(default_factory=lambda: DataOptions(image_size=32))
    privacy: PrivacyConfig = field(default_factory=lambda: PrivacyConfig(enabled=False))
    latent_dim: int = 100
    g_width: int = 32
    d_width: int = 32
    epochs: int = 30
    batch_size: int = 64
    lr_d: float = 2e-4
    lr_g: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    d_steps: int = 1
    clip_fake: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.latent_dim >= 1, f"latent_dim={self.latent_dim} must be >= 1")
        require(self.g_width >= 4 and self.d_width >= 4,
                f"g_width={self.g_width} and d_width={self.d_width} must be >= 4")
        require(self.epochs >= 1, f"epochs={self.epochs} must be >= 1")
        require(self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1")
        require(self.lr_d > 0 and self.lr_g > 0,
                f"lr_d={self.lr_d} and lr_g={self.lr_g} must be positive")
        require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
                f"betas={tuple(self.betas)} must be two numbers in [0, 1), "
                f"e.g. betas=(0.5, 0.999)")
        require(self.d_steps >= 1, f"d_steps={self.d_steps} must be >= 1")
        if self.data.image_size is not None:
            require(self.data.image_size in IMAGE_SIZES,
                    f"image_size={self.data.image_size} is not supported by the DCGAN; use one of "
                    f"image_size={', '.join(map(str, IMAGE_SIZES))}")
        if self.privacy.enabled:
            require(self.privacy.grad_sample_mode != "ghost",
                    "the DP-GAN does not support grad_sample_mode='ghost' (the real and "
                    "generated terms need separate gradients); use 'hooks' or 'functorch'")
            require(self.privacy.max_physical_batch_size is None,
                    f"the DP-GAN does not support max_physical_batch_size="
                    f"{self.privacy.max_physical_batch_size}; lower batch_size={self.batch_size} "
                    f"instead")

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` layout of the run-directory contract."""
        return {
            "command": "train-gan",
            "data": self.data.to_dict() | {"dataset": self.dataset},
            "privacy": self.privacy.to_dict(),
            "model": {"latent_dim": self.latent_dim, "g_width": self.g_width,
                      "d_width": self.d_width},
            "training": {"epochs": self.epochs, "batch_size": self.batch_size, "lr_d": self.lr_d,
                         "lr_g": self.lr_g, "betas": list(self.betas), "d_steps": self.d_steps,
                         "clip_fake": self.clip_fake},
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GANConfig":
        data = dict(d["data"])
        dataset = data.pop("dataset")
        training = dict(d["training"])
        training["betas"] = tuple(training["betas"])
        return cls(dataset=dataset, data=DataOptions.from_dict(data),
                   privacy=PrivacyConfig.from_dict(d["privacy"]), seed=d["seed"],
                   **d["model"], **training)


@dataclass(frozen=True)
class GANFit:
    """A trained DP-GAN (no run directory involved).

    Attributes:
        generator: the generator (private by post-processing; training mode as left).
        discriminator: the discriminator, unwrapped from Opacus.
        report: the privacy spent by the discriminator's steps.
        history: one record per epoch trained in this call (a resumed fit: all epochs, when the
            checkpoint holds them).
        noise_reproducible: the noise came from a seeded generator (not secure mode).
    """

    generator: Generator
    discriminator: Discriminator
    report: PrivacyReport
    history: tuple[dict[str, Any], ...]
    noise_reproducible: bool


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def save_grid(generator: torch.nn.Module, z: torch.Tensor, path: Path) -> None:
    """An 8-column PNG grid of ``generator(z)`` (eval mode; the mode is restored)."""
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        images = generator(z).cpu()  # (64, C, H, W)
    generator.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=8, normalize=True, value_range=(-1, 1))


class _GANSteps:
    """The DP-GAN's step function for :func:`~dpkit.engine.loop.train_epochs`: one
    discriminator step per sampled batch, a generator step every ``d_steps`` of them."""

    private_keys = PRIVATE_RECORD_KEYS

    def __init__(self, setup: PrivateSetup, generator: Generator, g_opt: torch.optim.Optimizer,
                 cfg: GANConfig, device: torch.device) -> None:
        self.setup, self.generator, self.g_opt, self.cfg, self.device = (
            setup, generator, g_opt, cfg, device)
        self.stats: list[DStepStats] = []
        self.g_losses: list[float] = []

    def begin_epoch(self, epoch: int) -> None:
        self.generator.train()
        self.stats, self.g_losses = [], []

    def step(self, index: int, real: torch.Tensor, labels: torch.Tensor) -> float:
        cfg = self.cfg
        g_turn = (index + 1) % cfg.d_steps == 0
        z = torch.randn(cfg.batch_size, cfg.latent_dim, device=self.device)  # (B, Z)
        with torch.set_grad_enabled(g_turn):
            fake = self.generator(z)  # (B, C, H, W); reused by the generator step, as in DCGAN
        stats = discriminator_step(self.setup, fake.detach(), real, clip_fake=cfg.clip_fake)
        self.stats.append(stats)
        watched = stats.loss_fake  # the real half is NaN for an empty Poisson batch
        if g_turn:
            self.g_losses.append(generator_step(self.setup, self.g_opt, fake))
            watched += self.g_losses[-1]
        return watched

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        stats = self.stats
        return {"d_loss_real": _mean([s.loss_real for s in stats]),
                "d_loss_fake": _mean([s.loss_fake for s in stats]),
                "g_loss": _mean(self.g_losses),
                "d_real": _mean([s.d_real for s in stats]),
                "d_fake": _mean([s.d_fake for s in stats]),
                "d_steps": len(stats), "g_steps": len(self.g_losses)}


def check_gan_data(cfg: GANConfig, train: ImageTensorDataset) -> None:
    """Refuse, before anything is trained or written, data the DCGAN cannot train on."""
    n = len(train)
    _, h, w = train.shape
    require(h == w and h in IMAGE_SIZES,
            f"images of {cfg.dataset} are {h}x{w} px; the DCGAN needs one of "
            f"image_size={', '.join(map(str, IMAGE_SIZES))}")
    require(1 <= cfg.batch_size <= n, f"batch_size={cfg.batch_size} must be between 1 and the "
                                      f"dataset size {n}; use batch_size={min(n, 64)}")
    cfg.privacy.check_dataset_size(n)


def fit_gan(cfg: GANConfig, train: ImageTensorDataset, *, device: torch.device | str = "cpu",
            quiet: bool = True, checkpoint: str | Path | None = None, resume: bool = False,
            samples_dir: str | Path | None = None,
            on_epoch: Callable[[dict[str, Any]], None] | None = None) -> GANFit:
    """Train a DCGAN whose discriminator is trained with DP-SGD (see :mod:`dpkit.gan.steps`).

    Args:
        cfg: the run's configuration (``cfg.dataset``/``cfg.data`` are not read here).
        train: the private training images (N, C, H, W) in [-1, 1]; labels are ignored.
        device: where to train.
        quiet: no progress bars.
        checkpoint: a file to write a checkpoint to after every epoch.
        resume: continue from ``checkpoint``: the same weights and ε as an uninterrupted fit.
        samples_dir: write a fixed-noise 8x8 grid ``epoch_NNN.png`` there after every epoch.
        on_epoch: called with each epoch's record (e.g. to append it to metrics.jsonl).

    Returns:
        :class:`GANFit`.

    Raises:
        PrivacyViolation: the accountant does not hold exactly one charge per D step.
    """
    device = torch.device(device)
    check_gan_data(cfg, train)
    channels, image_size = train.shape[0], train.shape[-1]
    seed_everything(cfg.seed)
    generator, disc = build_models(latent_dim=cfg.latent_dim, channels=channels,
                                   image_size=image_size, g_width=cfg.g_width,
                                   d_width=cfg.d_width)
    generator, disc = generator.to(device), disc.to(device)
    g_opt = torch.optim.Adam(generator.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    setup = make_private(disc, d_opt, train, cfg.privacy, batch_size=cfg.batch_size,
                         epochs=cfg.epochs, criterion=torch.nn.BCEWithLogitsLoss(),
                         seed=cfg.seed)
    fixed_z = torch.randn(GRID_SIZE, cfg.latent_dim,
                          generator=torch.Generator().manual_seed(cfg.seed + 1)).to(device)
    models = {"generator": generator, "discriminator": disc}
    optimizers = {"generator": g_opt, "discriminator": d_opt}
    start, history = 0, []
    if resume:
        require(checkpoint is not None, "resume needs the checkpoint file to continue from")
        info = load_checkpoint(checkpoint, models=models, optimizers=optimizers,
                               setups={"discriminator": setup})
        start, history = info.epoch, list(info.extra.get("history", []))

    def save(epoch: int, records: list[dict[str, Any]]) -> None:
        if samples_dir is not None:
            save_grid(generator, fixed_z, Path(samples_dir) / f"epoch_{epoch:03d}.png")
        if checkpoint is not None:
            save_checkpoint(checkpoint, epoch=epoch, models=models, optimizers=optimizers,
                            setups={"discriminator": setup}, extra={"history": records})

    history = train_epochs(setup, _GANSteps(setup, generator, g_opt, cfg, device),
                           epochs=cfg.epochs, device=device, start=start, history=history,
                           quiet=quiet, save=save, on_epoch=on_epoch)
    total = cfg.epochs * setup.steps_per_epoch
    report = setup.report()
    if report.private and report.steps != total:
        raise PrivacyViolation(f"accountant holds {report.steps} steps, expected {total}")
    return GANFit(generator=generator, discriminator=setup.module,
                  report=dataclasses.replace(report, steps=total), history=tuple(history),
                  noise_reproducible=setup.reproducible_noise)
