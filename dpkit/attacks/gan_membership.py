"""Membership inference against GANs.

- ``discriminator`` (LOGAN white-box, Hayes et al. 2019, arXiv:1705.07663): the discriminator's
  logit on a record; an overfit discriminator scores its training records as "real".
- ``gan-leaks`` (Chen et al. 2020, "GAN-Leaks", arXiv:1909.03935), black-box: score = −distance
  of a record to its closest of M generated samples.
- ``gan-leaks-latent`` (the same paper's white-box / partial black-box variant): starting from the
  closest of the M samples' latents, optimise z to minimise ‖G(z) − x‖² and score −‖G(z*) − x‖.

Scores: higher = more likely a member. Distances are L2 on images in [−1, 1], per pixel (RMS).
Against a class-conditional GAN a record is (x, y): the discriminator scores it with its label and
the latent search runs the generator for the record's class; the black-box search compares with
samples of every class (balanced).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from dpkit.attacks.scores import MembershipScores
from dpkit.data import ImageTensorDataset
from dpkit.errors import require
from dpkit.gan.models import run_generator

__all__ = ["LatentSearchConfig", "closest_distances", "discriminator_attack",
           "discriminator_logits", "gan_leaks_attack", "gan_leaks_latent_attack"]


def _images(ds: ImageTensorDataset, device: torch.device | str) -> torch.Tensor:
    return ds.tensors()[0].to(device)  # (N, C, H, W)


def discriminator_logits(discriminator: nn.Module, records: ImageTensorDataset, *,
                         device: torch.device | str = "cpu", batch_size: int = 512
                         ) -> torch.Tensor:
    """(N,) float32 "real" logits D(x) of the records (D(x, y) when conditional), on the CPU;
    the discriminator is put in eval mode."""
    discriminator.eval()
    conditional = getattr(discriminator, "num_classes", 0)
    x, y = _images(records, device), records.labels.to(device)  # (N, C, H, W), (N,)
    with torch.no_grad():
        return torch.cat([(discriminator(x[s:s + batch_size], y[s:s + batch_size])
                           if conditional else discriminator(x[s:s + batch_size])
                           ).reshape(-1).float().cpu()
                          for s in range(0, x.shape[0], batch_size)]
                         or [torch.zeros(0)])


def discriminator_attack(discriminator: nn.Module, members: ImageTensorDataset,
                         nonmembers: ImageTensorDataset, *, device: torch.device | str = "cpu",
                         batch_size: int = 512) -> MembershipScores:
    """LOGAN white-box: score = D(x) (D(x, y) when conditional), the "real" logit."""
    return MembershipScores(
        "discriminator",
        discriminator_logits(discriminator, members, device=device, batch_size=batch_size),
        discriminator_logits(discriminator, nonmembers, device=device, batch_size=batch_size))


def closest_distances(queries: torch.Tensor, samples: torch.Tensor, *,
                      chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """RMS distance of each query (N, C, H, W) to its closest sample (M, C, H, W).

    Returns:
        (N,) distances and (N,) index of the closest sample.
    """
    q = queries.flatten(1).double()
    best_d, best_i = [], []
    for s in range(0, q.shape[0], chunk):
        d = torch.cdist(q[s:s + chunk], samples.flatten(1).double())  # (n, M)
        v, i = d.min(dim=1)
        best_d.append(v)
        best_i.append(i)
    dim = q.shape[1]
    return (torch.cat(best_d) / dim ** 0.5).float(), torch.cat(best_i)


def _latents(n: int, latent_dim: int, seed: int) -> torch.Tensor:
    return torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))


def _generate(generator: nn.Module, z: torch.Tensor, device: torch.device | str,
              batch_size: int = 256) -> torch.Tensor:
    generator.eval()
    with torch.no_grad():
        return torch.cat([generator(z[s:s + batch_size].to(device)).float().cpu()
                          for s in range(0, z.shape[0], batch_size)])


def gan_leaks_attack(generator: nn.Module, members: ImageTensorDataset,
                     nonmembers: ImageTensorDataset, *, latent_dim: int, num_samples: int = 10000,
                     seed: int = 0, device: torch.device | str = "cpu") -> MembershipScores:
    """GAN-Leaks black-box: score = −(distance to the closest of ``num_samples`` generated images)."""
    require(num_samples >= 1, f"num_samples={num_samples} must be >= 1")
    samples = _generate(generator, _latents(num_samples, latent_dim, seed), device)
    d_mem, _ = closest_distances(_images(members, "cpu"), samples)
    d_non, _ = closest_distances(_images(nonmembers, "cpu"), samples)
    return MembershipScores("gan-leaks", -d_mem, -d_non)


@dataclass(frozen=True)
class LatentSearchConfig:
    """The latent search of GAN-Leaks' white-box variant.

    Attributes:
        num_samples: random latents whose closest image starts each search.
        steps: Adam steps on z per record.
        lr: Adam step size.
        seed: seeds the random latents.
    """

    num_samples: int = 1000
    steps: int = 200
    lr: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        require(self.num_samples >= 1, f"num_samples={self.num_samples} must be >= 1")
        require(self.steps >= 0, f"latent.steps={self.steps} must be >= 0")
        require(self.lr > 0, f"latent.lr={self.lr} must be > 0")

    def to_dict(self) -> dict[str, int | float]:
        return asdict(self)


def _latent_search(generator: nn.Module, x: torch.Tensor, z0: torch.Tensor,
                   cfg: LatentSearchConfig, device: torch.device | str,
                   y: torch.Tensor | None = None) -> torch.Tensor:
    """(N, C, H, W) records, (N, Z) starting latents, (N,) labels for a conditional generator
    -> (N,) RMS distance after the search."""
    for p in generator.parameters():
        p.requires_grad_(False)
    x = x.to(device)
    y = y.to(device) if y is not None and getattr(generator, "num_classes", 0) else None
    z = z0.clone().to(device).requires_grad_(True)
    opt = torch.optim.Adam([z], lr=cfg.lr)
    for _ in range(cfg.steps):
        opt.zero_grad(set_to_none=True)
        err = (run_generator(generator, z, y) - x).flatten(1).pow(2).mean(1)  # (N,)
        err.sum().backward()
        opt.step()
    with torch.no_grad():
        dist = (run_generator(generator, z, y) - x).flatten(1).pow(2).mean(1).sqrt()
    for p in generator.parameters():
        p.requires_grad_(True)
    return dist.float().cpu()


def gan_leaks_latent_attack(generator: nn.Module, members: ImageTensorDataset,
                            nonmembers: ImageTensorDataset, *, latent_dim: int,
                            cfg: LatentSearchConfig, device: torch.device | str = "cpu",
                            batch_size: int = 256) -> MembershipScores:
    """GAN-Leaks with latent optimisation: score = −min_z ‖G(z) − x‖ (RMS), searched from the
    closest of ``cfg.num_samples`` random latents."""
    generator.eval()
    z_all = _latents(cfg.num_samples, latent_dim, cfg.seed)
    samples = _generate(generator, z_all, device)

    def score(ds: ImageTensorDataset) -> torch.Tensor:
        x = _images(ds, "cpu")
        _, idx = closest_distances(x, samples)
        return -torch.cat([_latent_search(generator, x[s:s + batch_size],
                                          z_all[idx[s:s + batch_size]], cfg, device,
                                          ds.labels[s:s + batch_size])
                           for s in range(0, x.shape[0], batch_size)])

    return MembershipScores("gan-leaks-latent", score(members), score(nonmembers))
