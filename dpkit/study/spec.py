"""A study's declaration: which runs (dataset, ε, models, grid, seeds), trained how, and
evaluated and attacked how (:class:`StudySpec`), read from a TOML file or built from flat
settings.

Torch-free: the command line builds a spec (and refuses a bad one) before anything is imported
or created. Option values are kept as the text a user would type after the training command's
flag (``"0.1"``, ``"true"``, ``"256,256"``): the training, evaluation and attack commands' own
option tables turn them into configurations, so a study and the single-run commands can never
read one option two ways.
"""

from __future__ import annotations

import difflib
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from dpkit.errors import DPKitError, require
from dpkit.names import (CLASSIFIER_METHODS, CLASSIFIER_METRICS, DATASETS, GAN_METHODS,
                         GAN_METRICS)

__all__ = ["MODELS", "MODEL_METRICS", "MODEL_ATTACKS", "TABLES", "SPEC_KEYS", "PRIVACY_KEYS",
           "StudySpec", "load_spec", "option_key", "option_text", "parse_list", "split_axis",
           "axis_values", "spec_differences"]

# model kind -> the metrics of ``dpkit evaluate`` and the membership attacks that apply to it
MODELS = ("classifier", "gan")
MODEL_METRICS: dict[str, tuple[str, ...]] = {"classifier": CLASSIFIER_METRICS, "gan": GAN_METRICS}
MODEL_ATTACKS: dict[str, tuple[str, ...]] = {"classifier": CLASSIFIER_METHODS,
                                             "gan": GAN_METHODS}
# option tables: one per model kind (its training command's options), and the options of
# ``dpkit evaluate`` and ``dpkit attack membership`` used for every run
TABLES = ("classifier", "gan", "evaluate", "attack")
SPEC_KEYS = ("dataset", "epsilons", "noise_multipliers", "models", "metrics", "attacks", "seeds",
             "grid") + TABLES
# keys of a model kind's table that replace the study's privacy axis for that kind only
# (``[gan] epsilons = [10, inf]``, ``--set gan.epsilons=10,inf``)
PRIVACY_KEYS = ("epsilons", "noise-multipliers")
# a grid axis over several options at once: ``optimizer+lr = ["sgd:0.5", "adam:0.002"]``
LINK, LINKED_VALUE = "+", ":"

Table = tuple[tuple[str, str], ...]


def option_key(name: str) -> str:
    """The canonical spelling of an option name: the flag without ``--``, ``_`` as ``-``."""
    return name.strip().lstrip("-").replace("_", "-").lower()


def option_text(value: Any) -> str:
    """A TOML or command-line value as the text typed after a flag (lists comma-joined)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ",".join(option_text(v) for v in value)
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(value)


def parse_list(value: Any, *, name: str) -> tuple[str, ...]:
    """``"a,b"`` or ``["a", "b"]`` -> ``("a", "b")`` (items as text, blanks dropped)."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise DPKitError(f"{name}={value!r} must be a list, e.g. {name} = [\"a\", \"b\"] or "
                         f"a,b")
    return tuple(t for t in (option_text(v).strip() for v in items) if t)


