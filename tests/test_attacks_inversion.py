"""Gradient inversion: a non-private single-image gradient gives the image away; DP noise does not."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dpkit.attacks.image_quality import ssim
from dpkit.attacks.inversion import InversionConfig, invert_gradient, observed_gradient
from dpkit.errors import DPKitError


def _tiny(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))


@pytest.fixture
def one_digit(digits):
    x, y = digits.train.tensors()
    return x[:1], y[:1]


def _attack(model, x, y, **dp) -> float:
    g = observed_gradient(model, x, y, generator=torch.Generator().manual_seed(0), **dp)
    rec = invert_gradient(model, g, y, (1, 8, 8), InversionConfig(iterations=300))
    assert rec.shape == x.shape and rec.min() >= -1 and rec.max() <= 1
    return float(ssim(rec, x))


def test_non_private_gradient_reveals_the_image(one_digit):
    assert _attack(_tiny(), *one_digit) > 0.8


def test_clipping_alone_does_not_protect_but_noise_does(one_digit):
    model = _tiny()
    assert _attack(model, *one_digit, max_grad_norm=0.1) > 0.8
    assert _attack(model, *one_digit, max_grad_norm=1.0, noise_multiplier=1.0) < 0.3


def test_observed_gradient_clips_each_example_and_averages(digits):
    model = _tiny()
    x, y = digits.train.tensors()
    g = observed_gradient(model, x[:4], y[:4], max_grad_norm=1e-3)
    norm = torch.sqrt(sum(t.pow(2).sum() for t in g))
    assert norm <= 1e-3 + 1e-9
    plain = observed_gradient(model, x[:4], y[:4])
    model.zero_grad()
    nn.functional.cross_entropy(model(x[:4]), y[:4]).backward()
    for p, t in zip(model.parameters(), plain):
        assert torch.allclose(p.grad, t, atol=1e-6)


def test_noise_requires_a_clipping_norm(one_digit):
    with pytest.raises(DPKitError, match="clipping norm"):
        observed_gradient(_tiny(), *one_digit, noise_multiplier=1.0)
    with pytest.raises(DPKitError, match="iterations"):
        InversionConfig(iterations=0)


def test_progress_bar_changes_nothing(one_digit, monkeypatch, capsys):
    """--quiet only silences the bar: same reconstruction, same global RNG state after."""
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # draw the bar
    model, (x, y) = _tiny(), one_digit
    g = observed_gradient(model, x, y)
    runs = {}
    for quiet in (True, False):
        torch.manual_seed(0)
        rec = invert_gradient(model, g, y, (1, 8, 8), InversionConfig(iterations=20),
                              quiet=quiet)
        runs[quiet] = rec, torch.get_rng_state()
        assert ("gradient inversion" in capsys.readouterr().err) is not quiet
    assert torch.equal(runs[True][0], runs[False][0])
    assert torch.equal(runs[True][1], runs[False][1])
