"""Where the engine's private randomness comes from: Poisson sampling and Gaussian noise.

Two sources, one interface:

* :class:`SeededSource` — a ``torch.Generator`` seeded from the run's seed. Runs are reproducible
  and resumable bit for bit, and therefore **anyone holding the seed (config.json) or the saved
  generator state (checkpoint.pt) can regenerate the noise and subtract it**: only the trained
  weights (final.pt) and generated samples may be published.
* :class:`SecureSource` — every draw reads the operating system's CSPRNG (``os.urandom``); nothing
  is seeded and nothing can be saved. Gaussian noise uses the floating-point hardening of Opacus's
  secure mode (Holohan et al. 2021, arXiv:2107.10138, Sec. 5.1: the sum of 2n Gaussians divided by
  √(2n), n = 2, with 53-bit uniforms), so the low-order bits of a released value do not reveal the
  draw (Mironov's attack, arXiv:2112.05307). Resuming continues with fresh randomness: ε stays
  exact, the weights are no longer identical to an uninterrupted run's.
"""

from __future__ import annotations

import math
import os
import secrets
from typing import Any

import torch

__all__ = ["RandomSource", "SeededSource", "SecureSource", "make_source", "secure_bytes"]


def secure_bytes(n: int) -> bytes:
    """``n`` bytes from the operating system's cryptographically secure generator."""
    return os.urandom(n)


def _secure_uniform53(n: int) -> torch.Tensor:
    """(n,) float64 uniforms in (0, 1) with 53 random bits each, from :func:`secure_bytes`."""
    if n == 0:
        return torch.empty(0, dtype=torch.float64)
    words = torch.frombuffer(bytearray(secure_bytes(8 * n)), dtype=torch.int64)  # (n,)
    bits = (words & ((1 << 53) - 1)).to(torch.float64)  # low 53 bits, non-negative
    return (bits + 0.5) / float(1 << 53)


class RandomSource:
    """Uniforms for Poisson sampling and Gaussians for DP noise (see the module docstring)."""

    secure: bool = False

    def uniform(self, n: int) -> torch.Tensor:
        """(n,) uniforms in [0, 1) on the CPU."""
        raise NotImplementedError

    def gaussian(self, shape: torch.Size | tuple[int, ...], std: float, *,
                 device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """N(0, std²) noise of ``shape``."""
        raise NotImplementedError

    def state_dict(self) -> Any:
        """What a checkpoint keeps to continue the stream (None: nothing may be kept)."""
        return None

    def load_state_dict(self, state: Any) -> None:
        return None


class SeededSource(RandomSource):
    """A seeded ``torch.Generator``: reproducible, and therefore removable by whoever has the seed.

    Draws exactly what Opacus's default (non-secure) path draws, so a run's numbers do not depend
    on whether dpkit or Opacus calls the generator.
    """

    def __init__(self, seed: int | None, device: torch.device | str = "cpu") -> None:
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(secrets.randbits(63) if seed is None else seed)

    def uniform(self, n: int) -> torch.Tensor:
        return torch.rand(n, generator=self.generator)

    def gaussian(self, shape: torch.Size | tuple[int, ...], std: float, *,
                 device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        return torch.normal(mean=0.0, std=std, size=tuple(shape), device=device,
                            generator=self.generator, dtype=dtype)

    def state_dict(self) -> torch.Tensor:
        return self.generator.get_state()

    def load_state_dict(self, state: Any) -> None:
        if state is not None:  # a checkpoint read onto a GPU holds it there; set_state wants CPU
            self.generator.set_state(state.cpu())


class SecureSource(RandomSource):
    """The operating system's CSPRNG; holds no state (see the module docstring)."""

    secure = True
    _N = 2  # 2n Gaussians per released value (Holohan et al. 2021)

    def uniform(self, n: int) -> torch.Tensor:
        return _secure_uniform53(n).to(torch.float32).clamp_(max=1 - 2 ** -24)

    def gaussian(self, shape: torch.Size | tuple[int, ...], std: float, *,
                 device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        numel = math.prod(shape)
        k = 2 * self._N
        # Box-Muller in float64: each pair of uniforms gives two independent standard normals
        pairs = (k * numel + 1) // 2
        u1, u2 = _secure_uniform53(pairs), _secure_uniform53(pairs)
        radius = torch.sqrt(-2.0 * torch.log(u1))
        angle = 2.0 * math.pi * u2
        normals = torch.cat([radius * torch.cos(angle), radius * torch.sin(angle)])[:k * numel]
        noise = normals.view(k, numel).sum(0) / math.sqrt(k) * std  # N(0, std²), float64
        return noise.view(tuple(shape)).to(device=device, dtype=dtype)


def make_source(*, secure: bool, seed: int | None,
                device: torch.device | str = "cpu") -> RandomSource:
    """A :class:`SecureSource` in secure mode, else a :class:`SeededSource` (``seed`` None: fresh
    entropy, still saved in checkpoints)."""
    return SecureSource() if secure else SeededSource(seed, device)
