"""Class-conditional DP DCGAN: shapes, the label path's per-example gradients, the n_D schedule,
the weight average, sampling by class and the downstream-accuracy metric."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from dpkit.data import DataOptions, ImageTensorDataset, load_dataset
from dpkit.engine import PrivacyConfig, load_weights, make_private, open_run_dir, read_torch_file
from dpkit.errors import DPKitError
from dpkit.evaluation.downstream import (DownstreamConfig, downstream_accuracy,
                                         evaluate_downstream_run)
from dpkit.gan import (D_STEPS_LADDER, GAN_RECIPES, DStepSchedule, GANConfig, build_models,
                       fit_gan, gan_recipe_config, load_gan, resume_gan, train_gan)
from dpkit.gan.sampling import sample_run
from tiny_gan import tiny_gan_config


@pytest.fixture
def bundle(gan_bundle):
    return gan_bundle


def _config(**kw) -> GANConfig:
    return tiny_gan_config(**({"epochs": 1} | kw))


@pytest.mark.parametrize("conditioning", ["labelmap", "projection"])
def test_conditional_shapes_and_class_control(conditioning):
    torch.manual_seed(0)
    g, d = build_models(latent_dim=8, channels=1, image_size=28, g_width=8, d_width=8,
                        num_classes=10, conditioning=conditioning)
    z = torch.randn(20, 8)
    a, b = g(z, torch.full((20,), 3)), g(z, torch.full((20,), 4))
    assert a.shape == (20, 1, 28, 28) and not torch.allclose(a, b)
    torch.testing.assert_close(g(z), g(z, torch.arange(20) % 10))  # default: balanced prior
    assert d(a, torch.full((20,), 3)).shape == (20,)
    assert not torch.allclose(d(a, torch.full((20,), 3)), d(a, torch.full((20,), 4)))
    with pytest.raises(DPKitError, match="needs the labels"):
        d(a)


def test_training_resolves_conditional_from_the_data(bundle):
    assert _config().resolved(10).conditional and _config().resolved(10).num_classes == 10
    assert not _config().resolved(1).conditional
    assert _config(conditional=False).resolved(10).num_classes == 0
    with pytest.raises(DPKitError, match="at least two classes"):
        _config(conditional=True).resolved(1)


def _label_param(d, conditioning):
    return d.net[0].weight if conditioning == "labelmap" else d.embed.weight


@pytest.mark.parametrize("mode", ["hooks", "functorch"])
@pytest.mark.parametrize("conditioning", ["labelmap", "projection"])
def test_per_example_gradient_of_the_label_path_is_a_single_example_backward(
        bundle, mode, conditioning):
    """Opacus's per-example gradients of the layer the label enters by (the first convolution's
    label-map channels, or the projection embedding) equal a backward on that example alone, so
    clipping bounds the whole record (x, y)."""
    torch.manual_seed(1)
    _, d = build_models(latent_dim=8, channels=1, image_size=28, g_width=8, d_width=8,
                        num_classes=10, conditioning=conditioning)
    reference = build_models(latent_dim=8, channels=1, image_size=28, g_width=8, d_width=8,
                             num_classes=10, conditioning=conditioning)[1]
    reference.load_state_dict(d.state_dict())
    opt = torch.optim.SGD(d.parameters(), lr=0.1)
    setup = make_private(d, opt, bundle.train, PrivacyConfig(noise_multiplier=1.0,
                                                             grad_sample_mode=mode),
                         batch_size=8, epochs=1, criterion=torch.nn.BCEWithLogitsLoss())
    x, y = (t[:6] for t in bundle.train.tensors())
    out = setup.model(x, y)
    F.binary_cross_entropy_with_logits(out, torch.ones_like(out)).backward()
    per_example = _label_param(d, conditioning).grad_sample  # (6, ...)
    for i in range(6):
        reference.zero_grad()
        o = reference(x[i:i + 1], y[i:i + 1])
        F.binary_cross_entropy_with_logits(o, torch.ones_like(o)).backward()
        expected = _label_param(reference, conditioning).grad
        torch.testing.assert_close(per_example[i], expected, rtol=1e-4, atol=1e-6)
        if conditioning == "labelmap":  # the label's own channel carries gradient, others none
            label_channels = per_example[i][:, 1:]  # (width, K, 4, 4)
            assert label_channels[:, y[i]].abs().sum() > 0
            others = [k for k in range(10) if k != y[i]]
            assert label_channels[:, others].abs().sum() == 0
        else:
            rows = per_example[i].abs().sum(1)  # (K,)
            assert rows[y[i]] > 0 and rows.sum() == rows[y[i]]


@pytest.mark.parametrize("d_steps", [1, 3])
def test_every_discriminator_step_is_charged_and_k_of_them_per_generator_step(bundle, d_steps):
    fit = fit_gan(_config(epochs=2, d_steps=d_steps), bundle.train)
    steps_per_epoch = 256 // 32
    assert fit.report.steps == 2 * steps_per_epoch
    assert sum(r["d_steps"] for r in fit.history) == fit.report.steps
    assert sum(r["g_steps"] for r in fit.history) == 2 * steps_per_epoch // d_steps


def test_adaptive_schedule_raises_n_d_and_every_step_is_still_charged(bundle):
    cfg = _config(epochs=2, d_steps_schedule="adaptive", d_steps_grace=2,
                  d_steps_threshold=0.99, d_steps_beta=0.0)
    fit = fit_gan(cfg, bundle.train)
    assert fit.report.steps == 2 * 8 == sum(r["d_steps"] for r in fit.history)
    n_d = [r["d_steps_per_g_step"] for r in fit.history]
    assert n_d[-1] > 1 and n_d == sorted(n_d)
    assert sum(r["g_steps"] for r in fit.history) < fit.report.steps


def test_schedule_rule():
    s = DStepSchedule(d_steps=1, adaptive=True, threshold=0.6, grace=3, beta=0.5)
    for _ in range(2):
        assert s.discriminator_step_done()
        s.generator_step_done(0.1)
    assert s.d_steps == 1  # still within the grace period
    s.discriminator_step_done()
    s.generator_step_done(0.1)
    assert s.d_steps == 2 and s.since_raise == 0
    assert not s.discriminator_step_done() and s.discriminator_step_done()
    calm = DStepSchedule(d_steps=5, adaptive=True, threshold=0.6, grace=1, beta=0.0)
    for _ in range(5):
        calm.generator_step_done(0.9)  # the discriminator still wins: keep n_D
    assert calm.d_steps == 5
    fixed = DStepSchedule(d_steps=2, grace=1)
    fixed.generator_step_done(0.0)
    assert fixed.d_steps == 2
    copy = DStepSchedule(d_steps=1, adaptive=True)
    copy.load_state_dict(s.state_dict())
    assert copy.state_dict() == s.state_dict()
    assert D_STEPS_LADDER[:6] == (1, 2, 5, 10, 20, 50)
    with pytest.raises(DPKitError, match="adaptive"):
        DStepSchedule(d_steps=3, adaptive=True)


def test_weight_average_is_published_and_resume_is_exact(tmp_path, bundle):
    cfg = _config(epochs=2, ema=0.9, d_steps_schedule="adaptive", d_steps_grace=2,
                  d_steps_threshold=0.99)
    full = train_gan(cfg, out=tmp_path / "full", bundle=bundle)
    train_gan(cfg.__class__(**{**cfg.__dict__, "epochs": 1}), out=tmp_path / "part",
              bundle=bundle)
    resumed = resume_gan(tmp_path / "part", epochs=2)
    assert resumed.report.epsilon == full.report.epsilon
    a = read_torch_file(tmp_path / "full" / "final.pt", weights_only=True)
    b = read_torch_file(tmp_path / "part" / "final.pt", weights_only=True)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    ckpt = read_torch_file(tmp_path / "full" / "checkpoint.pt", weights_only=False)
    for k in a:  # final.pt holds the average, not the last iterate
        torch.testing.assert_close(a[k], ckpt["models"]["generator_ema"][k], rtol=0, atol=0)
    assert any(not torch.equal(a[k], ckpt["models"]["generator"][k]) for k in a
               if a[k].is_floating_point())
    assert ckpt["extra"]["schedule"]["d_steps"] == full.history[-1]["d_steps_per_g_step"]
    assert "shadow" not in ckpt["extra"]["ema"]  # the average is stored once: generator_ema
    gan = load_gan(tmp_path / "full", load_data=False)
    for k, v in gan.generator.state_dict().items():
        torch.testing.assert_close(v, a[k], rtol=0, atol=0)
    assert load_weights(tmp_path / "full" / "final.pt", tmp_path / "full" / "checkpoint.pt",
                        "generator_ema").keys() == a.keys()


def test_sample_by_class(tmp_path, bundle):
    train_gan(_config(), out=tmp_path / "run", bundle=bundle)
    three = sample_run(tmp_path / "run", num_samples=12, out=tmp_path / "s3", fmt="npz", label=3)
    four = sample_run(tmp_path / "run", num_samples=12, out=tmp_path / "s4", fmt="npz", label=4)
    a, b = np.load(three.path), np.load(four.path)
    assert (a["labels"] == 3).all() and (b["labels"] == 4).all()
    assert a["images"].shape == (12, 1, 28, 28) and not np.array_equal(a["images"], b["images"])
    assert three.to_dict()["class"] == 3 and "of class 3" in three.summary()
    mixed = np.load(sample_run(tmp_path / "run", num_samples=20, out=tmp_path / "s", fmt="npz").path)
    assert mixed["labels"].tolist() == [i % 10 for i in range(20)]
    with pytest.raises(DPKitError, match="out of range"):
        sample_run(tmp_path / "run", num_samples=2, out=tmp_path / "bad", label=10)
    assert not (tmp_path / "bad").exists()
    train_gan(_config(conditional=False), out=tmp_path / "uncond", bundle=bundle)
    grid = Image.open(tmp_path / "uncond" / "samples" / "epoch_001.png")
    assert grid.size == (8 * 28 + 18, 8 * 28 + 18)  # unconditional: 8 x 8
    with pytest.raises(DPKitError, match="not class-conditional"):
        sample_run(tmp_path / "uncond", num_samples=2, out=tmp_path / "bad2", label=1)


@pytest.fixture(scope="module")
def digits28():
    return load_dataset("digits", DataOptions(image_size=28))


def _real_images_of(train: ImageTensorDataset, shuffle_labels: bool):
    """A "generator" that returns real training images of the requested classes (or of random
    classes, when ``shuffle_labels``)."""
    x, y = train.tensors()
    by_class = {int(c): x[y == c] for c in y.unique()}

    def sample(seed: int, labels: torch.Tensor) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        wanted = labels[torch.randperm(len(labels), generator=gen)] if shuffle_labels else labels
        out = []
        for i, c in enumerate(wanted.tolist()):
            pool = by_class[c]
            out.append(pool[(i // 10) % len(pool)])
        return torch.stack(out)

    return sample


def test_downstream_of_real_images_is_the_real_data_accuracy(digits28):
    cfg = DownstreamConfig(num_samples=600, epochs=12, lr=3e-3, seed=0)
    good = downstream_accuracy(_real_images_of(digits28.train, False), digits28.train,
                               digits28.test, 10, cfg)
    assert good.real_accuracy is not None and good.real_accuracy > 0.85
    assert abs(good.accuracy - good.real_accuracy) < 0.06
    assert len(good.per_class) == 10 and min(good.per_class) > 0.5
    wrong = downstream_accuracy(_real_images_of(digits28.train, True), digits28.train,
                                digits28.test, 10, cfg.__class__(**{**cfg.__dict__,
                                                                    "real_baseline": False}))
    assert wrong.accuracy < 0.3 and wrong.real_accuracy is None
    assert "downstream accuracy" in good.summary() and good.to_dict()["downstream_accuracy"] == \
        good.accuracy


def test_downstream_refuses_an_unconditional_run(tmp_path, bundle):
    train_gan(_config(conditional=False), out=tmp_path / "u", bundle=bundle)
    with pytest.raises(DPKitError, match="unconditional"):
        evaluate_downstream_run(tmp_path / "u", DownstreamConfig(num_samples=20))
    assert not open_run_dir(tmp_path / "u").file("evaluation-downstream.json").exists()


def _cli_config(*args: str) -> GANConfig:
    """The GANConfig ``dpkit train-gan ARGS`` would train (options parsed, nothing run)."""
    from dpkit.commands.runners.train_gan import config_from
    from dpkit.commands.train_gan import train_gan_command

    ctx = train_gan_command.make_context("train-gan", list(args))
    return config_from(dict(ctx.params))


def test_train_gan_defaults_come_from_the_dataset_recipe():
    fm = _cli_config("--dataset", "fashion-mnist", "--epsilon", "10")
    recipe = GAN_RECIPES["fashion-mnist"]
    assert fm.data.image_size == recipe["image_size"] == 28
    assert (fm.batch_size, fm.epochs, fm.ema, fm.d_steps, fm.d_steps_schedule) == (
        recipe["batch_size"], recipe["epochs"], recipe["ema"], recipe["d_steps"],
        recipe["d_steps_schedule"])
    assert fm.privacy.target_epsilon == 10 and fm.conditional is None  # resolved from the data
    mine = _cli_config("--dataset", "fashion-mnist", "--no-dp", "--batch-size", "256",
                       "--ema", "0", "--image-size", "32", "--epochs", "3")
    assert (mine.batch_size, mine.ema, mine.data.image_size, mine.epochs) == (256, 0.0, 32, 3)
    assert mine.d_steps == recipe["d_steps"]
    digits = _cli_config("--dataset", "digits", "--no-dp")
    defaults = GANConfig()
    assert (digits.batch_size, digits.epochs, digits.ema, digits.d_steps,
            digits.d_steps_schedule, digits.data.image_size) == (
        defaults.batch_size, defaults.epochs, defaults.ema, defaults.d_steps,
        defaults.d_steps_schedule, defaults.data.image_size)
    assert gan_recipe_config(defaults, set()) == defaults  # digits: no recipe


@pytest.mark.parametrize("conditioning", ["labelmap", "projection"])
def test_ghost_clipping_step_equals_the_per_example_step(bundle, conditioning):
    """With the generated half clipped too, the discriminator loss is one per-example sum, so
    Opacus's two-pass ghost clipping gives the same update as materialised per-example
    gradients (σ = 0 isolates the clipped sum; C small so that clipping is active)."""
    from dpkit.gan import discriminator_step

    x, y = (t[:16] for t in bundle.train.tensors())
    fake_labels = torch.arange(16) % 10

    def update(mode: str) -> torch.Tensor:
        torch.manual_seed(2)
        g, d = build_models(latent_dim=8, channels=1, image_size=28, g_width=8, d_width=8,
                            num_classes=10, conditioning=conditioning)
        with torch.no_grad():
            fake = g(torch.randn(16, 8), fake_labels)
        before = torch.cat([p.detach().flatten().clone() for p in d.parameters()])
        setup = make_private(d, torch.optim.SGD(d.parameters(), lr=1.0), bundle.train,
                             PrivacyConfig(noise_multiplier=0.0, max_grad_norm=0.01,
                                           grad_sample_mode=mode),
                             batch_size=16, epochs=1, criterion=torch.nn.BCEWithLogitsLoss())
        setup._batch_sampler.drawn += 1  # the batch is given, not drawn from the loader
        discriminator_step(setup, fake, x, real_labels=y, fake_labels=fake_labels)
        assert setup.report().steps == 1
        return torch.cat([p.detach().flatten() for p in setup.module.parameters()]) - before

    hooks, ghost = update("hooks"), update("ghost")
    assert hooks.abs().max() > 0
    torch.testing.assert_close(ghost, hooks, rtol=1e-4, atol=1e-7)
