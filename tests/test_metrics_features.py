"""Feature extractors, the reference cache and the image-level pipeline, against torch-fidelity
and torchmetrics on the same custom features."""

from __future__ import annotations

import urllib.error

import pytest
import torch
from torch import nn

import dpkit.metrics.features as feat_mod
from dpkit.errors import DPKitError
from dpkit.metrics import (GenerativeEvalConfig, build_extractor, evaluate_images,
                           extract_features, fid_from_features, parse_features,
                           cached_reference_features)
from dpkit.metrics.features import (CLASSIFIER_NAME, ModuleFeatureExtractor, UInt8Images,
                                    register_extractors)


class TinyNet(nn.Module):
    """A fixed random conv net with ``features`` (B, 1, 8, 8) float -> (B, 32)."""

    def __init__(self) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.conv = nn.Conv2d(1, 8, 3, padding=1)
        with torch.no_grad():
            self.conv.weight.copy_(torch.randn(self.conv.weight.shape, generator=g) * 0.5)
            self.conv.bias.zero_()

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(torch.tanh(self.conv(x)), 2).flatten(1)


def _tiny_extractor(name: str = "tiny") -> ModuleFeatureExtractor:
    return ModuleFeatureExtractor(name, ["features"], module=TinyNet(), channels=1, image_size=8)


@pytest.fixture(scope="module")
def digit_images():
    from dpkit.data import load_dataset

    b = load_dataset("digits")
    return b.train.images, b.test.images  # uint8 (1500, 1, 8, 8), (297, 1, 8, 8)


@pytest.fixture(scope="module")
def classifier_run(tmp_path_factory):
    from dpkit.classifiers import ClassifierConfig, ModelConfig, train_classifier
    from dpkit.data import DataOptions

    out = tmp_path_factory.mktemp("clf") / "run"
    cfg = ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(32,)), epochs=1, batch_size=128,
                           robust_eval_size=0)
    train_classifier(cfg, dataset="digits", data=DataOptions(), out=out)
    return out


def test_module_extractor_converts_uint8_channels_and_size():
    ext = _tiny_extractor()
    gray = torch.randint(0, 256, (4, 1, 8, 8), dtype=torch.uint8)
    (f,) = ext(gray)
    assert f.shape == (4, 32)
    expected = ext.module.features(gray.float() / 127.5 - 1)
    torch.testing.assert_close(f, expected)
    (g,) = ext(gray.repeat(1, 3, 1, 1))  # equal RGB channels -> the same luma image
    torch.testing.assert_close(f, g)
    big = gray.repeat_interleave(4, -1).repeat_interleave(4, -2)  # (4, 1, 32, 32) -> 8x8
    (h,) = ext(big)
    assert h.shape == (4, 32) and torch.corrcoef(torch.stack([f.flatten(), h.flatten()]))[0, 1] > 0.9
    with pytest.raises(ValueError, match="uint8"):
        ext(gray.float())
    with pytest.raises(DPKitError, match="features"):
        ModuleFeatureExtractor("x", ["features"], module=nn.Linear(2, 2), channels=1, image_size=8)


