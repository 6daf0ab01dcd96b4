"""End to end: `dpkit train-classifier --init-scale` then `dpkit attack reconstruct --method kkt`.

Haim et al. 2022 (arXiv:2206.07758) reconstruct training images of a homogeneous ReLU MLP that
was trained from a small initialisation; ``--init-scale 0.01`` gives the CLI's target one. On
these tiny 8x8 digits an SSIM above 0.4 shows a digit-shaped candidate of the right kind, not
necessarily a particular training image (BENCHMARKS.md compares with never-seen digits); the
test checks the pipeline end to end and that the small init makes the search work far better.
"""

from __future__ import annotations

import json

import pytest
import torch

from dpkit.classifiers import ModelConfig, build_model, load_classifier
from dpkit.cli import cli
from dpkit.errors import DPKitError


def _run(runner, args):
    res = runner.invoke(cli, args)
    assert res.exit_code == 0, res.output
    return res


def test_init_scale_multiplies_the_default_initialisation():
    cfg = ModelConfig(arch="mlp", bias=False, hidden=(16, 16))
    torch.manual_seed(0)
    ref = build_model(cfg, in_channels=1, image_size=8, num_classes=2)
    torch.manual_seed(0)
    small = build_model(ModelConfig(arch="mlp", bias=False, hidden=(16, 16), init_scale=0.01),
                        in_channels=1, image_size=8, num_classes=2)
    for p, q in zip(ref.parameters(), small.parameters()):
        assert torch.allclose(q, 0.01 * p)
    assert ModelConfig.from_dict(ModelConfig(init_scale=0.5).to_dict()).init_scale == 0.5
    assert ModelConfig.from_dict({"arch": "mlp"}).init_scale == 1.0  # runs written before
    with pytest.raises(DPKitError, match="init_scale=0.0"):
        ModelConfig(init_scale=0.0)


def _train_and_attack(runner, run, init_scale: str) -> dict:
    _run(runner, ["train-classifier", "--dataset", "digits", "--image-size", "8",
                  "--model", "mlp", "--no-bias", "--hidden", "64,64", "--classes", "0,1",
                  "--subset", "10", "--init-scale", init_scale, "--lr", "0.5", "--momentum", "0",
                  "--batch-size", "2", "--epochs", "200", "--eval-every", "200", "--no-dp",
                  "--quiet", "--out", str(run)])
    res = _run(runner, ["attack", "reconstruct", str(run), "--method", "kkt",
                        "--candidates", "10", "--iterations", "500", "--json"])
    return json.loads(res.output)


@pytest.mark.slow
def test_kkt_reconstructs_images_of_a_small_init_cli_target(cli_runner, tmp_path):
    small = _train_and_attack(cli_runner, tmp_path / "small", "0.01")
    config = json.loads((tmp_path / "small" / "config.json").read_text())
    assert config["model"]["init_scale"] == 0.01
    assert load_classifier(tmp_path / "small").config["model"]["init_scale"] == 0.01
    assert small["num_reconstructed"] == 20
    assert small["num_good"] >= 5 and max(small["ssim"]) > 0.65  # measured: 14, 0.745
    # the same target from PyTorch's default initialisation leaks less (measured: mean SSIM
    # 0.394 and best 0.625, against 0.456 and 0.745; SSIM on images mapped to [0, 1])
    default = _train_and_attack(cli_runner, tmp_path / "default", "1")
    assert small["mean_ssim"] > default["mean_ssim"] + 0.03
    assert max(small["ssim"]) > max(default["ssim"]) + 0.05
