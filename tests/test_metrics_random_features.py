"""The training-free, download-free ``random-cnn`` features and ``--features auto``."""

from __future__ import annotations

import json

import pytest
import torch

import dpkit.metrics.features as feat_mod
from dpkit.errors import DPKitError
from dpkit.metrics import (build_extractor, cached_reference_features, extract_features,
                           fid_from_features, parse_features)
from dpkit.metrics.features import (RANDOM_CNN_NAME, FeatureSpec, UInt8Images,
                                    cached_inception_path, extractor_identity,
                                    register_extractors, resolve_features)
from dpkit.metrics.random_cnn import RandomCNN


def _images(n: int = 160, channels: int = 1, size: int = 28, seed: int = 0) -> torch.Tensor:
    """Smooth synthetic uint8 images (n, channels, size, size): a bright Gaussian blob each."""
    g = torch.Generator().manual_seed(seed)
    centre = torch.rand(n, 2, generator=g) * size * 0.6 + size * 0.2  # (n, 2)
    width = torch.rand(n, 1, 1, generator=g) * size * 0.15 + size * 0.08  # (n, 1, 1)
    ax = torch.arange(size, dtype=torch.float32)
    d2 = ((ax.view(1, -1, 1) - centre[:, 0].view(-1, 1, 1)) ** 2
          + (ax.view(1, 1, -1) - centre[:, 1].view(-1, 1, 1)) ** 2)  # (n, size, size)
    img = 255 * torch.exp(-d2 / (2 * width ** 2))  # (n, size, size)
    return img.unsqueeze(1).expand(-1, channels, -1, -1).round().to(torch.uint8).contiguous()


