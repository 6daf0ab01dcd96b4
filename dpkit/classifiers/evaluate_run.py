"""Evaluate a ``train-classifier`` run: accuracy, robust accuracy (PGD, AutoAttack), certified
accuracy.

Results are returned as a :class:`ClassifierEvaluation` and recorded in the run directory
(``evaluation-classifier.json``, the latest result per metric, and one line per call in
``evaluations.jsonl``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from dpkit.classifiers.adversarial import PGDConfig
from dpkit.classifiers.autoattack import autoattack_accuracy
from dpkit.classifiers.evaluation import evaluate_accuracy, robust_accuracy
from dpkit.classifiers.loading import load_classifier
from dpkit.classifiers.smoothing import certified_accuracy
from dpkit.engine import open_run_dir, record_evaluation
from dpkit.errors import require
from dpkit.names import CLASSIFIER_METRICS

__all__ = ["CLASSIFIER_METRICS", "ClassifierEvalConfig", "ClassifierEvaluation",
           "evaluate_classifier_run"]

EVALUATION_FAMILY = "classifier"  # evaluation-classifier.json


@dataclass(frozen=True)
class ClassifierEvalConfig:
    """Settings of a classifier evaluation.

    Attributes:
        metrics: some of "accuracy", "robust-accuracy", "autoattack", "certified".
        split: "test" or "train" (the members).
        max_examples: evaluate only the first N examples of the split (None = all).
        pgd_eps: L∞ budgets in [0, 1] pixel units; several give a curve (AutoAttack uses
            the first).
        autoattack_version: AutoAttack's version (standard: APGD-CE, APGD-T, FAB-T, Square).
        pgd_steps, pgd_alpha, restarts: the PGD attack (robust = worst over restarts).
        sigma, n0, n, alpha: randomized-smoothing certification (Cohen et al. 2019).
        seed: seeds the attacks' random starts and the smoothing noise.
    """

    metrics: tuple[str, ...] = ("accuracy",)
    split: str = "test"
    max_examples: int | None = None
    pgd_eps: tuple[float, ...] = (0.1,)
    pgd_steps: int = 40
    pgd_alpha: float | None = None
    restarts: int = 5
    autoattack_version: str = "standard"
    sigma: float = 0.25
    n0: int = 100
    n: int = 1000
    alpha: float = 0.001
    seed: int = 0

    def __post_init__(self) -> None:
        bad = [m for m in self.metrics if m not in CLASSIFIER_METRICS]
        require(not bad and len(self.metrics) > 0,
                f"unknown classifier metric(s) {bad}; choose from {', '.join(CLASSIFIER_METRICS)}")
        require(self.split in ("test", "train"),
                f"split={self.split!r} must be 'test' or 'train'")
        if self.max_examples is not None:
            require(self.max_examples >= 1, f"max_examples={self.max_examples} must be >= 1")
        require(len(self.pgd_eps) >= 1, "give at least one L-inf budget, e.g. pgd_eps=(0.1,)")
        for e in self.pgd_eps:
            PGDConfig(eps=e, steps=self.pgd_steps, alpha=self.pgd_alpha)  # validates
        require(self.restarts >= 1, f"restarts={self.restarts} must be >= 1")
        require(self.sigma > 0, f"sigma={self.sigma} must be > 0 (pixel units, e.g. 0.25)")
        require(self.n0 >= 1 and self.n >= 1, f"n0={self.n0} and n={self.n} must be >= 1")
        require(0 < self.alpha < 1, f"alpha={self.alpha} must be in (0, 1), e.g. 0.001")

    def to_dict(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["metrics"], d["pgd_eps"] = list(self.metrics), list(self.pgd_eps)
        return d


@dataclass(frozen=True)
class ClassifierEvaluation:
    """What ``dpkit evaluate RUN --metric accuracy,robust-accuracy,certified`` reports.

    Attributes:
        run_dir: the evaluated run.
        split, examples: which examples were evaluated.
        accuracy: clean top-1 accuracy (when asked for).
        robust_accuracy: worst-case PGD accuracy at the first budget (when asked for).
        robust_curve: one record per budget (eps, clean_accuracy, robust_accuracy, per_restart).
        autoattack: AutoAttack's result at the first budget (eps, version, clean_accuracy,
            robust_accuracy, n).
        certified: randomized-smoothing result (radii and certified accuracy at each).
    """

    run_dir: str
    split: str
    examples: int
    accuracy: float | None = None
    robust_accuracy: float | None = None
    robust_curve: list[dict[str, Any]] | None = None
    autoattack: dict[str, Any] | None = None
    certified: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def summary(self) -> str:
        """Human-readable lines, one per metric (and per budget or radius)."""
        lines = [f"{self.split} split, {self.examples} examples"]
        if self.accuracy is not None:
            lines.append(f"  accuracy           {self.accuracy:.4f}")
        for c in self.robust_curve or []:
            lines.append(f"  robust accuracy    {c['robust_accuracy']:.4f} at eps={c['eps']:g} "
                         f"(PGD-{c['steps']}, {c['restarts']} restarts; clean "
                         f"{c['clean_accuracy']:.4f})")
        if self.autoattack is not None:
            a = self.autoattack
            lines.append(f"  AutoAttack         {a['robust_accuracy']:.4f} at eps={a['eps']:g} "
                         f"({a['version']}; clean {a['clean_accuracy']:.4f})")
        if self.certified is not None:
            c = self.certified
            lines.append(f"  certified (sigma={c['sigma']:g}, n={c['n']}, alpha={c['alpha']:g}), "
                         f"abstain {c['abstain_rate']:.3f}:")
            lines += [f"    radius {t:.2f}: {a:.4f}"
                      for t, a in zip(c["radii"], c["certified_accuracy"])]
        return "\n".join(lines)


def evaluate_classifier_run(run_dir: str | Path, cfg: ClassifierEvalConfig, *,
                            device: torch.device | str = "cpu", record: bool = True,
                            quiet: bool = True) -> ClassifierEvaluation:
    """Evaluate a classifier run (see :class:`ClassifierEvalConfig`) and record the result."""
    started = time.perf_counter()
    loaded = load_classifier(run_dir, device=device)
    data = loaded.bundle.test if cfg.split == "test" else loaded.bundle.train
    if cfg.max_examples is not None and cfg.max_examples < len(data):
        data = data.subset(torch.arange(cfg.max_examples))
    model = loaded.model
    out: dict[str, Any] = {}
    if "accuracy" in cfg.metrics:
        out["accuracy"] = evaluate_accuracy(model, data, device=device)
    if "robust-accuracy" in cfg.metrics:
        curve = [robust_accuracy(model, data, PGDConfig(eps=e, steps=cfg.pgd_steps,
                                                        alpha=cfg.pgd_alpha),
                                 restarts=cfg.restarts, device=device, seed=cfg.seed,
                                 quiet=quiet)
                 for e in cfg.pgd_eps]
        out["robust_accuracy"] = curve[0].robust_accuracy
        out["robust_curve"] = [r.to_dict() for r in curve]
    if "autoattack" in cfg.metrics:
        out["autoattack"] = autoattack_accuracy(
            model, data, eps=cfg.pgd_eps[0], num_classes=loaded.num_classes,
            version=cfg.autoattack_version, device=device, seed=cfg.seed, quiet=quiet).to_dict()
    if "certified" in cfg.metrics:
        cert = certified_accuracy(model, data, sigma=cfg.sigma, n0=cfg.n0, n=cfg.n,
                                  alpha=cfg.alpha, num_classes=loaded.num_classes,
                                  device=device, seed=cfg.seed, quiet=quiet)
        out["certified"] = cert.to_dict()
    result = ClassifierEvaluation(run_dir=str(loaded.run_dir), split=cfg.split,
                                  examples=len(data), **out)
    if record:
        _record(run_dir, result, cfg, seconds=time.perf_counter() - started)
    return result


_FIELDS = {"accuracy": ("accuracy",), "robust-accuracy": ("robust_accuracy", "robust_curve"),
           "autoattack": ("autoattack",),
           "certified": ("certified",)}


def _record(run_dir: str | Path, result: ClassifierEvaluation, cfg: ClassifierEvalConfig, *,
            seconds: float) -> None:
    """Keep the latest result of each metric in evaluation-classifier.json; log every call."""
    run = open_run_dir(run_dir)
    stamp = {"split": result.split, "examples": result.examples, "config": cfg.to_dict(),
             "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    latest = {metric: {k: getattr(result, k) for k in _FIELDS[metric]} | stamp
              for metric in cfg.metrics}
    record_evaluation(run, EVALUATION_FAMILY, result.to_dict() | stamp, seconds=seconds,
                      latest=latest)
