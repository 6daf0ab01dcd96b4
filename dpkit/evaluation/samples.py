"""Generative metrics of images from anywhere (``dpkit evaluate --samples PATH --dataset NAME``):
any generator's output, compared with a dataset's training split (what the memorization metrics
look for copies of) and its test split (the held-out real images), as torch-fidelity's
``fidelity --input1 --input2`` compares two folders.

The dataset is loaded at the samples' size (unless ``image_size`` says otherwise, which must then
match) and the samples are converted to its channels. The result goes into a fresh run directory
(kind ``evaluate-samples``): ``config.json``, ``evaluation-generative.json``, ``evaluations.jsonl``,
``result.json`` and, with a memorization metric, ``memorization.csv`` and
``memorization-gallery.png``, as for a GAN run.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from dpkit.data import DataOptions, DatasetBundle, load_dataset
from dpkit.data.samples import SampleImages, load_sample_images, match_channels
from dpkit.engine import create_run_dir
from dpkit.engine.rundir import RESULT_FILE, check_new_run_dir
from dpkit.errors import DPKitError
from dpkit.evaluation.generative import record_generative
from dpkit.metrics.features import FeatureSpec
from dpkit.metrics.generative import GenerativeEvalConfig, GenerativeEvaluation, evaluate_images

__all__ = ["SAMPLES_RUN_KIND", "SamplesEvaluation", "evaluate_samples", "evaluate_samples_to_dir"]

SAMPLES_RUN_KIND = "evaluate-samples"


@dataclass(frozen=True)
class SamplesEvaluation:
    """The metrics of a set of samples, where they came from and the run directory written."""

    evaluation: GenerativeEvaluation
    samples: SampleImages
    dataset: str
    out: Path | None = None

    def to_dict(self) -> dict[str, object]:
        out = self.evaluation.to_dict() | {"samples": str(self.samples.source),
                                           "dataset": self.dataset}
        return out | ({"out": str(self.out)} if self.out is not None else {})

    def summary(self) -> str:
        head = (f"{self.samples.images.shape[0]} images from {self.samples.source} "
                f"({self.samples.format}) vs {self.dataset}")
        tail = [f"wrote {self.out}"] if self.out is not None else []
        return "\n".join([head, self.evaluation.summary(), *tail])


def _prepare(samples: SampleImages, dataset: str,
             data: DataOptions) -> tuple[torch.Tensor, DatasetBundle]:
    """The samples at the dataset's channels, and the dataset at the samples' size."""
    if data.image_size is not None and data.image_size != samples.size:
        raise DPKitError(f"the samples are {samples.size}x{samples.size} but image_size="
                         f"{data.image_size}; drop that setting (the dataset is then loaded at the "
                         f"samples' size) or resize the samples")
    bundle = load_dataset(dataset, dataclasses.replace(data, image_size=samples.size))
    return match_channels(samples.images, bundle.channels), bundle


def evaluate_samples(samples: SampleImages, dataset: str, spec: FeatureSpec,
                     cfg: GenerativeEvalConfig, *, data: DataOptions | None = None,
                     device: torch.device | str = "cpu", quiet: bool = True
                     ) -> tuple[GenerativeEvaluation, torch.Tensor, torch.Tensor]:
    """Metrics of ``samples`` against ``dataset`` (nothing is written).

    The first ``cfg.num_samples`` images are evaluated. FID/KID/PRC compare with
    ``cfg.reference``; the memorization metrics with the training split (``data.subset`` etc.
    select it, as for training) and its test split as held-out real images.

    Returns:
        The evaluation, the evaluated uint8 images (N, C, H, W) and the training images.
    """
    images, bundle = _prepare(samples, dataset, data or DataOptions())
    images = images[:cfg.num_samples]
    reference = bundle.train.images if cfg.reference == "train" else bundle.test.images
    result = evaluate_images(images, reference, bundle.train.images, spec, cfg,
                             dataset=bundle.name, device=device, quiet=quiet,
                             heldout=bundle.test.images)
    return result, images, bundle.train.images


def evaluate_samples_to_dir(path: str | Path, dataset: str, spec: FeatureSpec,
                            cfg: GenerativeEvalConfig, *, data: DataOptions | None = None,
                            out: str | Path | None = None, device: torch.device | str = "cpu",
                            quiet: bool = True, extra: dict[str, object] | None = None
                            ) -> SamplesEvaluation:
    """:func:`evaluate_samples` of the images at ``path``, recorded in a fresh run directory
    ``out`` (default ``runs/evaluate-samples-<timestamp>``; an existing non-empty one is refused
    before anything is read). ``extra`` is merged into the recorded result (e.g. a note)."""
    check_new_run_dir(out)
    data = data or DataOptions()
    samples = load_sample_images(path)
    started = time.perf_counter()
    result, generated, training = evaluate_samples(samples, dataset, spec, cfg, data=data,
                                                   device=device, quiet=quiet)
    run = create_run_dir(SAMPLES_RUN_KIND, out)
    run.write_config({"command": SAMPLES_RUN_KIND, **samples.to_dict(), "dataset": dataset,
                      "data": data.to_dict(), "features": spec.to_dict(),
                      "metrics": cfg.to_dict()})
    if extra:
        result = dataclasses.replace(result, extra=result.extra | extra)
    result = record_generative(run, result, generated, training, seed=cfg.seed,
                               seconds=time.perf_counter() - started)
    done = SamplesEvaluation(result, samples, dataset, run.path)
    run.write_json(RESULT_FILE, done.to_dict())
    return done