def _noised(images: torch.Tensor, sigma: float, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(images.shape, generator=g) * sigma
    return (images.float() + noise).round().clamp(0, 255).to(torch.uint8)


def _features(text: str, images: torch.Tensor) -> torch.Tensor:
    return extract_features(build_extractor(parse_features(text)), images, batch_size=64)


def test_weights_are_a_pure_function_of_the_seed_and_leave_the_global_rng_alone():
    images = _images(12)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    first = build_extractor(parse_features("random-cnn"))
    assert torch.equal(torch.get_rng_state(), state)  # building draws nothing from it
    torch.manual_seed(12345)
    torch.rand(7)
    second = build_extractor(parse_features("random-cnn"))
    for (k1, v1), (k2, v2) in zip(first.state_dict().items(), second.state_dict().items()):
        assert k1 == k2 and torch.equal(v1, v2), k1
    assert torch.equal(extract_features(first, images), extract_features(second, images))
    # the same numbers on every machine: torch's CPU normal sampler, pinned
    net = RandomCNN(0)
    w = net.convs[0].weight  # (64, 3, 3, 3)
    assert w.dtype == torch.float32 and w.shape == (64, 3, 3, 3)
    assert abs(float(w.std()) - (2 / 1.04) ** 0.5 / 27 ** 0.5) < 0.03  # Kaiming, LeakyReLU(0.2)
    torch.testing.assert_close(w.flatten()[:4], torch.tensor([-0.3004644, -0.3075422, -0.0668745,
                                                              -0.1157937]), rtol=0, atol=1e-6)
    torch.testing.assert_close(net.convs[3].weight.flatten()[-2:],
                               torch.tensor([-0.0011747, 0.0253110]), rtol=0, atol=1e-6)
    assert all(float(c.bias.abs().max()) == 0 for c in net.convs)


def test_different_seeds_give_different_features_and_cache_keys(tmp_path):
    images = _images(16)
    f0, f1 = _features("random-cnn", images), _features("random-cnn:1", images)
    assert f0.shape == f1.shape == (16, 512)
    assert not torch.allclose(f0, f1)
    torch.testing.assert_close(f0, _features("random-cnn:0", images))
    e0, e1 = (build_extractor(parse_features(t)) for t in ("random-cnn", "random-cnn:1"))
    assert extractor_identity(e0) != extractor_identity(e1)
    spec0, spec1 = parse_features("random-cnn"), parse_features("random-cnn:1")
    kw = dict(dataset="synthetic", split="train", cache_dir=tmp_path)
    c0 = cached_reference_features(images, e0, spec0, **kw)
    c1 = cached_reference_features(images, e1, spec1, **kw)
    assert not c0.hit and not c1.hit and c0.path != c1.path and "random-cnn" in c0.path.name
    assert cached_reference_features(images, e0, spec0, **kw).hit


def test_the_architecture_version_is_part_of_the_cache_key(monkeypatch):
    ext = build_extractor(parse_features("random-cnn"))
    before = extractor_identity(ext)
    monkeypatch.setattr(feat_mod, "RANDOM_CNN_VERSION", "random-cnn-v999")
    assert extractor_identity(ext) != before


@pytest.mark.parametrize("channels, size", [(1, 28), (3, 28), (1, 32), (3, 32)])
def test_any_channels_and_size_give_512_features(channels, size):
    images = _images(6, channels=channels, size=size)
    f = _features("random-cnn", images)
    assert f.shape == (6, 512) and f.dtype == torch.float32 and torch.isfinite(f).all()
    assert f.std(0).mean() > 0


def test_gray_is_rgb_repeated_and_a_sample_does_not_depend_on_its_batch():
    gray = _images(8)
    torch.testing.assert_close(_features("random-cnn", gray),
                               _features("random-cnn", gray.repeat(1, 3, 1, 1)))
    ext = build_extractor(parse_features("random-cnn"))
    whole = extract_features(ext, gray, batch_size=8)
    alone = extract_features(ext, gray, batch_size=1)
    torch.testing.assert_close(whole, alone, rtol=1e-5, atol=1e-6)


def test_fid_is_zero_on_itself_and_grows_with_noise():
    images = _images(160)
    ext = build_extractor(parse_features("random-cnn"))
    ref = extract_features(ext, images)
    fids = [fid_from_features(extract_features(ext, _noised(images, s)), ref)
            for s in (8.0, 24.0, 64.0)]
    self_fid = fid_from_features(ref, ref)
    assert abs(self_fid) < 1e-3 * fids[0]
    assert 0 < fids[0] < fids[1] < fids[2], fids


def test_random_cnn_runs_in_torch_fidelity_calculate_metrics():
    import torch_fidelity

    a, b = _images(80, seed=0), _noised(_images(80, seed=2), 16.0)
    register_extractors()
    tf = torch_fidelity.calculate_metrics(input1=UInt8Images(a), input2=UInt8Images(b), fid=True,
                                          cuda=False, cache=False, verbose=False,
                                          save_cpu_ram=True, feature_extractor=RANDOM_CNN_NAME)
    ext = build_extractor(parse_features("random-cnn"))
    ours = fid_from_features(extract_features(ext, a), extract_features(ext, b))
    assert ours == pytest.approx(tf["frechet_inception_distance"], rel=1e-4)


def test_spec_names_and_parse_errors():
    spec = parse_features("random-cnn")
    assert spec == FeatureSpec("random-cnn") and spec.name == "random-cnn"
    assert parse_features("random-cnn:0").name == "random-cnn"
    seven = parse_features("random-cnn:7")
    assert seven.name == "random-cnn:7" and seven.seed == 7
    assert seven.to_dict()["features"] == "random-cnn:7" and seven.to_dict()["seed"] == 7
    json.dumps(seven.to_dict())
    for bad in ("random-cnn:x", "random-cnn:-1", "random-cnn:", "random-cnn:1.5"):
        with pytest.raises(DPKitError, match="seed"):
            parse_features(bad)
    with pytest.raises(DPKitError) as err:
        parse_features("vgg")
    for choice in ("auto", "inception", "classifier:RUN_DIR", "random-cnn"):
        assert choice in str(err.value)


def test_auto_is_random_cnn_without_inception_weights(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def no_download(*args, **kwargs):
        raise AssertionError("auto must not download")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_download)
    resolved = resolve_features("auto")
    assert resolved.spec == FeatureSpec("random-cnn")
    assert resolved.note.startswith("features auto: random-cnn")
    assert str(cached_inception_path().parent) in resolved.note
    assert "inception_weights=PATH" in resolved.note and "\n" not in resolved.note
    assert parse_features("auto") == resolved.spec
    assert resolve_features("random-cnn:3").note is None  # only auto explains itself


def test_auto_is_inception_when_its_weights_are_on_disk(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    cached = cached_inception_path()
    assert str(cached).startswith(str(tmp_path))
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"weights")  # the resolver only looks; nothing loads them here
    resolved = resolve_features("auto")
    assert resolved.spec == FeatureSpec("inception", cached)
    assert resolved.note.startswith("features auto: inception") and str(cached) in resolved.note
    cached.unlink()
    given = tmp_path / "my-inception.pth"
    given.write_bytes(b"weights")
    resolved = resolve_features("auto", inception_weights=given)
    assert resolved.spec == FeatureSpec("inception", given) and str(given) in resolved.note
    with pytest.raises(DPKitError, match="does not exist"):
        resolve_features("auto", inception_weights=tmp_path / "missing.pth")


# --- dpkit evaluate on a tiny GAN run ---------------------------------------------------------

@pytest.fixture(scope="module")
def gan_run(tmp_path_factory):
    from tiny_gan import tiny_gan_config

    from dpkit.gan import train_gan

    out = tmp_path_factory.mktemp("random-features") / "gan"
    train_gan(tiny_gan_config(epochs=1), out=out)
    return out


def test_cli_evaluate_with_random_cnn_features(gan_run, cli_runner, tmp_path):
    from dpkit.cli import cli

    res = cli_runner.invoke(cli, ["evaluate", str(gan_run), "--metric", "fid", "--features",
                                  "random-cnn", "--num-samples", "64", "--no-cache", "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["features"] == "random-cnn" and out["num_samples"] == 64
    assert out["fid"] > 0 and "features_note" not in out


def test_cli_evaluate_default_auto_falls_back_to_random_cnn_with_a_note(gan_run, cli_runner,
                                                                        monkeypatch, tmp_path):
    from dpkit.cli import cli

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    args = ["evaluate", str(gan_run), "--metric", "fid", "--num-samples", "64",
            "--cache-dir", str(tmp_path / "cache")]
    res = cli_runner.invoke(cli, args + ["--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["features"] == "random-cnn"
    note = out["features_note"]
    assert note.startswith("features auto: random-cnn") and "--inception-weights PATH" in note
    assert str(tmp_path / "empty") in note
    text = cli_runner.invoke(cli, args)
    assert text.exit_code == 0, text.output
    assert "features: random-cnn" in text.output and note in text.output
