"""Generative metrics of a ``dpkit train-gan`` run: the adapter between run directories and the
pure metric pipeline of :mod:`dpkit.metrics.generative`."""

from __future__ import annotations

import time
from pathlib import Path

import torch

from dpkit.data import to_uint8
from dpkit.engine import open_run_dir, record_evaluation
from dpkit.errors import DPKitError
from dpkit.gan import generate, load_gan
from dpkit.metrics.features import FeatureSpec
from dpkit.metrics.generative import GenerativeEvalConfig, GenerativeEvaluation, evaluate_images

__all__ = ["EVALUATION_FAMILY", "evaluate_gan_run", "evaluate_generative_run"]

EVALUATION_FAMILY = "generative"  # evaluation-generative.json


def evaluate_gan_run(run_dir: str | Path, spec: FeatureSpec, cfg: GenerativeEvalConfig, *,
                     device: torch.device | str = "cpu",
                     quiet: bool = True) -> GenerativeEvaluation:
    """Evaluate the generator of a ``dpkit train-gan`` run directory (nothing is written).

    Samples ``cfg.num_samples`` images with seed ``cfg.seed``; the reference and training sets
    are the run's own split (``split.json``). The generator is loaded on ``device`` and generates
    there, as the feature extractor does. ``quiet``: no progress bars.
    """
    gan = load_gan(run_dir, device=device)
    images = generate(gan.generator, cfg.num_samples, latent_dim=gan.latent_dim, seed=cfg.seed,
                      device=device, batch_size=cfg.batch_size)  # (N, C, H, W) in [-1, 1]
    if not torch.isfinite(images).all():
        raise DPKitError(f"the generator in {run_dir} produces non-finite images")
    bundle = gan.bundle
    assert bundle is not None
    reference = bundle.train.images if cfg.reference == "train" else bundle.test.images
    return evaluate_images(to_uint8(images), reference, bundle.train.images, spec, cfg,
                           dataset=bundle.name, device=device, quiet=quiet)


def evaluate_generative_run(run_dir: str | Path, cfg: GenerativeEvalConfig, spec: FeatureSpec,
                            *, device: torch.device | str = "cpu", record: bool = True,
                            quiet: bool = True) -> GenerativeEvaluation:
    """:func:`evaluate_gan_run`, then record the result in the run directory
    (``evaluation-generative.json`` and one line of ``evaluations.jsonl``)."""
    run = open_run_dir(run_dir, kind="train-gan")
    started = time.perf_counter()
    result = evaluate_gan_run(run.path, spec, cfg, device=device, quiet=quiet)
    if record:
        record_evaluation(run, EVALUATION_FAMILY, result.to_dict() | {"seed": cfg.seed},
                          seconds=time.perf_counter() - started)
    return result
