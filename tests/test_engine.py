"""The DP-SGD engine: clipping and noise against a naive loop, sampling, guards, resume."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from dpkit.data import ImageTensorDataset
from dpkit.engine import (PrivacyConfig, create_run_dir, load_checkpoint, make_private,
                          open_run_dir, save_checkpoint, seed_everything)
from dpkit.errors import DPKitError, PrivacyViolation


def tiny_data(n: int = 40, seed: int = 0) -> ImageTensorDataset:
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 1, 4, 4), generator=g, dtype=torch.uint8)
    labels = torch.randint(0, 3, (n,), generator=g)
    return ImageTensorDataset(images, labels)


def tiny_model(width: int = 8) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(16, width), nn.Tanh(), nn.Linear(width, 3))


def naive_clipped_mean(model: nn.Module, x: torch.Tensor, y: torch.Tensor, c: float, b: int):
    """Per-example gradients by a loop of single-example backward passes, clipped, summed / B."""
    total = [torch.zeros_like(p) for p in model.parameters()]
    for i in range(x.shape[0]):
        model.zero_grad()
        nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        grads = [p.grad.detach().clone() for p in model.parameters()]
        norm = torch.sqrt(sum(g.pow(2).sum() for g in grads))
        factor = min(1.0, c / (norm.item() + 1e-6))
        for t, g in zip(total, grads):
            t += g * factor
    return [t / b for t in total]


def private_grads(model, x, y, cfg, batch_size, data):
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.0), data, cfg,
                         batch_size=batch_size, epochs=1)
    setup.optimizer.zero_grad()
    setup.criterion(setup.model(x), y).backward()
    setup._batch_sampler.drawn += 1  # the batch was drawn by hand, not from the loader
    setup.optimizer.step()
    return [p.grad.detach().clone() for p in setup.module.parameters()], setup


@pytest.mark.parametrize("mode", ["hooks", "functorch", "ghost", "bk"])
def test_sigma_zero_update_equals_naive_clipped_mean(mode):
    data = tiny_data()
    x, y = data.tensors()
    x, y = x[:10] * 5, y[:10]  # large inputs: most per-example norms exceed C
    model = tiny_model()
    reference = naive_clipped_mean(copy.deepcopy(model), x, y, c=0.5, b=8)
    cfg = PrivacyConfig(noise_multiplier=0.0, max_grad_norm=0.5, delta=1e-3, grad_sample_mode=mode)
    got, _ = private_grads(model, x, y, cfg, batch_size=8, data=data)
    for g, r in zip(got, reference):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-6)


def test_every_clipped_per_example_gradient_has_norm_at_most_c():
    data = tiny_data()
    x, y = data.tensors()
    c = 0.3
    for i in range(12):
        model = tiny_model()
        cfg = PrivacyConfig(noise_multiplier=0.0, max_grad_norm=c, delta=1e-3)
        got, _ = private_grads(model, x[i:i + 1] * 4, y[i:i + 1], cfg, batch_size=1, data=data)
        norm = torch.sqrt(sum(g.pow(2).sum() for g in got)).item()
        assert norm <= c * (1 + 1e-5)


def test_noise_std_matches_sigma_c_over_b():
    data = tiny_data()
    x, y = data.tensors()
    sigma, c, b = 1.3, 0.7, 20
    wide = nn.Sequential(nn.Flatten(), nn.Linear(16, 4000), nn.Linear(4000, 3))
    clean, _ = private_grads(copy.deepcopy(wide), x[:20], y[:20],
                             PrivacyConfig(noise_multiplier=0.0, max_grad_norm=c, delta=1e-3), b, data)
    noisy, _ = private_grads(copy.deepcopy(wide), x[:20], y[:20],
                             PrivacyConfig(noise_multiplier=sigma, max_grad_norm=c, delta=1e-3), b, data)
    diff = torch.cat([(n - k).flatten() for n, k in zip(noisy, clean)])  # ~76k noise draws
    assert diff.mean().abs().item() < 5 * sigma * c / b / math.sqrt(diff.numel())
    assert diff.std().item() == pytest.approx(sigma * c / b, rel=0.02)


def test_poisson_batches_vary_and_steps_are_counted():
    data = tiny_data(400)
    model = tiny_model()
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                         PrivacyConfig(noise_multiplier=1.0, delta=1e-4), batch_size=20, epochs=3)
    sizes = []
    for _ in range(3):
        for x, y in setup.loader:
            sizes.append(x.shape[0])
            setup.optimizer.zero_grad()
            setup.criterion(setup.model(x), y).backward()
            setup.optimizer.step()
    assert len(sizes) == 3 * setup.steps_per_epoch == 60
    assert len(set(sizes)) > 3
    assert abs(sum(sizes) / len(sizes) - 20) < 3
    report = setup.report()
    assert report.steps == setup.steps_taken == 60
    assert report.sample_rate == pytest.approx(20 / 400)
    assert setup.accountant.history == [(1.0, 20 / 400, 60)]


def test_empty_poisson_batch_still_takes_a_noisy_step():
    data = tiny_data(50)
    model = tiny_model()
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                         PrivacyConfig(noise_multiplier=1.0, delta=1e-3), batch_size=1, epochs=1)
    empties = 0
    for x, y in setup.loader:
        empties += x.shape[0] == 0
        before = [p.detach().clone() for p in setup.module.parameters()]
        setup.optimizer.zero_grad()
        setup.criterion(setup.model(x), y).backward()
        setup.optimizer.step()
        moved = any(not torch.equal(a, p) for a, p in zip(before, setup.module.parameters()))
        assert moved  # noise is added even when the batch is empty
    assert empties > 0
    assert setup.report().steps == 50


def test_two_steps_on_one_batch_are_refused():
    data = tiny_data()
    model = tiny_model()
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data,
                         PrivacyConfig(noise_multiplier=1.0, delta=1e-3), batch_size=8, epochs=1)
    x, y = next(iter(setup.loader))
    setup.optimizer.zero_grad()
    setup.criterion(setup.model(x), y).backward()
    setup.optimizer.step()
    setup.optimizer.zero_grad()
    setup.criterion(setup.model(x), y).backward()
    with pytest.raises(PrivacyViolation, match="two noisy steps"):
        setup.optimizer.step()


def test_private_batchnorm_is_refused_naming_the_layer():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(16, 3))
    with pytest.raises(PrivacyViolation, match=r"layer '1' \(BatchNorm2d\).*GroupNorm"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), tiny_data(),
                     PrivacyConfig(noise_multiplier=1.0, delta=1e-3), batch_size=8, epochs=1)


def test_delta_must_be_below_one_over_n():
    model = tiny_model()
    with pytest.raises(DPKitError, match="1/N"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), tiny_data(40),
                     PrivacyConfig(noise_multiplier=1.0, delta=0.05), batch_size=8, epochs=1)


def test_target_epsilon_is_reached_by_training():
    data = tiny_data(200)
    model = tiny_model()
    cfg = PrivacyConfig(target_epsilon=2.0, delta=1e-3, accountant="rdp")
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), data, cfg,
                         batch_size=20, epochs=2)
    for _ in range(2):
        for x, y in setup.loader:
            setup.optimizer.zero_grad()
            setup.criterion(setup.model(x), y).backward()
            setup.optimizer.step()
    assert setup.epsilon() == pytest.approx(2.0, rel=0.01)
    assert setup.epsilon() <= 2.0 + 1e-9


@pytest.mark.parametrize("mode", ["hooks", "bk"])
@pytest.mark.parametrize("physical", [None, 7])
def test_physical_batches_give_the_same_training(physical, mode):
    def run(phys):
        seed_everything(0)
        model = tiny_model()
        cfg = PrivacyConfig(noise_multiplier=0.5, delta=1e-4, max_physical_batch_size=phys,
                            grad_sample_mode=mode)
        setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.5), tiny_data(400),
                             cfg, batch_size=30, epochs=1)
        with setup.epoch_loader() as loader:
            for x, y in loader:
                setup.optimizer.zero_grad()
                setup.criterion(setup.model(x), y).backward()
                setup.optimizer.step()
        return [p.detach() for p in setup.module.parameters()], setup.report()

    w_ref, r_ref = run(None)
    w, r = run(physical)
    assert r.steps == r_ref.steps == 13
    for a, b in zip(w, w_ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def _train(setup, epochs):
    for _ in range(epochs):
        for x, y in setup.loader:
            setup.optimizer.zero_grad()
            setup.criterion(setup.model(x), y).backward()
            setup.optimizer.step()


def _fresh(seed=0):
    seed_everything(seed)
    model = tiny_model()
    opt = torch.optim.Adam(model.parameters(), lr=0.01)
    setup = make_private(model, opt, tiny_data(300),
                         PrivacyConfig(target_epsilon=3.0, delta=1e-4, accountant="rdp"),
                         batch_size=25, epochs=2, seed=seed)
    return model, opt, setup


def test_resume_equals_uninterrupted_run(tmp_path):
    _, _, full = _fresh()
    _train(full, 2)

    _, opt, first = _fresh()
    _train(first, 1)
    save_checkpoint(tmp_path / "ck.pt", epoch=1, models={"m": first.model},
                    optimizers={"m": opt}, setups={"m": first})
    torch.manual_seed(123)  # disturb the global RNG; the checkpoint must restore it

    model, opt, second = _fresh()
    info = load_checkpoint(tmp_path / "ck.pt", models={"m": model}, optimizers={"m": opt},
                           setups={"m": second})
    assert info.epoch == 1
    _train(second, 1)
    for a, b in zip(full.module.parameters(), second.module.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert second.epsilon() == full.epsilon()
    assert second.report().steps == full.report().steps == 24


def test_run_dir_never_overwrites(tmp_path):
    run = create_run_dir("train", tmp_path / "r")
    run.write_json("config.json", {"a": 1})
    run.append_metrics({"epoch": 1, "epsilon": math.inf})
    assert run.read_metrics() == [{"epoch": 1, "epsilon": "inf"}]
    with pytest.raises(DPKitError, match="not empty"):
        create_run_dir("train", tmp_path / "r")
    assert open_run_dir(tmp_path / "r").config == {"a": 1}
    with pytest.raises(DPKitError, match="not a dpkit run directory"):
        open_run_dir(tmp_path)
    a = create_run_dir("train", root=tmp_path / "runs")
    b = create_run_dir("train", root=tmp_path / "runs")
    assert a.path != b.path and a.path.name.startswith("train-")


def test_non_private_setup_reports_infinite_epsilon():
    model = tiny_model()
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), tiny_data(),
                         PrivacyConfig(enabled=False), batch_size=8, epochs=1)
    assert setup.model is model and math.isinf(setup.epsilon())
    assert setup.report().to_dict()["epsilon"] == "inf"
    assert sum(1 for _ in setup.loader) == 5


@pytest.mark.parametrize("kwargs,needle", [
    (dict(), "exactly one"),
    (dict(noise_multiplier=1.0, target_epsilon=1.0), "exactly one"),
    (dict(noise_multiplier=1.0, accountant="moments"), "accountant"),
    (dict(noise_multiplier=1.0, delta=1.5), "delta"),
    (dict(noise_multiplier=1.0, max_grad_norm=0.0), "max_grad_norm"),
    (dict(target_epsilon=-1.0), "positive"),
])
def test_privacy_config_validates_itself(kwargs, needle):
    with pytest.raises(DPKitError, match=needle):
        PrivacyConfig(**kwargs)


def test_secure_mode_trains_and_is_not_seeded():
    def one_step():
        seed_everything(0)
        model = tiny_model()
        setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), tiny_data(),
                             PrivacyConfig(noise_multiplier=1.0, delta=1e-3, secure_mode=True),
                             batch_size=8, epochs=1, seed=0)
        x, y = next(iter(setup.loader))
        setup.optimizer.zero_grad()
        setup.criterion(setup.model(x), y).backward()
        setup.optimizer.step()
        assert setup.report().steps == 1
        return [p.detach().clone() for p in setup.module.parameters()]

    a, b = one_step(), one_step()
    assert any(not torch.equal(p, q) for p, q in zip(a, b))  # fresh entropy each run
