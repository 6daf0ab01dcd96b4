"""Robust accuracy under AutoAttack (Croce & Hein 2020, arXiv:2003.01690), the standard
evaluation of adversarial robustness, through torchattacks' maintained implementation.

``standard`` runs the four attacks of the paper in sequence (APGD-CE, APGD-T, FAB-T, Square),
each on the examples the previous ones did not break. dpkit's classifiers read images in
[-1, 1]; AutoAttack works in [0, 1], so the model is wrapped and the budget stays in [0, 1]
pixel units (as for ``robust-accuracy``'s PGD).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torchattacks
from torch import nn

from dpkit.data import ImageTensorDataset
from dpkit.engine import progress
from dpkit.errors import require
from dpkit.names import AUTOATTACK_VERSIONS

__all__ = ["AUTOATTACK_VERSIONS", "AutoAttackResult", "autoattack_accuracy"]

class _UnitRange(nn.Module):
    """``model`` on [0, 1] images: x in [0, 1] -> model(2x - 1)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) in [0, 1]
        return self.model(x * 2 - 1)


@dataclass(frozen=True)
class AutoAttackResult:
    """Robust accuracy under AutoAttack at one L∞ budget.

    Attributes:
        eps: budget in [0, 1] pixel units.
        version: AutoAttack's version (``standard``: APGD-CE, APGD-T, FAB-T, Square).
        clean_accuracy: accuracy on the same examples without attack.
        robust_accuracy: share classified correctly on the clean input and on AutoAttack's.
        n: examples evaluated.
    """

    eps: float
    version: str
    clean_accuracy: float
    robust_accuracy: float
    n: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def autoattack_accuracy(model: nn.Module, dataset: ImageTensorDataset, *, eps: float,
                        num_classes: int, version: str = "standard",
                        device: torch.device | str = "cpu", batch_size: int = 1000,
                        seed: int = 0, quiet: bool = True) -> AutoAttackResult:
    """Accuracy of ``model`` (on [-1, 1] images) under L∞ AutoAttack with budget ``eps``.

    Args:
        model: the classifier (evaluated in eval mode; its mode is restored).
        dataset: examples to attack (images in [-1, 1]).
        eps: L∞ budget in [0, 1] pixel units (e.g. 0.1 for MNIST-like data, 8/255 for CIFAR).
        num_classes: classes of the model's output (APGD-T and FAB-T target the others).
        version: ``standard``, ``plus`` or ``rand`` (torchattacks' versions).
        device: where to compute.
        batch_size: examples per attack call (large: Square's 5,000 queries cost Python time
            per call, whatever the batch).
        seed: seeds the attacks' random starts.
        quiet: no progress bar.
    """
    require(0 < eps <= 1, f"eps={eps} must be in (0, 1] (pixel units, e.g. 0.1)")
    require(version in AUTOATTACK_VERSIONS,
            f"version={version!r} is unknown; choose from {', '.join(AUTOATTACK_VERSIONS)}")
    least = 3 if version == "rand" else 4  # the DLR losses sort the top 3 (targeted: 4) logits
    require(num_classes >= least,
            f"AutoAttack ({version}) needs >= {least} classes for its DLR loss and the model "
            f"has {num_classes}; use robust-accuracy (PGD) for this model")
    was_training = model.training
    wrapped = _UnitRange(model).eval()
    attack = torchattacks.AutoAttack(wrapped, norm="Linf", eps=eps, version=version,
                                     n_classes=num_classes, seed=seed)
    n = len(dataset)
    clean = robust = 0
    starts = range(0, n, batch_size)
    for start in progress(starts, quiet=quiet, desc=f"AutoAttack eps={eps:g}",
                          total=len(starts)):
        x, y = dataset.__getitems__(list(range(start, min(start + batch_size, n))))
        u, y = ((x.to(device) + 1) / 2).clamp(0, 1), y.to(device)  # (B, C, H, W) in [0, 1]
        with torch.no_grad():
            ok = wrapped(u).argmax(1) == y
        adv = attack(u, y)
        with torch.no_grad():
            hit = wrapped(adv).argmax(1) == y
        clean += int(ok.sum())
        robust += int((ok & hit).sum())
    model.train(was_training)
    return AutoAttackResult(eps=eps, version=version, clean_accuracy=clean / max(n, 1),
                            robust_accuracy=robust / max(n, 1), n=n)
