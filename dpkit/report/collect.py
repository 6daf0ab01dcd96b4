"""Run directories -> frozen summaries: what the report shows, read once, no plotting.

:func:`find_runs` searches the given paths for dpkit run directories (a ``config.json`` whose
``command`` is a kind in :data:`REPORT_KINDS`); a run directory found inside another one (an
attack's directory, an audit's ``train/`` run) belongs to the outer one. :func:`collect_run`
reads one into a :class:`RunSummary` (config, privacy report, result, per-epoch metrics, latest
evaluations, attacks, audit, and the paths of its images).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from dpkit.audit.classifier import AUDIT_COMMAND, AUDIT_FILE, PRECISION_FILE, TRAIN_DIR
from dpkit.classifiers.evaluate_run import EVALUATION_FAMILY as CLASSIFIER_FAMILY
from dpkit.engine import evaluation_file
from dpkit.engine.rundir import (CONFIG_FILE, CURVES_FILE, PRIVACY_FILE, RESULT_FILE, RUN_KINDS,
                                 RunDir)
from dpkit.errors import DPKitError
from dpkit.evaluation.downstream import EVALUATION_FAMILY as DOWNSTREAM_FAMILY
from dpkit.evaluation.generative import EVALUATION_FAMILY as GENERATIVE_FAMILY
from dpkit.evaluation.generative import MEMORIZATION_GALLERY
from dpkit.evaluation.samples import SAMPLES_RUN_KIND

__all__ = ["REPORT_KINDS", "ATTACKS_DIR", "SAMPLES_DIR", "AttackSummary", "RunSummary",
           "find_runs", "collect_run", "collect_runs", "parse_epsilon"]

# The run kinds a report shows: the training runs, sample evaluations and classifier audits.
REPORT_KINDS: tuple[str, ...] = (*RUN_KINDS, SAMPLES_RUN_KIND, AUDIT_COMMAND)
ATTACKS_DIR = "attacks"  # RUN/attacks/<attack>-<timestamp>/ (dpkit.attacks.runs)
SAMPLES_DIR = "samples"  # RUN/samples/epoch_NNN.png (dpkit.gan.runs)
SCORES_FILE = "scores.json"  # a membership attack's raw scores, per variant
ROC_FILE = "roc.png"
RECONSTRUCTIONS_FILE = "reconstructions.png"
FAMILIES = (CLASSIFIER_FAMILY, GENERATIVE_FAMILY, DOWNSTREAM_FAMILY)


def parse_epsilon(value: Any) -> float | None:
    """ε as written by dpkit (a number, or ``"inf"`` for non-private training); None if absent."""
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True, eq=False)
class AttackSummary:
    """One attack directory under ``RUN/attacks/``.

    Attributes:
        name: the directory's name (``membership-loss-<timestamp>``).
        kind: ``"membership"`` or ``"reconstruct"`` (from its config.json's command).
        result: its result.json.
        scores: per variant (``loss``, ``lira-online``, ...): (M,) member and (N,) non-member
            scores, higher = member; empty when scores.json is absent.
        images: ``roc`` and/or ``reconstructions`` PNG paths that exist.
    """

    name: str
    path: Path
    kind: str
    method: str
    result: Mapping[str, Any]
    scores: Mapping[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    images: Mapping[str, Path] = field(default_factory=dict)

    def value(self, key: str) -> float | None:
        """A number of result.json (None when absent or not a number)."""
        return parse_epsilon(self.result.get(key))


@dataclass(frozen=True, eq=False)
class RunSummary:
    """Everything the report needs from one run directory.

    ``privacy``, ``result`` and ``metrics`` of an audit are those of its training run
    (``train/``); ``audit`` is its audit.json.
    """

    path: Path
    kind: str
    config: Mapping[str, Any]
    privacy: Mapping[str, Any] | None
    result: Mapping[str, Any] | None
    metrics: tuple[Mapping[str, Any], ...]
    evaluations: Mapping[str, Mapping[str, Any]]
    attacks: tuple[AttackSummary, ...]
    audit: Mapping[str, Any] | None
    images: Mapping[str, Path]

    @property
    def training_config(self) -> Mapping[str, Any]:
        """The training configuration (an audit's is under ``training``)."""
        return self.config.get("training", {}) if self.kind == AUDIT_COMMAND else self.config

    @property
    def dataset(self) -> str | None:
        data = self.training_config.get("data") or self.config.get("data") or {}
        return data.get("dataset") if isinstance(data, Mapping) else None

    def _privacy_value(self, key: str) -> Any:
        for source in (self.privacy, self.result):
            if source and key in source:
                return source[key]
        return None

    @property
    def epsilon(self) -> float | None:
        """The run's ε (∞ for non-private training); None when the run has no privacy report."""
        return parse_epsilon(self._privacy_value("epsilon"))

    @property
    def delta(self) -> float | None:
        return parse_epsilon(self._privacy_value("delta"))

    @property
    def noise_multiplier(self) -> float | None:
        return parse_epsilon(self._privacy_value("noise_multiplier"))

    @property
    def sample_rate(self) -> float | None:
        """q of the run's sampling (None when not recorded)."""
        return parse_epsilon(self._privacy_value("sample_rate"))

    @property
    def private(self) -> bool:
        return self.epsilon is not None and math.isfinite(self.epsilon)

    @property
    def epsilon_valid(self) -> bool:
        """False when privacy.json or result.json says the ε is not a DP guarantee."""
        return not any(source and (source.get("epsilon_valid") is False
                                   or source.get("poisson_sampling") is False)
                       for source in (self.privacy, self.result))

    @property
    def epochs(self) -> int | None:
        done = [m.get("epoch") for m in self.metrics if isinstance(m.get("epoch"), int)]
        if done:
            return max(done)
        value = (self.result or {}).get("epochs")
        return value if isinstance(value, int) else None

    @property
    def steps(self) -> int | None:
        for source in (self.privacy, self.result):
            if source and isinstance(source.get("steps"), int) and source["steps"] > 0:
                return source["steps"]
        done = [m.get("steps") for m in self.metrics if isinstance(m.get("steps"), int)]
        return max(done) if done else None

    def evaluation(self, key: str) -> float | None:
        """A number from the run's latest evaluations (or its result.json)."""
        for record in (*self.evaluations.values(), self.result or {}):
            if key in record:
                return parse_epsilon(record[key])
        return None

    @property
    def test_accuracy(self) -> float | None:
        acc = parse_epsilon((self.result or {}).get("test_accuracy"))
        return acc if acc is not None else self.evaluation("accuracy")

    def epsilon_per_epoch(self) -> list[tuple[int, float]]:
        """(epoch, ε) of metrics.jsonl, skipping epochs whose ε was not computed (null)."""
        points = []
        for m in self.metrics:
            eps = parse_epsilon(m.get("epsilon"))
            if isinstance(m.get("epoch"), int) and eps is not None:
                points.append((m["epoch"], eps))
        return points

    @property
    def strongest_attack(self) -> AttackSummary | None:
        """The membership attack with the largest ε lower bound (then AUC)."""
        found = [a for a in self.attacks if a.kind == "membership"]
        if not found:
            return None
        return max(found, key=lambda a: (a.value("epsilon_lower_bound") or 0.0,
                                         a.value("auc") or 0.0))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DPKitError(f"{path} is corrupt ({exc}); restore it from a copy, or leave its run "
                         f"out of the report") from None


def _optional_json(path: Path) -> Any:
    return _read_json(path) if path.is_file() else None


def _kind_of(config_file: Path) -> str | None:
    config = _read_json(config_file)
    return config.get("command") if isinstance(config, dict) else None


def find_runs(paths: list[str | Path] | tuple[str | Path, ...]) -> list[Path]:
    """The run directories at or under ``paths`` (searched recursively), in path order.

    Raises:
        DPKitError: a path that does not exist, a corrupt config.json, or no run at all.
    """
    found: list[Path] = []
    for given in paths:
        root = Path(given)
        if not root.exists():
            raise DPKitError(f"{root} does not exist; pass run directories or folders that "
                             f"hold them")
        candidates = [root / CONFIG_FILE] if (root / CONFIG_FILE).is_file() else []
        candidates += sorted(p for p in root.rglob(CONFIG_FILE) if p.parent != root)
        runs = [c.parent for c in candidates if _kind_of(c) in REPORT_KINDS]
        if not runs:
            raise DPKitError(f"{root} holds no dpkit run (no config.json written by "
                             f"{', '.join(REPORT_KINDS)}); pass a run directory or a folder "
                             f"that holds some")
        found += [r for r in runs if r.resolve() not in {f.resolve() for f in found}]
    outer = [r for r in found if not any(o != r and o.resolve() in r.resolve().parents
                                         for o in found)]
    return outer


def _collect_attack(path: Path) -> AttackSummary | None:
    config = _optional_json(path / CONFIG_FILE)
    result = _optional_json(path / RESULT_FILE)
    if not isinstance(config, dict) or not isinstance(result, dict):
        return None  # an attack that did not finish writes nothing the report can show
    kind = str(config.get("command", "")).removeprefix("attack ")
    raw = _optional_json(path / SCORES_FILE) or {}
    scores = {name: (np.asarray(s["members"], dtype=float), np.asarray(s["nonmembers"],
                                                                      dtype=float))
              for name, s in raw.items()
              if isinstance(s, dict) and s.get("members") and s.get("nonmembers")}
    images = {key: path / name for key, name in (("roc", ROC_FILE),
                                                 ("reconstructions", RECONSTRUCTIONS_FILE))
              if (path / name).is_file()}
    return AttackSummary(name=path.name, path=path, kind=kind,
                         method=str(result.get("method", config.get("method", "?"))),
                         result=result, scores=scores, images=images)


def _last_sample_grid(run: Path) -> Path | None:
    grids = sorted((run / SAMPLES_DIR).glob("epoch_*.png"))
    return grids[-1] if grids else None


def collect_run(path: str | Path) -> RunSummary:
    """Read one run directory (see the module doc)."""
    run = RunDir(Path(path))
    config = run.config  # refuses a corrupt config.json or a newer run format
    kind = run.kind
    train = run.path / TRAIN_DIR if kind == AUDIT_COMMAND else run.path
    attack_dirs = sorted(p.parent for p in (train / ATTACKS_DIR).glob(f"*/{CONFIG_FILE}"))
    attacks = tuple(a for a in (_collect_attack(d) for d in attack_dirs) if a is not None)
    images = {"curves": train / CURVES_FILE, "samples": _last_sample_grid(train),
              "memorization": train / MEMORIZATION_GALLERY,
              "audit_precision": run.path / PRECISION_FILE}
    return RunSummary(
        path=run.path, kind=kind, config=config,
        privacy=_optional_json(train / PRIVACY_FILE),
        result=_optional_json(train / RESULT_FILE),
        metrics=tuple(RunDir(train).read_metrics()),
        evaluations={f: e for f in FAMILIES
                     if isinstance(e := _optional_json(train / evaluation_file(f)), dict)},
        attacks=attacks,
        audit=_optional_json(run.path / AUDIT_FILE) if kind == AUDIT_COMMAND else None,
        images={k: p for k, p in images.items() if p is not None and p.is_file()})


def collect_runs(paths: list[str | Path] | tuple[str | Path, ...]) -> list[RunSummary]:
    """:func:`find_runs` then :func:`collect_run` for each."""
    return [collect_run(p) for p in find_runs(paths)]
