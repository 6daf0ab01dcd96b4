"""Run directories: where every command writes its config, metrics, checkpoints and images.

``runs/<command>-<timestamp>/`` by default. A non-empty directory is never written into unless the
run is resumed explicitly.

The run-directory contract (format version :data:`FORMAT_VERSION`):

============================  =====================================================================
file                          content
============================  =====================================================================
``config.json``               ``{"format_version", "command" (the run kind), ...}``: the run's
                              configuration, enough to rebuild the model and resume
``split.json``                which examples were trained on, held out, public (data layer record)
``metrics.jsonl``             one record per epoch: ``epoch``, ``steps``, ``epsilon``, ``seconds``,
                              ``not_covered_by_epsilon`` (keys computed from private data without
                              noise) and the kind's values
``checkpoint.pt``             models, optimizers, accountant, generators (secret: see
                              :mod:`dpkit.engine.randomness`)
``final.pt``                  the publishable weights: a plain state dict
``privacy.json``              the :class:`~dpkit.engine.accounting.PrivacyReport`
``result.json``               the command's result (its ``--json``)
``curves.png``                the per-epoch curves of metrics.jsonl
``evaluations.jsonl``         one record per evaluation; ``evaluation-<family>.json`` the latest
``attacks/``                  one directory per attack
============================  =====================================================================

Across processes (``torchrun``) only rank 0 writes: every writing method of :class:`RunDir` does
nothing on the other ranks (:attr:`RunDir.writes`), which read the same directory.

A ``config.json`` without ``format_version`` was written by dpkit 0.1 (version 0) and is read as
is; a newer version than this dpkit knows is refused.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dpkit.engine.accounting import PrivacyReport
from dpkit.engine.distributed import current_world
from dpkit.errors import DPKitError

__all__ = ["NOT_COVERED_KEY", "FORMAT_VERSION", "RUN_KINDS", "RunDir", "check_new_run_dir",
           "create_run_dir", "open_run_dir", "to_jsonable", "CONFIG_FILE", "SPLIT_FILE",
           "METRICS_FILE", "CHECKPOINT_FILE", "FINAL_FILE", "PRIVACY_FILE", "RESULT_FILE",
           "EVALUATIONS_LOG", "CURVES_FILE"]

FORMAT_VERSION = 1
CONFIG_FILE = "config.json"
SPLIT_FILE = "split.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_FILE = "checkpoint.pt"
FINAL_FILE = "final.pt"
PRIVACY_FILE = "privacy.json"
RESULT_FILE = "result.json"
EVALUATIONS_LOG = "evaluations.jsonl"
CURVES_FILE = "curves.png"

# The kinds of training run, by the command that writes them: the one table every reader checks.
RUN_KINDS: dict[str, str] = {
    "train-classifier": "a classifier trained with DP-SGD",
    "train-gan": "a DCGAN whose discriminator is trained with DP-SGD",
}

# The key, in every metrics record, listing the values computed from private data without noise:
# they are NOT covered by the run's ε (the run directory is the trainer's secret).
NOT_COVERED_KEY = "not_covered_by_epsilon"


def to_jsonable(obj: Any) -> Any:
    """Make floats JSON-safe (∞ and NaN become strings) recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return "inf" if obj > 0 else ("-inf" if obj < 0 else "nan")
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    return obj


