"""Evaluate a generator: FID, KID, precision/recall and MiFID on one set of features.

Pipeline: generated uint8 images and the reference split's images -> features (torch-fidelity
extractor; reference features cached) -> each metric's ``*_from_features``. MiFID's memorization
term always compares against the generator's own *training* set; FID/KID/PRC compare against
``reference`` (``train`` or ``test``).
"""

from __future__ import annotations

import math

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from dpkit.errors import DPKitError
from dpkit.metrics.cache import cached_reference_features
from dpkit.metrics.features import FeatureSpec, build_extractor, extract_features
from dpkit.metrics.fid import features_to_statistics, frechet_distance
from dpkit.metrics.kid import kid_from_features
from dpkit.metrics.mifid import memorization_distance, mifid
from dpkit.metrics.prc import precision_recall_from_features
from dpkit.names import GENERATIVE_METRICS

__all__ = ["GENERATIVE_METRICS", "GenerativeEvalConfig", "GenerativeEvaluation",
           "evaluate_features", "evaluate_images"]



@dataclass(frozen=True)
class GenerativeEvalConfig:
    """What to compute and how.

    Attributes:
        metrics: subset of ``("fid", "kid", "prc", "mifid")``.
        num_samples: generated samples (the reference split is used whole).
        reference: split FID/KID/PRC compare against: ``"train"`` or ``"test"``.
        mifid_threshold: eps of MiFID's thresholded memorization distance.
        seed: seed of the generated samples (and of KID's subsets).
        batch_size: feature-extraction and generation batch size.
        kid_subsets, kid_subset_size: KID's random subsets (size capped at the set sizes).
        prc_neighborhood: k of the k-NN balls for precision/recall.
        cache_dir: reference-feature cache (None: ``~/.cache/dpkit/features``).
        use_cache: read/write the reference-feature cache.
    """

    metrics: tuple[str, ...] = ("fid",)
    num_samples: int = 10000
    reference: str = "train"
    mifid_threshold: float = 0.1
    seed: int = 0
    batch_size: int = 256
    kid_subsets: int = 100
    kid_subset_size: int = 1000
    prc_neighborhood: int = 3
    cache_dir: str | None = None
    use_cache: bool = True

    def __post_init__(self) -> None:
        bad = tuple(m for m in self.metrics if m not in GENERATIVE_METRICS)
        if not self.metrics or bad:
            raise DPKitError(f"metrics={bad or tuple(self.metrics)} are not generative metrics; "
                             f"choose from {', '.join(GENERATIVE_METRICS)}, e.g. metrics=('fid',)")
        if self.num_samples < 2:
            raise DPKitError(f"num_samples={self.num_samples} must be at least 2")
        if self.reference not in ("train", "test"):
            raise DPKitError(f"reference={self.reference!r} must be 'train' or 'test'")
        if not 0 < self.mifid_threshold <= 1:
            raise DPKitError(f"mifid_threshold={self.mifid_threshold} must be in (0, 1]")
        if self.batch_size < 1 or self.kid_subsets < 1 or self.prc_neighborhood < 1:
            raise DPKitError(f"batch_size={self.batch_size}, kid_subsets={self.kid_subsets} "
                             f"and prc_neighborhood={self.prc_neighborhood} must be positive")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class GenerativeEvaluation:
    """Metric values (None where not asked for), named by their features."""

    features: str
    num_samples: int
    reference: str
    fid: float | None = None
    kid_mean: float | None = None
    kid_std: float | None = None
    precision: float | None = None
    recall: float | None = None
    mifid: float | None = None
    memorization_distance: float | None = None
    memorization_distance_thresholded: float | None = None
    mifid_threshold: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The keys of the metrics that were computed, plus features/num_samples/reference."""
        out = {k: v for k, v in asdict(self).items() if v is not None and k != "extra"}
        return out | self.extra

    def summary(self) -> str:
        """Human-readable lines, each naming the features."""
        lines = [f"{self.num_samples} generated samples vs the {self.reference} split, "
                 f"features: {self.features}"]
        if self.fid is not None:
            lines.append(f"  FID        {_fmt(self.fid)}")
        if self.kid_mean is not None:
            lines.append(f"  KID        {_fmt(self.kid_mean)} ± {_fmt(self.kid_std)}")
        if self.precision is not None:
            lines.append(f"  precision  {_fmt(self.precision)}   recall {_fmt(self.recall)}")
        if self.mifid is not None:
            lines.append(f"  MiFID      {_fmt(self.mifid)}   (memorization distance "
                         f"{_fmt(self.memorization_distance)} vs the training set, thresholded "
                         f"{_fmt(self.memorization_distance_thresholded)} at "
                         f"eps={self.mifid_threshold:g})")
        return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return f"{x:.6g}" if x is not None and math.isfinite(x) else str(x)


def evaluate_features(generated: torch.Tensor, reference: torch.Tensor,
                      training: torch.Tensor | None, cfg: GenerativeEvalConfig, *,
                      features_name: str) -> GenerativeEvaluation:
    """All asked-for metrics from features: generated (N, D), reference (M, D), training (K, D).

    ``training`` (the generator's training set) is needed only for MiFID.
    """
    m = set(cfg.metrics)
    out: dict[str, Any] = {}
    if m & {"fid", "mifid"}:
        out["fid"] = frechet_distance(features_to_statistics(generated),
                                      features_to_statistics(reference))
    if "kid" in m:
        kid = kid_from_features(generated, reference, subsets=cfg.kid_subsets,
                                subset_size=cfg.kid_subset_size, seed=cfg.seed)
        out |= {"kid_mean": kid.mean, "kid_std": kid.std}
    if "prc" in m:
        pr = precision_recall_from_features(generated, reference, neighborhood=cfg.prc_neighborhood)
        out |= {"precision": pr.precision, "recall": pr.recall}
    if "mifid" in m:
        if training is None:
            raise DPKitError("MiFID needs the generator's training set")
        res = mifid(out["fid"], memorization_distance(generated, training), eps=cfg.mifid_threshold)
        out |= {"mifid": res.mifid, "memorization_distance": res.memorization_distance,
                "memorization_distance_thresholded": res.memorization_distance_thresholded,
                "mifid_threshold": res.threshold}
    return GenerativeEvaluation(features=features_name, num_samples=int(generated.shape[0]),
                                reference=cfg.reference, **out)


def evaluate_images(generated: torch.Tensor, reference: torch.Tensor,
                    training: torch.Tensor | None, spec: FeatureSpec, cfg: GenerativeEvalConfig,
                    *, dataset: str = "custom", device: torch.device | str = "cpu",
                    extractor: torch.nn.Module | None = None,
                    quiet: bool = True) -> GenerativeEvaluation:
    """Metrics of generated uint8 images (N, C, H, W) against reference/training uint8 images.

    Reference and training features go through the on-disk cache; ``training`` may be None
    unless MiFID is asked for. ``quiet``: no progress bars while extracting features.
    """
    extractor = extractor if extractor is not None else build_extractor(spec, device=device)
    kw = dict(cache_dir=cfg.cache_dir, use_cache=cfg.use_cache, batch_size=cfg.batch_size,
              device=device, quiet=quiet)
    ref = cached_reference_features(reference, extractor, spec, dataset=dataset,
                                    split=cfg.reference, **kw).features
    train = None
    if "mifid" in cfg.metrics:
        if training is None:
            raise DPKitError("MiFID needs the generator's training images")
        train = ref if training is reference else cached_reference_features(
            training, extractor, spec, dataset=dataset, split="train", **kw).features
    gen = extract_features(extractor, generated, batch_size=cfg.batch_size, device=device,
                           quiet=quiet)
    return evaluate_features(gen, ref, train, cfg, features_name=spec.name)
