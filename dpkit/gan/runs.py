"""DP-GAN training runs in a run directory: ``train_gan`` and ``resume_gan``.

The run directory holds config.json, split.json, metrics.jsonl (one record per epoch),
samples/epoch_NNN.png (a fixed-noise grid per epoch), checkpoint.pt (after every epoch),
final.pt (the generator's weights: with generated samples, the only publishable output),
privacy.json, result.json and curves.png (mean D outputs per epoch). ``d_loss_real`` and ``d_real`` in metrics.jsonl are computed on
private data without noise (NOT covered by ε), and checkpoint.pt holds the noise generator's state
unless secure mode is on: the run directory is the trainer's secret.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dpkit.data import DatasetBundle, dataset_from_record, load_dataset
from dpkit.engine import (CURVES_FILE, PRIVACY_FILE, RESULT_FILE, CanaryGradients, PrivacyReport,
                          RunDir, check_new_run_dir, current_world, plot_curves, resume_run,
                          running, start_run)
from dpkit.errors import DPKitError
from dpkit.gan.training import GANConfig, check_gan_data, fit_gan

__all__ = ["GANResult", "train_gan", "resume_gan"]

COMMAND = "train-gan"


@dataclass(frozen=True)
class GANResult:
    """What a finished training run reports (``--json``, result.json)."""

    run_dir: str
    report: PrivacyReport
    epochs: int
    steps: int
    train_size: int
    history: tuple[dict[str, Any], ...] = ()
    noise_reproducible: bool = False
    world_size: int = 1  # processes (torchrun) that trained it

    def to_dict(self) -> dict[str, Any]:
        return {"run_dir": self.run_dir, "epsilon": self.report.epsilon,
                "epsilon_valid": self.report.epsilon_valid,
                "delta": self.report.delta, "noise_multiplier": self.report.noise_multiplier,
                "epochs": self.epochs, "steps": self.steps, "train_size": self.train_size,
                "noise_reproducible": self.noise_reproducible, "world_size": self.world_size}


def _run(run: RunDir, cfg: GANConfig, bundle: DatasetBundle, *, device: torch.device | str,
         quiet: bool, resume: bool, canary_gradients: CanaryGradients | None = None) -> GANResult:
    fit = fit_gan(cfg, bundle.train, device=device, quiet=quiet, checkpoint=run.checkpoint_path,
                  resume=resume, samples_dir=run.file("samples"), on_epoch=run.append_metrics,
                  canary_gradients=canary_gradients)
    if not run.writes:  # another rank than 0 of a torchrun world: rank 0 writes and reports
        return GANResult(run_dir=str(run.path), report=fit.report, epochs=cfg.epochs,
                         steps=fit.report.steps, train_size=len(bundle.train),
                         history=fit.history, noise_reproducible=fit.noise_reproducible,
                         world_size=current_world().size)
    run.write_json(PRIVACY_FILE, fit.report.to_dict())
    # the publishable weights only (the weight average when ema is on)
    torch.save(fit.generator.state_dict(), run.final_path)
    history = run.read_metrics()
    eps = fit.report.epsilon
    privacy = f"epsilon = {eps:.3g}" if math.isfinite(eps) else "non-private"
    plot_curves(run.file(CURVES_FILE),
                {"D(generated)": [float(r["d_fake"]) for r in history],
                 "D(real) (private, NOT covered by epsilon)": [float(r["d_real"])
                                                               for r in history]},
                ylim=(0.0, 1.0), title=f"{bundle.name}, DCGAN, {privacy}")
    result = GANResult(run_dir=str(run.path), report=fit.report, epochs=cfg.epochs,
                       steps=fit.report.steps, train_size=len(bundle.train),
                       history=tuple(run.read_metrics()),
                       noise_reproducible=fit.noise_reproducible,
                       world_size=current_world().size)
    run.write_json(RESULT_FILE, result.to_dict())
    return result


def train_gan(cfg: GANConfig, *, out: str | Path | None = None,
              device: torch.device | str = "cpu", quiet: bool = True,
              bundle: DatasetBundle | None = None, split: dict[str, Any] | None = None,
              canary_gradients: CanaryGradients | None = None) -> GANResult:
    """Load the data, check the run can start, create the run directory and train (see
    :func:`~dpkit.gan.training.fit_gan`). Nothing is created when the data or settings are
    refused.

    Args:
        cfg: the run's configuration (its dataset is loaded unless ``bundle`` is given).
        out: the run directory to create (default ``runs/train-gan-<timestamp>``); must be new.
        device: where to train.
        quiet: no progress bars.
        bundle: the loaded dataset, to skip loading it again.
        split: split.json (default: ``bundle.split_record()``); an audit adds its canaries.
        canary_gradients: white-box audit canaries (see :func:`~dpkit.gan.training.fit_gan`).
    """
    check_new_run_dir(out, resumable=True)
    if bundle is None:
        bundle = load_dataset(cfg.dataset, cfg.data)
    if cfg.num_classes is None:
        cfg = cfg.resolved(bundle.num_classes)
    check_gan_data(cfg, bundle.train)
    run = start_run(COMMAND, out, config=cfg.to_dict(),
                    split=split if split is not None else bundle.split_record())
    with running(run, created=True):
        return _run(run, cfg, bundle, device=device, quiet=quiet, resume=False,
                    canary_gradients=canary_gradients)


def resume_gan(run_dir: str | Path, *, epochs: int | None = None,
               device: torch.device | str = "cpu", quiet: bool = True) -> GANResult:
    """Continue a run from its checkpoint.pt with its own settings; ``epochs`` may extend a run
    trained at a fixed noise multiplier (a σ calibrated to a target ε over the planned epochs
    may not be stretched)."""
    run, _ = resume_run(run_dir, COMMAND)
    cfg = GANConfig.from_dict(run.config)
    if epochs is not None and epochs != cfg.epochs:
        if cfg.privacy.enabled and cfg.privacy.target_epsilon is not None:
            raise DPKitError(f"epochs={epochs} cannot change when resuming {run.path}: its "
                             f"noise was calibrated to target_epsilon="
                             f"{cfg.privacy.target_epsilon:g} over {cfg.epochs} epochs; keep "
                             f"epochs={cfg.epochs}")
        cfg = GANConfig.from_dict(cfg.to_dict() | {
            "training": cfg.to_dict()["training"] | {"epochs": epochs}})
        run.write_config(cfg.to_dict() | {"world_size": run.config.get("world_size", 1)})
    bundle = dataset_from_record(run.read_split())
    with running(run, created=False):
        return _run(run, cfg, bundle, device=device, quiet=quiet, resume=True)
