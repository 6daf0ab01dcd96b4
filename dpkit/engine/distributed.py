"""Training one model across processes started by ``torchrun``: the world, and its collectives.

``torchrun --nproc-per-node N -m dpkit train-classifier ...`` starts N copies of the command with
``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in their environment; :func:`launched` reads them, joins
the process group (gloo on the CPU, NCCL on CUDA, one device per process: ``cuda:LOCAL_RANK``) and
describes the result as a :class:`World`. Without torchrun the world is one process and nothing
here communicates.

How the engine divides one DP-SGD step among the processes (see
:func:`~dpkit.engine.private.make_private`), and why ε does not depend on N:

* **Sampling.** Every process draws the same N uniforms from the same seeded stream (the
  single-process run's stream) and keeps the examples of its shard ``rank::world``. Each example
  is therefore decided by exactly one uniform, with probability q = B/N: the union over processes
  is one Poisson batch, the very batch a single process would draw. In secure mode each process
  draws from the OS CSPRNG on its own; every example is still decided once, by the process that
  holds it, so the union is still a Poisson batch.
* **Clipping and noise.** Each process clips its examples' gradients to C; the clipped sums are
  all-reduced (Opacus's ``DistributedDPOptimizer``), and N(0, σ²C²) is added once, by rank 0.
  Opacus divides by its ``expected_batch_size`` on each process and by the world size after the
  all-reduce, so the engine passes B / world: the update is (Σ clip + N(0, σ²C²)) / B, exactly
  the single-process mechanism.
* **Accounting.** Every process charges its copy of the accountant once per logical step (the
  copies agree); only rank 0 writes anything: run directory, metrics, checkpoints, output.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Iterator, Mapping, Sequence

import numpy as np
import torch
import torch.distributed as dist

from dpkit.engine.device import resolve_device
from dpkit.errors import DPKitError, require

__all__ = ["World", "world_from_env", "current_world", "launched", "all_reduce_sum",
           "gather_objects", "broadcast_object", "broadcast_parameters", "barrier", "rank_seed"]

_ENV_KEYS = ("WORLD_SIZE", "RANK", "LOCAL_RANK")


@dataclass(frozen=True)
class World:
    """The processes that train one model together.

    Attributes:
        size: number of processes (1 without torchrun).
        rank: this process's index in 0 .. size - 1; rank 0 writes the run directory.
        local_rank: this process's index on its machine (its CUDA device).
    """

    size: int = 1
    rank: int = 0
    local_rank: int = 0

    def __post_init__(self) -> None:
        require(self.size >= 1 and 0 <= self.rank < self.size,
                f"rank={self.rank} of world_size={self.size} is impossible; start the processes "
                f"with torchrun, which sets RANK and WORLD_SIZE")

    @property
    def distributed(self) -> bool:
        return self.size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the one process that writes, prints and adds the noise."""
        return self.rank == 0

    def share(self, total: int) -> int:
        """This process's part of ``total`` items split as evenly as possible (the parts sum to
        ``total``; e.g. the generated half of a GAN's logical batch)."""
        return total // self.size + (1 if self.rank < total % self.size else 0)


def world_from_env(env: Mapping[str, str] | None = None) -> World:
    """The world that ``torchrun`` describes in ``env`` (default ``os.environ``); one process
    when its variables are absent."""
    env = os.environ if env is None else env
    if "WORLD_SIZE" not in env:
        return World()
    try:
        size, rank = int(env["WORLD_SIZE"]), int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise DPKitError(f"WORLD_SIZE, RANK and LOCAL_RANK must be integers, got "
                         f"{ {k: env.get(k) for k in _ENV_KEYS} }; start dpkit with torchrun, "
                         f"which sets them") from None
    return World(size=size, rank=rank, local_rank=local)


def current_world() -> World:
    """The world of the initialised process group (one process when there is none)."""
    if not (dist.is_available() and dist.is_initialized()):
        return World()
    return World(size=dist.get_world_size(), rank=dist.get_rank(),
                 local_rank=int(os.environ.get("LOCAL_RANK", dist.get_rank())))


@contextlib.contextmanager
def launched(device: str = "auto") -> Iterator[tuple[World, torch.device]]:
    """Join the process group torchrun describes and yield the world and this process's device
    (``cuda:LOCAL_RANK`` on CUDA); leave the group on exit. One process: no group, the device
    ``device`` names."""
    world = world_from_env()
    resolved = resolve_device(device)
    if not world.distributed:
        yield world, resolved
        return
    if resolved.type == "cuda":
        require(world.local_rank < torch.cuda.device_count(),
                f"LOCAL_RANK={world.local_rank} but only {torch.cuda.device_count()} CUDA "
                f"devices are visible; start at most {torch.cuda.device_count()} processes per "
                f"node")
        resolved = torch.device("cuda", world.local_rank)
        torch.cuda.set_device(resolved)
    owned = not dist.is_initialized()
    if owned:
        dist.init_process_group(backend="nccl" if resolved.type == "cuda" else "gloo")
    try:
        yield current_world(), resolved
    finally:
        if owned:
            dist.destroy_process_group()


def all_reduce_sum(tensors: Sequence[torch.Tensor], world: World) -> None:
    """Sum each tensor over the processes, in place (nothing to do for one process)."""
    if world.distributed:
        for t in tensors:
            dist.all_reduce(t, op=dist.ReduceOp.SUM)


def gather_objects(obj: Any, world: World) -> list[Any]:
    """``obj`` of every process, by rank (``[obj]`` for one process)."""
    if not world.distributed:
        return [obj]
    out: list[Any] = [None] * world.size
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, world: World) -> Any:
    """Rank 0's ``obj`` on every process."""
    if not world.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_parameters(module: torch.nn.Module, world: World) -> None:
    """Give every process rank 0's weights (parameters and buffers)."""
    if world.distributed:
        with torch.no_grad():
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, src=0)


def barrier(world: World) -> None:
    """Wait until every process reaches this point."""
    if world.distributed:
        dist.barrier()


def rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s own random stream (e.g. a GAN's latents): ``seed`` itself for
    rank 0, so rank 0 continues the single-process stream; for other ranks a seed derived from
    (seed, rank) by NumPy's SeedSequence, so the ranks' streams are independent and the same on
    every rerun."""
    if rank == 0:
        return seed
    return int(np.random.SeedSequence([seed % 2**63, rank]).generate_state(1, np.uint64)[0]
               >> 1)
