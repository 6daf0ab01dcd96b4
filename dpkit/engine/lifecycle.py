"""One lifecycle for every training run: start, resume, record an evaluation.

Both trainers (classifiers, GAN) and every evaluation go through these functions, so studies,
reports and audits can drive any run kind the same way. What a run kind trains lives in its
package (``fit_classifier``, ``fit_gan``); this module owns the run directory around it.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Any, Iterator

from dpkit.engine.checkpoint import read_torch_file
from dpkit.engine.distributed import barrier, broadcast_object, current_world
from dpkit.engine.rundir import (CHECKPOINT_FILE, EVALUATIONS_LOG, RUN_KINDS, SPLIT_FILE,
                                 RunDir, create_run_dir, open_run_dir)
from dpkit.errors import DPKitError, RunInterrupted, require

__all__ = ["start_run", "resume_run", "record_evaluation", "checkpoint_epoch",
           "evaluation_file", "running"]


def start_run(kind: str, out: str | Path | None, *, config: dict[str, Any],
              split: dict[str, Any]) -> RunDir:
    """Create a fresh run directory of ``kind`` holding its config.json and split.json.

    Call it only once everything that can be validated has been: a refused configuration must
    leave no directory behind. config.json records ``world_size``, the number of processes
    (torchrun) that start the run; across processes rank 0 creates the directory and the others
    open the same one.
    """
    require(kind in RUN_KINDS, f"run kind {kind!r} is unknown; one of {', '.join(RUN_KINDS)}")
    world = current_world()
    barrier(world)  # every rank has checked ``out`` before rank 0 creates it
    if world.is_main:
        run = create_run_dir(kind, out)
        broadcast_object(run.path, world)
    else:
        run = RunDir(Path(broadcast_object(None, world)))
    run.write_config({**config, "command": kind, "world_size": world.size})
    run.write_json(SPLIT_FILE, split)
    return run


def checkpoint_epoch(path: str | Path) -> int:
    """The epoch a checkpoint was taken after, without restoring anything (memory-mapped: the
    tensors are not read, so resuming does not load a large checkpoint twice)."""
    return int(read_torch_file(path, weights_only=False, mmap=True)["epoch"])


def resume_run(path: str | Path, kind: str) -> tuple[RunDir, int]:
    """Open a run of ``kind`` to continue it: checks its kind and checkpoint, and drops the
    metrics records of epochs after the checkpoint. Returns the run and the checkpoint's epoch."""
    run = open_run_dir(path, kind=kind)
    if not run.checkpoint_path.is_file():
        raise DPKitError(f"{run.path} has no {CHECKPOINT_FILE} (no epoch finished); start a new "
                         f"run instead of resuming")
    epoch = checkpoint_epoch(run.checkpoint_path)
    run.truncate_metrics(epoch)
    return run, epoch


@contextlib.contextmanager
def running(run: RunDir, *, created: bool) -> Iterator[RunDir]:
    """Train inside this block: a failure before the first checkpoint removes a run directory
    this invocation ``created``, and the parents it created for it (nothing is left to block
    the retry); Ctrl-C becomes
    :class:`~dpkit.errors.RunInterrupted` naming the exact command that resumes the run."""
    try:
        yield run
    except BaseException as exc:
        has_checkpoint = run.checkpoint_path.is_file()
        if created and not has_checkpoint and run.writes:
            shutil.rmtree(run.created_root or run.path, ignore_errors=True)
        if isinstance(exc, KeyboardInterrupt):
            if has_checkpoint:
                epoch = checkpoint_epoch(run.checkpoint_path)
                command = f"dpkit {run.kind} --resume {run.path}"
                raise RunInterrupted(f"interrupted; {run.path} holds the checkpoint of epoch "
                                     f"{epoch} (resuming is exact): {command}", command) from None
            raise RunInterrupted("interrupted before the first epoch finished; nothing was "
                                 "kept, start the run again", None) from None
        raise


def evaluation_file(family: str) -> str:
    """``evaluation-<family>.json``: the latest evaluation of one metric family."""
    return f"evaluation-{family}.json"


def record_evaluation(run: RunDir, family: str, record: dict[str, Any], *, seconds: float,
                      latest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Write an evaluation into its run: one line per call in ``evaluations.jsonl`` (``record``
    stamped with the family, seconds and time) and the latest result in
    ``evaluation-<family>.json``: the stamped record, or, with ``latest``, that file's keys
    updated with ``latest`` (e.g. one key per metric, so each keeps its latest value).

    Returns the logged record.
    """
    logged = {**record, "kind": family, "seconds": round(seconds, 2),
              "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
    name = evaluation_file(family)
    if latest is None:
        run.write_json(name, logged)
    else:
        previous = run.read_json(name) if run.file(name).is_file() else {}
        run.write_json(name, {**previous, **latest})
    run.append_metrics(logged, name=EVALUATIONS_LOG)
    return logged