def test_fid_equals_torch_fidelity_and_torchmetrics_on_custom_features(digit_images):
    """Same extractor, same images: dpkit vs torch_fidelity.calculate_metrics vs torchmetrics.

    Tolerance: 1e-5 relative to torch-fidelity (same float32 features and formula; dpkit takes
    the mean in float64, torch-fidelity in float32);
    1e-3 relative to torchmetrics (it accumulates float64 sums of float32 features and takes
    the matrix square root with its own eigen solver).
    """
    import torch_fidelity
    from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY, register_feature_extractor
    from torchmetrics.image.fid import FrechetInceptionDistance

    train, test = digit_images
    gen, ref = train[:600], test
    ext = _tiny_extractor()
    ours = fid_from_features(extract_features(ext, gen), extract_features(ext, ref))

    class Tiny(ModuleFeatureExtractor):
        def __init__(self, name, features_list, **kwargs):
            super().__init__(name, features_list, module=TinyNet(), channels=1, image_size=8)

    if "dpkit-test-tiny" not in FEATURE_EXTRACTORS_REGISTRY:
        register_feature_extractor("dpkit-test-tiny", Tiny)
    tf = torch_fidelity.calculate_metrics(input1=UInt8Images(gen), input2=UInt8Images(ref),
                                          fid=True, kid=True, prc=True, cuda=False, cache=False,
                                          feature_extractor="dpkit-test-tiny", verbose=False,
                                          save_cpu_ram=True, kid_subset_size=200, kid_subsets=10)
    assert ours == pytest.approx(tf["frechet_inception_distance"], rel=1e-5)

    class TMWrapper(nn.Module):
        num_features = 32

        def __init__(self) -> None:
            super().__init__()
            self.ext = _tiny_extractor("tm")

        def forward(self, x):
            return self.ext(x)[0]

    tm = FrechetInceptionDistance(feature=TMWrapper(), normalize=False)
    tm.update(ref, real=True)
    tm.update(gen, real=False)
    assert ours == pytest.approx(float(tm.compute()), rel=1e-3)

    # KID and PRC through dpkit's pipeline equal calculate_metrics' on the same features
    cfg = GenerativeEvalConfig(metrics=("kid", "prc"), kid_subsets=10, kid_subset_size=200,
                               seed=2020, use_cache=False)
    spec = feat_mod.FeatureSpec("classifier", __import__("pathlib").Path("tiny"))
    res = evaluate_images(gen, ref, None, spec, cfg, extractor=ext)
    assert res.kid_mean == pytest.approx(tf["kernel_inception_distance_mean"], rel=1e-6)
    assert res.precision == pytest.approx(tf["precision"]) and res.recall == pytest.approx(tf["recall"])


def test_mifid_pipeline_flags_copied_training_images(digit_images, tmp_path):
    train, test = digit_images
    ext = _tiny_extractor()
    spec = feat_mod.FeatureSpec("classifier", tmp_path / "tiny")
    cfg = GenerativeEvalConfig(metrics=("fid", "mifid"), cache_dir=str(tmp_path / "cache"))
    noise = torch.randint(-2, 3, train[:500].shape)
    copies = (train[:500].int() + noise).clamp(0, 255).to(torch.uint8)
    mem = evaluate_images(copies, train, train, spec, cfg, dataset="digits", extractor=ext,
                          heldout=test)
    # auto threshold: 0.9 x the held-out (test) images' distance to the training set
    assert mem.mifid_threshold == pytest.approx(0.9 * mem.heldout_memorization_distance)
    assert mem.mifid_threshold_rule.startswith("auto: 0.9 x held-out")
    assert mem.memorization_distance < mem.mifid_threshold and mem.mifid > 10 * mem.fid
    assert mem.features == f"classifier:{tmp_path / 'tiny'}"
    fresh = evaluate_images(test, train, train, spec, cfg, dataset="digits", extractor=ext,
                            heldout=test)
    assert fresh.memorization_distance > 100 * mem.memorization_distance
    assert fresh.memorization_distance > fresh.mifid_threshold  # real held-out data: not flagged
    assert fresh.memorization_distance_thresholded == 1.0
    assert fresh.mifid == pytest.approx(fresh.fid)
    with pytest.raises(DPKitError, match="needs held-out real images"):
        evaluate_images(copies, train, train, spec, cfg, dataset="digits", extractor=ext)


def test_reference_cache_hits_and_keys_on_images_and_weights(digit_images, tmp_path):
    train, _ = digit_images
    ext = _tiny_extractor()
    spec = feat_mod.FeatureSpec("classifier", tmp_path)
    kw = dict(dataset="digits", split="train", cache_dir=tmp_path)
    first = cached_reference_features(train, ext, spec, **kw)
    second = cached_reference_features(train, ext, spec, **kw)
    assert not first.hit and second.hit and first.path == second.path
    torch.testing.assert_close(first.features, second.features)
    other = cached_reference_features(train[:100], ext, spec, **kw)
    assert not other.hit and other.path != first.path
    with torch.no_grad():
        ext.module.conv.bias.add_(0.1)
    changed = cached_reference_features(train, ext, spec, **kw)
    assert not changed.hit and changed.path != first.path


