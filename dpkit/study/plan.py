"""A study's grid expanded into planned runs with stable names (torch-free).

A run is named ``<model>-eps<E>[-<option>_<value>...]-seed<S>``, e.g.
``classifier-eps1-max-grad-norm_0.1-optimizer_adam-seed0``: the same spec always gives the same
names in the same order, so a re-run finds its runs again.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from dpkit.errors import DPKitError
from dpkit.study.spec import MODEL_ATTACKS, MODEL_METRICS, StudySpec

__all__ = ["PlannedRun", "plan_runs", "epsilon_text"]


def epsilon_text(eps: float) -> str:
    return "inf" if not math.isfinite(eps) else f"{eps:g}"


def _name_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+-]", "_", text)


@dataclass(frozen=True)
class PlannedRun:
    """One run of a study, before its options become a configuration.

    Attributes:
        name: its directory name under ``OUT/runs/``.
        model: ``classifier`` or ``gan``.
        epsilon: target ε (∞ = non-private).
        seed: the run's seed (also its evaluations' and attacks').
        grid: the grid's values for this run (options of its model kind only).
        options: its training command's options: the spec's table with the grid values.
        metrics, attacks: those of the spec that apply to its model kind.
    """

    name: str
    model: str
    epsilon: float
    seed: int
    grid: tuple[tuple[str, str], ...]
    options: tuple[tuple[str, str], ...]
    metrics: tuple[str, ...]
    attacks: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "model": self.model, "epsilon": epsilon_text(self.epsilon),
                "seed": self.seed, "grid": dict(self.grid), "metrics": list(self.metrics),
                "attacks": list(self.attacks)}


def plan_runs(spec: StudySpec, model_options: Mapping[str, frozenset[str]]) -> list[PlannedRun]:
    """Every run of ``spec``, in order models x epsilons x grid x seeds.

    Args:
        spec: the study.
        model_options: per model kind, the options its training command has (as
            :func:`~dpkit.study.spec.option_key` spells them).

    Raises:
        DPKitError: a grid option that none of the selected model kinds has.
    """
    for option, _ in spec.grid:
        if not any(option in model_options[m] for m in spec.models):
            raise DPKitError(f"grid option {option!r} is not an option of "
                             f"{' or '.join(spec.models)} training; check its spelling "
                             f"(the train-{spec.models[0]} command's options list them)")
    for model in spec.models:
        both = sorted(set(spec.table(model)) & {o for o, _ in spec.grid})
        if both:
            raise DPKitError(f"{', '.join(both)} is both in [{model}] and in [grid]; keep it in "
                             f"one of them")
    runs = []
    for model in spec.models:
        axes = [(o, v) for o, v in spec.grid if o in model_options[model]]
        table = spec.table(model)
        for eps in spec.epsilons:
            for values in itertools.product(*(v for _, v in axes)):
                grid = tuple(zip((o for o, _ in axes), values))
                for seed in spec.seeds:
                    parts = [f"{model}-eps{epsilon_text(eps)}"]
                    parts += [f"{o}_{_name_part(v)}" for o, v in grid]
                    parts.append(f"seed{seed}")
                    runs.append(PlannedRun(
                        name="-".join(parts), model=model, epsilon=eps, seed=seed, grid=grid,
                        options=tuple(sorted((table | dict(grid)).items())),
                        metrics=tuple(m for m in spec.metrics if m in MODEL_METRICS[model]),
                        attacks=tuple(a for a in spec.attacks if a in MODEL_ATTACKS[model])))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise DPKitError("two runs of the study have the same name (grid values that differ "
                         "only in punctuation); spell the grid's values differently")
    return runs
