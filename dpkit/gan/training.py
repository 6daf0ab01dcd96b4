"""DP-GAN training: a DCGAN whose discriminator is trained with DP-SGD.

The generator only ever sees the discriminator's response to generated images, so it is
differentially private by post-processing (Xie et al. 2018, arXiv:1802.06739; Torkzadehmahani
et al. 2019, arXiv:2001.09700). See :mod:`dpkit.gan.steps` for the one-charge-per-step update.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from torchvision.utils import save_image

from dpkit.data import DataOptions, DatasetBundle, dataset_from_record, load_dataset
from dpkit.engine import (NOT_COVERED_KEY, PrivacyConfig, PrivacyReport, PrivateSetup, RunDir, load_checkpoint,
                          make_private, progress, save_checkpoint, seed_everything)
from dpkit.errors import PrivacyViolation, require
from dpkit.gan.models import IMAGE_SIZES, build_models
from dpkit.gan.steps import discriminator_step, generator_step

__all__ = ["GANConfig", "GANResult", "train_gan", "GRID_SIZE", "PRIVATE_RECORD_KEYS"]

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
        require(self.latent_dim >= 1, f"--latent-dim {self.latent_dim} must be >= 1")
        require(self.g_width >= 4 and self.d_width >= 4,
                f"--g-width {self.g_width} / --d-width {self.d_width} must be >= 4")
        require(self.epochs >= 1, f"--epochs {self.epochs} must be >= 1")
        require(self.batch_size >= 1, f"--batch-size {self.batch_size} must be >= 1")
        require(self.lr_d > 0 and self.lr_g > 0,
                f"--lr-d {self.lr_d} and --lr-g {self.lr_g} must be positive")
        require(len(self.betas) == 2 and all(0 <= b < 1 for b in self.betas),
                f"--betas {','.join(map(str, self.betas))} must be two numbers in [0, 1), "
                f"e.g. 0.5,0.999")
        require(self.d_steps >= 1, f"--d-steps {self.d_steps} must be >= 1")
        if self.data.image_size is not None:
            require(self.data.image_size in IMAGE_SIZES,
                    f"image size {self.data.image_size} is not supported by the DCGAN; use "
                    f"--image-size {', '.join(map(str, IMAGE_SIZES))}")
        if self.privacy.enabled:
            require(self.privacy.grad_sample_mode != "ghost",
                    "train-gan does not support --grad-sample-mode ghost (the real and generated "
                    "terms need separate gradients); use hooks or functorch")
            require(self.privacy.max_physical_batch_size is None,
                    "train-gan does not support --physical-batch-size; lower --batch-size instead")

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
class GANResult:
    """What a finished training run reports (``--json``)."""

    run_dir: str
    report: PrivacyReport
    epochs: int
    steps: int
    train_size: int
    history: tuple[dict[str, Any], ...] = ()
    noise_reproducible: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "epsilon": self.report.epsilon,
                "epsilon_valid": self.report.epsilon_valid,
                "delta": self.report.delta, "noise_multiplier": self.report.noise_multiplier,
                "epochs": self.epochs, "steps": self.steps, "train_size": self.train_size,
                "noise_reproducible": self.noise_reproducible}


def _mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return sum(finite) / len(finite) if finite else float("nan")


def _save_grid(generator: torch.nn.Module, z: torch.Tensor, path: Any) -> None:
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        images = generator(z).cpu()  # (64, C, H, W)
    generator.train(was_training)
    path.parent.mkdir(parents=True, exist_ok=True)
    save_image(images, path, nrow=8, normalize=True, value_range=(-1, 1))


def _epoch(setup: PrivateSetup, generator: torch.nn.Module, g_opt: torch.optim.Optimizer,
           cfg: GANConfig, device: torch.device, *, quiet: bool, desc: str) -> dict[str, float]:
    stats, g_losses = [], []
    with setup.epoch_loader() as loader:
        for i, (real, _) in enumerate(progress(loader, quiet=quiet, desc=desc,
                                               total=setup.steps_per_epoch)):
            g_turn = (i + 1) % cfg.d_steps == 0
            z = torch.randn(cfg.batch_size, cfg.latent_dim, device=device)  # (B, Z)
            with torch.set_grad_enabled(g_turn):
                fake = generator(z)  # (B, C, H, W); reused by the generator step, as in DCGAN
            stats.append(discriminator_step(setup, fake.detach(), real.to(device),
                                            clip_fake=cfg.clip_fake))
            if g_turn:
                g_losses.append(generator_step(setup, g_opt, fake))
    return {"d_loss_real": _mean([s.loss_real for s in stats]),
            "d_loss_fake": _mean([s.loss_fake for s in stats]),
            "g_loss": _mean(g_losses),
            "d_real": _mean([s.d_real for s in stats]), "d_fake": _mean([s.d_fake for s in stats]),
            "d_steps": len(stats), "g_steps": len(g_losses)}


def train_gan(config: GANConfig, run_dir: RunDir, *, device: torch.device | str = "cpu",
              quiet: bool = True, resume: bool = False,
              bundle: DatasetBundle | None = None) -> GANResult:
    """Train a DCGAN with a DP-SGD discriminator, writing everything into ``run_dir``.

    Writes ``config.json``, ``split.json``, one ``metrics.jsonl`` line, one fixed-noise grid
    ``samples/epoch_NNN.png`` and ``checkpoint.pt`` per epoch, and ``privacy.json`` and
    ``final.pt`` (the generator's state dict, the only publishable file with the samples) at
    the end. ``d_loss_real`` and ``d_real`` in metrics.jsonl are computed on private data
    without noise (NOT covered by ε), and checkpoint.pt holds the noise generator's state
    unless secure mode is on: the run directory is the trainer's secret.

    Args:
        config: the run's configuration.
        run_dir: a fresh run directory, or the run's own directory when ``resume``.
        device: where to train.
        quiet: no progress bars.
        resume: continue from ``run_dir/checkpoint.pt`` (same weights, RNG and accountant).
        bundle: the loaded dataset (loaded from ``config`` when None).

    Returns:
        A :class:`GANResult` with the final privacy report.
    """
    device = torch.device(device)
    if bundle is None:
        bundle = (dataset_from_record(run_dir.read_json("split.json")) if resume
                  else load_dataset(config.dataset, config.data))
    require(bundle.image_size in IMAGE_SIZES and bundle.image_size == bundle.train.shape[-2],
            f"images of {config.dataset} are {bundle.image_size} px; the DCGAN needs "
            f"--image-size {', '.join(map(str, IMAGE_SIZES))}")
    seed_everything(config.seed)
    generator, disc = build_models(latent_dim=config.latent_dim, channels=bundle.channels,
                                   image_size=bundle.image_size, g_width=config.g_width,
                                   d_width=config.d_width)
    generator, disc = generator.to(device), disc.to(device)
    g_opt = torch.optim.Adam(generator.parameters(), lr=config.lr_g, betas=config.betas)
    d_opt = torch.optim.Adam(disc.parameters(), lr=config.lr_d, betas=config.betas)
    setup = make_private(disc, d_opt, bundle.train, config.privacy, batch_size=config.batch_size,
                         epochs=config.epochs, criterion=torch.nn.BCEWithLogitsLoss(),
                         seed=config.seed)
    fixed_z = torch.randn(GRID_SIZE, config.latent_dim,
                          generator=torch.Generator().manual_seed(config.seed + 1)).to(device)

    start = 0
    ckpt = run_dir.file("checkpoint.pt")
    models = {"generator": generator, "discriminator": disc}
    optimizers = {"generator": g_opt, "discriminator": d_opt}
    if resume:
        info = load_checkpoint(ckpt, models=models, optimizers=optimizers,
                               setups={"discriminator": setup})
        start = info.epoch
        run_dir.truncate_metrics(start)
        run_dir.write_json("config.json", config.to_dict())  # --epochs may have grown
    else:
        run_dir.write_json("config.json", config.to_dict())
        run_dir.write_json("split.json", bundle.split_record())

    for epoch in range(start + 1, config.epochs + 1):
        t0 = time.perf_counter()
        generator.train()
        record = _epoch(setup, generator, g_opt, config, device, quiet=quiet,
                        desc=f"epoch {epoch}/{config.epochs}")
        report = setup.report()
        run_dir.append_metrics({"epoch": epoch, **record, "epsilon": report.epsilon,
                                NOT_COVERED_KEY: list(PRIVATE_RECORD_KEYS),
                                "steps": epoch * setup.steps_per_epoch,
                                "time_s": round(time.perf_counter() - t0, 3)})
        _save_grid(generator, fixed_z, run_dir.file(f"samples/epoch_{epoch:03d}.png"))
        save_checkpoint(ckpt, epoch=epoch, models=models, optimizers=optimizers,
                        setups={"discriminator": setup})

    total = config.epochs * setup.steps_per_epoch
    report = setup.report()
    if report.private and report.steps != total:
        raise PrivacyViolation(f"accountant holds {report.steps} steps, expected {total}")
    report = dataclasses.replace(report, steps=total)
    run_dir.write_json("privacy.json", report.to_dict())
    torch.save(generator.state_dict(), run_dir.file("final.pt"))  # the publishable weights only
    return GANResult(run_dir=str(run_dir.path), report=report, epochs=config.epochs, steps=total,
                     train_size=len(bundle.train), history=tuple(run_dir.read_metrics()),
                     noise_reproducible=setup.reproducible_noise)
