"""Runs that differ only in their seed, summarised: mean ± standard deviation of the main metric.

A study with ``--seeds 0,1,2`` trains each setting several times; the report's "Across seeds"
table shows each setting once, with the spread that tells a real difference from seed-to-seed
variation. Runs are grouped by everything in their config.json except the keys of
:data:`~dpkit.report.settings.IGNORED_SETTINGS` (seeds, where the data lives, ...), plus their
target ε (or ∞, or a fixed σ).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any, Sequence

from dpkit.report.collect import RunSummary
from dpkit.report.settings import (IGNORED_SETTINGS, flat_config, measured_by_kind,
                                   privacy_level, varied_settings)

__all__ = ["SeedGroup", "seed_groups"]


@dataclass(frozen=True)
class SeedGroup:
    """One setting trained with several seeds.

    Attributes:
        kind: the runs' command (``train-classifier``, ``train-gan``).
        label: what sets this group apart from the kind's other groups (its target ε and the
            values of the settings the runs vary), e.g. ``eps=3, training.epochs=60``.
        metric: the main metric's name (:func:`~dpkit.report.settings.main_metric`).
        seeds: each run's seed, in the order of ``values``.
        values: each run's metric.
    """

    kind: str
    label: str
    metric: str
    seeds: tuple[Any, ...]
    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float:
        """The sample standard deviation (n − 1 in the denominator)."""
        return statistics.stdev(self.values)


def _key(run: RunSummary) -> str:
    flat = flat_config(run.training_config)
    return repr(sorted((k, repr(v)) for k, v in flat.items() if k not in IGNORED_SETTINGS)
                + [privacy_level(run)])


def seed_groups(runs: Sequence[RunSummary]) -> list[SeedGroup]:
    """The groups of at least two runs (of one kind, with a main metric) whose configurations
    differ only in :data:`~dpkit.report.settings.IGNORED_SETTINGS` and whose seeds differ; in
    the order their first run appears."""
    groups: list[SeedGroup] = []
    for kind, name, get, measured in measured_by_kind(runs):
        varied = varied_settings(measured)
        by_key: dict[str, list[RunSummary]] = {}
        for run in measured:
            by_key.setdefault(_key(run), []).append(run)
        for members in by_key.values():
            seeds = tuple(flat_config(r.training_config).get("seed") for r in members)
            if len(members) < 2 or len(set(map(repr, seeds))) < len(seeds):
                continue
            flat = flat_config(members[0].training_config)
            label = ", ".join([privacy_level(members[0])]
                              + [f"{k}={flat.get(k)}" for k in varied])
            values = tuple(float(get(r)) for r in members)  # type: ignore[arg-type]
            groups.append(SeedGroup(kind=kind, label=label, metric=name, seeds=seeds,
                                    values=values))
    return groups
