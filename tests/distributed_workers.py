"""What tests/test_engine_distributed.py runs in each of its processes: small DP-SGD scenarios whose
results (weights, accountant history, sampled indices, noise) are compared with one process's.

:func:`scenarios` is called with no process group by the test itself (one process) and, by
:func:`spawn_scenarios`, in 2 processes joined with gloo on localhost (what torchrun sets up).
"""

from __future__ import annotations

import os
import shutil
import socket
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn
from torch.utils.data import TensorDataset

import dpkit.engine.private as private
from dpkit.engine import PrivacyConfig, barrier, current_world, make_private

N, FEATURES, CLASSES = 64, 10, 3


class StackedDataset(TensorDataset):
    """A TensorDataset whose batches are stacked by indexing (so an empty Poisson batch is a
    (0, ...) tensor, as with dpkit's image datasets)."""

    def __getitems__(self, indices: list[int]) -> tuple[torch.Tensor, ...]:
        idx = torch.tensor(indices, dtype=torch.long)
        return tuple(t[idx] for t in self.tensors)


def _data() -> TensorDataset:
    gen = torch.Generator().manual_seed(11)
    x = torch.randn(N, FEATURES, generator=gen)  # (N, F)
    y = torch.randint(CLASSES, (N,), generator=gen)
    return StackedDataset(x, y)


def _model() -> nn.Module:
    torch.manual_seed(5)
    return nn.Sequential(nn.Linear(FEATURES, 8), nn.Tanh(), nn.Linear(8, CLASSES))


def train_small(mode: str, sigma: float, *, batch_size: int = 4, epochs: int = 2
                ) -> dict[str, Any]:
    """``epochs`` of DP-SGD on the fixed small dataset; the weights, the accountant's history and
    ε, and this process's local batch sizes."""
    model = _model()
    opt = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.5)
    cfg = PrivacyConfig(noise_multiplier=sigma, grad_sample_mode=mode, accountant="rdp",
                        delta=1e-3)
    setup = make_private(model, opt, _data(), cfg, batch_size=batch_size, epochs=epochs, seed=3)
    sizes = []
    for _ in range(epochs):
        for x, y in setup.loader:
            sizes.append(int(x.shape[0]))
            setup.optimizer.zero_grad(set_to_none=True)
            setup.criterion(setup.model(x), y).backward()
            setup.optimizer.step()
    return {"weights": {k: v.detach().clone() for k, v in setup.module.state_dict().items()},
            "history": list(setup.accountant.history), "epsilon": setup.epsilon(),
            "sizes": sizes}


def noise_of_update(mode: str, *, sigma: float = 2.0, batch_size: int = 8, steps: int = 3,
                    noise_everywhere: bool = False) -> torch.Tensor:
    """The gradients the optimizer applies when every per-example gradient is 0: pure noise,
    (Σ clip + N(0, σ²C²)) / B with Σ clip = 0; concatenated over ``steps`` steps.
    ``noise_everywhere`` breaks the engine on purpose: every rank adds the noise."""
    torch.manual_seed(0)
    model = nn.Linear(100, 50)  # 5050 parameters
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    data = StackedDataset(torch.randn(N, 100), torch.zeros(N, 50))
    cfg = PrivacyConfig(noise_multiplier=sigma, grad_sample_mode=mode, accountant="rdp",
                        delta=1e-3)
    setup = make_private(model, opt, data, cfg, batch_size=batch_size, epochs=1, seed=3,
                         criterion=lambda out, y: (out * 0).sum())
    if noise_everywhere:
        dp = setup.optimizer
        dp.add_noise = lambda: private._add_noise(dp, setup.noise_source, None, 0.0)
    grads = []
    for i, (x, y) in enumerate(setup.loader):
        if i == steps:
            break
        setup.optimizer.zero_grad(set_to_none=True)
        setup.criterion(setup.model(x), y).backward()
        setup.optimizer.step()
        grads.append(torch.cat([p.grad.reshape(-1) for p in model.parameters()]))
    return torch.cat(grads)


