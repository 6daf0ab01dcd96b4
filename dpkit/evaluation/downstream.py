"""Downstream utility of a class-conditional generator: train on synthetic, test on real.

The measure of DP image generators used by DP-CGAN, GS-WGAN, DP-MERF, DPDM and DPImageBench:
draw ``num_samples`` labelled images from the generator (classes balanced: the uniform public
prior), train a classifier on them alone, and report its accuracy on the *real* test split. The
same classifier, trained on the same number of *real* training images, gives the ceiling this
sample size allows. The classifier sees only synthetic data (post-processing of the private
generator), so it is trained without DP; the real-data reference is a reference only, not a
private result.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from dpkit.classifiers import ClassifierConfig, ModelConfig, fit_classifier
from dpkit.classifiers.evaluation import predict
from dpkit.data import ImageTensorDataset, to_uint8
from dpkit.engine import open_run_dir, record_evaluation
from dpkit.errors import DPKitError, require
from dpkit.gan import generate, load_gan, sample_labels
from dpkit.names import DOWNSTREAM_METRICS, OPTIMIZERS

__all__ = ["DOWNSTREAM_METRICS", "DownstreamConfig", "DownstreamEvaluation",
           "downstream_accuracy", "evaluate_downstream_run", "EVALUATION_FAMILY"]

EVALUATION_FAMILY = "downstream"  # evaluation-downstream.json


@dataclass(frozen=True)
class DownstreamConfig:
    """How the downstream classifier is trained.

    Attributes:
        num_samples: synthetic images to train on (and real images for the reference).
        model: the classifier (default: the Tramèr–Boneh CNN).
        epochs, batch_size, optimizer, lr: its non-private training.
        real_baseline: also train on ``num_samples`` real training images.
        seed: seeds the latents, the real subset and the classifier.
    """

    num_samples: int = 10000
    model: ModelConfig = field(default_factory=ModelConfig)
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adam"
    lr: float = 1e-3
    real_baseline: bool = True
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.num_samples >= 10, f"num_samples={self.num_samples} must be >= 10")
        require(self.epochs >= 1, f"downstream.epochs={self.epochs} must be >= 1")
        require(self.batch_size >= 1, f"batch_size={self.batch_size} must be >= 1")
        require(self.optimizer in OPTIMIZERS,
                f"optimizer={self.optimizer!r} must be one of {', '.join(OPTIMIZERS)}")
        require(self.lr > 0, f"lr={self.lr} must be > 0")

    def classifier(self, n: int) -> ClassifierConfig:
        """The classifier's training on ``n`` images (the batch is capped at n)."""
        return ClassifierConfig(model=self.model, optimizer=self.optimizer, lr=self.lr,
                                epochs=self.epochs, batch_size=min(self.batch_size, n),
                                robust_eval_size=0, eval_every=self.epochs, seed=self.seed)

    def to_dict(self) -> dict[str, Any]:
        return {"num_samples": self.num_samples, "model": self.model.arch,
                "epochs": self.epochs, "batch_size": self.batch_size,
                "optimizer": self.optimizer, "lr": self.lr, "seed": self.seed}


@dataclass(frozen=True)
class DownstreamEvaluation:
    """Accuracy on the real test split of a classifier trained on synthetic images.

    Attributes:
        accuracy: trained on ``num_samples`` generated images.
        real_accuracy: the same classifier trained on as many real training images (None when
            not computed).
        per_class: accuracy on each class of the real test split (synthetic-trained).
        num_samples, test_size, real_size: the sizes behind the figures (real_size: the real
            training images of the reference, fewer than num_samples on a small dataset).
        config: the classifier's settings.
    """

    accuracy: float
    real_accuracy: float | None
    per_class: tuple[float, ...]
    num_samples: int
    test_size: int
    config: DownstreamConfig
    real_size: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"downstream_accuracy": self.accuracy,
                "downstream_real_accuracy": self.real_accuracy,
                "downstream_real_size": self.real_size,
                "downstream_per_class": list(self.per_class), "num_samples": self.num_samples,
                "test_size": self.test_size, "classifier": self.config.to_dict()}

    def summary(self) -> str:
        real = ("" if self.real_accuracy is None else
                f"; trained on {self.real_size} real training images: "
                f"{self.real_accuracy:.4f}")
        return (f"downstream accuracy (classifier trained on {self.num_samples} generated "
                f"images, tested on {self.test_size} real test images): {self.accuracy:.4f}"
                f"{real}")


