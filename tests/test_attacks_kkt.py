"""KKT reconstruction (Haim et al. 2022) against a tiny homogeneous MLP trained to convergence."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from dpkit.attacks.image_quality import match_to_training
from dpkit.attacks.kkt import KKTConfig, binary_margin, check_homogeneous, kkt_reconstruct
from dpkit.data import DataOptions, load_dataset
from dpkit.errors import DPKitError


def _homogeneous_mlp(width: int = 200, init_scale: float = 0.01) -> nn.Module:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, width, bias=False), nn.ReLU(),
                          nn.Linear(width, width, bias=False), nn.ReLU(),
                          nn.Linear(width, 2, bias=False))
    with torch.no_grad():  # small initialisation, as in the paper: the weights end up data-driven
        for p in model.parameters():
            p.mul_(init_scale)
    return model


@pytest.mark.slow
def test_kkt_recovers_training_images_of_a_converged_binary_mlp():
    bundle = load_dataset("digits", DataOptions(classes=(0, 1), subset=10))
    x, y = bundle.train.tensors()  # (10, 1, 8, 8)
    model = _homogeneous_mlp()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    for _ in range(3000):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    assert F.cross_entropy(model(x), y) < 1e-4  # converged
    result = kkt_reconstruct(model, (1, 8, 8), KKTConfig(candidates_per_class=10))
    assert result.images.shape == (20, 1, 8, 8) and result.kkt_loss < 0.05
    match = match_to_training(result.images, x, rescale=True)
    good = match.index[match.ssim > 0.4].unique()
    assert good.numel() >= 2  # distinct training images recovered
    assert torch.equal(result.labels[:10], torch.ones(10, dtype=torch.long))


def test_untrained_model_gives_no_good_reconstructions():
    bundle = load_dataset("digits", DataOptions(classes=(0, 1), subset=10))
    x, _ = bundle.train.tensors()
    result = kkt_reconstruct(_homogeneous_mlp(init_scale=1.0), (1, 8, 8),
                             KKTConfig(candidates_per_class=5, iterations=200))
    assert (match_to_training(result.images, x, rescale=True).ssim < 0.4).all()


def test_margin_and_homogeneity_checks():
    model = _homogeneous_mlp(width=4)
    x = torch.randn(3, 1, 8, 8)
    out = model(x)
    assert torch.allclose(binary_margin(model, x), out[:, 1] - out[:, 0])
    with pytest.raises(DPKitError, match="bias"):
        check_homogeneous(nn.Sequential(nn.Flatten(), nn.Linear(64, 2)))
    with pytest.raises(DPKitError, match="Conv2d"):
        check_homogeneous(nn.Sequential(nn.Conv2d(1, 2, 3, bias=False), nn.Flatten()))
    with pytest.raises(DPKitError, match="binary"):
        binary_margin(nn.Sequential(nn.Flatten(), nn.Linear(64, 3, bias=False)), x)


def test_progress_bar_changes_nothing(monkeypatch, capsys):
    """--quiet only silences the bar: same candidates, same global RNG state after."""
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # draw the bar
    model = _homogeneous_mlp(width=8)
    runs = {}
    for quiet in (True, False):
        torch.manual_seed(0)
        res = kkt_reconstruct(model, (1, 8, 8), KKTConfig(candidates_per_class=2, iterations=20),
                              quiet=quiet)
        runs[quiet] = res.images, res.lambdas, torch.get_rng_state()
        assert ("KKT reconstruction" in capsys.readouterr().err) is not quiet
    for quiet_value, loud_value in zip(runs[True], runs[False]):
        assert torch.equal(quiet_value, loud_value)