def test_classifier_run_dir_extractor(classifier_run, digit_images):
    import torch_fidelity

    spec = parse_features(f"classifier:{classifier_run}")
    assert spec.name == f"classifier:{classifier_run}"
    ext = build_extractor(spec)
    train, test = digit_images
    f = extract_features(ext, test)
    assert f.shape == (297, 32) and torch.isfinite(f).all()
    register_extractors()
    tf = torch_fidelity.calculate_metrics(input1=UInt8Images(train[:400]), input2=UInt8Images(test),
                                          fid=True, cuda=False, cache=False, verbose=False,
                                          feature_extractor=CLASSIFIER_NAME, save_cpu_ram=True,
                                          feature_extractor_weights_path=str(classifier_run))
    ours = fid_from_features(extract_features(ext, train[:400]), f)
    assert ours == pytest.approx(tf["frechet_inception_distance"], rel=1e-5)


def test_bad_feature_specs(tmp_path):
    with pytest.raises(DPKitError, match="inception"):
        parse_features("vgg")
    with pytest.raises(DPKitError, match="not a dpkit run directory"):
        parse_features(f"classifier:{tmp_path}")


def _offline(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)


def test_missing_inception_weights_offline_is_one_clear_line(monkeypatch, tmp_path):
    _offline(monkeypatch, tmp_path)
    with pytest.raises(DPKitError) as err:
        parse_features("inception")
    msg = str(err.value)
    assert "\n" not in msg and "inception_weights=PATH" in msg and "https://" in msg
    with pytest.raises(DPKitError, match="does not exist"):
        parse_features("inception", inception_weights=tmp_path / "nope.pth")


def test_inception_weights_from_a_path(monkeypatch, tmp_path):
    """A randomly initialised state dict with torch-fidelity's keys loads from --inception-weights."""
    import torch_fidelity.feature_extractor_inceptionv3 as tf_inc

    class Blank(tf_inc.FeatureExtractorInceptionV3):
        def load_state_dict(self, state_dict, *args, **kwargs):
            return None if state_dict is None else super().load_state_dict(state_dict)

    monkeypatch.setattr(tf_inc, "load_state_dict_from_url", lambda *a, **k: None)
    torch.manual_seed(0)
    weights = tmp_path / "inception.pth"
    torch.save(Blank("blank", ["2048"]).state_dict(), weights)
    _offline(monkeypatch, tmp_path)
    spec = parse_features("inception", inception_weights=weights)
    assert spec.name == "inception" and spec.source == weights
    ext = build_extractor(spec)
    imgs = torch.randint(0, 256, (2, 1, 8, 8), dtype=torch.uint8)  # grayscale: repeated to RGB
    f = extract_features(ext, imgs, batch_size=2)
    assert f.shape == (2, 2048) and torch.isfinite(f).all()
    bad = tmp_path / "bad.pth"
    torch.save({"fc.weight": torch.zeros(3)}, bad)
    with pytest.raises(DPKitError, match="does not hold inception weights"):
        build_extractor(parse_features("inception", inception_weights=bad))
    text = tmp_path / "notes.pth"
    text.write_text("not a checkpoint")
    with pytest.raises(DPKitError, match="does not hold inception weights"):
        build_extractor(parse_features("inception", inception_weights=text))


def test_feature_progress_bar_changes_nothing(monkeypatch, capsys):
    """The extraction's bar (off with quiet) changes neither the features nor the global RNG."""
    import sys

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)  # draw the bar
    ext = _tiny_extractor("tiny-progress")
    imgs = torch.randint(0, 256, (10, 1, 8, 8), dtype=torch.uint8,
                         generator=torch.Generator().manual_seed(1))
    runs = {}
    for quiet in (True, False):
        torch.manual_seed(0)
        runs[quiet] = extract_features(ext, imgs, batch_size=3, quiet=quiet), torch.get_rng_state()
        assert ("features" in capsys.readouterr().err) is not quiet
    assert runs[True][0].shape == (10, 32)
    assert torch.equal(runs[True][0], runs[False][0])
    assert torch.equal(runs[True][1], runs[False][1])
