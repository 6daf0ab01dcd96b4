"""``evaluate_gan_run(device=...)`` loads the generator on that device and generates there.

Without a GPU every tensor lives on the CPU, so a device mismatch cannot show up as an error.
Spies record instead which device ``load_gan``, ``generate`` and the feature extractor were
asked for, and a forward pre-hook on the loaded generator checks that its input latents sit on
the device of its parameters. With CUDA available the same test also runs on ``cuda``, where the
hook compares real devices.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from click.testing import CliRunner
from torch import nn

import dpkit.evaluation.generative as gan_evaluation
import dpkit.gan
import dpkit.metrics.generative as generative
from dpkit.cli import cli
from dpkit.evaluation import evaluate_gan_run
from dpkit.metrics import FeatureSpec, GenerativeEvalConfig
from dpkit.metrics.features import ModuleFeatureExtractor

NOT_PASSED = "(not passed)"
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class TinyFeatures(nn.Module):
    """A fixed random conv net with ``features`` (B, 1, 8, 8) float -> (B, 32)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 3, padding=1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.adaptive_avg_pool2d(torch.tanh(self.conv(x)), 2).flatten(1)


@pytest.fixture(scope="module")
def gan_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gan") / "run"
    res = CliRunner().invoke(cli, [
        "train-gan", "--dataset", "digits", "--image-size", "28", "--subset", "64", "--epochs", "1",
        "--batch-size", "32", "--latent-dim", "8", "--g-width", "8", "--d-width", "8", "--no-dp",
        "--quiet", "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


@pytest.mark.parametrize("device", DEVICES)
def test_generator_and_latents_are_on_the_requested_device(gan_run, monkeypatch, device):
    calls: dict[str, list] = {"load_gan": [], "generate": [], "extractor": [], "forward": []}
    real_load_gan, real_generate = dpkit.gan.load_gan, dpkit.gan.generate

    def check_forward(module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        param = next(module.parameters())  # inputs: latents, and labels when conditional
        for z in inputs:
            assert z.device == param.device, f"input on {z.device}, generator on {param.device}"
        calls["forward"].append(param.device)

    def spy_load_gan(run_dir, **kwargs):
        calls["load_gan"].append(kwargs.get("device", NOT_PASSED))
        gan = real_load_gan(run_dir, **kwargs)
        gan.generator.register_forward_pre_hook(check_forward)
        return gan

    def spy_generate(generator, n, **kwargs):
        calls["generate"].append(kwargs.get("device", NOT_PASSED))
        return real_generate(generator, n, **kwargs)

    def tiny_extractor(spec, *, device="cpu"):
        calls["extractor"].append(device)
        ext = ModuleFeatureExtractor("tiny", ["features"], module=TinyFeatures(), channels=1,
                                     image_size=8)
        return ext.to(torch.device(device))

    for module in (dpkit.gan, gan_evaluation):  # wherever evaluate_gan_run looks the names up
        monkeypatch.setattr(module, "load_gan", spy_load_gan, raising=False)
        monkeypatch.setattr(module, "generate", spy_generate, raising=False)
    monkeypatch.setattr(generative, "build_extractor", tiny_extractor)
    cfg = GenerativeEvalConfig(metrics=("fid",), num_samples=40, batch_size=16, use_cache=False)
    res = evaluate_gan_run(gan_run, FeatureSpec("classifier", Path("tiny")), cfg, device=device)

    assert calls["load_gan"] == [device]  # the generator is loaded where it will run
    assert calls["generate"] == [device]  # ... and the latents are sent to the same device
    assert calls["extractor"] == [device]
    assert len(calls["forward"]) == 3  # ceil(40 / 16) batches, each checked by the hook
    assert all(d.type == torch.device(device).type for d in calls["forward"])
    assert res.num_samples == 40 and res.fid is not None and res.fid >= 0
