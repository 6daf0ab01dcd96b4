"""Run directories: where every command writes its config, metrics, checkpoints and images.

``runs/<command>-<timestamp>/`` by default. A non-empty directory is never written into unless the
run is resumed explicitly.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dpkit.errors import DPKitError

__all__ = ["NOT_COVERED_KEY", "RunDir", "check_new_run_dir", "create_run_dir", "open_run_dir", "to_jsonable"]

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
    path: Path

    def file(self, name: str) -> Path:
        return self.path / name

    def write_json(self, name: str, obj: Any) -> Path:
        target = self.file(name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(to_jsonable(obj), indent=2, sort_keys=True) + "\n")
        return target

    def read_json(self, name: str) -> Any:
        target = self.file(name)
        if not target.is_file():
            raise DPKitError(f"{target} is missing; is {self.path} a dpkit run directory?")
        return json.loads(target.read_text())

    def append_metrics(self, record: dict[str, Any], name: str = "metrics.jsonl") -> None:
        with self.file(name).open("a") as fh:
            fh.write(json.dumps(to_jsonable(record), sort_keys=True) + "\n")

    def read_metrics(self, name: str = "metrics.jsonl") -> list[dict[str, Any]]:
        target = self.file(name)
        if not target.is_file():
            return []
        return [json.loads(line) for line in target.read_text().splitlines() if line.strip()]

    def truncate_metrics(self, epochs: int, name: str = "metrics.jsonl") -> None:
        """Keep only the records of the first ``epochs`` epochs (used on resume)."""
        records = [r for r in self.read_metrics(name) if r.get("epoch", 0) <= epochs]
        self.file(name).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))

    @property
    def config(self) -> dict[str, Any]:
        return self.read_json("config.json")


def check_new_run_dir(out: str | Path | None) -> None:
    """Refuse, before any work is done, an ``out`` that already holds files."""
    if out is not None:
        path = Path(out)
        if path.exists() and (not path.is_dir() or any(path.iterdir())):
            raise DPKitError(f"--out {path} already exists and is not empty; choose a new "
                             f"directory, or pass --resume {path} to continue that run")


def create_run_dir(command: str, out: str | Path | None = None, *, root: str | Path = "runs") -> RunDir:
    """A fresh run directory; refuses to reuse one that already holds files."""
    check_new_run_dir(out)
    if out is not None:
        path = Path(out)
    else:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = Path(root) / f"{command}-{stamp}"
        k = 1
        while path.exists():
            k += 1
            path = Path(root) / f"{command}-{stamp}-{k}"
    path.mkdir(parents=True, exist_ok=True)
    return RunDir(path)


def open_run_dir(path: str | Path) -> RunDir:
    """An existing run directory (it must hold config.json)."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise DPKitError(f"{path} is not a dpkit run directory (no config.json); pass the "
                         f"directory a dpkit training command wrote")
    return RunDir(path)