def _unknown(name: str, valid: tuple[str, ...] | list[str], what: str) -> DPKitError:
    close = difflib.get_close_matches(name, list(valid), n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return DPKitError(f"{what} {name!r} is unknown; {hint}choose from {', '.join(valid)}")


def _epsilon(text: str) -> float:
    try:
        eps = float(text)
    except ValueError:
        raise DPKitError(f"epsilons: {text!r} is not a number; give e.g. 1,3,8,inf "
                         f"(inf = non-private)") from None
    require(eps > 0, f"epsilons: {text} must be > 0 (inf = non-private)")
    return eps


def _sigma(text: str) -> float:
    try:
        sigma = float(text)
    except ValueError:
        raise DPKitError(f"noise_multipliers: {text!r} is not a number; give e.g. 0.5,1,2") \
            from None
    require(math.isfinite(sigma) and sigma > 0,
            f"noise_multipliers: {text} must be a finite number > 0 (for a non-private run put "
            f"inf in epsilons)")
    return sigma


def _table(value: Any, *, name: str) -> Table:
    if not isinstance(value, Mapping):
        raise DPKitError(f"[{name}] must be a table of option = value")
    return tuple(sorted((option_key(k), option_text(v)) for k, v in value.items()))


PrivacyAxis = tuple[tuple[float, ...], tuple[float, ...]]


def _privacy_axis(raw: Mapping[str, Any], *, name: str) -> PrivacyAxis:
    """(epsilons, noise multipliers) from a mapping's ``epsilons`` / ``noise_multipliers``."""
    eps = raw.get("epsilons", [])
    sig = raw.get("noise_multipliers", raw.get("noise-multipliers", []))
    return (tuple(_epsilon(e) for e in parse_list(eps, name=f"{name}epsilons")),
            tuple(_sigma(s) for s in parse_list(sig, name=f"{name}noise_multipliers")))


def split_axis(option: str) -> tuple[str, ...]:
    """The options of a grid axis: ``"optimizer+lr"`` -> ``("optimizer", "lr")``."""
    return tuple(option_key(o) for o in option.split(LINK))


def axis_values(option: str, value: str) -> tuple[tuple[str, str], ...]:
    """One value of a grid axis as (option, text) pairs: ``("optimizer+lr", "adam:0.002")``
    -> ``(("optimizer", "adam"), ("lr", "0.002"))``."""
    names = split_axis(option)
    if len(names) == 1:
        return ((names[0], value),)
    parts = value.split(LINKED_VALUE)
    require(len(parts) == len(names),
            f"grid {option}: value {value!r} must give {len(names)} values joined by "
            f"'{LINKED_VALUE}', e.g. {LINKED_VALUE.join(['V'] * len(names))}")
    return tuple(zip(names, (p.strip() for p in parts)))


@dataclass(frozen=True)
class StudySpec:
    """A declared grid of runs. Every run is one model kind at one ε, one combination of the
    grid's values and one seed; it is evaluated with the metrics and attacked with the attacks
    of its kind.

    The privacy axis of a model kind is its target ε values (∞ = non-private) followed by its
    noise multipliers (σ fixed, ε whatever the accountant reports): the study's ``epsilons`` and
    ``noise_multipliers``, or the kind's own (``[gan] epsilons = [10, inf]``).

    Attributes:
        dataset: the dataset of every run.
        epsilons: target ε of each run (∞ = non-private).
        noise_multipliers: fixed noise multipliers σ (runs whose ε is read from the accountant).
        models: model kinds, ``classifier`` and/or ``gan``.
        metrics: ``dpkit evaluate`` metrics (each applies to the model kind it belongs to).
        attacks: ``dpkit attack membership`` methods (likewise).
        seeds: one run per seed.
        grid: option -> values; applies to each selected model kind that has the option. An
            axis ``"a+b"`` varies options a and b together (values ``"va:vb"``).
        model_privacy: per model kind whose table set its own privacy axis, (epsilons,
            noise multipliers).
        classifier, gan: training options of each kind (option -> text), fixed for all runs.
        evaluate, attack: options of ``dpkit evaluate`` and ``dpkit attack membership``.
    """

    dataset: str
    epsilons: tuple[float, ...]
    models: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    attacks: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    grid: tuple[tuple[str, tuple[str, ...]], ...] = ()
    noise_multipliers: tuple[float, ...] = ()
    model_privacy: tuple[tuple[str, PrivacyAxis], ...] = ()
    classifier: Table = field(default=())
    gan: Table = field(default=())
    evaluate: Table = field(default=())
    attack: Table = field(default=())

    def __post_init__(self) -> None:
        require(bool(self.dataset), "dataset is missing; give one, e.g. dataset = \"digits\"")
        if self.dataset not in DATASETS:
            raise _unknown(self.dataset, DATASETS, "dataset")
        require(len(self.models) > 0, f"models is empty; choose from {', '.join(MODELS)}")
        for m in self.models:
            if m not in MODELS:
                raise _unknown(m, MODELS, "model")
        for kind, _ in self.model_privacy:
            require(kind in self.models, f"[{kind}] sets epsilons but models="
                                         f"{','.join(self.models)} has no {kind}; add it or "
                                         f"drop [{kind}] epsilons")
        for kind in self.models:
            eps, sig = self.privacy_axis(kind)
            require(len(eps) + len(sig) > 0,
                    "epsilons is empty; give e.g. 1,3,8,inf (or noise_multipliers = 0.5,1)")
            require(all(e > 0 for e in eps), f"epsilons={list(eps)} must be > 0")
            for name, values in (("epsilons", eps), ("noise_multipliers", sig)):
                require(len(set(values)) == len(values), f"{name} lists a value twice: "
                                                         f"{', '.join(map(str, values))}")
        require(len(self.seeds) > 0, "seeds is empty; give e.g. 0,1,2")
        for group, lists in (("metric", MODEL_METRICS), ("attack", MODEL_ATTACKS)):
            chosen = self.metrics if group == "metric" else self.attacks
            valid = tuple(n for kind in MODELS for n in lists[kind])
            for name in chosen:
                if name not in valid:
                    raise _unknown(name, valid, group)
                kind = next(k for k in MODELS if name in lists[k])
                require(kind in self.models,
                        f"{group} {name!r} applies to {kind} runs and "
                        f"models={','.join(self.models)} has none; add {kind} to models or "
                        f"drop {name!r}")
        for name, values in (("models", self.models),
                             ("metrics", self.metrics), ("attacks", self.attacks),
                             ("seeds", self.seeds)):
            require(len(set(values)) == len(values), f"{name} lists a value twice: "
                                                     f"{', '.join(map(str, values))}")
        for option, values in self.grid:
            require(len(values) > 0, f"grid option {option!r} has no values")
            require(len(set(values)) == len(values), f"grid option {option!r} lists a value "
                                                     f"twice: {', '.join(values)}")
            for value in values:
                axis_values(option, value)

    def privacy_axis(self, model: str) -> PrivacyAxis:
        """(target epsilons, noise multipliers) of ``model``'s runs."""
        own = dict(self.model_privacy)
        return own[model] if model in own else (self.epsilons, self.noise_multipliers)

    def grid_options(self) -> tuple[str, ...]:
        """Every option the grid varies (linked axes split)."""
        return tuple(o for axis, _ in self.grid for o in split_axis(axis))

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any], *, source: str = "the study") -> "StudySpec":
        """A spec from a TOML-shaped mapping; an unknown key is refused naming the valid ones."""
        for key in raw:
            if key not in SPEC_KEYS:
                raise _unknown(key, SPEC_KEYS, f"{source}: key")
        for key in ("dataset", "models"):
            require(key in raw, f"{source}: {key} is missing; give it "
                                f"(e.g. dataset = \"digits\", epsilons = [1, 8, inf], "
                                f"models = [\"classifier\"])")
        seeds = []
        for s in parse_list(raw.get("seeds", [0]), name="seeds"):
            try:
                seeds.append(int(s))
            except ValueError:
                raise DPKitError(f"seeds: {s!r} is not an integer; give e.g. 0,1,2") from None
        grid_raw = raw.get("grid", {})
        if not isinstance(grid_raw, Mapping):
            raise DPKitError("[grid] must be a table of option = [values]")
        grid = tuple((LINK.join(split_axis(k)), parse_list(v, name=f"grid {k}"))
                     for k, v in grid_raw.items())
        options = [o for k, _ in grid for o in split_axis(k)]
        require(len(set(options)) == len(options), "grid names an option twice")
        tables = {t: _table(raw.get(t, {}), name=t) for t in TABLES}
        model_privacy = []
        for kind in MODELS:
            own = dict(tables[kind])
            if any(k in own for k in PRIVACY_KEYS):
                model_privacy.append((kind, _privacy_axis(own, name=f"[{kind}] ")))
                tables[kind] = tuple((k, v) for k, v in tables[kind] if k not in PRIVACY_KEYS)
        epsilons, sigmas = _privacy_axis(raw, name="")
        return cls(dataset=str(raw["dataset"]), epsilons=epsilons, noise_multipliers=sigmas,
                   model_privacy=tuple(model_privacy),
                   models=parse_list(raw["models"], name="models"),
                   metrics=parse_list(raw.get("metrics", []), name="metrics"),
                   attacks=parse_list(raw.get("attacks", []), name="attacks"),
                   seeds=tuple(seeds), grid=grid, **tables)

    def to_dict(self) -> dict[str, Any]:
        """The TOML-shaped form (study.json's ``spec``; ∞ as ``"inf"``; a kind's own privacy
        axis in its table)."""
        def eps_list(values: tuple[float, ...]) -> list[Any]:
            return [e if math.isfinite(e) else "inf" for e in values]

        tables = {t: dict(getattr(self, t)) for t in TABLES}
        for kind, (eps, sig) in self.model_privacy:
            tables[kind].update({k: v for k, v in (("epsilons", eps_list(eps)),
                                                   ("noise-multipliers", list(sig))) if v})
        out = {"dataset": self.dataset, "epsilons": eps_list(self.epsilons),
               "models": list(self.models), "metrics": list(self.metrics),
               "attacks": list(self.attacks), "seeds": list(self.seeds),
               "grid": {k: list(v) for k, v in self.grid}, **tables}
        if self.noise_multipliers:  # absent when unused: older study.json files stay equal
            out["noise_multipliers"] = list(self.noise_multipliers)
        return out

    def table(self, name: str) -> dict[str, str]:
        """One option table (``classifier``, ``gan``, ``evaluate``, ``attack``) as a dict."""
        return dict(getattr(self, name))


def load_spec(path: str | Path) -> StudySpec:
    """Read and validate a study TOML file (top-level keys :data:`SPEC_KEYS`)."""
    path = Path(path)
    if not path.is_file():
        raise DPKitError(f"spec={path} does not exist; give the study's TOML file")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise DPKitError(f"{path} is not valid TOML ({exc}); fix the file") from None
    return StudySpec.from_dict(raw, source=str(path))


def spec_differences(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The keys (``classifier.epochs`` for a table's option) whose values differ."""
    diffs = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            diffs += [f"{key}.{k}" for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)]
        elif a != b:
            diffs.append(key)
    return diffs
