"""The training settings a set of runs varies (a study's grid, or any runs put side by side),
and each one's effect on the runs' main metric.

A study over clipping norm, noise multiplier and optimizer is read from the runs' own
config.json files, so the report shows the same figures for a study directory and for run
directories gathered by hand.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping, Sequence

from dpkit.report.collect import RunSummary

__all__ = ["IGNORED_SETTINGS", "SettingEffect", "flat_config", "varied_settings",
           "linked_settings", "setting_effects", "main_metric", "privacy_level",
           "measured_by_kind"]

# keys that differ between runs without being a setting to study: the ε axis (the
# privacy-utility figures show it), seeds, where the data lives, bookkeeping
IGNORED_SETTINGS = frozenset({"command", "format_version", "seed", "data.seed", "data.data_root",
                              "data.download", "privacy.target_epsilon", "privacy.enabled"})


def flat_config(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"privacy": {"max_grad_norm": 1}}`` -> ``{"privacy.max_grad_norm": 1}``, depth first
    in the config's order (values as they are; settings are compared by ``repr``)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        if isinstance(value, Mapping):
            flat.update(flat_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def main_metric(kind: str) -> tuple[str, Callable[[RunSummary], float | None]] | None:
    """The number a run of this kind is judged by: test accuracy (classifiers), downstream
    accuracy (GANs)."""
    if kind == "train-classifier":
        return "test accuracy", lambda r: r.test_accuracy
    if kind == "train-gan":
        return "downstream accuracy", lambda r: r.evaluation("downstream_accuracy")
    return None


Metric = Callable[[RunSummary], "float | None"]


def measured_by_kind(runs: Sequence[RunSummary], *,
                     order: Callable[[Any], Any] = list
                     ) -> Iterator[tuple[str, str, Metric, list[RunSummary]]]:
    """Per kind of run that has a :func:`main_metric` (kinds in ``order`` of the set of kinds
    as first seen): (kind, metric name, metric, the runs of that kind with a finite value)."""
    for kind in order(dict.fromkeys(r.kind for r in runs)):
        metric = main_metric(kind)
        if metric is None:
            continue
        name, get = metric
        yield kind, name, get, [r for r in runs if r.kind == kind and get(r) is not None
                                and math.isfinite(get(r))]  # type: ignore[arg-type]


def varied_settings(runs: Sequence[RunSummary]) -> list[str]:
    """The configuration keys whose value differs between these runs (ignoring
    :data:`IGNORED_SETTINGS`), in sorted order."""
    if len(runs) < 2:
        return []
    flats = [flat_config(r.training_config) for r in runs]
    keys = sorted({k for f in flats for k in f} - IGNORED_SETTINGS)
    return [k for k in keys if len({repr(f.get(k)) for f in flats}) > 1]


def _label(key: str) -> str:
    return " + ".join(k.split(".")[-1].replace("_", " ") for k in key.split("+"))


def linked_settings(runs: Sequence[RunSummary], keys: Sequence[str]) -> list[tuple[str, ...]]:
    """``keys`` grouped where one setting's value fixes the other's and back (a study's
    ``optimizer+lr`` axis): such settings are one axis, not two."""
    flats = [flat_config(r.training_config) for r in runs]
    groups: list[list[str]] = []
    for key in keys:
        for group in groups:
            pairs = {(repr(f.get(group[0])), repr(f.get(key))) for f in flats}
            if (len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})):
                group.append(key)
                break
        else:
            groups.append([key])
    return [tuple(g) for g in groups]


def _value(flat: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    return flat.get(keys[0]) if len(keys) == 1 else " / ".join(str(flat.get(k)) for k in keys)


def privacy_level(run: RunSummary) -> str:
    """``eps=3`` (the target ε), ``eps=inf`` (no DP) or ``fixed sigma``."""
    target = flat_config(run.training_config).get("privacy.target_epsilon")
    if not run.private:
        return "eps=inf"
    return f"eps={target:g}" if isinstance(target, (int, float)) else "fixed sigma"


@dataclass(frozen=True)
class SettingEffect:
    """One setting's effect: per series (the other varied settings' values), the metric at
    each value of the setting.

    Attributes:
        setting: the configuration key on the x-axis (``privacy.max_grad_norm``; linked keys
            joined by ``+``, their values by `` / ``).
        metric: the y-axis' name.
        numeric: True when every value is a number (x drawn to scale; log when the values
            span more than 10×).
        series: (series label, ((x value, metric value), ...)) in a stable order.
    """

    setting: str
    metric: str
    numeric: bool
    series: tuple[tuple[str, tuple[tuple[Any, float], ...]], ...]

    @property
    def label(self) -> str:
        return _label(self.setting)

    @property
    def log_x(self) -> bool:
        xs = [x for _, pts in self.series for x, _ in pts]
        return self.numeric and min(xs) > 0 and max(xs) / min(xs) > 10


def setting_effects(runs: Sequence[RunSummary]) -> list[SettingEffect]:
    """For each kind of run and each setting its runs vary, the main metric against that
    setting, one series per combination of the other varied settings (and target ε when the
    runs have several). Settings with fewer than two values measured are left out."""
    effects = []
    for kind, name, get, group in measured_by_kind(runs, order=sorted):
        varied = linked_settings(group, varied_settings(group))
        levels = {privacy_level(r) for r in group}
        for keys in varied:
            others = [k for k in varied if k != keys]
            series: dict[str, list[tuple[Any, float]]] = {}
            for run in group:
                flat = flat_config(run.training_config)
                label = ", ".join([f"{_label('+'.join(k))}={_value(flat, k)}" for k in others]
                                  + ([privacy_level(run)] if len(levels) > 1 else []))
                series.setdefault(label or "runs", []).append((_value(flat, keys), get(run)))
            xs = {repr(x) for pts in series.values() for x, _ in pts}
            if len(xs) < 2:
                continue
            numeric = all(isinstance(x, (int, float)) and not isinstance(x, bool)
                          for pts in series.values() for x, _ in pts)
            order = (lambda p: p[0]) if numeric else (lambda p: str(p[0]))
            effects.append(SettingEffect(
                setting="+".join(keys), metric=name, numeric=numeric,
                series=tuple((label, tuple(sorted(pts, key=order)))
                             for label, pts in sorted(series.items()))))
    return effects
