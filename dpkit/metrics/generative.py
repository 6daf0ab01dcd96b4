"""Evaluate a generator: FID, KID, precision/recall, MiFID, C_T and authenticity on one set of
features.

Pipeline: generated uint8 images and the reference split's images -> features (torch-fidelity
extractor; reference features cached) -> each metric's ``*_from_features``. The memorization
measures (MiFID, the data-copying test C_T, authenticity) always compare against the generator's
own *training* set, and C_T and the per-sample nearest neighbours also against *held-out* real
images; FID/KID/PRC compare against ``reference`` (``train`` or ``test``).
"""

from __future__ import annotations

import math

from dataclasses import asdict, dataclass, field, fields
from typing import Any

import torch

from dpkit.errors import DPKitError
from dpkit.metrics.authenticity import authenticity
from dpkit.metrics.cache import cached_reference_features
from dpkit.metrics.data_copying import data_copying_test
from dpkit.metrics.features import FeatureSpec, build_extractor, extract_features
from dpkit.metrics.fid import features_to_statistics, frechet_distance
from dpkit.metrics.kid import kid_from_features
from dpkit.metrics.memorization import NearestNeighbours, nearest_neighbours
from dpkit.metrics.mifid import AUTO, choose_threshold, memorization_distance, mifid
from dpkit.metrics.prc import precision_recall_from_features
from dpkit.names import GENERATIVE_METRICS

__all__ = ["GENERATIVE_METRICS", "MEMORIZATION_METRICS", "FEATURES_NOTE",
           "GenerativeEvalConfig", "GenerativeEvaluation", "evaluate_features", "evaluate_images"]

# metrics that compare with the generator's training set (and report per-sample neighbours)
MEMORIZATION_METRICS = ("mifid", "ct", "authenticity")
# key in a result's ``extra``: how ``features='auto'`` chose (printed under the first line)
FEATURES_NOTE = "features_note"


@dataclass(frozen=True)
class GenerativeEvalConfig:
    """What to compute and how.

    Attributes:
        metrics: subset of ``GENERATIVE_METRICS`` (fid, kid, prc, mifid, ct, authenticity).
        num_samples: generated samples (the reference split is used whole).
        reference: split FID/KID/PRC compare against: ``"train"`` or ``"test"``.
        mifid_threshold: eps of MiFID's thresholded memorization distance, or ``"auto"``:
            0.1 on Inception features, else 0.9 x the held-out real images' memorization
            distance on the same features (:func:`~dpkit.metrics.mifid.choose_threshold`).
        ct_cells: k of the data-copying test's k-means cells.
        seed: seed of the generated samples (and of KID's subsets and C_T's k-means).
        batch_size: feature-extraction and generation batch size.
        kid_subsets, kid_subset_size: KID's random subsets (size capped at the set sizes).
        prc_neighborhood: k of the k-NN balls for precision/recall.
        cache_dir: reference-feature cache (None: ``~/.cache/dpkit/features``).
        use_cache: read/write the reference-feature cache.
    """

    metrics: tuple[str, ...] = ("fid",)
    num_samples: int = 10000
    reference: str = "train"
    mifid_threshold: float | str = AUTO
    ct_cells: int = 5
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
        if self.mifid_threshold != AUTO and (isinstance(self.mifid_threshold, str)
                                             or not 0 < self.mifid_threshold <= 1):
            raise DPKitError(f"mifid_threshold={self.mifid_threshold!r} must be in (0, 1] or "
                             f"'{AUTO}'")
        if self.ct_cells < 1:
            raise DPKitError(f"ct_cells={self.ct_cells} must be at least 1")
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
    mifid_threshold_rule: str | None = None
    heldout_memorization_distance: float | None = None
    ct: float | None = None
    ct_cells_used: int | None = None
    authenticity: float | None = None
    most_copied: tuple[tuple[int, int], ...] | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    neighbours: NearestNeighbours | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        """The keys of the metrics that were computed, plus features/num_samples/reference.

        ``most_copied``: ``[{"train_index": i, "count": c}, ...]``, the training samples most
        often nearest to a generated sample; the per-sample neighbours are not included.
        """
        out = {f.name: getattr(self, f.name) for f in fields(self)
               if f.name not in ("extra", "neighbours", "most_copied")}
        out = {k: v for k, v in out.items() if v is not None}
        if self.most_copied is not None:
            out["most_copied"] = [{"train_index": i, "count": c} for i, c in self.most_copied]
        return out | self.extra

    def summary(self) -> str:
        """Human-readable lines, each naming the features."""
        lines = [f"{self.num_samples} generated samples vs the {self.reference} split, "
                 f"features: {self.features}"]
        if self.extra.get(FEATURES_NOTE):
            lines.append(f"  {self.extra[FEATURES_NOTE]}")
        if self.fid is not None:
            lines.append(f"  FID        {_fmt(self.fid)}")
        if self.kid_mean is not None:
            lines.append(f"  KID        {_fmt(self.kid_mean)} ± {_fmt(self.kid_std)}")
        if self.precision is not None:
            lines.append(f"  precision  {_fmt(self.precision)}   recall {_fmt(self.recall)}")
        if self.mifid is not None:
            flagged = (self.memorization_distance is not None and self.mifid_threshold is not None
                       and self.memorization_distance < self.mifid_threshold)
            lines.append(f"  MiFID      {_fmt(self.mifid)}   (memorization distance "
                         f"{_fmt(self.memorization_distance)} vs the training set: "
                         f"{'MEMORIZES, below' if flagged else 'not flagged, above'} the threshold "
                         f"eps={_fmt(self.mifid_threshold)} ({self.mifid_threshold_rule}))")
        if self.ct is not None:
            lines.append(f"  C_T        {_fmt(self.ct)}   (data-copying test over "
                         f"{self.ct_cells_used} cells: << 0 copies the training set, ~ 0 fine, "
                         f">> 0 underfits)")
        if self.authenticity is not None:
            lines.append(f"  authentic  {_fmt(self.authenticity)}   (share of generated samples "
                         f"outside their nearest training image's neighbour ball: ~1 fresh, "
                         f"~0 copies)")
        if self.most_copied:
            top = ", ".join(f"{i} ({c}x)" for i, c in self.most_copied[:5])
            lines.append(f"  most copied training images: {top}")
        return "\n".join(lines)


