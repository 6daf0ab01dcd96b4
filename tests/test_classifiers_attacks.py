"""PGD/FGSM and randomized-smoothing certification."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from opacus import GradSampleModule
from scipy.stats import binomtest, norm
from torch import nn

from dpkit.classifiers import (ABSTAIN, ModelConfig, PGDConfig, build_model, certified_accuracy,
                               certify, clopper_pearson_lower, fgsm_attack, no_grad_sample,
                               pgd_attack, robust_accuracy)
from dpkit.data import ImageTensorDataset
from dpkit.errors import DPKitError


def _model() -> nn.Module:
    torch.manual_seed(0)
    return build_model(ModelConfig(arch="mlp", hidden=(32,)), in_channels=1, image_size=8,
                       num_classes=3)


def _batch(n: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 8, 8, generator=g) * 2 - 1, torch.randint(0, 3, (n,), generator=g)


@pytest.mark.parametrize("eps,steps", [(0.1, 10), (0.3, 5), (0.05, 1)])
def test_pgd_stays_in_ball_and_range(eps, steps):
    model, (x, y) = _model(), _batch()
    x_adv = pgd_attack(model, x, y, PGDConfig(eps=eps, steps=steps))
    assert (x_adv - x).abs().max() <= 2 * eps + 1e-6  # pixel units -> [-1, 1] units
    assert x_adv.min() >= -1 and x_adv.max() <= 1


@torch.no_grad()
def _loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    return float(F.cross_entropy(model(x), y))


def test_pgd_loss_increases_with_steps_and_beats_fgsm():
    model, (x, y) = _model(), _batch(64)
    losses = []
    for steps in (1, 5, 20):
        x_adv = pgd_attack(model, x, y, PGDConfig(eps=0.1, steps=steps, alpha=0.02,
                                                  random_start=False))
        losses.append(_loss(model, x_adv, y))
    clean = _loss(model, x, y)
    fgsm = _loss(model, fgsm_attack(model, x, y, 0.1), y)
    assert clean < losses[0] < losses[1] < losses[2]
    assert fgsm > clean and losses[2] >= fgsm - 1e-4


def test_pgd_example_depends_only_on_itself():
    model, (x, y) = _model(), _batch(8)
    cfg = PGDConfig(eps=0.1, steps=5, random_start=False)
    a = pgd_attack(model, x, y, cfg)
    x2 = x.clone()
    x2[5] = -x2[5]
    b = pgd_attack(model, x2, y, cfg)
    keep = [0, 1, 2, 3, 4, 6, 7]
    assert torch.equal(a[keep], b[keep])


def test_crafting_leaves_no_parameter_or_per_sample_gradients():
    gsm = GradSampleModule(_model())
    x, y = _batch(8)
    with no_grad_sample(gsm):
        pgd_attack(gsm, x, y, PGDConfig(eps=0.1, steps=3))
    for p in gsm.parameters():
        assert p.grad is None and getattr(p, "grad_sample", None) is None
    F.cross_entropy(gsm(x), y).backward()  # hooks are back on
    assert all(p.grad_sample.shape[0] == 8 for p in gsm.parameters())


def test_robust_accuracy_is_worst_case_and_below_clean():
    model, (x, y) = _model(), _batch(64)
    with torch.no_grad():
        y = model(x).argmax(1)  # all clean examples correct
    data = ImageTensorDataset(((x + 1) * 127.5).round().to(torch.uint8), y)
    r = robust_accuracy(model, data, PGDConfig(eps=0.1, steps=10), restarts=3)
    assert r.robust_accuracy <= min(r.per_restart) + 1e-9
    assert r.robust_accuracy < r.clean_accuracy
    big = robust_accuracy(model, data, PGDConfig(eps=1.0, steps=20), restarts=1)
    assert big.robust_accuracy <= r.robust_accuracy


def test_pgd_config_validation():
    with pytest.raises(DPKitError, match="pixel units"):
        PGDConfig(eps=25)
    with pytest.raises(DPKitError, match="pgd.steps=0 must"):
        PGDConfig(steps=0)
    assert PGDConfig(eps=0.1, steps=10).step_size == pytest.approx(0.025)


class _Constant(nn.Module):
    def __init__(self, k: int, classes: int = 4) -> None:
        super().__init__()
        self.k, self.classes = k, classes

    def forward(self, x):
        out = torch.zeros(x.shape[0], self.classes)
        out[:, self.k] = 1
        return out


class _SignOfMean(nn.Module):
    """Class 1 if the (noisy) image mean is positive: at x = 0 a coin flip."""

    def forward(self, x):
        pos = (x.flatten(1).mean(1) > 0).float()
        return torch.stack([1 - pos, pos], 1)


def test_clopper_pearson_matches_scipy_binomtest():
    for k, n, a in [(990, 1000, 0.001), (60, 100, 0.05), (1, 10, 0.01)]:
        ref = binomtest(k, n).proportion_ci(confidence_level=1 - 2 * a, method="exact").low
        assert clopper_pearson_lower(k, n, a) == pytest.approx(ref, rel=1e-9)
    assert clopper_pearson_lower(0, 10, 0.01) == 0.0


def test_certify_constant_model_closed_form():
    x = torch.zeros(1, 4, 4)
    c = certify(_Constant(2), x, sigma=0.5, n0=10, n=1000, alpha=0.001, num_classes=4)
    p = 0.001 ** (1 / 1000)  # k = n: the Clopper-Pearson lower bound is alpha^(1/n)
    assert c.prediction == 2 and c.count == 1000
    assert c.p_lower == pytest.approx(p, rel=1e-9)
    assert c.radius == pytest.approx(0.5 * norm.ppf(p), rel=1e-9)


def test_certify_abstains_on_a_coin_flip():
    c = certify(_SignOfMean(), torch.zeros(1, 4, 4), sigma=0.25, n0=50, n=400, alpha=0.001,
                num_classes=2)
    assert c.prediction == ABSTAIN and c.radius == 0.0 and c.p_lower < 0.5


def test_certified_accuracy_table():
    data = ImageTensorDataset(torch.full((3, 1, 4, 4), 128, dtype=torch.uint8),
                              torch.tensor([2, 2, 1]))
    r = certified_accuracy(_Constant(2), data, sigma=0.25, n0=10, n=100, alpha=0.01,
                           num_classes=4, radii=[0.0, 0.25, 0.5, 1.0])
    radius = 0.25 * norm.ppf(0.01 ** (1 / 100))
    expect = [2 / 3 if radius >= t else 0.0 for t in (0.0, 0.25, 0.5, 1.0)]
    assert r.certified_accuracy == pytest.approx(expect)
    assert r.abstain_rate == 0.0 and r.correct == [True, True, False]
