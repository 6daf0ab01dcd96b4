"""Book-keeping (bk) clipping against a naive per-example loop, its noise, its guards, its CLI."""

from __future__ import annotations

import copy
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import privacy_checks as checks
from dpkit.classifiers.norms import PublicBatchNorm, WSConv2d, public_statistics
from dpkit.cli import cli
from dpkit.engine import PrivacyConfig, make_private
from dpkit.engine import bookkeeping
from dpkit.engine.bookkeeping import BookKeepingModule
from dpkit.errors import DPKitError, PrivacyViolation
from dpkit.gan import Discriminator, discriminator_step
from test_engine import naive_clipped_mean, private_grads, tiny_data, tiny_model


class Head(nn.Module):
    """A layer under test, then a fixed nonlinear per-example loss term (B, ...) -> (B,)."""

    def __init__(self, layer: nn.Module, post: nn.Module | None = None) -> None:
        super().__init__()
        self.layer, self.post = layer, post if post is not None else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.post(self.layer(x))
        return torch.tanh(h).flatten(1).sum(1) + 0.1 * h.flatten(1).pow(2).sum(1)  # (B,)


def naive_clipped_sum(model: nn.Module, x: torch.Tensor, c: float) -> list[torch.Tensor]:
    """Σ_i clip_C(∇ℓ_i) over the trainable parameters, one example at a time."""
    params = [p for p in model.parameters() if p.requires_grad]
    total = [torch.zeros_like(p) for p in params]
    for i in range(x.shape[0]):
        grads = torch.autograd.grad(model(x[i:i + 1]).sum(), params)
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        factor = min(1.0, c / (norm.item() + 1e-6))
        for t, g in zip(total, grads):
            t += g * factor
    return total


def bk_clipped_sum(model: nn.Module, x: torch.Tensor, c: float) -> list[torch.Tensor]:
    """p.grad after one backward of the batch-mean loss through the bk wrapper."""
    bk = BookKeepingModule(model, max_grad_norm=c)
    bk(x).mean().backward()
    return [p.grad.detach().clone() for p in model.parameters() if p.requires_grad]


def _layer_cases() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    img = torch.randn(6, 4, 9, 9, generator=g)
    seq = torch.randn(6, 5, 7, generator=g)
    small = torch.randn(6, 8, 5, 5, generator=g)
    frozen_bias = nn.Linear(7, 3)
    frozen_bias.bias.requires_grad_(False)
    return {
        "linear": (Head(nn.Sequential(nn.Flatten(), nn.Linear(324, 5))), img),
        "linear-seq-ghost": (Head(nn.Linear(7, 9)), seq),  # T² = 25 <= p·d = 63
        "linear-seq-materialised": (Head(nn.Linear(7, 2)), torch.randn(6, 12, 7, generator=g)),
        "linear-frozen-bias": (Head(frozen_bias), seq),
        "conv-grouped": (Head(nn.Conv2d(4, 6, 3, stride=2, padding=1, groups=2)), img),
        # ghost norm when T(d + p) <= d·p: small outputs, many channels
        "conv-ghost": (Head(nn.Conv2d(8, 16, 3, stride=2, padding=1)), small),
        "conv-ghost-groups": (Head(nn.Conv2d(8, 32, 3, stride=2, padding=1, groups=2)), small),
        "conv-ghost-dilated": (Head(nn.Conv2d(8, 16, 2, dilation=2, padding=1)),
                               small[..., :3, :3]),
        # kernel a multiple of the stride: the input Gram from the stride phases, no unfold
        "conv-ghost-phases": (Head(nn.Conv2d(8, 16, 4, stride=2, padding=1)),
                              torch.randn(6, 8, 8, 8, generator=g)),
        "conv-ghost-phases-groups": (Head(nn.Conv2d(16, 32, (4, 2), stride=(2, 1),
                                                    padding=(2, 0), groups=2)),
                                     torch.randn(6, 16, 6, 6, generator=g)),
        "conv-one-position": (Head(nn.Conv2d(8, 3, 5)), small),  # T = 1: outer products
        "conv-materialised": (Head(nn.Conv2d(4, 2, 2, stride=1, padding=2, dilation=2,
                                             bias=False)), img),
        "conv-depthwise": (Head(nn.Conv2d(4, 8, 3, stride=(2, 1), padding=(1, 0), groups=4)),
                           img),
        "groupnorm": (Head(nn.Conv2d(4, 6, 3), nn.GroupNorm(3, 6)), img),
        "layernorm": (Head(nn.Linear(7, 6), nn.LayerNorm(6)), seq),
        "layernorm-2d": (Head(nn.Conv2d(4, 3, 3), nn.LayerNorm([7, 7])), img),
        "embedding": (Head(nn.Embedding(5, 4, padding_idx=1)),
                      torch.randint(0, 5, (6, 7), generator=g)),
        "embedding-one": (Head(nn.Embedding(5, 4)), torch.randint(0, 5, (6,), generator=g)),
    }


