"""Generative metrics of a ``dpkit train-gan`` run: the adapter between run directories and the
pure metric pipeline of :mod:`dpkit.metrics.generative`.

When a memorization metric (``MEMORIZATION_METRICS``: mifid, ct, authenticity) is computed and the
result is recorded, the per-sample nearest neighbours go into the run directory as well:
``memorization.csv`` (one row per generated sample: its nearest training image and held-out test
image, by index into the run's split, with MiFID's cosine distance) and
``memorization-gallery.png`` (the closest (generated, training image) pairs, generated on top).
"""

from __future__ import annotations

import csv
import dataclasses
import time
from pathlib import Path
from typing import Any

import torch
from torchvision.utils import save_image

from dpkit.data import to_uint8
from dpkit.engine import RunDir, open_run_dir, record_evaluation
from dpkit.errors import DPKitError
from dpkit.gan import generate, load_gan
from dpkit.metrics.features import FeatureSpec
from dpkit.metrics.generative import GenerativeEvalConfig, GenerativeEvaluation, evaluate_images
from dpkit.metrics.memorization import NearestNeighbours

__all__ = ["EVALUATION_FAMILY", "MEMORIZATION_CSV", "MEMORIZATION_GALLERY", "GALLERY_PAIRS",
           "evaluate_gan_run", "evaluate_generative_run", "record_generative",
           "write_memorization_csv",
           "write_memorization_gallery"]

EVALUATION_FAMILY = "generative"  # evaluation-generative.json
MEMORIZATION_CSV = "memorization.csv"
MEMORIZATION_GALLERY = "memorization-gallery.png"
MEMORIZATION_COLUMNS = ("sample", "nearest_train", "train_distance", "nearest_heldout",
                        "heldout_distance")
GALLERY_PAIRS = 16


def _evaluate(run_dir: str | Path, spec: FeatureSpec, cfg: GenerativeEvalConfig, *,
              device: torch.device | str,
              quiet: bool) -> tuple[GenerativeEvaluation, torch.Tensor, torch.Tensor]:
    """The evaluation, the generated uint8 images and the training uint8 images."""
    gan = load_gan(run_dir, device=device)
    images = generate(gan.generator, cfg.num_samples, latent_dim=gan.latent_dim, seed=cfg.seed,
                      device=device, batch_size=cfg.batch_size)  # (N, C, H, W) in [-1, 1]
    if not torch.isfinite(images).all():
        raise DPKitError(f"the generator in {run_dir} produces non-finite images")
    bundle = gan.bundle
    assert bundle is not None
    reference = bundle.train.images if cfg.reference == "train" else bundle.test.images
    generated = to_uint8(images).cpu()
    result = evaluate_images(generated, reference, bundle.train.images, spec, cfg,
                             dataset=bundle.name, device=device, quiet=quiet,
                             heldout=bundle.test.images)  # held-out real images: the test split
    return result, generated, bundle.train.images


def evaluate_gan_run(run_dir: str | Path, spec: FeatureSpec, cfg: GenerativeEvalConfig, *,
                     device: torch.device | str = "cpu",
                     quiet: bool = True) -> GenerativeEvaluation:
    """Evaluate the generator of a ``dpkit train-gan`` run directory (nothing is written).

    Samples ``cfg.num_samples`` images with seed ``cfg.seed``; the reference and training sets
    are the run's own split (``split.json``), its test split the held-out real images of the
    memorization metrics. The generator is loaded on ``device`` and generates there, as the
    feature extractor does. ``quiet``: no progress bars.
    """
    return _evaluate(run_dir, spec, cfg, device=device, quiet=quiet)[0]


def write_memorization_csv(path: str | Path, nn: NearestNeighbours) -> Path:
    """One row per generated sample: ``MEMORIZATION_COLUMNS`` (held-out columns empty if None)."""
    path = Path(path)
    n = nn.train_index.shape[0]
    h_idx = nn.heldout_index.tolist() if nn.heldout_index is not None else [""] * n
    h_dist = nn.heldout_distance.tolist() if nn.heldout_distance is not None else [""] * n
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(MEMORIZATION_COLUMNS)
        for i, (t, td, h, hd) in enumerate(zip(nn.train_index.tolist(),
                                               nn.train_distance.tolist(), h_idx, h_dist)):
            w.writerow([i, t, repr(td), h, repr(hd) if hd != "" else ""])
    return path


def write_memorization_gallery(path: str | Path, nn: NearestNeighbours, generated: torch.Tensor,
                               training: torch.Tensor, *, pairs: int = GALLERY_PAIRS) -> Path:
    """The ``pairs`` generated samples closest to a training image (top row, closest first) and
    those training images (bottom row). ``generated`` (N, C, H, W), ``training`` (M, C, H, W)
    uint8."""
    path = Path(path)
    order = nn.closest(pairs)  # (k,)
    top = generated[order]  # (k, C, H, W)
    bottom = training[nn.train_index[order]]  # (k, C, H, W)
    grid = torch.cat([top, bottom]).float().div(255.0)  # (2k, C, H, W) in [0, 1]
    save_image(grid, path, nrow=len(order), padding=2, pad_value=1.0)
    return path


def evaluate_generative_run(run_dir: str | Path, cfg: GenerativeEvalConfig, spec: FeatureSpec,
                            *, device: torch.device | str = "cpu", record: bool = True,
                            quiet: bool = True,
                            extra: dict[str, Any] | None = None) -> GenerativeEvaluation:
    """:func:`evaluate_gan_run`, then record the result in the run directory
    (``evaluation-generative.json`` and one line of ``evaluations.jsonl``), and with a
    memorization metric ``memorization.csv`` and ``memorization-gallery.png`` (their paths are
    in the result's ``memorization_csv`` / ``memorization_gallery``). ``extra`` is merged into
    the result (e.g. a note on how the features were chosen)."""
    run = open_run_dir(run_dir, kind="train-gan")
    started = time.perf_counter()
    result, generated, training = _evaluate(run.path, spec, cfg, device=device, quiet=quiet)
    if extra:
        result = dataclasses.replace(result, extra=result.extra | extra)
    if record:
        result = record_generative(run, result, generated, training, seed=cfg.seed,
                                   seconds=time.perf_counter() - started)
    return result


def record_generative(run: RunDir, result: GenerativeEvaluation, generated: torch.Tensor,
                      training: torch.Tensor, *, seed: int,
                      seconds: float) -> GenerativeEvaluation:
    """Write a generative evaluation into ``run``: with per-sample neighbours
    ``memorization.csv`` and ``memorization-gallery.png`` (their paths join the result), then
    ``evaluation-generative.json`` and a line of ``evaluations.jsonl``. ``generated`` and
    ``training`` are the uint8 images (N, C, H, W) / (M, C, H, W) the neighbours index."""
    if result.neighbours is not None:
        files = {
            "memorization_csv": str(write_memorization_csv(run.file(MEMORIZATION_CSV),
                                                           result.neighbours)),
            "memorization_gallery": str(write_memorization_gallery(
                run.file(MEMORIZATION_GALLERY), result.neighbours, generated, training)),
        }
        result = dataclasses.replace(result, extra=result.extra | files)
    record_evaluation(run, EVALUATION_FAMILY, result.to_dict() | {"seed": seed},
                      seconds=seconds)
    return result
