"""DP-GAN training runs on digits: outputs, separation, resume, loading and sampling."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from dpkit.engine import PrivacyConfig, compute_epsilon, open_run_dir
from tiny_gan import GAN_DATA, tiny_gan_config
from dpkit.gan import (GANConfig, export_npz, export_png, fit_gan, generate, load_gan, resume_gan,
                       train_gan)

DATA = GAN_DATA


@pytest.fixture
def bundle(gan_bundle):
    return gan_bundle


def _config(**kw) -> GANConfig:
    return tiny_gan_config(**kw)


def test_private_run_writes_the_contract_and_accounts_every_step(tmp_path, bundle):
    cfg = _config()
    result = train_gan(cfg, out=tmp_path / "run", bundle=bundle)
    run = open_run_dir(tmp_path / "run", kind="train-gan")
    steps = 2 * (256 // 32)
    assert result.steps == steps and result.report.steps == steps and result.train_size == 256
    expected = compute_epsilon(sample_rate=32 / 256, noise_multiplier=1.0, steps=steps,
                               delta=1e-5, accountant="prv")
    assert result.report.epsilon == pytest.approx(expected, rel=1e-6)
    for name in ("config.json", "split.json", "privacy.json", "metrics.jsonl", "checkpoint.pt",
                 "final.pt", "result.json", "curves.png", "samples/epoch_001.png",
                 "samples/epoch_002.png"):
        assert run.file(name).is_file(), name
    assert GANConfig.from_dict(run.config) == cfg.resolved(10) and cfg.resolved(10).conditional
    assert run.config["format_version"] == 1
    assert run.read_json("privacy.json")["steps"] == steps
    metrics = run.read_metrics()
    assert [m["epoch"] for m in metrics] == [1, 2]
    assert metrics[0]["epsilon"] < metrics[1]["epsilon"] == pytest.approx(expected, rel=1e-6)
    # conditional: one row of 10 per class
    assert Image.open(run.file("samples/epoch_002.png")).size == (10 * 28 + 22, 10 * 28 + 22)


def test_loaded_generator_samples_right_shape_and_range(tmp_path, bundle):
    train_gan(_config(epochs=1), out=tmp_path / "run", bundle=bundle)
    gan = load_gan(tmp_path / "run")
    assert gan.latent_dim == 16 and gan.epoch == 1 and not gan.generator.training
    assert gan.bundle.train_indices.tolist() == bundle.train_indices.tolist()
    images = generate(gan.generator, 70, latent_dim=16, seed=5, batch_size=32)
    assert images.shape == (70, 1, 28, 28) and images.dtype == torch.float32
    assert images.min() >= -1 and images.max() <= 1 and images.std() > 0
    torch.testing.assert_close(images, generate(gan.generator, 70, latent_dim=16, seed=5))
    assert not torch.equal(images, generate(gan.generator, 70, latent_dim=16, seed=6))
    paths = export_png(images[:3], tmp_path / "png")
    assert [p.name for p in paths] == ["000000.png", "000001.png", "000002.png"]
    assert np.asarray(Image.open(paths[0])).shape == (28, 28)
    arr = np.load(export_npz(images, tmp_path / "s.npz"))["images"]
    assert arr.shape == (70, 1, 28, 28) and arr.dtype == np.uint8


def test_discriminator_separates_real_from_fake(tmp_path, bundle):
    cfg = _config(privacy=PrivacyConfig(enabled=False), epochs=2, d_width=16)
    result = train_gan(cfg, out=tmp_path / "run", bundle=bundle)
    assert math.isinf(result.report.epsilon)
    for record in result.history:
        assert record["d_real"] > record["d_fake"]
        assert record["d_loss_real"] < math.log(2) or record["d_loss_fake"] < math.log(2)
    gan = load_gan(tmp_path / "run")
    real, real_labels = (t[:128] for t in bundle.test.tensors())
    fake = generate(gan.generator, 128, latent_dim=16, seed=0)  # balanced labels
    with torch.no_grad():
        assert torch.sigmoid(gan.discriminator(real, real_labels)).mean() > torch.sigmoid(
            gan.discriminator(fake, torch.arange(128) % 10)).mean()


def test_resume_equals_uninterrupted(tmp_path, bundle):
    a = train_gan(_config(epochs=2), out=tmp_path / "full", bundle=bundle)
    train_gan(_config(epochs=1), out=tmp_path / "part", bundle=bundle)
    b = resume_gan(tmp_path / "part", epochs=2)
    full, part = open_run_dir(tmp_path / "full"), open_run_dir(tmp_path / "part")
    assert b.report.epsilon == a.report.epsilon and b.steps == a.steps
    sa = torch.load(full.file("checkpoint.pt"), weights_only=False)
    sb = torch.load(part.file("checkpoint.pt"), weights_only=False)
    for name in ("generator", "discriminator"):
        for key, value in sa["models"][name].items():
            torch.testing.assert_close(sb["models"][name][key], value, rtol=0, atol=0)
    assert [m["epoch"] for m in part.read_metrics()] == [1, 2]
    assert part.read_metrics()[1]["g_loss"] == full.read_metrics()[1]["g_loss"]


def test_d_steps_takes_one_generator_step_per_d_steps(tmp_path, bundle):
    result = train_gan(_config(epochs=1, d_steps=2), out=tmp_path / "r", bundle=bundle)
    assert result.history[0]["d_steps"] == 8 and result.history[0]["g_steps"] == 4
    assert result.report.steps == 8


def test_config_rejects_bad_values():
    from dpkit.errors import DPKitError

    with pytest.raises(DPKitError, match="betas"):
        _config(betas=(0.5, 1.5))
    with pytest.raises(DPKitError, match="ghost"):
        _config(privacy=PrivacyConfig(noise_multiplier=1.0, grad_sample_mode="ghost"),
                clip_fake=False)
    with pytest.raises(DPKitError, match="physical"):
        _config(privacy=PrivacyConfig(noise_multiplier=1.0, max_physical_batch_size=8))


def test_fit_gan_needs_no_run_directory(bundle):
    fit = fit_gan(_config(epochs=1), bundle.train)
    assert fit.report.steps == 256 // 32 and len(fit.history) == 1
    record = fit.history[0]
    assert {"epoch", "steps", "epsilon", "seconds", "not_covered_by_epsilon", "d_real"} <= set(record)
    assert record["steps"] == 8


def test_refused_settings_leave_no_directory(tmp_path, bundle):
    from dpkit.errors import DPKitError

    with pytest.raises(DPKitError, match="batch_size=1000"):
        train_gan(_config(batch_size=1000), out=tmp_path / "big", bundle=bundle)
    assert not (tmp_path / "big").exists()


def test_output_flags_do_not_change_the_model(bundle, monkeypatch):
    """--quiet (and --json, which implies it) must train the same weights as a progress bar."""
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # draw the bar
    cfg = _config(epochs=1, privacy=PrivacyConfig(enabled=False))
    quiet = fit_gan(cfg, bundle.train, quiet=True).generator.state_dict()
    loud = fit_gan(cfg, bundle.train, quiet=False).generator.state_dict()
    for key, value in quiet.items():
        assert torch.equal(loud[key], value), key