@pytest.mark.parametrize("case", list(_layer_cases()))
def test_bk_clipped_sum_equals_naive_loop_for_every_supported_layer(case):
    torch.manual_seed(0)
    model, x = _layer_cases()[case]
    model, x = model.double(), x.double() if x.is_floating_point() else x
    c = 0.5 * float(torch.median(torch.stack([torch.sqrt(sum(
        g.pow(2).sum() for g in torch.autograd.grad(model(x[i:i + 1]).sum(),
                                                    [p for p in model.parameters()
                                                     if p.requires_grad])))
        for i in range(x.shape[0])])))  # about half of the examples get clipped
    reference = naive_clipped_sum(copy.deepcopy(model), x, c)
    for got, ref in zip(bk_clipped_sum(model, x, c), reference):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-10)


def test_bk_clips_the_public_bn_affine_layer():
    torch.manual_seed(0)
    model = Head(nn.Conv2d(3, 4, 3), PublicBatchNorm(4)).double()
    x = torch.randn(8, 3, 6, 6, dtype=torch.float64)
    with torch.no_grad(), public_statistics(model):
        model(torch.randn(16, 3, 6, 6, dtype=torch.float64))
    reference = naive_clipped_sum(copy.deepcopy(model), x, 1.0)
    for got, ref in zip(bk_clipped_sum(model, x, 1.0), reference):
        torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-10)


def test_sigma_zero_engine_update_equals_naive_clipped_mean():
    data = tiny_data()
    x, y = data.tensors()
    x, y = x[:10] * 5, y[:10]
    model = tiny_model()
    reference = naive_clipped_mean(copy.deepcopy(model), x, y, c=0.5, b=8)
    cfg = PrivacyConfig(noise_multiplier=0.0, max_grad_norm=0.5, delta=1e-3, grad_sample_mode="bk")
    got, _ = private_grads(model, x, y, cfg, batch_size=8, data=data)
    for g, r in zip(got, reference):
        torch.testing.assert_close(g, r, rtol=1e-5, atol=1e-7)


def test_broken_clipping_factor_is_caught(monkeypatch):
    """Mutation: bk without clipping (factor 1) must disagree with the naive loop."""
    monkeypatch.setattr(bookkeeping, "clip_factors", lambda norms, c: torch.ones_like(norms))
    model, x = _layer_cases()["conv-ghost"]
    model, x = model.double(), x.double()
    reference = naive_clipped_sum(copy.deepcopy(model), x, 0.01)
    with pytest.raises(AssertionError):
        for got, ref in zip(bk_clipped_sum(model, x, 0.01), reference):
            torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-10)


def _d_step_update(mode: str, d: nn.Module, real, fake, clip: float, *, sigma: float = 0.0,
                   clip_fake: bool = True, labels=(None, None)) -> torch.Tensor:
    data = checks.images(64, size=28, classes=10)
    setup = make_private(d, torch.optim.SGD(d.parameters(), lr=1.0), data,
                         PrivacyConfig(noise_multiplier=sigma, max_grad_norm=clip, delta=1e-3,
                                       grad_sample_mode=mode), batch_size=4, epochs=1,
                         criterion=nn.BCEWithLogitsLoss())
    before = checks._flat(setup.module.parameters())
    setup._batch_sampler.drawn += 1
    discriminator_step(setup, fake, real, clip_fake=clip_fake, real_labels=labels[0],
                       fake_labels=labels[1])
    assert setup.report().steps == 1
    return before - checks._flat(setup.module.parameters())  # lr 1: the update


