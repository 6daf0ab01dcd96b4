"""ScatterNet models: features and their cache, DP normalisation statistics and their ε
composition, and scatternet-linear end to end through the CLI on digits."""

from __future__ import annotations

import json

import pytest
import torch

import dpkit.classifiers.scattering as scattering
from dpkit.classifiers import (ClassifierConfig, ModelConfig, ScatteringParams, cached_features,
                               dp_feature_statistics, fit_classifier, load_classifier)
from dpkit.classifiers.scatternet import normalization_mechanisms
from dpkit.cli import cli
from dpkit.data import ImageTensorDataset
from dpkit.engine import PrivacyConfig, SeededSource, epsilon_of_history


def _images(n: int = 6, size: int = 28, seed: int = 0) -> ImageTensorDataset:
    g = torch.Generator().manual_seed(seed)
    return ImageTensorDataset(torch.randint(0, 256, (n, 1, size, size), generator=g,
                                            dtype=torch.uint8), torch.arange(n) % 2)


def test_feature_shape_28px_grayscale():
    feats = cached_features(_images(), params=ScatteringParams(), cache_dir=None)
    assert feats.features.shape == (6, 81, 7, 7)
    assert ScatteringParams().feature_shape(3, 32) == (243, 8, 8)


def test_cache_is_read_back_and_a_stale_one_recomputed(tmp_path, monkeypatch):
    ds = _images()
    first = cached_features(ds, params=ScatteringParams(), cache_dir=tmp_path, name="toy")
    files = list(tmp_path.iterdir())
    assert len(files) == 1 and files[0].name == "toy-train-n6-1x28-J2-L8.pt"

    calls = []
    real = scattering.scatter_images
    monkeypatch.setattr(scattering, "scatter_images",
                        lambda *a, **k: calls.append(1) or real(*a, **k))
    again = cached_features(ds, params=ScatteringParams(), cache_dir=tmp_path, name="toy")
    assert calls == [] and torch.equal(again.features, first.features)  # read, not computed

    other = _images(seed=1)  # same name, split and size, other images: stale
    with pytest.warns(UserWarning, match="does not match"):
        fresh = cached_features(other, params=ScatteringParams(), cache_dir=tmp_path, name="toy")
    assert calls and not torch.equal(fresh.features, first.features)
    torch.testing.assert_close(fresh.features, cached_features(
        other, params=ScatteringParams(), cache_dir=None).features)

    stored = torch.load(files[0], weights_only=True)  # a tampered file is not trusted either
    stored["features"] = stored["features"] + 1
    stored["record"]["params"]["L"] = 6
    torch.save(stored, files[0])
    with pytest.warns(UserWarning, match="does not match"):
        redone = cached_features(other, params=ScatteringParams(), cache_dir=tmp_path, name="toy")
    torch.testing.assert_close(redone.features, fresh.features)


def test_statistics_clip_each_example_and_add_the_calibrated_noise():
    feats = torch.rand(50, 81, 7, 7) * 0.1
    mean, var = dp_feature_statistics(feats, noise_multiplier=None, source=None, mean_clip=1.0,
                                      square_clip=1.0)
    torch.testing.assert_close(mean, feats.mean((0, 2, 3)))  # norms under the bounds: exact
    torch.testing.assert_close(var, (feats.pow(2).mean((0, 2, 3)) - mean ** 2).clamp(min=0))
    outlier = feats.clone()
    outlier[0] = 1e3  # one example far outside the clipping bound
    m2, _ = dp_feature_statistics(outlier, noise_multiplier=None, source=None, mean_clip=0.5,
                                  square_clip=1.0)
    assert (m2 - mean).norm() <= 2 * 0.5 / 50 + 1e-6  # one example moves the mean by ≤ 2·clip/N
    draws = torch.stack([dp_feature_statistics(feats, noise_multiplier=4.0,
                                               source=SeededSource(seed=s), mean_clip=0.5)[0]
                         for s in range(200)])
    assert abs(draws.std(0).mean().item() - 4.0 * 0.5 / 50) < 0.004  # σ·clip/N


@pytest.fixture(scope="module")
def feature_cache(tmp_path_factory):
    """One cache for the module: digits' features are computed once."""
    return tmp_path_factory.mktemp("dpkit-cache")


@pytest.fixture(scope="module")
def digits28():
    from dpkit.data import DataOptions, load_dataset

    return load_dataset("digits", DataOptions(image_size=28))


