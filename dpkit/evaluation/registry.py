"""The metric registry: every metric ``dpkit evaluate`` knows, by name, with its run kind and typed
configuration (like the data registry: a plain dict, ``register`` / ``get``, explicit
registration of the built-in families by :func:`register_builtin_metrics`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import torch

from dpkit.classifiers.evaluate_run import (CLASSIFIER_METRICS, ClassifierEvalConfig,
                                            evaluate_classifier_run)
from dpkit.engine import open_run_dir
from dpkit.errors import DPKitError
from dpkit.evaluation.downstream import (DOWNSTREAM_METRICS, DownstreamConfig,
                                         evaluate_downstream_run)
from dpkit.evaluation.generative import evaluate_generative_run
from dpkit.metrics.features import resolve_features
from dpkit.metrics.generative import FEATURES_NOTE, GENERATIVE_METRICS, GenerativeEvalConfig

__all__ = ["MetricFamily", "METRICS", "register", "get", "names", "register_builtin_metrics",
           "evaluate_run", "GenerativeRunConfig"]

# evaluate(run_dir, config, device, quiet) -> a result with to_dict() and summary()
Evaluate = Callable[[Path, Any, torch.device, bool], Any]


@dataclass(frozen=True)
class MetricFamily:
    """Metrics computed together on one kind of run, with one typed configuration.

    Attributes:
        family: the family's name (``evaluation-<family>.json``).
        run_kind: the run kind it evaluates (``train-classifier``, ``train-gan``).
        names: the metric names it answers to.
        make_config: ``make_config(names)`` -> the default configuration for those metrics.
        evaluate: computes and records the metrics of a run.
    """

    family: str
    run_kind: str
    names: tuple[str, ...]
    make_config: Callable[[tuple[str, ...]], Any]
    evaluate: Evaluate


METRICS: dict[str, MetricFamily] = {}


def register(family: MetricFamily) -> MetricFamily:
    """Add a family under each of its names; a name can be registered once."""
    clash = [n for n in family.names if n in METRICS]
    if clash:
        raise DPKitError(f"metric(s) {clash} are already registered")
    for n in family.names:
        METRICS[n] = family
    return family


def names() -> list[str]:
    return list(METRICS)


def get(name: str) -> MetricFamily:
    if name not in METRICS:
        raise DPKitError(f"unknown metric {name!r}; choose from {', '.join(names())}")
    return METRICS[name]


@dataclass(frozen=True)
class GenerativeRunConfig:
    """A generative evaluation of a run: the metrics' settings and the features they use."""

    metrics: GenerativeEvalConfig
    features: str = "auto"
    inception_weights: str | None = None

    @property
    def seed(self) -> int:
        return self.metrics.seed


def _evaluate_classifier(run: Path, cfg: ClassifierEvalConfig, device: torch.device,
                         quiet: bool) -> Any:
    return evaluate_classifier_run(run, cfg, device=device, quiet=quiet)


def _evaluate_generative(run: Path, cfg: GenerativeRunConfig, device: torch.device,
                         quiet: bool) -> Any:
    resolved = resolve_features(cfg.features, inception_weights=cfg.inception_weights)
    note = {FEATURES_NOTE: resolved.note} if resolved.note else None  # what auto chose
    return evaluate_generative_run(run, cfg.metrics, resolved.spec, device=device, quiet=quiet,
                                   extra=note)


def _evaluate_downstream(run: Path, cfg: DownstreamConfig, device: torch.device,
                         quiet: bool) -> Any:
    return evaluate_downstream_run(run, cfg, device=device, quiet=quiet)


def register_builtin_metrics() -> None:
    """Register dpkit's metric families (idempotent)."""
    if "accuracy" not in METRICS:
        register(MetricFamily("classifier", "train-classifier", CLASSIFIER_METRICS,
                              lambda n: ClassifierEvalConfig(metrics=n), _evaluate_classifier))
    if "fid" not in METRICS:
        register(MetricFamily("generative", "train-gan", GENERATIVE_METRICS,
                              lambda n: GenerativeRunConfig(GenerativeEvalConfig(metrics=n)),
                              _evaluate_generative))
    if "downstream" not in METRICS:
        register(MetricFamily("downstream", "train-gan", DOWNSTREAM_METRICS,
                              lambda n: DownstreamConfig(), _evaluate_downstream))


def evaluate_run(run_dir: str | Path, metrics: Sequence[str], *,
                 configs: Mapping[str, Callable[[tuple[str, ...]], Any]] | None = None,
                 device: torch.device | str = "cpu", quiet: bool = True) -> list[Any]:
    """Compute ``metrics`` of a run, each family once, in the order the families are first named.

    Args:
        run_dir: the run directory.
        metrics: metric names.
        configs: per family name, ``make(names) -> config`` (default: the family's own).
        device: where to compute.
        quiet: no progress bars.

    Returns:
        One result per family (each has ``to_dict()`` and ``summary()``).

    Raises:
        DPKitError: an unknown metric, or one that does not apply to this kind of run.
    """
    if not metrics:
        raise DPKitError("give at least one metric")
    run = open_run_dir(run_dir)
    groups: dict[str, tuple[MetricFamily, list[str]]] = {}
    for name in metrics:
        fam = get(name)
        if fam.run_kind != run.kind:
            raise DPKitError(f"metric {name!r} applies to '{fam.run_kind}' runs; {run.path} is a "
                             f"'{run.kind}' run (its metrics: "
                             f"{', '.join(n for n, f in METRICS.items() if f.run_kind == run.kind)})")
        groups.setdefault(fam.family, (fam, []))[1].append(name)
    results = []
    for fam, group in groups.values():
        make = (configs or {}).get(fam.family, fam.make_config)
        results.append(fam.evaluate(run.path, make(tuple(group)), torch.device(device), quiet))
    return results
