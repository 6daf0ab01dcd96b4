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

import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dpkit.classifiers.models import DEFAULT_IMAGE_SIZE, MIN_IMAGE_SIZE
from dpkit.classifiers.scattering import cache_dir_for
from dpkit.classifiers.training import (ClassifierConfig, FitResult, check_classifier_data,
                                        fit_classifier)
from dpkit.data import DataOptions, DatasetBundle, dataset_from_record, load_dataset
from dpkit.engine import (CURVES_FILE, PRIVACY_FILE, RESULT_FILE, CanaryGradients, RunDir,
                          check_new_run_dir, current_world, plot_curves, resume_run, running,
                          start_run)

__all__ = ["TrainResult", "train_classifier", "train_loaded_classifier", "resume_classifier",
           "run_config", "fit_defaults"]

COMMAND = "train-classifier"


@dataclass(frozen=True)
class TrainResult:
    """What ``dpkit train-classifier --json`` prints (``world_size``: the processes, under
    torchrun, that ran this invocation; config.json records those that started the run)."""

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
    notes: tuple[str, ...] = ()
    world_size: int = 1
    epsilon_normalization: float | None = None
    epsilon_training: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        for key in ("epsilon_normalization", "epsilon_training"):
            if d[key] is None:  # only runs that spend privacy before training have parts
                d.pop(key)
        if d["robust_accuracy"] is None:
            d.pop("robust_accuracy")
        if not d["notes"]:
            d.pop("notes")
        else:
            d["notes"] = list(d["notes"])
        return d


def run_config(cfg: ClassifierConfig, dataset: str, data: DataOptions) -> dict[str, Any]:
    """config.json of a classifier run (the run-directory contract)."""
    return {"command": COMMAND, "data": data.to_dict() | {"dataset": dataset}, **cfg.to_dict()}


def _finish(run: RunDir, fit: FitResult, bundle: DatasetBundle, cfg: ClassifierConfig,
            notes: tuple[str, ...] = ()) -> TrainResult:
    parts = fit.epsilon_parts or {}
    if run.writes:  # rank 0 of a torchrun world, or the only process
        torch.save(fit.model.state_dict(), run.final_path)
        run.write_json(PRIVACY_FILE, fit.report.to_dict() | parts)
        hist = fit.history
        series = {"test accuracy": [r.get("test_accuracy", math.nan) for r in hist],
                  "train loss / max (private, NOT covered by epsilon)":
                      _scaled([r["loss"] for r in hist])}
        plot_curves(run.file(CURVES_FILE), series, ylim=(0.0, 1.0),
                    title=f"{bundle.name}, {cfg.model.arch}, epsilon = "
                          f"{_fmt(fit.report.epsilon)}")
    result = TrainResult(run_dir=str(run.path), epsilon=fit.report.epsilon,
                         delta=fit.report.delta, noise_multiplier=fit.report.noise_multiplier,
                         test_accuracy=fit.test_accuracy, robust_accuracy=fit.robust_accuracy,
                         epochs=cfg.epochs, train_size=len(bundle.train),
                         epsilon_valid=fit.report.epsilon_valid,
                         noise_reproducible=fit.noise_reproducible, notes=notes,
                         world_size=current_world().size,
                         epsilon_normalization=parts.get("epsilon_normalization"),
                         epsilon_training=parts.get("epsilon_training"))
    run.write_json(RESULT_FILE, result.to_dict())
    return result


def _scaled(values: list[float]) -> list[float]:
    top = max((v for v in values if math.isfinite(v)), default=1.0) or 1.0
    return [v / top for v in values]


def _fmt(eps: float) -> str:
    return "inf" if not math.isfinite(eps) else f"{eps:.3g}"


def _run(run: RunDir, cfg: ClassifierConfig, bundle: DatasetBundle, *, device: torch.device,
         quiet: bool, resume: bool, notes: tuple[str, ...] = (),
         canary_gradients: CanaryGradients | None = None) -> TrainResult:
    fit = fit_classifier(cfg, bundle.train, public=bundle.public, test=bundle.test,
                         num_classes=bundle.num_classes, device=device, quiet=quiet,
                         checkpoint=run.checkpoint_path, resume=resume,
                         on_epoch=run.append_metrics, canary_gradients=canary_gradients,
                         feature_cache=cache_dir_for(bundle.options.data_root),
                         data_name=bundle.name)
    return _finish(run, fit, bundle, cfg, notes)


