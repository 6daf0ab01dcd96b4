"""``dpkit evaluate``, run: each metric family's configuration from the options, then
:func:`~dpkit.evaluation.evaluate_run`, then the results."""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import click

from dpkit.classifiers.evaluate_run import ClassifierEvalConfig
from dpkit.commands.flags import to_cli
from dpkit.commands.runners import emit
from dpkit.engine import resolve_device
from dpkit.evaluation.downstream import DownstreamConfig
from dpkit.data import DataOptions
from dpkit.evaluation import (GenerativeRunConfig, MetricFamily, evaluate_run,
                              evaluate_samples_to_dir, get, names, register_builtin_metrics)
from dpkit.commands.options import parse_int_list
from dpkit.metrics.features import resolve_features
from dpkit.names import GENERATIVE_METRICS
from dpkit.metrics import GenerativeEvalConfig
from dpkit.metrics.generative import FEATURES_NOTE
from dpkit.metrics.mifid import AUTO

__all__ = ["run", "run_samples", "configs_from", "get_metric", "metric_names"]

register_builtin_metrics()


def get_metric(name: str) -> MetricFamily:
    """The registered family that computes ``name``."""
    return get(name)


def metric_names() -> list[str]:
    return names()


def _float_list(text: str, name: str) -> tuple[float, ...]:
    try:
        return tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of numbers",
                                 param_hint=name) from None


def _threshold(text: str) -> float | str:
    """``--mifid-threshold``: ``auto`` or a number."""
    if text.strip().lower() == AUTO:
        return AUTO
    try:
        return float(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is neither a number nor '{AUTO}'",
                                 param_hint="--mifid-threshold") from None


def configs_from(o: dict[str, Any], seed: int) -> dict[str, Callable[[tuple[str, ...]], Any]]:
    """Each family's configuration from the command's options (flags -> fields)."""
    def classifier(metrics: tuple[str, ...]) -> ClassifierEvalConfig:
        return ClassifierEvalConfig(
            metrics=metrics, split=o["split"], max_examples=o["max_examples"],
            pgd_eps=_float_list(o["pgd_eps"], "--pgd-eps"), pgd_steps=o["pgd_steps"],
            pgd_alpha=o["pgd_alpha"], restarts=o["restarts"],
            autoattack_version=o["autoattack_version"], sigma=o["sigma"], n0=o["n0"],
            n=o["n_samples"], alpha=o["alpha"], seed=seed)

    def generative(metrics: tuple[str, ...]) -> GenerativeRunConfig:
        cfg = GenerativeEvalConfig(metrics=metrics, num_samples=o["num_samples"],
                                   reference=o["reference"],
                                   mifid_threshold=_threshold(o["mifid_threshold"]),
                                   ct_cells=o["ct_cells"], seed=seed,
                                   batch_size=o["batch_size"], cache_dir=o["cache_dir"],
                                   use_cache=not o["no_cache"])
        return GenerativeRunConfig(cfg, features=o["features"],
                                   inception_weights=o["inception_weights"])

    def downstream(metrics: tuple[str, ...]) -> DownstreamConfig:
        return DownstreamConfig(num_samples=o["num_samples"], epochs=o["downstream_epochs"],
                                seed=seed)

    return {"classifier": classifier, "generative": generative, "downstream": downstream}


def _note_in_flags(result: Any) -> Any:
    """``result`` with its features note (how --features auto chose) naming flags, not fields."""
    note = getattr(result, "extra", {}).get(FEATURES_NOTE)
    if note is None:
        return result
    return dataclasses.replace(result, extra=result.extra | {FEATURES_NOTE: to_cli(note)})


def run(*, run_dir: str, metrics: list[str], seed: int, device: str, quiet: bool, as_json: bool,
        options: dict[str, Any]) -> None:
    results = evaluate_run(run_dir, metrics, configs=configs_from(options, seed),
                           device=resolve_device(device), quiet=quiet or as_json)
    results = [_note_in_flags(r) for r in results]
    merged: dict[str, Any] = {}
    for r in results:
        merged |= r.to_dict()
    emit(merged, as_json=as_json, text=lambda: "\n".join(r.summary() for r in results))


def run_samples(*, samples: str, data: dict[str, Any], out: str | None, metrics: list[str],
                seed: int, device: str, quiet: bool, as_json: bool,
                options: dict[str, Any]) -> None:
    """``dpkit evaluate --samples PATH --dataset NAME``: the generative metrics of any images."""
    bad = [m for m in metrics if m not in GENERATIVE_METRICS]
    if bad:
        raise click.BadParameter(f"{', '.join(bad)} cannot be computed from images alone; with "
                                 f"--samples choose from {', '.join(GENERATIVE_METRICS)}",
                                 param_hint="--metric")
    opts = DataOptions(data_root=data["data_root"], download=data["download"],
                       image_size=data["image_size"], grayscale=data["grayscale"],
                       subset=data["subset"], split_test=data["split_test"],
                       classes=parse_int_list(data["classes"], name="--classes"))
    cfg = configs_from(options, seed)["generative"](tuple(metrics))
    resolved = resolve_features(cfg.features, inception_weights=cfg.inception_weights)
    note = {FEATURES_NOTE: to_cli(resolved.note)} if resolved.note else None
    result = evaluate_samples_to_dir(samples, data["dataset"], resolved.spec, cfg.metrics,
                                     data=opts, out=out, device=resolve_device(device),
                                     quiet=quiet or as_json, extra=note)
    emit(result.to_dict(), as_json=as_json, text=result.summary)
