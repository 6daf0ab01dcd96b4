"""Checkpoints that hold everything a run needs to continue exactly where it stopped.

Models, optimizers, each private setup's accountant history and generator states, the global RNG
states and the epoch. A run resumed from epoch k's checkpoint reaches the same weights and the same
ε as an uninterrupted run with the same seed.

Across processes (``torchrun``) the setups' states are the same on every rank (one sampling
stream; the noise is rank 0's), so rank 0 writes them; the global RNG states differ by rank (e.g.
a GAN's latents) and all of them are kept, by rank. A run resumed by as many processes continues
each rank's stream; by another number of processes, rank 0 continues its stream and every other
rank starts one derived from it and its rank (:func:`~dpkit.engine.distributed.rank_seed`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import torch
from torch import nn

from dpkit.engine.distributed import current_world, gather_objects, rank_seed
from dpkit.engine.private import PrivateSetup, unwrap_model
from dpkit.engine.seeding import rng_state, seed_everything, set_rng_state
from dpkit.errors import DPKitError

__all__ = ["CheckpointInfo", "save_checkpoint", "load_checkpoint", "load_weights",
           "read_torch_file"]


def read_torch_file(path: str | Path, *, weights_only: bool,
                    map_location: torch.device | str = "cpu", mmap: bool = False) -> Any:
    """``torch.load`` with a one-line error for a missing or damaged file (``mmap``: tensors are
    mapped, not read)."""
    path = Path(path)
    if not path.is_file():
        raise DPKitError(f"no {path.name} at {path}; check the run directory (train first, or "
                         f"resume a run that finished at least one epoch)")
    try:
        return torch.load(path, map_location=map_location, weights_only=weights_only, mmap=mmap)
    except (RuntimeError, EOFError, OSError, ValueError, KeyError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise DPKitError(f"{path} cannot be read ({first}); the file is damaged (an "
                         f"interrupted copy?): restore it, or train again") from None


def load_weights(final: str | Path, checkpoint: str | Path, key: str) -> dict[str, torch.Tensor]:
    """A model's state dict from a run's ``final.pt`` (weights only), or from the ``models[key]``
    of its ``checkpoint.pt`` when the run has not finished."""
    if Path(final).is_file():
        return read_torch_file(final, weights_only=True)
    if Path(checkpoint).is_file():
        return read_torch_file(checkpoint, weights_only=False)["models"][key]
    raise DPKitError(f"{Path(final).parent} holds no weights (final.pt or checkpoint.pt); "
                     f"train first")


@dataclass(frozen=True)
class CheckpointInfo:
    epoch: int
    extra: dict[str, Any]


def save_checkpoint(path: str | Path, *, epoch: int, models: Mapping[str, nn.Module],
                    optimizers: Mapping[str, torch.optim.Optimizer],
                    setups: Mapping[str, PrivateSetup], extra: dict[str, Any] | None = None) -> Path:
    """Write a checkpoint atomically (temporary file, then rename). Across processes every rank
    calls it (their RNG states are gathered) and rank 0 writes it."""
    path = Path(path)
    world = current_world()
    rng_ranks = gather_objects(rng_state(), world)
    if not world.is_main:
        return path
    state = {
        "epoch": epoch,
        "models": {k: unwrap_model(m).state_dict() for k, m in models.items()},
        "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
        "setups": {k: s.state_dict() for k, s in setups.items()},
        "rng": rng_ranks[0],
        "rng_ranks": rng_ranks,
        "extra": extra or {},
    }
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path, *, models: Mapping[str, nn.Module],
                    optimizers: Mapping[str, torch.optim.Optimizer] | None = None,
                    setups: Mapping[str, PrivateSetup] | None = None,
                    restore_rng: bool = True) -> CheckpointInfo:
    """Restore a checkpoint into the given objects; returns the epoch it was taken after."""
    device = next(iter(models.values())).parameters().__next__().device
    state = read_torch_file(path, weights_only=False, map_location=device)
    for key, model in models.items():
        unwrap_model(model).load_state_dict(state["models"][key])
    for key, opt in (optimizers or {}).items():
        opt.load_state_dict(state["optimizers"][key])
    for key, setup in (setups or {}).items():
        setup.load_state_dict(state["setups"][key])
    if restore_rng:
        _restore_rng(state)
    return CheckpointInfo(epoch=state["epoch"], extra=state["extra"])


def _restore_rng(state: dict[str, Any]) -> None:
    """This rank's global RNG state (see the module docstring)."""
    world = current_world()
    ranks = state.get("rng_ranks") or [state["rng"]]  # checkpoints of one process: "rng" only
    if len(ranks) == world.size:
        set_rng_state(_to_cpu(ranks[world.rank]))
        return
    set_rng_state(_to_cpu(ranks[0]))
    if world.rank > 0:
        seed_everything(rank_seed(int(torch.randint(2**62, (1,))), world.rank))


def _to_cpu(state: Any) -> Any:
    if isinstance(state, torch.Tensor):
        return state.cpu()
    if isinstance(state, dict):
        return {k: _to_cpu(v) for k, v in state.items()}
    if isinstance(state, list):
        return [_to_cpu(v) for v in state]
    return state