def test_dp_normalization_is_composed_into_epsilon(digits28, feature_cache):
    cfg = ClassifierConfig(model=ModelConfig(arch="scatternet-linear", scatter_norm="data",
                                             norm_noise_multiplier=8.0),
                           privacy=PrivacyConfig(target_epsilon=2.0, max_grad_norm=0.1),
                           epochs=2, batch_size=256, lr=4.0)
    fit = fit_classifier(cfg, digits28.train, test=digits28.test,
                         feature_cache=feature_cache / "scattering", data_name="digits")
    r = fit.report
    parts = fit.epsilon_parts
    prior = normalization_mechanisms(8.0)
    training = [(r.noise_multiplier, r.sample_rate, r.steps)]
    assert r.steps == 2 * (1500 // 256)  # the normalisation is not counted as training steps
    assert parts["epsilon_normalization"] == pytest.approx(
        epsilon_of_history(prior, delta=1e-5))
    assert parts["epsilon_training"] == pytest.approx(epsilon_of_history(training, delta=1e-5))
    assert r.epsilon == pytest.approx(epsilon_of_history(prior + training, delta=1e-5))
    assert 2.0 * 0.99 <= r.epsilon <= 2.0  # σ calibrated so that the composition meets it
    assert parts["epsilon_training"] < r.epsilon < sum(parts.values())
    assert fit.test_accuracy > 0.5
    stats = fit.model.head.norm
    assert stats.var.gt(0).any() and not torch.equal(stats.mean, torch.zeros_like(stats.mean))


def test_scatternet_linear_end_to_end_through_the_cli(tmp_path, monkeypatch, cli_runner,
                                                      feature_cache):
    monkeypatch.setenv(scattering.CACHE_ENV, str(feature_cache))
    out = tmp_path / "run"
    res = cli_runner.invoke(cli, ["train-classifier", "--dataset", "digits", "--model",
                                  "scatternet-linear", "--epsilon", "3", "--epochs", "2",
                                  "--batch-size", "256", "--lr", "4", "--max-grad-norm", "0.1",
                                  "--grad-sample-mode", "ghost", "--quiet", "--json",
                                  "--out", str(out)], catch_exceptions=False)
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert payload["test_accuracy"] > 0.5 and "epsilon_normalization" not in payload
    assert len(list((feature_cache / "scattering").glob("digits-*-J2-L8.pt"))) == 2
    loaded = load_classifier(out)  # final.pt holds the head; the model takes images
    assert set(loaded.model.state_dict()) == {"head.fc.weight", "head.fc.bias"}
    x, y = loaded.bundle.test.tensors()
    acc = (loaded.model(x).argmax(1) == y).float().mean().item()
    assert acc == pytest.approx(payload["test_accuracy"], abs=1e-6)


def test_dp_normalization_split_in_result_json(tmp_path, monkeypatch, cli_runner,
                                               feature_cache):
    monkeypatch.setenv(scattering.CACHE_ENV, str(feature_cache))
    out = tmp_path / "run"
    res = cli_runner.invoke(cli, ["train-classifier", "--dataset", "digits", "--model",
                                  "scatternet-linear", "--scatter-norm", "data", "--epsilon",
                                  "3", "--epochs", "1", "--batch-size", "256", "--lr", "4",
                                  "--max-grad-norm", "0.1", "--quiet", "--out", str(out)],
                            catch_exceptions=False)
    assert res.exit_code == 0, res.output
    assert "normalisation statistics" in res.output
    result = json.loads((out / "result.json").read_text())
    privacy = json.loads((out / "privacy.json").read_text())
    for d in (result, privacy):
        assert 0 < d["epsilon_normalization"] < d["epsilon"] <= 3.0
        assert 0 < d["epsilon_training"] < d["epsilon"]


class _Stop(Exception):
    pass


def test_data_normalized_scatternet_resumes_like_an_uninterrupted_run(digits28, feature_cache,
                                                                       tmp_path):
    cfg = ClassifierConfig(model=ModelConfig(arch="scatternet-cnn", scatter_norm="data"),
                           privacy=PrivacyConfig(target_epsilon=3.0, max_grad_norm=0.1),
                           epochs=3, batch_size=500, lr=2.0, ema=0.9)
    kw = dict(num_classes=10, feature_cache=feature_cache / "scattering", data_name="digits")
    full = fit_classifier(cfg, digits28.train, **kw)

    def stop_after_two(record):
        if record["epoch"] == 2:
            raise _Stop

    ckpt = tmp_path / "checkpoint.pt"
    with pytest.raises(_Stop):
        fit_classifier(cfg, digits28.train, checkpoint=ckpt, on_epoch=stop_after_two, **kw)
    torch.manual_seed(1234)
    resumed = fit_classifier(cfg, digits28.train, checkpoint=ckpt, resume=True, **kw)
    assert resumed.report.epsilon == full.report.epsilon
    assert resumed.epsilon_parts == full.epsilon_parts
    for (k, a), (_, b) in zip(full.model.state_dict().items(), resumed.model.state_dict().items()):
        assert torch.equal(a, b), k
