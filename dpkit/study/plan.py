"""A study's grid expanded into planned runs with stable names (torch-free).

A run is named ``<model>-eps<E>[-<option>_<value>...]-seed<S>`` (``-sigma<S>`` for a run at a
fixed noise multiplier), e.g. ``classifier-eps1-max-grad-norm_0.1-optimizer_adam-seed0``: the
same spec always gives the same names in the same order, so a re-run finds its runs again.
"""

from __future__ import annotations

import itertools
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping

from dpkit.errors import DPKitError
from dpkit.study.spec import MODEL_ATTACKS, MODEL_METRICS, StudySpec, axis_values, split_axis

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
        epsilon: target ε (∞ = non-private); NaN for a run at a fixed noise multiplier.
        noise_multiplier: σ of a run at a fixed noise multiplier (None when ε is the target).
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
    noise_multiplier: float | None = None

    def to_dict(self) -> dict[str, Any]:
        privacy: dict[str, Any] = ({"noise_multiplier": self.noise_multiplier}
                                   if self.noise_multiplier is not None
                                   else {"epsilon": epsilon_text(self.epsilon)})
        return {"name": self.name, "model": self.model, **privacy,
                "seed": self.seed, "grid": dict(self.grid), "metrics": list(self.metrics),
                "attacks": list(self.attacks)}


def plan_runs(spec: StudySpec, model_options: Mapping[str, frozenset[str]]) -> list[PlannedRun]:
    """Every run of ``spec``, in order models x (epsilons, noise multipliers) x grid x seeds.

    Args:
        spec: the study.
        model_options: per model kind, the options its training command has (as
            :func:`~dpkit.study.spec.option_key` spells them).

    Raises:
        DPKitError: a grid option that none of the selected model kinds has.
    """
    for axis, _ in spec.grid:
        for option in split_axis(axis):
            if not any(option in model_options[m] for m in spec.models):
                raise DPKitError(f"grid option {option!r} is not an option of "
                                 f"{' or '.join(spec.models)} training; check its spelling "
                                 f"(the train-{spec.models[0]} command's options list them)")
        kinds = [m for m in spec.models if all(o in model_options[m] for o in split_axis(axis))]
        if not kinds and len(split_axis(axis)) > 1:
            raise DPKitError(f"grid axis {axis!r} links options that no one model kind has "
                             f"together; give them as separate axes")
    for model in spec.models:
        both = sorted(set(spec.table(model)) & set(spec.grid_options()))
        if both:
            raise DPKitError(f"{', '.join(both)} is both in [{model}] and in [grid]; keep it in "
                             f"one of them")
    runs = []
    for model in spec.models:
        axes = [(a, v) for a, v in spec.grid
                if all(o in model_options[model] for o in split_axis(a))]
        table = spec.table(model)
        epsilons, sigmas = spec.privacy_axis(model)
        privacy = ([(f"eps{epsilon_text(e)}", e, None) for e in epsilons]
                   + [(f"sigma{s:g}", math.nan, s) for s in sigmas])
        for level, eps, sigma in privacy:
            for values in itertools.product(*(v for _, v in axes)):
                grid = tuple(pair for (axis, _), value in zip(axes, values)
                             for pair in axis_values(axis, value))
                for seed in spec.seeds:
                    parts = [f"{model}-{level}"]
                    parts += [f"{axis}_{_name_part(value)}"
                              for (axis, _), value in zip(axes, values)]
                    parts.append(f"seed{seed}")
                    runs.append(PlannedRun(
                        name="-".join(parts), model=model, epsilon=eps, seed=seed, grid=grid,
                        options=tuple(sorted((table | dict(grid)).items())),
                        metrics=tuple(m for m in spec.metrics if m in MODEL_METRICS[model]),
                        attacks=tuple(a for a in spec.attacks if a in MODEL_ATTACKS[model]),
                        noise_multiplier=sigma))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise DPKitError("two runs of the study have the same name (grid values that differ "
                         "only in punctuation); spell the grid's values differently")
    return runs
