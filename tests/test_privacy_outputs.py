"""What the trainers publish and print about privacy: invalid epsilons marked everywhere, private
values labelled, final.pt holding weights only, secure-mode resume, and the threat-model note."""

from __future__ import annotations

import json

import pytest
import torch

from dpkit.cli import cli
from dpkit.commands.options import REPRODUCIBLE_NOISE_NOTICE
from dpkit.engine import NOT_COVERED_KEY

CLF = ["train-classifier", "--model", "mlp", "--hidden", "16", "--image-size", "16",
       "--subset", "200", "--batch-size", "50", "--delta", "1e-3", "--quiet"]
GAN = ["train-gan", "--dataset", "digits", "--image-size", "28", "--subset", "64", "--epochs", "1",
       "--batch-size", "16", "--latent-dim", "8", "--g-width", "8", "--d-width", "8",
       "--delta", "1e-3", "--quiet"]


def _ok(runner, args):
    res = runner.invoke(cli, args, catch_exceptions=False)
    assert res.exit_code == 0, res.output
    return res


def _records(run):
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def test_no_poisson_epsilon_is_marked_invalid_in_every_output(cli_runner, tmp_path):
    args = CLF + ["--epochs", "1", "--noise-multiplier", "1", "--no-poisson"]
    text = _ok(cli_runner, args + ["--out", str(tmp_path / "t")]).output
    assert "NOT a DP guarantee" in text
    payload = json.loads(_ok(cli_runner, args + ["--out", str(tmp_path / "j"), "--json"]).output)
    assert payload["epsilon_valid"] is False
    for name in ("result.json", "privacy.json"):
        assert json.loads((tmp_path / "j" / name).read_text())["epsilon_valid"] is False
    gan = _ok(cli_runner, GAN + ["--noise-multiplier", "1", "--no-poisson", "--out",
                                 str(tmp_path / "g"), "--json"]).output
    assert json.loads(gan)["epsilon_valid"] is False
    poisson = json.loads(_ok(cli_runner, CLF + ["--epochs", "1", "--noise-multiplier", "1",
                                                "--out", str(tmp_path / "p"), "--json"]).output)
    assert poisson["epsilon_valid"] is True


def test_private_values_are_labelled_and_final_pt_is_weights_only(cli_runner, tmp_path):
    out = tmp_path / "c"
    text = _ok(cli_runner, CLF + ["--epochs", "2", "--noise-multiplier", "1", "--out",
                                  str(out)]).output
    assert REPRODUCIBLE_NOISE_NOTICE in text and text.count("reproducible") == 1
    assert all(r[NOT_COVERED_KEY] == ["loss"] for r in _records(out))
    final = torch.load(out / "final.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in final.values())  # a state dict, nothing else
    gan = tmp_path / "g"
    text = _ok(cli_runner, GAN + ["--noise-multiplier", "1", "--out", str(gan)]).output
    assert REPRODUCIBLE_NOISE_NOTICE in text and "final.pt" in text
    assert all(set(r[NOT_COVERED_KEY]) == {"d_loss_real", "d_real"} for r in _records(gan))
    final = torch.load(gan / "final.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in final.values())
    assert not any(k.startswith(("discriminator", "optimizer", "setup")) for k in final)


def test_secure_mode_resume_keeps_epsilon_exact_with_fresh_noise(cli_runner, tmp_path):
    args = CLF + ["--noise-multiplier", "1", "--secure-mode", "--json"]
    full = json.loads(_ok(cli_runner, args + ["--epochs", "2", "--out", str(tmp_path / "a")]).output)
    assert full["noise_reproducible"] is False
    text = _ok(cli_runner, CLF + ["--epochs", "1", "--noise-multiplier", "1", "--secure-mode",
                                  "--out", str(tmp_path / "x")]).output
    assert REPRODUCIBLE_NOISE_NOTICE not in text
    # an interrupted run: epoch 1's checkpoint in a directory whose config asks for 2 epochs
    one = tmp_path / "one"
    _ok(cli_runner, args + ["--epochs", "1", "--out", str(one)])
    state = torch.load(one / "checkpoint.pt", weights_only=False)
    assert state["setups"]["setup"]["noise_generator"] is None
    assert state["setups"]["setup"]["sampler_generator"] is None
    run = tmp_path / "b"
    _ok(cli_runner, args + ["--epochs", "2", "--out", str(run)])
    torch.save(state, run / "checkpoint.pt")
    (run / "final.pt").unlink()
    resumed = json.loads(_ok(cli_runner, ["train-classifier", "--resume", str(run), "--quiet",
                                          "--json"]).output)
    assert resumed["epsilon"] == full["epsilon"]  # the accountant's history is exact
    privacy = json.loads((run / "privacy.json").read_text())
    assert privacy["steps"] == 2 * (200 // 50)


def test_gdp_is_refused_by_the_trainers(cli_runner, tmp_path):
    res = cli_runner.invoke(cli, CLF + ["--epochs", "1", "--epsilon", "3", "--accountant", "gdp",
                                        "--out", str(tmp_path / "x")])
    assert res.exit_code == 2 and "gdp" in res.output and "Traceback" not in res.output


@pytest.mark.parametrize("clip_fake", ["--clip-fake", "--no-clip-fake"])
def test_functorch_gan_takes_noisy_steps_on_empty_batches(cli_runner, tmp_path, clip_fake):
    # B = 1 of N = 64: about a third of the Poisson batches are empty
    out = tmp_path / "g"
    args = [a if a != "16" else "1" for a in GAN]
    payload = json.loads(_ok(cli_runner, args + ["--noise-multiplier", "1", "--grad-sample-mode",
                                                 "functorch", clip_fake, "--out", str(out),
                                                 "--json"]).output)
    assert payload["steps"] == 64
    assert json.loads((out / "privacy.json").read_text())["steps"] == 64


def test_resume_refuses_options_it_would_ignore(cli_runner, tmp_path):
    out = tmp_path / "c"
    _ok(cli_runner, CLF + ["--epochs", "1", "--noise-multiplier", "1", "--out", str(out)])
    res = cli_runner.invoke(cli, ["train-classifier", "--resume", str(out), "--epochs", "6",
                                  "--lr", "5"])
    assert res.exit_code == 2 and "--epochs" in res.output and "--lr" in res.output
    gan = tmp_path / "g"
    _ok(cli_runner, GAN + ["--noise-multiplier", "1", "--out", str(gan)])
    res = cli_runner.invoke(cli, ["train-gan", "--resume", str(gan), "--lr-d", "1"])
    assert res.exit_code == 2 and "--lr-d" in res.output
