"""Classifier training runs in a run directory: ``train_classifier`` and ``resume_classifier``.

The run directory holds config.json, split.json, metrics.jsonl (one record per epoch),
checkpoint.pt (after every epoch), final.pt (the trained weights), privacy.json, result.json and
curves.png (loss and test accuracy per epoch).

Only final.pt (the model's state dict and nothing else) is covered by ε and may be published. The
training loss in metrics.jsonl and curves.png is computed on private data without noise, and
checkpoint.pt with config.json lets anyone regenerate a seeded run's noise: both are the trainer's
secrets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dpkit.classifiers.curves import plot_curves
from dpkit.classifiers.training import ClassifierConfig, FitResult, fit_classifier
from dpkit.data import DataOptions, DatasetBundle, dataset_from_record, load_dataset
from dpkit.engine import RunDir, create_run_dir, open_run_dir
from dpkit.errors import DPKitError

__all__ = ["TrainResult", "train_classifier", "resume_classifier", "run_config"]

COMMAND = "train-classifier"


@dataclass(frozen=True)
class TrainResult:
    """What ``dpkit train-classifier --json`` prints."""

    run_dir: str
    epsilon: float
    delta: float
    noise_multiplier: float
    test_accuracy: float | None
    robust_accuracy: float | None
    epochs: int
    train_size: int
    epsilon_valid: bool = True
    noise_reproducible: bool = False

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        if d["robust_accuracy"] is None:
            d.pop("robust_accuracy")
        return d


def run_config(cfg: ClassifierConfig, dataset: str, data: DataOptions) -> dict[str, Any]:
    """config.json of a classifier run (the run-directory contract)."""
    return {"command": COMMAND, "data": data.to_dict() | {"dataset": dataset}, **cfg.to_dict()}


def _finish(run: RunDir, fit: FitResult, bundle: DatasetBundle, cfg: ClassifierConfig) -> TrainResult:
    torch.save(fit.model.state_dict(), run.file("final.pt"))
    run.write_json("privacy.json", fit.report.to_dict())
    hist = fit.history
    series = {"test accuracy": [r.get("test_accuracy", math.nan) for r in hist],
              "train loss / max (private, NOT covered by epsilon)":
                  _scaled([r["loss"] for r in hist])}
    plot_curves(run.file("curves.png"), series, ylim=(0.0, 1.0),
                title=f"{bundle.name} {cfg.model.arch}, epsilon = {_fmt(fit.report.epsilon)}")
    result = TrainResult(run_dir=str(run.path), epsilon=fit.report.epsilon,
                         delta=fit.report.delta, noise_multiplier=fit.report.noise_multiplier,
                         test_accuracy=fit.test_accuracy, robust_accuracy=fit.robust_accuracy,
                         epochs=cfg.epochs, train_size=len(bundle.train),
                         epsilon_valid=fit.report.epsilon_valid,
                         noise_reproducible=fit.noise_reproducible)
    run.write_json("result.json", result.to_dict())
    return result


def _scaled(values: list[float]) -> list[float]:
    top = max((v for v in values if math.isfinite(v)), default=1.0) or 1.0
    return [v / top for v in values]


def _fmt(eps: float) -> str:
    return "inf" if not math.isfinite(eps) else f"{eps:.3g}"


def _run(run: RunDir, cfg: ClassifierConfig, bundle: DatasetBundle, *, device: torch.device,
         quiet: bool, resume: bool) -> TrainResult:
    fit = fit_classifier(cfg, bundle.train, public=bundle.public, test=bundle.test,
                         num_classes=bundle.num_classes, device=device, quiet=quiet,
                         checkpoint=run.file("checkpoint.pt"), resume=resume,
                         on_epoch=run.append_metrics)
    return _finish(run, fit, bundle, cfg)


def train_classifier(cfg: ClassifierConfig, *, dataset: str, data: DataOptions,
                     out: str | Path | None = None, device: torch.device | str = "cpu",
                     quiet: bool = True) -> TrainResult:
    """Load the data, create the run directory and train (see :func:`fit_classifier`)."""
    bundle = load_dataset(dataset, data)
    if cfg.model.norm == "public-bn" and bundle.public is None:
        raise DPKitError("--norm public-bn needs public data; add --public-data holdout (a "
                         "disjoint slice of the training split) or --public-data <dataset>")
    run = create_run_dir(COMMAND, out)
    run.write_json("config.json", run_config(cfg, dataset, data))
    run.write_json("split.json", bundle.split_record())
    return _run(run, cfg, bundle, device=torch.device(device), quiet=quiet, resume=False)


def resume_classifier(run_dir: str | Path, *, device: torch.device | str = "cpu",
                      quiet: bool = True) -> TrainResult:
    """Continue an interrupted run from its checkpoint.pt with the run's own settings.

    The final weights and ε equal those of an uninterrupted run (same checkpointed RNG,
    sampler, noise generator and accountant states).
    """
    run = open_run_dir(run_dir)
    config = run.config
    if config.get("command") != COMMAND:
        raise DPKitError(f"{run.path} was written by '{config.get('command')}', not "
                         f"'{COMMAND}'; resume it with its own command")
    if not run.file("checkpoint.pt").is_file():
        raise DPKitError(f"{run.path} has no checkpoint.pt (no epoch finished); start a new run")
    cfg = ClassifierConfig.from_dict(config)
    bundle = dataset_from_record(run.read_json("split.json"))
    info_epoch = torch.load(run.file("checkpoint.pt"), map_location="cpu",
                            weights_only=False)["epoch"]
    run.truncate_metrics(info_epoch)
    return _run(run, cfg, bundle, device=torch.device(device), quiet=quiet, resume=True)

