"""The one run lifecycle: contract constants, versioned config, kind checks, one metrics schema."""

from __future__ import annotations

import json

import pytest
import torch

from dpkit.classifiers import ClassifierConfig, ModelConfig, fit_classifier
from dpkit.data import DataOptions, load_dataset
from dpkit.engine import (FORMAT_VERSION, NOT_COVERED_KEY, PrivacyConfig, PrivacyReport,
                          create_run_dir, open_run_dir, record_evaluation, resume_run, start_run)
from dpkit.errors import DPKitError
from dpkit.gan import GANConfig, fit_gan

SCHEMA = {"epoch", "steps", "epsilon", "seconds", NOT_COVERED_KEY}


@pytest.fixture(scope="module")
def digits28():
    return load_dataset("digits", DataOptions(image_size=28, subset=128))


def test_both_trainers_write_one_metrics_schema(digits28):
    privacy = PrivacyConfig(noise_multiplier=1.0, delta=1e-3)
    clf = fit_classifier(ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(8,)),
                                          privacy=privacy, epochs=1, batch_size=32),
                         digits28.train, test=digits28.test, num_classes=10)
    gan = fit_gan(GANConfig(privacy=privacy, epochs=1, batch_size=32, latent_dim=8, g_width=8,
                            d_width=8), digits28.train)
    for record in (clf.history[0], gan.history[0]):
        assert SCHEMA <= set(record) and record["steps"] == 4
    assert clf.history[0][NOT_COVERED_KEY] == ["loss"]
    nodp = fit_classifier(ClassifierConfig(model=ModelConfig(arch="mlp", hidden=(8,)), epochs=2,
                                           batch_size=32), digits28.train, num_classes=10)
    assert [r["steps"] for r in nodp.history] == [4, 8]  # counted without DP too


def test_config_is_versioned_and_a_newer_one_is_refused(tmp_path):
    run = start_run("train-gan", tmp_path / "r", config={"seed": 0}, split={})
    assert run.config["format_version"] == FORMAT_VERSION and run.kind == "train-gan"
    (tmp_path / "r" / "config.json").write_text(json.dumps({"command": "train-gan",
                                                           "format_version": 99}))
    with pytest.raises(DPKitError, match="newer dpkit"):
        open_run_dir(tmp_path / "r").config
    old = create_run_dir("x", tmp_path / "old")
    old.write_json("config.json", {"command": "train-classifier"})  # dpkit 0.1: no version
    assert open_run_dir(tmp_path / "old", kind="train-classifier").kind == "train-classifier"


def test_kind_checks_and_corrupt_files_are_one_line_errors(tmp_path):
    start_run("train-classifier", tmp_path / "c", config={}, split={})
    with pytest.raises(DPKitError, match="is a 'train-classifier' run, not 'train-gan'"):
        open_run_dir(tmp_path / "c", kind="train-gan")
    with pytest.raises(DPKitError, match="no checkpoint.pt"):
        resume_run(tmp_path / "c", "train-classifier")
    (tmp_path / "c" / "checkpoint.pt").write_bytes(b"PK\x03\x04 truncated")
    with pytest.raises(DPKitError, match="cannot be read"):
        resume_run(tmp_path / "c", "train-classifier")
    (tmp_path / "c" / "config.json").write_text("{not json")
    with pytest.raises(DPKitError, match="corrupt"):
        open_run_dir(tmp_path / "c").config
    with pytest.raises(DPKitError, match="unknown"):
        start_run("train-nothing", tmp_path / "n", config={}, split={})


def test_record_evaluation_keeps_latest_per_key_and_logs_every_call(tmp_path):
    run = start_run("train-classifier", tmp_path / "r", config={}, split={})
    record_evaluation(run, "classifier", {"accuracy": 0.5}, seconds=1.0,
                      latest={"accuracy": {"accuracy": 0.5}})
    record_evaluation(run, "classifier", {"certified": 0.3}, seconds=2.0,
                      latest={"certified": {"certified": 0.3}})
    latest = run.read_json("evaluation-classifier.json")
    assert set(latest) == {"accuracy", "certified"}
    log = run.read_metrics("evaluations.jsonl")
    assert [r["kind"] for r in log] == ["classifier", "classifier"] and log[1]["seconds"] == 2.0


def test_privacy_report_round_trips_through_privacy_json(tmp_path):
    report = PrivacyReport(epsilon=float("inf"), delta=1e-5, noise_multiplier=0.0,
                           sample_rate=0.1, steps=3, accountant="prv", max_grad_norm=1.0,
                           private=False)
    run = create_run_dir("x", tmp_path / "r")
    run.write_json("privacy.json", report.to_dict())
    assert run.read_privacy() == report
    assert torch.isinf(torch.tensor(run.read_privacy().epsilon))


@pytest.mark.parametrize("stop_at", [1, 2])
def test_ctrl_c_names_the_resume_command_or_leaves_nothing(cli_runner, tmp_path, monkeypatch,
                                                          stop_at):
    from dpkit.cli import cli
    from dpkit.engine import RunDir

    real = RunDir.append_metrics

    def interrupt(self, record, name="metrics.jsonl"):
        if record.get("epoch") == stop_at and name == "metrics.jsonl":
            raise KeyboardInterrupt
        real(self, record, name)

    monkeypatch.setattr(RunDir, "append_metrics", interrupt)
    out = tmp_path / "r"
    args = ["train-classifier", "--model", "mlp", "--hidden", "8", "--subset", "64",
            "--batch-size", "16", "--epochs", "3", "--noise-multiplier", "1", "--delta", "1e-3",
            "--quiet", "--out", str(out)]
    res = cli_runner.invoke(cli, args)
    assert res.exit_code == 130 and "Traceback" not in res.output
    if stop_at == 1:
        assert "nothing was kept" in res.output and not out.exists()
        return
    assert f"dpkit train-classifier --resume {out}" in res.output and "epoch 1" in res.output
    monkeypatch.setattr(RunDir, "append_metrics", real)
    res = cli_runner.invoke(cli, ["train-classifier", "--resume", str(out), "--quiet", "--json"])
    assert res.exit_code == 0, res.output
    assert [r["epoch"] for r in open_run_dir(out).read_metrics()] == [1, 2, 3]


def test_a_diverging_loss_stops_training_and_leaves_no_run(cli_runner, tmp_path):
    from dpkit.cli import cli

    out = tmp_path / "r"
    res = cli_runner.invoke(cli, ["train-classifier", "--model", "mlp", "--hidden", "8",
                                  "--subset", "64", "--batch-size", "16", "--epochs", "3",
                                  "--no-dp", "--lr", "1e30", "--quiet", "--out", str(out)])
    assert res.exit_code == 2 and "diverged" in res.output and "Traceback" not in res.output
    assert not out.exists()


def test_read_only_out_is_a_one_line_error(cli_runner, tmp_path, monkeypatch):
    from pathlib import Path

    from dpkit.cli import cli

    real = Path.mkdir

    def read_only(self, *args, **kwargs):
        if "locked" in self.parts:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "mkdir", read_only)  # as root, chmod would not stop a write
    res = cli_runner.invoke(cli, ["train-classifier", "--model", "mlp", "--hidden", "8",
                                  "--subset", "64", "--epochs", "1", "--no-dp", "--quiet",
                                  "--out", str(tmp_path / "locked" / "run")])
    assert res.exit_code == 2 and "permission denied" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
