"""Augmentation multiplicity (engine/augmult.py): view gradients averaged before clipping, held
against a naive loop; accounting unchanged by K; ghost refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.utils.data import TensorDataset

from dpkit.classifiers import ClassifierConfig, ModelConfig
from dpkit.engine import AugmultConfig, PrivacyConfig, augment_views, make_private
from dpkit.engine.augmult import average_view_grads
from dpkit.errors import DPKitError

C = 0.05  # small enough that every example is clipped


def _model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.Tanh(), nn.Flatten(), nn.Linear(3 * 6 * 6, 4))


def _data(n: int = 64) -> TensorDataset:
    g = torch.Generator().manual_seed(2)
    return TensorDataset(torch.randn(n, 1, 8, 8, generator=g), torch.randint(0, 4, (n,), generator=g))


def _private_update(model, views_x, y, k, mode, b):
    """One σ = 0 DP step on views_x (B·K rows, example i's views at i·K..), lr 0: p.grad."""
    cfg = PrivacyConfig(noise_multiplier=0.0, max_grad_norm=C, grad_sample_mode=mode)
    setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.0), _data(), cfg,
                         batch_size=b, epochs=1, augmult=k)
    setup.optimizer.zero_grad()
    setup.criterion(setup.model(views_x), y.repeat_interleave(k)).backward()
    setup._batch_sampler.drawn += 1  # the batch was drawn by hand, not from the loader
    setup.optimizer.step()
    return [p.grad.detach().clone() for p in setup.module.parameters()], setup


def _naive(model, views_x, y, k, b):
    """Per-view gradients by a loop, averaged per example, clipped to C, summed, / B."""
    total = [torch.zeros_like(p) for p in model.parameters()]
    for i in range(y.shape[0]):
        mean = [torch.zeros_like(p) for p in model.parameters()]
        for j in range(k):
            model.zero_grad()
            row = views_x[i * k + j:i * k + j + 1]
            nn.functional.cross_entropy(model(row), y[i:i + 1]).backward()
            for m, p in zip(mean, model.parameters()):
                m += p.grad / k
        norm = torch.sqrt(sum(m.pow(2).sum() for m in mean))
        factor = min(1.0, C / (norm.item() + 1e-6))
        for t, m in zip(total, mean):
            t += m * factor
    return [t / b for t in total]


@pytest.mark.parametrize("mode", ["hooks", "functorch"])
def test_identical_views_equal_one_view(mode):
    x, y = _data().tensors[0][:6], _data().tensors[1][:6]
    one, _ = _private_update(_model(), x, y, 1, mode, 6)
    same, _ = _private_update(_model(), x.repeat_interleave(3, 0), y, 3, mode, 6)
    for a, b in zip(one, same):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("mode", ["hooks", "functorch"])
def test_clip_of_view_mean_matches_naive_loop(mode):
    x, y = _data().tensors[0][:5], _data().tensors[1][:5]
    k = 4
    views = augment_views(x, AugmultConfig(views=k, crop_padding=2, flip=True),
                          torch.Generator().manual_seed(3))
    assert not torch.equal(views[0], views[1])  # the views differ
    got, _ = _private_update(_model(), views, y, k, mode, 5)
    want = _naive(_model(), views, y, k, 5)
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)


def test_mutation_clipping_each_view_is_different():
    """A wrong engine (clip each view, then average) differs from the right one: the naive
    reference can tell them apart."""
    x, y = _data().tensors[0][:5], _data().tensors[1][:5]
    k = 4
    views = augment_views(x, AugmultConfig(views=k, crop_padding=2, flip=True),
                          torch.Generator().manual_seed(3))
    right = _naive(_model(), views, y, k, 5)
    wrong = [g * k for g in _naive(_model(), views, y.repeat_interleave(k), 1, 5 * k)]
    assert max((a - b).abs().max().item() for a, b in zip(right, wrong)) > 1e-4


def test_sampling_rate_and_epsilon_unchanged_by_views():
    reports = []
    for k in (1, 4):
        cfg = PrivacyConfig(target_epsilon=2.0, max_grad_norm=1.0)
        model = _model()
        setup = make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), _data(), cfg,
                             batch_size=16, epochs=2, augmult=k)
        reports.append((setup.sample_rate, setup.noise_multiplier, setup.steps_per_epoch))
    assert reports[0] == reports[1] and reports[0][0] == 16 / 64


def test_ghost_refused():
    model = _model()
    with pytest.raises(DPKitError, match="ghost"):
        make_private(model, torch.optim.SGD(model.parameters(), lr=0.1), _data(),
                     PrivacyConfig(target_epsilon=2.0, grad_sample_mode="ghost"),
                     batch_size=16, epochs=1, augmult=2)
    with pytest.raises(DPKitError, match="ghost"):
        ClassifierConfig(privacy=PrivacyConfig(target_epsilon=2.0, grad_sample_mode="ghost"),
                         augmult=2)


def test_scatternet_refuses_augmult():
    with pytest.raises(DPKitError, match="scattering"):
        ClassifierConfig(model=ModelConfig(arch="scatternet-linear"), augmult=2)


def test_views_depend_only_on_their_record_and_the_generator():
    x = _data().tensors[0][:4]
    cfg = AugmultConfig(views=3, crop_padding=2, flip=True)
    a = augment_views(x, cfg, torch.Generator().manual_seed(5))
    x2 = x.clone()
    x2[2] = torch.randn(1, 8, 8)  # another record in slot 2
    b = augment_views(x2, cfg, torch.Generator().manual_seed(5))
    assert a.shape == (12, 1, 8, 8)
    keep = torch.ones(12, dtype=torch.bool)
    keep[6:9] = False
    torch.testing.assert_close(a[keep], b[keep])  # the other records' views are unchanged


def test_crop_is_a_shifted_reflect_padded_window():
    x = torch.arange(16.0).view(1, 1, 4, 4)
    v = augment_views(x, AugmultConfig(views=50, crop_padding=1), torch.Generator().manual_seed(0))
    padded = nn.functional.pad(x, (1, 1, 1, 1), mode="reflect")[0, 0]
    windows = {tuple(padded[i:i + 4, j:j + 4].flatten().tolist())
               for i in range(3) for j in range(3)}
    assert all(tuple(r.flatten().tolist()) in windows for r in v[:, 0])


def test_average_view_grads_refuses_a_batch_that_is_not_views():
    p = nn.Parameter(torch.zeros(2))
    p.grad_sample = torch.zeros(5, 2)
    with pytest.raises(DPKitError, match="views"):
        average_view_grads([p], 2)


class _Stop(Exception):
    pass


def test_augmult_training_resumes_like_an_uninterrupted_run(tmp_path):
    from dpkit.classifiers import fit_classifier
    from dpkit.data import DataOptions, load_dataset

    bundle = load_dataset("digits", DataOptions(image_size=16, subset=400))
    cfg = ClassifierConfig(privacy=PrivacyConfig(noise_multiplier=1.0, delta=1e-4), epochs=3,
                           batch_size=100, lr=0.5, augmult=3, augment_flip=True)
    full = fit_classifier(cfg, bundle.train, num_classes=10)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise _Stop

    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(_Stop):
        fit_classifier(cfg, bundle.train, num_classes=10, checkpoint=ckpt,
                       on_epoch=stop_after_two)
    torch.manual_seed(1234)
    resumed = fit_classifier(cfg, bundle.train, num_classes=10, checkpoint=ckpt, resume=True)
    assert resumed.report.epsilon == full.report.epsilon
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
