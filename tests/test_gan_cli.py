"""`dpkit train-gan` and `dpkit sample` from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dpkit.cli import cli

TINY = ["--dataset", "digits", "--image-size", "28", "--subset", "200", "--epochs", "1",
        "--batch-size", "40", "--latent-dim", "8", "--g-width", "8", "--d-width", "8"]


def test_train_gan_json_then_sample_then_resume(cli_runner, tmp_path):
    run = tmp_path / "run"
    res = cli_runner.invoke(cli, ["train-gan", *TINY, "--noise-multiplier", "1.2",
                                  "--out", str(run), "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert set(out) == {"run_dir", "epsilon", "epsilon_valid", "delta", "noise_multiplier",
                        "epochs", "steps", "train_size", "noise_reproducible", "world_size"}
    assert out["world_size"] == 1 and json.loads((run / "config.json").read_text())["world_size"] == 1
    assert out["epsilon_valid"] is True and out["noise_reproducible"] is True
    assert out["steps"] == 5 and out["train_size"] == 200 and out["noise_multiplier"] == 1.2
    assert 0 < out["epsilon"] < 100 and (run / "samples" / "epoch_001.png").is_file()

    res = cli_runner.invoke(cli, ["sample", str(run), "--n", "12", "--format", "npz", "--out",
                                  str(tmp_path / "npz"), "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.output)
    assert info["shape"] == [1, 28, 28]
    assert np.load(info["path"])["images"].shape == (12, 1, 28, 28)

    res = cli_runner.invoke(cli, ["sample", str(run), "--n", "3", "--out", str(tmp_path / "png")])
    assert res.exit_code == 0, res.output
    assert len(list((tmp_path / "png" / "images").glob("*.png"))) == 3

    res = cli_runner.invoke(cli, ["train-gan", "--resume", str(run), "--epochs", "2", "--json"])
    assert res.exit_code == 0, res.output
    resumed = json.loads(res.output)
    assert resumed["steps"] == 10 and resumed["epsilon"] > out["epsilon"]
    assert json.loads((run / "config.json").read_text())["training"]["epochs"] == 2


SIGMA = ["--noise-multiplier", "1.0"]
BAD = [  # (extra arguments, privacy arguments, expected text)
    (["--betas", "0.5"], SIGMA, "--betas"),
    (["--betas", "0.5,2"], SIGMA, "--betas"),
    (["--image-size", "48"], SIGMA, "--image-size 28, 32, 64"),
    (["--grad-sample-mode", "ghost", "--no-clip-fake"], SIGMA, "ghost"),
    (["--no-dp"], ["--epsilon", "3"], "--no-dp"),
    ([], [], "exactly one"),
    (["--channels", "1", "--rgb"], SIGMA, "--channels"),
    (["--delta", "0.1"], SIGMA, "1/N"),
]


@pytest.mark.parametrize("extra,privacy,needle", BAD)
def test_bad_input_is_one_line_exit_2(cli_runner, tmp_path, extra, privacy, needle):
    res = cli_runner.invoke(cli, ["train-gan", *TINY, *privacy, *extra,
                                  "--out", str(tmp_path / "r")])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error:") and needle in lines[0], res.output
    assert not (tmp_path / "r" / "checkpoint.pt").exists()


def test_resume_cannot_stretch_a_calibrated_epsilon(cli_runner, tmp_path):
    run = tmp_path / "run"
    res = cli_runner.invoke(cli, ["train-gan", *TINY, "--epsilon", "5", "--out", str(run)])
    assert res.exit_code == 0, res.output
    res = cli_runner.invoke(cli, ["train-gan", "--resume", str(run), "--epochs", "3"])
    assert res.exit_code == 2 and "calibrated" in res.output
    assert len(res.output.strip().splitlines()) == 1


def test_refuses_non_empty_out_and_missing_runs(cli_runner, tmp_path):
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    for args in (["train-gan", *TINY, "--no-dp", "--out", str(tmp_path / "busy")],
                 ["train-gan", "--resume", str(tmp_path / "nope")],
                 ["sample", str(tmp_path / "nope"), "--n", "2"]):
        res = cli_runner.invoke(cli, args)
        assert res.exit_code == 2, res.output
        assert len(res.output.strip().splitlines()) == 1 and res.output.startswith("Error:")


def test_save_every_saves_grids_checkpoints_and_epsilon_every_n_epochs(cli_runner, tmp_path):
    """--save-every 2 over 5 epochs: grids, checkpoints and ε at epochs 2, 4 and 5 (the last);
    saving less changes nothing else (same weights as saving every epoch: no randomness is
    used by saving), and a resume continues from the last saved epoch."""
    runs = {}
    for every in (1, 2):
        run = tmp_path / f"every{every}"
        res = cli_runner.invoke(cli, ["train-gan", *TINY, "--noise-multiplier", "1.0",
                                      "--epochs", "5", "--save-every", str(every),
                                      "--out", str(run), "--json"])
        assert res.exit_code == 0, res.output
        runs[every] = run
    run = runs[2]
    assert sorted(p.name for p in (run / "samples").glob("*.png")) == [
        "epoch_002.png", "epoch_004.png", "epoch_005.png"]
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epsilon"] is None for r in records] == [True, False, True, False, False]
    full = [json.loads(line) for line in (runs[1] / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["epsilon"] == full[-1]["epsilon"]
    assert json.loads((run / "config.json").read_text())["training"]["save_every"] == 2
    a, b = (torch.load(r / "final.pt", weights_only=True) for r in (runs[1], runs[2]))
    assert all(torch.equal(a[k], b[k]) for k in a)
    res = cli_runner.invoke(cli, ["train-gan", "--resume", str(run), "--epochs", "7", "--json"])
    assert res.exit_code == 0, res.output
    assert "epoch_007.png" in {p.name for p in (run / "samples").glob("*.png")}
    assert "epoch_006.png" in {p.name for p in (run / "samples").glob("*.png")}
