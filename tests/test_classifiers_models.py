"""Models, public-only BatchNorm, weight standardization, and the refusal of private BatchNorm."""

from __future__ import annotations

import pytest
import torch
from opacus import GradSampleModule
from torch import nn

import dpkit.classifiers as clf
from dpkit.classifiers import (ChannelAffine, ModelConfig, PublicBatchNorm, PublicNorm, WSConv2d,
                               build_model, public_statistics)
from dpkit.data import load_dataset
from dpkit.engine import PrivacyConfig, make_private
from dpkit.errors import DPKitError, PrivacyViolation


def test_public_api_is_importable():
    for name in clf.__all__:
        assert hasattr(clf, name), name


@pytest.mark.parametrize("arch,size", [("cnn", 28), ("cnn", 32), ("mlp", 8), ("resnet", 16)])
@pytest.mark.parametrize("norm", ["none", "group", "public-bn"])
def test_models_output_and_features(arch, size, norm):
    model = build_model(ModelConfig(arch=arch, norm=norm), in_channels=3, image_size=size,
                        num_classes=7)
    x = torch.randn(5, 3, size, size)
    if norm == "public-bn":
        with public_statistics(model), torch.no_grad():
            model(torch.randn(9, 3, size, size))
    out, feats = model(x), model.features(x)
    assert out.shape == (5, 7)
    assert feats.dim() == 2 and feats.shape[0] == 5
    assert torch.allclose(model.head(feats), out)


def test_mlp_without_bias_is_positively_homogeneous():
    model = build_model(ModelConfig(arch="mlp", bias=False, hidden=(16, 16)), in_channels=1,
                        image_size=4, num_classes=2)
    assert all(p.dim() == 2 for p in model.parameters())
    x = torch.randn(3, 1, 4, 4)
    for p in model.parameters():
        p.data.mul_(2.0)  # 3 layers: output scales by 2^3
    scaled = model(x)
    for p in model.parameters():
        p.data.div_(2.0)
    assert torch.allclose(scaled, 8 * model(x), atol=1e-5)


def test_private_batchnorm_is_refused():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    data = load_dataset("digits").train
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(PrivacyViolation, match="public-bn"):
        make_private(model, opt, data, PrivacyConfig(noise_multiplier=1.0), batch_size=32, epochs=1)


def test_public_bn_is_not_a_batchnorm_and_is_accepted(digits):
    model = build_model(ModelConfig(arch="cnn", norm="public-bn"), in_channels=1, image_size=16,
                        num_classes=10)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules())
    assert any(isinstance(m, PublicBatchNorm) for m in model.modules())
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    make_private(model, opt, digits.train, PrivacyConfig(noise_multiplier=1.0), batch_size=32,
                 epochs=1)


def test_public_norm_needs_public_statistics_in_training():
    layer = PublicNorm(3)
    with pytest.raises(DPKitError, match="public"):
        layer(torch.randn(4, 3, 2, 2))


def test_public_norm_uses_only_public_statistics():
    layer = PublicNorm(2)
    public = torch.randn(50, 2, 3, 3) * 3 + 1
    with public_statistics(layer):
        layer(public)
    private = torch.randn(4, 2, 3, 3)
    out = layer(private)
    mean = public.mean(dim=(0, 2, 3)).view(1, 2, 1, 1)
    var = public.var(dim=(0, 2, 3), unbiased=False).view(1, 2, 1, 1)
    assert torch.allclose(out, (private - mean) / torch.sqrt(var + 1e-5), atol=1e-5)
    before = layer.public_mean.clone()
    layer(torch.randn(4, 2, 3, 3) * 100)  # private batches never move the statistics
    assert torch.equal(layer.public_mean, before)


def _per_sample_grads(gsm: GradSampleModule, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    gsm.zero_grad(set_to_none=True)
    for p in gsm.parameters():
        p.grad_sample = None
    nn.functional.cross_entropy(gsm(x), y).backward()
    return torch.cat([p.grad_sample.flatten(1) for p in gsm.parameters()], dim=1)  # (B, P)


def test_public_bn_per_example_gradients_are_independent():
    torch.manual_seed(0)
    model = build_model(ModelConfig(arch="cnn", norm="public-bn"), in_channels=1, image_size=16,
                        num_classes=3)
    with public_statistics(model), torch.no_grad():
        model(torch.randn(32, 1, 16, 16))
    gsm = GradSampleModule(model)
    x, y = torch.randn(6, 1, 16, 16), torch.tensor([0, 1, 2, 0, 1, 2])
    g1 = _per_sample_grads(gsm, x, y)
    x2 = x.clone()
    x2[3] = torch.randn(1, 16, 16) * 5  # change one private example
    g2 = _per_sample_grads(gsm, x2, y)
    keep = [0, 1, 2, 4, 5]
    assert torch.allclose(g1[keep], g2[keep], atol=1e-6)
    assert not torch.allclose(g1[3], g2[3])
    # naive reference: example 0 alone through the plain model (Opacus undoes the 1/B of the mean)
    model.zero_grad(set_to_none=True)
    for p in model.parameters():
        p.grad_sample = None
    gsm.disable_hooks()
    nn.functional.cross_entropy(model(x[:1]), y[:1]).backward()
    single = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert torch.allclose(g1[0], single, atol=1e-5)


def test_channel_affine_grad_sampler_matches_microbatches():
    layer = nn.Sequential(ChannelAffine(3))
    with torch.no_grad():
        layer[0].weight.uniform_(0.5, 2)
        layer[0].bias.uniform_(-1, 1)
    gsm = GradSampleModule(layer, loss_reduction="sum")
    x = torch.randn(4, 3, 2, 2)
    (gsm(x) ** 2).sum().backward()
    for i in range(4):
        ref = nn.Sequential(ChannelAffine(3))
        ref.load_state_dict(layer.state_dict())
        (ref(x[i:i + 1]) ** 2).sum().backward()
        assert torch.allclose(layer[0].weight.grad_sample[i], ref[0].weight.grad, atol=1e-5)
        assert torch.allclose(layer[0].bias.grad_sample[i], ref[0].bias.grad, atol=1e-5)


def test_weight_standardization():
    conv = WSConv2d(2, 4, 3)
    x = torch.randn(2, 2, 5, 5)
    w = conv.weight
    ws = (w - w.mean((1, 2, 3), keepdim=True)) / torch.sqrt(w.var((1, 2, 3), keepdim=True, unbiased=False) + 1e-5)
    assert torch.allclose(conv(x), nn.functional.conv2d(x, ws, conv.bias), atol=1e-5)
    cfg = ModelConfig(arch="resnet", norm="group", weight_standardization=True)
    model = build_model(cfg, in_channels=1, image_size=16, num_classes=2)
    assert all(isinstance(m, WSConv2d) for m in model.modules() if isinstance(m, nn.Conv2d))


def test_model_config_errors():
    with pytest.raises(DPKitError, match="unknown"):
        ModelConfig(arch="vit")
    with pytest.raises(DPKitError, match="image_size=28"):
        build_model(ModelConfig(arch="cnn"), in_channels=1, image_size=8, num_classes=10)
    assert ModelConfig.from_dict(ModelConfig(hidden=(3, 4)).to_dict()) == ModelConfig(hidden=(3, 4))