@pytest.mark.parametrize("conditioning", [None, "projection", "labelmap"])
def test_gan_discriminator_step_equals_naive_loop(conditioning):
    torch.manual_seed(0)
    k = 3 if conditioning else 0
    d = Discriminator(channels=1, image_size=28, width=8, num_classes=k,
                      conditioning=conditioning or "labelmap").double()
    real = torch.randn(5, 1, 28, 28, dtype=torch.float64)
    fake = torch.randn(3, 1, 28, 28, dtype=torch.float64)
    ry, fy = (torch.tensor([0, 1, 2, 0, 1]), torch.tensor([2, 2, 0])) if k else (None, None)
    clip = 0.05
    params = list(d.parameters())
    total = [torch.zeros_like(p) for p in params]
    for images, ys, label in ((real, ry, 1.0), (fake, fy, 0.0)):  # naive: one example at a time
        for i in range(images.shape[0]):
            out = d(images[i:i + 1], None if ys is None else ys[i:i + 1])
            grads = torch.autograd.grad(
                F.binary_cross_entropy_with_logits(out, torch.full_like(out, label)), params)
            norm = float(torch.sqrt(sum(g.pow(2).sum() for g in grads)))
            for t, g in zip(total, grads):
                t += min(1.0, clip / (norm + 1e-6)) * g
    reference = torch.cat([t.flatten() for t in total]) / 4  # / expected batch size B
    got = _d_step_update("bk", d, real, fake, clip, labels=(ry, fy))
    torch.testing.assert_close(got, reference, rtol=1e-5, atol=1e-12)


def test_gan_unclipped_fake_half_matches_hooks_mode():
    torch.manual_seed(0)
    d = Discriminator(channels=1, image_size=28, width=8).double()
    real, fake = torch.randn(5, 1, 28, 28).double(), torch.randn(3, 1, 28, 28).double()
    hooks = _d_step_update("hooks", copy.deepcopy(d), real, fake, 0.05, clip_fake=False)
    bk = _d_step_update("bk", d, real, fake, 0.05, clip_fake=False)
    torch.testing.assert_close(bk, hooks, rtol=1e-5, atol=1e-12)


def test_engine_noise_std_is_sigma_c_over_b():
    checks.check_engine_noise_scale("bk")


@pytest.mark.parametrize("clip_fake", [True, False])
def test_gan_step_noise_std_is_sigma_c_over_b(clip_fake):
    checks.check_gan_noise_scale("bk", clip_fake)


def test_one_gan_record_moves_the_clipped_sum_by_at_most_c():
    checks.check_gan_record_sensitivity("projection", "bk")


def test_empty_poisson_batch_still_takes_a_noisy_step():
    data = tiny_data(50)
    model = tiny_model()
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                         PrivacyConfig(noise_multiplier=1.0, delta=1e-3, grad_sample_mode="bk"),
                         batch_size=1, epochs=1)
    empties = 0
    for x, y in setup.loader:
        empties += x.shape[0] == 0
        before = [p.detach().clone() for p in setup.module.parameters()]
        setup.optimizer.zero_grad()
        setup.criterion(setup.model(x), y).backward()
        setup.optimizer.step()
        assert any(not torch.equal(a, p) for a, p in zip(before, setup.module.parameters()))
    assert empties > 0 and setup.report().steps == 50


def test_empty_batch_grads_give_a_zero_clipped_sum():
    data = tiny_data()
    model = tiny_model()
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.0), data,
                         PrivacyConfig(noise_multiplier=0.0, delta=1e-3, grad_sample_mode="bk"),
                         batch_size=8, epochs=1)
    setup.empty_batch_grads()
    setup._batch_sampler.drawn += 1
    setup.optimizer.step()
    assert all(torch.count_nonzero(p.grad) == 0 for p in setup.module.parameters())


@pytest.mark.parametrize("layer,name", [(WSConv2d(1, 2, 3), "WSConv2d"),
                                        (nn.Conv2d(1, 2, 3, padding="same"), "padding"),
                                        (nn.ConvTranspose2d(1, 2, 3), "ConvTranspose2d")])