def sampled_indices(*, n: int = 400, batch_size: int = 40, epochs: int = 50) -> list[list[int]]:
    """The indices this process's Poisson sampler yields in ``epochs`` epochs (no training)."""
    data = StackedDataset(torch.zeros(n, 2), torch.zeros(n, dtype=torch.long))
    model = nn.Linear(2, 2)
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data, PrivacyConfig(noise_multiplier=1.0, accountant="rdp", delta=1e-4),
                         batch_size=batch_size, epochs=1, seed=7)
    return [batch for _ in range(epochs) for batch in setup._batch_sampler]


def classifier_config(**kw: Any) -> Any:
    """A small MLP classifier on digits for 3 epochs (the resume scenario)."""
    from dpkit.classifiers import ClassifierConfig, ModelConfig

    base = dict(model=ModelConfig(arch="mlp", hidden=(16,)),
                privacy=PrivacyConfig(noise_multiplier=1.0, accountant="rdp"), epochs=3,
                batch_size=32, lr=0.1, seed=1, eval_every=3)
    return ClassifierConfig(**(base | kw))


def scenarios(workdir: str) -> dict[str, Any]:
    """Every scenario the distributed tests compare, in this process's world."""
    from dpkit.classifiers import fit_classifier
    from dpkit.data import load_dataset, DataOptions
    from dpkit.gan.training import fit_gan
    from tiny_gan import GAN_DATA, tiny_gan_config

    world = current_world()
    out: dict[str, Any] = {"world_size": world.size, "rank": world.rank}
    for mode in ("hooks", "ghost", "bk"):
        out[f"sigma0_{mode}"] = train_small(mode, 0.0)
    out["sigma1_hooks"] = train_small("hooks", 1.0, batch_size=16)
    out["noise_hooks"] = noise_of_update("hooks")
    out["noise_ghost"] = noise_of_update("ghost")
    out["noise_bk"] = noise_of_update("bk")
    out["noise_everywhere"] = noise_of_update("hooks", noise_everywhere=True)
    out["indices"] = sampled_indices()

    # a classifier stopped after its first epoch, then resumed by the same processes
    digits = load_dataset("digits", DataOptions(subset=300)).train
    cfg = classifier_config()
    ckpt = Path(workdir) / f"classifier-{world.size}.pt"

    class Stop(Exception):
        pass

    def stop_after_first(record: dict[str, Any]) -> None:
        if record["epoch"] == 2:  # called before epoch 2's checkpoint: epoch 1's is the last
            raise Stop

    try:
        fit_classifier(cfg, digits, checkpoint=ckpt, on_epoch=stop_after_first)
    except Stop:
        pass
    if world.is_main:  # epoch 1's checkpoint, for a resume by another number of processes
        shutil.copy(ckpt, Path(workdir) / f"classifier-{world.size}-epoch1.pt")
    barrier(world)
    resumed = fit_classifier(cfg, digits, checkpoint=ckpt, resume=True)
    out["resumed"] = {"epsilon": resumed.report.epsilon, "steps": resumed.report.steps,
                      "weights": resumed.model.state_dict()}
    out["checkpoint"] = str(ckpt)

    # the DP-GAN: latents of its own per rank, weights kept equal, one charge per logical D step
    gan_data = load_dataset("digits", GAN_DATA).train
    gan_cfg = tiny_gan_config(epochs=1, privacy=PrivacyConfig(noise_multiplier=1.0,
                                                               accountant="rdp"))
    torch.manual_seed(0)
    fit = fit_gan(gan_cfg, gan_data)
    out["gan"] = {"epsilon": fit.report.epsilon, "steps": fit.report.steps,
                  "generator": fit.generator.state_dict(),
                  "discriminator": fit.discriminator.state_dict(),
                  "latent_probe": torch.randn(4)}
    return out


def _worker(rank: int, world_size: int, port: int, workdir: str) -> None:
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank),
                       "OMP_NUM_THREADS": "1"})
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        torch.save(scenarios(workdir), Path(workdir) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def spawn_scenarios(workdir: str | Path, world_size: int = 2) -> list[dict[str, Any]]:
    """:func:`scenarios` in ``world_size`` processes (gloo); their results, by rank."""
    mp.spawn(_worker, args=(world_size, free_port(), str(workdir)), nprocs=world_size, join=True)
    return [torch.load(Path(workdir) / f"rank{r}.pt", weights_only=False)
            for r in range(world_size)]