def fit_defaults(cfg: ClassifierConfig, data: DataOptions, dataset: str,
                 bundle: DatasetBundle) -> tuple[ClassifierConfig, DataOptions, DatasetBundle,
                                                 tuple[str, ...]]:
    """Make defaults work together: images resized to the model's size when the user gave no
    --image-size and the native size is too small for it, and the batch capped at N. Returns
    the adjusted settings, the data and a note for each change."""
    notes = []
    size = MIN_IMAGE_SIZE.get(cfg.model.arch)
    if data.image_size is None and size is not None and bundle.image_size < size:
        native = bundle.image_size
        data = dataclasses.replace(data, image_size=DEFAULT_IMAGE_SIZE)
        bundle = load_dataset(dataset, data)
        notes.append(f"{dataset} images resized from {native}px to {DEFAULT_IMAGE_SIZE}px: the "
                     f"{cfg.model.arch} needs at least {size}px (image_size={DEFAULT_IMAGE_SIZE} "
                     f"is now recorded; set it to choose another)")
    n = len(bundle.train)
    if cfg.batch_size > n:
        notes.append(f"batch size {cfg.batch_size} capped at the {n} training examples "
                     f"(q = 1: every example in every step)")
        cfg = dataclasses.replace(cfg, batch_size=n)
    return cfg, data, bundle, tuple(notes)


def train_classifier(cfg: ClassifierConfig, *, dataset: str, data: DataOptions,
                     out: str | Path | None = None, device: torch.device | str = "cpu",
                     quiet: bool = True) -> TrainResult:
    """Load the data, check the run can start, create the run directory and train (see
    :func:`fit_classifier`). Nothing is created when the data or the settings are refused."""
    check_new_run_dir(out, resumable=True)
    bundle = load_dataset(dataset, data)
    cfg, data, bundle, notes = fit_defaults(cfg, data, dataset, bundle)
    return train_loaded_classifier(cfg, bundle, dataset=dataset, data=data, out=out,
                                   device=device, quiet=quiet, notes=notes)


def train_loaded_classifier(cfg: ClassifierConfig, bundle: DatasetBundle, *, dataset: str,
                            data: DataOptions, out: str | Path | None = None,
                            device: torch.device | str = "cpu", quiet: bool = True,
                            notes: tuple[str, ...] = (), split: dict[str, Any] | None = None,
                            canary_gradients: CanaryGradients | None = None) -> TrainResult:
    """:func:`train_classifier` on data already loaded (and adjusted by :func:`fit_defaults`):
    check, create the run directory and train on ``bundle.train``.

    Args:
        split: split.json (default: ``bundle.split_record()``); an audit adds its canaries.
        canary_gradients: white-box audit canaries (see :func:`fit_classifier`).
    """
    check_classifier_data(cfg, bundle.train, public=bundle.public,
                          num_classes=bundle.num_classes)
    run = start_run(COMMAND, out, config=run_config(cfg, dataset, data),
                    split=split if split is not None else bundle.split_record())
    with running(run, created=True):
        return _run(run, cfg, bundle, device=torch.device(device), quiet=quiet, resume=False,
                    notes=notes, canary_gradients=canary_gradients)


def resume_classifier(run_dir: str | Path, *, device: torch.device | str = "cpu",
                      quiet: bool = True) -> TrainResult:
    """Continue an interrupted run from its checkpoint.pt with the run's own settings.

    The final weights and ε equal those of an uninterrupted run (same checkpointed RNG,
    sampler, noise generator and accountant states; in secure mode the noise is fresh and only
    ε is the same).
    """
    run, _ = resume_run(run_dir, COMMAND)
    cfg = ClassifierConfig.from_dict(run.config)
    bundle = dataset_from_record(run.read_split())
    with running(run, created=False):
        return _run(run, cfg, bundle, device=torch.device(device), quiet=quiet, resume=True)