def _per_class(model: torch.nn.Module, test: ImageTensorDataset, k: int,
               device: torch.device | str) -> tuple[float, ...]:
    pred = predict(model, test, device=device)
    labels = test.labels
    return tuple(float((pred[labels == c] == c).float().mean()) if (labels == c).any()
                 else float("nan") for c in range(k))


def downstream_accuracy(sample: Callable[[int, torch.Tensor], torch.Tensor],
                        train: ImageTensorDataset, test: ImageTensorDataset, num_classes: int,
                        cfg: DownstreamConfig, *, device: torch.device | str = "cpu",
                        quiet: bool = True) -> DownstreamEvaluation:
    """Train on ``sample(seed, labels)`` images, test on ``test`` (the pure measure).

    Args:
        sample: ``sample(seed, labels)`` -> images (n, C, H, W) in [-1, 1] of those classes.
        train: real training images, for the real-data reference.
        test: the real test split.
        num_classes: K.
        cfg: the classifier and sample size.
        device: where to train.
        quiet: no progress bars.
    """
    require(len(test) > 0, "the run has no test split to measure downstream accuracy on")
    labels = sample_labels(cfg.num_samples, num_classes)
    assert labels is not None
    images = sample(cfg.seed, labels)  # (n, C, H, W) in [-1, 1]
    if not torch.isfinite(images).all():
        raise DPKitError("the generator produces non-finite images")
    synthetic = ImageTensorDataset(to_uint8(images), labels)
    fit = fit_classifier(cfg.classifier(len(synthetic)), synthetic, test=test,
                         num_classes=num_classes, device=device, quiet=quiet)
    real_acc, real_size = None, 0
    if cfg.real_baseline:
        idx = torch.randperm(len(train), generator=torch.Generator().manual_seed(cfg.seed))
        real = train.subset(idx[:cfg.num_samples])  # all of them when fewer
        real_acc = fit_classifier(cfg.classifier(len(real)), real, test=test,
                                  num_classes=num_classes, device=device,
                                  quiet=quiet).test_accuracy
        real_size = len(real)
    assert fit.test_accuracy is not None
    return DownstreamEvaluation(accuracy=fit.test_accuracy, real_accuracy=real_acc,
                                per_class=_per_class(fit.model, test, num_classes, device),
                                num_samples=cfg.num_samples, test_size=len(test), config=cfg,
                                real_size=real_size)


def evaluate_downstream_run(run_dir: str | Path, cfg: DownstreamConfig, *,
                            device: torch.device | str = "cpu", quiet: bool = True,
                            record: bool = True) -> DownstreamEvaluation:
    """Downstream accuracy of a ``train-gan`` run's generator, recorded in the run directory
    (``evaluation-downstream.json`` and one line of ``evaluations.jsonl``)."""
    run = open_run_dir(run_dir, kind="train-gan")
    started = time.perf_counter()
    gan = load_gan(run.path, device=device)
    require(gan.num_classes >= 2,
            f"{run.path} holds an unconditional generator: downstream accuracy needs labelled "
            f"samples; train with conditional=True")
    assert gan.bundle is not None

    def sample(seed: int, labels: torch.Tensor) -> torch.Tensor:
        return generate(gan.generator, len(labels), latent_dim=gan.latent_dim, seed=seed,
                        device=device, labels=labels)

    result = downstream_accuracy(sample, gan.bundle.train, gan.bundle.test, gan.num_classes,
                                 cfg, device=device, quiet=quiet)
    if record:
        record_evaluation(run, EVALUATION_FAMILY, result.to_dict(),
                          seconds=time.perf_counter() - started)
    return result
