"""Generative metrics of a ``dpkit train-gan`` run: FID, KID, precision/recall, MiFID.

Used by ``dpkit evaluate RUN --metric fid,kid,prc,mifid``: :func:`run_generative` does the work
(and writes ``evaluation-generative.json`` plus one line of ``evaluations.jsonl`` into the run
directory); :func:`register_generative_metrics` adds the metrics and :func:`generative_options`
to ``dpkit evaluate``'s metric registry (``dpkit/commands/evaluate.py``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any, Callable

import click

from dpkit.engine import open_run_dir, resolve_device
from dpkit.metrics import (GENERATIVE_METRICS, GenerativeEvalConfig, GenerativeEvaluation,
                           evaluate_gan_run, parse_features)
from dpkit.metrics.generative import EVALUATION_FILE, EVALUATIONS_LOG

__all__ = ["GENERATIVE_METRICS", "generative_options", "run_generative", "generative_text",
           "generative_evaluator", "register_generative_metrics"]

F = Callable[..., Any]


def generative_options(f: F) -> F:
    """--features, --inception-weights, --num-samples, --reference, --mifid-threshold, ..."""
    opts = [
        click.option("--features", default="inception", show_default=True,
                     help="Feature extractor: 'inception' (torch-fidelity's InceptionV3 pool "
                          "features) or 'classifier:RUN_DIR' (a dpkit classifier's penultimate "
                          "layer). Numbers from different features are not comparable."),
        click.option("--inception-weights", type=click.Path(dir_okay=False), default=None,
                     help="torch-fidelity's InceptionV3 weights (.pth), for offline use."),
        click.option("--num-samples", type=int, default=10000, show_default=True,
                     help="Generated samples to evaluate."),
        click.option("--reference", type=click.Choice(["train", "test"]), default="train",
                     show_default=True, help="Split FID/KID/PRC compare against (MiFID's "
                                             "memorization term always uses the training set)."),
        click.option("--mifid-threshold", type=float, default=0.1, show_default=True,
                     help="MiFID's eps: memorization distances below it count (0.1 is "
                          "calibrated for Inception features)."),
        click.option("--cache-dir", type=click.Path(file_okay=False), default=None,
                     help="Reference-feature cache (default ~/.cache/dpkit/features)."),
        click.option("--no-cache", is_flag=True, help="Neither read nor write the cache."),
        click.option("--batch-size", type=int, default=256, show_default=True,
                     help="Images per generation / feature-extraction batch."),
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def run_generative(run: str | Path, metrics: tuple[str, ...], *, features: str = "inception",
                   inception_weights: str | None = None, num_samples: int = 10000,
                   reference: str = "train", mifid_threshold: float = 0.1, seed: int = 0,
                   device: str = "auto", cache_dir: str | None = None, no_cache: bool = False,
                   batch_size: int = 256) -> GenerativeEvaluation:
    """Evaluate the GAN run ``run`` and record the result in its run directory."""
    run_dir = open_run_dir(run)
    cfg = GenerativeEvalConfig(metrics=tuple(metrics), num_samples=num_samples,
                               reference=reference, mifid_threshold=mifid_threshold, seed=seed,
                               batch_size=batch_size, cache_dir=cache_dir,
                               use_cache=not no_cache)
    spec = parse_features(features, inception_weights=inception_weights)
    started = time.perf_counter()
    result = evaluate_gan_run(run_dir.path, spec, cfg, device=resolve_device(device))
    record = result.to_dict() | {"seed": seed, "seconds": round(time.perf_counter() - started, 2),
                                 "kind": "generative", "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    run_dir.write_json(EVALUATION_FILE, record)
    run_dir.append_metrics(record, name=EVALUATIONS_LOG)
    return result


def _fmt(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else str(x)


def generative_text(result: GenerativeEvaluation) -> str:
    """Human-readable lines, each naming the features."""
    r = result
    head = (f"{r.num_samples} generated samples vs the {r.reference} split, "
            f"features: {r.features}")
    lines = [head]
    if r.fid is not None:
        lines.append(f"  FID        {_fmt(r.fid)}")
    if r.kid_mean is not None:
        lines.append(f"  KID        {_fmt(r.kid_mean)} ± {_fmt(r.kid_std)}")
    if r.precision is not None:
        lines.append(f"  precision  {_fmt(r.precision)}   recall {_fmt(r.recall)}")
    if r.mifid is not None:
        lines.append(f"  MiFID      {_fmt(r.mifid)}   (memorization distance "
                     f"{_fmt(r.memorization_distance)} vs the training set, thresholded "
                     f"{_fmt(r.memorization_distance_thresholded)} at eps={r.mifid_threshold:g})")
    return "\n".join(lines)


def generative_evaluator(run: str, names: tuple[str, ...],
                         options: dict[str, Any]) -> tuple[GenerativeEvaluation, str]:
    """``dpkit evaluate``'s evaluator for fid, kid, prc and mifid (train-gan runs)."""
    keys = ("features", "inception_weights", "num_samples", "reference", "mifid_threshold",
            "cache_dir", "no_cache", "batch_size", "seed", "device")
    result = run_generative(run, names, **{k: options[k] for k in keys})
    return result, generative_text(result)


def register_generative_metrics() -> None:
    """Add fid, kid, prc and mifid (and their options) to ``dpkit evaluate`` (idempotent)."""
    from dpkit.commands.evaluate import METRICS, register_metric

    if "fid" not in METRICS:
        register_metric(GENERATIVE_METRICS, generative_evaluator, options=generative_options)
