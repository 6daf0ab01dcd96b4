"""AutoAttack robust accuracy against the exact answer of a linear classifier (its L∞ distance
to the boundary is |w·x + b| / ‖w‖₁), and wired into ``dpkit evaluate --metric autoattack``."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner
from torch import nn

from dpkit.classifiers.autoattack import autoattack_accuracy
from dpkit.cli import cli
from dpkit.data import ImageTensorDataset


class Linear2(nn.Module):
    """Four logits (z, -z, -20, -20), z = w·x + b, on (B, 1, 4, 4) images in [-1, 1]: classes 0
    and 1 meet where z = 0 (AutoAttack's targeted loss needs >= 4 classes; 2 and 3 are never
    reachable)."""

    def __init__(self, w: torch.Tensor, b: float) -> None:
        super().__init__()
        self.w, self.b = nn.Parameter(w), nn.Parameter(torch.tensor(b))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = x.flatten(1) @ self.w + self.b
        far = torch.full_like(z, -20.0)
        return torch.stack([z, -z, far, far], 1)


def _linear_case(n: int = 96):
    g = torch.Generator().manual_seed(0)
    w = torch.randn(16, generator=g)
    pixels = torch.randint(0, 256, (n, 1, 4, 4), dtype=torch.uint8, generator=g)
    x, _ = ImageTensorDataset(pixels, torch.zeros(n, dtype=torch.long)).__getitems__(
        list(range(n)))  # (n, 1, 4, 4) in [-1, 1], as the attack sees them
    model = Linear2(w, 0.1)
    with torch.no_grad():
        z = x.flatten(1) @ w + 0.1
    flip = torch.rand(n, generator=g) >= 0.85  # ~15% wrong labels
    y = ((z <= 0) ^ flip).long()  # class 0 where z > 0
    return model, ImageTensorDataset(pixels, y), z, w


@pytest.mark.slow  # Square's 5,000 queries on the examples that stay robust: ~40 s
def test_linear_model_robust_accuracy_is_exact() -> None:
    eps = 0.02
    model, data, z, w = _linear_case(48)
    correct = (z <= 0).long() == data.labels
    # a budget of eps in [0, 1] pixels is 2·eps in the model's [-1, 1] units; pixels are also
    # clipped to the image range, so the exact distance is at least the unclipped one
    margin = z.abs() / w.abs().sum()
    robust_bound = (correct & (margin > 2 * eps)).float().mean().item()
    res = autoattack_accuracy(model, data, eps=eps, num_classes=4, batch_size=64)
    assert res.n == 48
    assert res.clean_accuracy == pytest.approx(correct.float().mean().item())
    assert res.robust_accuracy >= robust_bound - 1e-6
    # with no pixel at the range boundary in the attack's way the bound is tight: AutoAttack
    # breaks every example within reach (allow the few that clipping protects)
    reach = (correct & (margin <= 2 * eps)).sum().item()
    assert reach > 0
    assert res.robust_accuracy <= robust_bound + 2 / 48
    assert res.robust_accuracy < res.clean_accuracy


def test_bad_arguments_are_refused() -> None:
    model, data, _, _ = _linear_case(8)
    with pytest.raises(Exception, match="eps=0 must be in"):
        autoattack_accuracy(model, data, eps=0, num_classes=4)
    with pytest.raises(Exception, match="version='apgd' is unknown"):
        autoattack_accuracy(model, data, eps=0.1, num_classes=4, version="apgd")
    with pytest.raises(Exception, match="needs >= 4 classes"):
        autoattack_accuracy(model, data, eps=0.1, num_classes=2)


@pytest.mark.slow
def test_evaluate_metric_autoattack_on_a_run(tmp_path) -> None:
    runner = CliRunner()
    run = tmp_path / "run"
    res = runner.invoke(cli, ["train-classifier", "--dataset", "digits", "--model", "mlp",
                              "--hidden", "16", "--epochs", "2", "--subset", "300", "--no-dp",
                              "--out", str(run), "--quiet"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(cli, ["evaluate", str(run), "--metric", "accuracy,robust-accuracy,"
                              "autoattack", "--max-examples", "64", "--pgd-eps", "0.05",
                              "--pgd-steps", "10", "--restarts", "1", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    aa = out["autoattack"]
    assert aa["eps"] == 0.05 and aa["n"] == 64 and aa["version"] == "standard"
    assert aa["clean_accuracy"] == pytest.approx(out["accuracy"])
    # AutoAttack is at least as strong as PGD-10 with one restart (up to one example)
    assert aa["robust_accuracy"] <= out["robust_accuracy"] + 1 / 64