@dataclass(frozen=True)
class RunDir:
    """A run directory and typed access to the files of its contract (see the module doc)."""

    path: Path
    #: the outermost directory :func:`create_run_dir` had to create for it (the run directory
    #: itself, or a missing parent of ``--out``); None for a directory opened, not created
    created_root: Path | None = field(default=None, compare=False)

    def file(self, name: str) -> Path:
        return self.path / name

    @property
    def writes(self) -> bool:
        """Whether this process writes the run directory: the only process, or rank 0 of the
        processes training together; the other ranks' writes do nothing."""
        return current_world().is_main

    @property
    def checkpoint_path(self) -> Path:
        return self.file(CHECKPOINT_FILE)

    @property
    def final_path(self) -> Path:
        return self.file(FINAL_FILE)

    @property
    def kind(self) -> str:
        """The command that wrote the run (``train-classifier``, ``train-gan``, ...)."""
        return str(self.config.get("command"))

    def require_kind(self, kind: str) -> "RunDir":
        """Refuse a run of another kind, naming the command that wrote it."""
        if self.kind != kind:
            raise DPKitError(f"{self.path} is a '{self.kind}' run, not '{kind}'; pass a directory "
                             f"written by 'dpkit {kind}' ({RUN_KINDS.get(kind, kind)})")
        return self

    def write_config(self, config: dict[str, Any]) -> Path:
        """Write config.json, stamped with this dpkit's :data:`FORMAT_VERSION`."""
        return self.write_json(CONFIG_FILE, {**config, "format_version": FORMAT_VERSION})

    def read_split(self) -> dict[str, Any]:
        """The data split record (``split.json``); rebuild it with ``dataset_from_record``."""
        return self.read_json(SPLIT_FILE)

    def read_privacy(self) -> "PrivacyReport":
        return PrivacyReport.from_dict(self.read_json(PRIVACY_FILE))

    def write_json(self, name: str, obj: Any) -> Path:
        target = self.file(name)
        if not self.writes:
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")
        return target

    def read_json(self, name: str) -> Any:
        target = self.file(name)
        if not target.is_file():
            raise DPKitError(f"{target} is missing; is {self.path} a dpkit run directory?")
        try:
            return json.loads(target.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DPKitError(f"{target} is corrupt ({exc}); restore it from a copy, or start "
                             f"a new run") from None

    def append_metrics(self, record: dict[str, Any], name: str = METRICS_FILE) -> None:
        if not self.writes:
            return
        with self.file(name).open("a") as fh:
            fh.write(json.dumps(to_jsonable(record), sort_keys=True) + "\n")

    def read_metrics(self, name: str = METRICS_FILE) -> list[dict[str, Any]]:
        target = self.file(name)
        if not target.is_file():
            return []
        try:
            return [json.loads(line) for line in target.read_text().splitlines() if line.strip()]
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DPKitError(f"{target} is corrupt ({exc}); delete its damaged lines") from None

    def truncate_metrics(self, epochs: int, name: str = METRICS_FILE) -> None:
        """Keep only the records of the first ``epochs`` epochs (used on resume)."""
        if not self.writes:
            return
        records = [r for r in self.read_metrics(name) if r.get("epoch", 0) <= epochs]
        self.file(name).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))

    @property
    def config(self) -> dict[str, Any]:
        """config.json (refused when written by a newer dpkit than this one)."""
        config = self.read_json(CONFIG_FILE)
        if not isinstance(config, dict):
            raise DPKitError(f"{self.file(CONFIG_FILE)} is not a dpkit config (not an object)")
        version = config.get("format_version", 0)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise DPKitError(f"{self.path} was written by a newer dpkit (run format {version}, "
                             f"this dpkit reads up to {FORMAT_VERSION}); upgrade dpkit")
        return config


def check_new_run_dir(out: str | Path | None, *, resumable: bool = False) -> None:
    """Refuse, before any work is done, an ``out`` that already holds files (the message
    suggests resuming only for commands that can)."""
    if out is not None:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            hint = f", or continue that run with resume={path}" if resumable else ""
            raise DPKitError(f"out={path} already exists and is not empty; choose a new "
                             f"directory{hint}")


def create_run_dir(command: str, out: str | Path | None = None, *, root: str | Path = "runs") -> RunDir:
    """A fresh run directory; refuses to reuse one that already holds files."""
    check_new_run_dir(out, resumable=command in RUN_KINDS)
    if out is not None:
        path = Path(out)
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(root) / f"{command}-{stamp}"
        k = 1
        while path.exists():
            k += 1
            path = Path(root) / f"{command}-{stamp}-{k}"
    created_root = None
    for candidate in (path, *path.parents):  # the outermost missing directory
        if candidate.exists():
            break
        created_root = candidate
    path.mkdir(parents=True, exist_ok=True)
    return RunDir(path, created_root=created_root)


def open_run_dir(path: str | Path, *, kind: str | None = None) -> RunDir:
    """An existing run directory (it must hold config.json), of ``kind`` when given."""
    path = Path(path)
    if not (path / CONFIG_FILE).is_file():
        raise DPKitError(f"{path} is not a dpkit run directory (no config.json); pass the "
                         f"directory a dpkit training command wrote")
    run = RunDir(path)
    return run.require_kind(kind) if kind is not None else run
