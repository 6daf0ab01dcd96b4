"""Batch samplers and loaders for private training.

Poisson sampling (each example joins a batch independently with probability q = B/N) is what the
accountants analyse. The loader's sampler counts the batches it has drawn so the engine can refuse
an optimizer step that would reuse a batch (Poisson analysis charges each draw once).

Across processes (``torchrun``) each sampler is given its ``shard`` (rank, world): it draws the
same decisions as one process would and keeps the examples ``rank::world``, so the processes'
batches are disjoint and their union is the single-process batch (see
:mod:`dpkit.engine.distributed`).
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

import torch
from opacus.utils.uniform_sampler import UniformWithReplacementSampler
from torch.utils.data import BatchSampler, DataLoader, Dataset, RandomSampler

from dpkit.engine.randomness import RandomSource

__all__ = ["PoissonBatchSampler", "ShuffledBatchSampler", "make_loader", "collate_batch"]


class PoissonBatchSampler(UniformWithReplacementSampler):
    """Poisson sampling: every step, each of the N examples joins the batch independently with
    probability q (Opacus's sampler, drawing its uniforms from a :class:`RandomSource` so secure
    mode samples from the OS CSPRNG), for an explicit number of steps, counting the batches drawn.

    With ``shard=(rank, world)`` it yields only the sampled examples i with i % world == rank.
    Every example's decision is still one uniform compared with q, drawn from a stream that is
    the same on every process (seeded) or this process's own (secure mode: the decisions of
    other shards are drawn but discarded, and no example is decided twice), so the union of the
    processes' batches is one Poisson batch at rate q over all N examples. Empty local batches are
    yielded too: every process takes part in every step's all-reduce.
    """

    def __init__(self, *, num_samples: int, sample_rate: float, steps: int,
                 source: RandomSource, shard: tuple[int, int] = (0, 1)) -> None:
        super().__init__(num_samples=num_samples, sample_rate=sample_rate, steps=steps)
        self.source = source
        self.shard = shard
        self.drawn = 0

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = self.shard
        for _ in range(self.steps):
            mask = self.source.uniform(self.num_samples) < self.sample_rate  # (N,)
            self.drawn += 1
            local = mask[rank::world].nonzero(as_tuple=False).reshape(-1)  # positions in the shard
            yield (local * world + rank).tolist()


class ShuffledBatchSampler(BatchSampler):
    """Fixed-size shuffled batches (no privacy analysis covers them; used for --no-poisson).

    With ``shard=(rank, world)`` it yields the positions ``rank::world`` of each batch (the same
    shuffle on every process: one seeded generator)."""

    def __init__(self, *, num_samples: int, batch_size: int, generator: torch.Generator | None,
                 shard: tuple[int, int] = (0, 1)):
        super().__init__(RandomSampler(range(num_samples), generator=generator), batch_size,
                         drop_last=True)
        self.shard = shard
        self.drawn = 0

    def __iter__(self) -> Iterator[list[int]]:
        rank, world = self.shard
        for batch in super().__iter__():
            self.drawn += 1
            yield batch[rank::world]


def collate_batch(items: Any) -> Any:
    """Collate a list of samples, or pass through a batch a dataset's ``__getitems__`` stacked."""
    if isinstance(items, tuple):
        return items
    return torch.utils.data.default_collate(items)


def make_loader(dataset: Dataset, batch_sampler: Sequence[list[int]] | BatchSampler,
                *, num_workers: int = 0) -> DataLoader:
    """A DataLoader over ``batch_sampler`` that tolerates empty (Poisson) batches."""
    return DataLoader(dataset, batch_sampler=batch_sampler, collate_fn=collate_batch,
                      num_workers=num_workers)
