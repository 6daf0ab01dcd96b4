"""Exponential moving average of the weights (Polyak averaging) for DP training.

Averaging DP-SGD iterates is post-processing: it costs no privacy and usually adds accuracy
(De et al. 2022, arXiv:2204.13650, use an EMA with decay 0.999 for all their DP results).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from dpkit.errors import require

__all__ = ["WeightAverage"]


class WeightAverage:
    """EMA of a model's floating-point parameters and buffers, with the usual warm-up
    (decay_t = min(decay, (1 + t) / (10 + t)) after t updates)."""

    def __init__(self, model: nn.Module, decay: float) -> None:
        require(0 < decay < 1, f"decay={decay} must be in (0, 1), e.g. 0.999")
        self.decay = decay
        self.updates = 0
        self.shadow = {k: v.detach().clone() for k, v in model.state_dict().items()
                       if v.is_floating_point()}

    @torch.no_grad()
    def update(self, model: nn.Module) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        for k, v in model.state_dict().items():
            if k in self.shadow:
                self.shadow[k].lerp_(v.detach(), 1 - d)

    def copy_to(self, model: nn.Module) -> nn.Module:
        """Load the averaged weights (and the model's own non-float buffers) into ``model``."""
        state = model.state_dict()
        state.update(self.shadow)
        model.load_state_dict(state)
        return model

    def state_dict(self, *, shadow: bool = True) -> dict[str, Any]:
        """The update count and (``shadow=False``: not) the averaged weights — leave them out
        when the checkpoint holds them already as a model (:meth:`copy_to`'s target)."""
        return {"updates": self.updates, **({"shadow": self.shadow} if shadow else {})}

    def load_state_dict(self, state: dict[str, Any], *, averaged: nn.Module | None = None) -> None:
        """Restore :meth:`state_dict`; without ``shadow`` in it, the averaged weights are read
        from ``averaged`` (the model they were copied to before saving)."""
        self.updates = state["updates"]
        if "shadow" in state:
            shadow = state["shadow"]
        else:
            require(averaged is not None, "this weight average was saved without its weights; "
                                          "pass the averaged model it was copied to")
            shadow = averaged.state_dict()
        for k in self.shadow:
            self.shadow[k].copy_(shadow[k])
