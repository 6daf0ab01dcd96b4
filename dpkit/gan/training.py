"""DP-GAN training: a DCGAN whose discriminator is trained with DP-SGD.

The generator only ever sees the discriminator's response to generated images, so it is
differentially private by post-processing (Xie et al. 2018, arXiv:1802.06739; Torkzadehmahani
et al. 2019, arXiv:2001.09700). See :mod:`dpkit.gan.steps` for the one-charge-per-step update.

Across processes (``torchrun``), each discriminator step is one logical step: every process holds
its shard of the Poisson batch of real images and generates its share of the B fakes from latents
of its own stream (:func:`~dpkit.engine.distributed.rank_seed`: not N copies of one batch); the
clipped sums are all-reduced and noised once (:func:`~dpkit.engine.private.make_private`), and the
generator's gradients are summed over the processes, so every process keeps the same weights.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
from torchvision.utils import save_image

from dpkit.data import DataOptions, ImageTensorDataset
from dpkit.engine import (CanaryGradients, PrivacyConfig, PrivacyReport, PrivateSetup,
                          WeightAverage, broadcast_parameters, load_checkpoint, make_private,
                          rank_seed, save_checkpoint, seed_everything, train_epochs)
from dpkit.errors import PrivacyViolation, require
from dpkit.gan.models import CONDITIONINGS, IMAGE_SIZES, Discriminator, Generator, build_models
from dpkit.gan.schedule import SCHEDULES, DStepSchedule
from dpkit.gan.steps import DStepStats, discriminator_step, generator_step

__all__ = ["GANConfig", "GANFit", "fit_gan", "check_gan_data", "save_grid", "grid_labels",
           "label_count", "GRID_SIZE", "PRIVATE_RECORD_KEYS"]

GRID_SIZE = 160  # latents of each epoch's fixed-noise grid (8 x 8 unconditional, 10 per class)
GRID_COLUMNS = 10  # conditional grids: one row of 10 per class
GRID_UNCONDITIONAL = 64  # 8 x 8
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
        d_steps: discriminator steps per generator step (the start value when adaptive).
        d_steps_schedule: ``"constant"`` or ``"adaptive"`` (see :mod:`dpkit.gan.schedule`).
        d_steps_threshold, d_steps_grace, d_steps_beta: the adaptive rule's parameters.
        clip_fake: also clip the generated examples' per-example gradients at C (no noise; keeps
            the real and generated halves of the loss balanced). False adds that half unclipped.
        conditional: class-conditional generator and discriminator; None: when the data has
            at least two classes (resolved by :meth:`resolved` before training).
        num_classes: K of a conditional model (set by :meth:`resolved`; 0: unconditional).
        conditioning: how the discriminator sees the label: ``"labelmap"`` or ``"projection"``.
        ema: decay of an exponential moving average of the generator's weights (0: off). When
            on, the averaged generator (post-processing: free) is the one saved in final.pt and
            used for sampling and evaluation.
        save_every: write the checkpoint, the sample grid and ε every this many epochs (and
            after the last); more than 1 for long runs on small data, where an epoch is a few
            steps. A resume continues from the last saved epoch.
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
    d_steps_schedule: str = "constant"
    d_steps_threshold: float = 0.6
    d_steps_grace: int = 200
    d_steps_beta: float = 0.99
    clip_fake: bool = True
    conditional: bool | None = None
    num_classes: int | None = None
    conditioning: str = "labelmap"
    ema: float = 0.0
    save_every: int = 1
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
        require(self.d_steps_schedule in SCHEDULES,
                f"d_steps_schedule={self.d_steps_schedule!r} must be one of "
                f"{', '.join(SCHEDULES)}")
        self.schedule()  # validates d_steps and the adaptive parameters
        require(self.conditioning in CONDITIONINGS,
                f"conditioning={self.conditioning!r} must be one of {', '.join(CONDITIONINGS)}")
        require(0 <= self.ema < 1, f"ema={self.ema} must be in [0, 1) (0: off; e.g. 0.999)")
        require(self.save_every >= 1, f"save_every={self.save_every} must be >= 1")
        if self.num_classes is not None:
            require(self.num_classes == 0 or self.num_classes >= 2,
                    f"num_classes={self.num_classes} must be 0 (unconditional) or >= 2")
        if self.data.image_size is not None:
            require(self.data.image_size in IMAGE_SIZES,
                    f"image_size={self.data.image_size} is not supported by the DCGAN; use one of "
                    f"image_size={', '.join(map(str, IMAGE_SIZES))}")
        if self.privacy.enabled:
            require(self.privacy.grad_sample_mode != "ghost" or self.clip_fake,
                    "grad_sample_mode='ghost' needs clip_fake=True (ghost clipping clips every "
                    "example of the loss; an unclipped generated half needs separate "
                    "gradients); use grad_sample_mode='bk' or 'hooks'")
            require(self.privacy.max_physical_batch_size is None,
                    f"the DP-GAN does not support max_physical_batch_size="
                    f"{self.privacy.max_physical_batch_size}; lower batch_size={self.batch_size} "
                    f"instead")

    def schedule(self) -> DStepSchedule:
        """A fresh n_D schedule for this configuration."""
        return DStepSchedule(d_steps=self.d_steps, adaptive=self.d_steps_schedule == "adaptive",
                             threshold=self.d_steps_threshold, grace=self.d_steps_grace,
                             beta=self.d_steps_beta)

    def resolved(self, num_classes: int) -> "GANConfig":
        """This configuration for data with ``num_classes`` classes: ``conditional=None``
        becomes True when there are at least two, and ``num_classes`` is filled in."""
        conditional = num_classes >= 2 if self.conditional is None else self.conditional
        require(not conditional or num_classes >= 2,
                f"conditional=True needs labelled data with at least two classes (the data has "
                f"{num_classes}); use conditional=False")
        return dataclasses.replace(self, conditional=conditional,
                                   num_classes=num_classes if conditional else 0)

    @property
    def classes(self) -> int:
        """K of the models (0: unconditional or not resolved yet)."""
        return self.num_classes or 0

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` layout of the run-directory contract."""
        return {
            "command": "train-gan",
            "data": self.data.to_dict() | {"dataset": self.dataset},
            "privacy": self.privacy.to_dict(),
            "model": {"latent_dim": self.latent_dim, "g_width": self.g_width,
                      "d_width": self.d_width, "conditional": self.conditional,
                      "num_classes": self.num_classes, "conditioning": self.conditioning},
            "training": {"epochs": self.epochs, "batch_size": self.batch_size, "lr_d": self.lr_d,
                         "lr_g": self.lr_g, "betas": list(self.betas), "d_steps": self.d_steps,
                         "d_steps_schedule": self.d_steps_schedule,
                         "d_steps_threshold": self.d_steps_threshold,
                         "d_steps_grace": self.d_steps_grace, "d_steps_beta": self.d_steps_beta,
                         "clip_fake": self.clip_fake, "ema": self.ema,
                         "save_every": self.save_every},
            "seed": self.seed,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "GANConfig":
        data = dict(d["data"])
        dataset = data.pop("dataset")
        training = dict(d["training"])
        training["betas"] = tuple(training["betas"])
        model = {"conditional": False, "num_classes": 0} | d["model"]  # runs before dpkit 0.2
        return cls(dataset=dataset, data=DataOptions.from_dict(data),
                   privacy=PrivacyConfig.from_dict(d["privacy"]), seed=d["seed"],
                   **model, **training)


@dataclass(frozen=True)
class GANFit:
    """A trained DP-GAN (no run directory involved).

    Attributes:
        generator: the generator to publish and sample from (private by post-processing; the
            weight average when ``ema`` is on; training mode as left).
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


def grid_labels(num_classes: int) -> torch.Tensor | None:
    """Labels of a conditional grid: one row of 10 images per class (16 classes at most)."""
    if not num_classes:
        return None
    return torch.arange(min(num_classes, 16)).repeat_interleave(GRID_COLUMNS)


def save_grid(generator: torch.nn.Module, z: torch.Tensor, path: Path,
              labels: torch.Tensor | None = None) -> None:
    """A PNG grid of ``generator(z, labels)`` (eval mode; the mode is restored): 8 columns, or
    one row per class of a conditional generator (``labels`` from :func:`grid_labels`)."""
    was_training = generator.training
    generator.eval()
    n = GRID_UNCONDITIONAL if labels is None else len(labels)
    with torch.no_grad():  # (64 or 10 K, C, H, W)
        images = generator(z[:n], None if labels is None else labels.to(z.device)).cpu()
    generator.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=8 if labels is None else GRID_COLUMNS, normalize=True,
               value_range=(-1, 1))


class _GANSteps:
    """The DP-GAN's step function for :func:`~dpkit.engine.loop.train_epochs`: one
    discriminator step per sampled batch, a generator step whenever the n_D schedule says so."""

    private_keys = PRIVATE_RECORD_KEYS

    def __init__(self, setup: PrivateSetup, generator: Generator, g_opt: torch.optim.Optimizer,
                 cfg: GANConfig, device: torch.device, schedule: DStepSchedule,
                 ema: WeightAverage | None) -> None:
        self.setup, self.generator, self.g_opt, self.cfg, self.device = (
            setup, generator, g_opt, cfg, device)
        self.schedule, self.ema = schedule, ema
        self.fakes = setup.world.share(cfg.batch_size) if setup.private else cfg.batch_size
        self.stats: list[DStepStats] = []
        self.g_losses: list[float] = []
        self.fake_accuracy: list[float] = []

    def begin_epoch(self, epoch: int) -> None:
        self.generator.train()
        self.stats, self.g_losses, self.fake_accuracy = [], [], []

    def step(self, index: int, real: torch.Tensor, labels: torch.Tensor) -> float:
        cfg = self.cfg
        g_turn = self.schedule.discriminator_step_done()
        z = torch.randn(self.fakes, cfg.latent_dim, device=self.device)  # (B / world, Z)
        fake_labels = real_labels = None
        if cfg.classes:  # labels of generated images: the uniform public prior
            fake_labels = torch.randint(cfg.classes, (self.fakes,), device=self.device)
            real_labels = labels
        with torch.set_grad_enabled(g_turn):
            # (B, C, H, W); reused by the generator step, as in DCGAN
            fake = self.generator(z, fake_labels)
        stats = discriminator_step(self.setup, fake.detach(), real, clip_fake=cfg.clip_fake,
                                   real_labels=real_labels, fake_labels=fake_labels,
                                   fake_total=cfg.batch_size)
        self.stats.append(stats)
        watched = stats.loss_fake  # the real half is NaN for an empty Poisson batch
        if g_turn:
            g = generator_step(self.setup, self.g_opt, fake, fake_labels,
                               fake_total=cfg.batch_size)
            self.schedule.generator_step_done(g.fake_accuracy)
            if self.ema is not None:
                self.ema.update(self.generator)
            self.g_losses.append(g.loss)
            self.fake_accuracy.append(g.fake_accuracy)
            watched += g.loss
        return watched

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        stats = self.stats
        return {"d_loss_real": _mean([s.loss_real for s in stats]),
                "d_loss_fake": _mean([s.loss_fake for s in stats]),
                "g_loss": _mean(self.g_losses),
                "d_real": _mean([s.d_real for s in stats]),
                "d_fake": _mean([s.d_fake for s in stats]),
                "d_accuracy_fake": _mean(self.fake_accuracy),
                "d_steps": len(stats), "g_steps": len(self.g_losses),
                "d_steps_per_g_step": self.schedule.d_steps}


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
    if cfg.classes and n:
        top = int(train.labels.max())
        require(int(train.labels.min()) >= 0 and top < cfg.classes,
                f"labels of {cfg.dataset} go up to {top}, beyond num_classes={cfg.classes} of "
                f"the conditional model")


def label_count(train: ImageTensorDataset) -> int:
    """K = largest label + 1 of a dataset (its class count when every class is present)."""
    return int(train.labels.max()) + 1 if len(train) else 0


def fit_gan(cfg: GANConfig, train: ImageTensorDataset, *, device: torch.device | str = "cpu",
            quiet: bool = True, checkpoint: str | Path | None = None, resume: bool = False,
            samples_dir: str | Path | None = None,
            on_epoch: Callable[[dict[str, Any]], None] | None = None,
            canary_gradients: CanaryGradients | None = None) -> GANFit:
    """Train a DCGAN whose discriminator is trained with DP-SGD (see :mod:`dpkit.gan.steps`).

    Args:
        cfg: the run's configuration (``cfg.dataset``/``cfg.data`` are not read here); when
            not :meth:`~GANConfig.resolved` yet, it is resolved with the labels of ``train``.
        train: the private training images (N, C, H, W) in [-1, 1] and, for a conditional
            model, their labels (part of each private record).
        device: where to train.
        quiet: no progress bars.
        checkpoint: a file to write a checkpoint to after every epoch.
        resume: continue from ``checkpoint``: the same weights and ε as an uninterrupted fit.
        samples_dir: write a fixed-noise grid ``epoch_NNN.png`` there after every epoch (one row
            per class when conditional).
        on_epoch: called with each epoch's record (e.g. to append it to metrics.jsonl).
        canary_gradients: white-box audit canaries added to every discriminator step's clipped
            sum (:class:`~dpkit.engine.private.CanaryGradients`; they count in N).

    Returns:
        :class:`GANFit`.

    Raises:
        PrivacyViolation: the accountant does not hold exactly one charge per D step.
    """
    device = torch.device(device)
    if cfg.num_classes is None:
        cfg = cfg.resolved(label_count(train))
    check_gan_data(cfg, train)
    channels, image_size = train.shape[0], train.shape[-1]
    seed_everything(cfg.seed)
    generator, disc = build_models(latent_dim=cfg.latent_dim, channels=channels,
                                   image_size=image_size, g_width=cfg.g_width,
                                   d_width=cfg.d_width, num_classes=cfg.classes,
                                   conditioning=cfg.conditioning)
    generator, disc = generator.to(device), disc.to(device)
    # the weight average (post-processing, free) is the published generator when on
    ema = WeightAverage(generator, cfg.ema) if cfg.ema else None
    averaged = copy.deepcopy(generator) if ema is not None else None
    g_opt = torch.optim.Adam(generator.parameters(), lr=cfg.lr_g, betas=cfg.betas)
    d_opt = torch.optim.Adam(disc.parameters(), lr=cfg.lr_d, betas=cfg.betas)
    setup = make_private(disc, d_opt, train, cfg.privacy, batch_size=cfg.batch_size,
                         epochs=cfg.epochs, criterion=torch.nn.BCEWithLogitsLoss(),
                         seed=cfg.seed, canary_gradients=canary_gradients)
    world = setup.world
    broadcast_parameters(generator, world)  # seeded alike already; rank 0's weights for sure
    if world.rank > 0:  # latents of its own: the ranks' generated batches are not copies
        seed_everything(rank_seed(cfg.seed, world.rank))
    fixed_z = torch.randn(GRID_SIZE, cfg.latent_dim,
                          generator=torch.Generator().manual_seed(cfg.seed + 1)).to(device)
    labels = grid_labels(cfg.classes)
    models: dict[str, torch.nn.Module] = {"generator": generator, "discriminator": disc}
    if averaged is not None:
        models["generator_ema"] = averaged
    optimizers = {"generator": g_opt, "discriminator": d_opt}
    schedule = cfg.schedule()
    start, history = 0, []
    if resume:
        require(checkpoint is not None, "resume needs the checkpoint file to continue from")
        info = load_checkpoint(checkpoint, models=models, optimizers=optimizers,
                               setups={"discriminator": setup})
        start, history = info.epoch, list(info.extra.get("history", []))
        if "schedule" in info.extra:
            schedule.load_state_dict(info.extra["schedule"])
        if ema is not None:
            ema.load_state_dict(info.extra["ema"], averaged=averaged)  # weights: generator_ema

    def published() -> Generator:
        return generator if ema is None else ema.copy_to(averaged)

    def save(epoch: int, records: list[dict[str, Any]]) -> None:
        gen = published()
        if samples_dir is not None and world.is_main:
            save_grid(gen, fixed_z, Path(samples_dir) / f"epoch_{epoch:03d}.png", labels)
        if checkpoint is not None:
            save_checkpoint(checkpoint, epoch=epoch, models=models, optimizers=optimizers,
                            setups={"discriminator": setup},
                            extra={"history": records, "schedule": schedule.state_dict(),
                                   # the averaged weights are the generator_ema model
                                   "ema": (ema.state_dict(shadow=False) if ema is not None
                                           else None)})

    history = train_epochs(setup, _GANSteps(setup, generator, g_opt, cfg, device, schedule, ema),
                           epochs=cfg.epochs, device=device, start=start, history=history,
                           quiet=quiet, save=save, on_epoch=on_epoch, save_every=cfg.save_every)
    total = cfg.epochs * setup.steps_per_epoch
    report = setup.report()
    if report.private and report.steps != total:
        raise PrivacyViolation(f"accountant holds {report.steps} steps, expected {total}")
    return GANFit(generator=published(), discriminator=setup.module,
                  report=dataclasses.replace(report, steps=total), history=tuple(history),
                  noise_reproducible=setup.reproducible_noise)
