"""Clean accuracy and robust accuracy under PGD (worst case over random restarts).

Following Carlini et al. 2019 ("On evaluating adversarial robustness", arXiv:1902.06705), an
example counts as robust only if the model classifies it correctly on the clean input and on the
adversarial input of *every* restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import torch
from torch import nn

from dpkit.classifiers.adversarial import PGDConfig, pgd_attack
from dpkit.data import ImageTensorDataset
from dpkit.engine import progress

__all__ = ["RobustResult", "evaluate_accuracy", "predict", "robust_accuracy", "robust_curve"]


@dataclass(frozen=True)
class RobustResult:
    """Robust accuracy at one L∞ budget.

    Attributes:
        eps: budget in [0, 1] pixel units.
        steps, alpha, restarts: the attack.
        clean_accuracy: accuracy on the same examples without attack.
        robust_accuracy: share correct under the worst of ``restarts`` PGD runs.
        per_restart: accuracy under each restart alone.
        n: examples evaluated.
    """

    eps: float
    steps: int
    alpha: float
    restarts: int
    clean_accuracy: float
    robust_accuracy: float
    per_restart: list[float]
    n: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _batches(dataset: ImageTensorDataset, batch_size: int):
    for start in range(0, len(dataset), batch_size):
        idx = torch.arange(start, min(start + batch_size, len(dataset)))
        yield dataset.__getitems__(idx.tolist())


@torch.no_grad()
def predict(model: nn.Module, dataset: ImageTensorDataset, *, device: torch.device | str = "cpu",
            batch_size: int = 512) -> torch.Tensor:
    """Predicted labels (N,) of ``model`` (put in eval mode) on every example of ``dataset``."""
    was_training = model.training
    model.eval()
    out = [model(x.to(device)).argmax(1).cpu() for x, _ in _batches(dataset, batch_size)]
    model.train(was_training)
    return torch.cat(out) if out else torch.zeros(0, dtype=torch.long)


def evaluate_accuracy(model: nn.Module, dataset: ImageTensorDataset, *,
                      device: torch.device | str = "cpu", batch_size: int = 512) -> float:
    """Top-1 accuracy of ``model`` on ``dataset`` (in eval mode; the model's mode is restored)."""
    if len(dataset) == 0:
        return float("nan")
    return float((predict(model, dataset, device=device, batch_size=batch_size)
                  == dataset.labels).float().mean())


def robust_accuracy(model: nn.Module, dataset: ImageTensorDataset, attack: PGDConfig, *,
                    restarts: int = 1, device: torch.device | str = "cpu", batch_size: int = 256,
                    seed: int = 0, quiet: bool = True) -> RobustResult:
    """Accuracy under L∞ PGD, worst case over ``restarts`` random starts.

    Args:
        model: classifier on [-1, 1] images (evaluated in eval mode; mode restored).
        dataset: examples to attack.
        attack: the PGD attack (eps in pixel units).
        restarts: independent random starts; an example is robust only if all fail.
        device: where to compute.
        batch_size: attack batch size.
        seed: seeds the random starts.
        quiet: no progress bar (one step per attacked batch).
    """
    was_training = model.training
    model.eval()
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = len(dataset)
    robust = torch.zeros(n, dtype=torch.bool)
    clean = torch.zeros(n, dtype=torch.bool)
    per = torch.zeros(max(restarts, 1), n, dtype=torch.bool)
    pos = 0
    for x, y in progress(_batches(dataset, batch_size), quiet=quiet,
                         desc=f"PGD eps={attack.eps:g}", total=-(-n // batch_size)):
        x, y = x.to(device), y.to(device)
        b = x.shape[0]
        with torch.no_grad():
            ok = model(x).argmax(1) == y
        clean[pos:pos + b] = ok.cpu()
        still = ok.clone()
        for r in range(max(restarts, 1)):
            x_adv = pgd_attack(model, x, y, attack, generator=gen)
            with torch.no_grad():
                hit = model(x_adv).argmax(1) == y
            per[r, pos:pos + b] = hit.cpu()
            still &= hit
        robust[pos:pos + b] = still.cpu()
        pos += b
    model.train(was_training)
    return RobustResult(eps=attack.eps, steps=attack.steps, alpha=attack.step_size,
                        restarts=max(restarts, 1), clean_accuracy=float(clean.float().mean()),
                        robust_accuracy=float(robust.float().mean()),
                        per_restart=[float(p.float().mean()) for p in per], n=n)


def robust_curve(model: nn.Module, dataset: ImageTensorDataset, eps_values: Sequence[float], *,
                 steps: int = 40, alpha: float | None = None, restarts: int = 1,
                 device: torch.device | str = "cpu", seed: int = 0,
                 quiet: bool = True) -> list[RobustResult]:
    """Robust accuracy at several budgets (one :class:`RobustResult` per ε)."""
    return [robust_accuracy(model, dataset, PGDConfig(eps=e, steps=steps, alpha=alpha),
                            restarts=restarts, device=device, seed=seed, quiet=quiet)
            for e in eps_values]
