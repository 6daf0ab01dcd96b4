"""The training loop every dpkit trainer runs: epochs of Poisson-sampled private steps.

A trainer plugs in a :class:`StepFunction` (what one sampled batch does, and what an epoch
reports); the loop owns what is the same for every run kind: the epoch and step counters, the
progress bar, the physical-batch loader, ε after each epoch, timing, the one metrics schema
(``epoch``, ``steps``, ``epsilon``, ``seconds``, ``not_covered_by_epsilon`` + the trainer's
values), the checkpoint after each epoch and the per-epoch callback.
"""

from __future__ import annotations

import math
import time
from typing import Any, Callable, Protocol

import torch

from dpkit.engine.private import PrivateSetup
from dpkit.engine.progress import progress
from dpkit.engine.rundir import NOT_COVERED_KEY
from dpkit.errors import DPKitError

__all__ = ["StepFunction", "train_epochs"]


class StepFunction(Protocol):
    """What a run kind does with each sampled batch, and what it reports per epoch."""

    #: keys of :meth:`end_epoch`'s values computed from private data without noise
    private_keys: tuple[str, ...]

    def begin_epoch(self, epoch: int) -> None:
        """Called before the epoch's first batch (e.g. put models in training mode)."""

    def step(self, index: int, x: torch.Tensor, y: torch.Tensor) -> float | None:
        """One step on the ``index``-th sampled batch of the epoch (already on the device);
        returns a loss to watch for divergence (None: nothing to watch)."""

    def end_epoch(self, epoch: int) -> dict[str, Any]:
        """The epoch's values for metrics.jsonl (e.g. losses, test accuracy)."""


def train_epochs(setup: PrivateSetup, fn: StepFunction, *, epochs: int, device: torch.device,
                 start: int = 0, history: list[dict[str, Any]] | None = None,
                 quiet: bool = True,
                 save: Callable[[int, list[dict[str, Any]]], None] | None = None,
                 on_epoch: Callable[[dict[str, Any]], None] | None = None,
                 save_every: int = 1) -> list[dict[str, Any]]:
    """Train epochs ``start + 1 .. epochs`` and return the history of epoch records.

    Args:
        setup: the private (or non-private) setup whose loader draws the batches.
        fn: the run kind's step function.
        epochs: the last epoch to train.
        device: where batches go.
        start: epochs already done (resume).
        history: their records (resume).
        quiet: no progress bar.
        save: ``save(epoch, history)`` writes a checkpoint after each ``save_every``-th epoch
            and the last.
        on_epoch: called with each epoch's record (e.g. to append it to metrics.jsonl).
        save_every: save (and read ε from the accountant, which can take seconds) every this
            many epochs and after the last; the other epochs' records hold ``epsilon: None``.
            For long runs of short epochs (small datasets).
    """
    if save_every < 1:
        raise DPKitError(f"save_every={save_every} must be >= 1")
    history = list(history or [])
    for epoch in range(start + 1, epochs + 1):
        t0 = time.perf_counter()
        fn.begin_epoch(epoch)
        with setup.epoch_loader() as loader:
            for i, (x, y) in enumerate(progress(loader, quiet=quiet or not setup.world.is_main,
                                                desc=f"epoch {epoch}/{epochs}",
                                                total=setup.steps_per_epoch)):
                loss = fn.step(i, x.to(device), y.to(device))
                if loss is not None and not math.isfinite(loss):
                    raise DPKitError(f"the training loss became {loss} at epoch {epoch}, step "
                                     f"{i + 1}: the optimisation diverged; lower the learning "
                                     f"rate (or the clipping norm) and train again")
        values = fn.end_epoch(epoch)
        due = epoch % save_every == 0 or epoch == epochs
        record: dict[str, Any] = {"epoch": epoch, "steps": epoch * setup.steps_per_epoch,
                                  "epsilon": setup.epsilon() if due else None, **values,
                                  NOT_COVERED_KEY: list(fn.private_keys),
                                  "seconds": time.perf_counter() - t0}
        history.append(record)
        if on_epoch is not None:  # before the checkpoint: a resume drops records past it
            on_epoch(record)
        if save is not None and due:
            save(epoch, history)
    return history
