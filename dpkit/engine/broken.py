"""A deliberately broken engine, for showing that audits catch broken DP (tests, benchmarks).

:func:`noise_disabled` switches DP-SGD's noise off while everything else runs as usual: σ is still
calibrated and the run still claims its ε, the examples (and audit canaries) are still clipped and
summed — exactly what a silent bug in the noise step would do. An audit of a run trained inside it
must report an ε lower bound above the claim. Never use it to train anything you publish.
"""

from __future__ import annotations

import contextlib
from typing import Iterator

import dpkit.engine.private as private

__all__ = ["noise_disabled"]


@contextlib.contextmanager
def noise_disabled() -> Iterator[None]:
    """Within the block, the engine's noise step adds nothing (σ forced to 0 for each step)."""
    original = private._add_noise

    def no_noise(optimizer, source, canaries=None, sample_rate=0.0):
        sigma, optimizer.noise_multiplier = optimizer.noise_multiplier, 0.0
        try:
            original(optimizer, source, canaries, sample_rate)
        finally:
            optimizer.noise_multiplier = sigma

    private._add_noise = no_noise
    try:
        yield
    finally:
        private._add_noise = original