def _fmt(x: float | None) -> str:
    return f"{x:.6g}" if x is not None and math.isfinite(x) else str(x)


def evaluate_features(generated: torch.Tensor, reference: torch.Tensor,
                      training: torch.Tensor | None, cfg: GenerativeEvalConfig, *,
                      features_name: str,
                      heldout: torch.Tensor | None = None) -> GenerativeEvaluation:
    """All asked-for metrics from features: generated (N, D), reference (M, D), training (K, D),
    held-out real (H, D).

    ``training`` (the generator's training set) is needed for the memorization metrics
    (``MEMORIZATION_METRICS``), which also return each generated sample's nearest training (and,
    with ``heldout``, held-out) sample in ``neighbours``; ``heldout`` is needed for C_T.
    """
    m = set(cfg.metrics)
    if m & set(MEMORIZATION_METRICS) and training is None:
        raise DPKitError(f"{', '.join(sorted(m & set(MEMORIZATION_METRICS)))} need(s) the "
                         f"generator's training set")
    if "ct" in m and heldout is None:
        raise DPKitError("the data-copying test (ct) needs held-out real samples")
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
    nn = None
    if m & set(MEMORIZATION_METRICS):  # per-sample neighbours; MiFID's distance is their mean
        nn = nearest_neighbours(generated, training, heldout)
        out |= {"neighbours": nn, "most_copied": nn.most_copied}
    if "mifid" in m:
        assert nn is not None
        d = memorization_distance(generated, training, nearest_distance=nn.train_distance)
        needs_heldout = cfg.mifid_threshold == AUTO and features_name != "inception"
        d_heldout = (memorization_distance(heldout, training)
                     if needs_heldout and heldout is not None else None)
        try:
            threshold = choose_threshold(cfg.mifid_threshold, features=features_name,
                                         heldout_distance=d_heldout)
        except ValueError as e:
            raise DPKitError(str(e)) from None
        res = mifid(out["fid"], d, eps=threshold.eps)
        out |= {"mifid": res.mifid, "memorization_distance": res.memorization_distance,
                "memorization_distance_thresholded": res.memorization_distance_thresholded,
                "mifid_threshold": res.threshold, "mifid_threshold_rule": threshold.describe(),
                "heldout_memorization_distance": d_heldout}
    if "ct" in m:
        try:
            ct = data_copying_test(generated, training, heldout, cells=cfg.ct_cells, seed=cfg.seed)
        except ValueError as e:  # a k-means cell without held-out images
            raise DPKitError(f"ct_cells={cfg.ct_cells} is too many for these samples: "
                             f"{e}") from None
        out |= {"ct": ct.ct, "ct_cells_used": ct.cells_used}
    if "authenticity" in m:
        out["authenticity"] = authenticity(generated, training).authenticity
    return GenerativeEvaluation(features=features_name, num_samples=int(generated.shape[0]),
                                reference=cfg.reference, **out)


def evaluate_images(generated: torch.Tensor, reference: torch.Tensor,
                    training: torch.Tensor | None, spec: FeatureSpec, cfg: GenerativeEvalConfig,
                    *, dataset: str = "custom", device: torch.device | str = "cpu",
                    extractor: torch.nn.Module | None = None,
                    quiet: bool = True,
                    heldout: torch.Tensor | None = None) -> GenerativeEvaluation:
    """Metrics of generated uint8 images (N, C, H, W) against reference/training/held-out uint8
    images.

    Reference, training and held-out features go through the on-disk cache; ``training`` may be
    None unless a memorization metric is asked for, ``heldout`` (real images the generator never
    saw, e.g. the test split) is needed for C_T and gives the per-sample held-out neighbours.
    ``quiet``: no progress bars while extracting features.
    """
    extractor = extractor if extractor is not None else build_extractor(spec, device=device)
    kw = dict(cache_dir=cfg.cache_dir, use_cache=cfg.use_cache, batch_size=cfg.batch_size,
              device=device, quiet=quiet)
    ref = cached_reference_features(reference, extractor, spec, dataset=dataset,
                                    split=cfg.reference, **kw).features
    train = held = None
    if set(cfg.metrics) & set(MEMORIZATION_METRICS):
        if training is None:
            raise DPKitError(f"{', '.join(MEMORIZATION_METRICS)} need the generator's training "
                             f"images")
        train = ref if training is reference else cached_reference_features(
            training, extractor, spec, dataset=dataset, split="train", **kw).features
        if heldout is not None:
            held = ref if heldout is reference else cached_reference_features(
                heldout, extractor, spec, dataset=dataset, split="test", **kw).features
    gen = extract_features(extractor, generated, batch_size=cfg.batch_size, device=device,
                           quiet=quiet)
    return evaluate_features(gen, ref, train, cfg, features_name=spec.name, heldout=held)
