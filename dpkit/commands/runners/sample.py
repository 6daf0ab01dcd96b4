"""``dpkit sample``, run: generate images from a train-gan run and print where they went."""

from __future__ import annotations

from dpkit.commands.runners import emit
from dpkit.engine import resolve_device
from dpkit.gan.sampling import sample_run

__all__ = ["run"]


def run(*, run_dir: str, n: int, out: str | None, fmt: str, batch_size: int, seed: int,
        device: str, as_json: bool, label: int | None = None) -> None:
    result = sample_run(run_dir, num_samples=n, out=out, fmt=fmt, batch_size=batch_size,
                        seed=seed, device=resolve_device(device), label=label)
    emit(result, as_json=as_json, text=result.summary)