def test_unsupported_trainable_layer_is_refused_naming_it(layer, name):
    model = nn.Sequential(layer, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    with pytest.raises(DPKitError, match=rf"'0' .*{name}.*grad_sample_mode='hooks'"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), tiny_data(),
                     PrivacyConfig(noise_multiplier=1.0, delta=1e-3, grad_sample_mode="bk"),
                     batch_size=8, epochs=1)
    layer.requires_grad_(False)  # a frozen layer needs no per-example gradient: accepted
    make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), tiny_data(),
                 PrivacyConfig(noise_multiplier=1.0, delta=1e-3, grad_sample_mode="bk"),
                 batch_size=8, epochs=1)


def test_layer_called_twice_and_second_backward_are_refused():
    data = tiny_data()
    x, y = data.tensors()
    lin = nn.Linear(16, 16)
    twice = nn.Sequential(nn.Flatten(), lin, nn.Tanh(), lin, nn.Linear(16, 3))
    bk = BookKeepingModule(twice, max_grad_norm=1.0)
    with pytest.raises(DPKitError, match="'1' ran 2 times"):
        F.cross_entropy(bk(x[:4]), y[:4]).backward()
    model = tiny_model()
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                         PrivacyConfig(noise_multiplier=1.0, delta=1e-3, grad_sample_mode="bk"),
                         batch_size=8, epochs=1)
    setup.criterion(setup.model(x[:4]), y[:4]).backward()
    with pytest.raises(PrivacyViolation, match="second backward"):
        setup.criterion(setup.model(x[4:8]), y[4:8]).backward()


def test_hooks_off_passes_leave_no_gradient_and_train_normally():
    model = tiny_model()
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), tiny_data(),
                         PrivacyConfig(noise_multiplier=1.0, delta=1e-3, grad_sample_mode="bk"),
                         batch_size=8, epochs=1)
    x, y = tiny_data().tensors()
    with setup.hooks_off():
        x_adv = x[:4].clone().requires_grad_(True)
        (g,) = torch.autograd.grad(F.cross_entropy(setup.model(x_adv), y[:4]), [x_adv])
    assert g.abs().sum() > 0 and all(p.grad is None for p in model.parameters())
    assert all(p.requires_grad for p in model.parameters())


def test_cli_trains_a_classifier_and_a_gan_in_bk_mode(cli_runner, tmp_path):
    res = cli_runner.invoke(cli, ["train-classifier", "--image-size", "16", "--epochs", "1",
                                  "--batch-size", "128", "--quiet", "--noise-multiplier", "1",
                                  "--grad-sample-mode", "bk", "--out", str(tmp_path / "c"),
                                  "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads((tmp_path / "c" / "config.json").read_text())["privacy"][
        "grad_sample_mode"] == "bk"
    res = cli_runner.invoke(cli, ["train-gan", "--dataset", "digits", "--image-size", "28",
                                  "--subset", "200", "--epochs", "1", "--batch-size", "40",
                                  "--latent-dim", "8", "--g-width", "8", "--d-width", "8",
                                  "--noise-multiplier", "1.2", "--grad-sample-mode", "bk",
                                  "--no-clip-fake", "--out", str(tmp_path / "g"), "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["steps"] == 5


def test_auto_mode_picks_bk_where_every_layer_allows_it_and_hooks_otherwise():
    """grad_sample_mode="auto" (the trainers' default): bk for a supported model, hooks for one
    with a layer bk refuses (weight standardization) — never a refusal — and the privacy report
    records the mode used."""
    cfg = PrivacyConfig(noise_multiplier=1.0, delta=1e-3, grad_sample_mode="auto")
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                          nn.Linear(2, 3))
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), tiny_data(), cfg,
                         batch_size=8, epochs=1)
    assert isinstance(setup.model, BookKeepingModule)
    assert setup.report().grad_sample_mode == "bk"
    ws = nn.Sequential(WSConv2d(1, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2, 3))
    setup = make_private(ws, torch.optim.SGD(ws.parameters(), lr=0.1), tiny_data(), cfg,
                         batch_size=8, epochs=1)
    assert not isinstance(setup.model, BookKeepingModule)
    assert setup.report().grad_sample_mode == "hooks"
    assert setup.report().to_dict()["grad_sample_mode"] == "hooks"
